// Images created and written by qemu-img/qemu-io read back identically through the qcow2 driver.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../block/open.ts';
import { createQcow2, QCOW2_DEFAULTS } from '../block/qcow2/create.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-qcow2-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8' });
}

function qemuIo(img: string, cmds: string[], fmt = 'qcow2'): void {
  sh('qemu-io', ['-f', fmt, ...cmds.flatMap((c) => ['-c', c]), img]);
}

/** What qemu itself reads from the image, as a raw file's bytes. */
function qemuContent(img: string, size: number): Uint8Array {
  const out = join(dir, `${img}.expected.raw`);
  sh('qemu-img', ['convert', '-O', 'raw', img, out]);
  const b = new Uint8Array(readFileSync(out));
  expect(b.length).toBe(size);
  return b;
}

async function ourContent(img: string, size: number): Promise<Uint8Array> {
  const node = await openImage(join(dir, img), { readOnly: true });
  try {
    expect(node.length()).toBe(size);
    const buf = new Uint8Array(size);
    // Read in odd-sized pieces to cross cluster and subcluster edges.
    for (let pos = 0; pos < size; ) {
      const n = Math.min(size - pos, 77_777);
      await node.read(pos, buf.subarray(pos, pos + n));
      pos += n;
    }
    return buf;
  } finally {
    await node.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): void {
  expect(a.length).toBe(b.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  expect(i, `first difference at byte ${i}`).toBe(-1);
}

const SIZE = 4 << 20;
const WORKLOAD = [
  'write -P 0xab 0 64k',
  'write -P 0x11 100000 3000',
  'write -P 0x22 1m 200k',
  'write -z 1100k 64k',
  'write -P 0x33 2000000 1',
  'discard 1m 64k',
  'write -P 0x44 3m 1m',
  'write -z 3200k 8k',
];

describe('qcow2 images written by qemu-io read back identically', () => {
  const matrix: [string, string][] = [
    ['v3-64k', 'compat=1.1'],
    ['v2-64k', 'compat=0.10'],
    ['v3-512-rc1', 'cluster_size=512,refcount_bits=1'],
    ['v3-4k-rc64', 'cluster_size=4k,refcount_bits=64'],
    ['v3-2m-rc8', 'cluster_size=2M,refcount_bits=8'],
    ['v3-32k-extl2', 'cluster_size=32k,extended_l2=on'],
    ['v3-64k-lazy', 'lazy_refcounts=on'],
    ['v2-4k', 'compat=0.10,cluster_size=4k'],
  ];
  for (const [name, opts] of matrix) {
    it(name, async () => {
      const img = `${name}.qcow2`;
      sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', opts, img, String(SIZE)]);
      qemuIo(img, WORKLOAD);
      sameBytes(await ourContent(img, SIZE), qemuContent(img, SIZE));
    });
  }

  it('compressed clusters (qemu-img convert -c)', async () => {
    sh('qemu-img', ['create', '-q', '-f', 'raw', 'src.raw', String(SIZE)]);
    qemuIo('src.raw', ['write -P 0x55 0 300k', 'write -P 0x66 1m 64k', 'write -P 0x77 2m 100k'], 'raw');
    for (const cs of ['4k', '64k', '2M']) {
      const img = `comp-${cs}.qcow2`;
      sh('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', `cluster_size=${cs}`, 'src.raw', img]);
      sameBytes(await ourContent(img, SIZE), qemuContent(img, SIZE));
    }
  });

  it('backing chains with backing_fmt, relative names and a shorter base', async () => {
    sh('qemu-img', ['create', '-q', '-f', 'raw', 'base.raw', String(2 << 20)]);
    qemuIo('base.raw', ['write -P 0x01 0 2m'], 'raw');
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'mid.qcow2', String(3 << 20)]);
    qemuIo('mid.qcow2', ['write -P 0x02 64k 64k', 'write -z 256k 64k', 'write -P 0x03 2500k 10k']);
    sh('mkdir', ['-p', 'sub']);
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', '-b', '../mid.qcow2', '-F', 'qcow2', 'sub/top.qcow2', String(SIZE)]);
    qemuIo('sub/top.qcow2', ['write -P 0x04 70000 5000', 'write -z 0 4k', 'write -P 0x05 3900k 4k']);
    sameBytes(await ourContent('sub/top.qcow2', SIZE), qemuContent('sub/top.qcow2', SIZE));
    // Without backing_fmt the backing file is probed.
    await createQcow2(join(dir, 'probe.qcow2'), { ...QCOW2_DEFAULTS, size: 3 << 20, backingFile: 'mid.qcow2' });
    const node = await openImage(join(dir, 'probe.qcow2'), { readOnly: true });
    expect(node.backing?.driver).toBe('qcow2');
    expect(node.backing?.backing?.driver).toBe('raw');
    await node.close();
  });

  it('block status reports data, zero and unallocated runs with their depth', async () => {
    const node = await openImage(join(dir, 'sub/top.qcow2'), { readOnly: true });
    try {
      const s0 = await node.blockStatus(0, 4096);
      expect(s0).toMatchObject({ allocated: true, zero: true, data: false, depth: 0 });
      const s1 = await node.blockStatus(64 << 10, 4096);
      expect(s1).toMatchObject({ allocated: true, data: true, depth: 1 });
      const s2 = await node.blockStatus(1 << 20, 4096);
      expect(s2).toMatchObject({ allocated: true, data: true, depth: 2 });
      const s3 = await node.blockStatus(3200 << 10, 4096);
      expect(s3).toMatchObject({ allocated: false, zero: true, data: false });
    } finally {
      await node.close();
    }
  });
});
