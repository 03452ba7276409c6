// MMX/SSE/SSE2/SSE3/SSSE3/SSE4.1/SSE4.2 differential test against the host CPU (x86-64 Linux
// with gcc and binutils): every variant in test/hostdiff-sse/ops.ts runs on random register and
// memory inputs (biased toward 00/FF/80/7F lanes, equal operands and small shift counts) natively
// and in tsemu (64-bit mode, CR4.OSFXSR set); XMM1, XMM2, MM1, MM2, RAX and the memory operand
// must match byte for byte.
// The SSE/SSE2 floating-point variants (`gen` in ops.ts) run on random singles/doubles/integers
// biased to special values and rounding boundaries, under a random MXCSR (rounding mode, DAZ, FTZ,
// masks, sticky flags); MXCSR after the op and whether it raised #XM must match as well. RCPPS/
// RSQRTPS results are implementation-specific (SDM Vol. 2 RCPPS: relative error <= 1.5 * 2^-12):
// those lanes must match in class and sign and lie within that bound of each other.
// The SSE3, SSSE3 and SSE4.1 variants (and PCMPGTQ) are in test/hostdiff-sse/ops-sse4.ts; DPPS/
// DPPD exercise the step-by-step flag commit of sse-float.ts fpStepEnd.
// The SSE4.2 string compares (PCMPESTRM/PCMPESTRI/PCMPISTRM/PCMPISTRI) are in
// test/hostdiff-sse/ops-sse42.ts: every imm8 value on random byte/word strings (small alphabets,
// letter runs, boundary values, related operands, range pairs, nulls) with random EAX/EDX lengths,
// about 33,000 cases at the default SSE_CASES; they compare ECX (RCX), XMM0 and the flags as well.
//   SSE_SEED=n   replay a run (the seed is printed)
//   SSE_CASES=n  cases per variant (default 160)
//   SSE_OPS=re   only variants whose name matches this regular expression
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPS, REC, CMP, buildNative, guestCode, longCpu, randomCases, runNative, runTsemu, tmp, CODE } from './hostdiff-sse/ops.ts';

const SEED = process.env.SSE_SEED !== undefined ? Number(process.env.SSE_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.SSE_CASES ?? 160);
const ONLY = process.env.SSE_OPS ? new RegExp(process.env.SSE_OPS) : undefined;
const hostOk = process.arch === 'x64' && process.platform === 'linux';
/** CPU feature flags of the host: variants needing one it lacks are skipped. */
const hostFlags = new Set(hostOk ? (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/) : []);

const hex = (b: Uint8Array, o: number, n: number) => Array.from(b.slice(o, o + n)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');
const show = (b: Uint8Array, o: number) =>
  `xmm1=${hex(b, o, 16)} xmm2=${hex(b, o + 16, 16)} mem=${hex(b, o + 32, 16)} rax=${hex(b, o + 48, 8)} mm1=${hex(b, o + 56, 8)} mm2=${hex(b, o + 64, 8)} mxcsr=${hex(b, o + 72, 4)} fault=${hex(b, o + 80, 4)}`;

/** RCP/RSQRT lanes: equal, or both finite nonzero of one sign within 1.5 * 2^-12 relative (or both tiny). */
function approxSame(host: number, ours: number): boolean {
  if (host === ours) return true;
  const f = new Float32Array(new Uint32Array([host, ours]).buffer);
  const [h, o] = [f[0], f[1]];
  if (!Number.isFinite(h) || !Number.isFinite(o) || Number.isNaN(h) || Number.isNaN(o)) return false;
  if (Math.sign(h) !== Math.sign(o) && h !== 0 && o !== 0) return false;
  const tiny = 2 ** -125;
  if (Math.abs(h) < tiny && Math.abs(o) < tiny) return true; // the flush-to-zero band is implementation-specific
  return Math.abs(h - o) <= 1.5 * 2 ** -12 * Math.abs(o) * 1.0001;
}
function same(want: Uint8Array, wo: number, got: Uint8Array, go: number, tol: number): boolean {
  for (let j = tol * 4; j < CMP; j++) if (want[wo + j] !== got[go + j]) return false;
  if (tol === 0) return true;
  const w = new DataView(want.buffer, want.byteOffset), g = new DataView(got.buffer, got.byteOffset);
  for (let l = 0; l < tol; l++) if (!approxSame(w.getUint32(wo + l * 4, true), g.getUint32(go + l * 4, true))) return false;
  return true;
}

describe.runIf(hostOk)('MMX/SSE/SSE2/SSE3/SSSE3/SSE4.1/SSE4.2 vs host CPU', () => {
  it(`matches the host byte for byte (seed ${SEED})`, async () => {
    console.log(`sse hostdiff seed ${SEED} (SSE_SEED=${SEED} to replay)`);
    const dir = tmp();
    const exe = buildNative(dir);
    const code = guestCode(dir);
    const picked = OPS.map((op, k) => ({ op, k })).filter(({ op }) => (!ONLY || ONLY.test(op.name)) && (!op.needs || hostFlags.has(op.needs)));
    // The picked variants' cases in one buffer, so that the native helper runs once.
    const counts = picked.map(({ op }) => Math.max(1, Math.round(CASES * (op.mult ?? 1))));
    const starts: number[] = [];
    let n = 0;
    for (const c of counts) { starts.push(n); n += c; }
    const all = new Uint8Array(n * REC);
    picked.forEach(({ op, k }, i) => all.set(randomCases((SEED + k * 7919) >>> 0, op, counts[i], k), starts[i] * REC));
    const want = runNative(exe, dir, CASES, all);
    const cpu = await longCpu();
    cpu.ram.set(code, CODE);
    cpu.ramWritten(CODE, code.length);
    const report: string[] = [];
    let total = 0, bad = 0, fpTotal = 0, faults = 0;
    picked.forEach(({ op, k }, pi) => {
      const base = starts[pi] * REC;
      const count = counts[pi];
      const cases = all.subarray(base, base + count * REC);
      const got = runTsemu(cpu, k, cases);
      let opBad = 0;
      for (let i = 0; i < count; i++) {
        const o = i * REC;
        total++;
        if (op.gen) fpTotal++;
        if (want[base + o + 80] === 19) faults++;
        if (same(want, base + o, got, o, op.tol ?? 0)) continue;
        bad++; opBad++;
        if (opBad <= 2) {
          report.push(`${op.name} #${i}\n  in    ${show(cases, o)}\n  host  ${show(want, base + o)}\n  tsemu ${show(got, o)}`);
        }
      }
      if (opBad) report.push(`${op.name}: ${opBad}/${count} mismatches`);
    });
    console.log(`sse hostdiff: ${picked.length} variants, ${total} cases (${fpTotal} floating-point, ${faults} raising #XM), ${bad} mismatches`);
    expect(report.join('\n'), `seed ${SEED}`).toBe('');
  }, 60_000);
});
