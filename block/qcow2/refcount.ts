// Reference counts and cluster allocation (spec "Host cluster management"). The refcount table is
// held in memory (at most 8 MiB); refcount blocks go through a write-back cache. Frees are
// deferred until the tables that referenced the clusters are on disk, so a crash leaks at worst.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { FIELD_REFTABLE, MAX_REFTABLE_BYTES } from './header.ts';
import { TableCache, type CachedTable } from './table-cache.ts';
import { getU64, setU64 } from './uint64.ts';

export class Refcounts {
  readonly cs: number;
  /** Refcount entries per refcount block. */
  readonly perBlock: number;
  readonly maxRefcount: number;
  private table: number[];
  private tableOffset: number;
  private tableClusters: number;
  private readonly cache: TableCache;
  private freeHint = 0;
  /** Bumped whenever a refcount block or the table moves or appears (overlap map rebuilds). */
  generation = 0;
  private readonly deferred = new Map<number, number>();
  /** Where the next compressed cluster may go in the partly filled host cluster (0: none). */
  private packNext = 0;

  private constructor(
    private readonly file: BlockNode,
    clusterBits: number,
    readonly bits: number,
    table: number[],
    tableOffset: number,
    tableClusters: number,
    cacheTables: number,
  ) {
    this.cs = 2 ** clusterBits;
    this.perBlock = (this.cs * 8) / bits;
    this.maxRefcount = bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
    this.table = table;
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    // Refcount blocks have no prerequisite: raising a count early is always safe.
    this.cache = new TableCache(file, this.cs, cacheTables, async () => {});
  }

  static async load(
    file: BlockNode,
    clusterBits: number,
    refcountOrder: number,
    tableOffset: number,
    tableClusters: number,
    cacheTables: number,
  ): Promise<Refcounts> {
    const cs = 2 ** clusterBits;
    const raw = new Uint8Array(tableClusters * cs); // bounded by MAX_REFTABLE_BYTES in parseHeader
    await file.read(tableOffset, raw);
    const dv = new DataView(raw.buffer);
    const table: number[] = new Array(raw.length / 8);
    for (let i = 0; i < table.length; i++) {
      // "Bit 0 - 8: Reserved"; bits 9-63 hold the block offset.
      table[i] = getU64(dv, i * 8, `Refcount table entry ${i}`) - (dv.getUint32(i * 8 + 4) & 0x1ff);
    }
    return new Refcounts(file, clusterBits, 2 ** refcountOrder, table, tableOffset, tableClusters, cacheTables);
  }

  /** Checks refcount block write-backs against the other metadata (see TableCache.guard). */
  setGuard(guard: (offset: number, bytes: number) => Promise<never> | null): void {
    this.cache.guard = guard;
  }

  get tableInfo(): { offset: number; clusters: number } {
    return { offset: this.tableOffset, clusters: this.tableClusters };
  }

  /** Offsets of the refcount blocks by refcount table index (0: none). */
  get blockOffsets(): readonly number[] {
    return this.table;
  }

  /** A copy of refcount block `t` as it stands in memory (dirty changes included). */
  async blockContent(t: number): Promise<Uint8Array> {
    return (await this.block(t)).buf.slice();
  }

  /** Refcount of host cluster `idx` (0 where no refcount block exists). */
  async get(idx: number): Promise<number> {
    const t = Math.floor(idx / this.perBlock);
    if (t >= this.table.length || this.table[t] === 0) return 0;
    const block = await this.block(t);
    return this.entry(block, idx - t * this.perBlock);
  }

  /** Adds `delta` to the refcount of host cluster `idx`. */
  async adjust(idx: number, delta: number): Promise<void> {
    const t = Math.floor(idx / this.perBlock);
    if (t >= this.table.length || this.table[t] === 0) {
      throw new BlockError(`refcount of cluster ${idx} is not covered by a refcount block`, 'EIO');
    }
    const block = await this.block(t);
    const i = idx - t * this.perBlock;
    const v = this.entry(block, i) + delta;
    if (v < 0) throw new BlockError(`refcount of cluster ${idx} would drop below zero`, 'EIO');
    if (v > this.maxRefcount) throw new BlockError(`refcount of cluster ${idx} would overflow`, 'EIO');
    this.setEntry(block, i, v);
    block.dirty = true;
    if (v === 0 && idx < this.freeHint) this.freeHint = idx;
  }

  /** Allocates `n` contiguous free clusters with refcount 1; returns the host offset. */
  async allocate(n: number): Promise<number> {
    if (!Number.isSafeInteger(n) || n < 1) throw new BlockError(`cannot allocate ${n} clusters`);
    let start = this.freeHint;
    let run = 0;
    let firstFree = -1;
    while (run < n) {
      const idx = start + run;
      const t = Math.floor(idx / this.perBlock);
      if (t >= this.table.length) {
        await this.growTable(t, idx);
        continue;
      }
      if (this.table[t] === 0) {
        await this.createBlock(t, idx);
        continue;
      }
      const block = await this.block(t);
      for (let i = idx - t * this.perBlock; i < this.perBlock && run < n; i++) {
        if (this.entry(block, i) === 0) {
          if (firstFree < 0) firstFree = t * this.perBlock + i;
          run++;
        } else {
          start = t * this.perBlock + i + 1;
          run = 0;
        }
      }
    }
    for (let k = 0; k < n; k++) await this.adjust(start + k, 1);
    this.freeHint = firstFree === start ? start + n : Math.max(this.freeHint, firstFree);
    return start * this.cs;
  }

  /**
   * Allocates from 1 to `max` contiguous clusters with refcount 1 at the first free cluster: as
   * many as are free there. A run stops where no refcount block covers the next cluster (a new
   * block would sit in the run's way). Returns the host offset and the number of clusters.
   */
  async allocateRun(max: number): Promise<{ offset: number; count: number }> {
    const cached = this.allocateCachedRun(max);
    if (cached) return cached;
    const first = (await this.allocate(1)) / this.cs;
    let count = 1;
    while (count < max) {
      const idx = first + count;
      const t = Math.floor(idx / this.perBlock);
      if (t >= this.table.length || this.table[t] === 0) break;
      const b = this.block(t);
      const block = b instanceof Promise ? await b : b;
      const i = idx - t * this.perBlock;
      if (this.entry(block, i) !== 0) break;
      // adjust(idx, 1) from zero, without its promise per cluster.
      this.setEntry(block, i, 1);
      block.dirty = true;
      count++;
    }
    // allocate(1) moved the hint just past `first`; everything up to the run's end is used now.
    if (this.freeHint === first + 1) this.freeHint = first + count;
    return { offset: first * this.cs, count };
  }

  /**
   * allocateRun without I/O: the first free cluster from the hint and those free after it in the
   * same refcount block, when that block (and any skipped on the way) is cached; else null and
   * nothing changed.
   */
  private allocateCachedRun(max: number): { offset: number; count: number } | null {
    let idx = this.freeHint;
    for (;;) {
      const t = Math.floor(idx / this.perBlock);
      const off = this.table[t];
      if (off === undefined || off === 0 || off % this.cs !== 0 || off + this.cs > this.file.length()) return null;
      const block = this.cache.peek(off);
      if (!block) return null;
      let i = idx - t * this.perBlock;
      while (i < this.perBlock && this.entry(block, i) !== 0) i++;
      if (i === this.perBlock) {
        idx = (t + 1) * this.perBlock;
        continue;
      }
      const first = t * this.perBlock + i;
      let count = 0;
      while (count < max && i < this.perBlock && this.entry(block, i) === 0) {
        this.setEntry(block, i++, 1);
        count++;
      }
      block.dirty = true;
      // Everything from the old hint to the end of the run is in use now.
      this.freeHint = first + count;
      return { offset: first * this.cs, count };
    }
  }

  /**
   * Space for `bytes` of compressed data, starting on a sector boundary: packed after the
   * previous compressed data while its host cluster has room, otherwise at the start of a new
   * cluster. Every compressed cluster holds one reference to each host cluster it touches.
   */
  async allocateBytes(bytes: number): Promise<number> {
    const cs = this.cs;
    const sectors = Math.ceil(bytes / 512) * 512;
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > cs) throw new BlockError(`cannot allocate ${bytes} bytes`);
    const used = this.packNext % cs;
    if (this.packNext !== 0 && used !== 0 && sectors <= cs - used) {
      const idx = Math.floor(this.packNext / cs);
      if ((await this.get(idx)) < this.maxRefcount) {
        const off = this.packNext;
        await this.adjust(idx, 1);
        this.packNext = off + sectors;
        return off;
      }
    }
    const off = await this.allocate(1);
    this.packNext = off + sectors;
    return off;
  }

  /** Records that the clusters touching [offset, offset+bytes) lose one reference at the next flush. */
  deferFree(offset: number, bytes: number): void {
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + bytes - 1) / this.cs);
    for (let c = first; c <= last; c++) this.deferred.set(c, (this.deferred.get(c) ?? 0) + 1);
  }

  hasDeferredFrees(): boolean {
    return this.deferred.size > 0;
  }

  /** Applies the deferred frees (call only once the tables that dropped them are durable). */
  async applyDeferredFrees(): Promise<void> {
    const all = [...this.deferred.entries()].sort((a, b) => a[0] - b[0]);
    this.deferred.clear();
    // A freed cluster may be the one compressed data was being packed into.
    this.packNext = 0;
    for (const [idx, count] of all) await this.adjust(idx, -count);
  }

  hasDirty(): boolean {
    return this.cache.hasDirty();
  }

  /** Writes dirty refcount blocks (not synced). */
  writeBack(): Promise<void> {
    return this.cache.writeBack();
  }

  /** Refcount block `t` (a cached one without a promise: allocation asks for one per cluster). */
  private block(t: number): CachedTable | Promise<CachedTable> {
    const off = this.table[t]!;
    if (off % this.cs !== 0 || off + this.cs > this.file.length()) {
      return Promise.reject(new BlockError(`Refcount block offset ${off} (refcount table index ${t}) is invalid`, 'EIO'));
    }
    return this.cache.peek(off) ?? this.cache.get(off);
  }

  private entry(b: CachedTable, i: number): number {
    return getRefcountEntry(b.buf, b.dv, i, this.bits);
  }

  private setEntry(b: CachedTable, i: number, v: number): void {
    setRefcountEntry(b.buf, b.dv, i, this.bits, v);
  }

  /**
   * Creates the missing refcount block `t` in the free cluster `idx` it covers itself. The block
   * is durable before the table entry names it.
   */
  private async createBlock(t: number, idx: number): Promise<void> {
    const off = idx * this.cs;
    // Offset 0 means "no block": a table whose first entry is missing would loop here forever
    // (and put a refcount block over the header).
    if (off === 0) throw new BlockError('Refcount table entry 0 is missing (the header cluster has no refcount block)', 'EIO');
    const block = await this.cache.create(off);
    this.setEntry(block, idx - t * this.perBlock, 1);
    await this.file.write(off, block.buf);
    block.dirty = false;
    await this.file.flush();
    const e = new Uint8Array(8);
    setU64(new DataView(e.buffer), 0, off);
    await this.file.write(this.tableOffset + t * 8, e);
    this.table[t] = off;
    this.generation++;
  }

  /**
   * Moves the refcount table to a larger one starting at free cluster `c` (every cluster from `c`
   * on is uncovered and so free), followed by the refcount blocks that cover the new area. New
   * table and blocks are durable before the header points at them; the old table is then freed.
   */
  private async growTable(neededT: number, c: number): Promise<void> {
    const cs = this.cs;
    const E = this.perBlock;
    let entries = Math.max(neededT + 1, Math.ceil((this.table.length * 3) / 2));
    let tc = 0;
    let nb = 0;
    for (;;) {
      tc = Math.ceil((entries * 8) / cs);
      entries = (tc * cs) / 8;
      for (;;) {
        const want = Math.floor((c + tc + Math.max(nb, 1) - 1) / E) - Math.floor(c / E) + 1;
        if (want <= nb) break;
        nb = want;
      }
      const lastT = Math.floor((c + tc + nb - 1) / E);
      if (lastT < entries) break;
      entries = lastT + 1;
    }
    if (tc * cs > MAX_REFTABLE_BYTES) throw new BlockError('Refcount table would grow past 8 MiB', 'EFBIG');
    const firstT = Math.floor(c / E);
    const blocks = new Uint8Array(nb * cs);
    const blocksOffset = (c + tc) * cs;
    const blockTables: CachedTable[] = [];
    for (let k = 0; k < nb; k++) {
      const buf = blocks.subarray(k * cs, (k + 1) * cs);
      blockTables.push({ offset: blocksOffset + k * cs, buf, dv: new DataView(buf.buffer, buf.byteOffset, cs), dirty: false });
    }
    for (let cl = c; cl < c + tc + nb; cl++) {
      const t = Math.floor(cl / E);
      this.setEntry(blockTables[t - firstT]!, cl - t * E, 1);
    }
    const newTable = this.table.slice();
    while (newTable.length < entries) newTable.push(0);
    for (let k = 0; k < nb; k++) newTable[firstT + k] = blocksOffset + k * cs;
    const tableBuf = new Uint8Array(tc * cs);
    const tdv = new DataView(tableBuf.buffer);
    newTable.forEach((v, i) => setU64(tdv, i * 8, v));

    await this.file.write(blocksOffset, blocks);
    await this.file.write(c * cs, tableBuf);
    await this.file.flush();
    const hdr = new Uint8Array(12);
    const hdv = new DataView(hdr.buffer);
    setU64(hdv, 0, c * cs);
    hdv.setUint32(8, tc);
    await this.file.write(FIELD_REFTABLE, hdr);
    await this.file.flush();

    const oldOffset = this.tableOffset;
    const oldClusters = this.tableClusters;
    this.table = newTable;
    this.generation++;
    this.tableOffset = c * cs;
    this.tableClusters = tc;
    for (let k = 0; k < nb; k++) {
      const b = await this.cache.create(blocksOffset + k * cs, blockTables[k]!.buf);
      b.dirty = false;
    }
    for (let k = 0; k < oldClusters; k++) await this.adjust(oldOffset / cs + k, -1);
  }
}

/** Entry `i` of a refcount block of `bits`-wide entries (spec: big-endian; sub-byte widths LSB first). */
export function getRefcountEntry(buf: Uint8Array, dv: DataView, i: number, bits: number): number {
  switch (bits) {
    case 64:
      return getU64(dv, i * 8, 'refcount');
    case 32:
      return dv.getUint32(i * 4);
    case 16:
      return dv.getUint16(i * 2);
    case 8:
      return buf[i]!;
    default: {
      // Sub-byte widths: bit 0 is the least significant bit of the byte.
      const bit = i * bits;
      return (buf[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
    }
  }
}

export function setRefcountEntry(buf: Uint8Array, dv: DataView, i: number, bits: number, v: number): void {
  switch (bits) {
    case 64:
      setU64(dv, i * 8, v);
      return;
    case 32:
      dv.setUint32(i * 4, v);
      return;
    case 16:
      dv.setUint16(i * 2, v);
      return;
    case 8:
      buf[i] = v;
      return;
    default: {
      const bit = i * bits;
      const mask = ((1 << bits) - 1) << (bit & 7);
      buf[bit >> 3] = (buf[bit >> 3]! & ~mask) | ((v << (bit & 7)) & mask);
    }
  }
}
