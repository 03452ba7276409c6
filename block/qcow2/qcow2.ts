// The qcow2 format driver: guest clusters mapped through the L1 and L2 tables (spec "Cluster
// mapping"), allocation through refcounts, copy-on-write from the backing node.
//
// Write ordering (what a crash can leave): data and new tables are written first, refcounts for
// every new cluster are made durable before an L2 table naming the cluster is written, L2 tables
// before the L1 entries naming them, and frees are applied only after the tables that dropped the
// clusters are durable. So an interrupted image has at worst leaked clusters.
//
// Concurrency: reads, and writes into clusters this image owns alone (L1 and L2 COPIED, data in
// every touched subcluster), run without the request lock whenever their L2 table is cached:
// they change no metadata. Everything else (allocation, zeroing, discard, compressed clusters,
// table loads) is serialised by the lock. Freed clusters are only reused after a flush, and a
// flush (like snapshot operations and L1 moves) first drains the lock-free requests and holds new
// ones back, so a lock-free request never touches a cluster that changed owner under it.
// Plain writes that need new clusters allocate under the lock, write their data outside it and
// link the clusters into the L2 table under the lock again; until then the guest clusters are
// marked as being allocated, and every other change to them waits (as snapshots do for all).
import { checkRequest, readPieces, writePieces, type BlockNode, type BlockStatus, type Piece, type Preallocation } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { checkQcow2, FIX_ERRORS, FIX_LEAKS } from './check.ts';
import { compressCluster, decompressCluster, prepareCompression } from './compression.ts';
import {
  AUTOCLEAR_BITMAPS,
  COMPAT_LAZY_REFCOUNTS,
  INCOMPAT_COMPRESSION,
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  unknownIncompatibleMessage,
} from './features.ts';
import { FIELD_AUTOCLEAR, FIELD_INCOMPAT, FIELD_L1, MAX_L1_BYTES, HEADER_PROBE_BYTES, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, parseHeader, type Qcow2Header } from './header.ts';
import { decodeL2Entry, encodeCompressedL2Entry, encodeL2Entry, type L2Entry, type L2Layout } from './l2-entry.ts';
import { Mutex } from './mutex.ts';
import { CORRUPT_MESSAGE, MetadataRanges, type MetadataKind } from './overlap.ts';
import { readSnapshotTable } from './snapshot-table.ts';
import { Refcounts } from './refcount.ts';
import { resizeQcow2 } from './resize.ts';
import { TableCache, type CachedTable } from './table-cache.ts';
import { setU64 } from './uint64.ts';

const CACHE_BYTES = 32 << 20;
/** lockedClear's "look again" result. */
const RETRY = Symbol('retry');

const enum Kind {
  Unallocated,
  Zero,
  Data,
  Compressed,
}

interface Run {
  kind: Kind;
  /** Guest bytes from the queried offset with this kind (and contiguous on the host if there). */
  length: number;
  /** Host offset of the first byte when a host cluster backs it (data, preallocated zero), or 0. */
  host: number;
  /** Compressed: the entry, to find the compressed bytes. */
  entry: L2Entry | null;
}

/** What snapshot.ts works with while it holds the node's lock (everything flushed). */
export interface Qcow2Internals {
  file: BlockNode;
  header: Qcow2Header;
  cs: number;
  l2Entries: number;
  layout: L2Layout;
  rc: Refcounts;
  /** Active L1 entries: L2 table offsets and their OFLAG_COPIED bits. */
  l1: readonly number[];
  l1Copied: readonly boolean[];
  /** Re-reads the active L1 table and refcounts after the header was switched. */
  reload(): Promise<void>;
  /** Grows the active L1 table to at least `entries` entries (header switched atomically). */
  growL1(entries: number): Promise<void>;
  /** Discards guest clusters [first, end) of the active table (VM state area included). */
  discardClusters(first: number, end: number): Promise<void>;
  /** Makes guest bytes read as zeroes, also past the virtual size (resize.ts). */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Points guest cluster `g` at host cluster `host` (allocated, and zeroed unless `zero`, by the caller). */
  mapCluster(g: number, host: number, zero: boolean): Promise<void>;
  flush(): Promise<void>;
}

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Where the repair of a dirty image reports, line by line (default: stderr, as qemu). */
  log?: (line: string) => void;
}

export class Qcow2Node implements BlockNode {
  readonly driver = 'qcow2';
  readonly requestAlignment = 1;
  backing: BlockNode | null = null;

  readonly cs: number;
  readonly layout: L2Layout;
  private readonly l2Entries: number;
  private readonly scSize: number;
  private l1: number[];
  private l1Copied: boolean[];
  private readonly l1Dirty = new Set<number>();
  private readonly l2: TableCache;
  private refcounts: Refcounts | null = null;
  private readonly lock = new Mutex();
  /** Lock-free requests in flight. */
  private shared = 0;
  /** Sections that need the mapping to hold still are running: no new lock-free requests. */
  private sharedOff = 0;
  private idleWaiters: (() => void)[] = [];
  /** Guest clusters whose new host clusters are being written outside the lock; settles once linked. */
  private readonly allocating = new Map<number, Promise<void>>();
  /** Settles once the last request through lockedClear has the lock (keeps them in issue order). */
  private clearTail: Promise<void> = Promise.resolve();
  /** Up while an exclusive section waits for allocations in flight: no new ones start. */
  private allocBarrier: Promise<void> | null = null;
  private lastCompressed: { offset: number; data: Uint8Array } | null = null;
  private closed = false;
  /** Where corruption is reported (stderr unless the open options say otherwise). */
  private log: (line: string) => void = (line) => void process.stderr.write(line + '\n');
  /** Bumped when active L2 tables appear or move; with the refcount generation, keys `meta`. */
  private metaGen = 0;
  private meta: MetadataRanges | null = null;
  private metaKey = '';
  /** Inactive L1 tables (snapshots) and the snapshot table's extent in bytes. */
  private snapL1: { offset: number; size: number }[] = [];
  private snapBytes = 0;
  /** Set once a write was refused for overlapping metadata: the node takes no more writes. */
  private broken: Promise<never> | null = null;
  /** This node set the dirty bit (lazy refcounts); cleared on a clean close. */
  private lazyDirty = false;

  private constructor(
    readonly file: BlockNode,
    readonly header: Qcow2Header,
    readonly readOnly: boolean,
    l1Raw: Uint8Array,
  ) {
    const h = header;
    this.cs = 2 ** h.clusterBits;
    const extended = (h.incompatible & INCOMPAT_EXTL2) !== 0n;
    this.layout = { clusterBits: h.clusterBits, extended, subclusters: extended ? 32 : 1 };
    this.l2Entries = this.cs / (extended ? 16 : 8);
    this.scSize = this.cs / this.layout.subclusters;
    this.l1 = [];
    this.l1Copied = [];
    this.setL1(l1Raw);
    const tables = Math.max(4, Math.min(h.l1Size, Math.floor(CACHE_BYTES / this.cs)));
    this.l2 = new TableCache(file, this.cs, tables, () => this.refcountsDurable());
  }

  private setL1(l1Raw: Uint8Array): void {
    const n = l1Raw.length / 8;
    const dv = new DataView(l1Raw.buffer, l1Raw.byteOffset, l1Raw.byteLength);
    this.l1 = new Array(n);
    this.l1Copied = new Array(n);
    for (let i = 0; i < n; i++) {
      // L1 entry: bits 9-55 offset, bit 63 "refcount is exactly one".
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      this.l1[i] = (hi & 0x00ffffff) * 0x100000000 + ((lo & ~0x1ff) >>> 0);
      this.l1Copied[i] = (hi & 0x80000000) !== 0;
    }
  }

  static async open(file: BlockNode, opts: Qcow2OpenOptions): Promise<Qcow2Node> {
    const fileSize = file.length();
    const probe = new Uint8Array(Math.min(fileSize, HEADER_PROBE_BYTES));
    await file.read(0, probe);
    let first = probe;
    if (probe.length >= 24) {
      const bits = new DataView(probe.buffer).getUint32(20);
      if (bits >= MIN_CLUSTER_BITS && bits <= MAX_CLUSTER_BITS) {
        first = new Uint8Array(Math.min(fileSize, 2 ** bits));
        await file.read(0, first);
      }
    }
    const h = parseHeader(first, fileSize);
    const unknown = unknownIncompatibleMessage(h.incompatible, h.featureNames);
    if (unknown) throw new BlockError(unknown, 'ENOTSUP');
    if (h.incompatible & INCOMPAT_DATA_FILE) throw new BlockError('External data files are not supported yet', 'ENOTSUP');
    const hasTypeBit = (h.incompatible & INCOMPAT_COMPRESSION) !== 0n;
    if (hasTypeBit !== (h.compressionType !== 0)) {
      throw new BlockError('qcow2 compression type does not match the compression type feature bit');
    }
    if (h.compressionType > 1) throw new BlockError(`Unknown compression type ${h.compressionType}`, 'ENOTSUP');
    await prepareCompression(h.compressionType);
    const extended = (h.incompatible & INCOMPAT_EXTL2) !== 0n;
    if (extended && h.clusterBits < 14) throw new BlockError('Extended L2 entries need clusters of at least 16 KiB');
    if (h.version === 2 && h.refcountOrder !== 4) throw new BlockError('Version 2 images need 16-bit refcounts');
    const l2Entries = 2 ** h.clusterBits / (extended ? 16 : 8);
    const needL1 = Math.ceil(h.size / (2 ** h.clusterBits * l2Entries));
    if (h.l1Size < needL1) throw new BlockError('L1 table is too small');
    if (!opts.readOnly) {
      if (h.incompatible & INCOMPAT_CORRUPT) throw new BlockError('qcow2: Image is corrupt; cannot be opened read/write', 'EACCES');
      if (h.incompatible & INCOMPAT_DIRTY) {
        // "If this bit is set then refcounts may be inconsistent, make sure to scan L1/L2
        // tables to repair refcounts before accessing the image." The check clears the bit.
        const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));
        let failed = '';
        try {
          const r = await checkQcow2({ file, header: h, log, readOnly: false, prog: 'tsemu' }, FIX_LEAKS | FIX_ERRORS);
          if (r.checkErrors || r.corruptions) failed = 'errors remain';
        } catch (e) {
          failed = (e as Error).message;
        }
        if (failed) throw new BlockError(`Could not repair dirty image: ${failed}`, 'EIO');
      }
    }
    const l1Raw = new Uint8Array(h.l1Size * 8); // bounded by MAX_L1_BYTES in parseHeader
    await file.read(h.l1TableOffset, l1Raw);
    const node = new Qcow2Node(file, h, opts.readOnly, l1Raw);
    if (opts.log) node.log = opts.log;
    node.l2.guard = (offset, bytes) => node.overlapCheck([{ offset, data: new Uint8Array(bytes) }], 'active L2 table');
    if (!opts.readOnly) {
      await node.loadSnapshotExtents();
      node.refcounts = await Refcounts.load(
        file,
        h.clusterBits,
        h.refcountOrder,
        h.refcountTableOffset,
        h.refcountTableClusters,
        Math.max(4, Math.floor(CACHE_BYTES / 4 / node.cs)),
      );
      node.guardRefcounts();
      if (h.autoclear !== 0n) {
        // "An implementation may only write to an image with unknown auto-clear features if it
        // clears the respective bits first." We maintain none (not even bitmaps), so clear all.
        await file.write(FIELD_AUTOCLEAR, new Uint8Array(8));
        await file.flush();
        h.autoclear = 0n;
      }
    }
    return node;
  }

  get filename(): string {
    return this.file.filename;
  }
  get version(): number {
    return this.header.version;
  }
  get dirty(): boolean {
    return (this.header.incompatible & INCOMPAT_DIRTY) !== 0n;
  }
  get corrupt(): boolean {
    return (this.header.incompatible & INCOMPAT_CORRUPT) !== 0n;
  }
  get lazyRefcounts(): boolean {
    return (this.header.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n;
  }
  get hasBitmaps(): boolean {
    return (this.header.autoclear & AUTOCLEAR_BITMAPS) !== 0n;
  }

  attachBacking(node: BlockNode): void {
    this.backing = node;
  }

  length(): number {
    return this.header.size;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    checkRequest(this, offset, buf.length, false);
    if (this.sharedOff === 0 && buf.length > 0) {
      const p = this.readShared(offset, buf);
      if (p) return p;
    }
    return this.lock.run(() => this.readLocked(offset, buf));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    checkRequest(this, offset, data.length, true);
    if (this.broken) return this.broken;
    if (this.sharedOff === 0 && data.length > 0 && this.refcounts) {
      const p = this.writeShared(offset, data);
      if (p) return p;
    }
    return this.writeSplit([{ offset, data }]);
  }

  /** All of a write under the lock (anything the split path does not handle). */
  private async writeLocked(offset: number, data: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < data.length) {
      const off = offset + pos;
      // Runs of whole clusters that need new host clusters get them in one piece.
      const done = await this.writeNewClusters(off, data.subarray(pos));
      if (done > 0) {
        pos += done;
        continue;
      }
      const n = Math.min(data.length - pos, this.cs - (off % this.cs));
      await this.writeInCluster(off, data.subarray(pos, pos + n));
      pos += n;
    }
  }

  // ---- writes that allocate, with their data written outside the lock ----

  /** A promise of an allocation in flight over guest clusters [first, last], if any. */
  private allocatingIn(first: number, last: number): Promise<void> | undefined {
    if (this.allocating.size === 0) return undefined;
    if (last - first >= this.allocating.size) {
      for (const [g, p] of this.allocating) if (g >= first && g <= last) return p;
      return undefined;
    }
    for (let g = first; g <= last; g++) {
      const p = this.allocating.get(g);
      if (p) return p;
    }
    return undefined;
  }

  /**
   * Runs `fn` under the lock once no allocation in flight touches the guest clusters of
   * [offset, offset + length) and no exclusive section is waiting for allocations.
   */
  private async lockedClear<T>(offset: number, length: number, fn: () => Promise<T>): Promise<T> {
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / this.cs);
    // Requests get the lock in the order they were issued, also when one of them has to wait:
    // clusters are then allocated in issue order (the layout qemu-img convert produces).
    const before = this.clearTail;
    let go!: () => void;
    this.clearTail = new Promise<void>((resolve) => (go = resolve));
    try {
      await before;
      for (;;) {
        let wait = this.allocBarrier ?? this.allocatingIn(first, last);
        while (wait) {
          await wait.catch(() => {});
          wait = this.allocBarrier ?? this.allocatingIn(first, last);
        }
        // Something may have started between the check and getting the lock: look again there.
        const r = await this.lock.run(async () => {
          if (this.allocBarrier || this.allocatingIn(first, last)) return RETRY;
          go(); // the lock is ours: the next request may queue for it
          await this.markDirty();
          return { value: await fn() };
        });
        if (r !== RETRY) return r.value;
      }
    } finally {
      go();
    }
  }

  /**
   * A write in three steps when every cluster it touches (standard L2 entries) is either owned
   * data (written in place) or has no host cluster yet (gets a new one): mapping and allocation
   * under the lock, data writes outside it, then the new clusters linked under the lock. Pieces
   * that need more (copy-on-write of shared or compressed clusters, subclusters) are written
   * wholly under the lock instead.
   */
  private async writeSplit(pieces: readonly Piece[]): Promise<void> {
    const from = pieces[0]!.offset;
    const to = pieces[pieces.length - 1]!.offset + pieces[pieces.length - 1]!.data.length;
    const plan = await this.lockedClear(from, to - from, () => this.planWrite(pieces));
    if (!plan) return;
    try {
      const writes = plan.writes;
      try {
        await (this.overlapCheck(writes) ?? (writes.length === 1 ? this.file.write(writes[0]!.offset, writes[0]!.data) : writePieces(this.file, writes)));
      } finally {
        this.sharedDone(); // counted by planWrite, under the lock
      }
      if (plan.links.length > 0) await this.lock.run(() => this.linkClusters(plan.links));
    } finally {
      // On failure the new clusters stay allocated but unused: leaked, never corrupt.
      for (let i = 0; i < plan.links.length; i += 2) this.allocating.delete(plan.links[i]!);
      plan.settle();
    }
    // Pieces the plan could not take see the clusters it linked.
    for (const p of plan.later) await this.lockedClear(p.offset, p.data.length, () => this.writeLocked(p.offset, p.data));
  }

  /**
   * Under the lock: the host writes of a split write and the clusters it allocated (guest
   * cluster, host offset pairs), marked as allocating; null when everything was written here.
   */
  private async planWrite(pieces: readonly Piece[]): Promise<{ writes: Piece[]; links: number[]; later: Piece[]; settle: () => void } | null> {
    const writes: Piece[] = [];
    const links: number[] = [];
    const later: Piece[] = [];
    const planned = new Map<number, { buf: Uint8Array; at: number }>();
    for (const p of pieces) {
      if (this.layout.extended || !(await this.planPiece(p.offset, p.data, writes, links, planned))) later.push(p);
    }
    if (writes.length === 0) {
      for (const p of later) await this.writeLocked(p.offset, p.data);
      return null;
    }
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    for (let i = 0; i < links.length; i += 2) this.allocating.set(links[i]!, settled);
    // The data writes count as lock-free requests from here: no flush may free an owned
    // cluster they write in place before they are done.
    this.shared++;
    return { writes, links, later, settle };
  }

  /**
   * Plans one piece into `writes` and `links`; false (nothing planned) when it needs the locked
   * path. `planned` holds the new clusters of earlier pieces of the request that they fill only
   * in part: a later piece in the same cluster puts its bytes into that buffer.
   */
  private async planPiece(
    offset: number,
    data: Uint8Array,
    writes: Piece[],
    links: number[],
    planned: Map<number, { buf: Uint8Array; at: number }>,
  ): Promise<boolean> {
    const cs = this.cs;
    const end = offset + data.length;
    // First pass: every cluster must be owned data or have no host cluster.
    const first = Math.floor(offset / cs);
    const last = Math.floor((end - 1) / cs);
    const hosts: number[] = [];
    for (let g = first; g <= last; g++) {
      const l1i = Math.floor(g / this.l2Entries);
      const l2i = g - l1i * this.l2Entries;
      if (this.l1[l1i] === 0 || planned.has(g)) {
        hosts.push(0);
        continue;
      }
      const table = this.cachedL2(l1i) ?? (await this.l2Table(l1i));
      const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
      if (e.compressed) return false;
      if (e.offset === 0) hosts.push(0);
      else if (e.copied && this.l1Copied[l1i] && e.alloc === 1) hosts.push(e.offset);
      else return false;
    }
    let g = first;
    while (g <= last) {
      const base = g * cs;
      const from = Math.max(offset, base);
      const owned = hosts[g - first]!;
      const shared = planned.get(g);
      if (shared) {
        const to = Math.min(end, base + cs);
        shared.buf.set(data.subarray(from - offset, to - offset), shared.at + (from - base));
        g++;
        continue;
      }
      if (owned !== 0) {
        // Owned data: the new bytes go in place.
        const to = Math.min(end, base + cs);
        writes.push({ offset: owned + (from - base), data: data.subarray(from - offset, to - offset) });
        g++;
        continue;
      }
      // A run of clusters without host clusters (in one L2 table), allocated in one piece where
      // the free space allows.
      const tableEnd = (Math.floor(g / this.l2Entries) + 1) * this.l2Entries;
      let n = 1;
      while (g + n <= last && g + n < tableEnd && hosts[g + n - first] === 0 && !planned.has(g + n)) n++;
      // The L2 table first (allocated or copied if need be), then the data: qemu's layout.
      await this.l2ForWrite(Math.floor(g / this.l2Entries));
      const { offset: host, count } = await this.rc().allocateRun(n);
      const runEnd = Math.min(end, (g + count) * cs);
      let buf = data.subarray(from - offset, runEnd - offset);
      if (from !== base || (runEnd - base) % cs !== 0) {
        // Partial clusters at the edges keep what they read as now (zeroes or the backing file).
        buf = new Uint8Array(count * cs);
        if (from !== base) await this.readLocked(base, buf.subarray(0, cs));
        const lastBase = (g + count - 1) * cs;
        if (runEnd < lastBase + cs && (lastBase !== base || from === base)) {
          await this.readLocked(lastBase, buf.subarray(lastBase - base));
        }
        buf.set(data.subarray(from - offset, runEnd - offset), from - base);
        if (from !== base) planned.set(g, { buf, at: 0 });
        if (runEnd < lastBase + cs) planned.set(g + count - 1, { buf, at: lastBase - base });
      }
      writes.push({ offset: host, data: buf });
      for (let k = 0; k < count; k++) links.push(g + k, host + k * cs);
      g += count;
    }
    return true;
  }

  /** Under the lock: points the guest clusters of a split write at their new host clusters. */
  private async linkClusters(links: number[]): Promise<void> {
    let table: CachedTable | null = null;
    let tableL1i = -1;
    for (let i = 0; i < links.length; i += 2) {
      const g = links[i]!;
      const l1i = Math.floor(g / this.l2Entries);
      const l2i = g - l1i * this.l2Entries;
      // Links come in guest order: one table lookup per L2 table (nothing else runs in between).
      if (l1i !== tableL1i || !table) {
        table = await this.l2ForWrite(l1i);
        tableL1i = l1i;
      }
      // Nothing else changed this entry meanwhile (it was marked as allocating).
      this.freeEntry(decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i)));
      encodeL2Entry(table.dv, l2i, this.layout, { offset: links[i + 1]!, copied: true, alloc: 1, zero: 0 });
      table.dirty = true;
    }
  }

  /**
   * Runs `fn` under the lock once no split write is between its steps, keeping new ones from
   * starting until `fn` returns (for sections that replace tables wholesale).
   */
  private async afterAllocations<T>(fn: () => Promise<T>): Promise<T> {
    while (this.allocBarrier) await this.allocBarrier;
    let lift!: () => void;
    this.allocBarrier = new Promise<void>((resolve) => (lift = resolve));
    try {
      for (;;) {
        while (this.allocating.size > 0) await Promise.all(new Set(this.allocating.values()));
        // A split write may have planned just before the barrier went up: look again with the lock.
        const r = await this.lock.run(async () => (this.allocating.size > 0 ? RETRY : { value: await fn() }));
        if (r !== RETRY) return r.value;
      }
    } finally {
      this.allocBarrier = null;
      lift();
    }
  }

  // ---- lock-free requests ----

  /** Counts a lock-free request until it settles. */
  private track(p: Promise<void>): Promise<void> {
    this.shared++;
    return p.then(this.trackedOk, this.trackedFailed);
  }

  // Made once: lock-free requests are many and small.
  private readonly trackedOk = (): void => this.sharedDone();
  private readonly trackedFailed = (e: unknown): never => {
    this.sharedDone();
    throw e;
  };

  private sharedDone(): void {
    if (--this.shared === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Runs `fn` (called with the lock held) once no lock-free request is in flight, keeping new
   * ones on the locked path until it returns.
   */
  private async quiesced<T>(fn: () => Promise<T>): Promise<T> {
    this.sharedOff++;
    try {
      while (this.shared > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      return await fn();
    } finally {
      this.sharedOff--;
    }
  }

  /** How the bytes at `offset` are stored, if their L2 table is cached (no I/O); else null. */
  private runCached(offset: number, max: number): Run | null {
    const g = Math.floor(offset / this.cs);
    const l1i = Math.floor(g / this.l2Entries);
    if (l1i >= this.header.l1Size || this.l1[l1i] === 0) return this.unmappedRun(l1i, offset, max);
    const table = this.l2.peek(this.l1[l1i]!);
    return table ? this.runIn(table.dv, l1i, offset, max) : null;
  }

  /**
   * A read mapped entirely through cached tables, without the lock; null when some part needs
   * the locked path (a table to load, compressed data) or the mapping is malformed (the locked
   * path reports it).
   */
  private readShared(offset: number, buf: Uint8Array): Promise<void> | null {
    // The usual request: inside one data cluster of a cached table, no objects made.
    const cs = this.cs;
    const g = Math.floor(offset / cs);
    const inCluster = offset - g * cs;
    if (inCluster + buf.length <= cs) {
      const l1i = Math.floor(g / this.l2Entries);
      const table = l1i < this.l1.length ? this.cachedL2(l1i) : undefined;
      if (table) {
        const host = this.dataCluster(table.dv, g - l1i * this.l2Entries, inCluster, buf.length, false);
        if (host >= 0) return this.track(this.file.read(host + inCluster, buf));
      }
    }
    let first: Run | null;
    try {
      first = this.runCached(offset, buf.length);
      if (!first || first.kind === Kind.Compressed) return null;
      if (first.length === buf.length) return this.track(this.readRun(first, offset, buf));
      // Several runs: map them all before issuing anything.
      const runs = [first];
      for (let pos = first.length; pos < buf.length; ) {
        const r = this.runCached(offset + pos, buf.length - pos);
        if (!r || r.kind === Kind.Compressed) return null;
        runs.push(r);
        pos += r.length;
      }
      const parts: Promise<void>[] = [];
      let pos = 0;
      for (const r of runs) {
        parts.push(this.readRun(r, offset + pos, buf.subarray(pos, pos + r.length)));
        pos += r.length;
      }
      return this.track(Promise.all(parts).then(() => undefined));
    } catch {
      return null;
    }
  }

  /** Reads one run that is not compressed. */
  private readRun(run: Run, offset: number, chunk: Uint8Array): Promise<void> {
    switch (run.kind) {
      case Kind.Data:
        return this.file.read(run.host, chunk);
      case Kind.Zero:
        chunk.fill(0);
        return Promise.resolve();
      default:
        return this.readBacking(offset, chunk);
    }
  }

  /**
   * Host offset of guest cluster `l2i` of a cached table when the image owns it alone (COPIED,
   * not compressed) and bytes [inCluster, inCluster + n) are in data subclusters; else -1.
   */
  private ownedData(dv: DataView, l2i: number, inCluster: number, n: number): number {
    return this.dataCluster(dv, l2i, inCluster, n, true);
  }

  /**
   * Host offset of guest cluster `l2i` of a cached table when bytes [inCluster, inCluster + n)
   * are in data subclusters of a plain (not compressed) cluster, which must also be COPIED when
   * `owned`; else -1 (including malformed entries: the locked path reports those).
   */
  private dataCluster(dv: DataView, l2i: number, inCluster: number, n: number, owned: boolean): number {
    const pos = l2i * (this.layout.extended ? 16 : 8);
    const hi = dv.getUint32(pos);
    const lo = dv.getUint32(pos + 4);
    // Compressed clear (and COPIED set if owned); offsets from 2^53 on are malformed.
    if ((owned ? hi >>> 30 !== 2 : (hi & 0x40000000) !== 0) || (hi & 0x00ffffff) >= 0x200000) return -1;
    const host = (hi & 0x00ffffff) * 0x100000000 + ((lo & ~0x1ff) >>> 0);
    if (host === 0 || host % this.cs !== 0) return -1;
    if (!this.layout.extended) return lo & 1 ? -1 : host;
    const zero = dv.getUint32(pos + 8);
    const alloc = dv.getUint32(pos + 12);
    if ((alloc & zero) !== 0) return -1;
    const firstSc = Math.floor(inCluster / this.scSize);
    const lastSc = Math.floor((inCluster + n - 1) / this.scSize);
    const span = lastSc - firstSc + 1;
    const touched = (span === 32 ? 0xffffffff : ((1 << span) - 1) << firstSc) >>> 0;
    return ((alloc & touched) >>> 0) === touched ? host : -1;
  }

  /** A write into owned data clusters only, without the lock; null when it needs the locked path. */
  private writeShared(offset: number, data: Uint8Array): Promise<void> | null {
    const host: Piece[] = [];
    if (!this.mapOwned(offset, data, host)) return null;
    const bad = this.overlapCheck(host);
    if (bad) return bad;
    return this.track(host.length === 1 ? this.file.write(host[0]!.offset, data) : writePieces(this.file, host));
  }

  /**
   * Appends the host pieces of a write into owned data clusters (adjacent ones merged) to `out`;
   * false when some cluster is not owned data or its table is not cached.
   */
  private mapOwned(offset: number, data: Uint8Array, out: Piece[]): boolean {
    const cs = this.cs;
    const end = offset + data.length;
    const first = out.length;
    let hostEnd = -1;
    for (let pos = offset; pos < end; ) {
      const g = Math.floor(pos / cs);
      const l1i = Math.floor(g / this.l2Entries);
      if (l1i >= this.l1.length || !this.l1Copied[l1i] || this.l1[l1i] === 0) return false;
      const table = this.l2.peek(this.l1[l1i]!);
      if (!table) return false;
      const inCluster = pos - g * cs;
      const n = Math.min(end - pos, cs - inCluster);
      const host = this.ownedData(table.dv, g - l1i * this.l2Entries, inCluster, n);
      if (host < 0) return false;
      if (out.length > first && host + inCluster === hostEnd) {
        const last = out[out.length - 1]!;
        last.data = data.subarray(last.data.byteOffset - data.byteOffset, pos - offset + n);
      } else {
        out.push({ offset: host + inCluster, data: data.subarray(pos - offset, pos - offset + n) });
      }
      hostEnd = host + inCluster + n;
      pos += n;
    }
    return true;
  }

  /** Several reads in one request: host pieces adjacent on the file become one vectored read. */
  readMany(pieces: readonly Piece[]): Promise<void> {
    for (const p of pieces) checkRequest(this, p.offset, p.data.length, false);
    if (this.sharedOff === 0) {
      const r = this.readManyShared(pieces);
      if (r) return r;
    }
    return Promise.all(pieces.map((p) => this.lock.run(() => this.readLocked(p.offset, p.data)))).then(() => undefined);
  }

  private readManyShared(pieces: readonly Piece[]): Promise<void> | null {
    const host: Piece[] = [];
    const below: Piece[] = [];
    try {
      // Map everything before issuing anything (the locked path may still take over).
      for (const p of pieces) {
        for (let pos = 0; pos < p.data.length; ) {
          const r = this.runCached(p.offset + pos, p.data.length - pos);
          if (!r || r.kind === Kind.Compressed) return null;
          const chunk = p.data.subarray(pos, pos + r.length);
          if (r.kind === Kind.Data) host.push({ offset: r.host, data: chunk });
          else if (r.kind === Kind.Zero) chunk.fill(0);
          else below.push({ offset: p.offset + pos, data: chunk });
          pos += r.length;
        }
      }
    } catch {
      return null; // malformed: the locked path reports it
    }
    // Host order is usually guest order already; sorting lets adjacent pieces merge otherwise.
    for (let i = 1; i < host.length; i++) {
      if (host[i]!.offset < host[i - 1]!.offset) {
        host.sort((a, b) => a.offset - b.offset);
        break;
      }
    }
    const parts = [readPieces(this.file, host)];
    for (const b of below) parts.push(this.readBacking(b.offset, b.data));
    return this.track(Promise.all(parts).then(() => undefined));
  }

  /** Several writes in one request: new clusters come in one piece and adjacent host pieces are written together. */
  writeMany(pieces: readonly Piece[]): Promise<void> {
    for (const p of pieces) checkRequest(this, p.offset, p.data.length, true);
    if (this.broken) return this.broken;
    const live = pieces.filter((p) => p.data.length > 0);
    if (live.length === 0) return Promise.resolve();
    if (this.sharedOff === 0 && this.refcounts) {
      const host: Piece[] = [];
      if (live.every((p) => this.mapOwned(p.offset, p.data, host))) return this.overlapCheck(host) ?? this.track(writePieces(this.file, host));
    }
    return this.writeSplit(live);
  }

  /**
   * Writes one whole cluster compressed (the last cluster may be short: it is padded with
   * zeroes). A cluster that does not shrink is written plainly, as qemu does.
   */
  async writeCompressed(offset: number, data: Uint8Array): Promise<void> {
    checkRequest(this, offset, data.length, true);
    if (this.broken) return this.broken;
    const cs = this.cs;
    if (offset % cs !== 0 || !(data.length === cs || (data.length < cs && offset + data.length === this.header.size))) {
      throw new BlockError('compressed writes must cover one whole cluster', 'EINVAL');
    }
    return this.lockedClear(offset, data.length, async () => {
      let whole = data;
      if (data.length < cs) {
        whole = new Uint8Array(cs);
        whole.set(data);
      }
      const packed = compressCluster(this.header.compressionType, whole);
      if (!packed) {
        await this.writeInCluster(offset, data);
        return;
      }
      const g = offset / cs;
      const l1i = Math.floor(g / this.l2Entries);
      const l2i = g - l1i * this.l2Entries;
      const table = await this.l2ForWrite(l1i);
      const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
      const host = await this.rc().allocateBytes(packed.length);
      await this.dataWrite(host, packed);
      this.freeEntry(e);
      this.lastCompressed = null;
      // The awaits above may have evicted `table` from the cache: modify the cached copy.
      const cached = await this.l2Table(l1i);
      encodeCompressedL2Entry(cached.dv, l2i, this.layout, host, packed.length);
      cached.dirty = true;
    });
  }

  writeZeroes(offset: number, length: number, mayUnmap = false): Promise<void> {
    checkRequest(this, offset, length, true);
    if (this.broken) return this.broken;
    return this.lockedClear(offset, length, async () => {
      let pos = 0;
      while (pos < length) {
        const off = offset + pos;
        const n = Math.min(length - pos, this.cs - (off % this.cs));
        await this.zeroInCluster(off, n, mayUnmap);
        pos += n;
      }
    });
  }

  discard(offset: number, length: number): Promise<void> {
    checkRequest(this, offset, length, true);
    if (this.broken) return this.broken;
    return this.lockedClear(offset, length, async () => {
      // Only whole clusters can be discarded; the rest of the range is left as it is.
      const first = Math.ceil(offset / this.cs);
      const end = offset + length === this.header.size ? Math.ceil((offset + length) / this.cs) : Math.floor((offset + length) / this.cs);
      for (let g = first; g < end; g++) await this.discardCluster(g);
    });
  }

  flush(): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    return this.lock.run(() => this.flushLocked());
  }

  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    checkRequest(this, offset, length, false);
    if (length === 0) return Promise.resolve({ length: 0, allocated: false, data: false, zero: true, depth: 0 });
    if (this.sharedOff === 0) {
      // Mapping only: no I/O on this node, so nothing to track.
      let run: Run | null = null;
      try {
        run = this.runCached(offset, length);
      } catch {
        run = null; // malformed: the locked path reports it
      }
      if (run) return this.statusOf(run, offset);
    }
    return this.lock.run(async () => this.statusOf(await this.runAt(offset, length), offset));
  }

  /** Block status of a run; a promise only when the backing node has to be asked. */
  private statusOf(run: Run, offset: number): Promise<BlockStatus> {
    const s = this.ownStatus(run, offset);
    return s ? Promise.resolve(s) : this.backingStatus(run, offset);
  }

  private ownStatus(run: Run, offset: number): BlockStatus | null {
    switch (run.kind) {
      case Kind.Data: {
        // Like qemu, ask the file too: data past its end reads as zeroes.
        const inFile = this.file.length() - run.host;
        const zero = inFile <= 0;
        const length = zero ? run.length : Math.min(run.length, inFile);
        return { length, allocated: true, data: true, zero, depth: 0, offset: run.host, file: this.file };
      }
      case Kind.Compressed:
        return { length: run.length, allocated: true, data: true, zero: false, depth: 0 };
      case Kind.Zero:
        if (run.host) return { length: run.length, allocated: true, data: false, zero: true, depth: 0, offset: run.host, file: this.file };
        return { length: run.length, allocated: true, data: false, zero: true, depth: 0 };
      default:
        break;
    }
    const b = this.backing;
    if (b && offset < b.length()) return null;
    // Nothing below (or past the end of the backing node): reads as zeroes, from this node.
    if (run.host) return { length: run.length, allocated: false, data: false, zero: true, depth: 0, offset: run.host, file: this.file };
    return { length: run.length, allocated: false, data: false, zero: true, depth: 0 };
  }

  /** An unallocated run over the backing node: its status, one level deeper. */
  private async backingStatus(run: Run, offset: number): Promise<BlockStatus> {
    const b = this.backing!;
    const s = await b.blockStatus(offset, Math.min(run.length, b.length() - offset));
    return { ...s, depth: s.depth + 1 };
  }

  /** Grows (L1 table, preallocation) or shrinks the image: see resize.ts. */
  truncate(length: number, prealloc: Preallocation = 'off'): Promise<void> {
    return resizeQcow2(this, length, prealloc);
  }

  allocatedSize(): Promise<number> {
    return this.file.allocatedSize();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      // Writes still between their steps finish first (their clusters would leak otherwise).
      while (this.allocating.size > 0) await Promise.all(new Set(this.allocating.values()));
      if (!this.readOnly) await this.flush();
      // Refcounts are exact and durable after the flush: the image is clean again.
      if (this.lazyDirty) await this.lock.run(() => this.markClean());
    } finally {
      this.closed = true;
      await this.file.close();
      if (this.backing) await this.backing.close();
    }
  }

  // ---- snapshots and VM state (see snapshot.ts) ----

  /** Runs `fn` under the request lock once everything written so far is durable. */
  exclusive<T>(fn: (a: Qcow2Internals) => Promise<T>): Promise<T> {
    return this.afterAllocations(() => this.quiesced(async () => {
      if (this.readOnly || !this.refcounts) throw new BlockError('node is read-only', 'EROFS');
      await this.flushLocked();
      const self = this;
      const a: Qcow2Internals = {
        file: this.file,
        header: this.header,
        cs: this.cs,
        l2Entries: this.l2Entries,
        layout: this.layout,
        get rc() {
          return self.rc();
        },
        get l1() {
          return self.l1;
        },
        get l1Copied() {
          return self.l1Copied;
        },
        reload: () => this.reloadLocked(),
        growL1: (entries) => this.growL1Locked(entries),
        discardClusters: async (first, end) => {
          for (let g = first; g < end; g++) await this.discardCluster(g);
        },
        writeZeroes: async (offset, length) => {
          for (let pos = offset; pos < offset + length; ) {
            const n = Math.min(offset + length - pos, this.cs - (pos % this.cs));
            await this.zeroInCluster(pos, n, false);
            pos += n;
          }
        },
        mapCluster: async (g, host, zero) => {
          const l1i = Math.floor(g / this.l2Entries);
          const l2i = g - l1i * this.l2Entries;
          const table = await this.l2ForWrite(l1i);
          this.freeEntry(decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i)));
          const all = this.layout.subclusters === 32 ? 0xffffffff : 1;
          encodeL2Entry(table.dv, l2i, this.layout, { offset: host, copied: true, alloc: zero ? 0 : all, zero: zero ? all : 0 });
          table.dirty = true;
        },
        flush: () => this.flushLocked(),
      };
      // These operations keep refcounts exact themselves (and may rewrite the header).
      await this.markClean();
      try {
        return await fn(a);
      } finally {
        // Tables may have moved or appeared: the overlap map is rebuilt from the new state.
        await this.loadSnapshotExtents();
        this.metaGen++;
      }
    }));
  }

  /** Guest offset where the VM state starts: the first L1 entry past the virtual disk. */
  vmStateOffset(): number {
    const span = this.cs * this.l2Entries;
    return Math.ceil(this.header.size / span) * span;
  }

  private checkVmState(pos: number, length: number): number {
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(length) || pos < 0 || length < 0) {
      throw new BlockError(`invalid VM state request: offset ${pos}, length ${length}`);
    }
    const end = this.vmStateOffset() + pos + length;
    const entries = Math.ceil(end / (this.cs * this.l2Entries));
    if (entries * 8 > MAX_L1_BYTES) throw new BlockError('VM state too large for the L1 table', 'EFBIG');
    return entries;
  }

  /** Reads VM state bytes (what savevm stored past the end of the disk); unwritten parts read as zeroes. */
  readVmState(pos: number, buf: Uint8Array): Promise<void> {
    this.checkVmState(pos, buf.length);
    return this.lock.run(() => this.readLocked(this.vmStateOffset() + pos, buf));
  }

  /** Writes VM state bytes into the active image, past the end of the virtual disk. */
  writeVmState(pos: number, data: Uint8Array): Promise<void> {
    const entries = this.checkVmState(pos, data.length);
    if (this.readOnly) return Promise.reject(new BlockError('node is read-only', 'EROFS'));
    return this.lock.run(async () => {
      await this.markDirty();
      if (entries > this.l1.length) await this.growL1Locked(entries);
      const offset = this.vmStateOffset() + pos;
      let done = 0;
      while (done < data.length) {
        const off = offset + done;
        const n = Math.min(data.length - done, this.cs - (off % this.cs));
        await this.writeInCluster(off, data.subarray(done, done + n));
        done += n;
      }
    });
  }

  private async reloadLocked(): Promise<void> {
    const h = this.header;
    const raw = new Uint8Array(h.l1Size * 8);
    await this.file.read(h.l1TableOffset, raw);
    this.setL1(raw);
    this.metaGen++;
    await this.loadSnapshotExtents();
    this.l1Dirty.clear();
    this.l2.clear();
    this.lastCompressed = null;
    this.refcounts = await Refcounts.load(
      this.file,
      h.clusterBits,
      h.refcountOrder,
      h.refcountTableOffset,
      h.refcountTableClusters,
      Math.max(4, Math.floor(CACHE_BYTES / 4 / this.cs)),
    );
    this.guardRefcounts();
  }

  /** Refcount blocks written back from their cache must not land on other metadata. */
  private guardRefcounts(): void {
    this.refcounts?.setGuard((offset, bytes) => this.overlapCheck([{ offset, data: new Uint8Array(bytes) }], 'refcount block'));
  }

  /**
   * Moves the active L1 table to a larger copy: the copy and its refcounts are durable before
   * one header write (l1_size and l1_table_offset together) names it; the old table is freed after.
   */
  private growL1Locked(entries: number): Promise<void> {
    if (entries <= this.l1.length) return Promise.resolve();
    return this.quiesced(() => this.moveL1(entries));
  }

  private async moveL1(entries: number): Promise<void> {
    if (entries * 8 > MAX_L1_BYTES) throw new BlockError('Active L1 table too large', 'EFBIG');
    await this.flushLocked();
    const rc = this.rc();
    const cs = this.cs;
    const clusters = Math.ceil((entries * 8) / cs);
    const off = await rc.allocate(clusters);
    await rc.writeBack();
    const raw = new Uint8Array(clusters * cs);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < this.l1.length; i++) {
      setU64(dv, i * 8, this.l1[i]!);
      if (this.l1Copied[i]) dv.setUint32(i * 8, dv.getUint32(i * 8) | 0x80000000);
    }
    await this.file.write(off, raw);
    await this.file.flush();
    const hdr = new Uint8Array(12);
    const hdv = new DataView(hdr.buffer);
    hdv.setUint32(0, entries);
    setU64(hdv, 4, off);
    await this.file.write(FIELD_L1, hdr);
    await this.file.flush();
    const old = this.header.l1TableOffset;
    const oldClusters = Math.ceil((this.header.l1Size * 8) / cs);
    this.header.l1Size = entries;
    this.header.l1TableOffset = off;
    this.metaGen++;
    while (this.l1.length < entries) {
      this.l1.push(0);
      this.l1Copied.push(false);
    }
    if (old !== 0) {
      for (let k = 0; k < oldClusters; k++) await rc.adjust(old / cs + k, -1);
      await rc.writeBack();
      await this.file.flush();
    }
  }

  // ---- metadata overlap checks (see overlap.ts) ----

  private async loadSnapshotExtents(): Promise<void> {
    const h = this.header;
    this.snapL1 = [];
    this.snapBytes = 0;
    if (h.nbSnapshots === 0) return;
    try {
      const t = await readSnapshotTable(this.file, h.snapshotsOffset, h.nbSnapshots);
      this.snapBytes = t.bytes;
      for (const e of t.entries) this.snapL1.push({ offset: e.l1TableOffset, size: e.l1Size * 8 });
    } catch {
      // A broken snapshot table is the check's business; the header's extent still counts.
      this.snapBytes = h.nbSnapshots * 40;
    }
  }

  /** The metadata ranges, rebuilt when tables appeared or moved since the last build (or when forced). */
  private metadata(force: boolean): MetadataRanges {
    const h = this.header;
    const rc = this.rc();
    const t = rc.tableInfo;
    const key = `${this.metaGen}/${rc.generation}/${h.l1TableOffset}/${t.offset}/${h.snapshotsOffset}/${h.nbSnapshots}`;
    if (this.meta && !force && key === this.metaKey) return this.meta;
    const cs = this.cs;
    const list: { offset: number; bytes: number; kind: MetadataKind }[] = [];
    // Order = priority among ranges starting at the same offset.
    list.push({ offset: 0, bytes: cs, kind: 'qcow2_header' });
    list.push({ offset: h.l1TableOffset, bytes: h.l1Size * 8, kind: 'active L1 table' });
    list.push({ offset: t.offset, bytes: t.clusters * cs, kind: 'refcount table' });
    for (const b of rc.blockOffsets) if (b !== 0) list.push({ offset: b, bytes: cs, kind: 'refcount block' });
    for (const o of this.l1) if (o !== 0) list.push({ offset: o, bytes: cs, kind: 'active L2 table' });
    if (h.nbSnapshots > 0) list.push({ offset: h.snapshotsOffset, bytes: this.snapBytes, kind: 'snapshot table' });
    for (const s of this.snapL1) list.push({ offset: s.offset, bytes: s.size, kind: 'inactive L1 table' });
    this.meta = MetadataRanges.build(list);
    this.metaKey = key;
    return this.meta;
  }

  /**
   * Checks host data writes against the metadata: null when none overlaps; otherwise the image
   * is marked corrupt and the returned promise rejects with EIO (as do all later writes).
   */
  private overlapCheck(pieces: readonly Piece[], ignore?: MetadataKind): Promise<never> | null {
    if (this.broken) return this.broken;
    if (!this.refcounts) return null;
    let meta = this.metadata(false);
    let kind: MetadataKind | null = null;
    for (const p of pieces) if ((kind = meta.overlap(p.offset, p.data.length, ignore))) break;
    if (!kind) return null;
    // A stale map may still list a freed table: rebuild from the live state before judging.
    meta = this.metadata(true);
    kind = null;
    for (const p of pieces) if ((kind = meta.overlap(p.offset, p.data.length, ignore))) break;
    if (!kind) return null;
    return this.markCorrupt(kind);
  }

  private async dataWrite(offset: number, data: Uint8Array): Promise<void> {
    const bad = this.overlapCheck([{ offset, data }]);
    if (bad) return bad;
    await this.file.write(offset, data);
  }

  /** Sets the corrupt bit durably, reports once, and refuses further writes. */
  private markCorrupt(kind: MetadataKind): Promise<never> {
    if (this.broken) return this.broken;
    this.log(CORRUPT_MESSAGE(kind));
    const h = this.header;
    h.incompatible |= INCOMPAT_CORRUPT;
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, h.incompatible);
    const eio = (): never => {
      throw new BlockError('Input/output error', 'EIO');
    };
    this.broken = (async () => {
      try {
        await this.file.write(FIELD_INCOMPAT, b);
        await this.file.flush();
      } catch {
        // The write is refused either way.
      }
      return eio();
    })();
    this.broken.catch(() => undefined);
    return this.broken;
  }

  // ---- mapping ----

  /** Names an L2 entry in error messages (built only when one is thrown). */
  private where(l1i: number, l2i: number): () => string {
    return () => `L1 index ${l1i}, L2 index ${l2i}`;
  }

  /** The L2 table named by L1 entry `l1i`, after checking its offset. */
  /** l2Table without I/O: the table if it is cached (it was checked when it was loaded). */
  private cachedL2(l1i: number): CachedTable | undefined {
    const off = this.l1[l1i]!;
    return off === 0 ? undefined : this.l2.peek(off);
  }

  private async l2Table(l1i: number): Promise<CachedTable> {
    const off = this.l1[l1i]!;
    if (off % this.cs !== 0) throw new BlockError(`L2 table offset 0x${off.toString(16)} unaligned (L1 index ${l1i})`, 'EIO');
    if (off + this.cs > this.file.length() && !this.l1Dirty.has(l1i)) {
      throw new BlockError(`L2 table offset 0x${off.toString(16)} lies past the end of the file (L1 index ${l1i})`, 'EIO');
    }
    return this.l2.get(off);
  }

  private kindOf(e: L2Entry, sc: number): Kind {
    if (e.compressed) return Kind.Compressed;
    const bit = 1 << sc;
    if (e.alloc & bit) return Kind.Data;
    if (e.zero & bit) return Kind.Zero;
    return Kind.Unallocated;
  }

  /** How the bytes from guest `offset` are stored, for at most `max` bytes. */
  private async runAt(offset: number, max: number): Promise<Run> {
    const l1i = Math.floor(Math.floor(offset / this.cs) / this.l2Entries);
    if (l1i >= this.header.l1Size || this.l1[l1i] === 0) return this.unmappedRun(l1i, offset, max);
    return this.runIn((await this.l2Table(l1i)).dv, l1i, offset, max);
  }

  /** The run at `offset` when L1 entry `l1i` names no L2 table. */
  private unmappedRun(l1i: number, offset: number, max: number): Run {
    const l2End = (l1i + 1) * this.l2Entries * this.cs;
    return { kind: Kind.Unallocated, length: Math.min(max, l2End - offset), host: 0, entry: null };
  }

  /** The run at `offset` in the L2 table `dv` of L1 entry `l1i`. */
  private runIn(dv: DataView, l1i: number, offset: number, max: number): Run {
    if (!this.layout.extended) return this.runStandard(dv, l1i, offset, max);
    const cs = this.cs;
    let g = Math.floor(offset / cs);
    const inCluster = offset - g * cs;
    let l2i = g - l1i * this.l2Entries;
    const e = decodeL2Entry(dv, l2i, this.layout, this.where(l1i, l2i));
    let sc = Math.floor(inCluster / this.scSize);
    const kind = this.kindOf(e, sc);
    if (kind === Kind.Compressed) {
      return { kind, length: Math.min(max, cs - inCluster), host: 0, entry: e };
    }
    // A host cluster may back data, preallocated zeroes or (subclusters) nothing yet.
    const hasHost = e.offset !== 0;
    const host = hasHost ? e.offset + inCluster : 0;
    let length = (sc + 1) * this.scSize - inCluster;
    // Extend over the following subclusters and clusters of the same kind (and, with a host
    // cluster, contiguous on the host) in this table.
    let cur = e;
    let expectHost = e.offset + cs;
    for (;;) {
      if (length >= max) break;
      sc++;
      if (sc === this.layout.subclusters) {
        l2i++;
        g++;
        if (l2i === this.l2Entries) break;
        cur = decodeL2Entry(dv, l2i, this.layout, this.where(l1i, l2i));
        if (cur.compressed || (cur.offset !== 0) !== hasHost) break;
        if (hasHost) {
          if (cur.offset !== expectHost) break;
          expectHost += cs;
        }
        sc = 0;
      }
      if (this.kindOf(cur, sc) !== kind) break;
      length += this.scSize;
    }
    return { kind, length: Math.min(length, max), host, entry: null };
  }

  /**
   * runIn for standard L2 entries: the entries after the first are read straight from the table
   * (block status walks whole images this way); anything unusual goes through decodeL2Entry,
   * which reports malformed entries.
   */
  private runStandard(dv: DataView, l1i: number, offset: number, max: number): Run {
    const cs = this.cs;
    const g = Math.floor(offset / cs);
    const inCluster = offset - g * cs;
    let l2i = g - l1i * this.l2Entries;
    const e = decodeL2Entry(dv, l2i, this.layout, this.where(l1i, l2i));
    const kind = this.kindOf(e, 0);
    if (kind === Kind.Compressed) return { kind, length: Math.min(max, cs - inCluster), host: 0, entry: e };
    const hasHost = e.offset !== 0;
    let expectHost = e.offset + cs;
    let length = cs - inCluster;
    while (length < max && ++l2i < this.l2Entries) {
      const hi = dv.getUint32(l2i * 8);
      const lo = dv.getUint32(l2i * 8 + 4);
      const offHi = hi & 0x00ffffff;
      const host = offHi * 0x100000000 + ((lo & ~0x1ff) >>> 0);
      if ((hi & 0x40000000) !== 0 || offHi >= 0x200000 || host % cs !== 0) {
        decodeL2Entry(dv, l2i, this.layout, this.where(l1i, l2i)); // throws if malformed
        break;
      }
      if ((host !== 0) !== hasHost || (hasHost && host !== expectHost)) break;
      // As decodeL2Entry and kindOf see it: the zero flag wins, then a host cluster means data.
      if ((lo & 1 ? Kind.Zero : host !== 0 ? Kind.Data : Kind.Unallocated) !== kind) break;
      expectHost += cs;
      length += cs;
    }
    return { kind, length: Math.min(length, max), host: hasHost ? e.offset + inCluster : 0, entry: null };
  }

  private async readLocked(offset: number, buf: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < buf.length) {
      const run = await this.runAt(offset + pos, buf.length - pos);
      const chunk = buf.subarray(pos, pos + run.length);
      switch (run.kind) {
        case Kind.Data:
          await this.file.read(run.host, chunk);
          break;
        case Kind.Zero:
          chunk.fill(0);
          break;
        case Kind.Compressed: {
          const data = await this.compressedData(run.entry!);
          const inCluster = (offset + pos) % this.cs;
          chunk.set(data.subarray(inCluster, inCluster + run.length));
          break;
        }
        default:
          await this.readBacking(offset + pos, chunk);
      }
      pos += run.length;
    }
  }

  private async readBacking(offset: number, chunk: Uint8Array): Promise<void> {
    // "If there is no backing file or the backing file is smaller than the image, they shall
    // read zeros for all parts that are not covered by the backing file."
    const b = this.backing;
    // The VM state area past the virtual disk never shows the backing file.
    const covered = b ? Math.max(0, Math.min(chunk.length, b.length() - offset, this.header.size - offset)) : 0;
    if (covered > 0) await b!.read(offset, chunk.subarray(0, covered));
    chunk.fill(0, covered);
  }

  private async compressedData(e: L2Entry): Promise<Uint8Array> {
    if (this.lastCompressed?.offset === e.offset) return this.lastCompressed.data;
    const fileSize = this.file.length();
    if (e.offset >= fileSize) throw new BlockError(`compressed cluster at 0x${e.offset.toString(16)} lies past the end of the file`, 'EIO');
    // The last sector may run past the end of the file; decompression stops at a full cluster.
    const input = new Uint8Array(Math.min(e.compressedBytes, fileSize - e.offset));
    await this.file.read(e.offset, input);
    const data = decompressCluster(this.header.compressionType, input, this.cs);
    this.lastCompressed = { offset: e.offset, data };
    return data;
  }

  // ---- writing ----

  private rc(): Refcounts {
    if (!this.refcounts) throw new BlockError('node is read-only', 'EROFS');
    return this.refcounts;
  }

  /** Makes refcount blocks durable; the L2 cache runs this before writing any table. */
  private async refcountsDurable(): Promise<void> {
    const rc = this.rc();
    // With the dirty bit set refcounts may lag behind the L2 tables (repaired on open).
    if (this.lazyDirty) return;
    if (rc.hasDirty()) {
      await rc.writeBack();
      await this.file.flush();
    }
  }

  /** The L2 table for L1 entry `l1i`, allocated or copied so that it may be modified in place. */
  private async l2ForWrite(l1i: number): Promise<CachedTable> {
    const old = this.l1[l1i]!;
    if (old !== 0 && this.l1Copied[l1i]) return this.cachedL2(l1i) ?? this.l2Table(l1i);
    const rc = this.rc();
    let content: Uint8Array | undefined;
    if (old !== 0) {
      // Shared with a snapshot: copy it, and make its entries copy-on-write too.
      content = (await this.l2Table(l1i)).buf.slice();
      const dv = new DataView(content.buffer);
      const step = this.layout.extended ? 16 : 8;
      for (let p = 0; p < content.length; p += step) dv.setUint32(p, dv.getUint32(p) & 0x7fffffff);
    }
    const off = await rc.allocate(1);
    const t = await this.l2.create(off, content);
    if (old !== 0) {
      rc.deferFree(old, this.cs);
      this.l2.drop(old);
    }
    this.l1[l1i] = off;
    this.l1Copied[l1i] = true;
    this.l1Dirty.add(l1i);
    this.metaGen++;
    return t;
  }

  private freeEntry(e: L2Entry): void {
    if (e.compressed) this.rc().deferFree(e.offset, e.compressedBytes);
    else if (e.offset !== 0) this.rc().deferFree(e.offset, this.cs);
    if (e.compressed && this.lastCompressed?.offset === e.offset) this.lastCompressed = null;
  }

  /**
   * Writes the whole clusters at the start of `data` (from cluster-aligned `offset`) that have no
   * host cluster yet (unallocated or zero, never compressed) into newly allocated contiguous
   * clusters with one host write. Returns the bytes written: 0 when fewer than two clusters
   * qualify (writeInCluster handles those), less than asked when free space is fragmented.
   */
  private async writeNewClusters(offset: number, data: Uint8Array): Promise<number> {
    const cs = this.cs;
    if (offset % cs !== 0 || data.length < 2 * cs) return 0;
    const g = offset / cs;
    const l1i = Math.floor(g / this.l2Entries);
    const l2i = g - l1i * this.l2Entries;
    const max = Math.min(Math.floor(data.length / cs), this.l2Entries - l2i);
    if (max < 2) return 0;
    // Check from the current table first: no allocation when the run is too short.
    if (this.l1[l1i] !== 0 && !this.fresh((await this.l2Table(l1i)).dv, l1i, l2i, 2)) return 0;
    const table = await this.l2ForWrite(l1i);
    let n = this.fresh(table.dv, l1i, l2i, max);
    if (n < 2) return 0;
    // As many as are free in one piece at the allocation point; the caller comes back for the rest.
    const { offset: host, count } = await this.rc().allocateRun(n);
    n = count;
    await this.dataWrite(host, data.subarray(0, n * cs));
    const all = this.layout.subclusters === 32 ? 0xffffffff : 1;
    // The awaits above may have evicted `table` from the cache: modify the cached copy.
    const cached = await this.l2Table(l1i);
    for (let k = 0; k < n; k++) {
      encodeL2Entry(cached.dv, l2i + k, this.layout, { offset: host + k * cs, copied: true, alloc: all, zero: 0 });
    }
    cached.dirty = true;
    return n * cs;
  }

  /** How many entries from `l2i` (at most `max`) have no host cluster and are not compressed. */
  private fresh(dv: DataView, l1i: number, l2i: number, max: number): number {
    let n = 0;
    while (n < max) {
      const e = decodeL2Entry(dv, l2i + n, this.layout, this.where(l1i, l2i + n));
      if (e.compressed || e.offset !== 0) break;
      n++;
    }
    return n;
  }

  private async writeInCluster(offset: number, data: Uint8Array): Promise<void> {
    const cs = this.cs;
    const g = Math.floor(offset / cs);
    const l1i = Math.floor(g / this.l2Entries);
    const l2i = g - l1i * this.l2Entries;
    const base = g * cs;
    const inCluster = offset - base;
    const table = await this.l2ForWrite(l1i);
    const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
    const all = this.layout.subclusters === 32 ? 0xffffffff : 1;

    const firstSc = Math.floor(inCluster / this.scSize);
    const lastSc = Math.floor((inCluster + data.length - 1) / this.scSize);
    const from = firstSc * this.scSize;
    const to = (lastSc + 1) * this.scSize;
    const touched = (lastSc - firstSc + 1 === 32 ? 0xffffffff : ((1 << (lastSc - firstSc + 1)) - 1) << firstSc) >>> 0;

    const inPlace = !e.compressed && e.offset !== 0 && e.copied;
    // Touched subclusters that hold data here already take the new bytes alone (a lock-free
    // write may be filling their other bytes right now); partly written ones without data get
    // their old content around the new bytes (copy-on-write). Only the edges can be partial.
    let buf = data;
    let at = inCluster;
    const start = inPlace && (e.alloc & (1 << firstSc)) !== 0 ? inCluster : from;
    const stop = inPlace && (e.alloc & (1 << lastSc)) !== 0 ? inCluster + data.length : to;
    if (start !== inCluster || stop !== inCluster + data.length) {
      buf = new Uint8Array(stop - start);
      await this.readLocked(base + start, buf);
      buf.set(data, inCluster - start);
      at = start;
    }

    const host = inPlace ? e.offset : await this.rc().allocate(1);
    let alloc = e.alloc;
    let zero = e.zero;
    if (!inPlace) {
      if (e.compressed) {
        // Bring the whole cluster over; compressed clusters have no subclusters.
        const whole = new Uint8Array(cs);
        await this.readLocked(base, whole);
        whole.set(buf, at);
        buf = whole;
        alloc = all;
        zero = 0;
        await this.dataWrite(host, buf);
      } else {
        await this.dataWrite(host + at, buf);
        // Subclusters holding data elsewhere in a shared cluster move along.
        const keep = (alloc & ~touched) >>> 0;
        for (let sc = 0; keep !== 0 && sc < this.layout.subclusters; sc++) {
          if (keep & (1 << sc)) {
            const piece = new Uint8Array(this.scSize);
            await this.file.read(e.offset + sc * this.scSize, piece);
            await this.dataWrite(host + sc * this.scSize, piece);
          }
        }
      }
      this.freeEntry(e);
    } else {
      await this.dataWrite(host + at, buf);
    }
    alloc = (alloc | touched) >>> 0;
    zero = (zero & ~touched) >>> 0;
    if (!this.layout.extended) {
      alloc = 1;
      zero = 0;
    }
    // The awaits above may have evicted `table` from the cache: modify the cached copy.
    const cached = await this.l2Table(l1i);
    encodeL2Entry(cached.dv, l2i, this.layout, { offset: host, copied: true, alloc, zero });
    cached.dirty = true;
  }

  /** True when guest range [offset, +length) of a cluster reads as zeroes without looking at data. */
  private async readsAsZero(offset: number, length: number): Promise<boolean> {
    const run = await this.runAt(offset, length);
    if (run.length < length) return false;
    if (run.kind === Kind.Zero) return true;
    if (run.kind !== Kind.Unallocated) return false;
    return !this.backing || offset >= this.backing.length();
  }

  private async zeroInCluster(offset: number, length: number, mayUnmap: boolean): Promise<void> {
    const cs = this.cs;
    const g = Math.floor(offset / cs);
    const base = g * cs;
    const inCluster = offset - base;
    const whole = inCluster === 0 && (length === cs || base + length === this.header.size);
    if (await this.readsAsZero(offset, length)) return;
    const v3 = this.header.version >= 3;
    if (!whole || (!v3 && this.header.backingFile !== null)) {
      if (this.layout.extended && v3) {
        const firstSc = Math.ceil(inCluster / this.scSize);
        const endSc = Math.floor((inCluster + length) / this.scSize);
        if (endSc > firstSc) {
          // Whole subclusters become zero ones; the edges get zero bytes.
          await this.zeroSubclusters(g, firstSc, endSc);
          if (firstSc * this.scSize > inCluster) await this.writeInCluster(offset, new Uint8Array(firstSc * this.scSize - inCluster));
          const tail = inCluster + length - endSc * this.scSize;
          if (tail > 0) await this.writeInCluster(base + endSc * this.scSize, new Uint8Array(tail));
          return;
        }
      }
      await this.writeInCluster(offset, new Uint8Array(length));
      return;
    }
    const l1i = Math.floor(g / this.l2Entries);
    const l2i = g - l1i * this.l2Entries;
    const table = await this.l2ForWrite(l1i);
    const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
    const all = this.layout.subclusters === 32 ? 0xffffffff : 1;
    if (!v3) {
      // Version 2 has no zero flag; without a backing file an unallocated cluster reads as zero.
      this.freeEntry(e);
      encodeL2Entry(table.dv, l2i, this.layout, { offset: 0, copied: false, alloc: 0, zero: 0 });
    } else if (!e.compressed && e.offset !== 0 && e.copied && !mayUnmap) {
      // Keep the preallocated host cluster, flagged as reading zeroes.
      encodeL2Entry(table.dv, l2i, this.layout, { offset: e.offset, copied: true, alloc: 0, zero: all });
    } else {
      this.freeEntry(e);
      encodeL2Entry(table.dv, l2i, this.layout, { offset: 0, copied: false, alloc: 0, zero: all });
    }
    table.dirty = true;
  }

  private async zeroSubclusters(g: number, firstSc: number, endSc: number): Promise<void> {
    const l1i = Math.floor(g / this.l2Entries);
    const l2i = g - l1i * this.l2Entries;
    const table = await this.l2ForWrite(l1i);
    const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
    if (e.compressed) {
      // Compressed clusters have no subclusters: write real zeroes instead.
      await this.writeInCluster(g * this.cs + firstSc * this.scSize, new Uint8Array((endSc - firstSc) * this.scSize));
      return;
    }
    const mask = (endSc - firstSc === 32 ? 0xffffffff : ((1 << (endSc - firstSc)) - 1) << firstSc) >>> 0;
    let offset = e.offset;
    let copied = e.copied;
    if (offset !== 0 && !copied && ((e.alloc & ~mask) >>> 0) !== 0) {
      // Shared cluster with other data subclusters: leave it to copy-on-write.
      await this.writeInCluster(g * this.cs + firstSc * this.scSize, new Uint8Array((endSc - firstSc) * this.scSize));
      return;
    }
    if (offset !== 0 && !copied) {
      this.freeEntry(e);
      offset = 0;
      copied = false;
    }
    encodeL2Entry(table.dv, l2i, this.layout, { offset, copied: offset !== 0 && copied, alloc: (e.alloc & ~mask) >>> 0, zero: (e.zero | mask) >>> 0 });
    table.dirty = true;
  }

  private async discardCluster(g: number): Promise<void> {
    const l1i = Math.floor(g / this.l2Entries);
    if (l1i >= this.l1.length || this.l1[l1i] === 0) return;
    const l2i = g - l1i * this.l2Entries;
    const cur = decodeL2Entry((await this.l2Table(l1i)).dv, l2i, this.layout, this.where(l1i, l2i));
    const hasBacking = this.header.backingFile !== null;
    const v3 = this.header.version >= 3;
    const all = this.layout.subclusters === 32 ? 0xffffffff : 1;
    // Discarded clusters become unallocated, or zero ones where a backing file would show through.
    const zero = v3 && hasBacking ? all : 0;
    if (!cur.compressed && cur.offset === 0 && cur.alloc === 0 && cur.zero === zero) return;
    const table = await this.l2ForWrite(l1i);
    const e = decodeL2Entry(table.dv, l2i, this.layout, this.where(l1i, l2i));
    this.freeEntry(e);
    encodeL2Entry(table.dv, l2i, this.layout, { offset: 0, copied: false, alloc: 0, zero });
    table.dirty = true;
  }

  private flushLocked(): Promise<void> {
    if (this.readOnly || !this.refcounts) return Promise.resolve();
    // Deferred frees are applied here: no lock-free request may still use a freed cluster.
    return this.quiesced(() => this.flushQuiesced(this.refcounts!));
  }

  private async flushQuiesced(rc: Refcounts): Promise<void> {
    // Lazy refcounts (dirty bit set): refcounts are written last, after the tables.
    if (!this.lazyDirty) await rc.writeBack();
    await this.file.flush(); // data (and refcounts)
    if (this.l2.hasDirty()) {
      await this.l2.writeBack();
      await this.file.flush();
    }
    if (this.l1Dirty.size > 0) {
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      for (const i of [...this.l1Dirty].sort((a, c) => a - c)) {
        setU64(dv, 0, this.l1[i]!);
        if (this.l1Copied[i]) dv.setUint32(0, dv.getUint32(0) | 0x80000000);
        await this.file.write(this.header.l1TableOffset + i * 8, b);
      }
      this.l1Dirty.clear();
      await this.file.flush();
    }
    if (rc.hasDeferredFrees()) {
      await rc.applyDeferredFrees();
      await rc.writeBack();
      await this.file.flush();
    } else if (rc.hasDirty()) {
      await rc.writeBack();
      await this.file.flush();
    }
  }

  /**
   * Lazy refcounts (compatible bit 0): "If this bit is set then lazy refcount updates can be used.
   * This means marking the image file dirty and postponing refcount metadata updates." The dirty
   * bit (incompatible bit 0) is made durable before any metadata write of this node.
   */
  private async markDirty(): Promise<void> {
    // Version 2 headers have no feature fields (and qemu refuses lazy refcounts there).
    if (this.lazyDirty || this.readOnly || !this.refcounts || !this.lazyRefcounts || this.header.version < 3) return;
    if (this.broken) return;
    // Everything up to now has exact refcounts on disk: write them before the bit goes up.
    await this.refcountsDurable();
    this.header.incompatible |= INCOMPAT_DIRTY;
    await this.writeIncompat();
    this.lazyDirty = true;
  }

  /** Clears the dirty bit this node set, once refcounts are exact and durable (after a flush). */
  private async markClean(): Promise<void> {
    if (!this.lazyDirty || this.broken) return;
    this.header.incompatible &= ~INCOMPAT_DIRTY;
    await this.writeIncompat();
    this.lazyDirty = false;
  }

  private async writeIncompat(): Promise<void> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, this.header.incompatible);
    await this.file.write(FIELD_INCOMPAT, b);
    await this.file.flush();
  }
}

