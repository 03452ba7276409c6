// `npm run bench:block`: the block layer next to qemu-img on the same files in the same run.
// I/O rows: `tsemu-img bench` and `qemu-img bench` with identical arguments (4 KiB requests at a
// fixed queue depth, sequential or strided across the whole image, page-cache I/O on both sides:
// -t writeback -i threads), timed by each tool itself ("Run completed in S seconds.").
// Convert rows: the whole `convert` command as a user runs it (process start-up included) from a
// 1 GiB qcow2 image that is a quarter data in scattered 64 KiB chunks, with zero clusters, zero
// data and unallocated space. Each side runs REPEAT times interleaved; the best time counts.
// Prints a table (ratio = tsemu time / qemu-img time, the goal is <= 1.5) and writes
// build/bench-block.json.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImage } from '../block/open.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const TSEMU_IMG = [process.execPath, join(here, 'tsemu-img.js')];
const QEMU_IMG = ['qemu-img'];

const REPEAT = Number(process.env.BENCH_BLOCK_REPEAT ?? 5);
const COUNT = Number(process.env.BENCH_BLOCK_COUNT ?? 40_000);
const DEPTH = Number(process.env.BENCH_BLOCK_DEPTH ?? 16);
const BS = 4096;
const IO_IMAGE = 256 << 20;
/** An odd number of blocks: k * STRIDE modulo the image visits every block once, far apart. */
const STRIDE = 40_503 * BS;
const CONVERT_IMAGE = 1 << 30;
const CHUNK = 64 << 10;

interface Side {
  seconds: number;
  /** Bytes per second (guest bytes for convert). */
  rate: number;
  iops?: number;
}
interface Row {
  name: string;
  kind: 'io' | 'convert';
  command: string;
  tsemu: Side;
  qemu: Side;
  /** tsemu time / qemu-img time. */
  ratio: number;
}

function run(cmd: string[], args: string[]): string {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${[...cmd, ...args].join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** The tool's own timing of a bench run. */
function benchSeconds(cmd: string[], args: string[]): number {
  const out = run(cmd, ['bench', ...args]);
  const m = /Run completed in ([\d.]+) seconds\./.exec(out);
  if (!m) throw new Error(`no timing in the output of ${cmd.join(' ')} bench:\n${out}`);
  return Number(m[1]);
}

/** Wall time of a whole command. */
function wallSeconds(cmd: string[], args: string[], before: () => void): number {
  before();
  const t0 = process.hrtime.bigint();
  run(cmd, args);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs both sides REPEAT times, interleaved so that both see the same background load. */
function best(measure: (cmd: string[]) => number): { tsemu: number; qemu: number } {
  let tsemu = Infinity;
  let qemu = Infinity;
  for (let i = 0; i < REPEAT; i++) {
    qemu = Math.min(qemu, measure(QEMU_IMG));
    tsemu = Math.min(tsemu, measure(TSEMU_IMG));
  }
  return { tsemu, qemu };
}

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
  const w = new Uint32Array(b.buffer);
  for (let i = 0; i < w.length; i++) w[i] = (rnd() * 4294967296) >>> 0;
  return b;
}

/** A fully written raw image and its fully allocated qcow2 copy, for the I/O rows. */
function makeIoImages(dir: string): { raw: string; qcow2: string } {
  const raw = join(dir, 'io.raw');
  const qcow2 = join(dir, 'io.qcow2');
  const rnd = prng(1);
  const block = randomBytes(rnd, 1 << 20);
  const fd = openSync(raw, 'w');
  for (let pos = 0; pos < IO_IMAGE; pos += block.length) {
    block[0] = pos >>> 20; // no two megabytes alike
    writeSync(fd, block, 0, block.length, pos);
  }
  closeSync(fd);
  run(QEMU_IMG, ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  return { raw, qcow2 };
}

/**
 * The convert source: 1 GiB qcow2, 64 KiB chunks chosen at random: 25% data (one in sixteen of
 * them all-zero bytes, which convert must detect), 4% zero clusters, 1% zero clusters that keep
 * their host cluster, the rest never written.
 */
async function makeConvertSource(dir: string): Promise<string> {
  const name = join(dir, 'src.qcow2');
  run(QEMU_IMG, ['create', '-q', '-f', 'qcow2', name, String(CONVERT_IMAGE)]);
  const node = await openImage(name, { format: 'qcow2' });
  const rnd = prng(2);
  const zeroes = new Uint8Array(CHUNK);
  const pending = new Set<Promise<void>>();
  const submit = async (p: Promise<void>): Promise<void> => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
    if (pending.size >= 8) await Promise.race(pending);
  };
  for (let pos = 0; pos < CONVERT_IMAGE; pos += CHUNK) {
    const r = rnd();
    if (r < 0.25) {
      await submit(node.write(pos, rnd() < 1 / 16 ? zeroes : randomBytes(rnd, CHUNK)));
    } else if (r < 0.29) {
      await submit(node.writeZeroes(pos, CHUNK, true));
    } else if (r < 0.3) {
      await submit(node.write(pos, randomBytes(rnd, CHUNK)).then(() => node.writeZeroes(pos, CHUNK, false)));
    }
  }
  await Promise.all(pending);
  await node.close();
  const check = spawnSync('qemu-img', ['check', name], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`the convert source does not pass qemu-img check:\n${check.stdout}${check.stderr}`);
  return name;
}

function ioRows(images: { raw: string; qcow2: string }): Row[] {
  const rows: Row[] = [];
  const kinds: [string, string[]][] = [
    ['sequential read', []],
    ['sequential write', ['-w', '--pattern=0x5a']],
    ['random read', ['-S', String(STRIDE)]],
    ['random write', ['-w', '--pattern=0xa5', '-S', String(STRIDE)]],
  ];
  for (const fmt of ['raw', 'qcow2'] as const) {
    for (const [kind, extra] of kinds) {
      const args = ['-f', fmt, '-t', 'writeback', '-i', 'threads', '-c', String(COUNT), '-d', String(DEPTH), '-s', String(BS), ...extra, images[fmt]];
      const t = best((cmd) => benchSeconds(cmd, args));
      const side = (s: number): Side => ({ seconds: s, rate: (COUNT * BS) / s, iops: COUNT / s });
      rows.push({ name: `${fmt} ${kind}`, kind: 'io', command: `bench ${args.slice(0, -1).join(' ')} IMAGE`, tsemu: side(t.tsemu), qemu: side(t.qemu), ratio: t.tsemu / t.qemu });
      print(rows.at(-1)!);
    }
  }
  return rows;
}

function convertRows(dir: string, src: string): Row[] {
  const rows: Row[] = [];
  for (const fmt of ['qcow2', 'raw']) {
    const dst = join(dir, `dst.${fmt}`);
    const args = ['convert', '-f', 'qcow2', '-O', fmt, src, dst];
    const t = best((cmd) => wallSeconds(cmd, args, () => rmSync(dst, { force: true })));
    // The last output is tsemu-img's: it must hold what the source holds.
    run(QEMU_IMG, ['compare', '-f', 'qcow2', '-F', fmt, src, dst]);
    rmSync(dst, { force: true });
    const side = (s: number): Side => ({ seconds: s, rate: CONVERT_IMAGE / s });
    rows.push({ name: `convert qcow2 -> ${fmt} (1 GiB)`, kind: 'convert', command: `convert -f qcow2 -O ${fmt} SRC DST`, tsemu: side(t.tsemu), qemu: side(t.qemu), ratio: t.tsemu / t.qemu });
    print(rows.at(-1)!);
  }
  return rows;
}

const mb = (bytesPerSecond: number): string => (bytesPerSecond / 1e6).toFixed(0);

function header(): void {
  console.log(`${'row'.padEnd(30)} ${'tsemu'.padStart(22)} ${'qemu-img'.padStart(22)} ${'tsemu/qemu time'.padStart(16)}`);
}

function print(r: Row): void {
  const cell = (s: Side): string =>
    r.kind === 'io' ? `${mb(s.rate)} MB/s ${(s.iops! / 1000).toFixed(1)}k IOPS` : `${s.seconds.toFixed(2)} s ${mb(s.rate)} MB/s`;
  const flag = r.ratio > 1.5 ? '  (over 1.5)' : '';
  console.log(`${r.name.padEnd(30)} ${cell(r.tsemu).padStart(22)} ${cell(r.qemu).padStart(22)} ${r.ratio.toFixed(2).padStart(16)}${flag}`);
}

async function main(): Promise<void> {
  const version = run(QEMU_IMG, ['--version']).split('\n')[0];
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-bench-block-'));
  try {
    const load = loadavg().map((l) => l.toFixed(2));
    console.log(`${version}; ${COUNT} requests of ${BS} bytes, depth ${DEPTH}; best of ${REPEAT}; load average ${load.join(' ')}`);
    const images = makeIoImages(dir);
    const src = await makeConvertSource(dir);
    header();
    const rows = [...ioRows(images), ...convertRows(dir, src)];
    mkdirSync(join(root, 'build'), { recursive: true });
    const out = join(root, 'build', 'bench-block.json');
    writeFileSync(
      out,
      JSON.stringify(
        { date: new Date().toISOString(), qemuImg: version, node: process.version, loadAverage: loadavg(), count: COUNT, depth: DEPTH, blockSize: BS, repeat: REPEAT, rows },
        null,
        2,
      ) + '\n',
    );
    const slow = rows.filter((r) => r.ratio > 1.5);
    console.log(slow.length === 0 ? 'every row within 1.5x of qemu-img' : `${slow.length} row(s) more than 1.5x slower than qemu-img`);
    console.log(`results: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
