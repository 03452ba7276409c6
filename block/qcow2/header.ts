// The qcow2 header and its extensions (spec "Header", "Header extensions", "Feature name table",
// "String header extensions"). Parsing validates every field that later code trusts; building
// produces the first cluster of a new image.
import { BlockError } from '../errors.ts';
import { KNOWN_FEATURE_NAMES, type FeatureName } from './features.ts';
import { getU64, setU64 } from './uint64.ts';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_LENGTH = 72;
export const V3_HEADER_LENGTH = 104;
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21; // qemu's implementation limit of 2 MiB
export const MAX_L1_BYTES = 32 << 20; // qemu's limit on the active L1 table
export const MAX_REFTABLE_BYTES = 8 << 20; // qemu's limit on the refcount table
export const MAX_BACKING_NAME = 1023;

export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

/** Byte offsets of header fields that are rewritten in place. */
export const FIELD_SIZE = 24;
export const FIELD_L1 = 36; // l1_size (4) + l1_table_offset (8)
export const FIELD_TABLES = 36; // l1_size .. snapshots_offset: 36 bytes rewritten in one write
export const FIELD_REFTABLE = 48; // refcount_table_offset (8) + refcount_table_clusters (4)
export const FIELD_INCOMPAT = 72;
export const FIELD_AUTOCLEAR = 88;

export interface HeaderExtension {
  type: number;
  data: Uint8Array;
}

export interface Qcow2Header {
  version: number;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Every extension in file order, unknown ones included, so they can be written back. */
  extensions: HeaderExtension[];
  backingFile: string | null;
  backingFormat: string | null;
  featureNames: FeatureName[];
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/** Bytes of the fixed header needed before the cluster size is known. */
export const HEADER_PROBE_BYTES = V3_HEADER_LENGTH + 8;

/**
 * Parses the header from `first` (the start of the file: at least the first cluster, or the
 * whole file when it is shorter). `fileSize` bounds every offset the header names.
 */
export function parseHeader(first: Uint8Array, fileSize: number): Qcow2Header {
  if (first.length < V2_HEADER_LENGTH) {
    throw new BlockError(`qcow2 header is truncated (${first.length} bytes, at least ${V2_HEADER_LENGTH} needed)`);
  }
  const dv = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (dv.getUint32(0) !== QCOW2_MAGIC) throw new BlockError('Image is not in qcow2 format');
  const version = dv.getUint32(4);
  if (version < 2 || version > 3) throw new BlockError(`Unsupported qcow2 version ${version}`, 'ENOTSUP');

  const clusterBits = dv.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new BlockError(`Unsupported cluster size: 2^${clusterBits}`);
  }
  const cs = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    backingFileOffset: getU64(dv, 8, 'backing_file_offset'),
    backingFileSize: dv.getUint32(16),
    clusterBits,
    size: getU64(dv, 24, 'Image size'),
    cryptMethod: dv.getUint32(32),
    l1Size: dv.getUint32(36),
    l1TableOffset: getU64(dv, 40, 'L1 table offset'),
    refcountTableOffset: getU64(dv, 48, 'Refcount table offset'),
    refcountTableClusters: dv.getUint32(56),
    nbSnapshots: dv.getUint32(60),
    snapshotsOffset: getU64(dv, 64, 'Snapshot table offset'),
    incompatible: 0n,
    compatible: 0n,
    autoclear: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: 0,
    extensions: [],
    backingFile: null,
    backingFormat: null,
    featureNames: [],
  };

  if (version >= 3) {
    if (first.length < V3_HEADER_LENGTH) throw new BlockError('qcow2 header is truncated (version 3 needs 104 bytes)');
    h.incompatible = dv.getBigUint64(72);
    h.compatible = dv.getBigUint64(80);
    h.autoclear = dv.getBigUint64(88);
    h.refcountOrder = dv.getUint32(96);
    h.headerLength = dv.getUint32(100);
    if (h.headerLength < V3_HEADER_LENGTH || h.headerLength % 8 !== 0 || h.headerLength > cs) {
      throw new BlockError(`qcow2 header length ${h.headerLength} is invalid`);
    }
    if (h.headerLength > first.length) throw new BlockError('qcow2 header is truncated');
    if (h.headerLength > V3_HEADER_LENGTH) h.compressionType = first[104]!; // "Additional fields"
    if (h.refcountOrder > 6) throw new BlockError('Refcount order may not exceed 6');
  }
  if (h.cryptMethod !== 0) throw new BlockError('Encrypted images are not supported', 'ENOTSUP');

  // The L1 and refcount tables: limits, alignment and room in the file.
  if (h.l1Size > MAX_L1_BYTES / 8) throw new BlockError('Active L1 table too large');
  checkTable(h.l1TableOffset, h.l1Size * 8, cs, fileSize, 'L1 table', h.l1Size === 0);
  if (h.refcountTableClusters === 0) throw new BlockError('Image does not contain a reference count table');
  if (h.refcountTableClusters * cs > MAX_REFTABLE_BYTES) throw new BlockError('Reference count table too large');
  checkTable(h.refcountTableOffset, h.refcountTableClusters * cs, cs, fileSize, 'Reference count table', false);
  if (h.nbSnapshots > 65536) throw new BlockError('Too many snapshots');
  if (h.nbSnapshots > 0 && (h.snapshotsOffset % cs !== 0 || h.snapshotsOffset >= fileSize)) {
    throw new BlockError('Snapshot table offset invalid');
  }

  parseExtensions(h, first, dv, cs);

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize > MAX_BACKING_NAME || h.backingFileSize === 0) {
      throw new BlockError('Backing file name too long');
    }
    const end = h.backingFileOffset + h.backingFileSize;
    if (end > first.length || end > cs) throw new BlockError('Invalid backing file offset');
    h.backingFile = utf8.decode(first.subarray(h.backingFileOffset, end));
  }
  return h;
}

function checkTable(offset: number, bytes: number, cs: number, fileSize: number, what: string, empty: boolean): void {
  if (empty) return;
  if (offset === 0 || offset % cs !== 0) throw new BlockError(`${what} offset invalid`);
  if (offset + bytes > fileSize) throw new BlockError(`${what} lies past the end of the file`);
}

function parseExtensions(h: Qcow2Header, first: Uint8Array, dv: DataView, cs: number): void {
  // Extensions run from the end of the header to the end-of-extensions marker; they cannot pass
  // the backing file name nor the end of the first cluster.
  let end = Math.min(first.length, cs);
  if (h.backingFileOffset > h.headerLength && h.backingFileOffset < end) end = h.backingFileOffset;
  let pos = h.headerLength;
  const seen = new Set<number>();
  while (pos + 8 <= end) {
    const type = dv.getUint32(pos);
    const len = dv.getUint32(pos + 4);
    if (type === EXT_END) return;
    if (len > end - pos - 8) throw new BlockError(`qcow2 header extension 0x${type.toString(16)} is too large`);
    const data = first.slice(pos + 8, pos + 8 + len);
    if (seen.has(type)) throw new BlockError(`qcow2 header extension 0x${type.toString(16)} appears twice`);
    seen.add(type);
    h.extensions.push({ type, data });
    if (type === EXT_BACKING_FORMAT) {
      h.backingFormat = latin1.decode(data);
    } else if (type === EXT_FEATURE_TABLE) {
      for (let i = 0; i + 48 <= data.length; i += 48) {
        const nameBytes = data.subarray(i + 2, i + 48);
        const nul = nameBytes.indexOf(0);
        h.featureNames.push({
          type: data[i]!,
          bit: data[i + 1]!,
          name: utf8.decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)),
        });
      }
    }
    pos += 8 + align8(len);
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

export interface NewHeader {
  version: 2 | 3;
  clusterBits: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountOrder: number;
  incompatible: bigint;
  compatible: bigint;
  compressionType: number;
  backingFile: string | null;
  backingFormat: string | null;
}

/**
 * The first cluster of a new image: header, backing-format and feature-table extensions, the end
 * marker, then the backing file name. Like qemu-img, images with clusters of 4 KiB or less get no
 * feature table, which leaves room for the name.
 */
export function buildHeaderCluster(n: NewHeader): Uint8Array {
  const cs = 2 ** n.clusterBits;
  const buf = new Uint8Array(cs);
  const dv = new DataView(buf.buffer);
  const headerLength = n.version >= 3 ? V3_HEADER_LENGTH + 8 : V2_HEADER_LENGTH; // + compression_type, padded
  dv.setUint32(0, QCOW2_MAGIC);
  dv.setUint32(4, n.version);
  dv.setUint32(20, n.clusterBits);
  setU64(dv, 24, n.size);
  dv.setUint32(36, n.l1Size);
  setU64(dv, 40, n.l1TableOffset);
  setU64(dv, 48, n.refcountTableOffset);
  dv.setUint32(56, n.refcountTableClusters);
  if (n.version >= 3) {
    dv.setBigUint64(72, n.incompatible);
    dv.setBigUint64(80, n.compatible);
    dv.setUint32(96, n.refcountOrder);
    dv.setUint32(100, headerLength);
    buf[104] = n.compressionType;
  }
  let pos = headerLength;
  const put = (type: number, data: Uint8Array): void => {
    if (pos + 8 + align8(data.length) + 8 > cs) throw new BlockError('qcow2 header does not fit in one cluster');
    dv.setUint32(pos, type);
    dv.setUint32(pos + 4, data.length);
    buf.set(data, pos + 8);
    pos += 8 + align8(data.length);
  };
  if (n.backingFormat !== null) put(EXT_BACKING_FORMAT, new TextEncoder().encode(n.backingFormat));
  if (n.version >= 3 && cs > 4096) {
    const table = new Uint8Array(48 * KNOWN_FEATURE_NAMES.length);
    KNOWN_FEATURE_NAMES.forEach((f, i) => {
      table[i * 48] = f.type;
      table[i * 48 + 1] = f.bit;
      table.set(new TextEncoder().encode(f.name), i * 48 + 2);
    });
    put(EXT_FEATURE_TABLE, table);
  }
  pos += 8; // end-of-extensions marker (zeroes)
  if (n.backingFile !== null) {
    const name = new TextEncoder().encode(n.backingFile);
    if (name.length > MAX_BACKING_NAME) throw new BlockError('Backing file name too long');
    if (pos + name.length > cs) throw new BlockError('Backing file name does not fit in the header cluster');
    setU64(dv, 8, pos);
    dv.setUint32(16, name.length);
    buf.set(name, pos);
  }
  return buf;
}
