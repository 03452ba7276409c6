// MMX/SSE/SSE2 integer and data-movement differential test against the host CPU (x86-64 Linux
// with gcc and binutils): every variant in test/hostdiff-sse/ops.ts runs on random register and
// memory inputs (biased toward 00/FF/80/7F lanes, equal operands and small shift counts) natively
// and in tsemu (64-bit mode, CR4.OSFXSR set); XMM1, XMM2, MM1, MM2, RAX and the memory operand
// must match byte for byte.
//   SSE_SEED=n   replay a run (the seed is printed)
//   SSE_CASES=n  cases per variant (default 160)
//   SSE_OPS=re   only variants whose name matches this regular expression
import { describe, expect, it } from 'vitest';
import { OPS, REC, CMP, buildNative, guestCode, longCpu, randomCases, runNative, runTsemu, tmp, CODE } from './hostdiff-sse/ops.ts';

const SEED = process.env.SSE_SEED !== undefined ? Number(process.env.SSE_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.SSE_CASES ?? 160);
const ONLY = process.env.SSE_OPS ? new RegExp(process.env.SSE_OPS) : undefined;
const hostOk = process.arch === 'x64' && process.platform === 'linux';

const hex = (b: Uint8Array, o: number, n: number) => Array.from(b.slice(o, o + n)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');
const show = (b: Uint8Array, o: number) =>
  `xmm1=${hex(b, o, 16)} xmm2=${hex(b, o + 16, 16)} mem=${hex(b, o + 32, 16)} rax=${hex(b, o + 48, 8)} mm1=${hex(b, o + 56, 8)} mm2=${hex(b, o + 64, 8)}`;

describe.runIf(hostOk)('MMX/SSE/SSE2 vs host CPU', () => {
  it(`matches the host byte for byte (seed ${SEED})`, async () => {
    console.log(`sse hostdiff seed ${SEED} (SSE_SEED=${SEED} to replay)`);
    const dir = tmp();
    const exe = buildNative(dir);
    const code = guestCode(dir);
    const picked = OPS.map((op, k) => ({ op, k })).filter(({ op }) => !ONLY || ONLY.test(op.name));
    // All variants' cases in one buffer, so that the native helper runs once.
    const all = new Uint8Array(OPS.length * CASES * REC);
    for (const { op, k } of OPS.map((op, k) => ({ op, k }))) all.set(randomCases((SEED + k * 7919) >>> 0, op, CASES), k * CASES * REC);
    const want = runNative(exe, dir, CASES, all);
    const cpu = await longCpu();
    cpu.ram.set(code, CODE);
    cpu.ramWritten(CODE, code.length);
    const report: string[] = [];
    let total = 0, bad = 0;
    for (const { op, k } of picked) {
      const base = k * CASES * REC;
      const cases = all.subarray(base, base + CASES * REC);
      const got = runTsemu(cpu, k, cases);
      let opBad = 0;
      for (let i = 0; i < CASES; i++) {
        const o = i * REC;
        total++;
        let same = true;
        for (let j = 0; j < CMP; j++) if (want[base + o + j] !== got[o + j]) { same = false; break; }
        if (same) continue;
        bad++; opBad++;
        if (opBad <= 2) {
          report.push(`${op.name} #${i}\n  in    ${show(cases, o)}\n  host  ${show(want, base + o)}\n  tsemu ${show(got, o)}`);
        }
      }
      if (opBad) report.push(`${op.name}: ${opBad}/${CASES} mismatches`);
    }
    console.log(`sse hostdiff: ${picked.length} variants, ${total} cases, ${bad} mismatches`);
    expect(report.join('\n'), `seed ${SEED}`).toBe('');
  }, 60_000);
});
