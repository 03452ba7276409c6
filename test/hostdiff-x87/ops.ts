// x87 host-differential test: the operations, the random operand generator, and both runners
// (native via a generated C helper with inline asm, tsemu via 32-bit flat protected mode).
// Every case: FNINIT; FLDCW cw; FLD b; FLD a; <op>; FNSTSW -> out+0; FNCLEX; FSTP -> out+16;
// FSTP -> out+32. Memory operands of the op use in+8 (a 64-bit slot) and out+8.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../../cpu/types.ts';

export const REC = 48;
/** IN: the input record register, OUT: the output record register. */
export interface X87Op {
  name: string; asm: string; mem?: 'f32' | 'f64' | 'i32' | 'i16' | 'bcd'; exact?: boolean;
  /** Operand generator: [ST(0), ST(1)] (defaults to randomExt for both). */
  gen?: (r: Rng) => [Ext, Ext];
  /** Transcendental: ST(0)/ST(1) may differ by 1 ulp, C1 and PE (and ES/B through PE) may differ. */
  ulp?: boolean;
}
export type Ext = [number, bigint];
export const OPS: X87Op[] = [
  { name: 'fadd', asm: 'fadd %st(1), %st' },
  { name: 'fsub', asm: 'fsub %st(1), %st' },
  { name: 'fsubr', asm: 'fsubr %st(1), %st' },
  { name: 'fmul', asm: 'fmul %st(1), %st' },
  { name: 'fdiv', asm: 'fdiv %st(1), %st' },
  { name: 'fdivr', asm: 'fdivr %st(1), %st' },
  { name: 'faddp', asm: 'faddp %st, %st(1)' },
  { name: 'fsubp(DE E9)', asm: '.byte 0xde, 0xe9' },
  { name: 'fdivp(DE F9)', asm: '.byte 0xde, 0xf9' },
  { name: 'fdivr(DC F1)', asm: '.byte 0xdc, 0xf1' },
  { name: 'fsqrt', asm: 'fsqrt' },
  { name: 'frndint', asm: 'frndint' },
  { name: 'fscale', asm: 'fscale' },
  { name: 'fprem', asm: 'fprem' },
  { name: 'fprem1', asm: 'fprem1' },
  { name: 'fxtract', asm: 'fxtract' },
  { name: 'fcom', asm: 'fcom %st(1)' },
  { name: 'fucomp', asm: 'fucomp %st(1)' },
  { name: 'ftst', asm: 'ftst' },
  { name: 'fxam', asm: 'fxam' },
  { name: 'fchs', asm: 'fchs' },
  { name: 'fsts', asm: 'fsts 8(OUT)' },
  { name: 'fstl', asm: 'fstl 8(OUT)' },
  { name: 'fistl', asm: 'fistl 8(OUT)' },
  { name: 'fistps', asm: 'fistps 8(OUT)' },
  { name: 'fistpll', asm: 'fistpll 8(OUT)' },
  { name: 'fbstp', asm: 'fbstp 8(OUT)' },
  { name: 'flds', asm: 'flds 8(IN)', mem: 'f32' },
  { name: 'fldl', asm: 'fldl 8(IN)', mem: 'f64' },
  { name: 'fadds', asm: 'fadds 8(IN)', mem: 'f32' },
  { name: 'fmull', asm: 'fmull 8(IN)', mem: 'f64' },
  { name: 'fdivrl', asm: 'fdivrl 8(IN)', mem: 'f64' },
  { name: 'fisubl', asm: 'fisubl 8(IN)', mem: 'i32' },
  { name: 'fidivs', asm: 'fidivs 8(IN)', mem: 'i16' },
  { name: 'fcoms', asm: 'fcoms 8(IN)', mem: 'f32' },
  { name: 'fildll', asm: 'fildll 8(IN)' },
  { name: 'fbld', asm: 'fbld 8(IN)', mem: 'bcd' },
  { name: 'fld1', asm: 'fld1' }, { name: 'fldl2t', asm: 'fldl2t' }, { name: 'fldl2e', asm: 'fldl2e' },
  { name: 'fldpi', asm: 'fldpi' }, { name: 'fldlg2', asm: 'fldlg2' }, { name: 'fldln2', asm: 'fldln2' },
  { name: 'fxch', asm: 'fxch %st(1)' },
  { name: 'fincstp', asm: 'fincstp' },
  { name: 'fcomi', asm: 'fcomi %st(1), %st; setc 4(OUT); setz 5(OUT); setp 6(OUT); sets 2(OUT); seto 3(OUT)' },
  { name: 'fucomip', asm: 'fucomip %st(1), %st; setc 4(OUT); setz 5(OUT); setp 6(OUT); sets 2(OUT); seto 3(OUT)' },
  { name: 'fcmovb', asm: 'sahf; fcmovb %st(1), %st', },
  { name: 'fcmovnbe', asm: 'sahf; fcmovnbe %st(1), %st', },
  { name: 'f2xm1', asm: 'f2xm1', ulp: true, gen: (r) => [genF2xm1(r), randomExt(r)] },
  { name: 'fsin', asm: 'fsin', ulp: true, gen: (r) => [genTrig(r), randomExt(r)] },
  { name: 'fcos', asm: 'fcos', ulp: true, gen: (r) => [genTrig(r), randomExt(r)] },
  { name: 'fsincos', asm: 'fsincos', ulp: true, gen: (r) => [genTrig(r), randomExt(r)] },
  { name: 'fptan', asm: 'fptan', ulp: true, gen: (r) => [genTrig(r), randomExt(r)] },
  { name: 'fyl2x', asm: 'fyl2x', ulp: true, gen: (r) => [genLogX(r), genY(r)] },
  { name: 'fyl2xp1', asm: 'fyl2xp1', ulp: true, gen: (r) => [genLogP1(r), genY(r)] },
  { name: 'fpatan', asm: 'fpatan', ulp: true, gen: (r) => genAtan(r) },
];

// --- operand generators for the transcendentals (useful ranges plus the special values) ---
/** A double as an 80-bit value, optionally with random bits below the double's 53. */
export function fromDouble(x: number, r?: Rng): Ext {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const b = v.getBigUint64(0);
  const sign = Number(b >> 63n) << 15;
  const e = Number((b >> 52n) & 0x7ffn);
  const f = b & 0xfffffffffffffn;
  if (e === 0) return [sign, 0n]; // only zero is asked for
  const low = r ? r.u64() & 0x7ffn : 0n;
  return [sign | (e - 1023 + 16383), (1n << 63n) | (f << 11n) | low];
}
/** Random significand with biased exponent e (unbiased `e` from 2^0). */
function withExp(r: Rng, e: number, neg: boolean): Ext {
  return [(neg ? 0x8000 : 0) | (16383 + e), r.u64() | (1n << 63n)];
}
const unit = (r: Rng) => r.u32() / 2 ** 32;
function genF2xm1(r: Rng): Ext {
  const k = r.below(100);
  if (k < 60) return fromDouble(unit(r) * 2 - 1, r);
  if (k < 75) return withExp(r, -1 - r.below(k < 70 ? 70 : 16380), r.below(2) === 1);
  if (k < 80) return fromDouble([1, -1, 0.5, -0.5][r.below(4)]);
  return randomExt(r);
}
function genTrig(r: Rng): Ext {
  const k = r.below(100);
  const neg = r.below(2) === 1;
  if (k < 35) return withExp(r, r.below(22) - 2, neg); // [0.25, 2^20)
  if (k < 50) return withExp(r, r.below(63), neg); // up to 2^63
  if (k < 60) return withExp(r, -3 - r.below(k < 55 ? 70 : 16370), neg); // small
  if (k < 72) { // near multiples of pi/2 (the double of k pi/2, plus low bits)
    const m = 1 + r.below(k < 67 ? 8 : 1000000);
    return fromDouble((neg ? -1 : 1) * m * Math.PI / 2, r);
  }
  if (k < 78) return withExp(r, 63 + r.below(k < 76 ? 3 : 16000), neg); // out of range
  if (k < 80) return fromDouble((neg ? -1 : 1) * Math.PI / 4, r);
  return randomExt(r);
}
function genY(r: Rng): Ext {
  const k = r.below(100);
  if (k < 50) return withExp(r, r.below(40) - 20, r.below(2) === 1);
  if (k < 60) return fromDouble([1, -1, 2, 0.5][r.below(4)]);
  return randomExt(r);
}
function genLogX(r: Rng): Ext {
  const k = r.below(100);
  if (k < 40) return [1 + r.below(0x7ffe), r.u64() | (1n << 63n)]; // positive, any magnitude
  if (k < 55) { // near 1
    const d = 2 ** -(1 + r.below(62)) * (unit(r) + 0.5);
    return fromDouble(r.below(2) ? 1 + d : 1 - d / 2, r.below(2) ? r : undefined);
  }
  if (k < 65) return [1 + r.below(0x7ffe), 1n << 63n]; // powers of two
  if (k < 70) return [0, r.u64() >> BigInt(1 + r.below(63))]; // positive denormals
  if (k < 72) return fromDouble(1);
  return randomExt(r);
}
function genLogP1(r: Rng): Ext {
  const k = r.below(100);
  const lim = 1 - Math.SQRT2 / 2;
  if (k < 55) return fromDouble((unit(r) * 2 - 1) * lim * 0.999, r);
  if (k < 75) return withExp(r, -3 - r.below(k < 70 ? 70 : 16370), r.below(2) === 1);
  if (k < 80) return [r.below(2) << 15, r.u64() >> BigInt(1 + r.below(63))];
  const v = randomExt(r);
  // Keep finite values in range (outside it the result is undefined).
  return (v[0] & 0x7fff) !== 0x7fff && (v[0] & 0x7fff) >= 16383 - 2 ? [v[0] & 0x8000 | (16383 - 3), v[1] | (1n << 63n)] : v;
}
function genAtan(r: Rng): [Ext, Ext] {
  const k = r.below(100);
  const sx = r.below(2) === 1, sy = r.below(2) === 1;
  if (k < 60) { const e = r.below(40) - 20; return [withExp(r, e + r.below(9) - 4, sx), withExp(r, e + r.below(9) - 4, sy)]; }
  if (k < 75) { const e = r.below(200) - 100; return [withExp(r, e + r.below(141) - 70, sx), withExp(r, e + r.below(141) - 70, sy)]; }
  if (k < 80) { const v = withExp(r, r.below(10) - 5, sx); return [v, [v[0] ^ (sy !== sx ? 0x8000 : 0), v[1]]]; } // |y| = |x|
  const a = randomExt(r);
  return [a, randomExt(r, a[0] & 0x7fff)];
}

// --- random operands ---
export class Rng {
  constructor(private s: number) { if (this.s === 0) this.s = 1; }
  u32(): number { let x = this.s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.s = x; return x; }
  below(n: number): number { return this.u32() % n; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
}

function mantissa(r: Rng): bigint {
  switch (r.below(6)) {
    case 0: return (1n << 63n) | (BigInt(r.u32() & 0xffffff) << 39n); // short (exact products)
    case 1: return 0xffffffffffffffffn ^ (BigInt(r.below(4)) << BigInt(r.below(64)));
    case 2: return (1n << 63n) | (1n << BigInt(r.below(63)));
    default: return r.u64() | (1n << 63n);
  }
}

/** A random 80-bit value as [se, m]; `near` biases the exponent toward another value's. */
export function randomExt(r: Rng, near?: number): [number, bigint] {
  const sign = r.below(2) << 15;
  const k = r.below(100);
  if (k < 4) return [sign, 0n];
  if (k < 7) return [sign | 0x7fff, 1n << 63n];
  if (k < 9) return [sign | 0x7fff, (3n << 62n) | (r.u64() >> BigInt(2 + r.below(62)))]; // QNaN
  if (k < 11) return [sign | 0x7fff, (1n << 63n) | ((r.u64() >> 2n) | 1n)]; // SNaN
  if (k < 16) return [sign, r.u64() >> BigInt(1 + r.below(63))]; // denormal
  let e: number;
  if (near !== undefined && k < 60) e = Math.max(1, Math.min(0x7ffe, near + r.below(140) - 70));
  else if (k < 66) e = 1 + r.below(200); // tiny
  else if (k < 72) e = 0x7ffe - r.below(200); // huge
  else if (k < 78) e = 1 + r.below(0x7ffe);
  else if (k < 82) e = 16383 - 1023 - 60 + r.below(120); // around double's minimum
  else if (k < 86) e = 16383 - 126 - 40 + r.below(80); // around single's minimum
  else if (k < 89) e = 16383 + 1023 - 10 + r.below(20);
  else e = 16383 - 64 + r.below(128);
  return [sign | e, mantissa(r)];
}

function randomMem(r: Rng, op: X87Op): bigint {
  const k = r.below(10);
  switch (op.mem) {
    case 'f32': return k < 2 ? BigInt(r.u32() & 0x807fffff) : k < 3 ? BigInt((r.u32() | 0x7f800000) >>> 0) : BigInt(r.u32());
    case 'f64': return k < 2 ? r.u64() & 0x800fffffffffffffn : k < 3 ? r.u64() | 0x7ff0000000000000n : r.u64();
    case 'i32': return k < 3 ? BigInt(r.below(2000)) - 1000n & 0xffffffffn : BigInt(r.u32());
    case 'i16': return k < 3 ? BigInt(r.below(2000)) & 0xffffn : BigInt(r.u32() & 0xffff);
    case 'bcd': { let v = 0n; for (let i = 0; i < 16; i++) v |= BigInt(r.below(10)) << BigInt(4 * i); return v; }
    default: return r.u64() >> BigInt(r.below(64));
  }
}

export function randomCases(seed: number, op: X87Op, n: number): Uint8Array {
  const r = new Rng(seed);
  const buf = new Uint8Array(n * REC);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * REC;
    const pc = [0, 2, 3][r.below(3)];
    const rc = r.below(4);
    const masks = r.below(4) === 0 ? r.below(64) : 0x3f;
    v.setUint16(o, 0x1040 | masks | (pc << 8) | (rc << 10), true);
    v.setUint16(o + 2, r.u32() & 0xd5, true); // AH for SAHF (FCMOVcc)
    v.setBigUint64(o + 8, randomMem(r, op), true);
    let [ase, am] = randomExt(r);
    let [bse, bm] = randomExt(r, ase & 0x7fff);
    if (op.gen) [[ase, am], [bse, bm]] = op.gen(r);
    v.setBigUint64(o + 16, am, true); v.setUint16(o + 24, ase, true);
    v.setBigUint64(o + 32, bm, true); v.setUint16(o + 40, bse, true);
  }
  return buf;
}

// --- the loop body, shared by both sides ---
function body(op: X87Op, inReg: string, outReg: string): string {
  const sub = (s: string) => s.replace(/IN/g, inReg).replace(/OUT/g, outReg);
  const ah = op.name.startsWith('fcmov') ? `movb 3(${inReg}), %ah; ` : '';
  return `fninit; fldcw (${inReg}); fldt 32(${inReg}); fldt 16(${inReg}); ${ah}${sub(op.asm)}; ` +
    `fnstsw (${outReg}); fnclex; fstpt 16(${outReg}); fstpt 32(${outReg})`;
}

export function buildNative(dir: string): string {
  const fns = OPS.map((op, i) =>
    `static void op${i}(const unsigned char *in, unsigned char *out) {\n` +
    `  __asm__ volatile(${JSON.stringify(body(op, '%0', '%1').replace(/%(?!\d)/g, '%%'))} :: "r"(in), "r"(out) : "memory", "rax", "cc");\n}\n`).join('');
  const src = `#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n${fns}
typedef void (*fn)(const unsigned char *, unsigned char *);
static fn table[] = { ${OPS.map((_, i) => `op${i}`).join(', ')} };
int main(int argc, char **argv) {
  int op = atoi(argv[1]);
  FILE *f = fopen(argv[2], "rb"); fseek(f, 0, SEEK_END); long n = ftell(f) / ${REC}; fseek(f, 0, SEEK_SET);
  unsigned char *in = malloc(n * ${REC}), *out = calloc(n, ${REC});
  if (fread(in, ${REC}, n, f) != (size_t)n) return 2; fclose(f);
  for (long i = 0; i < n; i++) table[op](in + i * ${REC}, out + i * ${REC});
  f = fopen(argv[3], "wb"); fwrite(out, ${REC}, n, f); fclose(f); return 0;
}\n`;
  writeFileSync(join(dir, 'x87native.c'), src);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'x87native'), join(dir, 'x87native.c')]);
  return join(dir, 'x87native');
}

export function runNative(exe: string, dir: string, op: number, cases: Uint8Array): Uint8Array {
  writeFileSync(join(dir, 'in.bin'), cases);
  execFileSync(exe, [String(op), join(dir, 'in.bin'), join(dir, 'out.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'out.bin')));
}

export function assemble32(src: string, dir: string): Uint8Array {
  writeFileSync(join(dir, 'g.S'), src + '\n');
  execFileSync('as', ['--32', '-o', join(dir, 'g.o'), join(dir, 'g.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'g.o'), join(dir, 'g.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'g.bin')));
}

const host: CpuHost = {
  portRead: () => 0xffffffff, portWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
  interruptAcknowledge: () => 0x20,
};
export const CODE = 0x1000, IN = 0x100000, OUT = 0x800000;

/** A CPU in 32-bit flat protected mode (no paging, no IDT needed for these cases). */
export async function flatCpu(cr0 = 0x31n): Promise<Cpu> {
  const cpu = await Cpu.create(16 << 20, host);
  cpu.setCr(0, cr0);
  cpu.setSeg(1, { selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00cf9b00 });
  for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
  cpu.syncMode();
  return cpu;
}

export function runTsemu(cpu: Cpu, code: Uint8Array, cases: Uint8Array): Uint8Array {
  const n = cases.length / REC;
  cpu.ram.set(code, CODE);
  cpu.ram.set(cases, IN);
  cpu.ram.fill(0, OUT, OUT + cases.length);
  cpu.setReg(6, BigInt(IN)); cpu.setReg(7, BigInt(OUT)); cpu.setReg(1, BigInt(n));
  cpu.setRip(BigInt(CODE));
  const r = cpu.run(n * 40 + 100);
  if (r.reason !== StopReason.Halt) throw new Error(`tsemu did not halt: ${r.reason} rip=${cpu.getRip().toString(16)}`);
  return cpu.ram.slice(OUT, OUT + cases.length);
}

export function guestLoop(op: X87Op, dir: string): Uint8Array {
  return assemble32(`1: ${body(op, '%esi', '%edi')}
  add $${REC}, %esi
  add $${REC}, %edi
  dec %ecx
  jnz 1b
  hlt`, dir);
}

export const tmp = () => mkdtempSync(join(tmpdir(), 'tsemu-x87-'));
