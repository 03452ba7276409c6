// `tsemu-img bench` against `qemu-img bench`: the same lines (the run time aside), the same
// messages and exit codes for bad options and failed requests, and writes that land as qemu's do.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';

const dir = scratchDir('tsemu-img-bench-');

/** The run time is the one thing allowed to differ. */
const untimed = (r: Run): Run => ({ ...r, out: r.out.replace(/Run completed in \d+\.\d{3} seconds\./, 'Run completed in T seconds.') });

async function both(args: string[]): Promise<{ ours: Run; theirs: Run }> {
  const theirs = untimed(runQemu(dir, 'qemu-img', 'bench', ...args));
  const ours = untimed(await runOurs(dir, ['bench', ...args]));
  return { ours, theirs };
}

describe('tsemu-img bench', () => {
  it('prints what qemu-img prints for reads and writes, raw and qcow2', async () => {
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', 'b.qcow2', '4M');
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'raw', 'b.raw', '4M');
    for (const args of [
      ['-c', '100', '-d', '4', '-f', 'qcow2', 'b.qcow2'],
      ['-c', '50', '-d', '1', '-s', '1k', '-S', '3000', '-o', '512', '-f', 'raw', 'b.raw'],
      ['-c', '64', '-w', '--pattern=0x5a', '-S', '65536', '-f', 'qcow2', 'b.qcow2'],
      ['-c', '40', '-d', '8', '-w', '--flush-interval=10', '-f', 'raw', 'b.raw'],
      ['-c', '40', '-d', '8', '-w', '--flush-interval=8', '--no-drain', '-t', 'writeback', '-i', 'threads', '-f', 'qcow2', 'b.qcow2'],
      ['-c', '0', '-f', 'raw', 'b.raw'],
      ['-q', '-c', '3', '-U', '-f', 'raw', 'b.raw'],
    ]) {
      const { ours, theirs } = await both(args);
      expect(ours, args.join(' ')).toEqual(theirs);
      expect(ours.out).toContain('Run completed in T seconds.');
    }
  });

  it('wraps at the end of the image and writes the pattern byte where qemu-img does', async () => {
    // A strided write that wraps several times, on two copies of the same raw image.
    writeFileSync(join(dir, 'w1.raw'), new Uint8Array(1 << 20));
    writeFileSync(join(dir, 'w2.raw'), new Uint8Array(1 << 20));
    const args = ['-w', '-c', '700', '-d', '16', '-s', '512', '-S', '5120', '--pattern=171', '-f', 'raw'];
    expect(runQemu(dir, 'qemu-img', 'bench', ...args, 'w1.raw').code).toBe(0);
    expect((await runOurs(dir, ['bench', ...args, 'w2.raw'])).code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'w1.raw')), readFileSync(join(dir, 'w2.raw')))).toBe(0);
  });

  it('fails like qemu-img on bad options and on requests past the end', async () => {
    runQemu(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', 'e.qcow2', '1M');
    for (const args of [
      ['-c', 'x', 'e.qcow2'],
      ['-c', '-1', 'e.qcow2'],
      ['-d', 'x', 'e.qcow2'],
      ['-s', '3x', 'e.qcow2'],
      ['-S', '-1', 'e.qcow2'],
      ['-o', 'x', 'e.qcow2'],
      ['--pattern=300', 'e.qcow2'],
      ['-t', 'bogus', 'e.qcow2'],
      ['-i', 'bogus', 'e.qcow2'],
      ['--flush-interval=5', 'e.qcow2'],
      ['-w', '--flush-interval=5', 'e.qcow2'],
      ['-n', '-c', '1', 'e.qcow2'],
      ['-c', '1', 'missing.qcow2'],
      ['-c', '1', '-o', '2M', '-f', 'qcow2', 'e.qcow2'],
      ['-c', '3', '-s', '5M', '-f', 'qcow2', 'e.qcow2'],
      [],
      ['a', 'b'],
    ]) {
      const { ours, theirs } = await both(args);
      expect(ours.code, args.join(' ')).toBe(theirs.code);
      expect(ours.err, args.join(' ')).toBe(theirs.err);
      expect(ours.out, args.join(' ')).toBe(theirs.out);
    }
  });
});
