// Images written by the qcow2 driver pass `qemu-img check` with no errors and no leaks, and
// `qemu-img compare` finds them identical to the expected content.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../block/open.ts';
import { createQcow2, QCOW2_DEFAULTS, type Qcow2CreateOptions } from '../block/qcow2/create.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-qcow2-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8' });
}

/** mulberry32: a small seeded PRNG so failures replay. */
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

/** Random writes, write-zeroes and discards, mirrored in `expected`; flushes now and then. */
async function workload(img: string, expected: Uint8Array, seed: number, ops: number, canDiscardToBacking: boolean): Promise<void> {
  const rnd = prng(seed);
  const node = await openImage(join(dir, img));
  const size = node.length();
  try {
    for (let i = 0; i < ops; i++) {
      const big = rnd() < 0.2;
      const len = 1 + Math.floor(rnd() * (big ? 300_000 : 9000));
      const off = Math.floor(rnd() * (size - len));
      const r = rnd();
      if (r < 0.6) {
        const data = new Uint8Array(len);
        const v = 1 + Math.floor(rnd() * 255);
        for (let k = 0; k < len; k++) data[k] = (v + k) & 0xff;
        await node.write(off, data);
        expected.set(data, off);
      } else if (r < 0.85) {
        await node.writeZeroes(off, len, rnd() < 0.5);
        expected.fill(0, off, off + len);
      } else if (canDiscardToBacking) {
        // Discard leaves content undefined; re-zero what it covered so the mirror stays exact.
        await node.discard(off, len);
        await node.writeZeroes(off, len);
        expected.fill(0, off, off + len);
      }
      if (rnd() < 0.1) await node.flush();
      if (rnd() < 0.2) {
        const probe = Math.floor(rnd() * (size - 5000));
        const got = new Uint8Array(5000);
        await node.read(probe, got);
        expect(Buffer.compare(got, expected.subarray(probe, probe + 5000))).toBe(0);
      }
    }
  } finally {
    await node.close();
  }
}

const SIZE = 6 << 20;

describe('qcow2 images written by tsemu pass qemu-img check and compare', () => {
  const matrix: [string, Partial<Qcow2CreateOptions>][] = [
    ['v3-64k', {}],
    ['v2-64k', { version: 2 }],
    ['v3-512-rc1', { clusterSize: 512, refcountBits: 1 }],
    ['v3-512-rc64', { clusterSize: 512, refcountBits: 64 }],
    ['v3-4k-rc2', { clusterSize: 4096, refcountBits: 2 }],
    ['v3-2m-rc32', { clusterSize: 2 << 20, refcountBits: 32 }],
    ['v3-16k-extl2', { clusterSize: 16384, extendedL2: true }],
    ['v3-64k-lazy-rc8', { lazyRefcounts: true, refcountBits: 8 }],
  ];
  matrix.forEach(([name, o], n) => {
    it(name, async () => {
      const img = `${name}.qcow2`;
      await createQcow2(join(dir, img), { ...QCOW2_DEFAULTS, ...o, size: SIZE });
      checkClean(img);
      const expected = new Uint8Array(SIZE);
      await workload(img, expected, 1000 + n, 150, true);
      checkClean(img);
      compareWith(img, expected);
      // A second session on the same image (qemu-io wrote into it in between).
      sh('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 5m 70k', img]);
      expected.fill(0x5a, 5 << 20, (5 << 20) + 70 * 1024);
      await workload(img, expected, 2000 + n, 60, true);
      checkClean(img);
      compareWith(img, expected);
    });
  });

  it('refcount table growth (512-byte clusters, 64-bit refcounts, 12 MiB written)', async () => {
    const img = 'grow.qcow2';
    const size = 16 << 20;
    await createQcow2(join(dir, img), { ...QCOW2_DEFAULTS, clusterSize: 512, refcountBits: 64, size });
    const node = await openImage(join(dir, img));
    const expected = new Uint8Array(size);
    const chunk = new Uint8Array(1 << 20);
    for (let m = 0; m < 12; m++) {
      chunk.fill(m + 1);
      await node.write(m << 20, chunk);
      expected.set(chunk, m << 20);
    }
    await node.close();
    checkClean(img);
    compareWith(img, expected);
  });

  it('copy-on-write over a backing chain, and over clusters shared with a snapshot', async () => {
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', 'base.qcow2', String(SIZE)]);
    sh('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x61 0 6m', 'base.qcow2']);
    const expected = new Uint8Array(SIZE).fill(0x61);
    for (const [img, o] of [
      ['ov3.qcow2', {}],
      ['ov2.qcow2', { version: 2 as const }],
      ['ovx.qcow2', { clusterSize: 32768, extendedL2: true }],
    ] as const) {
      await createQcow2(join(dir, img), { ...QCOW2_DEFAULTS, ...o, size: SIZE, backingFile: 'base.qcow2', backingFormat: 'qcow2' });
      const exp = expected.slice();
      await workload(img, exp, 77, 120, false);
      checkClean(img);
      const r = spawnSync('qemu-img', ['convert', '-O', 'raw', img, `${img}.raw`], { cwd: dir });
      expect(r.status).toBe(0);
      compareWith(img, exp);
    }
    // Internal snapshot by qemu-img: every cluster is shared, so writes must copy.
    sh('qemu-img', ['snapshot', '-c', 's1', 'base.qcow2']);
    const exp = expected.slice();
    await workload('base.qcow2', exp, 99, 80, true);
    checkClean('base.qcow2');
    compareWith('base.qcow2', exp);
    sh('qemu-img', ['snapshot', '-a', 's1', 'base.qcow2']);
    compareWith('base.qcow2', expected);
    checkClean('base.qcow2');
  });
});
