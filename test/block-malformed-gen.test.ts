// Issue 3: generated malformed qcow2 images (truncations, header fields, L1/L2/refcount entries
// that are unaligned, past the end of the file or overlapping, refcount loops, absurd sizes,
// garbage snapshot tables, compressed descriptors pointing anywhere, garbage in zlib and zstd
// compressed data, extended L2 bitmap garbage, bit flips, and several of those at once). Each one
// must open with a clear BlockError or read within bounds, and the check must finish; damage that
// is certain to show must be reported.
// BLOCK_FUZZ_SEED replays a run, BLOCK_FUZZ_CASES sets the number of images (default 10,000).
import { describe, expect, it } from 'vitest';
import { buildBases, type Layout } from './block-malformed-gen/bases.ts';
import { KINDS, mutate, pickKind } from './block-malformed-gen/mutate.ts';
import { Rng } from './block-malformed-gen/prng.ts';
import { runCase } from './block-malformed-gen/run-case.ts';

const SEED = process.env.BLOCK_FUZZ_SEED ? Number(process.env.BLOCK_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const CASES = process.env.BLOCK_FUZZ_CASES ? Number(process.env.BLOCK_FUZZ_CASES) : 10_000;
/** Bases picked by weight: the large 64 KiB-cluster one less often. */
const BASE_WEIGHTS = [4, 3, 3, 1, 3, 2];

interface Tally {
  cases: number;
  refused: number;
  readError: number;
  checkFailed: number;
  checkReported: number;
  clean: number;
}

describe('generated malformed qcow2 images', () => {
  it(`${CASES} mutants: clear errors or bounded reads, no crash, no hang, check reports damage (seed ${SEED})`, async () => {
    console.log(`block malformed generator: BLOCK_FUZZ_SEED=${SEED} BLOCK_FUZZ_CASES=${CASES}`);
    const t0 = Date.now();
    const bases: Layout[] = await buildBases(SEED);
    const baseTotal = BASE_WEIGHTS.reduce((a, b) => a + b, 0);
    const tallies = new Map<string, Tally>(Object.keys(KINDS).map((k) => [k, { cases: 0, refused: 0, readError: 0, checkFailed: 0, checkReported: 0, clean: 0 }]));
    const failures: string[] = [];
    let slowest = { ms: 0, what: '' };
    for (let i = 0; i < CASES && failures.length < 20; i++) {
      // Each case has its own generator, so one case can be replayed from the seed and its index.
      const rng = new Rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
      let r = rng.int(baseTotal);
      let bi = 0;
      while (r >= BASE_WEIGHTS[bi]!) r -= BASE_WEIGHTS[bi++]!;
      const base = bases[bi]!;
      const kind = pickKind(rng);
      const m = mutate(rng, kind, base);
      const res = await runCase(m.bytes, rng, rng.chance(0.1));
      const t = tallies.get(kind)!;
      t.cases++;
      const c = res.check;
      const reported = c !== null && c.corruptions + c.leaks + c.checkErrors > 0;
      if (res.stage === 'open') t.refused++;
      else if (res.stage === 'read') t.readError++;
      else if (res.stage === 'check') t.checkFailed++;
      if (res.stage !== 'open' && res.stage !== 'check') {
        if (reported) t.checkReported++;
        else if (res.stage === 'ok') t.clean++;
      }
      const problems = [...res.problems];
      if (m.detect && res.stage !== 'open' && res.stage !== 'check' && !reported) problems.push('the check reported nothing');
      if (problems.length) failures.push(`case ${i} (${base.name}, ${kind}: ${m.what}) -> ${res.stage}${res.error ? ` "${res.error}"` : ''}:\n  ${problems.join('\n  ')}`);
      if (res.ms > slowest.ms) slowest = { ms: res.ms, what: `case ${i} (${base.name}, ${kind}: ${m.what})` };
    }
    const rows = [...tallies.entries()].map(([k, v]) => `${k.padEnd(24)} ${String(v.cases).padStart(5)} cases: ${v.refused} refused at open, ${v.readError} read errors, ${v.checkFailed} check failed, ${v.checkReported} reported by check, ${v.clean} clean`);
    console.log(`${CASES} cases in ${Date.now() - t0} ms (slowest ${slowest.ms} ms: ${slowest.what})\n${rows.join('\n')}`);
    expect(failures, `seed ${SEED}: replay with BLOCK_FUZZ_SEED=${SEED}`).toEqual([]);
    for (const [k, v] of tallies) if (CASES >= 2000) expect(v.cases, k).toBeGreaterThan(0);
  });
});
