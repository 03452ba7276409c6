// The file protocol and the raw format.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileNode } from '../block/file.ts';
import { openImage } from '../block/open.ts';
import { RawNode } from '../block/raw.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('file and raw', () => {
  it('creates sparse or preallocated files', async () => {
    for (const p of ['off', 'falloc', 'full'] as const) {
      const f = await FileNode.create(join(dir, `${p}.raw`), 1 << 20, p);
      expect(f.length()).toBe(1 << 20);
      const alloc = await f.allocatedSize();
      await f.close();
      if (p === 'off') expect(alloc).toBe(0);
      else expect(alloc).toBeGreaterThanOrEqual(1 << 20);
    }
  });

  it('reads, writes, zeroes, truncates and reports status through raw', async () => {
    const name = join(dir, 'a.raw');
    await (await FileNode.create(name, 100_000)).close();
    const node = await openImage(name);
    expect(node).toBeInstanceOf(RawNode);
    expect(node.length()).toBe(100_352); // rounded up to 512 like qemu
    await node.write(1000, new Uint8Array(5000).fill(9));
    await node.writeZeroes(2000, 1000);
    await node.flush();
    const b = new Uint8Array(6000);
    await node.read(0, b);
    expect(b.subarray(1000, 2000).every((v) => v === 9)).toBe(true);
    expect(b.subarray(2000, 3000).every((v) => v === 0)).toBe(true);
    expect(b.subarray(3000, 6000).every((v) => v === 9)).toBe(true);
    expect(await node.blockStatus(0, 4096)).toMatchObject({ allocated: true, data: true, depth: 0, length: 4096 });
    await node.truncate(1 << 20);
    expect(statSync(name).size).toBe(1 << 20);
    await expect(node.read(1 << 20, new Uint8Array(1))).rejects.toThrow(/past the end/);
    await node.close();
    const ro = await openImage(name, { readOnly: true });
    await expect(ro.write(0, new Uint8Array(1))).rejects.toThrow(/read-only/);
    await ro.close();
  });

  it('missing files give the host error', async () => {
    await expect(openImage(join(dir, 'nope'))).rejects.toThrow(/No such file or directory/);
  });
});
