// tsemu-img commit and rebase against qemu-img's: backing chains made by qemu-img/qemu-io, each
// tool run on its own copy of the chain. Same stdout, stderr and exit status; afterwards every
// image passes `qemu-img check`, every image has the content of qemu-img's result, the image's
// own view is what it was before (as raw bytes), and `-u` headers are byte for byte qemu-img's.
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runQemu, scratchDir } from './block-img-harness.ts';
import { checkClean, identical, infoOf, runBoth, sameOutput, sh, twin, type Twin } from './block-img-twin.ts';

const root = scratchDir('tsemu-commit-rebase-');

type Step = (d: string) => void;
const create = (name: string, size: string, ...opts: string[]): Step => (d) => void sh(d, 'qemu-img', 'create', '-q', ...opts, name, size);
const qcow2 = (name: string, size: string, ...opts: string[]): Step => create(name, size, '-f', 'qcow2', ...opts);
/** A qcow2 overlay; `size` '' takes the backing file's. */
const over = (name: string, backing: string, fmt: string, size = '', ...opts: string[]): Step => (d) =>
  void sh(d, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', backing, '-F', fmt, ...opts, name, ...(size ? [size] : []));
const io = (name: string, ...cmds: string[]): Step => (d) => void sh(d, 'qemu-io', ...cmds.flatMap((c) => ['-c', c]), name);
const ioRaw = (name: string, ...cmds: string[]): Step => (d) => void sh(d, 'qemu-io', '-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), name);
const snapshot = (name: string, sn: string): Step => (d) => void sh(d, 'qemu-img', 'snapshot', '-c', sn, name);
const all = (...steps: Step[]): Step => (d) => steps.forEach((s) => s(d));

/** base.qcow2 (4 MiB of 1s) <- ov.qcow2 with data, zero, compressed and partial clusters. */
const chain2 = (...ovOpts: string[]): Step =>
  all(
    qcow2('base.qcow2', '4M'),
    io('base.qcow2', 'write -P 1 0 4M'),
    over('ov.qcow2', 'base.qcow2', 'qcow2', '', ...ovOpts),
    io('ov.qcow2', 'write -P 2 64k 64k', 'write -z 1M 128k', 'write -c -P 3 2M 64k', 'write -P 4 3M 1k'),
  );

/** chain2 plus top.qcow2 over ov.qcow2. */
const chain3 = all(chain2(), over('top.qcow2', 'ov.qcow2', 'qcow2'), io('top.qcow2', 'write -P 5 2M 64k', 'write -z 0 64k', 'write -P 6 3584k 4k'));

/** The raw bytes an image shows, through its backing chain. */
function view(dir: string, img: string, out: string): string {
  sh(dir, 'qemu-img', 'convert', '-O', 'raw', img, out);
  return join(dir, out);
}

/** `qemu-img map --output=json` without host offsets. */
function shape(dir: string, img: string): string {
  return sh(dir, 'qemu-img', 'map', '--output=json', img).out.replace(/, "offset": \d+/g, '');
}

function firstBytes(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(n);
  readSync(fd, b, 0, n, 0);
  closeSync(fd);
  return b;
}

interface Case {
  name: string;
  setup: Step;
  args: string[];
  /** Every image whose result is compared with qemu-img's (raw ones by content only). */
  images: string[];
  /** The image whose view must not change (rebase; commit's top). */
  keeps?: string;
  /** Snapshots of `keeps` whose content must survive. */
  snapshots?: string[];
  /**
   * Where qemu-img's result differs and ours keeps the content instead (the view check still
   * runs): why.
   */
  qemuDiffers?: string;
  /** Where qemu-img's allocation differs (content the same): why. */
  shapeDiffers?: string;
  /** An image whose first bytes must equal qemu-img's result's (rebase -u headers). */
  header?: [string, number];
}

async function runCase(c: Case, n: number): Promise<void> {
  const tw: Twin = twin(root, `c${n}`, c.setup);
  const before = c.keeps ? view(tw.q, c.keeps, 'before.raw') : null;
  const r = await runBoth(tw, c.args);
  sameOutput(r, c.name);
  for (const img of c.images) {
    const raw = img.endsWith('.raw');
    if (!raw) checkClean(tw.t, img);
    if (c.qemuDiffers) continue;
    identical(join(tw.t, img), join(tw.q, img), ...(raw ? ['-f', 'raw', '-F', 'raw'] : []));
    if (!raw) expect(infoOf(tw.t, img), img).toEqual(infoOf(tw.q, img));
    // What is allocated where (depth, zero, data), host offsets aside, is qemu-img's too: a
    // committed overlay is empty, a rebased one holds exactly the clusters that differ.
    if (!raw && !c.shapeDiffers) expect(shape(tw.t, img), `${img} map`).toEqual(shape(tw.q, img));
  }
  if (before && c.keeps) identical(join(tw.t, c.keeps), before, '-F', 'raw');
  for (const sn of c.snapshots ?? []) {
    sh(tw.t, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.keeps!, 'sn.raw');
    sh(tw.q, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.keeps!, 'sn.raw');
    identical(join(tw.t, 'sn.raw'), join(tw.q, 'sn.raw'), '-f', 'raw', '-F', 'raw');
  }
  if (c.header) {
    const [img, bytes] = c.header;
    expect(firstBytes(join(tw.t, img), bytes).equals(firstBytes(join(tw.q, img), bytes)), `${img} header`).toBe(true);
  }
}

const commits: Case[] = [
  { name: 'into the immediate backing file', setup: chain2(), args: ['commit', 'ov.qcow2'], images: ['ov.qcow2', 'base.qcow2'], keeps: 'ov.qcow2' },
  { name: 'quietly', setup: chain2(), args: ['commit', '-q', 'ov.qcow2'], images: ['ov.qcow2', 'base.qcow2'], keeps: 'ov.qcow2' },
  { name: '-d keeps the overlay', setup: chain2(), args: ['commit', '-d', 'ov.qcow2'], images: ['ov.qcow2', 'base.qcow2'], keeps: 'ov.qcow2' },
  { name: 'three levels, immediate', setup: chain3, args: ['commit', 'top.qcow2'], images: ['top.qcow2', 'ov.qcow2', 'base.qcow2'], keeps: 'top.qcow2' },
  { name: 'three levels, -b base', setup: chain3, args: ['commit', '-b', 'base.qcow2', 'top.qcow2'], images: ['top.qcow2', 'ov.qcow2', 'base.qcow2'], keeps: 'top.qcow2' },
  { name: 'three levels, -b the immediate one', setup: chain3, args: ['commit', '-b', 'ov.qcow2', 'top.qcow2'], images: ['top.qcow2', 'ov.qcow2', 'base.qcow2'], keeps: 'top.qcow2' },
  {
    name: 'a raw base smaller than the overlay grows',
    setup: all(create('base.raw', '1M', '-f', 'raw'), ioRaw('base.raw', 'write -P 1 0 1M'), over('ov.qcow2', 'base.raw', 'raw', '3M'), io('ov.qcow2', 'write -P 2 64k 64k', 'write -z 128k 64k', 'write -P 3 2M 64k')),
    args: ['commit', 'ov.qcow2'],
    images: ['ov.qcow2', 'base.raw'],
    keeps: 'ov.qcow2',
    shapeDiffers: 'zeroes written to a raw file are holes for qemu-img, data for tsemu-img (no SEEK_HOLE in Node)',
  },
  {
    name: 'a qcow2 base smaller than the overlay grows',
    setup: all(qcow2('base.qcow2', '1M'), io('base.qcow2', 'write -P 1 0 1M'), over('ov.qcow2', 'base.qcow2', 'qcow2', '3G'), io('ov.qcow2', 'write -P 2 0 64k', 'write -P 3 2G 64k')),
    args: ['commit', 'ov.qcow2'],
    images: ['ov.qcow2', 'base.qcow2'],
    keeps: 'ov.qcow2',
  },
  {
    name: 'a version 2 base under zero clusters',
    setup: all(qcow2('base.qcow2', '2M', '-o', 'compat=0.10'), io('base.qcow2', 'write -P 1 0 2M'), over('ov.qcow2', 'base.qcow2', 'qcow2'), io('ov.qcow2', 'write -z 0 192k', 'write -P 2 1M 4k')),
    args: ['commit', 'ov.qcow2'],
    images: ['ov.qcow2', 'base.qcow2'],
    keeps: 'ov.qcow2',
  },
  {
    name: 'an overlay with a snapshot is emptied, the snapshot stays',
    setup: all(chain2(), snapshot('ov.qcow2', 'one'), io('ov.qcow2', 'write -P 8 64k 4k', 'write -P 9 3M 64k')),
    args: ['commit', 'ov.qcow2'],
    images: ['ov.qcow2', 'base.qcow2'],
    keeps: 'ov.qcow2',
    snapshots: ['one'],
  },
  {
    name: 'extended L2 overlay over 4 KiB clusters',
    setup: all(
      qcow2('base.qcow2', '2M', '-o', 'cluster_size=4k,refcount_bits=8'),
      io('base.qcow2', 'write -P 1 0 2M'),
      over('ov.qcow2', 'base.qcow2', 'qcow2', '', '-o', 'extended_l2=on,cluster_size=64k'),
      io('ov.qcow2', 'write -P 2 4k 2k', 'write -z 68k 8k', 'write -P 3 1M 64k'),
    ),
    args: ['commit', 'ov.qcow2'],
    images: ['ov.qcow2', 'base.qcow2'],
    keeps: 'ov.qcow2',
  },
  { name: 'no backing file', setup: chain2(), args: ['commit', 'base.qcow2'], images: ['base.qcow2'] },
  { name: '-b not in the chain', setup: chain3, args: ['commit', '-b', 'nonexist.qcow2', 'top.qcow2'], images: ['top.qcow2'] },
  { name: '-b the image itself', setup: chain3, args: ['commit', '-b', 'top.qcow2', 'top.qcow2'], images: ['top.qcow2'] },
  { name: '-b without a backing file', setup: chain2(), args: ['commit', '-b', 'x.qcow2', 'base.qcow2'], images: ['base.qcow2'] },
  { name: 'missing image', setup: () => {}, args: ['commit', 'nonexist.qcow2'], images: [] },
  {
    name: 'missing backing file',
    setup: all(qcow2('ov.qcow2', '1M', '-u', '-b', 'gone.qcow2', '-F', 'qcow2')),
    args: ['commit', 'ov.qcow2'],
    images: [],
  },
  { name: 'bad cache mode', setup: chain2(), args: ['commit', '-t', 'foo', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'bad rate limit', setup: chain2(), args: ['commit', '-r', 'abc', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'rate limit and cache mode', setup: chain2(), args: ['commit', '-r', '100M', '-t', 'none', 'ov.qcow2'], images: ['ov.qcow2', 'base.qcow2'], keeps: 'ov.qcow2' },
  { name: 'two images', setup: chain2(), args: ['commit', 'ov.qcow2', 'base.qcow2'], images: [] },
  { name: 'no image', setup: chain2(), args: ['commit'], images: [] },
];

/** b1.qcow2 (4 MiB of 1s), b2.qcow2 (6 MiB, partly different), ov.qcow2 over b1. */
const rebaseSetup = (...ovOpts: string[]): Step =>
  all(
    qcow2('b1.qcow2', '4M'),
    io('b1.qcow2', 'write -P 1 0 4M'),
    qcow2('b2.qcow2', '6M'),
    io('b2.qcow2', 'write -P 1 0 2M', 'write -P 7 2M 1M', 'write -P 9 4M 1M', 'write -P 9 5M 512', 'write -P 1 3M 4k'),
    over('ov.qcow2', 'b1.qcow2', 'qcow2', '6M', ...ovOpts),
    io('ov.qcow2', 'write -P 2 64k 64k', 'write -z 2M 64k'),
  );

const rebases: Case[] = [
  { name: 'safe, to a different backing file', setup: rebaseSetup(), args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  { name: 'safe, 4 KiB clusters', setup: rebaseSetup('-o', 'cluster_size=4k'), args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  {
    name: 'safe, extended L2',
    setup: rebaseSetup('-o', 'extended_l2=on,cluster_size=128k'),
    args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'],
    images: ['ov.qcow2'],
    keeps: 'ov.qcow2',
  },
  { name: 'safe, version 2', setup: rebaseSetup('-o', 'compat=0.10'), args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  { name: 'safe, remove the backing file', setup: rebaseSetup(), args: ['rebase', '-b', '', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  { name: 'safe, remove the backing file, -F ignored', setup: rebaseSetup(), args: ['rebase', '-b', '', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  {
    name: "safe, onto the backing file's backing file",
    setup: all(chain3),
    args: ['rebase', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
    images: ['top.qcow2'],
    keeps: 'top.qcow2',
  },
  {
    name: 'safe, an image without a backing file gets one',
    setup: all(rebaseSetup(), qcow2('lone.qcow2', '6M'), io('lone.qcow2', 'write -P 3 1M 64k')),
    args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'lone.qcow2'],
    images: ['lone.qcow2'],
    keeps: 'lone.qcow2',
  },
  {
    name: 'safe, version 2 without a backing file gets one',
    setup: all(rebaseSetup(), qcow2('lone.qcow2', '6M', '-o', 'compat=0.10'), io('lone.qcow2', 'write -P 3 1M 64k')),
    args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'lone.qcow2'],
    images: ['lone.qcow2'],
    keeps: 'lone.qcow2',
    qemuDiffers:
      "qemu-img 7.2 'zeroes' the differing clusters of a version 2 image without a backing file by leaving them unallocated, so the new backing file shows through; tsemu-img writes zeroes and the content stays",
  },
  {
    name: 'safe, a raw new backing file',
    setup: all(rebaseSetup(), create('n.raw', '5M', '-f', 'raw'), ioRaw('n.raw', 'write -P 1 0 1M', 'write -P 4 1M 4M')),
    args: ['rebase', '-b', 'n.raw', '-F', 'raw', 'ov.qcow2'],
    images: ['ov.qcow2'],
    keeps: 'ov.qcow2',
  },
  { name: 'quietly', setup: rebaseSetup(), args: ['rebase', '-q', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], keeps: 'ov.qcow2' },
  { name: 'unsafe rename', setup: rebaseSetup(), args: ['rebase', '-u', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], header: ['ov.qcow2', 65536] },
  { name: 'unsafe rename, 4 KiB clusters', setup: rebaseSetup('-o', 'cluster_size=4k'), args: ['rebase', '-u', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], header: ['ov.qcow2', 4096] },
  { name: 'unsafe rename, version 2', setup: rebaseSetup('-o', 'compat=0.10'), args: ['rebase', '-u', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'], header: ['ov.qcow2', 65536] },
  { name: 'unsafe removal', setup: rebaseSetup(), args: ['rebase', '-u', '-b', '', 'ov.qcow2'], images: ['ov.qcow2'], header: ['ov.qcow2', 65536] },
  { name: 'unsafe removal without -b', setup: rebaseSetup(), args: ['rebase', '-u', 'ov.qcow2'], images: ['ov.qcow2'], header: ['ov.qcow2', 65536] },
  {
    name: 'unsafe, a backing file that does not exist, any known format',
    setup: rebaseSetup(),
    args: ['rebase', '-u', '-b', 'later.vmdk', '-F', 'vmdk', 'ov.qcow2'],
    images: [],
    header: ['ov.qcow2', 65536],
  },
  {
    name: 'unsafe, an image without a backing file',
    setup: all(qcow2('lone.qcow2', '1M', '-o', 'cluster_size=8k')),
    args: ['rebase', '-u', '-b', 'some/where/base.img', '-F', 'raw', 'lone.qcow2'],
    images: [],
    header: ['lone.qcow2', 8192],
  },
  {
    name: 'unsafe, name too long for a 512-byte header cluster',
    setup: qcow2('small.qcow2', '1M', '-o', 'cluster_size=512'),
    args: ['rebase', '-u', '-b', 'x'.repeat(500), '-F', 'qcow2', 'small.qcow2'],
    images: ['small.qcow2'],
    header: ['small.qcow2', 512],
  },
  {
    name: 'unsafe, name over 1023 bytes',
    setup: qcow2('small.qcow2', '1M'),
    args: ['rebase', '-u', '-b', 'y'.repeat(1100), '-F', 'qcow2', 'small.qcow2'],
    images: ['small.qcow2'],
    header: ['small.qcow2', 65536],
  },
  {
    name: 'no backing format',
    setup: rebaseSetup(),
    args: ['rebase', '-b', 'b2.qcow2', 'ov.qcow2'],
    images: ['ov.qcow2'],
    keeps: 'ov.qcow2',
    shapeDiffers: 'qemu-img copies the differing clusters before it finds the format missing; tsemu-img refuses first',
  },
  { name: 'unsafe, no backing format', setup: rebaseSetup(), args: ['rebase', '-u', '-b', 'b2.qcow2', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'neither -b nor -u', setup: rebaseSetup(), args: ['rebase', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'unknown backing format', setup: rebaseSetup(), args: ['rebase', '-b', 'b2.qcow2', '-F', 'foo', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'the image as its own backing file', setup: rebaseSetup(), args: ['rebase', '-b', 'ov.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'missing new backing file', setup: rebaseSetup(), args: ['rebase', '-b', 'nonexist.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'] },
  {
    name: 'missing old backing file (safe mode needs it)',
    setup: all(rebaseSetup(), (d) => void runQemu(d, 'mv', 'b1.qcow2', 'b1-moved.qcow2')),
    args: ['rebase', '-b', 'b1-moved.qcow2', '-F', 'qcow2', 'ov.qcow2'],
    images: [],
  },
  {
    name: 'missing old backing file, unsafe',
    setup: all(rebaseSetup(), (d) => void runQemu(d, 'mv', 'b1.qcow2', 'b1-moved.qcow2')),
    args: ['rebase', '-u', '-b', 'b1-moved.qcow2', '-F', 'qcow2', 'ov.qcow2'],
    images: ['ov.qcow2'],
    header: ['ov.qcow2', 65536],
  },
  { name: 'a raw image', setup: create('r.raw', '1M', '-f', 'raw'), args: ['rebase', '-f', 'raw', '-b', '', 'r.raw'], images: [] },
  { name: 'a raw image, probed', setup: create('r.raw', '1M', '-f', 'raw'), args: ['rebase', '-u', '-b', 'x.qcow2', '-F', 'qcow2', 'r.raw'], images: [] },
  { name: 'bad cache mode', setup: rebaseSetup(), args: ['rebase', '-t', 'foo', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'bad source cache mode', setup: rebaseSetup(), args: ['rebase', '-T', 'foo', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2'], images: ['ov.qcow2'] },
  { name: 'two images', setup: rebaseSetup(), args: ['rebase', '-b', 'b2.qcow2', '-F', 'qcow2', 'ov.qcow2', 'b1.qcow2'], images: [] },
];

describe('tsemu-img commit', () => {
  commits.forEach((c, n) => it(`${c.name}: ${c.args.slice(1).join(' ')}`, () => runCase(c, n)));
});

describe('tsemu-img rebase', () => {
  rebases.forEach((c, n) => it(`${c.name}: ${c.args.slice(1).join(' ').slice(0, 80)}`, () => runCase(c, 1000 + n)));
});
