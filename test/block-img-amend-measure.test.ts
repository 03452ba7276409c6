// tsemu-img amend and measure against qemu-img's.
// amend: images made by qemu-img/qemu-io, each tool run on its own copy; same stdout, stderr and
// exit status; afterwards our image passes `qemu-img check`, shows the same content and `info`
// as qemu-img's result and the content it had before; version and feature changes leave the
// header cluster byte for byte as qemu-img leaves it.
// measure: a matrix of sizes, cluster sizes, refcount widths, versions, preallocation modes and
// source images (human and JSON output), and the error cases: same output and exit status.
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir } from './block-img-harness.ts';
import { checkClean, identical, infoOf, runBoth, sameOutput, sh, twin } from './block-img-twin.ts';

const root = scratchDir('tsemu-amend-measure-');

type Step = (d: string) => void;
const qcow2 = (name: string, size: string, ...opts: string[]): Step => (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'qcow2', ...opts, name, size);
const io = (name: string, ...cmds: string[]): Step => (d) => void sh(d, 'qemu-io', ...cmds.flatMap((c) => ['-c', c]), name);
const snapshot = (name: string, sn: string): Step => (d) => void sh(d, 'qemu-img', 'snapshot', '-c', sn, name);
const all = (...steps: Step[]): Step => (d) => steps.forEach((s) => s(d));

/** A 2 MiB image with data, zero clusters (plain and preallocated) and a compressed cluster. */
const mixed = (...opts: string[]): Step =>
  all(qcow2('a.qcow2', '2M', ...opts), io('a.qcow2', 'write -P 1 0 192k', 'write -z 64k 64k', 'write -z 512k 128k', 'write -c -P 2 1M 64k', 'write -P 3 1984k 64k'));

function firstBytes(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(n);
  readSync(fd, b, 0, n, 0);
  closeSync(fd);
  return b;
}

interface AmendCase {
  name: string;
  setup: Step;
  args: string[];
  /** The image amended ('' when none can be checked). */
  file: string;
  /** Bytes of the header cluster that must equal qemu-img's result. */
  header?: number;
  snapshots?: string[];
  /** The size changes: the content is compared with qemu-img's result only. */
  resized?: boolean;
}

const amends: AmendCase[] = [
  { name: 'downgrade', setup: mixed(), args: ['amend', '-o', 'compat=0.10', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'downgrade (v2 spelling)', setup: mixed(), args: ['amend', '-o', 'compat=v2', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'downgrade, 4 KiB clusters', setup: mixed('-o', 'cluster_size=4k'), args: ['amend', '-o', 'compat=0.10', 'a.qcow2'], file: 'a.qcow2', header: 4096 },
  {
    name: 'downgrade over a backing file: zero clusters become data',
    setup: all(qcow2('base.qcow2', '2M'), io('base.qcow2', 'write -P 7 0 2M'), qcow2('a.qcow2', '2M', '-b', 'base.qcow2', '-F', 'qcow2'), io('a.qcow2', 'write -z 0 128k', 'write -P 1 1M 64k', 'write -P 1 1536k 64k', 'write -z 1536k 64k')),
    args: ['amend', '-o', 'compat=0.10', 'a.qcow2'],
    file: 'a.qcow2',
    header: 65536,
  },
  {
    name: 'downgrade with snapshots sharing zero clusters',
    setup: all(mixed(), snapshot('a.qcow2', 'one'), io('a.qcow2', 'write -P 5 0 64k', 'write -z 1M 64k'), snapshot('a.qcow2', 'two')),
    args: ['amend', '-o', 'compat=0.10', 'a.qcow2'],
    file: 'a.qcow2',
    snapshots: ['one', 'two'],
  },
  {
    name: 'downgrade with a snapshot of another size',
    setup: all(mixed(), snapshot('a.qcow2', 'one'), (d) => void sh(d, 'qemu-img', 'resize', 'a.qcow2', '4M')),
    args: ['amend', '-o', 'compat=0.10', 'a.qcow2'],
    file: 'a.qcow2',
  },
  { name: 'downgrade with lazy refcounts', setup: mixed('-o', 'lazy_refcounts=on'), args: ['amend', '-o', 'compat=0.10', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'downgrade, 8-bit refcounts', setup: mixed('-o', 'refcount_bits=8'), args: ['amend', '-o', 'compat=0.10', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'downgrade, 8-bit refcounts back to 16', setup: mixed('-o', 'refcount_bits=8'), args: ['amend', '-o', 'compat=0.10,refcount_bits=16', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'downgrade, extended L2', setup: mixed('-o', 'extended_l2=on'), args: ['amend', '-o', 'compat=0.10', 'a.qcow2'], file: 'a.qcow2' },
  {
    name: 'downgrade, zstd with compressed clusters',
    setup: mixed('-o', 'compression_type=zstd'),
    args: ['amend', '-o', 'compat=0.10', 'a.qcow2'],
    file: 'a.qcow2',
  },
  {
    name: 'downgrade, zstd without compressed clusters',
    setup: all(qcow2('a.qcow2', '1M', '-o', 'compression_type=zstd'), io('a.qcow2', 'write -P 1 0 64k')),
    args: ['amend', '-o', 'compat=0.10', 'a.qcow2'],
    file: 'a.qcow2',
    header: 65536,
  },
  { name: 'downgrade, lazy refcounts asked for', setup: mixed(), args: ['amend', '-o', 'compat=0.10,lazy_refcounts=on', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'upgrade', setup: mixed('-o', 'compat=0.10'), args: ['amend', '-o', 'compat=1.1', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'upgrade, 512-byte clusters', setup: mixed('-o', 'compat=0.10,cluster_size=512'), args: ['amend', '-o', 'compat=v3', 'a.qcow2'], file: 'a.qcow2', header: 512 },
  {
    name: 'upgrade with a backing file and a snapshot',
    setup: all(qcow2('base.qcow2', '2M'), qcow2('a.qcow2', '2M', '-o', 'compat=0.10', '-b', 'base.qcow2', '-F', 'qcow2'), io('a.qcow2', 'write -P 1 0 64k'), snapshot('a.qcow2', 'one')),
    args: ['amend', '-o', 'compat=1.1', 'a.qcow2'],
    file: 'a.qcow2',
    header: 65536,
    snapshots: ['one'],
  },
  { name: 'upgrade with lazy refcounts', setup: mixed('-o', 'compat=0.10'), args: ['amend', '-o', 'compat=1.1,lazy_refcounts=on', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'same version', setup: mixed(), args: ['amend', '-o', 'compat=1.1', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'lazy refcounts on', setup: mixed(), args: ['amend', '-o', 'lazy_refcounts=on', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'lazy refcounts on (bare)', setup: mixed(), args: ['amend', '-o', 'lazy_refcounts', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'lazy refcounts off', setup: mixed('-o', 'lazy_refcounts=on'), args: ['amend', '-o', 'lazy_refcounts=off', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'lazy refcounts on version 2', setup: mixed('-o', 'compat=0.10'), args: ['amend', '-o', 'lazy_refcounts=on', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'refcount width 8', setup: mixed(), args: ['amend', '-o', 'refcount_bits=8', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'refcount width 1', setup: mixed(), args: ['amend', '-o', 'refcount_bits=1', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'refcount width 64, 512-byte clusters', setup: mixed('-o', 'cluster_size=512'), args: ['amend', '-o', 'refcount_bits=64', 'a.qcow2'], file: 'a.qcow2' },
  {
    name: 'refcount width 2 with a snapshot',
    setup: all(mixed(), snapshot('a.qcow2', 'one')),
    args: ['amend', '-o', 'refcount_bits=2', 'a.qcow2'],
    file: 'a.qcow2',
    snapshots: ['one'],
  },
  { name: 'refcount width 1 with a snapshot', setup: all(mixed(), snapshot('a.qcow2', 'one')), args: ['amend', '-o', 'refcount_bits=1', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'refcount width on version 2', setup: mixed('-o', 'compat=0.10'), args: ['amend', '-o', 'refcount_bits=8', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'upgrade and refcount width', setup: mixed('-o', 'compat=0.10'), args: ['amend', '-o', 'compat=1.1,refcount_bits=4', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'grow', setup: mixed(), args: ['amend', '-o', 'size=3G', 'a.qcow2'], file: 'a.qcow2', resized: true },
  { name: 'shrink', setup: mixed(), args: ['amend', '-o', 'size=1M', 'a.qcow2'], file: 'a.qcow2', resized: true },
  { name: 'size, the last one counts', setup: mixed(), args: ['amend', '-o', 'size=8M,size=4M', 'a.qcow2'], file: 'a.qcow2', resized: true },
  {
    name: 'grow over a longer backing file: the new area reads zeroes',
    setup: all(qcow2('base.qcow2', '4M'), io('base.qcow2', 'write -P 5 0 4M'), qcow2('a.qcow2', '1M', '-b', 'base.qcow2', '-F', 'qcow2')),
    args: ['amend', '-o', 'size=3M', 'a.qcow2'],
    file: 'a.qcow2',
    resized: true,
  },
  { name: 'missing backing file', setup: qcow2('a.qcow2', '1M', '-u', '-b', 'gone.qcow2', '-F', 'qcow2'), args: ['amend', '-o', 'lazy_refcounts=on', 'a.qcow2'], file: '' },
  { name: 'size not a multiple of 512', setup: mixed(), args: ['amend', '-o', 'size=1000', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'size too large', setup: mixed(), args: ['amend', '-o', 'size=4E', 'a.qcow2'], file: 'a.qcow2' },
  {
    name: 'backing file: the current values',
    setup: all(qcow2('base.qcow2', '2M'), qcow2('a.qcow2', '2M', '-b', 'base.qcow2', '-F', 'qcow2')),
    args: ['amend', '-o', 'backing_file=base.qcow2,backing_fmt=qcow2', 'a.qcow2'],
    file: 'a.qcow2',
    header: 65536,
  },
  {
    name: 'backing file: another one',
    setup: all(qcow2('base.qcow2', '2M'), qcow2('a.qcow2', '2M', '-b', 'base.qcow2', '-F', 'qcow2')),
    args: ['amend', '-o', 'backing_file=other.qcow2,backing_fmt=qcow2', 'a.qcow2'],
    file: 'a.qcow2',
  },
  { name: 'backing format alone', setup: mixed(), args: ['amend', '-o', 'backing_fmt=qcow2', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'creation-only option', setup: mixed(), args: ['amend', '-o', 'cluster_size=4k', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'creation-only option, bad value', setup: mixed(), args: ['amend', '-o', 'cluster_size=xx', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'creation-only option after a good one', setup: mixed(), args: ['amend', '-o', 'lazy_refcounts=on,extended_l2=on', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'encryption', setup: mixed(), args: ['amend', '-o', 'encryption=on', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'unknown option', setup: mixed(), args: ['amend', '-o', 'compat=1.1,foo=bar', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'unknown compat', setup: mixed(), args: ['amend', '-o', 'compat=2.0', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'bare compat', setup: mixed(), args: ['amend', '-o', 'compat', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'data file', setup: mixed(), args: ['amend', '-o', 'data_file=x.raw', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'raw data file', setup: mixed(), args: ['amend', '-o', 'data_file_raw=on', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'encryption state', setup: mixed(), args: ['amend', '-o', 'encrypt.state=active', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'not on/off', setup: mixed(), args: ['amend', '-o', 'lazy_refcounts=maybe', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'not a number', setup: mixed(), args: ['amend', '-o', 'refcount_bits=x', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'not a power of two', setup: mixed(), args: ['amend', '-o', 'refcount_bits=3', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'not a size', setup: mixed(), args: ['amend', '-o', 'size=abc', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'empty option list', setup: mixed(), args: ['amend', '-o', '', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'trailing comma', setup: mixed(), args: ['amend', '-o', 'compat=1.1,', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'two -o lists', setup: mixed(), args: ['amend', '-o', 'compat=1.1', '-o', 'lazy_refcounts=on', 'a.qcow2'], file: 'a.qcow2', header: 65536 },
  { name: 'no -o', setup: mixed(), args: ['amend', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'no image', setup: mixed(), args: ['amend', '-o', 'compat=1.1'], file: '' },
  { name: 'two images', setup: mixed(), args: ['amend', '-o', 'compat=1.1', 'a.qcow2', 'b.qcow2'], file: '' },
  { name: 'help', setup: mixed(), args: ['amend', '-o', 'help', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'help among options', setup: mixed(), args: ['amend', '-o', 'compat=1.1,help', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'help for qcow2 without an image', setup: () => {}, args: ['amend', '-f', 'qcow2', '-o', 'help'], file: '' },
  { name: 'help for raw', setup: () => {}, args: ['amend', '-f', 'raw', '-o', 'help'], file: '' },
  { name: 'raw image, probed', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['amend', '-o', 'compat=1.1', 'r.raw'], file: '' },
  { name: 'bad cache mode', setup: mixed(), args: ['amend', '-t', 'foo', '-o', 'compat=1.1', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'missing image', setup: () => {}, args: ['amend', '-o', 'compat=1.1', 'nonexist.qcow2'], file: '' },
];

describe('tsemu-img amend', () => {
  amends.forEach((c, n) => {
    it(`${c.name}: ${c.args.slice(1).join(' ')}`, async () => {
      const tw = twin(root, `a${n}`, c.setup);
      if (c.file) sh(tw.q, 'qemu-img', 'convert', '-O', 'raw', c.file, 'before.raw');
      const r = await runBoth(tw, c.args);
      sameOutput(r, c.name);
      if (!c.file) return;
      checkClean(tw.t, c.file);
      identical(join(tw.t, c.file), join(tw.q, c.file));
      if (!c.resized) identical(join(tw.t, c.file), join(tw.q, 'before.raw'), '-F', 'raw');
      expect(infoOf(tw.t, c.file)).toEqual(infoOf(tw.q, c.file));
      if (c.header) expect(firstBytes(join(tw.t, c.file), c.header).equals(firstBytes(join(tw.q, c.file), c.header)), 'header cluster').toBe(true);
      for (const sn of c.snapshots ?? []) {
        sh(tw.t, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.file, 'sn.raw');
        sh(tw.q, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.file, 'sn.raw');
        identical(join(tw.t, 'sn.raw'), join(tw.q, 'sn.raw'), '-f', 'raw', '-F', 'raw');
      }
    });
  });
});

describe('tsemu-img measure', () => {
  const dir = join(root, 'measure');
  beforeAll(() => {
    sh(root, 'mkdir', '-p', 'measure');
    // Sources whose data clusters are written whole: qemu-img sees holes inside partly written
    // clusters (and in sparse raw files), which Node cannot (no SEEK_HOLE).
    sh(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', 'x.qcow2', '4M');
    sh(dir, 'qemu-io', '-c', 'write -P 1 0 128k', '-c', 'write -z 1M 64k', '-c', 'write -c -P 3 2M 64k', '-c', 'write -P 4 3M 64k', 'x.qcow2');
    sh(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'x.qcow2', '-F', 'qcow2', 'o.qcow2', '6M');
    sh(dir, 'qemu-io', '-c', 'write -P 2 5M 64k', '-c', 'write -z 0 64k', 'o.qcow2');
    sh(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k,compat=0.10', 'v2.qcow2', '3M');
    sh(dir, 'qemu-io', '-c', 'write -P 1 0 12k', '-c', 'write -P 3 1M 4k', 'v2.qcow2');
    sh(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k', 'e.qcow2', '5M');
    sh(dir, 'qemu-io', '-c', 'write -P 1 0 128k', '-c', 'write -P 3 4M 128k', 'e.qcow2');
    sh(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', 'b.qcow2', '100M');
    sh(dir, 'qemu-img', 'bitmap', '--add', 'b.qcow2', 'bm0');
    sh(dir, 'qemu-img', 'bitmap', '--add', '-g', '512', 'b.qcow2', 'a-much-longer-bitmap-name');
    sh(dir, 'qemu-io', '-c', 'write -P 1 0 64k', 'b.qcow2');
    // A raw file with data in every byte (no holes), of a size that is not a multiple of 512.
    const raw = Buffer.alloc(3_000_000);
    for (let i = 0; i < raw.length; i++) raw[i] = ((i * 2654435761) >>> 24) | 1;
    writeFileSync(join(dir, 'r.raw'), raw);
  });

  const targets: string[][] = [
    [],
    ['-O', 'raw'],
    ['-O', 'raw', '-o', 'preallocation=full'],
    ['-O', 'qcow2'],
    ['-O', 'qcow2', '-o', 'cluster_size=512'],
    ['-O', 'qcow2', '-o', 'cluster_size=4k,refcount_bits=64'],
    ['-O', 'qcow2', '-o', 'cluster_size=2M,refcount_bits=1'],
    ['-O', 'qcow2', '-o', 'refcount_bits=8,cluster_size=1k'],
    ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=16k'],
    ['-O', 'qcow2', '-o', 'extended_l2=on'],
    ['-O', 'qcow2', '-o', 'compat=0.10'],
    ['-O', 'qcow2', '-o', 'preallocation=metadata'],
    ['-O', 'qcow2', '-o', 'preallocation=falloc'],
    ['-O', 'qcow2', '-o', 'preallocation=full,cluster_size=8k'],
    ['-O', 'qcow2', '-o', 'backing_file=foo.qcow2,backing_fmt=qcow2'],
    ['-O', 'qcow2', '-o', 'lazy_refcounts=on,compression_type=zstd', '-o', 'nocow=on'],
    ['-O', 'qcow2', '-o', 'extended_l2=y,cluster_size=32k,refcount_bits=0x20'],
  ];
  const sources: string[][] = [
    ['--size', '0'],
    ['--size', '1'],
    ['--size', '1000'],
    ['--size', '1.5k'],
    ['--size', '1M'],
    ['--size', '1000000000'],
    ['--size', '1G'],
    ['--size', '64T'],
    ['--size', '1P'],
    ['x.qcow2'],
    ['o.qcow2'],
    ['-f', 'qcow2', 'v2.qcow2'],
    ['e.qcow2'],
    ['b.qcow2'],
    ['r.raw'],
    ['-f', 'raw', 'r.raw'],
  ];

  for (const src of sources) {
    for (const json of [false, true]) {
      it(`${src.join(' ')}${json ? ' --output=json' : ''}: every target`, async () => {
        for (const t of targets) {
          const args = ['measure', ...(json ? ['--output=json'] : []), ...t, ...src];
          const ours = await runOurs(dir, args);
          const ref = runQemu(dir, 'qemu-img', ...args);
          expect(ours, args.join(' ')).toEqual(ref);
        }
      });
    }
  }

  const errors: string[][] = [
    ['-O', 'qcow2', '-o', 'cluster_size=3k', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'cluster_size=4M', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'cluster_size=xx', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'compat=foo', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'compat=v2', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'compat', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'refcount_bits=3', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'refcount_bits=x', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'compat=0.10,refcount_bits=8', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'compat=0.10,lazy_refcounts=on', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'preallocation=foo', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'extended_l2=maybe', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'lazy_refcounts=maybe', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'foo=bar', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'help', '--size', '1M'],
    ['-O', 'qcow2', '-o', '', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'cluster_size=64k,', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'size=5M', '--size', '1M'],
    ['-O', 'qcow2', '-o', 'size=2M'],
    ['-O', 'qcow2', '-o', 'size=2M', 'x.qcow2'],
    ['-O', 'raw', '-o', 'cluster_size=4k', '--size', '1M'],
    ['-O', 'raw', '-o', 'preallocation=foo', '--size', '1M'],
    ['-O', 'vmdk', '--size', '1G'],
    ['-O', 'foo', '--size', '1G'],
    ['--size', 'abc'],
    ['--size', '-1'],
    ['--size', '1.5'],
    ['--size', '16E'],
    ['--size', '18446744073709551615'],
    ['--size', '9223372036854775807'],
    ['--size', '8E', '-O', 'raw'],
    ['--size', '1E', '-O', 'qcow2'],
    ['--size', '1P', '-O', 'qcow2', '-o', 'cluster_size=512'],
    ['--size', '0x100000', '-O', 'qcow2'],
    ['--size', '1M', '--size', '2M'],
    ['--output=xml', '--size', '1M'],
    ['--size', '1M', 'x.qcow2'],
    ['--size', '1M', '-f', 'qcow2'],
    [],
    ['-O', 'qcow2', 'x.qcow2', 'o.qcow2'],
    ['nonexist.qcow2'],
    ['-f', 'qcow2', 'r.raw'],
  ];
  it('errors and odd arguments: qemu-img messages and exit codes', async () => {
    for (const e of errors) {
      const args = ['measure', ...e];
      const ours = await runOurs(dir, args);
      const ref = runQemu(dir, 'qemu-img', ...args);
      expect(ours, args.join(' ')).toEqual(ref);
    }
  });
});
