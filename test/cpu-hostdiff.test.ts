// Differential test of tsemu's CPU against the host CPU (x86-64 Linux with gcc required).
// Random instruction sequences (test/hostdiff/generate.ts) run natively (native-runner.c) and in
// tsemu (tsemu-side.ts); registers, RFLAGS (SDM-undefined flags masked), the exception vector and
// the scratch memory must match.
//   HOSTDIFF_SEED=n   replay a run (the seed is printed)
//   HOSTDIFF_CASES=n  number of cases (default 100000)
//   HOSTDIFF_CASE=i   run only case i of the seed
//   HOSTDIFF_REPORT=n print n mismatching cases in full (default 8)
//   HOSTDIFF_EXCLUDE=a,b leave generator templates out (names in hostdiff/generate.ts TEMPLATES)
//   HOSTDIFF_ANALYSE=n find the first wrong instruction of up to n mismatching cases (default 300)
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AF, CF, CODE_ADDR, OF, PF, SF, ZF, generateCase, generateCases, masksAt, truncateCase, type HostdiffCase } from './hostdiff/generate.ts';
import { ROOT, buildNativeRunner, compareResults, describeCase, instructionText, runNative, type CaseResult } from './hostdiff/harness.ts';

const SEED = process.env.HOSTDIFF_SEED !== undefined ? Number(process.env.HOSTDIFF_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.HOSTDIFF_CASES ?? 100_000);
const ONLY = process.env.HOSTDIFF_CASE !== undefined ? Number(process.env.HOSTDIFF_CASE) : undefined;
const BATCH = 20_000;
const MAX_ANALYSED = Number(process.env.HOSTDIFF_ANALYSE ?? 300); // mismatching cases analysed for their first wrong instruction
const REPORTED = Number(process.env.HOSTDIFF_REPORT ?? 8); // ... and printed in full
const hostOk = process.arch === 'x64' && process.platform === 'linux';

/** A hand-written case (no generator bookkeeping beyond instruction bounds). */
function manualCase(insns: number[][], regs: Partial<Record<number, bigint>> = {}): HostdiffCase {
  const bounds: number[] = [];
  const code: number[] = [];
  for (const i of insns) { bounds.push(code.length); code.push(...i); }
  bounds.push(code.length);
  const r = Array.from({ length: 16 }, (_, k) => regs[k] ?? BigInt(k * 0x1111));
  r[4] = 0x200d00n;
  return {
    index: 0, size: 4, code: Uint8Array.from(code), regs: r, rflags: 0x202n, memSeed: 1, bounds,
    undef: bounds.map(() => 0), taint: bounds.map(() => 0),
  };
}

describe.runIf(hostOk)('hostdiff: generator and native runner', () => {
  it('builds the native runner (gcc required)', () => {
    expect(existsSync(buildNativeRunner())).toBe(true);
  });

  it('native runner is self-consistent', () => {
    const cases = generateCases(SEED, 5000);
    const a = runNative(cases);
    // Reverse order: state leaking from one case into the next would show up.
    const b = runNative([...cases].reverse()).reverse();
    const bad = cases.map((c, i) => compareResults(c, a[i], b[i])).filter((d) => d.length);
    expect(bad, `seed ${SEED}`).toEqual([]);
    // Every native stop is at an instruction boundary the generator recorded.
    for (const [i, c] of cases.entries()) expect(masksAt(c, Number(a[i].rip) - 0x100000), `case ${i}`).not.toBeNull();
    expect(a.some((r) => r.status === 1 && r.vector === 0)).toBe(true); // some DIVs fault
    expect(a.some((r) => r.status === 0 && r.diffs.length > 0)).toBe(true); // memory writes are seen
  });

  it('reports #DE and #UD as vectors and keeps running', () => {
    const cases = [
      manualCase([[0x31, 0xc9], [0xf7, 0xf1]]), // xor ecx,ecx; div ecx -> #DE
      manualCase([[0x48, 0x89, 0xc8], [0x0f, 0x0b]]), // mov rax,rcx; ud2 -> #UD
      manualCase([[0x82, 0xc0, 0x01]]), // 82 is invalid in 64-bit mode -> #UD
      manualCase([[0x48, 0x01, 0xd8], [0x50]]), // add rax,rbx; push rax -> completes
    ];
    const r = runNative(cases);
    expect(r.map((x) => [x.status, x.vector, Number(x.rip) - 0x100000])).toEqual([[1, 0, 2], [1, 6, 3], [1, 6, 0], [0, 0, 4]]);
    expect(r[0].regs[1]).toBe(0n); // state at the faulting DIV
    expect(r[1].regs[0]).toBe(0x1111n);
    expect(r[3].regs[0]).toBe(0x3333n);
    expect(r[3].diffs.length).toBeGreaterThan(0); // the push landed in the scratch page
  });

  it('masks exactly the flags the SDM leaves undefined', () => {
    const at = (names: Parameters<typeof generateCase>[2]) => {
      // Some seeds make the generator drop a template (e.g. no usable register left): take the
      // first case from SEED on in which every requested template was emitted.
      let c = generateCase(SEED, 7, names);
      for (let k = 1; k < 100 && c.bounds.length <= names!.length; k++) c = generateCase((SEED + k) >>> 0, 7, names);
      expect(c.bounds.length).toBeGreaterThan(names!.length); // every template was emitted
      return c.undef[c.undef.length - 1];
    };
    expect(at(['test'])).toBe(AF); // TEST/AND/OR/XOR: AF undefined
    expect(at(['mul'])).toBe(SF | ZF | AF | PF);
    expect(at(['bt'])).toBe(OF | SF | AF | PF);
    expect(at(['mul', 'test'])).toBe(AF); // TEST redefines SF ZF PF, leaves AF undefined
    expect(at(['bt', 'incdec'])).toBe(0); // INC/DEC define all but CF, BT defined CF
    expect(at(['mul', 'cbw'])).toBe(SF | ZF | AF | PF); // CBW touches no flags

    // The comparison ignores masked flags and only those.
    const c = generateCase(SEED, 7, ['test']);
    const [n] = runNative([c]);
    const flip = (f: number): CaseResult => ({ ...n, rflags: n.rflags ^ BigInt(f) });
    expect(compareResults(c, n, flip(AF))).toEqual([]);
    expect(compareResults(c, n, flip(ZF)).join()).toMatch(/ZF/);
    expect(compareResults(c, n, flip(CF)).join()).toMatch(/CF/);
  });
});

/** Run one case in tsemu and compare; an exception thrown by the CPU is a mismatch too. */
function runAndCompare(emu: { run(c: HostdiffCase): CaseResult }, c: HostdiffCase, native: CaseResult): string[] {
  try {
    return compareResults(c, native, emu.run(c));
  } catch (e) {
    return [`tsemu threw: ${(e as Error).stack ?? e}`];
  }
}

describe.runIf(hostOk)('hostdiff: tsemu CPU against the host CPU', () => {
  it(`matches the host on random instruction sequences (seed ${SEED})`, async () => {
    if (!existsSync(path.join(ROOT, 'cpu/cpu.ts'))) throw new Error('cpu-hostdiff: cpu/cpu.ts does not exist yet');
    buildNativeRunner();
    const { TsemuRunner } = await import('./hostdiff/tsemu-side.ts');
    const emu = await TsemuRunner.create();
    console.log(`cpu-hostdiff: HOSTDIFF_SEED=${SEED}`);
    const bad: { c: HostdiffCase; d: string[] }[] = [];
    const perSize = [0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mismatches = 0, total = 0, faults = 0, nativeMs = 0, emuMs = 0;
    const ranges = ONLY !== undefined ? [[ONLY, 1]] : Array.from({ length: Math.ceil(CASES / BATCH) }, (_, b) => [b * BATCH, Math.min(BATCH, CASES - b * BATCH)]);
    for (const [first, count] of ranges) {
      const cases = generateCases(SEED, count, first);
      let t = performance.now();
      const native = runNative(cases);
      nativeMs += performance.now() - t;
      t = performance.now();
      for (const [i, c] of cases.entries()) {
        const d = runAndCompare(emu, c, native[i]);
        total++;
        if (native[i].status === 1) faults++;
        if (d.length === 0) continue;
        mismatches++;
        perSize[c.size]++;
        if (bad.length < MAX_ANALYSED) bad.push({ c, d });
      }
      emuMs += performance.now() - t;
    }
    console.log(`cpu-hostdiff: ${total} cases (${faults} with exceptions), ${mismatches} mismatches (cases with preferred size 16/32/64: ${perSize[2]}/${perSize[4]}/${perSize[8]}); native ${nativeMs.toFixed(0)} ms, tsemu ${emuMs.toFixed(0)} ms`);
    if (mismatches) {
      // Find the first instruction after which each mismatching case goes wrong (run prefixes).
      const prefixes = bad.flatMap(({ c }) => c.bounds.slice(1).map((_, k) => truncateCase(c, k + 1)));
      const pn = runNative(prefixes);
      let p = 0;
      const byMnemonic = new Map<string, number>();
      const reports: string[] = [];
      for (const { c, d } of bad) {
        let culprit: { text: string; mnemonic: string } | undefined;
        for (let k = 1; k < c.bounds.length; k++, p++) {
          if (culprit || runAndCompare(emu, prefixes[p], pn[p]).length === 0) continue;
          culprit = instructionText(c.code.slice(c.bounds[k - 1], c.bounds[k]), CODE_ADDR + c.bounds[k - 1]);
        }
        const key = culprit?.mnemonic ?? '?';
        byMnemonic.set(key, (byMnemonic.get(key) ?? 0) + 1);
        if (reports.length < REPORTED) reports.push(describeCase(SEED, c, d, culprit?.text));
      }
      const hist = [...byMnemonic].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m}: ${n}`).join(', ');
      console.log(`cpu-hostdiff: first wrong instruction of ${bad.length} mismatching cases: ${hist}\n\n${reports.join('\n\n')}`);
    }
    expect(mismatches, `seed ${SEED}: see the mismatch reports above`).toBe(0);
  }, 600_000);
});

describe.skipIf(hostOk)('hostdiff: unsupported host', () => {
  it('needs an x86-64 Linux host', () => {
    throw new Error(`cpu-hostdiff needs x86-64 Linux (this is ${process.platform}/${process.arch})`);
  });
});
