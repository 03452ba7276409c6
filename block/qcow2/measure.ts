// Sizes of a qcow2 image file for `qemu-img measure`: the metadata a fully allocated image of a
// given virtual size needs (header cluster, L2 tables, L1 table, refcount blocks and table), with
// the same rounding as qemu so the numbers agree byte for byte. Computed in bigint: qcow2 sizes
// can pass 2^53.
import type { BlockNode } from '../driver.ts';
import { AUTOCLEAR_BITMAPS } from './features.ts';
import { EXT_BITMAPS, type Qcow2Header } from './header.ts';

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function roundUp(a: bigint, b: bigint): bigint {
  return ceilDiv(a, b) * b;
}

/**
 * Bytes of refcount blocks and table clusters needed to count `clusters` clusters plus
 * themselves: the smallest block/table counts that cover everything including themselves.
 */
export function refcountMetadataBytes(clusters: bigint, cs: bigint, refcountOrder: number): bigint {
  const perBlock = (cs * 8n) >> BigInt(refcountOrder);
  const perTableCluster = cs / 8n;
  let blocks = 0n;
  let table = 0n;
  for (;;) {
    const b = ceilDiv(clusters + blocks + table, perBlock);
    const t = ceilDiv(b, perTableCluster);
    if (b === blocks && t === table) break;
    blocks = b;
    table = t;
  }
  return (blocks + table) * cs;
}

/** Metadata plus data of a fully allocated image (qemu's "fully allocated size"). */
export function fullyAllocatedBytes(virtualSize: bigint, cs: bigint, refcountOrder: number, extendedL2: boolean): bigint {
  const data = roundUp(virtualSize, cs);
  const entrySize = extendedL2 ? 16n : 8n;
  // Header cluster, whole L2 tables, an L1 table of whole clusters.
  const l2Entries = roundUp(data / cs, cs / entrySize);
  const l1Entries = roundUp((l2Entries * entrySize) / cs, cs / 8n);
  const meta = cs + l2Entries * entrySize + l1Entries * 8n;
  return meta + refcountMetadataBytes((meta + data) / cs, cs, refcountOrder) + data;
}

/** The L1 table a virtual size needs, in bytes (qemu refuses more than 32 MiB). */
export function l1Bytes(virtualSize: bigint, cs: bigint, extendedL2: boolean): bigint {
  const entries = cs / (extendedL2 ? 16n : 8n);
  return ceilDiv(roundUp(virtualSize, cs) / cs, entries) * 8n;
}

/**
 * Space persistent bitmaps of `source` (a qcow2 image of `diskSize` bytes) would take in an image
 * with clusters of `cs` bytes: each bitmap's data clusters and table, plus the directory.
 */
export async function bitmapsBytes(file: BlockNode, h: Qcow2Header, diskSize: bigint, cs: bigint): Promise<bigint> {
  if ((h.autoclear & AUTOCLEAR_BITMAPS) === 0n) return 0n;
  const ext = h.extensions.find((e) => e.type === EXT_BITMAPS);
  if (!ext || ext.data.length < 24) return 0n;
  const xdv = new DataView(ext.data.buffer, ext.data.byteOffset, ext.data.byteLength);
  const count = xdv.getUint32(0);
  const dirSize = Number(xdv.getBigUint64(8));
  const dirOffset = Number(xdv.getBigUint64(16));
  // Directory entries: 24 fixed bytes, extra data, name, padded to 8 (spec "Bitmap directory").
  const dir = new Uint8Array(Math.max(0, Math.min(dirSize, 64 << 20, file.length() - dirOffset)));
  await file.read(dirOffset, dir);
  const dv = new DataView(dir.buffer);
  let total = 0n;
  let dirBytes = 0n;
  for (let n = 0, pos = 0; n < count && pos + 24 <= dir.length; n++) {
    const granularity = dir[pos + 17]!;
    const nameSize = dv.getUint16(pos + 18);
    const extra = dv.getUint32(pos + 20);
    const bits = ceilDiv(diskSize, 1n << BigInt(granularity));
    const clusters = ceilDiv(ceilDiv(bits, 8n), cs);
    total += clusters * cs + roundUp(clusters * 8n, cs);
    dirBytes += roundUp(24n + BigInt(nameSize), 8n);
    pos += Math.ceil((24 + extra + nameSize) / 8) * 8;
  }
  return total + roundUp(dirBytes, cs);
}
