// Shared by the tsemu-img tests: a scratch folder, qemu-img/qemu-io runs in it, and tsemu-img's
// main() run in-process with stdout/stderr captured (its program name read as qemu-img's, so the
// two outputs compare directly).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { main } from '../block/img/main.ts';

export interface Run {
  out: string;
  err: string;
  code: number;
}

/** A scratch folder removed after the file's tests. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run a QEMU tool (qemu-img, qemu-io) in `dir`. */
export function runQemu(dir: string, cmd: string, ...args: string[]): Run {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, code: r.status ?? -1 };
}

/** Run tsemu-img in-process in `dir`; "tsemu-img" in its stderr reads "qemu-img" unless `raw`. */
export async function runOurs(dir: string, args: string[], raw = false): Promise<Run> {
  let out = '';
  let err = '';
  const cwd = process.cwd();
  const w1 = process.stdout.write;
  const w2 = process.stderr.write;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  process.chdir(dir);
  try {
    const code = await main(args);
    return { out, err: raw ? err : err.replace(/tsemu-img/g, 'qemu-img'), code };
  } finally {
    process.chdir(cwd);
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}
