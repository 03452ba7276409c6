// tsemu-img convert and compressed cluster writes: every output passes `qemu-img check` and
// `qemu-img compare` finds it equal to the source; plain conversions are byte-identical to
// qemu-img convert's output; errors are qemu-img's.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';
import { openImage } from '../block/open.ts';
import { Progress } from '../block/img/progress.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';

const dir = scratchDir('tsemu-convert-');


function qemu(cmd: string, ...args: string[]): Run {
  return runQemu(dir, cmd, ...args);
}

function ours(...args: string[]): Promise<Run> {
  return runOurs(dir, args);
}

function checkClean(img: string): void {
  const r = qemu('qemu-img', 'check', img);
  expect(r.out + r.err, img).toMatch(/^No errors were found on the image\./);
  expect(r.code, img).toBe(0);
}

function identical(a: string, b: string, ...fmt: string[]): void {
  const r = qemu('qemu-img', 'compare', ...fmt, a, b);
  expect(r.out, `${a} vs ${b}`).toBe('Images are identical.\n');
  expect(r.code).toBe(0);
}

const bytes = (name: string): Buffer => readFileSync(join(dir, name));

/** mulberry32, so the data replays. */
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

beforeAll(() => {
  // A raw source with incompressible, compressible and zero parts, and a size that is not a
  // multiple of 64 KiB.
  const rnd = prng(7);
  const src = new Uint8Array(3 * 1024 * 1024 + 5 * 512);
  for (let i = 0; i < 1 << 20; i++) src[i] = (rnd() * 256) | 0;
  for (let i = 3 << 19; i < 5 << 19; i++) src[i] = (i >> 6) & 0x7f;
  src.fill(0x41, src.length - 3000);
  writeFileSync(join(dir, 'src.raw'), src);
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'src.qcow2', '8M');
  qemu('qemu-io', '-c', 'write -P 1 0 128k', '-c', 'write -z 1M 64k', '-c', 'write -c -P 2 2M 64k', '-c', 'write -P 3 3M 4k', 'src.qcow2');
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', 'ext.qcow2', '8M');
  qemu('qemu-io', '-c', 'write -P 1 0 4k', '-c', 'write -P 2 100k 8k', '-c', 'write -z 1M 64k', 'ext.qcow2');
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'src.qcow2', '-F', 'qcow2', 'ov.qcow2', '16M');
  qemu('qemu-io', '-c', 'write -P 7 64k 64k', '-c', 'write -z 3M 64k', '-c', 'write -P 8 12M 64k', 'ov.qcow2');
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'ov.qcow2', '-F', 'qcow2', 'ov2.qcow2');
  qemu('qemu-io', '-c', 'write -P 9 1M 4k', '-c', 'write -z 0 4k', 'ov2.qcow2');
});

describe('tsemu-img convert', () => {
  const plain: [string, string[]][] = [
    ['src.raw', ['-O', 'qcow2']],
    ['src.raw', ['-O', 'qcow2', '-o', 'cluster_size=4k,refcount_bits=8']],
    ['src.raw', ['-O', 'qcow2', '-o', 'compat=0.10']],
    ['src.qcow2', ['-O', 'raw']],
    ['src.qcow2', ['-O', 'qcow2']],
    ['ext.qcow2', ['-O', 'qcow2', '-o', 'extended_l2=on']],
    ['ov2.qcow2', ['-O', 'qcow2']],
    ['ov2.qcow2', []],
    ['ov2.qcow2', ['-O', 'qcow2', '-B', 'ov.qcow2', '-F', 'qcow2']],
    ['ov2.qcow2', ['-O', 'qcow2', '-o', 'backing_file=ov.qcow2,backing_fmt=qcow2']],
    ['src.raw', ['-O', 'raw', '-S', '0']],
    ['src.qcow2', ['-O', 'qcow2', '-S', '0']],
    ['src.raw', ['-O', 'qcow2', '-S', '64k', '-o', 'cluster_size=4k']],
  ];
  plain.forEach(([src, opts], n) => {
    it(`${src} ${opts.join(' ')}: byte-identical to qemu-img convert's output`, async () => {
      const t = await ours('convert', ...opts, src, `t${n}.img`);
      expect(t).toEqual({ out: '', err: '', code: 0 });
      expect(qemu('qemu-img', 'convert', ...opts, src, `q${n}.img`).code).toBe(0);
      expect(Buffer.compare(bytes(`t${n}.img`), bytes(`q${n}.img`))).toBe(0);
      identical(src, `t${n}.img`);
      if (opts.includes('qcow2')) checkClean(`t${n}.img`);
    });
  });

  const compressed: [string, string[]][] = [
    ['src.raw', []],
    ['src.raw', ['-o', 'cluster_size=4k']],
    ['src.raw', ['-o', 'cluster_size=512,refcount_bits=1']],
    ['src.raw', ['-o', 'cluster_size=2M,refcount_bits=64']],
    ['src.raw', ['-o', 'extended_l2=on,cluster_size=32k']],
    ['src.raw', ['-o', 'compat=0.10']],
    ['src.qcow2', []],
    ['ov2.qcow2', []],
    ['ov2.qcow2', ['-B', 'ov.qcow2', '-F', 'qcow2']],
  ];
  compressed.forEach(([src, opts], n) => {
    it(`-c ${src} ${opts.join(' ')}: clean, identical, compressed like qemu-img's`, async () => {
      const t = await ours('convert', '-c', '-O', 'qcow2', ...opts, src, `c${n}.qcow2`);
      expect(t).toEqual({ out: '', err: '', code: 0 });
      checkClean(`c${n}.qcow2`);
      identical(src, `c${n}.qcow2`);
      // The same clusters are compressed, plain or absent as in qemu-img's own output.
      qemu('qemu-img', 'convert', '-c', '-O', 'qcow2', ...opts, src, `cq${n}.qcow2`);
      const shape = (img: string): string => qemu('qemu-img', 'map', '--output=json', img).out.replace(/, "offset": \d+/g, '');
      expect(shape(`c${n}.qcow2`)).toBe(shape(`cq${n}.qcow2`));
      const size = statSync(join(dir, `c${n}.qcow2`)).size;
      expect(size).toBeLessThan(statSync(join(dir, `cq${n}.qcow2`)).size * 1.1 + 65536);
    });
  });

  it('-n into an existing image, several sources, -p without a terminal', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'full.qcow2', '16M');
    qemu('qemu-io', '-c', 'write -P 0x55 0 16M', 'full.qcow2');
    expect((await ours('convert', '-n', '-O', 'qcow2', 'ov2.qcow2', 'full.qcow2')).code).toBe(0);
    checkClean('full.qcow2');
    identical('ov2.qcow2', 'full.qcow2');
    qemu('qemu-io', '-c', 'write -P 0x55 0 16M', 'full.qcow2');
    expect((await ours('convert', '-n', '-c', '-O', 'qcow2', 'ov2.qcow2', 'full.qcow2')).code).toBe(0);
    checkClean('full.qcow2');
    identical('ov2.qcow2', 'full.qcow2');

    const t = await ours('convert', '-p', '-O', 'qcow2', 'src.qcow2', 'src.raw', 'cat.qcow2');
    expect(t).toEqual({ out: '', err: '', code: 0 });
    qemu('qemu-img', 'convert', '-O', 'qcow2', 'src.qcow2', 'src.raw', 'catq.qcow2');
    expect(Buffer.compare(bytes('cat.qcow2'), bytes('catq.qcow2'))).toBe(0);
  });

  it('errors as qemu-img reports them', async () => {
    const cases: string[][] = [
      ['-c', '-O', 'raw', 'src.qcow2', 'e1.raw'],
      ['-O', 'qcow2', '-B', 'src.qcow2', 'ov.qcow2', 'e2.qcow2'],
      ['-S', '1000', 'src.qcow2', 'e3.raw'],
      ['src.qcow2', '/nonexist/e4.raw'],
      ['-n', 'src.qcow2', 'e5.raw'],
      ['-O', 'qcow2', '-o', 'foo=bar', 'src.qcow2', 'e6.qcow2'],
      ['-O', 'vmdkx', 'src.qcow2', 'e7'],
      ['nonexist', 'e8.raw'],
      ['src.qcow2'],
      ['-n', 'ov2.qcow2', 'src.raw'],
    ];
    for (const args of cases) {
      expect(await ours('convert', ...args), args.join(' ')).toEqual(qemu('qemu-img', 'convert', ...args));
    }
  });
});

describe('compressed cluster writes in the qcow2 driver', () => {
  it('packs clusters, stores incompressible ones plainly, and survives overwrites, zeroes and discards', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', 'cw.qcow2', '1M');
    const size = 1 << 20;
    const expected = new Uint8Array(size);
    const node = (await openImage(join(dir, 'cw.qcow2'))) as Qcow2Node;
    const rnd = prng(3);
    for (let c = 0; c < 256; c++) {
      const data = new Uint8Array(4096);
      if (c % 5 === 0) for (let i = 0; i < 4096; i++) data[i] = (rnd() * 256) | 0;
      else data.fill(c, 0, 100 + c * 10);
      await node.writeCompressed(c * 4096, data);
      expected.set(data, c * 4096);
    }
    await node.flush();
    for (let i = 0; i < 300; i++) {
      const off = Math.floor(rnd() * (size - 9000));
      const len = 1 + Math.floor(rnd() * 9000);
      const r = rnd();
      if (r < 0.4) {
        const d = new Uint8Array(len).fill(1 + (i % 250));
        await node.write(off, d);
        expected.set(d, off);
      } else if (r < 0.6) {
        await node.writeZeroes(off, len, rnd() < 0.5);
        expected.fill(0, off, off + len);
      } else if (r < 0.7) {
        await node.discard(off, len);
        const from = Math.ceil(off / 4096) * 4096;
        const to = Math.floor((off + len) / 4096) * 4096;
        if (to > from) expected.fill(0, from, to);
      } else {
        const c = Math.floor(rnd() * 256);
        const d = new Uint8Array(4096).fill(c ^ 0x5a, 0, 2000);
        await node.writeCompressed(c * 4096, d);
        expected.set(d, c * 4096);
      }
      if (rnd() < 0.05) await node.flush();
    }
    const back = new Uint8Array(size);
    await node.read(0, back);
    expect(Buffer.compare(back, expected)).toBe(0);
    await node.close();
    checkClean('cw.qcow2');
    writeFileSync(join(dir, 'cw.expected'), expected);
    identical('cw.qcow2', 'cw.expected', '-F', 'raw');
  });

  it('rejects partial clusters; zstd images take compressed writes (test/block-qcow2-zstd.test.ts has more)', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'zs.qcow2', '1M');
    const node = (await openImage(join(dir, 'zs.qcow2'))) as Qcow2Node;
    await expect(node.writeCompressed(512, new Uint8Array(65536))).rejects.toThrow(/whole cluster/);
    await node.writeCompressed(0, new Uint8Array(65536).fill(1));
    await node.close();
    checkClean('zs.qcow2');
    const r = qemu('qemu-io', '-r', '-c', 'read -P 1 0 64k', 'zs.qcow2');
    expect(r.out).not.toMatch(/fail|Pattern verification/i);
    expect(qemu('qemu-img', 'map', '--output=json', 'zs.qcow2').out).toContain('"start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true}');
  });
});

describe('progress line', () => {
  it('redraws on whole-percent changes and ends with a newline; silent when disabled', () => {
    let text = '';
    const p = new Progress(true, (s) => void (text += s));
    p.update(0, 1000);
    p.update(1, 1000);
    p.update(15, 1000);
    p.update(1000, 1000);
    p.finish();
    expect(text).toBe('    (0.00/100%)\r    (1.50/100%)\r    (100.00/100%)\r    (100.00/100%)\n');
    let none = '';
    const q = new Progress(false, (s) => void (none += s));
    q.update(5, 10);
    q.finish();
    expect(none).toBe('');
  });
});
