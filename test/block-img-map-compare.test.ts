// tsemu-img map and compare against qemu-img on the same images: data, zero and compressed
// clusters, extended L2 entries, backing chains, snapshots; compare's messages and exit codes.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';

const dir = scratchDir('tsemu-map-');


function qemu(cmd: string, ...args: string[]): Run {
  return runQemu(dir, cmd, ...args);
}

function ours(...args: string[]): Promise<Run> {
  return runOurs(dir, args);
}

function make(name: string, size: string, createArgs: string[], ...writes: string[]): void {
  expect(qemu('qemu-img', 'create', '-q', '-f', 'qcow2', ...createArgs, name, ...(size ? [size] : [])).code).toBe(0);
  if (writes.length) expect(qemu('qemu-io', ...writes.flatMap((c) => ['-c', c]), name).code).toBe(0);
}

beforeAll(() => {
  make('a.qcow2', '64M', [], 'write -P 1 0 128k', 'write -z 1M 64k', 'write -c -P 2 2M 64k');
});

describe('tsemu-img map', () => {
  beforeAll(() => {
    make('plain.qcow2', '4M', ['-o', 'cluster_size=4k'], 'write -P 1 0 40k', 'write -z 100k 8k', 'write -P 3 1M 4k', 'write -P 4 64k 4k');
    make('ext.qcow2', '8M', ['-o', 'extended_l2=on'], 'write -P 1 0 4k', 'write -P 2 100k 8k', 'write -z 1M 64k', 'write -z 2M 4k');
    make('v2.qcow2', '8M', ['-o', 'compat=0.10'], 'write -P 1 0 40k', 'write -P 2 3M 64k');
    make('big.qcow2', '8M', ['-o', 'cluster_size=512'], 'write -P 1 0 2M', 'write -P 2 5M 1k', 'write -z 6M 512');
    make('ov.qcow2', '32M', ['-b', 'plain.qcow2', '-F', 'qcow2'], 'write -P 7 64k 64k', 'write -z 3M 64k', 'write -P 8 20M 64k');
    make('ov2.qcow2', '', ['-b', 'ov.qcow2', '-F', 'qcow2'], 'write -P 9 1M 4k', 'write -z 0 4k');
  });

  const cases: string[][] = [
    ['--output=json', 'a.qcow2'],
    ['a.qcow2'],
    ['--output=json', 'plain.qcow2'],
    ['plain.qcow2'],
    ['--output=json', 'ext.qcow2'],
    ['ext.qcow2'],
    ['--output=json', 'v2.qcow2'],
    ['--output=json', 'big.qcow2'],
    ['big.qcow2'],
    ['--output=json', 'ov.qcow2'],
    ['ov.qcow2'],
    ['--output=json', 'ov2.qcow2'],
    ['ov2.qcow2'],
    ['--output=json', '--start-offset=1M', '--max-length=3M', 'ov2.qcow2'],
    ['--output=json', '-f', 'qcow2', 'ov2.qcow2'],
    ['nonexist.qcow2'],
    ['--output=yaml', 'a.qcow2'],
  ];
  for (const args of cases) {
    it(args.join(' '), async () => {
      expect(await ours('map', ...args)).toEqual(qemu('qemu-img', 'map', ...args));
    });
  }
});

describe('tsemu-img compare', () => {
  beforeAll(() => {
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'x1.qcow2', '4M');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'x2.qcow2', '4M');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'y1.qcow2', '4M');
    qemu('qemu-io', '-c', 'write -P 1 65536 1', 'y1.qcow2');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'y2.qcow2', '4M');
    qemu('qemu-io', '-c', 'write -P 1 65536 1', '-c', 'write -P 2 70000 1', 'y2.qcow2');
    qemu('qemu-img', 'create', '-q', '-f', 'raw', 'r4.raw', '4M');
    qemu('qemu-img', 'create', '-q', '-f', 'raw', 'r8.raw', '8M');
    qemu('qemu-img', 'create', '-q', '-f', 'raw', 'r8b.raw', '8M');
    qemu('qemu-io', '-f', 'raw', '-c', 'write -P 3 6000000 1', 'r8b.raw');
    qemu('qemu-img', 'create', '-q', '-f', 'qcow2', 'z8.qcow2', '8M');
    qemu('qemu-io', '-c', 'write -z 5M 64k', '-c', 'write -P 0 6M 64k', 'z8.qcow2');
    qemu('qemu-img', 'convert', '-O', 'raw', 'ov2.qcow2', 'ov2.raw');
    qemu('qemu-img', 'convert', '-c', '-O', 'qcow2', 'ov2.qcow2', 'ov2c.qcow2');
  });
  const cases: string[][] = [
    ['x1.qcow2', 'x2.qcow2'],
    ['x1.qcow2', 'y1.qcow2'],
    ['y1.qcow2', 'x1.qcow2'],
    ['y1.qcow2', 'y2.qcow2'],
    ['-s', 'y1.qcow2', 'y2.qcow2'],
    ['-s', 'x1.qcow2', 'x2.qcow2'],
    ['-q', 'x1.qcow2', 'y1.qcow2'],
    ['x1.qcow2', 'r4.raw'],
    ['y1.qcow2', 'r4.raw'],
    ['r4.raw', 'r8.raw'],
    ['-s', 'r4.raw', 'r8.raw'],
    ['r4.raw', 'r8b.raw'],
    ['r8b.raw', 'r4.raw'],
    ['x1.qcow2', 'z8.qcow2'],
    ['-s', 'x1.qcow2', 'z8.qcow2'],
    ['ov2.qcow2', 'ov2.raw'],
    ['-f', 'qcow2', '-F', 'raw', 'ov2.qcow2', 'ov2.raw'],
    ['ov2c.qcow2', 'ov2.raw'],
    ['ov2c.qcow2', 'ov2.qcow2'],
    ['-s', 'ov2c.qcow2', 'ov2.qcow2'],
    ['-s', 'ov.qcow2', 'ov.qcow2'],
    ['-s', 'ov2c.qcow2', 'ov2c.qcow2'],
    ['ov.qcow2', 'ov2.qcow2'],
    ['-F', 'raw', 'x1.qcow2', 'x1.qcow2'],
    ['x1.qcow2', 'nonexist'],
    ['nonexist', 'x1.qcow2'],
  ];
  for (const args of cases) {
    it(args.join(' '), async () => {
      expect(await ours('compare', ...args)).toEqual(qemu('qemu-img', 'compare', ...args));
    });
  }
});
