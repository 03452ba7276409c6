// x87 differential test against the host FPU (x86-64 Linux with gcc and binutils): random 80-bit
// operands (zeros, denormals, infinities, QNaNs, SNaNs, tiny and huge exponents) under random
// precision control, rounding control and exception masks, for each operation in
// test/hostdiff-x87/ops.ts. Status word, ST(0), ST(1) and the memory result must match bit for bit.
//   X87_SEED=n   replay a run (the seed is printed)
//   X87_CASES=n  cases per operation (default 2500)
//   X87_OPS=a,b  only these operations (names in ops.ts)
import { describe, expect, it } from 'vitest';
import { OPS, REC, buildNative, flatCpu, guestLoop, randomCases, runNative, runTsemu, tmp } from './hostdiff-x87/ops.ts';

const SEED = process.env.X87_SEED !== undefined ? Number(process.env.X87_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.X87_CASES ?? 2500);
const ONLY = process.env.X87_OPS?.split(',');
const hostOk = process.arch === 'x64' && process.platform === 'linux';

const hex = (b: Uint8Array, o: number, n: number) => Array.from(b.slice(o, o + n)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');

describe.runIf(hostOk)('x87 vs host FPU', () => {
  it(`matches the host bit for bit (seed ${SEED})`, async () => {
    console.log(`x87 hostdiff seed ${SEED} (X87_SEED=${SEED} to replay)`);
    const dir = tmp();
    const exe = buildNative(dir);
    const report: string[] = [];
    let total = 0, bad = 0;
    for (const [k, op] of OPS.entries()) {
      if (ONLY && !ONLY.includes(op.name)) continue;
      const cases = randomCases((SEED + k * 7919) >>> 0, op, CASES);
      const want = runNative(exe, dir, k, cases);
      const cpu = await flatCpu();
      const got = runTsemu(cpu, guestLoop(op, dir), cases);
      let opBad = 0;
      for (let i = 0; i < CASES; i++) {
        const o = i * REC;
        total++;
        let same = true;
        for (let j = 0; j < 42; j++) if (want[o + j] !== got[o + j]) { same = false; break; }
        if (same) continue;
        bad++; opBad++;
        if (opBad <= 3) {
          report.push(`${op.name} #${i} cw=${hex(cases, o, 2)} mem=${hex(cases, o + 8, 8)} a=${hex(cases, o + 16, 10)} b=${hex(cases, o + 32, 10)}\n` +
            `  host  sw=${hex(want, o, 2)} fl=${hex(want, o + 2, 6)} mem=${hex(want, o + 8, 8)} st0=${hex(want, o + 16, 10)} st1=${hex(want, o + 32, 10)}\n` +
            `  tsemu sw=${hex(got, o, 2)} fl=${hex(got, o + 2, 6)} mem=${hex(got, o + 8, 8)} st0=${hex(got, o + 16, 10)} st1=${hex(got, o + 32, 10)}`);
        }
      }
      if (opBad) report.push(`${op.name}: ${opBad}/${CASES} mismatches`);
    }
    console.log(`x87 hostdiff: ${total} cases, ${bad} mismatches`);
    expect(report.join('\n'), `seed ${SEED}`).toBe('');
  }, 120_000);
});
