// Internal snapshots: made by tsemu and read/applied/deleted by qemu-img, and the reverse, with
// `qemu-img check` clean after every step; `tsemu-img snapshot`/`info` output equals qemu-img's.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openImage } from '../block/open.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';
import { applySnapshot, createSnapshot, deleteSnapshot, readSnapshots } from '../block/qcow2/snapshot.ts';
import { runOurs, runQemu, scratchDir } from './block-img-harness.ts';

const dir = scratchDir('tsemu-snap-');

function checkClean(img: string): void {
  const r = runQemu(dir, 'qemu-img', 'check', img);
  expect(r.out + r.err).toContain('No errors were found on the image.');
  expect(r.out).not.toMatch(/leaked/);
  expect(r.code).toBe(0);
}

function qemuIo(img: string, ...cmds: string[]): string {
  const r = runQemu(dir, 'qemu-io', ...cmds.flatMap((c) => ['-c', c]), img);
  expect(r.err).toBe('');
  expect(r.out).not.toMatch(/fail|error/i);
  return r.out;
}

async function openQcow2(img: string, readOnly = false): Promise<Qcow2Node> {
  const n = await openImage(join(dir, img), { readOnly });
  if (!(n instanceof Qcow2Node)) throw new Error('not qcow2');
  return n;
}

/** Byte equality without vitest's slow deep compare of large arrays. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function pattern(len: number, v: number): Uint8Array {
  return new Uint8Array(len).fill(v);
}

async function readAll(img: string): Promise<Uint8Array> {
  const n = await openQcow2(img, true);
  try {
    const b = new Uint8Array(n.length());
    await n.read(0, b);
    return b;
  } finally {
    await n.close();
  }
}

const matrix = [
  { name: 'v3-4k', opts: 'cluster_size=4096' },
  { name: 'v2-512', opts: 'compat=0.10,cluster_size=512' },
  { name: 'v3-extl2', opts: 'cluster_size=16384,extended_l2=on' },
  { name: 'v3-rc64', opts: 'cluster_size=4096,refcount_bits=64' },
];

describe('snapshots made by tsemu, used by qemu-img', () => {
  for (const m of matrix) {
    it(m.name, async () => {
      const img = `${m.name}.qcow2`;
      expect(runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', m.opts, img, '2M').code).toBe(0);
      let n = await openQcow2(img);
      await n.write(0, pattern(100_000, 1));
      await n.write(1_500_000, pattern(5000, 7));
      await n.flush();
      const s1 = await createSnapshot(n, { name: 'one' });
      expect(s1.id).toBe('1');
      await n.write(4096, pattern(10_000, 2));
      await n.writeZeroes(60_000, 20_000);
      await n.discard(1_500_000 - (1_500_000 % n.cs), 8192);
      await createSnapshot(n, { name: 'two', vmClockNsec: 3_723_456_000_000n });
      await n.write(0, pattern(512, 3));
      await n.close();
      checkClean(img);

      const before = await readAll(img);
      const list = runQemu(dir, 'qemu-img', 'snapshot', '-l', img);
      const ours = await runOurs(dir, ['snapshot', '-l', img]);
      expect(ours).toEqual(list);
      expect(list.out).toContain('01:02:03.456');

      // qemu reverts to "one": the content written before it.
      expect(runQemu(dir, 'qemu-img', 'snapshot', '-a', 'one', img).code).toBe(0);
      checkClean(img);
      qemuIo(img, 'read -P 1 0 100000', 'read -P 7 1500000 5000');
      // tsemu reverts to "two".
      n = await openQcow2(img);
      await applySnapshot(n, 'two');
      await n.close();
      checkClean(img);
      const two = await readAll(img);
      expect(two.subarray(0, 4096).every((b) => b === 1)).toBe(true);
      expect(two.subarray(4096, 14096).every((b) => b === 2)).toBe(true);
      expect(two.subarray(60_000, 80_000).every((b) => b === 0)).toBe(true);
      expect(before[0]).toBe(3);
      // qemu deletes "two", tsemu deletes "one": back to one clean image with no snapshots.
      expect(runQemu(dir, 'qemu-img', 'snapshot', '-d', 'two', img).code).toBe(0);
      checkClean(img);
      n = await openQcow2(img);
      await deleteSnapshot(n, null, 'one');
      expect(await readSnapshots(n)).toEqual([]);
      await n.close();
      checkClean(img);
      expect(same(await readAll(img), two)).toBe(true);
    });
  }
});

describe('snapshots made by qemu-img, used by tsemu', () => {
  it('list, apply, delete and write with COW', async () => {
    const img = 'q.qcow2';
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '1M');
    qemuIo(img, 'write -P 5 0 40k');
    expect(runQemu(dir, 'qemu-img', 'snapshot', '-c', 'base', img).code).toBe(0);
    qemuIo(img, 'write -P 6 0 8k');
    expect(runQemu(dir, 'qemu-img', 'snapshot', '-c', 'mid', img).code).toBe(0);
    qemuIo(img, 'write -P 8 16k 4k');
    expect(await runOurs(dir, ['snapshot', '-l', img])).toEqual(runQemu(dir, 'qemu-img', 'snapshot', '-l', img));
    expect(await runOurs(dir, ['info', img])).toEqual(runQemu(dir, 'qemu-img', 'info', img));
    expect(await runOurs(dir, ['info', '--output=json', img])).toEqual(runQemu(dir, 'qemu-img', 'info', '--output=json', img));

    expect((await runOurs(dir, ['snapshot', '-a', 'base', img])).code).toBe(0);
    checkClean(img);
    qemuIo(img, 'read -P 5 0 40k');
    const n = await openQcow2(img);
    await n.write(0, pattern(4096, 9));
    await n.close();
    checkClean(img);
    expect((await runOurs(dir, ['snapshot', '-c', 'after', img])).code).toBe(0);
    checkClean(img);
    expect((await runOurs(dir, ['snapshot', '-d', 'base', img])).code).toBe(0);
    checkClean(img);
    expect(runQemu(dir, 'qemu-img', 'snapshot', '-a', 'mid', img).code).toBe(0);
    checkClean(img);
    qemuIo(img, 'read -P 6 0 8k', 'read -P 5 8k 32k');
    expect(runQemu(dir, 'qemu-img', 'snapshot', '-a', 'after', img).code).toBe(0);
    qemuIo(img, 'read -P 9 0 4k', 'read -P 5 4k 36k');
    expect((await runOurs(dir, ['snapshot', '-d', 'mid', img])).code).toBe(0);
    expect((await runOurs(dir, ['snapshot', '-d', 'after', img])).code).toBe(0);
    checkClean(img);
    expect((await runOurs(dir, ['snapshot', '-l', img])).out).toBe('');
  });

  it('messages and exit codes match qemu-img', async () => {
    const mk = (img: string): void => void runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', img, '1M');
    mk('e1.qcow2');
    mk('e2.qcow2');
    const seq: string[][] = [
      ['-c', 'a'],
      ['-c', 'a'],
      ['-c', '7'],
      ['-d', '3'],
      ['-a', 'nosuch'],
      ['-d', 'nosuch'],
      ['-a', '2'],
      ['-d', 'a'],
      ['-l'],
      ['-l', '-c', 'x'],
      [],
    ];
    for (const args of seq) {
      const q = runQemu(dir, 'qemu-img', 'snapshot', ...args, 'e1.qcow2');
      const o = await runOurs(dir, ['snapshot', ...args, 'e2.qcow2']);
      // Dates differ by the moment of creation: compare with the date columns blanked.
      const blank = (s: string): string => s.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, 'DATE');
      expect({ ...o, out: blank(o.out) }, args.join(' ')).toEqual({ ...q, out: blank(q.out) });
    }
    checkClean('e2.qcow2');
    writeRaw('r.raw');
    const q = runQemu(dir, 'qemu-img', 'snapshot', '-c', 'x', 'r.raw');
    const o = await runOurs(dir, ['snapshot', '-c', 'x', 'r.raw']);
    expect(o.code).toBe(q.code);
    expect(o.err.split('\n').at(-2)).toBe(q.err.split('\n').at(-2));
    const f = await runOurs(dir, ['snapshot', '-f', 'qcow2', '-l', 'e2.qcow2']);
    expect(f).toEqual(runQemu(dir, 'qemu-img', 'snapshot', '-f', 'qcow2', '-l', 'e1.qcow2'));
    const q2 = runQemu(dir, 'qemu-img', 'snapshot', '-l', 'missing.qcow2');
    expect(await runOurs(dir, ['snapshot', '-l', 'missing.qcow2'])).toEqual(q2);
  });

  it('refcount_bits=1 cannot hold a snapshot: EINVAL like qemu-img, image untouched', async () => {
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'refcount_bits=1', 'r1.qcow2', '1M');
    qemuIo('r1.qcow2', 'write 0 4k');
    const o = await runOurs(dir, ['snapshot', '-c', 's', 'r1.qcow2']);
    expect(o).toEqual({ out: '', err: "qemu-img: Could not create snapshot 's': -22 (Invalid argument)\n", code: 1 });
    const r = runQemu(dir, 'qemu-img', 'check', 'r1.qcow2');
    expect(r.out).not.toMatch(/ERROR/);
  });
});

function writeRaw(name: string): void {
  spawnSync('truncate', ['-s', '1M', join(dir, name)]);
}

describe('VM state', () => {
  it('savevm-style state goes into the snapshot and is read back after apply', async () => {
    const img = 'vm.qcow2';
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '1000000');
    let n = await openQcow2(img);
    await n.write(0, pattern(5000, 4));
    const state = new Uint8Array(300_000);
    for (let i = 0; i < state.length; i++) state[i] = (i * 7) & 0xff;
    await n.writeVmState(0, state);
    const back = new Uint8Array(state.length);
    await n.readVmState(0, back);
    expect(same(back, state)).toBe(true);
    await createSnapshot(n, { name: 'vm', vmStateSize: state.length, vmClockNsec: 5_000_000n });
    // Discarded from the active image once the snapshot holds it.
    await n.readVmState(0, back);
    expect(back.every((b) => b === 0)).toBe(true);
    await n.write(0, pattern(5000, 5));
    await n.close();
    checkClean(img);
    const q = runQemu(dir, 'qemu-img', 'snapshot', '-l', img);
    expect(q.out).toMatch(/vm\s+293 KiB .* 00:00:00\.005\s*\n/);
    expect(await runOurs(dir, ['snapshot', '-l', img])).toEqual(q);
    expect(await runOurs(dir, ['info', '--output=json', img])).toEqual(runQemu(dir, 'qemu-img', 'info', '--output=json', img));
    n = await openQcow2(img);
    await applySnapshot(n, 'vm');
    await n.readVmState(0, back);
    expect(same(back, state)).toBe(true);
    await n.close();
    checkClean(img);
    qemuIo(img, 'read -P 4 0 5000');
    // qemu deletes it and leaves a clean image.
    expect(runQemu(dir, 'qemu-img', 'snapshot', '-d', 'vm', img).code).toBe(0);
    checkClean(img);
    expect(readFileSync(join(dir, img)).length).toBeGreaterThan(0);
  });
});
