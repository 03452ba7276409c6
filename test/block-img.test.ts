// tsemu-img create/info against qemu-img on the same images.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOurs, runQemu, scratchDir, type Run } from './block-img-harness.ts';
import { humanSize, parseSize } from '../block/img/size.ts';

const dir = scratchDir('tsemu-img-');

function qemuImg(...args: string[]): Run {
  return runQemu(dir, 'qemu-img', ...args);
}

function ours(...args: string[]): Promise<Run> {
  return runOurs(dir, args, true);
}

describe('tsemu-img', () => {
  it('formats sizes like qemu', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(1000)).toBe('0.977 KiB');
    expect(humanSize(417792)).toBe('408 KiB');
    expect(humanSize(1835008)).toBe('1.75 MiB');
    expect(humanSize(109951162777600)).toBe('100 TiB');
    expect(parseSize('1.5M')).toBe(1572864);
    expect(parseSize('64k')).toBe(65536);
    expect(parseSize('1Q')).toBe(null);
  });

  const creates: string[][] = [
    ['-f', 'qcow2'],
    ['-f', 'qcow2', '-o', 'compat=0.10'],
    ['-f', 'qcow2', '-o', 'compat=v3,cluster_size=512,refcount_bits=1'],
    ['-f', 'qcow2', '-o', 'extended_l2=on,lazy_refcounts=on,cluster_size=128k,refcount_bits=8'],
    ['-f', 'qcow2', '-o', 'compression_type=zstd'],
    ['-f', 'raw'],
    ['-f', 'raw', '-o', 'preallocation=full'],
  ];
  creates.forEach((opts, n) => {
    it(`create ${opts.join(' ')} matches qemu-img byte for byte, and info matches`, async () => {
      const q = qemuImg('create', ...opts, `q${n}.img`, '8M');
      const t = await ours('create', ...opts, `t${n}.img`, '8M');
      expect(t.code).toBe(q.code);
      expect(t.out).toBe(q.out.replace(`q${n}.img`, `t${n}.img`));
      expect(Buffer.compare(readFileSync(join(dir, `t${n}.img`)), readFileSync(join(dir, `q${n}.img`)))).toBe(0);
      for (const out of ['human', 'json']) {
        const qi = qemuImg('info', `--output=${out}`, `q${n}.img`);
        const ti = await ours('info', `--output=${out}`, `q${n}.img`);
        expect(ti.out).toBe(qi.out);
        expect(ti.code).toBe(0);
      }
    });
  });

  it('info on backing chains, written images, dirty images and relative paths', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'base.qcow2', '4M');
    spawnSync('qemu-io', ['-c', 'write -P 1 0 1M', '-c', 'write -z 2M 64k', join(dir, 'base.qcow2')]);
    spawnSync('mkdir', ['-p', join(dir, 'sub')]);
    const c = await ours('create', '-q', '-f', 'qcow2', '-b', '../base.qcow2', '-F', 'qcow2', 'sub/ov.qcow2');
    expect(c.code).toBe(0);
    for (const args of [
      ['info', 'sub/ov.qcow2'],
      ['info', '--output=json', 'sub/ov.qcow2'],
      ['info', '--backing-chain', 'sub/ov.qcow2'],
      ['info', '--backing-chain', '--output', 'json', 'sub/ov.qcow2'],
      ['info', '-f', 'raw', 'base.qcow2'],
    ]) {
      expect((await ours(...args)).out, args.join(' ')).toBe(qemuImg(...args).out);
    }
    // Dirty bit set by hand (incompatible_features bit 0).
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', 'dirty.qcow2', '1M');
    spawnSync('sh', ['-c', `printf '\\001' | dd of=${join(dir, 'dirty.qcow2')} bs=1 seek=79 conv=notrunc 2>/dev/null`]);
    for (const out of ['human', 'json']) {
      expect((await ours('info', `--output=${out}`, 'dirty.qcow2')).out).toBe(qemuImg('info', `--output=${out}`, 'dirty.qcow2').out);
    }
  });

  it('errors: one line (plus qemu-img\'s hint line), exit 1', async () => {
    const cases: string[][] = [
      ['frob'],
      ['info'],
      ['info', 'nonexist'],
      ['info', '--output=xml', 'x'],
      ['create', '-z', 'x', '1M'],
      ['create', '-f', 'qcow2', 'e.qcow2'],
      ['create', '-f', 'vmdkx', 'e.img', '1M'],
      ['create', '-f', 'qcow2', '-o', 'foo=bar', 'e.qcow2', '1M'],
      ['create', '-f', 'qcow2', '-o', 'compat=0.10,lazy_refcounts=on', 'e.qcow2', '1M'],
      ['create', '-f', 'qcow2', '-o', 'cluster_size=1000', 'e.qcow2', '1M'],
      ['create', '-f', 'qcow2', '-o', 'refcount_bits=3', 'e.qcow2', '1M'],
      ['create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', 'e.qcow2', '1M'],
      ['create', '-f', 'qcow2', '-b', 'base.qcow2', 'e.qcow2'],
      ['create', '-f', 'qcow2', 'e.qcow2', '1Q'],
    ];
    for (const args of cases) {
      const q = qemuImg(...args);
      const t = await ours(...args);
      expect(t.code, args.join(' ')).toBe(q.code);
      expect(t.out, args.join(' ')).toBe(q.out);
      expect(t.err.replace(/tsemu-img/g, 'qemu-img'), args.join(' ')).toBe(q.err);
    }
  });
});
