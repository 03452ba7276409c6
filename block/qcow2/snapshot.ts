// Internal snapshots (spec "Snapshots"): the snapshot table with every field, and create, apply
// (revert), delete.
//
// Crash safety. A snapshot operation changes refcounts and the OFLAG_COPIED bits of the active
// tables together (bit 63 must say "refcount is exactly one", and `qemu-img check` calls any
// mismatch corruption), so no order of in-place writes is safe. Every operation therefore builds
// its result beside the live structures and switches to it with one header write:
//   1. clusters for the new pieces are allocated from the live refcounts (raising a refcount
//      early only leaks);
//   2. the new active L1 table, copies of L2 tables whose bit 63 must change, the new snapshot
//      table, copies of every refcount block whose counts change and a new refcount table are
//      written and flushed;
//   3. one write of header bytes 36-71 (l1_size, l1_table_offset, refcount_table_offset,
//      refcount_table_clusters, nb_snapshots, snapshots_offset) switches to them; flush;
//   4. the replaced structures (old refcount blocks and table, old snapshot table) are freed.
// A crash before 3 leaves the old image plus leaked clusters, after 3 the new one plus leaks.
//
// References are counted per path as qemu counts them: a data cluster is referenced once for
// every L1 table (active or snapshot) that reaches it through an L2 table.
import { BlockError } from '../errors.ts';
import { FIELD_TABLES, MAX_L1_BYTES } from './header.ts';
import { decodeL2Entry } from './l2-entry.ts';
import type { Qcow2Internals, Qcow2Node } from './qcow2.ts';
import { getRefcountEntry, setRefcountEntry } from './refcount.ts';
import { MAX_SNAPSHOT_EXTRA, MAX_SNAPSHOT_TABLE } from './snapshot-table.ts';
import { getU64, setU64 } from './uint64.ts';

/** Fixed part of a table entry (bytes 0-39). */
const ENTRY_FIXED = 40;
/** The extra data tsemu writes: 64-bit VM state size, disk size, icount. */
const EXTRA_KNOWN = 24;
export const MAX_SNAPSHOTS = 65536;
const MAX_ID_OR_NAME = 65535;

export interface Snapshot {
  id: string;
  name: string;
  l1TableOffset: number;
  l1Size: number;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: bigint;
  vmStateSize: number;
  /** Virtual disk size when the snapshot was taken (null: not recorded, old version 2 entries). */
  diskSize: number | null;
  /** Record/replay instruction count; -1n when icount was off or not recorded. */
  icount: bigint;
  /** Extra data bytes past the known fields, kept as they are. */
  extraRest: Uint8Array;
  /** The extra data size the entry had (known fields included). */
  extraSize: number;
}

const utf8d = new TextDecoder('utf-8');
const utf8e = new TextEncoder();

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Reads and validates the snapshot table named by the header. */
export async function readSnapshots(node: Qcow2Node): Promise<Snapshot[]> {
  const h = node.header;
  if (h.nbSnapshots === 0) return [];
  return parseTable(node.file.length(), h.snapshotsOffset, h.nbSnapshots, (off, buf) => node.file.read(off, buf));
}

async function parseTable(fileSize: number, offset: number, count: number, read: (off: number, buf: Uint8Array) => Promise<void>): Promise<Snapshot[]> {
  if (count > MAX_SNAPSHOTS) throw new BlockError('Too many snapshots', 'EIO');
  const out: Snapshot[] = [];
  let pos = offset;
  for (let n = 0; n < count; n++) {
    if (pos + ENTRY_FIXED > fileSize) throw new BlockError(`Snapshot table entry ${n} lies past the end of the file`, 'EIO');
    const fixed = new Uint8Array(ENTRY_FIXED);
    await read(pos, fixed);
    const dv = new DataView(fixed.buffer);
    const idSize = dv.getUint16(12);
    const nameSize = dv.getUint16(14);
    const extraSize = dv.getUint32(36);
    if (extraSize > MAX_SNAPSHOT_EXTRA) throw new BlockError(`Snapshot table entry ${n} has too much extra data (${extraSize} bytes)`, 'EIO');
    const size = align8(ENTRY_FIXED + extraSize + idSize + nameSize);
    if (pos - offset + size > MAX_SNAPSHOT_TABLE) throw new BlockError('Snapshot table too large', 'EIO');
    if (pos + ENTRY_FIXED + extraSize + idSize + nameSize > fileSize) throw new BlockError(`Snapshot table entry ${n} lies past the end of the file`, 'EIO');
    const rest = new Uint8Array(extraSize + idSize + nameSize);
    await read(pos + ENTRY_FIXED, rest);
    const edv = new DataView(rest.buffer);
    const l1Size = dv.getUint32(8);
    if (l1Size * 8 > MAX_L1_BYTES) throw new BlockError(`Snapshot L1 table of entry ${n} is too large`, 'EIO');
    const sn: Snapshot = {
      l1TableOffset: getU64(dv, 0, `snapshot ${n} L1 table offset`),
      l1Size,
      id: utf8d.decode(rest.subarray(extraSize, extraSize + idSize)),
      name: utf8d.decode(rest.subarray(extraSize + idSize)),
      dateSec: dv.getUint32(16),
      dateNsec: dv.getUint32(20),
      vmClockNsec: dv.getBigUint64(24),
      // "If this field is present, the 32-bit value in bytes 32-35 is ignored."
      vmStateSize: extraSize >= 8 ? getU64(edv, 0, `snapshot ${n} VM state size`) : dv.getUint32(32),
      diskSize: extraSize >= 16 ? getU64(edv, 8, `snapshot ${n} disk size`) : null,
      icount: extraSize >= 24 ? edv.getBigInt64(16) : -1n,
      extraRest: rest.slice(Math.min(extraSize, EXTRA_KNOWN), extraSize),
      extraSize,
    };
    out.push(sn);
    pos += size;
  }
  return out;
}

/** The table as bytes (entries padded to 8 bytes). */
export function serializeTable(list: readonly Snapshot[]): Uint8Array {
  const parts = list.map((sn) => {
    const id = utf8e.encode(sn.id);
    const name = utf8e.encode(sn.name);
    if (id.length > MAX_ID_OR_NAME || name.length > MAX_ID_OR_NAME) throw new BlockError('Snapshot name too long');
    // Known fields are always written in full (version 3 needs at least up to the disk size).
    const extraSize = EXTRA_KNOWN + sn.extraRest.length;
    const buf = new Uint8Array(align8(ENTRY_FIXED + extraSize + id.length + name.length));
    const dv = new DataView(buf.buffer);
    setU64(dv, 0, sn.l1TableOffset);
    dv.setUint32(8, sn.l1Size);
    dv.setUint16(12, id.length);
    dv.setUint16(14, name.length);
    dv.setUint32(16, sn.dateSec);
    dv.setUint32(20, sn.dateNsec);
    dv.setBigUint64(24, sn.vmClockNsec);
    dv.setUint32(32, sn.vmStateSize >>> 0); // the low half; readers use the 64-bit field
    dv.setUint32(36, extraSize);
    setU64(dv, 40, sn.vmStateSize);
    setU64(dv, 48, sn.diskSize ?? 0);
    dv.setBigInt64(56, sn.icount);
    buf.set(sn.extraRest, ENTRY_FIXED + EXTRA_KNOWN);
    buf.set(id, ENTRY_FIXED + extraSize);
    buf.set(name, ENTRY_FIXED + extraSize + id.length);
    return buf;
  });
  const total = parts.reduce((a, p) => a + p.length, 0);
  if (total > MAX_SNAPSHOT_TABLE) throw new BlockError('Snapshot table too large', 'EFBIG');
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** qemu's lookup for apply: an ID match first, then a name match. */
export function findByIdOrName(list: readonly Snapshot[], s: string): number {
  const byId = list.findIndex((sn) => sn.id === s);
  return byId >= 0 ? byId : list.findIndex((sn) => sn.name === s);
}

export interface CreateSnapshotOptions {
  name: string;
  /** Default: one more than the largest numeric ID. */
  id?: string;
  /** Default: now. */
  dateSec?: number;
  dateNsec?: number;
  vmClockNsec?: bigint;
  /** Bytes of VM state already written with writeVmState (default 0). */
  vmStateSize?: number;
  /** Default -1n (icount off), as savevm writes it; qemu-img snapshot -c writes 0. */
  icount?: bigint;
}

/** The next free numeric ID, as qemu picks it (largest leading number + 1). */
export function nextSnapshotId(list: readonly Snapshot[]): string {
  let max = 0;
  for (const sn of list) {
    const m = /^\d+/.exec(sn.id);
    const v = m ? Number(m[0]) : 0;
    if (v > max) max = v;
  }
  return String(max + 1);
}

// ---- reference counting over L1 tables ----

type Deltas = Map<number, number>;

function addDelta(d: Deltas, idx: number, v: number): void {
  const n = (d.get(idx) ?? 0) + v;
  if (n === 0) d.delete(idx);
  else d.set(idx, n);
}

async function readL1(a: Qcow2Internals, offset: number, size: number): Promise<number[]> {
  if (size === 0) return [];
  if (offset % a.cs !== 0 || offset === 0 || offset + size * 8 > a.file.length()) {
    throw new BlockError(`L1 table at 0x${offset.toString(16)} is invalid`, 'EIO');
  }
  const raw = new Uint8Array(size * 8);
  await a.file.read(offset, raw);
  const dv = new DataView(raw.buffer);
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    const hi = dv.getUint32(i * 8) & 0x00ffffff;
    out.push(hi * 0x100000000 + ((dv.getUint32(i * 8 + 4) & ~0x1ff) >>> 0));
  }
  return out;
}

async function readL2(a: Qcow2Internals, offset: number): Promise<Uint8Array> {
  if (offset % a.cs !== 0 || offset + a.cs > a.file.length()) {
    throw new BlockError(`L2 table at 0x${offset.toString(16)} is invalid`, 'EIO');
  }
  const buf = new Uint8Array(a.cs);
  await a.file.read(offset, buf);
  return buf;
}

/** Adds `sign` for every reference one L1 table makes: its L2 tables and their clusters. */
async function countL1(a: Qcow2Internals, entries: readonly number[], sign: number, d: Deltas): Promise<void> {
  for (const l2 of entries) {
    if (l2 === 0) continue;
    addDelta(d, l2 / a.cs, sign);
    const t = await readL2(a, l2);
    countL2(a, t, sign, d);
  }
}

function countL2(a: Qcow2Internals, t: Uint8Array, sign: number, d: Deltas): void {
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  for (let i = 0; i < a.l2Entries; i++) {
    const e = decodeL2Entry(dv, i, a.layout, `L2 index ${i}`);
    if (e.compressed) {
      const first = Math.floor(e.offset / a.cs);
      const last = Math.floor((e.offset + e.compressedBytes - 1) / a.cs);
      for (let c = first; c <= last; c++) addDelta(d, c, sign);
    } else if (e.offset !== 0) {
      addDelta(d, e.offset / a.cs, sign);
    }
  }
}

// ---- the switch ----

interface Plan {
  /** New active L1 entries (offsets), before their OFLAG_COPIED bits are worked out. */
  activeL1: number[];
  snapshots: Snapshot[];
  /** Reference changes other than those of the new active L1 itself. */
  deltas: Deltas;
}

/**
 * Writes the new active L1 table (with L2 copies where bit 63 must change), the snapshot table,
 * shadow refcount blocks and table, then switches the header (see the top of the file).
 */
async function commit(a: Qcow2Internals, plan: Plan): Promise<void> {
  const cs = a.cs;
  const rc = a.rc;
  const d = plan.deltas;
  const flag = a.layout.extended ? 16 : 8;
  const live = async (idx: number): Promise<number> => rc.get(idx);
  const after = async (idx: number): Promise<number> => (await live(idx)) + (d.get(idx) ?? 0);

  // The new active L1: every L2 table whose entries' bit 63 would be wrong is copied.
  const l1 = plan.activeL1;
  const l1Copied: boolean[] = new Array(l1.length).fill(false);
  const writes: { offset: number; data: Uint8Array }[] = [];
  for (let i = 0; i < l1.length; i++) {
    const off = l1[i]!;
    if (off === 0) continue;
    const t = await readL2(a, off);
    const dv = new DataView(t.buffer);
    let changed = false;
    for (let k = 0; k < a.l2Entries; k++) {
      const e = decodeL2Entry(dv, k, a.layout, `L1 index ${i}, L2 index ${k}`);
      const want = !e.compressed && e.offset !== 0 && (await after(e.offset / cs)) === 1;
      if (want !== e.copied) {
        const hi = dv.getUint32(k * flag);
        dv.setUint32(k * flag, want ? (hi | 0x80000000) >>> 0 : hi & 0x7fffffff);
        changed = true;
      }
    }
    if (changed) {
      const copy = await rc.allocate(1);
      writes.push({ offset: copy, data: t });
      addDelta(d, off / cs, -1); // the active table no longer names the original
      l1[i] = copy;
      l1Copied[i] = true;
    } else {
      l1Copied[i] = (await after(off / cs)) === 1;
    }
  }
  const l1Clusters = Math.ceil((l1.length * 8) / cs);
  const l1Offset = l1.length > 0 ? await rc.allocate(l1Clusters) : 0;
  const l1Raw = new Uint8Array(l1Clusters * cs);
  const l1dv = new DataView(l1Raw.buffer);
  l1.forEach((v, i) => {
    setU64(l1dv, i * 8, v);
    if (l1Copied[i]) l1dv.setUint32(i * 8, (l1dv.getUint32(i * 8) | 0x80000000) >>> 0);
  });
  if (l1Offset) writes.push({ offset: l1Offset, data: l1Raw });

  const table = serializeTable(plan.snapshots);
  const tableOffset = table.length > 0 ? await rc.allocate(Math.ceil(table.length / cs)) : 0;
  if (tableOffset) writes.push({ offset: tableOffset, data: table });

  // Shadow refcount blocks for every block whose counts change, and a new refcount table.
  const touched = [...new Set([...d.keys()].map((idx) => Math.floor(idx / rc.perBlock)))].sort((x, y) => x - y);
  const shadow = new Map<number, number>();
  for (const t of touched) {
    if (t >= rc.blockOffsets.length || rc.blockOffsets[t] === 0) throw new BlockError(`refcount block ${t} is missing`, 'EIO');
    shadow.set(t, await rc.allocate(1));
  }
  let rtClusters = 0;
  let rtOffset = 0;
  for (;;) {
    rtClusters = rc.tableInfo.clusters;
    rtOffset = await rc.allocate(rtClusters);
    if (rc.tableInfo.clusters === rtClusters) break;
    for (let k = 0; k < rtClusters; k++) await rc.adjust(rtOffset / cs + k, -1);
  }
  // Counts are read only now, after every allocation above went into the live blocks.
  for (const t of touched) {
    const buf = await rc.blockContent(t);
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < rc.perBlock; i++) {
      const delta = d.get(t * rc.perBlock + i);
      if (!delta) continue;
      const v = getRefcountEntry(buf, dv, i, rc.bits) + delta;
      if (v < 0) throw new BlockError(`refcount of cluster ${t * rc.perBlock + i} would drop below zero (image corrupt?)`, 'EIO');
      if (v > rc.maxRefcount) throw new BlockError(`refcount of cluster ${t * rc.perBlock + i} would overflow`, 'EINVAL');
      setRefcountEntry(buf, dv, i, rc.bits, v);
    }
    writes.push({ offset: shadow.get(t)!, data: buf });
  }
  const oldBlocks = touched.map((t) => rc.blockOffsets[t]!);
  const rt = new Uint8Array(rtClusters * cs);
  const rtdv = new DataView(rt.buffer);
  rc.blockOffsets.forEach((v, t) => setU64(rtdv, t * 8, shadow.get(t) ?? v));
  writes.push({ offset: rtOffset, data: rt });

  await rc.writeBack();
  for (const w of writes) await a.file.write(w.offset, w.data);
  await a.file.flush();

  const h = a.header;
  const old = { rt: rc.tableInfo, snap: h.snapshotsOffset, snapBytes: h.nbSnapshots > 0 ? await tableBytes(a) : 0 };
  const hdr = new Uint8Array(36);
  const hdv = new DataView(hdr.buffer);
  hdv.setUint32(0, l1.length);
  setU64(hdv, 4, l1Offset);
  setU64(hdv, 12, rtOffset);
  hdv.setUint32(20, rtClusters);
  hdv.setUint32(24, plan.snapshots.length);
  setU64(hdv, 28, tableOffset);
  await a.file.write(FIELD_TABLES, hdr);
  await a.file.flush();

  h.l1Size = l1.length;
  h.l1TableOffset = l1Offset;
  h.refcountTableOffset = rtOffset;
  h.refcountTableClusters = rtClusters;
  h.nbSnapshots = plan.snapshots.length;
  h.snapshotsOffset = tableOffset;
  await a.reload();

  // The replaced structures are unreferenced now: free them (a crash here only leaks).
  const nrc = a.rc;
  const free = async (offset: number, clusters: number): Promise<void> => {
    for (let k = 0; k < clusters; k++) await nrc.adjust(offset / cs + k, -1);
  };
  for (const b of oldBlocks) await free(b, 1);
  await free(old.rt.offset, old.rt.clusters);
  if (old.snapBytes > 0) await free(old.snap, Math.ceil(old.snapBytes / cs));
  await nrc.writeBack();
  await a.file.flush();
}

async function tableBytes(a: Qcow2Internals): Promise<number> {
  const list = await parseTable(a.file.length(), a.header.snapshotsOffset, a.header.nbSnapshots, (o, b) => a.file.read(o, b));
  return list.reduce((n, sn) => n + align8(ENTRY_FIXED + sn.extraSize + utf8e.encode(sn.id).length + utf8e.encode(sn.name).length), 0);
}

async function snapshotsOf(a: Qcow2Internals): Promise<Snapshot[]> {
  const h = a.header;
  if (h.nbSnapshots === 0) return [];
  return parseTable(a.file.length(), h.snapshotsOffset, h.nbSnapshots, (o, b) => a.file.read(o, b));
}

function activeL1Clusters(a: Qcow2Internals): number {
  return a.header.l1Size > 0 ? Math.ceil((a.header.l1Size * 8) / a.cs) : 0;
}

/**
 * Creates a snapshot of the active state: the current L1 table becomes the snapshot's, the
 * active one a copy. With a VM state size, the VM state written with writeVmState goes into the
 * snapshot and is then discarded from the active image, as qemu does.
 */
export async function createSnapshot(node: Qcow2Node, opts: CreateSnapshotOptions): Promise<Snapshot> {
  return node.exclusive(async (a) => {
    const list = await snapshotsOf(a);
    if (list.length >= MAX_SNAPSHOTS) throw new BlockError('Too many snapshots', 'EFBIG');
    const id = opts.id ?? nextSnapshotId(list);
    if (list.some((sn) => sn.id === id)) throw new BlockError(`Snapshot ID '${id}' already exists`, 'EINVAL');
    const now = Date.now();
    const vmStateSize = opts.vmStateSize ?? 0;
    if (!Number.isSafeInteger(vmStateSize) || vmStateSize < 0) throw new BlockError('invalid VM state size');
    const h = a.header;
    const current = [...a.l1];
    const sn: Snapshot = {
      id,
      name: opts.name,
      l1TableOffset: h.l1TableOffset,
      l1Size: h.l1Size,
      dateSec: opts.dateSec ?? Math.floor(now / 1000),
      dateNsec: opts.dateNsec ?? (now % 1000) * 1_000_000,
      vmClockNsec: opts.vmClockNsec ?? 0n,
      vmStateSize,
      diskSize: h.size,
      icount: opts.icount ?? -1n,
      extraRest: new Uint8Array(0),
      extraSize: EXTRA_KNOWN,
    };
    serializeTable([sn]); // name limits, before anything is written
    const deltas: Deltas = new Map();
    // The snapshot keeps the current table: one more path to everything it reaches.
    await countL1(a, current, +1, deltas);
    if (h.l1Size === 0) {
      // Nothing to share: the snapshot gets an empty table of its own (offset 0, size 0).
      sn.l1TableOffset = 0;
    }
    await commit(a, { activeL1: current, snapshots: [...list, sn], deltas });
    if (vmStateSize > 0) {
      const span = a.cs * a.l2Entries;
      const first = Math.ceil(h.size / span) * a.l2Entries;
      await a.discardClusters(first, first + Math.ceil(vmStateSize / a.cs));
      await a.flush();
    }
    return sn;
  });
}

/** Reverts the active state to snapshot `idOrName` (ID first, then name). */
export async function applySnapshot(node: Qcow2Node, idOrName: string): Promise<void> {
  return node.exclusive(async (a) => {
    const list = await snapshotsOf(a);
    const i = findByIdOrName(list, idOrName);
    if (i < 0) throw new BlockError('Failed to load snapshot: No such file or directory', 'ENOENT');
    const sn = list[i]!;
    if (sn.diskSize !== null && sn.diskSize !== a.header.size) {
      throw new BlockError('Failed to load snapshot: qcow2: Loading snapshots with different disk size is not supported', 'ENOTSUP');
    }
    const target = await readL1(a, sn.l1TableOffset, sn.l1Size);
    const current = [...a.l1];
    const deltas: Deltas = new Map();
    await countL1(a, target, +1, deltas);
    await countL1(a, current, -1, deltas);
    const oldL1 = activeL1Clusters(a);
    for (let k = 0; k < oldL1; k++) addDelta(deltas, a.header.l1TableOffset / a.cs + k, -1);
    const size = Math.max(target.length, current.length);
    while (target.length < size) target.push(0);
    await commit(a, { activeL1: target, snapshots: list, deltas });
  });
}

/** Deletes the snapshot with ID `id` and/or name `name` (both must match when both are given). */
export async function deleteSnapshot(node: Qcow2Node, id: string | null, name: string | null): Promise<void> {
  return node.exclusive(async (a) => {
    const list = await snapshotsOf(a);
    const i = list.findIndex((sn) => (id === null || sn.id === id) && (name === null || sn.name === name));
    if (i < 0) throw new BlockError('snapshot not found', 'ENOENT');
    const sn = list[i]!;
    const deltas: Deltas = new Map();
    const entries = await readL1(a, sn.l1TableOffset, sn.l1Size);
    await countL1(a, entries, -1, deltas);
    const snClusters = sn.l1Size > 0 ? Math.ceil((sn.l1Size * 8) / a.cs) : 0;
    for (let k = 0; k < snClusters; k++) addDelta(deltas, sn.l1TableOffset / a.cs + k, -1);
    // The active table is rewritten too (bit 63 may change): its old copy is freed.
    const oldL1 = activeL1Clusters(a);
    for (let k = 0; k < oldL1; k++) addDelta(deltas, a.header.l1TableOffset / a.cs + k, -1);
    await commit(a, { activeL1: [...a.l1], snapshots: list.filter((_, k) => k !== i), deltas });
  });
}

// ---- listing, as qemu prints it ----

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local date and time "YYYY-MM-DD HH:MM:SS". */
export function snapshotDate(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function vmClock(nsec: bigint): string {
  const secs = nsec / 1_000_000_000n;
  const ms = (nsec / 1_000_000n) % 1000n;
  return `${two(Number(secs / 3600n))}:${two(Number((secs / 60n) % 60n))}:${two(Number(secs % 60n))}.${String(ms).padStart(3, '0')}`;
}
