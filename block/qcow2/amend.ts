// Changing options of an existing qcow2 image (qemu-img amend): version up- and downgrade,
// lazy_refcounts, size, refcount width. Steps run in qemu's order (upgrade, refcount width, lazy
// refcounts, size, downgrade last) and each one leaves a consistent image.
//
// Downgrading to version 2 first turns zero clusters into something version 2 can express, in
// every L2 table (snapshots' included): without a backing file an unallocated cluster, with one
// a data cluster of zeroes; preallocated zero clusters become data clusters of zeroes. Zeroes and
// refcounts are durable before the tables change, the tables before the header.
import { BlockError } from '../errors.ts';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, INCOMPAT_DIRTY } from './features.ts';
import { FIELD_TABLES } from './header.ts';
import { changeRefcountOrder } from './refcount-order.ts';
import { rewriteHeader } from './header-rewrite.ts';
import { COPIED_HI, COMPRESSED_HI, ZERO_LO } from './l2-entry.ts';
import type { Qcow2Internals, Qcow2Node } from './qcow2.ts';
import { resizeQcow2 } from './resize.ts';
import { readSnapshots, serializeTable } from './snapshot.ts';
import { readSnapshotTable } from './snapshot-table.ts';
import { setU64 } from './uint64.ts';

export interface AmendOptions {
  version?: 2 | 3;
  lazyRefcounts?: boolean;
  refcountBits?: number;
  size?: number;
}

export async function amendQcow2(node: Qcow2Node, o: AmendOptions): Promise<void> {
  const oldVersion = node.header.version;
  const version = o.version ?? oldVersion;
  if (version > oldVersion) await node.exclusive((a) => upgrade(node, a));
  if (o.refcountBits !== undefined && o.refcountBits !== 2 ** node.header.refcountOrder) {
    if (version < 3 && o.refcountBits !== 16) {
      throw new BlockError('Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)');
    }
    await node.exclusive((a) => changeRefcountOrder(a, Math.log2(o.refcountBits!)));
  }
  if (o.lazyRefcounts !== undefined && o.lazyRefcounts !== node.lazyRefcounts) {
    if (o.lazyRefcounts && version < 3) {
      throw new BlockError('Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)');
    }
    // Refcounts are always exact here, so clearing the bit needs no repair first.
    const compatible = o.lazyRefcounts ? node.header.compatible | COMPAT_LAZY_REFCOUNTS : node.header.compatible & ~COMPAT_LAZY_REFCOUNTS;
    await node.exclusive((a) => rewriteHeader(a, { compatible }));
  }
  if (o.size !== undefined && o.size !== node.header.size) await resizeQcow2(node, o.size);
  if (version < oldVersion) await node.exclusive((a) => downgrade(node, a));
}

/**
 * Version 3 needs each snapshot's 64-bit VM state size and disk size in its extra data: a table
 * with shorter entries is written anew (beside the old one, switched by one header write).
 */
async function upgrade(node: Qcow2Node, a: Qcow2Internals): Promise<void> {
  const h = a.header;
  if (h.nbSnapshots > 0) {
    const list = await readSnapshots(node);
    if (list.some((sn) => sn.extraSize < 16)) {
      const old = await readSnapshotTable(a.file, h.snapshotsOffset, h.nbSnapshots);
      const oldOffset = h.snapshotsOffset;
      for (const sn of list) sn.diskSize ??= h.size;
      const table = serializeTable(list);
      const offset = await a.rc.allocate(Math.ceil(table.length / a.cs));
      await a.file.write(offset, table);
      await a.flush();
      const b = new Uint8Array(12);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, list.length);
      setU64(dv, 4, offset);
      await a.file.write(FIELD_TABLES + 24, b); // nb_snapshots, snapshots_offset
      await a.file.flush();
      h.snapshotsOffset = offset;
      for (let k = 0; k < Math.ceil(old.bytes / a.cs); k++) await a.rc.adjust(oldOffset / a.cs + k, -1);
      await a.flush();
    }
  }
  await rewriteHeader(a, { version: 3, incompatible: 0n, compatible: 0n, autoclear: 0n });
}

async function downgrade(node: Qcow2Node, a: Qcow2Internals): Promise<void> {
  const h = a.header;
  if (h.refcountOrder !== 4) throw new BlockError('compat=0.10 requires refcount_bits=16', 'ENOTSUP');
  for (const sn of await readSnapshots(node)) {
    if (sn.vmStateSize > 0xffffffff || (sn.diskSize ?? h.size) !== h.size) {
      throw new BlockError('Internal snapshots prevent downgrade of image', 'ENOTSUP');
    }
  }
  // Version 2 has no compression type field: zstd is dropped, fine while nothing is compressed.
  const rest = h.incompatible & ~INCOMPAT_DIRTY & ~INCOMPAT_COMPRESSION;
  if (rest !== 0n) throw new BlockError(`Cannot downgrade an image with incompatible features 0x${rest.toString(16)} set`, 'ENOTSUP');
  if ((h.incompatible & INCOMPAT_COMPRESSION) !== 0n && (await hasCompressedClusters(a))) {
    throw new BlockError('Cannot downgrade an image with zstd compression type and existing compressed clusters', 'ENOTSUP');
  }
  await expandZeroClusters(a);
  await rewriteHeader(a, { version: 2, incompatible: 0n, compatible: 0n, autoclear: 0n });
}

/** Every L2 table of the active and the snapshot L1 tables, each once. */
async function allL2Tables(a: Qcow2Internals): Promise<number[]> {
  const seen = new Set<number>();
  for (const off of a.l1) if (off !== 0) seen.add(off);
  const h = a.header;
  if (h.nbSnapshots > 0) {
    const table = await readSnapshotTable(a.file, h.snapshotsOffset, h.nbSnapshots);
    for (const sn of table.entries) {
      if (sn.l1Size === 0) continue;
      if (sn.l1TableOffset % a.cs !== 0 || sn.l1TableOffset + sn.l1Size * 8 > a.file.length()) {
        throw new BlockError(`Snapshot '${sn.name}' has an invalid L1 table`, 'EIO');
      }
      const raw = new Uint8Array(sn.l1Size * 8);
      await a.file.read(sn.l1TableOffset, raw);
      const dv = new DataView(raw.buffer);
      for (let i = 0; i < sn.l1Size; i++) {
        const off = (dv.getUint32(i * 8) & 0x00ffffff) * 0x100000000 + ((dv.getUint32(i * 8 + 4) & ~0x1ff) >>> 0);
        if (off !== 0) seen.add(off);
      }
    }
  }
  return [...seen].sort((x, y) => x - y);
}

async function hasCompressedClusters(a: Qcow2Internals): Promise<boolean> {
  const buf = new Uint8Array(a.cs);
  const dv = new DataView(buf.buffer);
  for (const l2 of await allL2Tables(a)) {
    await a.file.read(l2, buf);
    for (let i = 0; i < a.l2Entries; i++) if (dv.getUint32(i * (a.layout.extended ? 16 : 8)) & COMPRESSED_HI) return true;
  }
  return false;
}

async function expandZeroClusters(a: Qcow2Internals): Promise<void> {
  const cs = a.cs;
  const hasBacking = a.header.backingFile !== null;
  const rc = a.rc;
  const changed: { offset: number; buf: Uint8Array }[] = [];
  const zeroes = new Uint8Array(cs);
  for (const l2 of await allL2Tables(a)) {
    if (l2 % cs !== 0 || l2 + cs > a.file.length()) throw new BlockError(`L2 table at 0x${l2.toString(16)} is invalid`, 'EIO');
    const buf = new Uint8Array(cs);
    await a.file.read(l2, buf);
    const dv = new DataView(buf.buffer);
    // An L2 table shared by n L1 tables holds n references to each cluster it names.
    const paths = await rc.get(l2 / cs);
    let dirty = false;
    for (let i = 0; i < a.l2Entries; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      if (hi & COMPRESSED_HI || (lo & ZERO_LO) === 0) continue;
      const host = (hi & 0x00ffffff) * 0x100000000 + ((lo & ~0x1ff) >>> 0);
      let entryHi = hi;
      let entryLo = (lo & ~ZERO_LO) >>> 0;
      if (host !== 0) {
        // A preallocated zero cluster becomes a data cluster of zeroes: no reference changes.
        await a.file.write(host, zeroes);
      } else if (hasBacking) {
        const fresh = await rc.allocate(1);
        if (paths > 1) await rc.adjust(fresh / cs, paths - 1);
        await a.file.write(fresh, zeroes);
        entryHi = Math.floor(fresh / 0x100000000) | (paths <= 1 ? COPIED_HI : 0);
        entryLo = fresh >>> 0;
      } else {
        entryHi = 0;
        entryLo = 0;
      }
      dv.setUint32(i * 8, entryHi >>> 0);
      dv.setUint32(i * 8 + 4, entryLo >>> 0);
      dirty = true;
    }
    if (dirty) changed.push({ offset: l2, buf });
  }
  if (changed.length === 0) return;
  await a.flush(); // zeroed clusters and raised refcounts first
  for (const t of changed) await a.file.write(t.offset, t.buf);
  await a.file.flush();
  // The node's cached tables are stale now.
  await a.reload();
}
