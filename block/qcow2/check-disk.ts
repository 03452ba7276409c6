// Refcounts as stored on disk, read and repaired by the consistency check (spec "Host cluster
// management"): the refcount table and its blocks are read directly, without the driver's
// allocation logic, so that broken structures can be looked at and fixed.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { getRefcountEntry, setRefcountEntry } from './refcount.ts';

export interface RefBlock {
  offset: number;
  buf: Uint8Array;
  dv: DataView;
  dirty: boolean;
}

const CACHE_BLOCKS = 256;

/** Reads `len` bytes at `offset`; bytes past the end of the file read as zeroes. */
export async function readZeroPadded(file: BlockNode, offset: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  const inside = Math.max(0, Math.min(len, file.length() - offset));
  if (inside > 0) await file.read(offset, buf.subarray(0, inside));
  return buf;
}

export class DiskRefcounts {
  /** Raw refcount table entries (reserved bits included). */
  readonly raw: number[];
  readonly perBlock: number;
  private readonly cache = new Map<number, RefBlock>();

  private constructor(
    private readonly file: BlockNode,
    readonly cs: number,
    readonly bits: number,
    raw: number[],
    /** Called once per unaligned block offset met (qemu's corruption event). */
    private readonly onUnaligned: (offset: number, index: number) => void,
  ) {
    this.raw = raw;
    this.perBlock = (cs * 8) / bits;
  }

  static async load(file: BlockNode, cs: number, bits: number, tableOffset: number, tableClusters: number, onUnaligned: (offset: number, index: number) => void): Promise<DiskRefcounts> {
    // The table is at most 8 MiB (checked when the header was parsed).
    const buf = await readZeroPadded(file, tableOffset, tableClusters * cs);
    const dv = new DataView(buf.buffer);
    const raw: number[] = new Array(buf.length / 8);
    for (let i = 0; i < raw.length; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      // Offsets are multiples of 512 below 2^64; as doubles they stay exact below 2^53 and
      // anything above lies far past any real file.
      raw[i] = hi * 0x100000000 + lo;
    }
    return new DiskRefcounts(file, cs, bits, raw, onUnaligned);
  }

  get maxRefcount(): number {
    return this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
  }

  /** Block offset named by table entry `t` (bits 9-63), 0 when none. */
  blockOffset(t: number): number {
    const v = this.raw[t] ?? 0;
    return v - (v % 512);
  }

  /** Refcount block `t`, or null when the table has no block there. Throws EIO when unaligned. */
  async block(t: number): Promise<RefBlock | null> {
    if (t >= this.raw.length) return null;
    const off = this.blockOffset(t);
    if (off === 0) return null;
    if (off % this.cs !== 0) {
      this.onUnaligned(off, t);
      throw new BlockError('Input/output error', 'EIO');
    }
    let b = this.cache.get(off);
    if (!b) {
      if (this.cache.size >= CACHE_BLOCKS) await this.writeBack(true);
      const buf = await readZeroPadded(this.file, off, this.cs);
      b = { offset: off, buf, dv: new DataView(buf.buffer), dirty: false };
      this.cache.set(off, b);
    }
    return b;
  }

  entry(b: RefBlock | null, i: number): number {
    return b ? getRefcountEntry(b.buf, b.dv, i, this.bits) : 0;
  }

  async get(cluster: number): Promise<number> {
    const t = Math.floor(cluster / this.perBlock);
    return this.entry(await this.block(t), cluster - t * this.perBlock);
  }

  /** Sets the refcount of `cluster`; it must be covered by a block. Written by `writeBack`. */
  async set(cluster: number, value: number): Promise<void> {
    const t = Math.floor(cluster / this.perBlock);
    const b = await this.block(t);
    if (!b) throw new BlockError(`cluster ${cluster} has no refcount block`, 'EIO');
    if (value > this.maxRefcount) throw new BlockError(`refcount ${value} does not fit in ${this.bits} bits`, 'EINVAL');
    setRefcountEntry(b.buf, b.dv, cluster - t * this.perBlock, this.bits, value);
    b.dirty = true;
  }

  /** Writes modified blocks and makes them durable; `drop` also empties the cache. */
  async writeBack(drop = false): Promise<void> {
    let wrote = false;
    for (const b of [...this.cache.values()].sort((x, y) => x.offset - y.offset)) {
      if (!b.dirty) continue;
      await this.file.write(b.offset, b.buf);
      b.dirty = false;
      wrote = true;
    }
    if (wrote) await this.file.flush();
    if (drop) this.cache.clear();
  }
}
