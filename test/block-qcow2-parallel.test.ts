// Requests in flight together: the qcow2 driver runs reads and writes into owned clusters without
// its lock, so batches of concurrent writes, zeroes, discards, reads and flushes (on disjoint
// bytes, often in the same clusters) must give exactly the content a serial run gives, and
// `qemu-img check`/`compare` must agree. Snapshots taken while writes are in flight must hold,
// for every write, either all of its old bytes or all of its new ones, and must not change when
// the active image is written afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockNode, BlockStatus } from '../block/driver.ts';
import { openImage } from '../block/open.ts';
import { createQcow2, QCOW2_DEFAULTS, type Qcow2CreateOptions } from '../block/qcow2/create.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';
import { createSnapshot } from '../block/qcow2/snapshot.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-qcow2-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkClean(img: string): void {
  const r = spawnSync('qemu-img', ['check', img], { cwd: dir, encoding: 'utf8' });
  expect(r.stdout + r.stderr).toContain('No errors were found on the image.');
  expect(r.stdout).not.toMatch(/leaked/);
  expect(r.status).toBe(0);
}

function compareWith(img: string, expected: Uint8Array): void {
  const raw = `${img}.expected.raw`;
  writeFileSync(join(dir, raw), expected);
  const r = spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', img, raw], { cwd: dir, encoding: 'utf8' });
  expect(r.stdout).toBe('Images are identical.\n');
  expect(r.status).toBe(0);
}

function pattern(len: number, v: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let k = 0; k < len; k++) d[k] = (v + k * 7) & 0xff || 1;
  return d;
}

interface Op {
  /** Discards are two requests (discard, then zeroes), so not atomic against a snapshot. */
  twoStep?: boolean;
  offset: number;
  length: number;
  /** New content of the range (null for reads). */
  data: Uint8Array | null;
  run: (node: BlockNode) => Promise<void>;
}

/**
 * A batch of operations on disjoint byte ranges, packed close together so that many share
 * clusters (small requests around cluster boundaries, some spanning several clusters).
 */
function batch(rnd: () => number, size: number, cs: number, expected: Uint8Array, n: number): Op[] {
  const ops: Op[] = [];
  let pos = Math.floor(rnd() * (size / 2));
  pos -= pos % 512;
  for (let i = 0; i < n && pos < size - 1; i++) {
    const kind = rnd();
    const len = Math.min(size - pos, 1 + Math.floor(rnd() < 0.2 ? rnd() * 4 * cs : rnd() * Math.min(cs, 8192)));
    const offset = pos;
    if (kind < 0.55) {
      const data = pattern(len, 1 + Math.floor(rnd() * 250));
      ops.push({ offset, length: len, data, run: (node) => node.write(offset, data) });
    } else if (kind < 0.7) {
      const unmap = rnd() < 0.5;
      ops.push({ offset, length: len, data: new Uint8Array(len), run: (node) => node.writeZeroes(offset, len, unmap) });
    } else if (kind < 0.78) {
      // Discard leaves content undefined; zeroing after it keeps the mirror exact.
      ops.push({
        twoStep: true,
        offset,
        length: len,
        data: new Uint8Array(len),
        run: async (node) => {
          await node.discard(offset, len);
          await node.writeZeroes(offset, len);
        },
      });
    } else if (kind < 0.95) {
      const want = expected.slice(offset, offset + len);
      ops.push({
        offset,
        length: len,
        data: null,
        run: async (node) => {
          const got = new Uint8Array(len);
          await node.read(offset, got);
          expect(Buffer.compare(got, want), `read at ${offset} + ${len}`).toBe(0);
        },
      });
    } else {
      ops.push({ offset, length: 0, data: null, run: (node) => node.flush() });
      continue;
    }
    // Next range: right after this one or a little further, in the same cluster or the next.
    pos = offset + len + (rnd() < 0.5 ? 0 : Math.floor(rnd() * cs));
  }
  return ops;
}

async function runBatches(node: Qcow2Node, expected: Uint8Array, seed: number, rounds: number): Promise<void> {
  const rnd = prng(seed);
  for (let r = 0; r < rounds; r++) {
    const ops = batch(rnd, node.length(), node.cs, expected, 4 + Math.floor(rnd() * 40));
    await Promise.all(ops.map((o) => o.run(node)));
    for (const o of ops) if (o.data) expected.set(o.data, o.offset);
  }
}

async function newImage(name: string, o: Partial<Qcow2CreateOptions>, size: number): Promise<Qcow2Node> {
  await createQcow2(join(dir, name), { ...QCOW2_DEFAULTS, ...o, size });
  return (await openImage(join(dir, name))) as Qcow2Node;
}

const SIZE = 4 << 20;

/** An image file in memory that can hold back the next writes into a host range until released. */
class GatedFile implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  readonly readOnly = false;
  readonly filename = 'gated.qcow2';
  private held: { from: number; to: number; count: number } | null = null;
  private waiting: (() => void)[] = [];
  constructor(public data: Uint8Array) {}
  /** Holds the next `count` writes that touch [from, to); release() lets them land in order. */
  hold(from: number, to: number, count = 1): void {
    this.held = { from, to, count };
  }
  release(): void {
    this.held = null;
    for (const w of this.waiting.splice(0)) w();
  }
  length(): number {
    return this.data.length;
  }
  async read(offset: number, buf: Uint8Array): Promise<void> {
    buf.fill(0);
    if (offset < this.data.length) buf.set(this.data.subarray(offset, Math.min(this.data.length, offset + buf.length)));
  }
  async write(offset: number, d: Uint8Array): Promise<void> {
    const copy = d.slice();
    const h = this.held;
    if (h && offset < h.to && offset + d.length > h.from) {
      if (--h.count === 0) this.held = null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    const end = offset + copy.length;
    if (end > this.data.length) {
      const n = new Uint8Array(end);
      n.set(this.data);
      this.data = n;
    }
    this.data.set(copy, offset);
  }
  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.write(offset, new Uint8Array(length));
  }
  async discard(): Promise<void> {}
  async flush(): Promise<void> {}
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return { length, allocated: true, data: true, zero: false, depth: 0 };
  }
  async truncate(length: number): Promise<void> {
    const n = new Uint8Array(length);
    n.set(this.data.subarray(0, Math.min(length, this.data.length)));
    this.data = n;
  }
  async allocatedSize(): Promise<number> {
    return this.data.length;
  }
  async close(): Promise<void> {}
}

/** A fresh image (64 KiB clusters unless `o` says otherwise) in a GatedFile, fully written with `fill`. */
async function gatedImage(name: string, fill: Uint8Array, o: Partial<Qcow2CreateOptions> = {}): Promise<{ file: GatedFile; node: Qcow2Node }> {
  await createQcow2(join(dir, name), { ...QCOW2_DEFAULTS, ...o, size: fill.length });
  const file = new GatedFile(new Uint8Array(readFileSync(join(dir, name))));
  const node = await Qcow2Node.open(file, { readOnly: false });
  await node.write(0, fill);
  await node.flush();
  return { file, node };
}

describe('qcow2 with requests in flight together', () => {
  const matrix: [string, Partial<Qcow2CreateOptions>][] = [
    ['v3-64k', {}],
    ['v2-4k', { version: 2, clusterSize: 4096 }],
    ['v3-512-rc1', { clusterSize: 512, refcountBits: 1 }],
    ['v3-32k-extl2', { clusterSize: 32768, extendedL2: true }],
  ];
  matrix.forEach(([name, o], n) => {
    it(`concurrent batches match a serial mirror (${name})`, async () => {
      const img = `${name}.qcow2`;
      const expected = new Uint8Array(SIZE);
      const node = await newImage(img, o, SIZE);
      try {
        // The first rounds allocate; later ones mostly land in owned clusters (lock-free).
        await runBatches(node, expected, 100 + n, 120);
      } finally {
        await node.close();
      }
      checkClean(img);
      compareWith(img, expected);
      // A second session starts with cold caches: misses and the lock-free path interleave.
      const again = (await openImage(join(dir, img))) as Qcow2Node;
      try {
        await runBatches(again, expected, 200 + n, 60);
      } finally {
        await again.close();
      }
      checkClean(img);
      compareWith(img, expected);
    });
  });

  it('a backing file shows through unwritten parts of concurrent requests', async () => {
    const base = join(dir, 'base.raw');
    const baseData = pattern(SIZE, 0x33);
    writeFileSync(base, baseData);
    const img = 'over.qcow2';
    await createQcow2(join(dir, img), { ...QCOW2_DEFAULTS, clusterSize: 4096, size: SIZE, backingFile: 'base.raw', backingFormat: 'raw' });
    const expected = baseData.slice();
    const node = (await openImage(join(dir, img))) as Qcow2Node;
    try {
      await runBatches(node, expected, 7, 80);
    } finally {
      await node.close();
    }
    checkClean(img);
    compareWith(img, expected);
  });

  it('a snapshot waits for lock-free writes in flight (their cluster becomes shared)', async () => {
    const size = 1 << 20;
    const { file, node } = await gatedImage('gate-snap.qcow2', pattern(size, 3));
    const cs = node.cs;
    const host = (await node.blockStatus(cs, cs)).offset!;
    const w1 = pattern(1000, 0x71);
    const w2 = pattern(1000, 0x92);
    file.hold(host, host + cs);
    const first = node.write(cs + 100, w1); // lock-free, held at the file
    const snap = createSnapshot(node, { name: 'while' });
    setTimeout(() => file.release(), 30);
    await snap;
    // Copy-on-write of the now shared cluster must see the first write.
    await node.write(cs + 5000, w2);
    await first;
    const got = new Uint8Array(cs);
    await node.read(cs, got);
    expect(Buffer.compare(got.subarray(100, 1100), w1)).toBe(0);
    expect(Buffer.compare(got.subarray(5000, 6000), w2)).toBe(0);
    await node.close();
    writeFileSync(join(dir, 'gate-snap.qcow2'), file.data);
    checkClean('gate-snap.qcow2');
  });

  it('a flush that frees clusters waits for lock-free writes into them', async () => {
    const size = 1 << 20;
    const { file, node } = await gatedImage('gate-free.qcow2', pattern(size, 5));
    const cs = node.cs;
    const host = (await node.blockStatus(cs, cs)).offset!;
    file.hold(host, host + cs);
    const late = node.write(cs + 100, pattern(1000, 0x44)); // lock-free, held at the file
    const discarded = node.discard(cs, cs).then(() => node.flush());
    setTimeout(() => file.release(), 30);
    await discarded;
    // The lowest free host cluster (the one just freed) goes to new data: the held write must
    // have landed before it was freed, not over the new data.
    await node.discard(3 * cs, cs);
    await node.flush();
    const fresh = pattern(cs, 0x99);
    await node.write(3 * cs, fresh);
    expect((await node.blockStatus(3 * cs, cs)).offset).toBe(host);
    await late;
    const got = new Uint8Array(cs);
    await node.read(3 * cs, got);
    expect(Buffer.compare(got, fresh)).toBe(0);
    await node.read(cs, got);
    expect(got.every((b) => b === 0)).toBe(true);
    await node.close();
    writeFileSync(join(dir, 'gate-free.qcow2'), file.data);
    checkClean('gate-free.qcow2');
  });

  it('a locked write next to a lock-free one in the same subcluster leaves its bytes alone', async () => {
    const size = 1 << 20;
    const { file, node } = await gatedImage('gate-sub.qcow2', pattern(size, 8), { clusterSize: 32768, extendedL2: true });
    const cs = node.cs;
    const sc = cs / 32;
    // Cluster 1 keeps data in subclusters 0-3 only (4 onwards become zero subclusters).
    await node.writeZeroes(cs + 4 * sc, cs - 4 * sc);
    const host = (await node.blockStatus(cs, cs)).offset!;
    const fast = pattern(200, 0x21);
    const slow = pattern(700, 0x5c);
    file.hold(host, host + cs, 2);
    const first = node.write(cs + 3 * sc + 100, fast); // subcluster 3 holds data: lock-free
    const second = node.write(cs + 3 * sc + 600, slow); // also subcluster 4: locked, fills it
    setTimeout(() => file.release(), 30);
    await Promise.all([first, second]);
    const got = new Uint8Array(2 * sc);
    await node.read(cs + 3 * sc, got);
    expect(Buffer.compare(got.subarray(100, 300), fast)).toBe(0);
    expect(Buffer.compare(got.subarray(600, 1300), slow)).toBe(0);
    expect(got.subarray(1300).every((b) => b === 0)).toBe(true);
    await node.close();
    writeFileSync(join(dir, 'gate-sub.qcow2'), file.data);
    checkClean('gate-sub.qcow2');
  });

  it('snapshots taken while writes are in flight keep each write whole and stay put afterwards', async () => {
    const img = 'snap.qcow2';
    const node = await newImage(img, {}, SIZE);
    const expected = new Uint8Array(SIZE);
    const rnd = prng(42);
    const snaps: { name: string; before: Uint8Array; writes: Op[] }[] = [];
    try {
      // Allocate everything first so that later writes take the lock-free path.
      const fill = pattern(SIZE, 9);
      await node.write(0, fill);
      expected.set(fill);
      for (let s = 0; s < 6; s++) {
        const before = expected.slice();
        const writes = batch(rnd, SIZE, node.cs, expected, 40).filter((o) => o.data && o.length > 0 && !o.twoStep);
        const name = `s${s}`;
        const inFlight = writes.map((o) => o.run(node));
        await Promise.all([createSnapshot(node, { name }), ...inFlight]);
        for (const o of writes) expected.set(o.data!, o.offset);
        snaps.push({ name, before, writes });
        // Writes after the snapshot must copy, not touch the snapshot's clusters.
        await runBatches(node, expected, 500 + s, 10);
      }
    } finally {
      await node.close();
    }
    checkClean(img);
    compareWith(img, expected);
    for (const s of snaps) {
      const out = join(dir, `${s.name}.raw`);
      execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-l', `snapshot.name=${s.name}`, join(dir, img), out]);
      const got = new Uint8Array(readFileSync(out));
      const want = s.before.slice();
      // Each write is wholly in the snapshot or wholly not.
      for (const o of s.writes) {
        const part = got.subarray(o.offset, o.offset + o.length);
        if (Buffer.compare(part, o.data!) === 0) want.set(o.data!, o.offset);
      }
      expect(Buffer.compare(got, want), `snapshot ${s.name}`).toBe(0);
    }
  });
});
