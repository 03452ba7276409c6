// Native runner build/run, result parsing and comparison for the host-differential test.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL6, CODE_ADDR, encodeCases, masksAt, type HostdiffCase } from './generate.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'test/hostdiff/native-runner.c');
const BIN = path.join(ROOT, 'build/hostdiff/native-runner');

/** Final state of one case, from either side. */
export interface CaseResult {
  /** 0 ran to the end, 1 exception; tsemu only: 2 did not halt, 3 halted somewhere unexpected. */
  status: number;
  vector: number;
  regs: bigint[];
  rflags: bigint;
  /** End of the code, or the faulting instruction. */
  rip: bigint;
  /** Changed scratch bytes: offset << 8 | new value, ascending. */
  diffs: number[];
}

/** Compile the runner (if the source is newer); throws a clear error if gcc is missing. */
export function buildNativeRunner(): string {
  const probe = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('cpu-hostdiff: gcc is required to build test/hostdiff/native-runner.c (install gcc); the test cannot run without it');
  }
  let fresh = false;
  try { fresh = statSync(BIN).mtimeMs >= statSync(SRC).mtimeMs; } catch { /* not built yet */ }
  if (!fresh) {
    mkdirSync(path.dirname(BIN), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-o', BIN, SRC], { stdio: 'pipe' });
  }
  return BIN;
}

export function runNative(cases: HostdiffCase[]): CaseResult[] {
  const bin = buildNativeRunner();
  const res = spawnSync(bin, [], { input: encodeCases(cases), maxBuffer: 1 << 30 });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`native-runner exited with ${res.status ?? res.signal}: ${res.stderr}`);
  return parseResults(res.stdout, cases.length);
}

export function parseResults(buf: Buffer, n: number): CaseResult[] {
  const out: CaseResult[] = [];
  let p = 0;
  for (let i = 0; i < n; i++) {
    if (p + 156 > buf.length) throw new Error(`native-runner output ends after ${i} of ${n} cases`);
    const status = buf.readUInt32LE(p), vector = buf.readUInt32LE(p + 4);
    p += 8;
    const v: bigint[] = [];
    for (let k = 0; k < 18; k++, p += 8) v.push(buf.readBigUInt64LE(p));
    const nd = buf.readUInt32LE(p);
    p += 4;
    const diffs: number[] = [];
    for (let k = 0; k < nd; k++, p += 4) diffs.push(buf.readUInt32LE(p));
    out.push({ status, vector, regs: v.slice(0, 16), rflags: v[16], rip: v[17], diffs });
  }
  return out;
}

export const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const FLAG_NAMES: [number, string][] = [
  [0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x100, 'TF'], [0x200, 'IF'], [0x400, 'DF'],
  [0x800, 'OF'], [0x3000, 'IOPL'], [0x4000, 'NT'], [0x40000, 'AC'], [0x200000, 'ID'],
];
// All RFLAGS bits except RF (16): the native fault frame has RF set, which the SDM (Vol. 3,
// "Exception and interrupt handling", EFLAGS.RF) specifies for faults; it is not guest-visible state here.
const RFLAGS_COMPARED = 0x3fffff & ~0x10000;
const hex = (v: bigint) => '0x' + v.toString(16);
export const flagNames = (f: number) => FLAG_NAMES.filter(([b]) => f & b).map(([, n]) => n).join(' ') || '-';

/** Differences between the native (expected) and tsemu (actual) results, with masks applied. */
export function compareResults(c: HostdiffCase, exp: CaseResult, act: CaseResult): string[] {
  const d: string[] = [];
  if (exp.status !== act.status || (exp.status === 1 && exp.vector !== act.vector)) {
    const what = (r: CaseResult) =>
      r.status === 0 ? 'completed' : r.status === 1 ? `exception ${r.vector}` : r.status === 2 ? 'did not halt' : 'halted at an unexpected address';
    d.push(`outcome: native ${what(exp)}, tsemu ${what(act)}`);
    return d;
  }
  if (exp.rip !== act.rip) d.push(`rip: native ${hex(exp.rip)} tsemu ${hex(act.rip)}`);
  const m = masksAt(c, Number(exp.rip) - CODE_ADDR);
  if (!m) {
    d.push(`native stopped at ${hex(exp.rip)}, not an instruction boundary`);
    return d;
  }
  for (let r = 0; r < 16; r++) {
    if (m.taint & (1 << r)) continue;
    if (exp.regs[r] !== act.regs[r]) d.push(`${REG_NAMES[r]}: native ${hex(exp.regs[r])} tsemu ${hex(act.regs[r])}`);
  }
  const cmp = RFLAGS_COMPARED & ~(m.undef & ALL6);
  const fx = Number(exp.rflags) & cmp, fa = Number(act.rflags) & cmp;
  if (fx !== fa) {
    d.push(`rflags: native ${hex(exp.rflags)} tsemu ${hex(act.rflags)} (differ: ${flagNames(fx ^ fa)}; masked undefined: ${flagNames(m.undef)})`);
  }
  const ex = new Map(exp.diffs.map((x) => [x >>> 8, x & 0xff]));
  const ac = new Map(act.diffs.map((x) => [x >>> 8, x & 0xff]));
  const bad: string[] = [];
  for (const off of new Set([...ex.keys(), ...ac.keys()])) {
    if (ex.get(off) !== ac.get(off)) {
      const show = (v: number | undefined) => (v === undefined ? 'unchanged' : '0x' + v.toString(16));
      bad.push(`+0x${off.toString(16)}: native ${show(ex.get(off))} tsemu ${show(ac.get(off))}`);
    }
  }
  if (bad.length) d.push(`scratch memory (0x200000 ${bad.slice(0, 16).join(', ')}${bad.length > 16 ? ', ...' : ''})`);
  return d;
}

/** objdump disassembly of a case's code at its real address (best effort). */
export function disassemble(code: Uint8Array, vma = CODE_ADDR): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hostdiff-'));
  try {
    const f = path.join(dir, 'code.bin');
    writeFileSync(f, code);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-mi386:x86-64', `--adjust-vma=${vma}`, f], { encoding: 'utf8' });
    return out.split('\n').filter((l) => /^\s+[0-9a-f]+:/.test(l)).join('\n');
  } catch (e) {
    return `(objdump failed: ${(e as Error).message}) bytes: ${Buffer.from(code).toString('hex')}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A readable report of one mismatching case. */
export function describeCase(seed: number, c: HostdiffCase, diffs: string[], culprit?: string): string {
  const lines = [
    `case ${c.index} (HOSTDIFF_SEED=${seed} HOSTDIFF_CASE=${c.index}, preferred operand size ${c.size * 8} bits)`,
    ...(culprit ? [`first wrong after: ${culprit}`] : []),
    disassemble(c.code),
    'inputs: ' + c.regs.map((v, r) => `${REG_NAMES[r]}=${hex(v)}`).join(' ') + ` rflags=${hex(c.rflags)} memSeed=${c.memSeed}`,
    ...diffs.map((x) => '  ' + x),
  ];
  return lines.join('\n');
}

/** objdump text of one instruction ("imul $0x1,%ecx,%eax") and its mnemonic with prefixes. */
export function instructionText(bytes: Uint8Array, vma: number): { text: string; mnemonic: string } {
  const line = disassemble(bytes, vma).split('\n')[0] ?? '';
  const text = (line.split('\t')[2] ?? line).trim().replace(/\s+/g, ' ');
  const words = text.split(' ');
  const prefixes = new Set(['lock', 'rep', 'repz', 'repnz', 'cs', 'ds', 'es', 'ss', 'addr32', 'data16', 'rex', 'rex.W']);
  let i = 0;
  while (i < words.length - 1 && prefixes.has(words[i])) i++;
  return { text, mnemonic: words.slice(0, i + 1).join(' ') };
}
