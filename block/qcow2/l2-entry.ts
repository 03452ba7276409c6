// L2 table entries (spec "Cluster mapping", "Extended L2 Entries"): decoding into one shape for
// both layouts. A plain entry is treated as a single subcluster covering the whole cluster.
import { BlockError } from '../errors.ts';

export const COPIED_HI = 0x80000000; // bit 63: refcount is exactly one
export const COMPRESSED_HI = 0x40000000; // bit 62
export const ZERO_LO = 1; // bit 0 of the standard descriptor (version 3, no extended L2)

export interface L2Entry {
  compressed: boolean;
  copied: boolean;
  /** Standard: host cluster offset (0 if none). Compressed: host byte offset of the data. */
  offset: number;
  /** Compressed: bytes from `offset` to the end of the last sector used. */
  compressedBytes: number;
  /** Standard: one bit per subcluster that holds data. */
  alloc: number;
  /** Standard: one bit per subcluster that reads as zeroes. */
  zero: number;
}

export interface L2Layout {
  clusterBits: number;
  extended: boolean;
  /** 1 or 32. */
  subclusters: number;
}

const text = (where: string | (() => string)): string => (typeof where === 'string' ? where : where());

/** Decodes entry `i` of an L2 table. `where` names it in error messages (a function: built only then). */
export function decodeL2Entry(dv: DataView, i: number, layout: L2Layout, where: string | (() => string)): L2Entry {
  const pos = i * (layout.extended ? 16 : 8);
  const hi = dv.getUint32(pos);
  const lo = dv.getUint32(pos + 4);
  const cs = 2 ** layout.clusterBits;
  if (hi & COMPRESSED_HI) {
    // "Compressed Clusters Descriptor (x = 62 - (cluster_bits - 8))"
    const v = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo);
    const x = BigInt(62 - (layout.clusterBits - 8));
    const offset = Number(v & ((1n << x) - 1n));
    const extraSectors = Number(v >> x);
    if (offset > Number.MAX_SAFE_INTEGER / 2) throw new BlockError(`compressed cluster offset too large (${text(where)})`, 'EIO');
    const compressedBytes = Math.floor(offset / 512) * 512 + (extraSectors + 1) * 512 - offset;
    return { compressed: true, copied: (hi & COPIED_HI) !== 0, offset, compressedBytes, alloc: 0, zero: 0 };
  }
  const offHi = hi & 0x00ffffff; // bits 56-61 reserved
  if (offHi >= 0x200000) throw new BlockError(`cluster offset too large (${text(where)})`, 'EIO');
  const offset = offHi * 0x100000000 + ((lo & ~0x1ff) >>> 0);
  if (offset % cs !== 0) {
    throw new BlockError(`Cluster allocation offset 0x${offset.toString(16)} unaligned (${text(where)})`, 'EIO');
  }
  const copied = (hi & COPIED_HI) !== 0;
  if (!layout.extended) {
    const zero = lo & ZERO_LO;
    return { compressed: false, copied, offset, compressedBytes: 0, alloc: offset !== 0 && !zero ? 1 : 0, zero };
  }
  const alloc = dv.getUint32(pos + 12); // bits 0-31 of the bitmap (big-endian word at +8 is bits 32-63)
  const zero = dv.getUint32(pos + 8);
  if ((alloc & zero) !== 0) throw new BlockError(`subcluster both allocated and zero (${text(where)})`, 'EIO');
  if (alloc !== 0 && offset === 0) throw new BlockError(`allocated subclusters without a host cluster (${text(where)})`, 'EIO');
  return { compressed: false, copied, offset, compressedBytes: 0, alloc, zero };
}

/** Stores a standard entry (never compressed). */
export function encodeL2Entry(dv: DataView, i: number, layout: L2Layout, e: { offset: number; copied: boolean; alloc: number; zero: number }): void {
  const pos = i * (layout.extended ? 16 : 8);
  let hi = Math.floor(e.offset / 0x100000000);
  let lo = e.offset >>> 0;
  if (e.copied) hi |= COPIED_HI;
  if (layout.extended) {
    dv.setUint32(pos + 8, e.zero >>> 0);
    dv.setUint32(pos + 12, e.alloc >>> 0);
  } else if (e.zero) {
    lo |= ZERO_LO;
  }
  dv.setUint32(pos, hi >>> 0);
  dv.setUint32(pos + 4, lo >>> 0);
}

/**
 * Stores a compressed cluster descriptor: host byte offset in bits 0..x-1 and, from bit x, the
 * number of 512-byte sectors used beyond the one holding the offset (x = 62 - (cluster_bits - 8)).
 * Never has bit 63 set; with extended entries the subcluster bitmap is all zero.
 */
export function encodeCompressedL2Entry(dv: DataView, i: number, layout: L2Layout, offset: number, bytes: number): void {
  const pos = i * (layout.extended ? 16 : 8);
  const x = BigInt(62 - (layout.clusterBits - 8));
  const extra = Math.ceil(((offset % 512) + bytes) / 512) - 1;
  if (extra >= 2 ** (layout.clusterBits - 8)) throw new BlockError(`compressed cluster too large (${bytes} bytes)`);
  const v = (1n << 62n) | (BigInt(extra) << x) | BigInt(offset);
  dv.setBigUint64(pos, v);
  if (layout.extended) dv.setBigUint64(pos + 8, 0n);
}
