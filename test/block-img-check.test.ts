// tsemu-img check against qemu-img check: images made by qemu-img/qemu-io (snapshots and
// persistent bitmaps included), damaged on purpose,
// each tool run on its own copy; same stdout, stderr and exit status, and after our repair
// qemu-img check sees what it sees after its own repair.
import { copyFileSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';
import { openImage } from '../block/open.ts';
import { FileNode } from '../block/file.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';
import { percent2 } from '../block/img/percent.ts';

const dir = scratchDir('tsemu-check-');


function qemu(cmd: string, ...args: string[]): Run {
  return runQemu(dir, cmd, ...args);
}

function ours(...args: string[]): Promise<Run> {
  return runOurs(dir, args);
}

/** Big-endian patching of an image file, with the offsets of its main tables. */
function patcher(name: string) {
  const fd = openSync(join(dir, name), 'r+');
  const b8 = Buffer.alloc(8);
  const u64 = (off: number): number => {
    readSync(fd, b8, 0, 8, off);
    return Number(b8.readBigUInt64BE(0));
  };
  const put = (off: number, bytes: Buffer): void => void writeSync(fd, bytes, 0, bytes.length, off);
  const be64 = (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };
  const l1 = u64(40);
  const reftable = u64(48);
  const refblock = u64(reftable);
  const l2 = u64(l1) & 0x00fffffffffffe00;
  return {
    setRefcount16: (cluster: number, v: number) => put(refblock + cluster * 2, Buffer.from([v >> 8, v & 0xff])),
    setL2: (i: number, v: bigint) => put(l2 + i * 8, be64(v)),
    setL1: (i: number, v: bigint) => put(l1 + i * 8, be64(v)),
    setReftable: (i: number, v: bigint) => put(reftable + i * 8, be64(v)),
    close: () => closeSync(fd),
  };
}

type Patcher = ReturnType<typeof patcher>;

const damages: [string, (p: Patcher) => void][] = [
  ['clean', () => {}],
  ['refcount of a data cluster dropped to 0', (p) => p.setRefcount16(5, 0)],
  ['refcount of a data cluster raised to 2', (p) => p.setRefcount16(5, 2)],
  ['two leaked clusters past the used ones', (p) => (p.setRefcount16(9, 1), p.setRefcount16(10, 1))],
  ['leak plus a refcount too small', (p) => (p.setRefcount16(9, 1), p.setRefcount16(6, 0))],
  ['L2 entry pointing past EOF', (p) => p.setL2(0, 0x8000000000a00000n)],
  ['L2 entry pointing far past EOF', (p) => p.setL2(0, 0x8000100000000000n)],
  ['unaligned L2 entry', (p) => p.setL2(0, 0x8000000000050200n)],
  ['unaligned L2 entry overhanging EOF', (p) => p.setL2(0, 0x8000000000080200n)],
  ['unaligned preallocated zero cluster', (p) => p.setL2(2, 0x8000000000070201n)],
  ['L2 entry without OFLAG_COPIED', (p) => p.setL2(0, 0x0000000000050000n)],
  ['L2 entry with reserved bits', (p) => p.setL2(0, 0x8100000000050000n)],
  ['L1 entry past EOF', (p) => p.setL1(0, 0x8000000000f00000n)],
  ['L1 entry without OFLAG_COPIED', (p) => p.setL1(0, 0x0000000000040000n)],
  ['refcount block outside the image', (p) => p.setReftable(0, 0x9990000n)],
  ['refcount block unaligned', (p) => p.setReftable(0, 0x30200n)],
];

describe('tsemu-img check', () => {
  beforeAll(() => {
    expect(qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'base.qcow2', '16M').code).toBe(0);
    const w = qemu('qemu-io', '-c', 'write -P 1 0 128k', '-c', 'write -c -P 2 1M 64k', '-c', 'write -P 3 3M 64k', '-c', 'write -c -P 4 4M 64k', '-c', 'write -z 5M 64k', 'base.qcow2');
    expect(w.code).toBe(0);
  });

  it('prints percentages like printf("%0.2f")', () => {
    expect(percent2(5, 256)).toBe('1.95');
    expect(percent2(3, 5)).toBe('60.00');
    expect(percent2(1, 800)).toBe('0.12'); // 0.125: a tie, to even
    expect(percent2(3, 800)).toBe('0.38');
    expect(percent2(0, 7)).toBe('0.00');
  });

  damages.forEach(([what, damage], n) => {
    it(`${what}: same report, exit status and repair as qemu-img`, async () => {
      for (const args of [[], ['--output=json'], ['-r', 'leaks'], ['-r', 'all']]) {
        // The file name is part of the output: both copies get the same name in turn.
        copyFileSync(join(dir, 'base.qcow2'), join(dir, `d${n}.qcow2`));
        const p = patcher(`d${n}.qcow2`);
        damage(p);
        p.close();
        copyFileSync(join(dir, `d${n}.qcow2`), join(dir, `d${n}.orig`));
        const q = qemu('qemu-img', 'check', ...args, `d${n}.qcow2`);
        const qAfter = qemu('qemu-img', 'check', `d${n}.qcow2`);
        copyFileSync(join(dir, `d${n}.orig`), join(dir, `d${n}.qcow2`));
        const t = await ours('check', ...args, `d${n}.qcow2`);
        const label = `${what} / ${args.join(' ')}`;
        if (what === 'refcount block unaligned' && args[0] === '-r') {
          // qemu marks the image corrupt and gives up ("No medium found"); we repair it.
          expect(t.code, label).toBe(args[1] === 'all' ? 0 : 1);
        } else {
          expect(t.err, label).toBe(q.err);
          expect(t.out, label).toBe(q.out);
          expect(t.code, label).toBe(q.code);
        }
        if (args[0] === '-r' && q.code !== 1) {
          const tAfter = qemu('qemu-img', 'check', `d${n}.qcow2`);
          expect(tAfter.out + tAfter.err, `${label}: qemu-img check after our repair`).toBe(qAfter.out + qAfter.err);
        }
      }
    });
  });

  it('other images: extended L2, 1- and 64-bit refcounts, snapshots, compat=0.10, lazy refcounts after a crash', async () => {
    const setups: [string, string[], string[]][] = [
      ['ext.qcow2', ['-o', 'extended_l2=on'], ['write -P 1 0 4k', 'write -P 2 100k 8k', 'write -z 1M 64k', 'write -c -P 3 2M 64k']],
      ['r1.qcow2', ['-o', 'refcount_bits=1,cluster_size=4k'], ['write -P 1 0 40k', 'write -c -P 9 1M 4k']],
      ['r64.qcow2', ['-o', 'refcount_bits=64'], ['write -P 1 0 40k']],
      ['v2.qcow2', ['-o', 'compat=0.10'], ['write -P 1 0 40k']],
    ];
    for (const [name, opts, writes] of setups) {
      qemu('qemu-img', 'create', '-q', '-f', 'qcow2', ...opts, name, '8M');
      qemu('qemu-io', ...writes.flatMap((c) => ['-c', c]), name);
    }
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'snap.qcow2', '8M');
    qemu('qemu-io', '-c', 'write -P 1 0 40k', 'snap.qcow2');
    qemu('qemu-img', 'snapshot', '-c', 'one', 'snap.qcow2');
    qemu('qemu-io', '-c', 'write -P 2 0 4k', '-c', 'write -P 3 3M 4k', 'snap.qcow2');
    qemu('qemu-img', 'snapshot', '-c', 'two', 'snap.qcow2');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'bitmaps.qcow2', '64M');
    qemu('qemu-io', '-c', 'write -P 1 0 1M', 'bitmaps.qcow2');
    qemu('qemu-img', 'bitmap', '--add', 'bitmaps.qcow2', 'b1');
    qemu('qemu-img', 'bitmap', '--add', '-g', '64k', 'bitmaps.qcow2', 'b2');
    qemu('qemu-io', '-c', 'write -P 2 2M 1M', 'bitmaps.qcow2');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', 'lazy.qcow2', '4M');
    qemu('qemu-io', '-c', 'write -P 5 0 64k', '-c', 'abort', 'lazy.qcow2');
    for (const name of ['ext.qcow2', 'r1.qcow2', 'r64.qcow2', 'v2.qcow2', 'snap.qcow2', 'bitmaps.qcow2', 'lazy.qcow2']) {
      for (const args of [[], ['--output=json'], ['-q']]) {
        const q = qemu('qemu-img', 'check', ...args, name);
        const t = await ours('check', ...args, name);
        expect(t, `${name} ${args.join(' ')}`).toEqual(q);
      }
    }
    copyFileSync(join(dir, 'lazy.qcow2'), join(dir, 'lazy2.qcow2'));
    const q = qemu('qemu-img', 'check', '-r', 'all', 'lazy.qcow2');
    const t = await ours('check', '-r', 'all', 'lazy2.qcow2');
    expect(t.out).toBe(q.out);
    expect(t.err).toBe(q.err);
    // Repaired and no longer dirty.
    expect(qemu('qemu-img', 'info', '--output=json', 'lazy2.qcow2').out).toContain('"dirty-flag": false');
    expect(qemu('qemu-img', 'check', 'lazy2.qcow2').code).toBe(0);
  });

  it('a dirty image (lazy refcounts, crashed) is repaired on read-write open, as qemu does', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', 'crash.qcow2', '4M');
    qemu('qemu-io', '-c', 'write -P 5 0 64k', '-c', 'write -P 6 1M 64k', '-c', 'abort', 'crash.qcow2');
    copyFileSync(join(dir, 'crash.qcow2'), join(dir, 'crash2.qcow2'));
    const q = qemu('qemu-io', '-c', 'read -P 5 0 64k', 'crash.qcow2');
    const lines: string[] = [];
    const file = await FileNode.open(join(dir, 'crash2.qcow2'), false);
    const node = await Qcow2Node.open(file, { readOnly: false, log: (l) => lines.push(l) });
    const buf = new Uint8Array(65536);
    await node.read(1 << 20, buf);
    expect(buf.every((b) => b === 6)).toBe(true);
    await node.close();
    expect(lines.join('\n') + '\n').toBe(q.err);
    for (const img of ['crash.qcow2', 'crash2.qcow2']) {
      expect(qemu('qemu-img', 'info', '--output=json', img).out).toContain('"dirty-flag": false');
    }
    expect(qemu('qemu-img', 'check', 'crash2.qcow2')).toEqual(qemu('qemu-img', 'check', 'crash.qcow2'));
    // Read-only opening leaves it alone.
    const again = await openImage(join(dir, 'crash.qcow2'), { readOnly: true });
    await again.close();
  });

  it('errors: raw images, missing files, bad -r values', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M');
    for (const args of [['r.raw'], ['-f', 'raw', 'base.qcow2'], ['nonexist.qcow2'], ['-r', 'foo', 'base.qcow2'], ['--output=xml', 'base.qcow2']]) {
      const q = qemu('qemu-img', 'check', ...args);
      const t = await ours('check', ...args);
      expect(t, args.join(' ')).toEqual(q);
    }
  });
});
