// Helpers for the tests of the image-changing commands (resize, commit, rebase, amend): each case
// builds its images once in a folder of its own, copies the folder, and runs tsemu-img on one copy
// and qemu-img on the other, so outputs and results compare directly (relative backing file
// names resolve inside each copy).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runOurs, runQemu, type Run } from './block-img-harness.ts';

export interface Twin {
  /** Where tsemu-img runs. */
  t: string;
  /** Where qemu-img runs. */
  q: string;
}

/** Runs a QEMU tool in `dir` and expects it to succeed. */
export function sh(dir: string, cmd: string, ...args: string[]): Run {
  const r = runQemu(dir, cmd, ...args);
  expect(r.code, `${cmd} ${args.join(' ')}: ${r.err}`).toBe(0);
  return r;
}

/** Two identical folders built by `setup` (run in the first). */
export function twin(root: string, name: string, setup: (dir: string) => void): Twin {
  const t = join(root, `${name}.t`);
  const q = join(root, `${name}.q`);
  mkdirSync(t, { recursive: true });
  setup(t);
  mkdirSync(q, { recursive: true });
  for (const f of readdirSync(t)) cpSync(join(t, f), join(q, f));
  return { t, q };
}

/** tsemu-img and qemu-img with the same arguments, each on its copy. */
export async function runBoth(tw: Twin, args: string[]): Promise<{ ours: Run; ref: Run }> {
  const ours = await runOurs(tw.t, args);
  const ref = runQemu(tw.q, 'qemu-img', ...args);
  return { ours, ref };
}

/** Same stdout, stderr and exit status. */
export function sameOutput(r: { ours: Run; ref: Run }, what: string): void {
  expect({ out: r.ours.out, err: r.ours.err, code: r.ours.code }, what).toEqual({ out: r.ref.out, err: r.ref.err, code: r.ref.code });
}

/** `qemu-img check` finds nothing: no errors, no leaks. */
export function checkClean(dir: string, img: string): void {
  const r = runQemu(dir, 'qemu-img', 'check', img);
  expect(r.out + r.err, `${dir}/${img}`).toMatch(/^No errors were found on the image\./);
  expect(r.code, `${dir}/${img}`).toBe(0);
}

/** `qemu-img compare` finds the two images identical (content and size). */
export function identical(a: string, b: string, ...opts: string[]): void {
  const r = runQemu('/', 'qemu-img', 'compare', ...opts, a, b);
  expect(r.out + r.err, `${a} vs ${b}`).toBe('Images are identical.\n');
  expect(r.code).toBe(0);
}

/** The fields of `qemu-img info --output=json` that do not depend on allocation. */
export function infoOf(dir: string, img: string): Record<string, unknown> {
  const r = runQemu(dir, 'qemu-img', 'info', '--output=json', img);
  expect(r.code, r.err).toBe(0);
  const o = JSON.parse(r.out) as Record<string, unknown>;
  delete o['actual-size'];
  return o;
}
