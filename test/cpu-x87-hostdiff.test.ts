// x87 differential test against the host FPU (x86-64 Linux with gcc and binutils): random 80-bit
// operands (zeros, denormals, infinities, QNaNs, SNaNs, tiny and huge exponents) under random
// precision control, rounding control and exception masks, for each operation in
// test/hostdiff-x87/ops.ts. Status word, ST(0), ST(1) and the memory result must match bit for bit,
// except for the transcendentals (ops marked `ulp`): there ST(0)/ST(1) may be 1 ulp apart and C1/PE
// may differ (one rounding step); zeros, infinities, NaNs and every other flag must still match.
//   X87_SEED=n   replay a run (the seed is printed)
//   X87_CASES=n  cases per operation (default 2500)
//   X87_OPS=a,b  only these operations (names in ops.ts)
//   X87_DUMP=dir write <dir>/<op>.bin: per case the input record, then the host's and tsemu's output
//                records (REC bytes each), for offline accuracy checks of the transcendentals
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPS, REC, buildNative, flatCpu, guestLoop, randomCases, runNative, runTsemu, tmp } from './hostdiff-x87/ops.ts';

const SEED = process.env.X87_SEED !== undefined ? Number(process.env.X87_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.X87_CASES ?? 2500);
const ONLY = process.env.X87_OPS?.split(',');
const hostOk = process.arch === 'x64' && process.platform === 'linux';

/** Position of a finite 80-bit value on the line of representable values (adjacent values differ by 1). */
function ordinal(b: Uint8Array, o: number): bigint | undefined {
  const v = new DataView(b.buffer, b.byteOffset + o, 10);
  const m = v.getBigUint64(0, true), se = v.getUint16(8, true);
  const e = se & 0x7fff;
  if (e === 0x7fff || (e !== 0 && m < 1n << 63n)) return undefined; // inf, NaN, unsupported: exact only
  const mag = e === 0 ? m : (BigInt(e - 1) << 63n) + m;
  return se & 0x8000 ? -mag : mag;
}
/** ulp distance between two 80-bit values, or Infinity if they must match exactly and do not. */
function ulps(want: Uint8Array, got: Uint8Array, o: number): number {
  let same = true;
  for (let j = 0; j < 10; j++) if (want[o + j] !== got[o + j]) same = false;
  if (same) return 0;
  const a = ordinal(want, o), b = ordinal(got, o);
  if (a === undefined || b === undefined) return Infinity;
  const d = a > b ? a - b : b - a;
  return d > 1000n ? Infinity : Number(d);
}
/** Status words equal up to C1 and PE (and ES/B where only PE makes them differ). */
function swClose(cw: number, a: number, b: number): boolean {
  const ign = 0x0200 | 0x0020 | 0x8080;
  if (((a ^ b) & ~ign) !== 0) return false;
  const es = (sw: number) => ((sw & ~cw & 0x3f) !== 0 ? 0x8080 : 0);
  return (a & 0x8080) === es(a) && (b & 0x8080) === es(b);
}

const hex = (b: Uint8Array, o: number, n: number) => Array.from(b.slice(o, o + n)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');

describe.runIf(hostOk)('x87 vs host FPU', () => {
  it(`matches the host bit for bit (seed ${SEED})`, async () => {
    console.log(`x87 hostdiff seed ${SEED} (X87_SEED=${SEED} to replay)`);
    const dir = tmp();
    const exe = buildNative(dir);
    const report: string[] = [];
    let total = 0, bad = 0;
    const ulpReport: string[] = [];
    for (const [k, op] of OPS.entries()) {
      if (ONLY && !ONLY.includes(op.name)) continue;
      const cases = randomCases((SEED + k * 7919) >>> 0, op, CASES);
      const want = runNative(exe, dir, k, cases);
      const cpu = await flatCpu();
      const got = runTsemu(cpu, guestLoop(op, dir), cases);
      if (process.env.X87_DUMP) {
        const all = new Uint8Array(CASES * REC * 3);
        for (let i = 0; i < CASES; i++) {
          all.set(cases.subarray(i * REC, (i + 1) * REC), i * REC * 3);
          all.set(want.subarray(i * REC, (i + 1) * REC), i * REC * 3 + REC);
          all.set(got.subarray(i * REC, (i + 1) * REC), i * REC * 3 + 2 * REC);
        }
        writeFileSync(join(process.env.X87_DUMP, `${op.name.replace(/[^a-z0-9]/gi, '_')}.bin`), all);
      }
      let opBad = 0, maxUlp = 0, oneUlp = 0;
      for (let i = 0; i < CASES; i++) {
        const o = i * REC;
        total++;
        let same = true;
        if (op.ulp) {
          const cw = cases[o] | (cases[o + 1] << 8);
          const sw = (b: Uint8Array) => b[o] | (b[o + 1] << 8);
          for (let j = 2; j < 16; j++) if (want[o + j] !== got[o + j]) same = false;
          if (!swClose(cw, sw(want), sw(got))) same = false;
          const u = Math.max(ulps(want, got, o + 16), ulps(want, got, o + 32));
          if (u > 1) same = false;
          else { maxUlp = Math.max(maxUlp, u); if (u) oneUlp++; }
        } else {
          for (let j = 0; j < 42; j++) if (want[o + j] !== got[o + j]) { same = false; break; }
        }
        if (same) continue;
        bad++; opBad++;
        if (opBad <= 3) {
          report.push(`${op.name} #${i} cw=${hex(cases, o, 2)} mem=${hex(cases, o + 8, 8)} a=${hex(cases, o + 16, 10)} b=${hex(cases, o + 32, 10)}\n` +
            `  host  sw=${hex(want, o, 2)} fl=${hex(want, o + 2, 6)} mem=${hex(want, o + 8, 8)} st0=${hex(want, o + 16, 10)} st1=${hex(want, o + 32, 10)}\n` +
            `  tsemu sw=${hex(got, o, 2)} fl=${hex(got, o + 2, 6)} mem=${hex(got, o + 8, 8)} st0=${hex(got, o + 16, 10)} st1=${hex(got, o + 32, 10)}`);
        }
      }
      if (opBad) report.push(`${op.name}: ${opBad}/${CASES} mismatches`);
      if (op.ulp) ulpReport.push(`${op.name} ${maxUlp} (${oneUlp} cases)`);
    }
    console.log(`x87 hostdiff: ${total} cases, ${bad} mismatches; max ulp difference: ${ulpReport.join(', ')}`);
    expect(report.join('\n'), `seed ${SEED}`).toBe('');
  }, 120_000);
});
