// Metadata overlap checks and the corrupt bit (qcow2 spec: incompatible feature bit 1). An L2
// entry is redirected onto metadata by editing bytes; the same write is then made by qemu-io on
// one copy and by tsemu's driver on a twin: both must refuse it with EIO, print the same message,
// set the corrupt bit, and leave images that qemu-img check reports identically.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlockError } from '../block/errors.ts';
import { FileNode } from '../block/file.ts';
import { MetadataRanges } from '../block/qcow2/overlap.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';
import { runOurs, runQemu, scratchDir } from './block-img-harness.ts';

const dir = scratchDir('tsemu-corrupt-');
const CS = 65536;

function ok(r: { code: number; err: string }): void {
  if (r.code !== 0) throw new Error(r.err);
}

/** A 4 MiB image with one data cluster (layout: header, reftable, refblock, L1, L2, data), L2[0] pointed at `cluster` with OFLAG_COPIED. */
function redirected(name: string, cluster: number): string {
  ok(runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', name, '4M'));
  ok(runQemu(dir, 'qemu-io', '-c', 'write -P 1 0 64k', name));
  const f = join(dir, name);
  const b = readFileSync(f);
  b.writeBigUInt64BE((1n << 63n) | BigInt(cluster * CS), 4 * CS);
  writeFileSync(f, b);
  return f;
}

function incompat(f: string): bigint {
  return readFileSync(f).readBigUInt64BE(72);
}

async function open(f: string, readOnly: boolean, log?: (l: string) => void): Promise<Qcow2Node> {
  return Qcow2Node.open(await FileNode.open(f, readOnly), { readOnly, log });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as BlockError).code ?? String(e);
  }
}

describe('qcow2 metadata overlap checks', () => {
  const kinds: [number, string][] = [
    [1, 'refcount table'],
    [2, 'refcount block'],
    [3, 'active L1 table'],
    [4, 'active L2 table'],
  ];
  for (const [cluster, kind] of kinds) {
    it(`refuses a data write onto the ${kind} and marks the image corrupt like qemu`, async () => {
      const ref = redirected(`ref${cluster}.qcow2`, cluster);
      const ours = join(dir, `ours${cluster}.qcow2`);
      copyFileSync(ref, ours);
      const q = runQemu(dir, 'qemu-io', '-c', 'write -P 2 0 4k', `ref${cluster}.qcow2`);
      expect(q.out).toContain('write failed: Input/output error');

      const lines: string[] = [];
      const node = await open(ours, false, (l) => lines.push(l));
      const before = readFileSync(ours);
      expect(await codeOf(node.write(0, new Uint8Array(4096).fill(2)))).toBe('EIO');
      // Once broken, every write is refused, including ones that are harmless; no second report.
      expect(await codeOf(node.write(CS, new Uint8Array(4096).fill(3)))).toBe('EIO');
      expect(await codeOf(node.writeZeroes(2 * CS, 4096))).toBe('EIO');
      await node.close();
      expect(lines).toEqual([
        `qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with ${kind}); further corruption events will be suppressed`,
      ]);
      expect(q.err.trim()).toBe(lines[0]);
      // The metadata was not touched; only the header's incompatible bits changed.
      const after = readFileSync(ours);
      expect(after.subarray(CS).equals(before.subarray(CS))).toBe(true);
      expect(incompat(ours)).toBe(incompat(ref));
      expect(incompat(ours) & 2n).toBe(2n);

      const info = runQemu(dir, 'qemu-img', 'info', ours);
      expect(info.out).toContain('corrupt: true');
      const cOurs = runQemu(dir, 'qemu-img', 'check', `ours${cluster}.qcow2`);
      const cRef = runQemu(dir, 'qemu-img', 'check', `ref${cluster}.qcow2`);
      expect(cOurs).toEqual(cRef);
      expect(cOurs.code).toBe(2);
      const tOurs = await runOurs(dir, ['check', `ours${cluster}.qcow2`]);
      expect(tOurs).toEqual(cRef);

      // Read-write opens are refused from now on; read-only ones work.
      expect(await codeOf(open(ours, false))).toBe('EACCES');
      const ro = await open(ours, true);
      const buf = new Uint8Array(4096);
      await ro.read(CS * 8, buf);
      await ro.close();
    });
  }

  it('refuses a metadata write onto other metadata (refcount block update over an L2 table)', async () => {
    // L1[0] names the refcount block as its L2 table; a write far into that table allocates,
    // and the refcount update would land on the "active L2 table".
    for (const name of ['mref.qcow2', 'mours.qcow2']) {
      ok(runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', name, '1G'));
      ok(runQemu(dir, 'qemu-io', '-c', 'write -P 1 0 64k', name));
      const f = join(dir, name);
      const b = readFileSync(f);
      b.writeBigUInt64BE((1n << 63n) | BigInt(2 * CS), 3 * CS);
      writeFileSync(f, b);
    }
    const q = runQemu(dir, 'qemu-io', '-c', 'write -P 2 62500k 4k', 'mref.qcow2');
    expect(q.out).toContain('write failed: Input/output error');
    const lines: string[] = [];
    const f = join(dir, 'mours.qcow2');
    const node = await open(f, false, (l) => lines.push(l));
    // Refcounts reach the disk at the next flush here (qemu: during the write).
    const w = await codeOf(node.write(62500 * 1024, new Uint8Array(4096).fill(2)));
    const fl = await codeOf(node.flush());
    expect([w, fl]).toContain('EIO');
    // Same damage left behind as qemu's (the refcount block write was dropped in both).
    expect(runQemu(dir, 'qemu-img', 'check', 'mours.qcow2')).toEqual(runQemu(dir, 'qemu-img', 'check', 'mref.qcow2'));
    await codeOf(node.close());
    expect(lines).toEqual([q.err.trim()]);
    expect(lines[0]).toContain('(overlaps with active L2 table)');
    expect(incompat(f) & 2n).toBe(2n);
    expect(runQemu(dir, 'qemu-img', 'check', 'mours.qcow2').code).toBe(2);
    expect(await codeOf(open(f, false))).toBe('EACCES');
  });

  it('finds overlaps with every kind of range, header included', () => {
    const m = MetadataRanges.build([
      { offset: 0, bytes: CS, kind: 'qcow2_header' },
      { offset: 3 * CS, bytes: 8 * 1024, kind: 'active L1 table' },
      { offset: 1 * CS, bytes: CS, kind: 'refcount table' },
      { offset: 2 * CS, bytes: CS, kind: 'refcount block' },
      { offset: 9 * CS, bytes: CS, kind: 'active L2 table' },
      { offset: 20 * CS, bytes: 100, kind: 'snapshot table' },
      { offset: 30 * CS, bytes: 16, kind: 'inactive L1 table' },
    ]);
    expect(m.overlap(512, 512)).toBe('qcow2_header');
    expect(m.overlap(CS - 1, 2)).toBe('qcow2_header');
    expect(m.overlap(3 * CS + 8191, 1)).toBe('active L1 table');
    expect(m.overlap(3 * CS + 8192, CS - 8192)).toBeNull();
    expect(m.overlap(4 * CS, 5 * CS)).toBeNull();
    expect(m.overlap(4 * CS, 5 * CS + 1)).toBe('active L2 table');
    expect(m.overlap(20 * CS + 99, 10)).toBe('snapshot table');
    expect(m.overlap(20 * CS + 100, 10)).toBeNull();
    expect(m.overlap(29 * CS, 2 * CS)).toBe('inactive L1 table');
    expect(m.overlap(10 * CS, 10 * CS)).toBeNull();
  });

  it('keeps ordinary writes working (new L2 tables, refcount blocks and a moved L1 table are not data)', async () => {
    ok(runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', 'plain.qcow2', '64M'));
    const f = join(dir, 'plain.qcow2');
    const lines: string[] = [];
    const node = await open(f, false, (l) => lines.push(l));
    const data = new Uint8Array(3 * 4096 + 100);
    for (let i = 0; i < 200; i++) {
      data.fill(i & 0xff);
      await node.write(((i * 7919) % 16000) * 4096 + (i % 3) * 1000, data);
      if (i % 50 === 0) await node.flush();
    }
    await node.close();
    expect(lines).toEqual([]);
    expect(incompat(f) & 2n).toBe(0n);
    expect(runQemu(dir, 'qemu-img', 'check', 'plain.qcow2').code).toBe(0);
  });

  it('check -r all clears the corrupt bit of a consistent image, like qemu-img', async () => {
    for (const name of ['cl-ref.qcow2', 'cl-ours.qcow2']) {
      ok(runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', name, '4M'));
      ok(runQemu(dir, 'qemu-io', '-c', 'write -P 1 0 64k', name));
      const f = join(dir, name);
      const b = readFileSync(f);
      b.writeBigUInt64BE(b.readBigUInt64BE(72) | 2n, 72);
      writeFileSync(f, b);
    }
    const ref = runQemu(dir, 'qemu-img', 'check', '-r', 'all', 'cl-ref.qcow2');
    const ours = await runOurs(dir, ['check', '-r', 'all', 'cl-ours.qcow2']);
    expect(ours).toEqual(ref);
    expect(incompat(join(dir, 'cl-ours.qcow2'))).toBe(incompat(join(dir, 'cl-ref.qcow2')));
    expect(incompat(join(dir, 'cl-ours.qcow2')) & 2n).toBe(0n);
    const node = await open(join(dir, 'cl-ours.qcow2'), false);
    await node.write(0, new Uint8Array(512).fill(9));
    await node.close();
  });
});
