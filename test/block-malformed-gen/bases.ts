// Small valid qcow2 images built once with tsemu's own code (create, plain/compressed/zero
// writes, internal snapshots), kept in memory, and a map of where their metadata lies so that
// mutations can aim at it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkQcow2 } from '../../block/qcow2/check.ts';
import { COMPRESSION_ZSTD } from '../../block/qcow2/compression.ts';
import { createQcow2, QCOW2_DEFAULTS, type Qcow2CreateOptions } from '../../block/qcow2/create.ts';
import { parseHeader, type Qcow2Header } from '../../block/qcow2/header.ts';
import { Qcow2Node } from '../../block/qcow2/qcow2.ts';
import { getRefcountEntry } from '../../block/qcow2/refcount.ts';
import { readSnapshotTable } from '../../block/qcow2/snapshot-table.ts';
import { createSnapshot } from '../../block/qcow2/snapshot.ts';
import { MemNode, type Guard } from './mem-node.ts';
import { Rng } from './prng.ts';

/** Where an L2 entry lives and what it held in the base image. */
export interface L2Slot {
  /** File offset of the entry. */
  pos: number;
  kind: 'unallocated' | 'data' | 'zero' | 'compressed';
  /** The entry belongs to a table the active L1 reaches. */
  active: boolean;
}

export interface Layout {
  name: string;
  bytes: Uint8Array;
  header: Qcow2Header;
  cs: number;
  extended: boolean;
  entrySize: number;
  refcountBits: number;
  /** File offsets of L1 tables (active first) and their entry counts. */
  l1Tables: { offset: number; size: number; active: boolean }[];
  /** Offsets of every L2 table (each once). */
  l2Tables: number[];
  l2Slots: L2Slot[];
  /** Offsets of data clusters and compressed-data byte offsets. */
  dataClusters: number[];
  refcountBlocks: number[];
  /** Clusters holding metadata (header, tables): what overlaps aim at. */
  metadata: number[];
  snapshotTable: { offset: number; bytes: number } | null;
  /** Refcount of each host cluster of the file, from the base's refcount blocks. */
  refcounts: number[];
}

export const ROOMY_GUARD: Guard = {
  deadline: Number.MAX_SAFE_INTEGER,
  maxOps: Number.MAX_SAFE_INTEGER,
  maxBytesRead: Number.MAX_SAFE_INTEGER,
  maxRequest: Number.MAX_SAFE_INTEGER,
  maxSize: 64 << 20,
};

interface Recipe {
  name: string;
  opts: Partial<Qcow2CreateOptions> & { size: number };
  build: (node: Qcow2Node, rng: Rng) => Promise<void>;
}

function pattern(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  const v = rng.range(1, 255);
  for (let i = 0; i < n; i++) b[i] = (v + (i >> 9)) & 0xff;
  return b;
}

async function writes(node: Qcow2Node, rng: Rng, count: number, maxLen: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const len = rng.range(1, maxLen);
    const off = rng.int(node.length() - len);
    await node.write(off, pattern(rng, len));
  }
}

async function compressed(node: Qcow2Node, rng: Rng, count: number): Promise<void> {
  const cs = node.cs;
  const clusters = Math.floor(node.length() / cs);
  for (let i = 0; i < count; i++) {
    const c = rng.int(clusters);
    await node.writeCompressed(c * cs, pattern(rng, cs));
  }
}

async function zeroes(node: Qcow2Node, rng: Rng, count: number): Promise<void> {
  const cs = node.cs;
  for (let i = 0; i < count; i++) {
    const c = rng.int(Math.floor(node.length() / cs));
    await node.writeZeroes(c * cs, cs, rng.chance(0.5));
  }
}

const RECIPES: Recipe[] = [
  {
    // 512-byte clusters: many small L2 tables and several refcount blocks; a backing file name.
    name: 'v3-512-backing',
    opts: { size: 160 << 10, clusterSize: 512, backingFile: 'backing.raw', backingFormat: 'raw' },
    build: async (node, rng) => {
      await writes(node, rng, 40, 3000);
      await compressed(node, rng, 12);
      await zeroes(node, rng, 8);
      await createSnapshot(node, { name: 'one', dateSec: 1, dateNsec: 0 });
      await writes(node, rng, 10, 2000);
    },
  },
  {
    name: 'v2-4k-snap',
    opts: { size: 512 << 10, version: 2, clusterSize: 4096 },
    build: async (node, rng) => {
      await writes(node, rng, 20, 20000);
      await compressed(node, rng, 10);
      await createSnapshot(node, { name: 'first', dateSec: 2, dateNsec: 0 });
      await writes(node, rng, 8, 9000);
      await zeroes(node, rng, 4);
    },
  },
  {
    name: 'v3-16k-extl2',
    opts: { size: 1 << 20, clusterSize: 16384, extendedL2: true, refcountBits: 8 },
    build: async (node, rng) => {
      await writes(node, rng, 30, 3000);
      await compressed(node, rng, 6);
      await zeroes(node, rng, 3);
      await node.writeZeroes(5 * 16384 + 2048, 4096);
      await createSnapshot(node, { name: 'x', dateSec: 3, dateNsec: 0 });
      await writes(node, rng, 6, 1500);
    },
  },
  {
    name: 'v3-64k-rc64-lazy',
    opts: { size: 1 << 20, refcountBits: 64, lazyRefcounts: true },
    build: async (node, rng) => {
      await writes(node, rng, 3, 60000);
      await compressed(node, rng, 3);
      await createSnapshot(node, { name: 'a', dateSec: 4, dateNsec: 0 });
      await writes(node, rng, 2, 40000);
      await createSnapshot(node, { name: 'b', dateSec: 5, dateNsec: 0 });
    },
  },
  {
    name: 'v3-4k-rc1',
    opts: { size: 384 << 10, clusterSize: 4096, refcountBits: 1 },
    build: async (node, rng) => {
      await writes(node, rng, 25, 12000);
      await compressed(node, rng, 12);
      await zeroes(node, rng, 5);
    },
  },
  {
    // zstd compressed clusters (header compression_type 1, incompatible bit 3).
    name: 'v3-8k-zstd',
    opts: { size: 512 << 10, clusterSize: 8192, compressionType: COMPRESSION_ZSTD },
    build: async (node, rng) => {
      await writes(node, rng, 10, 20000);
      await compressed(node, rng, 24);
      await zeroes(node, rng, 3);
      await createSnapshot(node, { name: 'z', dateSec: 6, dateNsec: 0 });
      await compressed(node, rng, 6);
    },
  },
];

export async function buildBases(seed: number): Promise<Layout[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-mgen-'));
  try {
    const out: Layout[] = [];
    for (const r of RECIPES) {
      const path = join(dir, `${r.name}.qcow2`);
      await createQcow2(path, { ...QCOW2_DEFAULTS, ...r.opts });
      const mem = new MemNode(path, new Uint8Array(readFileSync(path)), false, ROOMY_GUARD);
      const node = await Qcow2Node.open(mem, { readOnly: false });
      await r.build(node, new Rng(seed ^ out.length));
      await node.close();
      const bytes = mem.bytes().slice();
      out.push(await layoutOf(r.name, bytes));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function u64At(dv: DataView, pos: number): number {
  return (dv.getUint32(pos) & 0x00ffffff) * 0x100000000 + ((dv.getUint32(pos + 4) & ~0x1ff) >>> 0);
}

/** Maps the metadata of a clean image and checks that it is clean. */
async function layoutOf(name: string, bytes: Uint8Array): Promise<Layout> {
  const h = parseHeader(bytes.subarray(0, Math.min(bytes.length, 2 ** 21)), bytes.length);
  const cs = 2 ** h.clusterBits;
  const extended = (h.incompatible & 16n) !== 0n;
  const entrySize = extended ? 16 : 8;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mem = new MemNode(name, bytes.slice(), true, ROOMY_GUARD);
  const l1Tables = [{ offset: h.l1TableOffset, size: h.l1Size, active: true }];
  let snapshotTable: Layout['snapshotTable'] = null;
  if (h.nbSnapshots > 0) {
    const t = await readSnapshotTable(mem, h.snapshotsOffset, h.nbSnapshots);
    snapshotTable = { offset: h.snapshotsOffset, bytes: t.bytes };
    for (const e of t.entries) l1Tables.push({ offset: e.l1TableOffset, size: e.l1Size, active: false });
  }
  const l2Tables: number[] = [];
  const l2Slots: L2Slot[] = [];
  const data = new Set<number>();
  for (const l1 of l1Tables) {
    for (let i = 0; i < l1.size; i++) {
      const l2 = u64At(dv, l1.offset + i * 8);
      if (l2 === 0) continue;
      const seen = l2Tables.includes(l2);
      if (!seen) l2Tables.push(l2);
      for (let p = l2; p < l2 + cs; p += entrySize) {
        const hi = dv.getUint32(p);
        const lo = dv.getUint32(p + 4);
        let kind: L2Slot['kind'];
        if (hi & 0x40000000) {
          kind = 'compressed';
          const x = 62 - (h.clusterBits - 8);
          const v = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo);
          data.add(Number(v & ((1n << BigInt(x)) - 1n)));
        } else {
          const off = u64At(dv, p);
          const zero = extended ? dv.getUint32(p + 12) === 0 && dv.getUint32(p + 8) !== 0 : (lo & 1) !== 0;
          kind = zero ? 'zero' : off !== 0 ? 'data' : 'unallocated';
          if (off !== 0) data.add(off);
        }
        const existing = l2Slots.find((s) => s.pos === p);
        if (existing) existing.active ||= l1.active;
        else l2Slots.push({ pos: p, kind, active: l1.active });
      }
    }
  }
  const refcountBlocks: number[] = [];
  for (let i = 0; i < h.refcountTableClusters * cs / 8; i++) {
    const b = u64At(dv, h.refcountTableOffset + i * 8);
    if (b !== 0) refcountBlocks.push(b);
  }
  const bits = 2 ** h.refcountOrder;
  const perBlock = (cs * 8) / bits;
  const refcounts: number[] = [];
  for (let c = 0; c < Math.ceil(bytes.length / cs); c++) {
    const t = Math.floor(c / perBlock);
    const b = u64At(dv, h.refcountTableOffset + t * 8);
    const blk = bytes.subarray(b, b + cs);
    refcounts.push(b === 0 ? 0 : getRefcountEntry(blk, new DataView(blk.buffer, blk.byteOffset, cs), c - t * perBlock, bits));
  }
  const metadata = [0];
  for (const l1 of l1Tables) for (let o = l1.offset; o < l1.offset + l1.size * 8; o += cs) metadata.push(o - (o % cs));
  for (let k = 0; k < h.refcountTableClusters; k++) metadata.push(h.refcountTableOffset + k * cs);
  metadata.push(...refcountBlocks, ...l2Tables);
  if (snapshotTable) metadata.push(snapshotTable.offset);

  // The base must be clean, or the mutations would not be what makes it broken.
  const lines: string[] = [];
  const r = await checkQcow2({ file: mem, header: h, log: (l) => lines.push(l), readOnly: true, prog: 'test' }, 0);
  if (r.corruptions || r.leaks || r.checkErrors) throw new Error(`base ${name} is not clean: ${lines.join('; ')}`);
  return {
    name,
    bytes,
    header: h,
    cs,
    extended,
    entrySize,
    refcountBits: bits,
    l1Tables,
    l2Tables,
    l2Slots,
    dataClusters: [...data],
    refcountBlocks,
    metadata: [...new Set(metadata)],
    snapshotTable,
    refcounts,
  };
}
