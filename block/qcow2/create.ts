// Creating an empty qcow2 image. Layout as qemu-img lays it out: header cluster, refcount table,
// refcount blocks, then the L1 table; every one of those clusters has refcount 1.
import { BlockError } from '../errors.ts';
import { FileNode } from '../file.ts';
import { COMPRESSION_ZLIB } from './compression.ts';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, INCOMPAT_EXTL2 } from './features.ts';
import { buildHeaderCluster, MAX_L1_BYTES } from './header.ts';
import { setU64 } from './uint64.ts';

export interface Qcow2CreateOptions {
  size: number;
  version: 2 | 3;
  clusterSize: number;
  refcountBits: number;
  lazyRefcounts: boolean;
  extendedL2: boolean;
  compressionType: number;
  backingFile: string | null;
  backingFormat: string | null;
}

/** qemu-img's defaults: compat=1.1, 64 KiB clusters, 16-bit refcounts, zlib. */
export const QCOW2_DEFAULTS: Qcow2CreateOptions = {
  size: 0,
  version: 3,
  clusterSize: 65536,
  refcountBits: 16,
  lazyRefcounts: false,
  extendedL2: false,
  compressionType: COMPRESSION_ZLIB,
  backingFile: null,
  backingFormat: null,
};

/** Checks option combinations with qemu-img's wording. */
export function validateQcow2Options(o: Qcow2CreateOptions): void {
  const cs = o.clusterSize;
  if (!Number.isInteger(cs) || cs < 512 || cs > 2 << 20 || (cs & (cs - 1)) !== 0) {
    throw new BlockError('Cluster size must be a power of two between 512 and 2048k');
  }
  const rb = o.refcountBits;
  if (!Number.isInteger(rb) || rb < 1 || rb > 64 || (rb & (rb - 1)) !== 0) {
    throw new BlockError('Refcount width must be a power of two and may not exceed 64 bits');
  }
  if (o.version === 2) {
    if (o.lazyRefcounts) throw new BlockError('Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)');
    if (rb !== 16) throw new BlockError('Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)');
    if (o.extendedL2) throw new BlockError('Extended L2 entries are only supported with compatibility level 1.1 and above (use version=v3 or greater)');
    if (o.compressionType !== COMPRESSION_ZLIB) throw new BlockError('Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)');
  }
  if (o.extendedL2 && cs < 16384) throw new BlockError('Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  if (!Number.isSafeInteger(o.size) || o.size < 0) throw new BlockError('Invalid image size');
}

export async function createQcow2(filename: string, o: Qcow2CreateOptions): Promise<void> {
  validateQcow2Options(o);
  const cs = o.clusterSize;
  const clusterBits = Math.log2(cs);
  const l2Entries = cs / (o.extendedL2 ? 16 : 8);
  const l1Size = Math.ceil(o.size / (cs * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) throw new BlockError('Image size is too large for this cluster size', 'EFBIG');
  const l1Clusters = Math.ceil((l1Size * 8) / cs);
  const perBlock = (cs * 8) / o.refcountBits;
  // Refcount table and blocks must also cover themselves: iterate to a fixed point.
  let blocks = 1;
  let tableClusters = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters;
    const b = Math.ceil(total / perBlock);
    const t = Math.ceil((b * 8) / cs);
    if (b === blocks && t === tableClusters) break;
    blocks = Math.max(b, blocks);
    tableClusters = Math.max(t, tableClusters);
  }
  const tableOffset = cs;
  const blocksOffset = tableOffset + tableClusters * cs;
  const l1Offset = blocksOffset + blocks * cs;
  const used = 1 + tableClusters + blocks + l1Clusters;

  let incompatible = 0n;
  if (o.extendedL2) incompatible |= INCOMPAT_EXTL2;
  if (o.compressionType !== COMPRESSION_ZLIB) incompatible |= INCOMPAT_COMPRESSION;
  const header = buildHeaderCluster({
    version: o.version,
    clusterBits,
    size: o.size,
    l1Size,
    l1TableOffset: l1Offset,
    refcountTableOffset: tableOffset,
    refcountTableClusters: tableClusters,
    refcountOrder: Math.log2(o.refcountBits),
    incompatible,
    compatible: o.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0n,
    compressionType: o.compressionType,
    backingFile: o.backingFile,
    backingFormat: o.backingFormat,
  });

  const table = new Uint8Array(tableClusters * cs);
  const tdv = new DataView(table.buffer);
  for (let i = 0; i < blocks; i++) setU64(tdv, i * 8, blocksOffset + i * cs);
  const refblocks = new Uint8Array(blocks * cs);
  const rdv = new DataView(refblocks.buffer);
  for (let c = 0; c < used; c++) setRefcountOne(refblocks, rdv, c, o.refcountBits);

  const file = await FileNode.create(filename, 0);
  try {
    await file.write(0, header);
    await file.write(tableOffset, table);
    await file.write(blocksOffset, refblocks);
    await file.write(l1Offset, new Uint8Array(l1Size * 8));
    await file.flush();
  } finally {
    await file.close();
  }
}

/** Sets refcount 1 for cluster `c` in a run of refcount blocks (entry width `bits`). */
function setRefcountOne(buf: Uint8Array, dv: DataView, c: number, bits: number): void {
  switch (bits) {
    case 64:
      setU64(dv, c * 8, 1);
      return;
    case 32:
      dv.setUint32(c * 4, 1);
      return;
    case 16:
      dv.setUint16(c * 2, 1);
      return;
    case 8:
      buf[c] = 1;
      return;
    default: {
      const bit = c * bits;
      buf[bit >> 3]! |= 1 << (bit & 7);
    }
  }
}
