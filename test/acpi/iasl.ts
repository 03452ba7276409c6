// Helpers for the ACPI tests: run Debian's `iasl` (package acpica-tools) to compile ASL or
// disassemble a table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function iaslAvailable(): boolean {
  const r = spawnSync('iasl', ['-v'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

function requireIasl(): void {
  if (!iaslAvailable()) throw new Error("'iasl' is missing: apt-get install acpica-tools");
}

/**
 * Compile `asl` as the body of a DSDT (`revision` 1: 32-bit integers) with named-reference
 * optimisation off, and return the AML after the 36-byte header.
 */
export function compileAsl(asl: string, revision = 1): Uint8Array {
  requireIasl();
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-iasl-'));
  try {
    const src = join(dir, 't.asl');
    writeFileSync(src, `DefinitionBlock ("", "DSDT", ${revision}, "TSEMU ", "TEST", 1)\n{\n${asl}\n}\n`);
    const r = spawnSync('iasl', ['-vs', '-vr', '-on', '-p', join(dir, 't'), src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`iasl failed:\n${r.stdout}${r.stderr}`);
    return new Uint8Array(readFileSync(join(dir, 't.aml'))).subarray(36);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Disassembly {
  ok: boolean;
  /** iasl's messages (stdout + stderr). */
  log: string;
  /** The .dsl text. */
  dsl: string;
}

/**
 * Disassemble one table with `iasl -d`. `others` are extra tables (e.g. the DSDT for an SSDT)
 * passed with -e so external references resolve.
 */
export function disassemble(table: Uint8Array, others: Uint8Array[] = []): Disassembly {
  requireIasl();
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-iasl-'));
  try {
    const file = join(dir, 't.dat');
    writeFileSync(file, table);
    const extra: string[] = [];
    others.forEach((t, i) => {
      const p = join(dir, `e${i}.dat`);
      writeFileSync(p, t);
      extra.push(p);
    });
    const args = extra.length ? ['-e', ...extra, '-d', file] : ['-d', file];
    const r = spawnSync('iasl', args, { encoding: 'utf8', cwd: dir });
    let dsl = '';
    try {
      dsl = readFileSync(join(dir, 't.dsl'), 'utf8');
    } catch {
      // no output
    }
    return { ok: r.status === 0 && dsl !== '', log: `${r.stdout}${r.stderr}`, dsl };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Hex dump for readable assertion messages. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
