// Malformed qcow2 files give clear errors: no crash, no hang, no huge allocation.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockError } from '../block/errors.ts';
import { openImage } from '../block/open.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-malformed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = join(dir, 'good.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', good, '4M']);
execFileSync('qemu-io', ['-c', 'write -P 7 0 128k', good]);

let n = 0;
/** A copy of the good image with `edit` applied; returns the error opening+reading gives. */
async function broken(edit: (b: Buffer) => Buffer, readOnly = true): Promise<string> {
  const p = join(dir, `bad${n++}.qcow2`);
  writeFileSync(p, edit(Buffer.from(readFileSync(good))));
  try {
    const node = await openImage(p, { readOnly, format: 'qcow2' });
    try {
      const buf = new Uint8Array(256 << 10);
      await node.read(0, buf);
      if (!readOnly) await node.write(1 << 20, new Uint8Array(4096).fill(1));
    } finally {
      await node.close().catch(() => {});
    }
  } catch (e) {
    expect(e).toBeInstanceOf(BlockError);
    return (e as Error).message;
  }
  return 'no error';
}

const u32 = (b: Buffer, pos: number, v: number): Buffer => (b.writeUInt32BE(v >>> 0, pos), b);
const u64 = (b: Buffer, pos: number, v: bigint): Buffer => (b.writeBigUInt64BE(v, pos), b);

describe('malformed qcow2 images', () => {
  it('truncated header', async () => {
    expect(await broken((b) => b.subarray(0, 50))).toMatch(/truncated/);
    expect(await broken((b) => b.subarray(0, 90))).toMatch(/truncated/);
  });
  it('bad version, cluster size, header length, refcount order', async () => {
    expect(await broken((b) => u32(b, 4, 9))).toMatch(/Unsupported qcow2 version 9/);
    expect(await broken((b) => u32(b, 20, 30))).toMatch(/Unsupported cluster size/);
    expect(await broken((b) => u32(b, 100, 101))).toMatch(/header length/);
    expect(await broken((b) => u32(b, 96, 7))).toMatch(/Refcount order/);
  });
  it('unknown incompatible feature bits are refused with the feature name or mask', async () => {
    expect(await broken((b) => u64(b, 72, 0x80n))).toBe('Unsupported qcow2 feature(s): Unknown incompatible feature: 80');
  });
  it('L1 table past EOF, unaligned or huge', async () => {
    expect(await broken((b) => u64(b, 40, 0x7fff0000n))).toMatch(/L1 table lies past the end/);
    expect(await broken((b) => u64(b, 40, 0x30008n))).toMatch(/L1 table offset invalid/);
    expect(await broken((b) => u32(b, 36, 0x7fffffff))).toMatch(/L1 table too large/);
    expect(await broken((b) => u32(b, 36, 0))).toMatch(/L1 table is too small/);
  });
  it('huge sizes and tables', async () => {
    expect(await broken((b) => u64(b, 24, 0xffffffffffffffffn))).toMatch(/Image size is too large/);
    expect(await broken((b) => u32(b, 56, 0x100000))).toMatch(/Reference count table too large/);
    expect(await broken((b) => u64(b, 48, 0x12345n))).toMatch(/Reference count table offset invalid/);
  });
  it('L2 table offsets and cluster offsets that are unaligned or past EOF', async () => {
    // L1[0] at 0x30000 points to the L2 table at 0x40000; L2[0] is the first data cluster.
    expect(await broken((b) => u64(b, 0x30000, 0x8000000000040200n))).toMatch(/L2 table offset 0x40200 unaligned/);
    expect(await broken((b) => u64(b, 0x30000, 0x8000000700000000n))).toMatch(/L2 table offset .* past the end/);
    expect(await broken((b) => u64(b, 0x40000, 0x8000000000050200n))).toMatch(/Cluster allocation offset 0x50200 unaligned/);
  });
  it('compressed descriptors pointing past EOF or at garbage', async () => {
    expect(await broken((b) => u64(b, 0x40000, 0x4000000700000000n))).toMatch(/compressed cluster/);
    expect(await broken((b) => u64(b, 0x40000, 0x4000000000000000n | 0x200n))).toMatch(/compressed cluster/);
  });
  it('backing file name too long or outside the header cluster', async () => {
    expect(await broken((b) => u32(u64(b, 8, 0x200n), 16, 5000))).toMatch(/Backing file name too long/);
    expect(await broken((b) => u32(u64(b, 8, 0xfff0n), 16, 100))).toMatch(/Invalid backing file offset/);
  });
  it('corrupt images refuse read-write opening but read fine; dirty ones are repaired', async () => {
    expect(await broken((b) => u64(b, 72, 2n), false)).toBe('qcow2: Image is corrupt; cannot be opened read/write');
    expect(await broken((b) => u64(b, 72, 2n), true)).toBe('no error');
    expect(await broken((b) => u64(b, 72, 1n), false)).toBe('no error');
  });
  it('a refcount block past EOF is an error when allocating', async () => {
    expect(await broken((b) => u64(b, 0x10000, 0x7770000n), false)).toMatch(/Refcount block offset/);
  });
  it('a header extension running past the cluster', async () => {
    expect(await broken((b) => u32(b, 0x74, 0xfffffff0))).toMatch(/extension .* too large/);
  });
  it('the good image still opens', async () => {
    copyFileSync(good, join(dir, 'copy.qcow2'));
    expect(await broken((b) => b, false)).toBe('no error');
  });
});
