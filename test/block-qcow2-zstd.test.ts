// qcow2 compression_type=zstd (issue 3): images qemu-img writes with zstd read back identically
// through tsemu; images tsemu writes with zstd pass `qemu-img check` and compare equal to their
// source; create, info and check print what qemu-img prints; hand-made clusters (several frames,
// skippable frames, bytes after the frame) read as qemu reads them, and damaged zstd data is an
// EIO error in both, never a crash.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress as zstdCompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';
import { BlockError } from '../block/errors.ts';
import { openImage } from '../block/open.ts';
import { Qcow2Node } from '../block/qcow2/qcow2.ts';

const dir = scratchDir('tsemu-zstd-');

function qemu(cmd: string, ...args: string[]): Run {
  return runQemu(dir, cmd, ...args);
}

function ours(...args: string[]): Promise<Run> {
  return runOurs(dir, args);
}

const bytes = (name: string): Buffer => readFileSync(join(dir, name));

function checkClean(img: string): void {
  const r = qemu('qemu-img', 'check', img);
  expect(r.out + r.err, img).toMatch(/^No errors were found on the image\./);
  expect(r.code, img).toBe(0);
}

function identical(a: string, b: string): void {
  const r = qemu('qemu-img', 'compare', a, b);
  expect(r.out, `${a} vs ${b}`).toBe('Images are identical.\n');
  expect(r.code).toBe(0);
}

/** info (human and JSON) and check output equal to qemu-img's; disk size aside. */
async function sameInfoAndCheck(img: string): Promise<void> {
  const strip = (s: string): string => s.replace(/^disk size: .*\n/m, '').replace(/^ *"actual-size": \d+,\n/m, '');
  for (const extra of [[], ['--output=json']]) {
    const q = qemu('qemu-img', 'info', ...extra, img);
    const t = await ours('info', ...extra, img);
    expect(q.code).toBe(0);
    expect(strip(t.out), `info ${extra.join(' ')} ${img}`).toBe(strip(q.out));
    expect(t.code).toBe(0);
  }
  expect(qemu('qemu-img', 'info', img).out).toContain('    compression type: zstd\n');
  expect(await ours('check', img), `check ${img}`).toEqual(qemu('qemu-img', 'check', img));
}

/** Reads the whole virtual disk through tsemu's driver. */
async function readAll(img: string): Promise<Uint8Array> {
  const node = await openImage(join(dir, img), { readOnly: true });
  try {
    const out = new Uint8Array(node.length());
    await node.read(0, out);
    return out;
  } finally {
    await node.close();
  }
}

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

function randomBytes(rnd: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

let src: Uint8Array;

beforeAll(async () => {
  await zstdInit();
  // Incompressible, compressible, zero and text-like parts; the size is not a multiple of any
  // cluster size above 512, so the last cluster is short.
  const rnd = prng(11);
  src = new Uint8Array(3 * 1024 * 1024 + 7 * 512);
  src.set(randomBytes(rnd, 1 << 20));
  for (let i = 3 << 19; i < 5 << 19; i++) src[i] = (i >> 5) & 0x3f;
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog 0123456789\n');
  for (let i = 5 << 19; i < 6 << 19; i++) src[i] = text[i % text.length]! ^ ((i >> 12) & 1);
  src.fill(0x41, src.length - 3000);
  writeFileSync(join(dir, 'src.raw'), src);
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'zlib.qcow2', '4M');
  qemu('qemu-io', '-c', 'write -c -P 1 0 64k', '-c', 'write -P 2 1M 64k', 'zlib.qcow2');
});

describe('tsemu-img create -o compression_type', () => {
  it('output and image bytes as qemu-img create gives them', async () => {
    const cases = ['compression_type=zstd', 'compression_type=zstd,cluster_size=16k,extended_l2=on', 'compat=1.1,compression_type=zstd,refcount_bits=1'];
    for (const [n, o] of cases.entries()) {
      const name = `n${n}.qcow2`;
      const t = await ours('create', '-f', 'qcow2', '-o', o, name, '5M');
      const mine = bytes(name);
      expect(t, o).toEqual(qemu('qemu-img', 'create', '-f', 'qcow2', '-o', o, name, '5M'));
      expect(t.code).toBe(0);
      expect(Buffer.compare(mine, bytes(name)), o).toBe(0);
      await sameInfoAndCheck(name);
    }
  });

  it('errors as qemu-img gives them, from create and from convert', async () => {
    const opts = ['compat=0.10,compression_type=zstd', 'compat=v2,compression_type=zstd', 'compression_type=lz4', 'compression_type=ZSTD', 'compat=foo,compression_type=lz4', 'compat=0.10,compression_type=lz4', 'compression_type='];
    for (const o of opts) {
      expect(await ours('create', '-f', 'qcow2', '-o', o, 'e.qcow2', '1M'), o).toEqual(qemu('qemu-img', 'create', '-f', 'qcow2', '-o', o, 'e.qcow2', '1M'));
      expect(await ours('convert', '-c', '-O', 'qcow2', '-o', o, 'src.raw', 'e.qcow2'), o).toEqual(qemu('qemu-img', 'convert', '-c', '-O', 'qcow2', '-o', o, 'src.raw', 'e.qcow2'));
    }
  });
});

describe('reading zstd images qemu-img wrote', () => {
  const opts = ['', ',cluster_size=512', ',cluster_size=4k,refcount_bits=1', ',cluster_size=2M', ',extended_l2=on,cluster_size=32k'];
  opts.forEach((o, n) => {
    it(`qemu-img convert -c -o compression_type=zstd${o}: reads as the source`, async () => {
      const r = qemu('qemu-img', 'convert', '-c', '-O', 'qcow2', '-o', `compression_type=zstd${o}`, 'src.raw', `q${n}.qcow2`);
      expect(r.code, r.err).toBe(0);
      const back = await readAll(`q${n}.qcow2`);
      expect(back.length).toBe(src.length);
      expect(Buffer.compare(back, src)).toBe(0);
      expect(await ours('compare', 'src.raw', `q${n}.qcow2`)).toEqual({ out: 'Images are identical.\n', err: '', code: 0 });
      expect((await ours('convert', '-O', 'raw', `q${n}.qcow2`, `q${n}.raw`)).code).toBe(0);
      expect(Buffer.compare(bytes(`q${n}.raw`), Buffer.from(src))).toBe(0);
      await sameInfoAndCheck(`q${n}.qcow2`);
    });
  });

  it('clusters written one by one with qemu-io write -c, the short last one included', async () => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd,cluster_size=4k', 'io.qcow2', '1001k');
    const r = qemu('qemu-io', '-c', 'write -c -P 7 0 4k', '-c', 'write -c -P 9 996k 4k', '-c', 'write -c -P 3 1000k 1k', '-c', 'write -P 5 8k 4k', 'io.qcow2');
    expect(r.code, r.err).toBe(0);
    const back = await readAll('io.qcow2');
    const want = new Uint8Array(1001 << 10);
    want.fill(7, 0, 4096);
    want.fill(5, 8192, 12288);
    want.fill(9, 996 << 10, 1000 << 10);
    want.fill(3, 1000 << 10);
    expect(Buffer.compare(back, want)).toBe(0);
  });
});

describe('writing zstd images', () => {
  const opts = ['', ',cluster_size=512,refcount_bits=1', ',cluster_size=4k', ',cluster_size=2M,refcount_bits=64', ',extended_l2=on,cluster_size=32k'];
  opts.forEach((o, n) => {
    it(`tsemu-img convert -c -o compression_type=zstd${o}: clean, identical, compressed like qemu-img's`, async () => {
      const t = await ours('convert', '-c', '-O', 'qcow2', '-o', `compression_type=zstd${o}`, 'src.raw', `t${n}.qcow2`);
      expect(t).toEqual({ out: '', err: '', code: 0 });
      checkClean(`t${n}.qcow2`);
      identical('src.raw', `t${n}.qcow2`);
      qemu('qemu-img', 'convert', '-c', '-O', 'qcow2', '-o', `compression_type=zstd${o}`, 'src.raw', `tq${n}.qcow2`);
      const shape = (img: string): string => qemu('qemu-img', 'map', '--output=json', img).out.replace(/, "offset": \d+/g, '');
      expect(shape(`t${n}.qcow2`)).toBe(shape(`tq${n}.qcow2`));
      await sameInfoAndCheck(`t${n}.qcow2`);
      // qemu's own reader agrees byte for byte.
      expect(qemu('qemu-img', 'convert', '-O', 'raw', `t${n}.qcow2`, `t${n}.raw`).code).toBe(0);
      expect(Buffer.compare(bytes(`t${n}.raw`), Buffer.from(src))).toBe(0);
    });
  });

  it('between zlib and zstd images, both ways', async () => {
    expect((await ours('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', 'zlib.qcow2', 'zs.qcow2')).code).toBe(0);
    checkClean('zs.qcow2');
    identical('zlib.qcow2', 'zs.qcow2');
    expect(qemu('qemu-img', 'info', 'zs.qcow2').out).toContain('compression type: zstd');
    expect((await ours('convert', '-c', '-O', 'qcow2', 'zs.qcow2', 'zl.qcow2')).code).toBe(0);
    checkClean('zl.qcow2');
    identical('zlib.qcow2', 'zl.qcow2');
    expect(qemu('qemu-img', 'info', 'zl.qcow2').out).toContain('compression type: zlib');
  });

  it('compressed writes through the driver, overwrites of compressed clusters, the short last cluster', async () => {
    const size = (1 << 20) + 1536;
    expect((await ours('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd,cluster_size=4k', 'drv.qcow2', String(size))).code).toBe(0);
    const node = (await openImage(join(dir, 'drv.qcow2'))) as Qcow2Node;
    const want = new Uint8Array(size);
    const rnd = prng(5);
    const clusters = Math.ceil(size / 4096);
    for (let c = 0; c < clusters; c++) {
      const n = Math.min(4096, size - c * 4096);
      const d = c % 7 === 0 ? randomBytes(rnd, n) : new Uint8Array(n).fill(c & 0xff, 0, Math.min(n, 64 + c * 3));
      await node.writeCompressed(c * 4096, d);
      want.set(d, c * 4096);
    }
    for (let i = 0; i < 40; i++) {
      const off = Math.floor(rnd() * (size - 6000));
      const d = new Uint8Array(1 + Math.floor(rnd() * 6000)).fill(0x80 + i);
      await node.write(off, d);
      want.set(d, off);
    }
    await node.writeCompressed(8 * 4096, new Uint8Array(4096).fill(0x11));
    want.fill(0x11, 8 * 4096, 9 * 4096);
    const back = new Uint8Array(size);
    await node.read(0, back);
    expect(Buffer.compare(back, want)).toBe(0);
    await node.close();
    writeFileSync(join(dir, 'drv.raw'), want);
    checkClean('drv.qcow2');
    identical('drv.raw', 'drv.qcow2');
    const q = qemu('qemu-io', '-r', '-c', `read -P 0x11 ${8 * 4096} 4k`, '-c', `read -P ${want[size - 1]} ${size - 1} 1`, 'drv.qcow2');
    expect(q.out).not.toMatch(/fail|Pattern verification/i);
  });
});

// ---- hand-made compressed clusters ----

/** zstd frames (RFC 8878 3.1.1) built by hand: raw blocks, optional content size. */
function rawFrame(content: Uint8Array, contentSize: number | null): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd];
  if (contentSize === null) parts.push(0x00, 0x58); // no FCS, not single segment; window 8 MiB
  else parts.push(0xa0, ...[0, 8, 16, 24].map((s) => (contentSize >>> s) & 0xff)); // single segment, 4-byte FCS
  for (let at = 0; at < content.length || at === 0; ) {
    const n = Math.min(content.length - at, 65536);
    const last = at + n >= content.length ? 1 : 0;
    const bh = last | (n << 3); // Raw_Block
    parts.push(bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff, ...content.subarray(at, at + n));
    at += n;
    if (n === 0) break;
  }
  return Uint8Array.from(parts);
}

function skippableFrame(n: number): Uint8Array {
  const b = new Uint8Array(8 + n).fill(0xee);
  new DataView(b.buffer).setUint32(0, 0x184d2a53, true);
  new DataView(b.buffer).setUint32(4, n, true);
  return b;
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/**
 * Points guest cluster `g` of a 64 KiB-cluster image at `data`, appended at the end of the file
 * as a compressed cluster ("Compressed Clusters Descriptor": offset, then additional sectors).
 * Refcounts are left alone: the image is only read.
 */
function plant(img: string, g: number, data: Uint8Array, extraSectors = 0): void {
  const file = new Uint8Array(bytes(img));
  const dv = new DataView(file.buffer);
  const bits = dv.getUint32(20);
  const cs = 2 ** bits;
  const l1 = Number(dv.getBigUint64(40));
  const l2Entries = cs / 8;
  const l2 = Number(dv.getBigUint64(l1 + 8 * Math.floor(g / l2Entries)) & 0x00fffffffffffe00n);
  if (l2 === 0) throw new Error('plant needs an allocated L2 table');
  const host = Math.ceil(file.length / cs) * cs;
  const sectors = Math.ceil(data.length / 512) + extraSectors;
  const out = new Uint8Array(host + sectors * 512);
  out.set(file);
  out.set(data, host);
  const x = BigInt(62 - (bits - 8));
  const entry = (1n << 62n) | (BigInt(sectors - 1) << x) | BigInt(host);
  new DataView(out.buffer).setBigUint64(l2 + 8 * (g % l2Entries), entry);
  writeFileSync(join(dir, img), out);
}

/** A fresh 64 KiB-cluster zstd image with cluster 1 written compressed by qemu and cluster 0 plain. */
function freshImage(name: string): void {
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', name, '1M');
  const r = qemu('qemu-io', '-c', 'write -P 0x21 0 64k', '-c', 'write -c -P 0x22 64k 64k', name);
  expect(r.code, r.err).toBe(0);
}

async function ourRead(img: string, off: number, len: number): Promise<Uint8Array | BlockError> {
  const node = await openImage(join(dir, img), { readOnly: true });
  try {
    const b = new Uint8Array(len);
    await node.read(off, b);
    return b;
  } catch (e) {
    if (e instanceof BlockError) return e;
    throw e;
  } finally {
    await node.close();
  }
}

describe('hand-made zstd clusters', () => {
  const cs = 65536;

  it('several frames, a skippable frame and bytes after the data read as qemu reads them', async () => {
    const rnd = prng(9);
    const content = new Uint8Array(cs);
    for (let i = 0; i < cs; i++) content[i] = (i >> 7) & 0xff;
    content.set(randomBytes(rnd, 1000), 20000);
    const variants: [string, Uint8Array, number][] = [
      ['one frame, garbage to the end of the sector and one more sector', concat(zstdCompress(content, 3), randomBytes(rnd, 700)), 1],
      ['two frames', concat(zstdCompress(content.subarray(0, 30000), 1), zstdCompress(content.subarray(30000), 19)), 0],
      ['frame, skippable frame, frame without content size', concat(zstdCompress(content.subarray(0, 100), 3), skippableFrame(33), rawFrame(content.subarray(100), null)), 0],
      ['raw blocks with content size, then garbage', concat(rawFrame(content, cs), randomBytes(rnd, 300)), 0],
    ];
    for (const [n, [what, data, extra]] of variants.entries()) {
      const img = `multi${n}.qcow2`;
      freshImage(img);
      plant(img, 1, data, extra);
      const q = qemu('qemu-img', 'convert', '-O', 'raw', img, `multi${n}.raw`);
      expect(q.code, `${what}: ${q.err}`).toBe(0);
      const theirs = bytes(`multi${n}.raw`);
      expect(Buffer.compare(theirs.subarray(cs, 2 * cs), Buffer.from(content)), what).toBe(0);
      const back = await readAll(img);
      expect(Buffer.compare(back, theirs), what).toBe(0);
    }
  });

  it('damaged zstd data is an EIO error in tsemu as in qemu, and tsemu-img reports it like qemu-img', async () => {
    const rnd = prng(13);
    const content = new Uint8Array(cs).fill(0x5c);
    const good = zstdCompress(content, 3);
    const flipped = good.slice();
    for (let i = 8; i < flipped.length; i += 3) flipped[i] ^= 0xa5;
    const variants: [string, Uint8Array][] = [
      ['random bytes', randomBytes(rnd, 3000)],
      ['zstd magic, then random bytes', concat(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(rnd, 3000))],
      ['a valid header, damaged blocks', flipped],
      ['content size past the cluster', rawFrame(new Uint8Array(cs + 512).fill(1), cs + 512)],
      ['no content size, more than a cluster of blocks', rawFrame(new Uint8Array(cs + 4096).fill(2), null)],
      ['half a cluster, then zeroes', concat(zstdCompress(content.subarray(0, cs / 2), 3), new Uint8Array(600))],
      ['a frame cut short', good.subarray(0, good.length >> 1)],
      ['an empty frame only', rawFrame(new Uint8Array(0), 0)],
    ];
    for (const [n, [what, data]] of variants.entries()) {
      const img = `bad${n}.qcow2`;
      freshImage(img);
      plant(img, 1, data);
      // qemu refuses the cluster too.
      const q = qemu('qemu-io', '-r', '-c', 'read 64k 64k', img);
      expect(q.out + q.err, what).toMatch(/read failed: Input\/output error/);
      const r = await ourRead(img, cs, cs);
      expect(r, what).toBeInstanceOf(BlockError);
      const e = r as BlockError;
      expect(e.code, what).toBe('EIO');
      expect(e.message, what).toMatch(/^zstd compressed cluster /);
      expect(e.message).not.toMatch(/\n|undefined|NaN/);
      // The other clusters still read.
      const first = await ourRead(img, 0, cs);
      expect(first).toEqual(new Uint8Array(cs).fill(0x21));
      // The commands fail cleanly, with qemu-img's words.
      const tc = await ours('convert', '-O', 'raw', img, `bad${n}.raw`);
      const qc = qemu('qemu-img', 'convert', '-O', 'raw', img, `badq${n}.raw`);
      expect(tc.code, what).toBe(1);
      expect(tc.err.replace(/bad\d/g, 'X'), what).toBe(qc.err.replace(/badq?\d/g, 'X'));
      const tcmp = await ours('compare', img, img);
      expect(tcmp.code, what).toBe(qemu('qemu-img', 'compare', img, img).code);
    }
  });
});
