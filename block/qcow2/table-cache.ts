// A write-back LRU cache of one-cluster metadata tables (L2 tables, refcount blocks), keyed by
// their host offset. Dirty tables are written by `writeBack`, which first runs the caller's
// `beforeWrite` hook so ordering rules (refcounts before the tables that use them) hold.
import type { BlockNode } from '../driver.ts';

export interface CachedTable {
  offset: number;
  buf: Uint8Array;
  dv: DataView;
  dirty: boolean;
}

export class TableCache {
  private readonly tables = new Map<number, CachedTable>();
  /** The most recently used table: a hit on it needs no LRU reordering. */
  private newest: CachedTable | undefined;

  constructor(
    private readonly file: BlockNode,
    private readonly tableSize: number,
    private readonly capacity: number,
    /** Runs before any dirty table of this cache is written (e.g. to flush another cache). */
    private readonly beforeWrite: () => Promise<void>,
    /** Checks a table's content right after it is read from disk. */
    private readonly validate: (t: CachedTable) => void = () => {},
  ) {}

  /** The table at `offset`, read from disk on a miss. */
  async get(offset: number): Promise<CachedTable> {
    const hit = this.peek(offset);
    if (hit) return hit;
    const buf = new Uint8Array(this.tableSize);
    await this.file.read(offset, buf);
    const t: CachedTable = { offset, buf, dv: new DataView(buf.buffer), dirty: false };
    this.validate(t);
    await this.insert(t);
    return t;
  }

  /** The table at `offset` if it is cached (no I/O: lock-free request paths use this). */
  peek(offset: number): CachedTable | undefined {
    const hit = this.tables.get(offset);
    if (hit && hit !== this.newest) {
      this.tables.delete(offset);
      this.tables.set(offset, hit);
      this.newest = hit;
    }
    return hit;
  }

  /** Puts a table that was just created in memory (zeroed or copied); it starts dirty. */
  async create(offset: number, content?: Uint8Array): Promise<CachedTable> {
    const buf = new Uint8Array(this.tableSize);
    if (content) buf.set(content);
    const t: CachedTable = { offset, buf, dv: new DataView(buf.buffer), dirty: true };
    this.tables.delete(offset);
    await this.insert(t);
    return t;
  }

  /** Forgets a table without writing it (its cluster was freed). */
  drop(offset: number): void {
    this.tables.delete(offset);
  }

  /** Forgets every table (the caller made them durable or stale). */
  clear(): void {
    this.tables.clear();
  }

  hasDirty(): boolean {
    for (const t of this.tables.values()) if (t.dirty) return true;
    return false;
  }

  /** Writes every dirty table. */
  async writeBack(): Promise<void> {
    if (!this.hasDirty()) return;
    await this.beforeWrite();
    for (const t of [...this.tables.values()].sort((a, b) => a.offset - b.offset)) {
      if (t.dirty) await this.writeOne(t);
    }
  }

  private async insert(t: CachedTable): Promise<void> {
    while (this.tables.size >= this.capacity) {
      const oldest = this.tables.values().next().value as CachedTable;
      if (oldest.dirty) {
        await this.beforeWrite();
        await this.writeOne(oldest);
      }
      this.tables.delete(oldest.offset);
    }
    this.tables.set(t.offset, t);
    this.newest = t;
  }

  /** Refuses a table write that would land on other metadata (the overlap checks); null allows it. */
  guard: ((offset: number, bytes: number) => Promise<never> | null) | null = null;

  private async writeOne(t: CachedTable): Promise<void> {
    const bad = this.guard?.(t.offset, t.buf.length);
    if (bad) {
      t.dirty = false; // dropped: the image is marked corrupt and takes no more writes
      await bad;
    }
    t.dirty = false;
    try {
      await this.file.write(t.offset, t.buf);
    } catch (e) {
      t.dirty = true;
      throw e;
    }
  }
}
