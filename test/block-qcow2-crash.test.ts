// Crash safety: a fault-injecting file node under the qcow2 driver. Power loss is simulated at
// more than 1,000 points of a random write/zero/discard/snapshot workload: the image at a cut is
// what the last completed flush made durable plus any subset of the writes issued after it. Every
// such image must pass `qemu-img check` with at most leaks, open in tsemu, and read back every
// write that a completed flush acknowledged. A second mode makes every operation after the cut
// fail (I/O error) and checks the same on what is left.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BlockNode, BlockStatus } from '../block/driver.ts';
import { BlockError } from '../block/errors.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';
import { applySnapshot, createSnapshot, deleteSnapshot, readSnapshots } from '../block/qcow2/snapshot.ts';
import { runOurs, scratchDir } from './block-img-harness.ts';

const dir = scratchDir('tsemu-crash-');

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

/** A file held in memory. */
class MemFile implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  constructor(
    public data: Uint8Array,
    readonly readOnly = false,
    readonly filename = 'mem.qcow2',
  ) {}
  length(): number {
    return this.data.length;
  }
  async read(offset: number, buf: Uint8Array): Promise<void> {
    buf.fill(0);
    if (offset < this.data.length) buf.set(this.data.subarray(offset, Math.min(this.data.length, offset + buf.length)));
  }
  async write(offset: number, d: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockError('read-only', 'EROFS');
    const end = offset + d.length;
    if (end > this.data.length) {
      const n = new Uint8Array(Math.max(end, this.data.length * 2));
      n.set(this.data);
      this.data = n.subarray(0, end);
      // keep capacity: a later write re-extends from the same buffer
      this.data = new Uint8Array(n.buffer, 0, end);
    }
    this.data.set(d, offset);
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

/**
 * Fault injection: counts write/flush operations; after `cut` of them it either fails every
 * operation (mode 'fail') or lets them through while remembering what a power loss would keep.
 * `onOp` runs before every write/flush with the durable image so far and the writes since the
 * last completed flush, so a test can take a power-loss image at any operation.
 */
class FaultNode implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  readonly readOnly = false;
  readonly filename: string;
  ops = 0;
  durable: Uint8Array;
  pending: { offset: number; data: Uint8Array }[] = [];
  constructor(
    private readonly inner: MemFile,
    private readonly mode: 'fail' | 'pass',
    private readonly cut: number,
    private readonly onOp: ((f: FaultNode) => Promise<void>) | null = null,
  ) {
    this.filename = inner.filename;
    this.durable = inner.data.slice();
  }
  private async gate(): Promise<void> {
    if (this.onOp) await this.onOp(this);
    this.ops++;
    if (this.mode === 'fail' && this.ops > this.cut) throw new BlockError('injected I/O error', 'EIO');
  }
  length(): number {
    return this.inner.length();
  }
  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.inner.read(offset, buf);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.gate();
    this.pending.push({ offset, data: data.slice() });
    await this.inner.write(offset, data);
  }
  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.write(offset, new Uint8Array(length));
  }
  async discard(): Promise<void> {}
  async flush(): Promise<void> {
    await this.gate();
    this.durable = this.powerLoss(() => true);
    this.pending = [];
  }
  /** The durable image plus the pending writes `keep` selects, in issue order. */
  powerLoss(keep: () => boolean): Uint8Array {
    let img = this.durable;
    let copied = false;
    for (const w of this.pending) {
      if (!keep()) continue;
      const end = w.offset + w.data.length;
      if (!copied || end > img.length) {
        const n = new Uint8Array(Math.max(img.length, end));
        n.set(img);
        img = n;
        copied = true;
      }
      img.set(w.data, w.offset);
    }
    return copied ? img : img.slice();
  }
  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.inner.blockStatus(offset, length);
  }
  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }
  allocatedSize(): Promise<number> {
    return this.inner.allocatedSize();
  }
  async close(): Promise<void> {}
}

/** The guest content as acknowledged: `stable` as of the last completed flush, `dirty` bytes unknown. */
interface Model {
  cur: Uint8Array;
  stable: Uint8Array;
  dirty: Uint8Array; // 1 where the content may be either
  snaps: Map<string, Uint8Array>;
  /** While a snapshot apply runs: the content it switches to (either state is acceptable). */
  applying: Uint8Array | null;
}

function markFlushed(m: Model): void {
  m.stable = m.cur.slice();
  m.dirty.fill(0);
}

async function verifyContent(img: Uint8Array, m: Model): Promise<string | null> {
  const node = await Qcow2Node.open(new MemFile(img, true), { readOnly: true });
  const got = new Uint8Array(node.length());
  await node.read(0, got);
  await readSnapshots(node);
  await node.close();
  const matches = (want: Uint8Array, dirty: Uint8Array | null): number => {
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i] && !(dirty && dirty[i])) return i;
    return -1;
  };
  const bad = matches(m.stable, m.dirty);
  if (bad < 0) return null;
  if (m.applying && matches(m.applying, null) < 0) return null;
  return `byte ${bad}: ${got[bad]} != ${m.stable[bad]}`;
}

/** qemu-img check runs, a few at a time. */
class CheckPool {
  private running = new Set<Promise<void>>();
  failures: string[] = [];
  count = 0;
  async add(file: string): Promise<void> {
    while (this.running.size >= 12) await Promise.race(this.running);
    const p = new Promise<void>((resolve) => {
      const c = spawn('qemu-img', ['check', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => {
        this.count++;
        // 0: clean, 3: leaks only.
        if ((code !== 0 && code !== 3) || /ERROR|corruption/.test(out)) this.failures.push(`${file}: exit ${code}\n${out}`);
        resolve();
      });
    });
    this.running.add(p);
    void p.then(() => this.running.delete(p));
  }
  async drain(): Promise<void> {
    await Promise.all(this.running);
  }
}

function newImage(opts: string, size: string): Uint8Array {
  const f = join(dir, `base-${opts.replace(/[^a-z0-9]/gi, '_')}.qcow2`);
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', opts, f, size], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return new Uint8Array(readFileSync(f));
}

/** Random guest operations, mirrored in the model; a flush marks everything acknowledged. */
async function workload(node: Qcow2Node, m: Model, rnd: () => number, ops: number): Promise<void> {
  const size = node.length();
  const cs = node.cs;
  let snapNo = 0;
  for (let i = 0; i < ops; i++) {
    const r = rnd();
    const len = 1 + Math.floor(rnd() * 3 * cs);
    const off = Math.floor(rnd() * (size - len));
    if (r < 0.45) {
      const d = new Uint8Array(len).fill(1 + Math.floor(rnd() * 255));
      m.cur.set(d, off);
      m.dirty.fill(1, off, off + len);
      await node.write(off, d);
    } else if (r < 0.55) {
      m.cur.fill(0, off, off + len);
      m.dirty.fill(1, off, off + len);
      await node.writeZeroes(off, len, rnd() < 0.5);
    } else if (r < 0.62) {
      const a = Math.floor(off / cs) * cs;
      const l = Math.min(size - a, Math.ceil(len / cs) * cs);
      m.cur.fill(0, a, a + l);
      m.dirty.fill(1, a, a + l);
      await node.discard(a, l);
    } else if (r < 0.8) {
      await node.flush();
      markFlushed(m);
    } else if (r < 0.88) {
      const name = `s${snapNo++}`;
      await createSnapshot(node, { name });
      m.snaps.set(name, m.cur.slice());
    } else if (r < 0.95 && m.snaps.size > 0) {
      const names = [...m.snaps.keys()];
      const name = names[Math.floor(rnd() * names.length)]!;
      await node.flush();
      markFlushed(m);
      m.applying = m.snaps.get(name)!;
      await applySnapshot(node, name);
      m.cur = m.applying.slice();
      m.applying = null;
      markFlushed(m);
    } else if (m.snaps.size > 0) {
      const names = [...m.snaps.keys()];
      const name = names[Math.floor(rnd() * names.length)]!;
      await deleteSnapshot(node, null, name);
      m.snaps.delete(name);
    }
  }
  await node.flush();
  markFlushed(m);
}

function newModel(size: number): Model {
  return { cur: new Uint8Array(size), stable: new Uint8Array(size), dirty: new Uint8Array(size), snaps: new Map(), applying: null };
}

describe('qcow2 crash safety', () => {
  const configs = [
    { opts: 'cluster_size=512', size: 256 * 1024, seed: 11, ops: 220, every: 0.45 },
    { opts: 'compat=0.10,cluster_size=1024', size: 512 * 1024, seed: 23, ops: 200, every: 0.4 },
    { opts: 'cluster_size=16384,extended_l2=on', size: 1024 * 1024, seed: 37, ops: 80, every: 0.5 },
  ];
  const pool = new CheckPool();
  let cuts = 0;

  for (const c of configs) {
    it(`power loss at random points (${c.opts})`, async () => {
      const base = newImage(c.opts, String(c.size));
      const rnd = prng(c.seed);
      const lossRnd = prng(c.seed * 7);
      const m = newModel(c.size);
      const errors: string[] = [];
      let n = 0;
      const fault = new FaultNode(new MemFile(base.slice()), 'pass', Infinity, async (f) => {
        if (lossRnd() >= c.every) return;
        const img = f.powerLoss(() => lossRnd() < 0.5);
        const bad = await verifyContent(img, m).catch((e: Error) => `open/read: ${e.message}`);
        if (bad) errors.push(`cut ${f.ops}: ${bad}`);
        const file = join(dir, `cut-${c.seed}-${n++}.qcow2`);
        writeFileSync(file, img);
        cuts++;
        await pool.add(file);
      });
      const node = await Qcow2Node.open(fault, { readOnly: false });
      await workload(node, m, rnd, c.ops);
      await node.close();
      await pool.drain();
      expect(errors).toEqual([]);
      expect(pool.failures).toEqual([]);
      // The finished image holds exactly the model.
      expect(await verifyContent(fault.durable, m)).toBeNull();
    });
  }

  it('operations failing after the cut leave a consistent image', async () => {
    const c = configs[0]!;
    const base = newImage(c.opts, String(c.size));
    const errors: string[] = [];
    for (let run = 0; run < 40; run++) {
      const rnd = prng(1000 + run);
      const m = newModel(c.size);
      const cut = Math.floor(rnd() * 400);
      const fault = new FaultNode(new MemFile(base.slice()), 'fail', cut);
      const node = await Qcow2Node.open(fault, { readOnly: false });
      try {
        await workload(node, m, rnd, 80);
      } catch (e) {
        if (!(e instanceof BlockError) || !/injected/.test(e.message)) throw e;
      }
      if (m.applying) m.dirty.fill(1); // the apply may or may not have switched
      const img = fault.powerLoss(() => rnd() < 0.5);
      const bad = await verifyContent(img, m).catch((e: Error) => `open/read: ${e.message}`);
      if (bad) errors.push(`run ${run} cut ${cut}: ${bad}`);
      const file = join(dir, `fail-${run}.qcow2`);
      writeFileSync(file, img);
      cuts++;
      await pool.add(file);
    }
    await pool.drain();
    expect(errors).toEqual([]);
    expect(pool.failures).toEqual([]);
    expect(cuts).toBeGreaterThanOrEqual(1000);
  });

  it('lazy refcounts: every cut is clean or dirty, and check -r all repairs it like qemu-img', async () => {
    const size = 512 * 1024;
    const base = newImage('cluster_size=1024,lazy_refcounts=on', String(size));
    const rnd = prng(71);
    const lossRnd = prng(71 * 7);
    const m = newModel(size);
    const errors: string[] = [];
    let n = 0;
    let dirtyCuts = 0;
    let cleanCuts = 0;
    let repairedCuts = 0;
    const qemu = (...args: string[]) => spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
    // Cuts are examined one at a time (parallel requests reach the file together, and tsemu-img
    // runs in-process with its output captured).
    let serial: Promise<void> = Promise.resolve();
    const fault = new FaultNode(new MemFile(base.slice()), 'pass', Infinity, (f) => {
      if (lossRnd() >= 0.15) return Promise.resolve();
      const img = f.powerLoss(() => lossRnd() < 0.5);
      const at = `cut ${f.ops}`;
      const step = serial.then(() => examine(img, at));
      serial = step.catch(() => undefined);
      return step;
    });
    const examine = async (img: Uint8Array, at: string): Promise<void> => {
      const incompat = new DataView(img.buffer, img.byteOffset).getBigUint64(72);
      if ((incompat & ~1n) !== 0n) {
        errors.push(`${at}: incompatible bits ${incompat}`);
        return;
      }
      const name = `lazy-${n++}`;
      if (incompat === 0n) {
        // Clean: exact refcounts (leaks at most), like a non-lazy image.
        cleanCuts++;
        writeFileSync(join(dir, `${name}.qcow2`), img);
        cuts++;
        await pool.add(join(dir, `${name}.qcow2`));
        const bad = await verifyContent(img, m).catch((e: Error) => `open/read: ${e.message}`);
        if (bad) errors.push(`${at}: ${bad}`);
        return;
      }
      // Dirty: twin copies repaired by qemu-img and by tsemu-img must report the same.
      dirtyCuts++;
      writeFileSync(join(dir, `${name}-ref.qcow2`), img);
      writeFileSync(join(dir, `${name}-ours.qcow2`), img);
      const ref = qemu('check', '-r', 'all', `${name}-ref.qcow2`);
      const ours = await runOurs(dir, ['check', '-r', 'all', `${name}-ours.qcow2`]);
      if (ours.out !== ref.stdout || ours.err !== ref.stderr || ours.code !== ref.status) {
        errors.push(`${at}: repair differs\n--- qemu-img (${ref.status})\n${ref.stdout}${ref.stderr}\n--- ours (${ours.code})\n${ours.out}${ours.err}`);
      }
      if (/ERROR|Leaked/.test(ref.stdout + ref.stderr)) repairedCuts++;
      const after = qemu('check', `${name}-ours.qcow2`);
      if (after.status !== 0) errors.push(`${at}: after repair: exit ${after.status}\n${after.stdout}${after.stderr}`);
      const repaired = new Uint8Array(readFileSync(join(dir, `${name}-ours.qcow2`)));
      if (new DataView(repaired.buffer).getBigUint64(72) !== 0n) errors.push(`${at}: still dirty after repair`);
      const bad = await verifyContent(repaired, m).catch((e: Error) => `open/read: ${e.message}`);
      if (bad) errors.push(`${at} repaired: ${bad}`);
      // tsemu's open-with-repair gives the same content.
      const lines: string[] = [];
      const node = await Qcow2Node.open(new MemFile(img.slice()), { readOnly: false, log: (l) => lines.push(l) }).catch((e: Error) => e);
      if (node instanceof Error) errors.push(`${at}: open with repair: ${node.message}`);
      else await node.close();
    };
    const node = await Qcow2Node.open(fault, { readOnly: false });
    await workload(node, m, rnd, 200);
    await node.close();
    await pool.drain();
    expect(errors.slice(0, 3)).toEqual([]);
    expect(pool.failures).toEqual([]);
    expect(dirtyCuts).toBeGreaterThan(20);
    expect(cleanCuts).toBeGreaterThan(0);
    // The refcounts really lagged behind at many cuts (and were repaired).
    expect(repairedCuts).toBeGreaterThan(10);
    // A clean close leaves the image clean, with exact refcounts.
    expect(new DataView(fault.durable.buffer).getBigUint64(72)).toBe(0n);
    expect(await verifyContent(fault.durable, m)).toBeNull();
    const fin = join(dir, 'lazy-final.qcow2');
    writeFileSync(fin, fault.durable);
    const r = qemu('check', fin);
    expect(r.stdout + r.stderr).toMatch(/No errors were found/);
  });
});
