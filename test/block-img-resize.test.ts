// tsemu-img resize against qemu-img resize: raw and qcow2 images made by qemu-img/qemu-io, each
// tool run on its own copy. Same stdout, stderr and exit status; after a successful resize our
// image passes `qemu-img check` (no errors, no leaks), has the content of qemu-img's result and of
// the expected raw bytes (old content cut or zero-extended), and snapshots still read the same.
import { copyFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runQemu, scratchDir } from './block-img-harness.ts';
import { checkClean, identical, infoOf, runBoth, sameOutput, sh, twin } from './block-img-twin.ts';

const root = scratchDir('tsemu-resize-');

interface Case {
  name: string;
  /** Builds the images in the folder (qemu-img/qemu-io). */
  setup: (d: string) => void;
  args: string[];
  /** The image resized (checked afterwards); raw ones are not given to `check`. */
  file: string;
  raw?: boolean;
  /** Snapshots whose content must survive. */
  snapshots?: string[];
  /** Skip the zero-extended-raw expectation (the new area shows a backing file or old bytes). */
  noRawExpectation?: boolean;
}

const qcow2 = (name: string, size: string, ...opts: string[]) => (d: string): void => void sh(d, 'qemu-img', 'create', '-q', '-f', 'qcow2', ...opts, name, size);
const io = (name: string, ...cmds: string[]) => (d: string): void => void sh(d, 'qemu-io', ...cmds.flatMap((c) => ['-c', c]), name);
const ioRaw = (name: string, ...cmds: string[]) => (d: string): void => void sh(d, 'qemu-io', '-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), name);
const all = (...steps: ((d: string) => void)[]) => (d: string): void => steps.forEach((s) => s(d));

/** A 1 MiB image with data at the start, in the middle (compressed) and at the end. */
const filled = (name: string, ...opts: string[]): ((d: string) => void) =>
  all(qcow2(name, '1M', ...opts), io(name, 'write -P 1 0 64k', 'write -c -P 2 512k 64k', 'write -P 3 960k 64k', 'write -z 256k 64k'));

const cases: Case[] = [
  { name: 'grow absolute', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '3M'], file: 'a.qcow2' },
  { name: 'grow relative', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '+1536k'], file: 'a.qcow2' },
  { name: 'grow quietly', setup: filled('a.qcow2'), args: ['resize', '-q', 'a.qcow2', '2M'], file: 'a.qcow2' },
  { name: 'same size', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '1M'], file: 'a.qcow2' },
  { name: 'grow past the L1 table (64 KiB clusters)', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '1T'], file: 'a.qcow2' },
  {
    name: 'grow past the L1 table (512-byte clusters, several L1 clusters)',
    setup: all(qcow2('a.qcow2', '1M', '-o', 'cluster_size=512'), io('a.qcow2', 'write -P 5 0 4k', 'write -P 6 1020k 4k')),
    args: ['resize', 'a.qcow2', '200M'],
    file: 'a.qcow2',
  },
  { name: 'grow extended L2', setup: filled('a.qcow2', '-o', 'extended_l2=on,cluster_size=32k'), args: ['resize', 'a.qcow2', '5G'], file: 'a.qcow2' },
  { name: 'grow version 2', setup: filled('a.qcow2', '-o', 'compat=0.10'), args: ['resize', 'a.qcow2', '3G'], file: 'a.qcow2' },
  { name: 'grow, 8-bit refcounts 4 KiB clusters', setup: filled('a.qcow2', '-o', 'cluster_size=4k,refcount_bits=8'), args: ['resize', 'a.qcow2', '+3G'], file: 'a.qcow2' },
  { name: 'shrink without --shrink', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '512k'], file: 'a.qcow2' },
  { name: 'shrink', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '512k'], file: 'a.qcow2' },
  { name: 'shrink relative', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '--', '-448k'], file: 'a.qcow2' },
  { name: 'shrink, --shrink after the name', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '--shrink', '64k'], file: 'a.qcow2' },
  { name: 'shrink to an unaligned size', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '1000'], file: 'a.qcow2' },
  { name: 'shrink inside a cluster', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '1000448'], file: 'a.qcow2' },
  {
    name: 'shrink drops whole L2 tables and trims the file',
    setup: all(qcow2('b.qcow2', '4G'), io('b.qcow2', 'write -P 1 0 64k', 'write -P 2 1G 128k', 'write -c -P 3 3G 64k', 'write -P 4 2G 64k')),
    args: ['resize', '--shrink', 'b.qcow2', '100M'],
    file: 'b.qcow2',
  },
  {
    name: 'shrink 512-byte clusters, 1-bit refcounts',
    setup: all(qcow2('b.qcow2', '2M', '-o', 'cluster_size=512,refcount_bits=1'), io('b.qcow2', 'write -P 1 0 8k', 'write -P 2 1M 64k', 'write -P 3 2000k 8k')),
    args: ['resize', '--shrink', 'b.qcow2', '1M'],
    file: 'b.qcow2',
  },
  {
    name: 'shrink extended L2 with subclusters past the end',
    setup: all(qcow2('b.qcow2', '2M', '-o', 'extended_l2=on,cluster_size=64k'), io('b.qcow2', 'write -P 1 0 4k', 'write -P 2 1028k 8k', 'write -z 1100k 4k')),
    args: ['resize', '--shrink', 'b.qcow2', '1M'],
    file: 'b.qcow2',
  },
  { name: 'shrink version 2', setup: filled('a.qcow2', '-o', 'compat=0.10'), args: ['resize', '--shrink', 'a.qcow2', '256k'], file: 'a.qcow2' },
  { name: 'shrink to zero', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '0'], file: 'a.qcow2' },
  {
    name: 'grow with a snapshot',
    setup: all(filled('s.qcow2'), (d) => void sh(d, 'qemu-img', 'snapshot', '-c', 'one', 's.qcow2'), io('s.qcow2', 'write -P 9 0 4k')),
    args: ['resize', 's.qcow2', '1G'],
    file: 's.qcow2',
    snapshots: ['one'],
  },
  {
    name: 'shrink with a snapshot sharing the tables',
    setup: all(filled('s.qcow2'), (d) => void sh(d, 'qemu-img', 'snapshot', '-c', 'one', 's.qcow2'), io('s.qcow2', 'write -P 9 960k 4k')),
    args: ['resize', '--shrink', 's.qcow2', '448k'],
    file: 's.qcow2',
    snapshots: ['one'],
  },
  {
    name: 'version 2 with a snapshot',
    setup: all(filled('s.qcow2', '-o', 'compat=0.10'), (d) => void sh(d, 'qemu-img', 'snapshot', '-c', 'one', 's.qcow2')),
    args: ['resize', 's.qcow2', '2M'],
    file: 's.qcow2',
  },
  { name: 'preallocation=full', setup: filled('a.qcow2'), args: ['resize', '--preallocation=full', 'a.qcow2', '3M'], file: 'a.qcow2' },
  { name: 'preallocation=falloc', setup: filled('a.qcow2', '-o', 'cluster_size=4k'), args: ['resize', '--preallocation=falloc', 'a.qcow2', '1536k'], file: 'a.qcow2' },
  { name: 'preallocation=metadata', setup: filled('a.qcow2'), args: ['resize', '--preallocation=metadata', 'a.qcow2', '600M'], file: 'a.qcow2' },
  { name: 'preallocation=metadata version 2', setup: filled('a.qcow2', '-o', 'compat=0.10'), args: ['resize', '--preallocation=metadata', 'a.qcow2', '5M'], file: 'a.qcow2' },
  { name: 'preallocation=off', setup: filled('a.qcow2'), args: ['resize', '--preallocation=off', 'a.qcow2', '5M'], file: 'a.qcow2' },
  { name: 'preallocation when shrinking', setup: filled('a.qcow2'), args: ['resize', '--shrink', '--preallocation=full', 'a.qcow2', '64k'], file: 'a.qcow2' },
  { name: 'preallocation to the same size', setup: filled('a.qcow2'), args: ['resize', '--preallocation=full', 'a.qcow2', '1M'], file: 'a.qcow2' },
  { name: 'unknown preallocation', setup: filled('a.qcow2'), args: ['resize', '--preallocation=foo', 'a.qcow2', '2M'], file: 'a.qcow2' },
  {
    name: 'overlay over a longer backing file: the new area reads zeroes',
    setup: all(
      (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'base.raw', '4M'),
      ioRaw('base.raw', 'write -P 5 0 4M'),
      qcow2('ov.qcow2', '1000k', '-b', 'base.raw', '-F', 'raw'),
      io('ov.qcow2', 'write -P 6 0 64k'),
    ),
    args: ['resize', 'ov.qcow2', '3M'],
    file: 'ov.qcow2',
  },
  {
    name: 'version 2 overlay over a longer backing file',
    setup: all(
      (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'base.raw', '4M'),
      qcow2('ov.qcow2', '1M', '-o', 'compat=0.10', '-b', 'base.raw', '-F', 'raw'),
    ),
    args: ['resize', 'ov.qcow2', '3M'],
    file: 'ov.qcow2',
  },
  {
    name: 'overlay over a shorter backing file',
    setup: all((d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'base.raw', '1M'), qcow2('ov.qcow2', '2M', '-b', 'base.raw', '-F', 'raw')),
    args: ['resize', 'ov.qcow2', '3M'],
    file: 'ov.qcow2',
    noRawExpectation: true,
  },
  { name: 'size not a multiple of 512', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '2000001'], file: 'a.qcow2' },
  { name: 'too large for the L1 table', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '3P'], file: 'a.qcow2' },
  { name: 'negative result', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '--', '-10M'], file: 'a.qcow2' },
  { name: 'zero', setup: filled('a.qcow2'), args: ['resize', '--shrink', 'a.qcow2', '0'], file: 'a.qcow2' },
  { name: 'not a size', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '12Q'], file: 'a.qcow2' },
  { name: 'out of range', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '16E'], file: 'a.qcow2' },
  { name: 'negative as int64', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '8E'], file: 'a.qcow2' },
  { name: 'hex size', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', '0x200000'], file: 'a.qcow2' },
  { name: 'not enough arguments', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2'], file: 'a.qcow2' },
  { name: 'too many arguments', setup: filled('a.qcow2'), args: ['resize', 'a.qcow2', 'b', '2M'], file: 'a.qcow2' },
  { name: 'unknown option', setup: filled('a.qcow2'), args: ['resize', '-x', 'a.qcow2', '2M'], file: 'a.qcow2' },
  { name: 'missing image', setup: () => {}, args: ['resize', 'nonexist.qcow2', '2M'], file: '' },
  { name: 'qcow2 forced on a raw file', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['resize', '-f', 'qcow2', 'r.raw', '2M'], file: '' },
  { name: 'raw grow', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['resize', '-f', 'raw', 'r.raw', '2000001'], file: 'r.raw', raw: true },
  {
    name: 'raw probed: the warning',
    setup: all((d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), ioRaw('r.raw', 'write -P 3 0 1M')),
    args: ['resize', '--shrink', 'r.raw', '1001'],
    file: 'r.raw',
    raw: true,
  },
  { name: 'raw preallocation=full', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['resize', '-f', 'raw', '--preallocation=full', 'r.raw', '3M'], file: 'r.raw', raw: true },
  { name: 'raw preallocation=metadata', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['resize', '-f', 'raw', '--preallocation=metadata', 'r.raw', '3M'], file: 'r.raw', raw: true },
  { name: 'raw shrink without --shrink', setup: (d) => void sh(d, 'qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '1M'), args: ['resize', '-f', 'raw', 'r.raw', '-512k'], file: 'r.raw', raw: true },
];

describe('tsemu-img resize', () => {
  cases.forEach((c, n) => {
    it(`${c.name}: ${c.args.slice(1).join(' ')}`, async () => {
      const tw = twin(root, `c${n}`, c.setup);
      // What the image showed before, as raw bytes, to build the expected result.
      const before = join(tw.q, 'before.raw');
      if (c.file && !c.raw) sh(tw.q, 'qemu-img', 'convert', '-O', 'raw', c.file, 'before.raw');
      if (c.file && c.raw) copyFileSync(join(tw.q, c.file), before);
      const r = await runBoth(tw, c.args);
      sameOutput(r, c.name);
      if (r.ref.code !== 0 || !c.file) return;
      const ours = join(tw.t, c.file);
      const ref = join(tw.q, c.file);
      if (c.raw) {
        expect(statSync(ours).size).toBe(statSync(ref).size);
        identical(ours, ref, '-f', 'raw', '-F', 'raw');
        return;
      }
      checkClean(tw.t, c.file);
      // A shrink trims the file like qemu-img's does.
      if (c.args.includes('--shrink')) expect(statSync(ours).size).toBeLessThanOrEqual(statSync(ref).size);
      identical(ours, ref);
      expect(infoOf(tw.t, c.file)).toEqual(infoOf(tw.q, c.file));
      if (!c.noRawExpectation && !c.file.startsWith('ov')) {
        // Old bytes up to the new end, zeroes after (unaligned shrinks keep qemu's rounding).
        const size = (infoOf(tw.q, c.file)['virtual-size'] as number) ?? 0;
        truncateSync(before, size);
        identical(ours, before, '-F', 'raw');
      }
      for (const sn of c.snapshots ?? []) {
        sh(tw.t, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.file, `sn-${sn}.raw`);
        sh(tw.q, 'qemu-img', 'convert', '-O', 'raw', '-l', sn, c.file, `sn-${sn}.raw`);
        identical(join(tw.t, `sn-${sn}.raw`), join(tw.q, `sn-${sn}.raw`), '-f', 'raw', '-F', 'raw');
      }
    });
  });

  it('a grown image takes writes past its old end (qemu-io reads them back)', async () => {
    const tw = twin(root, 'rw', all(qcow2('a.qcow2', '1M'), io('a.qcow2', 'write -P 1 0 1M')));
    expect((await runBoth(tw, ['resize', 'a.qcow2', '3G'])).ours.code).toBe(0);
    const w = runQemu(tw.t, 'qemu-io', '-c', 'write -P 7 2G 1M', '-c', 'read -P 1 0 1M', '-c', 'read -P 0 1M 1M', '-c', 'read -P 7 2G 1M', 'a.qcow2');
    expect(w.out).not.toMatch(/Pattern verification failed|error/i);
    expect(w.code).toBe(0);
    checkClean(tw.t, 'a.qcow2');
  });
});
