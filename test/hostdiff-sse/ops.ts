// SSE/MMX host-differential test: the instruction variants, the random input generator, and both
// runners (native through a generated C helper with inline asm; tsemu in flat 64-bit mode with
// CR4.OSFXSR and CR4.OSXMMEXCPT set). One case record (REC bytes), the same layout in and out:
//   +0 xmm1, +16 xmm2, +32 memory operand (16-byte aligned), +48 rax, +56 mm1, +64 mm2,
//   +72 MXCSR (loaded before the op, stored after it), +80 fault marker (out: 19 if the op raised
//   #XM), +88 (in) MXCSR restored after the case, +92 (in) index of the variant in OPS.
// Every case loads the registers from IN, copies the memory operand to OUT+32 (the op's memory
// operand is OUT+32, or OUT+33 for the unaligned forms), runs the op, stores the registers to OUT.
// IN is RSI and OUT is RDI on both sides, so that ops given as .byte can name [rdi+32].
// An unmasked SIMD floating-point exception (#XM) resumes at the register stores (address in R8):
// natively through a SIGFPE handler, in tsemu through an IDT gate for vector 19.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../../cpu/types.ts';
import { sse4Ops } from './ops-sse4.ts';
import { sse42StringOps } from './ops-sse42.ts';

export const REC = 96;
/** Bytes of a record that are compared. */
export const CMP = 84;
/**
 * `count`: the op shifts by a register/memory count, so low quadwords are often small.
 * `gen`: floating-point variant whose register and memory lanes are random singles ('s'),
 * doubles ('d'), dwords ('i') or qwords ('q'), run under a random MXCSR. `mult`: cases per
 * variant relative to the default. `tol`: RCP/RSQRT, whose XMM1 lanes (`tol` of them) are
 * compared within the SDM's error bound rather than bit for bit. `needs`: the /proc/cpuinfo flag
 * the host must have to run the variant (pni = SSE3, ssse3, sse4_1, sse4_2). `init`: a generator
 * of its own that fills the record's inputs (the SSE4.2 string compares, ops-sse42.ts).
 */
export interface SseOp {
  name: string; asm: string; count?: boolean; gen?: 's' | 'd' | 'i' | 'q'; mult?: number; tol?: number; needs?: string;
  init?: (r: Rng, b: Uint8Array, o: number) => void;
}

// MMX/SSE2 integer instructions with both an MMX (Pq,Qq) and an XMM (Vx,Wx) form.
const BOTH = [
  'punpcklbw', 'punpcklwd', 'punpckldq', 'packsswb', 'pcmpgtb', 'pcmpgtw', 'pcmpgtd', 'packuswb',
  'punpckhbw', 'punpckhwd', 'punpckhdq', 'packssdw', 'pcmpeqb', 'pcmpeqw', 'pcmpeqd',
  'psrlw', 'psrld', 'psrlq', 'paddq', 'pmullw', 'psubusb', 'psubusw', 'pminub', 'pand', 'paddusb',
  'paddusw', 'pmaxub', 'pandn', 'pavgb', 'psraw', 'psrad', 'pavgw', 'pmulhuw', 'pmulhw', 'psubsb',
  'psubsw', 'pminsw', 'por', 'paddsb', 'paddsw', 'pmaxsw', 'pxor', 'psllw', 'pslld', 'psllq',
  'pmuludq', 'pmaddwd', 'psadbw', 'psubb', 'psubw', 'psubd', 'psubq', 'paddb', 'paddw', 'paddd',
];
const XMM_ONLY = ['punpcklqdq', 'punpckhqdq', 'andps', 'andnps', 'orps', 'xorps', 'andpd', 'andnpd', 'orpd', 'xorpd',
  'unpcklps', 'unpckhps', 'unpcklpd', 'unpckhpd'];
const isShift = (n: string) => /^ps(ll|rl|ra)[wdq]$/.test(n);

function buildOps(): SseOp[] {
  const ops: SseOp[] = [];
  const add = (name: string, asm: string, count = false) => ops.push({ name, asm, count });
  for (const n of BOTH) {
    const c = isShift(n);
    add(`${n} mm,mm`, `${n} %mm2, %mm1`, c);
    add(`${n} mm,m64`, `${n} 32(OUT), %mm1`, c);
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, c);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`, c);
  }
  for (const n of XMM_ONLY) {
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`);
  }
  // REX.R / REX.B: xmm9 as destination and as source.
  for (const n of ['paddw', 'pcmpgtb', 'punpckhwd', 'packsswb', 'psubusb', 'psrad']) {
    add(`${n} xmm9,xmm1`, `movdqa %xmm2, %xmm9; ${n} %xmm1, %xmm9; movdqa %xmm9, %xmm1`, isShift(n));
    add(`${n} xmm1,xmm9`, `movdqa %xmm2, %xmm9; ${n} %xmm9, %xmm1`, isShift(n));
  }
  // Shifts by imm8 (groups 12-14).
  const imms = [0, 1, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 200];
  for (const n of ['psrlw', 'psraw', 'psllw', 'psrld', 'psrad', 'pslld', 'psrlq', 'psllq']) {
    for (const i of imms) {
      add(`${n} mm,$${i}`, `${n} $${i}, %mm1`);
      add(`${n} xmm,$${i}`, `${n} $${i}, %xmm1`);
    }
  }
  for (const i of [0, 1, 3, 7, 8, 9, 15, 16, 255]) {
    add(`psrldq $${i}`, `psrldq $${i}, %xmm1`);
    add(`pslldq $${i}`, `pslldq $${i}, %xmm1`);
  }
  add('psrlq xmm9,$13', `movdqa %xmm2, %xmm9; psrlq $13, %xmm9; movdqa %xmm9, %xmm1`);
  add('pslldq xmm9,$5', `movdqa %xmm2, %xmm9; pslldq $5, %xmm9; movdqa %xmm9, %xmm1`);
  // Shuffles.
  for (const i of [0x00, 0x1b, 0x4e, 0xe4, 0x39, 0xb1, 0x93, 0xc6]) {
    add(`pshufw $${i} reg`, `pshufw $${i}, %mm2, %mm1`);
    add(`pshufw $${i} mem`, `pshufw $${i}, 32(OUT), %mm1`);
    add(`pshufd $${i}`, `pshufd $${i}, %xmm2, %xmm1`);
    add(`pshufd $${i} mem`, `pshufd $${i}, 32(OUT), %xmm1`);
    add(`pshufhw $${i}`, `pshufhw $${i}, %xmm2, %xmm1`);
    add(`pshuflw $${i}`, `pshuflw $${i}, 32(OUT), %xmm1`);
    add(`shufps $${i}`, `shufps $${i}, %xmm2, %xmm1`);
    add(`shufps $${i} mem`, `shufps $${i}, 32(OUT), %xmm1`);
  }
  for (const i of [0, 1, 2, 3]) add(`shufpd $${i}`, `shufpd $${i}, %xmm2, %xmm1`);
  add('shufpd mem', `shufpd $2, 32(OUT), %xmm1`);
  // PEXTRW/PINSRW (indices past the register are masked), PMOVMSKB, MOVMSKPS/PD.
  for (const i of [0, 1, 2, 3, 5, 6, 7, 11]) {
    add(`pextrw $${i} xmm`, `pextrw $${i}, %xmm2, %eax`);
    add(`pinsrw $${i} xmm,r32`, `pinsrw $${i}, %eax, %xmm1`);
    add(`pinsrw $${i} xmm,m16`, `pinsrw $${i}, 32(OUT), %xmm1`);
    if (i < 4 || i === 5) {
      add(`pextrw $${i} mm`, `pextrw $${i}, %mm2, %eax`);
      add(`pinsrw $${i} mm,r32`, `pinsrw $${i}, %eax, %mm1`);
      add(`pinsrw $${i} mm,m16`, `pinsrw $${i}, 32(OUT), %mm1`);
    }
  }
  add('pextrw xmm9 -> r9', `movdqa %xmm2, %xmm9; pextrw $6, %xmm9, %r9d; mov %r9, %rax`);
  add('pmovmskb xmm', `pmovmskb %xmm2, %eax`);
  add('pmovmskb mm', `pmovmskb %mm2, %eax`);
  add('pmovmskb xmm,r64', `pmovmskb %xmm2, %rax`);
  add('movmskps', `movmskps %xmm2, %eax`);
  add('movmskpd', `movmskpd %xmm2, %eax`);
  // MOVD/MOVQ.
  add('movd xmm,r32', `movd %eax, %xmm1`);
  add('movq xmm,r64', `movq %rax, %xmm1`);
  add('movd xmm,m32', `movd 32(OUT), %xmm1`);
  add('movq xmm,m64 (66 REX.W 6E)', `.byte 0x66, 0x48, 0x0f, 0x6e, 0x4f, 0x20`);
  add('movd r32,xmm', `movd %xmm2, %eax`);
  add('movq r64,xmm', `movq %xmm2, %rax`);
  add('movd m32,xmm', `movd %xmm2, 32(OUT)`);
  add('movq m64,xmm (66 REX.W 7E)', `.byte 0x66, 0x48, 0x0f, 0x7e, 0x57, 0x20`);
  add('movq xmm,m64 (F3 7E)', `movq 32(OUT), %xmm1`);
  add('movq xmm,xmm (F3 7E)', `.byte 0xf3, 0x0f, 0x7e, 0xca`);
  add('movq xmm,xmm (66 D6)', `.byte 0x66, 0x0f, 0xd6, 0xd1`);
  add('movq m64,xmm (66 D6)', `.byte 0x66, 0x0f, 0xd6, 0x57, 0x20`);
  add('movd mm,r32', `movd %eax, %mm1`);
  add('movq mm,r64', `movq %rax, %mm1`);
  add('movd mm,m32', `movd 32(OUT), %mm1`);
  add('movd r32,mm', `movd %mm2, %eax`);
  add('movq r64,mm', `movq %mm2, %rax`);
  add('movd m32,mm', `movd %mm2, 32(OUT)`);
  add('movq mm,mm', `movq %mm2, %mm1`);
  add('movq mm,mm (7F)', `.byte 0x0f, 0x7f, 0xd1`);
  add('movq mm,m64', `movq 32(OUT), %mm1`);
  add('movq m64,mm', `movq %mm2, 32(OUT)`);
  add('movq r9,xmm9', `movdqa %xmm2, %xmm9; movq %xmm9, %r9; mov %r9, %rax`);
  add('movd xmm9,r9d', `mov %rax, %r9; movd %r9d, %xmm9; movdqa %xmm9, %xmm1`);
  add('movq2dq', `movq2dq %mm2, %xmm1`);
  add('movdq2q', `movdq2q %xmm2, %mm1`);
  // Full-register moves.
  for (const n of ['movdqa', 'movaps', 'movapd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} load`, `${n} 32(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 32(OUT)`);
  }
  add('movaps reg (29)', `.byte 0x0f, 0x29, 0xd1`);
  add('movdqa reg (7F)', `.byte 0x66, 0x0f, 0x7f, 0xd1`);
  for (const n of ['movdqu', 'movups', 'movupd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} load`, `${n} 33(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 33(OUT)`);
  }
  add('movdqu reg (7F)', `.byte 0xf3, 0x0f, 0x7f, 0xd1`);
  add('movups reg (11)', `.byte 0x0f, 0x11, 0xd1`);
  for (const n of ['movntdq', 'movntps', 'movntpd']) add(n, `${n} %xmm2, 32(OUT)`);
  add('movntq', `movntq %mm2, 32(OUT)`);
  add('movnti r32', `movnti %eax, 32(OUT)`);
  add('movnti r64', `movnti %rax, 36(OUT)`);
  // Scalar moves and the half moves.
  for (const n of ['movss', 'movsd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} reg (11)`, n === 'movss' ? `.byte 0xf3, 0x0f, 0x11, 0xd1` : `.byte 0xf2, 0x0f, 0x11, 0xd1`);
    add(`${n} load`, `${n} 36(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 36(OUT)`);
  }
  for (const n of ['movlps', 'movhps', 'movlpd', 'movhpd']) {
    add(`${n} load`, `${n} 36(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 36(OUT)`);
  }
  add('movhlps', `movhlps %xmm2, %xmm1`);
  add('movlhps', `movlhps %xmm2, %xmm1`);
  add('movlhps xmm9', `movdqa %xmm2, %xmm9; movlhps %xmm9, %xmm1`);
  // MMX registers alias the x87 physical registers: MMX instructions set TOP to 0 (SDM Vol. 1 §9.5.1).
  add('fld1 x2; movq mm2->mm1', `fninit; fld1; fld1; movq %mm2, %mm1`);
  add('fld1; movq mm7->mm1', `fninit; fld1; movq %mm7, %mm1`);
  add('fld1 x3; paddb mm6,mm1', `fninit; fld1; fld1; fld1; paddb %mm6, %mm1; movq %mm5, %mm2`);
  fpOps(ops);
  sse4Ops(ops);
  sse42StringOps(ops);
  return ops;
}

/** SSE/SSE2 floating-point variants (the arithmetic, compares, conversions, RCP/RSQRT). */
function fpOps(ops: SseOp[]): void {
  // Twice the per-variant weights below: about 120,000 floating-point cases at the default SSE_CASES.
  const fp = (name: string, asm: string, gen: 's' | 'd' | 'i' | 'q', mult = 3) => ops.push({ name, asm, gen, mult: 2 * mult });
  const el = (sfx: string) => (sfx[1] === 's' ? 's' : 'd');
  for (const n of ['add', 'sub', 'mul', 'div', 'min', 'max', 'sqrt']) {
    for (const sfx of ['ps', 'pd', 'ss', 'sd']) {
      fp(`${n}${sfx} xmm,xmm`, `${n}${sfx} %xmm2, %xmm1`, el(sfx), 4);
      fp(`${n}${sfx} xmm,mem`, `${n}${sfx} 32(OUT), %xmm1`, el(sfx), 2);
    }
  }
  fp('addps xmm9,xmm1', `movdqa %xmm2, %xmm9; addps %xmm1, %xmm9; movdqa %xmm9, %xmm1`, 's', 1);
  fp('divsd xmm1,xmm9', `movdqa %xmm2, %xmm9; divsd %xmm9, %xmm1`, 'd', 1);
  for (let i = 0; i < 8; i++) {
    for (const sfx of ['ps', 'pd', 'ss', 'sd']) fp(`cmp${sfx} $${i}`, `cmp${sfx} $${i}, %xmm2, %xmm1`, el(sfx), 2);
  }
  for (const sfx of ['ps', 'pd', 'ss', 'sd']) fp(`cmp${sfx} $2 mem`, `cmp${sfx} $2, 32(OUT), %xmm1`, el(sfx), 1);
  // EFLAGS after (U)COMIS: the six arithmetic flags into RAX (the stack below the red zone).
  const flags = `lea -128(%rsp), %rsp; pushfq; pop %rax; lea 128(%rsp), %rsp; and $0x8d5, %rax`;
  for (const n of ['comiss', 'ucomiss', 'comisd', 'ucomisd']) {
    const g = n.endsWith('s') ? 's' : 'd';
    fp(`${n} xmm,xmm`, `${n} %xmm2, %xmm1; ${flags}`, g, 4);
    fp(`${n} xmm,mem`, `${n} 32(OUT), %xmm1; ${flags}`, g, 1);
  }
  // Integer -> float.
  for (const t of ['ss', 'sd']) {
    fp(`cvtsi2${t} r32`, `cvtsi2${t}l %eax, %xmm1`, 'q');
    fp(`cvtsi2${t} r64`, `cvtsi2${t}q %rax, %xmm1`, 'q');
    fp(`cvtsi2${t} m32`, `cvtsi2${t}l 32(OUT), %xmm1`, 'q', 1);
    fp(`cvtsi2${t} m64`, `cvtsi2${t}q 32(OUT), %xmm1`, 'q', 1);
  }
  fp('cvtsi2sd r9 -> xmm9', `mov %rax, %r9; movdqa %xmm2, %xmm9; cvtsi2sdq %r9, %xmm9; movdqa %xmm9, %xmm1`, 'q', 1);
  // Float -> integer.
  for (const t of ['ss', 'sd']) {
    for (const c of ['cvt', 'cvtt']) {
      fp(`${c}${t}2si r32`, `${c}${t}2si %xmm2, %eax`, t === 'ss' ? 's' : 'd');
      fp(`${c}${t}2si r64`, `${c}${t}2si %xmm2, %rax`, t === 'ss' ? 's' : 'd');
      fp(`${c}${t}2si r32,mem`, `${c}${t}2si 32(OUT), %eax`, t === 'ss' ? 's' : 'd', 1);
      fp(`${c}${t}2si r64,mem`, `${c}${t}2si 32(OUT), %rax`, t === 'ss' ? 's' : 'd', 1);
    }
  }
  fp('cvtsd2si xmm9 -> r9', `movdqa %xmm2, %xmm9; mov %rax, %r9; cvtsd2si %xmm9, %r9; mov %r9, %rax`, 'd', 1);
  // Float <-> float and the packed integer forms.
  const conv: [string, 's' | 'd' | 'i'][] = [
    ['cvtss2sd', 's'], ['cvtsd2ss', 'd'], ['cvtps2pd', 's'], ['cvtpd2ps', 'd'], ['cvtdq2ps', 'i'], ['cvtps2dq', 's'],
    ['cvttps2dq', 's'], ['cvtdq2pd', 'i'], ['cvtpd2dq', 'd'], ['cvttpd2dq', 'd'],
  ];
  for (const [n, g] of conv) {
    fp(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, g);
    fp(`${n} xmm,mem`, `${n} 32(OUT), %xmm1`, g, 1);
  }
  // MMX forms.
  fp('cvtpi2ps xmm,mm', `cvtpi2ps %mm2, %xmm1`, 'i');
  fp('cvtpi2ps xmm,m64', `cvtpi2ps 32(OUT), %xmm1`, 'i', 1);
  fp('cvtpi2pd xmm,mm', `cvtpi2pd %mm2, %xmm1`, 'i', 1);
  fp('cvtpi2pd xmm,m64', `cvtpi2pd 32(OUT), %xmm1`, 'i', 1);
  for (const c of ['cvt', 'cvtt']) {
    fp(`${c}ps2pi mm,xmm`, `${c}ps2pi %xmm2, %mm1`, 's');
    fp(`${c}ps2pi mm,m64`, `${c}ps2pi 32(OUT), %mm1`, 's', 1);
    fp(`${c}pd2pi mm,xmm`, `${c}pd2pi %xmm2, %mm1`, 'd');
    fp(`${c}pd2pi mm,m128`, `${c}pd2pi 32(OUT), %mm1`, 'd', 1);
  }
  // Approximations (implementation-specific values; compared within the SDM bound).
  for (const n of ['rcp', 'rsqrt']) {
    ops.push({ name: `${n}ps xmm,xmm`, asm: `${n}ps %xmm2, %xmm1`, gen: 's', mult: 4, tol: 4 });
    ops.push({ name: `${n}ps xmm,mem`, asm: `${n}ps 32(OUT), %xmm1`, gen: 's', mult: 2, tol: 4 });
    ops.push({ name: `${n}ss xmm,xmm`, asm: `${n}ss %xmm2, %xmm1`, gen: 's', mult: 4, tol: 1 });
    ops.push({ name: `${n}ss xmm,mem`, asm: `${n}ss 32(OUT), %xmm1`, gen: 's', mult: 2, tol: 1 });
  }
}

export const OPS: SseOp[] = buildOps();

// --- random inputs ---
export class Rng {
  constructor(private s: number) { if (this.s === 0) this.s = 1; }
  u32(): number { let x = this.s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.s = x; return x; }
  below(n: number): number { return this.u32() % n; }
}

const SPECIAL = [0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe, 0x81];
function fill(r: Rng, b: Uint8Array, o: number, n: number): void {
  const style = r.below(4);
  for (let i = 0; i < n; i++) {
    if (style === 0) b[o + i] = r.u32() & 0xff;
    else if (style === 1) b[o + i] = SPECIAL[r.below(SPECIAL.length)];
    else b[o + i] = r.below(3) === 0 ? SPECIAL[r.below(SPECIAL.length)] : r.u32() & 0xff;
  }
}
function smallCount(r: Rng, b: Uint8Array, o: number): void {
  const k = r.below(8);
  if (k >= 6) return; // keep the random (huge) count
  const v = k < 5 ? r.below(70) : 0x100 + r.below(0x10000);
  const dv = new DataView(b.buffer, b.byteOffset);
  dv.setBigUint64(o, BigInt(v), true);
}

// Floating-point inputs: biased to zeros, denormals, infinities, quiet and signalling NaNs, values
// near 1, near the ends of the exponent range, near integer overflow (2^31, 2^32, 2^63, 2^64), and
// significands ending in runs of zeros or ones (rounding boundaries).
const rb = (r: Rng, bits: number): bigint => {
  let v = 0n;
  for (let k = 0; k < bits; k += 32) v = (v << 32n) | BigInt(r.u32());
  return v & ((1n << BigInt(bits)) - 1n);
};
function fpValue(r: Rng, dbl: boolean): bigint {
  const mb = dbl ? 52 : 23, emax = dbl ? 0x7ff : 0xff, bias = dbl ? 1023 : 127;
  const mmask = (1n << BigInt(mb)) - 1n;
  const sign = BigInt(r.below(2)) << BigInt(mb + (dbl ? 11 : 8));
  let mant = rb(r, mb);
  const shape = r.below(6);
  if (shape === 0) mant &= ~((1n << BigInt(r.below(mb))) - 1n); // trailing zeros
  else if (shape === 1) mant |= (1n << BigInt(r.below(mb))) - 1n; // trailing ones
  else if (shape === 2) mant = BigInt(r.below(4)) | (r.below(2) ? mmask - 3n : 0n);
  let e: number;
  switch (r.below(16)) {
    case 0: return sign;
    case 1: return sign | (r.below(3) === 0 ? BigInt(1 + r.below(3)) : r.below(2) ? mmask : mant || 1n); // denormal
    case 2: return sign | (BigInt(emax) << BigInt(mb));
    case 3: return sign | (BigInt(emax) << BigInt(mb)) | (1n << BigInt(mb - 1)) | (mant & (r.below(2) ? mmask : 0n)); // QNaN
    case 4: return sign | (BigInt(emax) << BigInt(mb)) | ((mant & (mmask >> 1n)) || 1n); // SNaN
    case 5: e = 1 + r.below(4); break; // near the smallest normal
    case 6: e = emax - 1 - r.below(4); break; // near the largest
    case 7: e = bias + [30, 31, 32, 62, 63, 64, 15, 16][r.below(8)] + r.below(2) - 1; break; // near int overflow
    case 8: e = 1 + r.below(emax - 1); break;
    case 9: e = bias - 2 - r.below(25); break; // small fractions (conversions round them)
    case 10: e = r.below(2) ? bias - mb - 1 + r.below(3) : bias + mb - 1 + r.below(3); break;
    case 11: e = r.below(2) ? (bias >> 1) + r.below(4) : bias + (bias >> 1) - r.below(4); break; // squares over/underflow
    case 12:
      if (!dbl) { e = bias - 4 + r.below(9); break; }
      // Doubles at the single range's ends (CVTSD2SS): just below 2^-126 or 2^128, or at the
      // bottom of the single denormals.
      e = [1023 - 127, 1023 - 126, 1023 + 127, 1023 - 149, 1023 - 150][r.below(5)];
      if (r.below(2)) mant = mmask - BigInt(r.below(1 << 20));
      break;
    default: e = bias - 4 + r.below(9); break; // near 1
  }
  return sign | (BigInt(e) << BigInt(mb)) | mant;
}
function intValue(r: Rng, bits: number): bigint {
  const k = r.below(6);
  let v: bigint;
  if (k === 0) v = rb(r, bits);
  else if (k === 1) v = BigInt(r.below(1000)) - 500n;
  else {
    const p = [24, 25, 53, 54, 31, 32, 63, 62, 16, 20][r.below(10)] % bits;
    v = (1n << BigInt(p)) + BigInt(r.below(9)) - 4n;
    if (r.below(3) === 0) v = rb(r, p + 1) | 1n;
    if (r.below(2)) v = -v;
  }
  return BigInt.asUintN(bits, v);
}
function fpLanes(r: Rng, b: Uint8Array, o: number, n: number, gen: 's' | 'd' | 'i' | 'q'): void {
  const dv = new DataView(b.buffer, b.byteOffset);
  const w = gen === 's' || gen === 'i' ? 4 : 8;
  for (let i = 0; i < n; i += w) {
    const v = gen === 's' || gen === 'd' ? fpValue(r, gen === 'd') : intValue(r, w * 8);
    if (w === 4) dv.setUint32(o + i, Number(v), true);
    else dv.setBigUint64(o + i, v, true);
  }
}
/** A random MXCSR: any rounding mode, DAZ/FTZ, mostly all exceptions masked, sometimes a few unmasked. */
function randomMxcsr(r: Rng): number {
  let m = r.below(4) << 13;
  if (r.below(3) === 0) m |= 0x40;
  if (r.below(3) === 0) m |= 0x8000;
  const k = r.below(8);
  let masks = 0x3f;
  if (k === 5) masks = r.u32() & 0x3f;
  else if (k >= 6) masks = 0x3f & ~(1 << r.below(6));
  m |= masks << 7;
  if (r.below(4) === 0) m |= r.u32() & 0x3f;
  return m;
}
function fpCase(r: Rng, buf: Uint8Array, o: number, gen: 's' | 'd' | 'i' | 'q'): void {
  fpLanes(r, buf, o, 48, gen);
  const dbl = gen === 'd' || gen === 'q';
  const w = dbl ? 8 : 4;
  // Related operands now and then: equal, negated, one ulp apart, exponents a significand apart.
  const dv = new DataView(buf.buffer, buf.byteOffset);
  for (let lane = 0; lane < 16; lane += w) {
    const k = r.below(10);
    if (k > 4 || gen === 'i' || gen === 'q') continue;
    if (k === 4) {
      // A product just below the smallest normal, 2^emin * (1 - c^2 * ulp^2), which rounds up to
      // it: tiny before rounding but not after (SDM Vol. 1 §4.9.1.5).
      const mb = dbl ? 52 : 23, bias = dbl ? 1023 : 127, c = 1 + r.below(5), t = r.below(5);
      const signs = BigInt(r.below(4));
      const a = ((signs & 1n) << BigInt(dbl ? 63 : 31)) | (BigInt(1 + t) << BigInt(mb)) | BigInt(c);
      const bb = ((signs >> 1n) << BigInt(dbl ? 63 : 31)) | (BigInt(bias - 1 - t) << BigInt(mb)) | ((1n << BigInt(mb)) - BigInt(2 * c));
      const swap = r.below(2) === 1;
      for (const [at, v] of [[0, swap ? bb : a], [16, swap ? a : bb], [32, swap ? a : bb]] as [number, bigint][]) {
        if (w === 4) dv.setUint32(o + at + lane, Number(v), true);
        else dv.setBigUint64(o + at + lane, v, true);
      }
      continue;
    }
    const a = w === 4 ? BigInt(dv.getUint32(o + lane, true)) : dv.getBigUint64(o + lane, true);
    const mb = dbl ? 52n : 23n, top = dbl ? 63n : 31n;
    let v = a;
    if (k === 1) v = a ^ (1n << top);
    else if (k === 2) v = a + BigInt(r.below(3)) - 1n;
    else if (k === 3) v = a - (BigInt(r.below(dbl ? 56 : 27)) << mb);
    v = BigInt.asUintN(Number(top) + 1, v);
    for (const at of [16, 32]) {
      if (w === 4) dv.setUint32(o + at + lane, Number(v), true);
      else dv.setBigUint64(o + at + lane, v, true);
    }
  }
  dv.setBigUint64(o + 48, intValue(r, 64), true);
  if (r.below(3) === 0) dv.setBigUint64(o + 48, BigInt.asUintN(64, BigInt.asIntN(32, intValue(r, 32))), true);
  fpLanes(r, buf, o + 56, 16, gen === 'q' ? 'i' : gen);
  dv.setUint32(o + 72, randomMxcsr(r), true);
}

export function randomCases(seed: number, op: SseOp, n: number, index = 0): Uint8Array {
  const r = new Rng(seed);
  const buf = new Uint8Array(n * REC);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * REC;
    dv.setUint32(o + 88, 0x1f80, true);
    dv.setUint32(o + 92, index, true);
    if (op.gen) { fpCase(r, buf, o, op.gen); continue; }
    dv.setUint32(o + 72, 0x1f80, true);
    if (op.init) { op.init(r, buf, o); continue; }
    fill(r, buf, o, 72);
    // Equal operands (per whole register) now and then, for the compares and the saturations.
    if (r.below(8) === 0) { buf.copyWithin(o + 16, o, o + 16); buf.copyWithin(o + 32, o, o + 16); buf.copyWithin(o + 64, o + 56, o + 64); }
    if (op.count) { smallCount(r, buf, o + 16); smallCount(r, buf, o + 32); smallCount(r, buf, o + 64); }
  }
  return buf;
}

// --- the case body, shared by both sides ---
function body(op: SseOp, inReg: string, outReg: string): string {
  const sub = (s: string) => s.replace(/\bIN\b/g, inReg).replace(/\bOUT\b/g, outReg);
  return sub(`movdqu 0(IN), %xmm1; movdqu 16(IN), %xmm2; movq 56(IN), %mm1; movq 64(IN), %mm2; ` +
    `movdqu 32(IN), %xmm0; movdqu %xmm0, 32(OUT); mov 48(IN), %rax; ldmxcsr 72(IN); lea 3f(%rip), %r8; ` +
    `${op.asm}; ` +
    `3: movdqu %xmm1, 0(OUT); movdqu %xmm2, 16(OUT); mov %rax, 48(OUT); movq %mm1, 56(OUT); movq %mm2, 64(OUT); ` +
    `stmxcsr 72(OUT); ldmxcsr 88(IN); emms`);
}

export function buildNative(dir: string): string {
  const fns = OPS.map((op, i) =>
    `static void op${i}(const unsigned char *in, unsigned char *out) {\n` +
    `  __asm__ volatile(${JSON.stringify(body(op, '%0', '%1').replace(/%(?!\d)/g, '%%'))} :: "S"(in), "D"(out) : ` +
    `"memory", "rax", "r8", "r9", "cc", "xmm0", "xmm1", "xmm2", "xmm9", "mm1", "mm2", "st", "st(1)", "st(2)");\n}\n`).join('');
  const src = `#define _GNU_SOURCE\n#include <stdio.h>\n#include <stdlib.h>\n#include <signal.h>\n#include <ucontext.h>\n${fns}
/* #XM: mark the case and resume at the register stores (R8); sigreturn restores MXCSR with its new flags. */
static void onfpe(int sig, siginfo_t *si, void *p) {
  ucontext_t *u = p; (void)sig; (void)si;
  *(int *)((unsigned char *)u->uc_mcontext.gregs[REG_RDI] + 80) = 19;
  u->uc_mcontext.gregs[REG_RIP] = u->uc_mcontext.gregs[REG_R8];
}
typedef void (*fn)(const unsigned char *, unsigned char *);
static fn table[] = { ${OPS.map((_, i) => `op${i}`).join(', ')} };
int main(int argc, char **argv) {
  long per = atol(argv[1]); (void)per;
  struct sigaction sa = {0}; sa.sa_sigaction = onfpe; sa.sa_flags = SA_SIGINFO | SA_NODEFER; sigaction(SIGFPE, &sa, 0);
  FILE *f = fopen(argv[2], "rb"); fseek(f, 0, SEEK_END); long n = ftell(f) / ${REC}; fseek(f, 0, SEEK_SET);
  unsigned char *in = aligned_alloc(64, n * ${REC}), *out = aligned_alloc(64, n * ${REC});
  if (fread(in, ${REC}, n, f) != (size_t)n) return 2; fclose(f);
  for (long i = 0; i < n * ${REC}; i++) out[i] = 0;
  for (long i = 0; i < n; i++) table[*(int *)(in + i * ${REC} + 92)](in + i * ${REC}, out + i * ${REC});
  f = fopen(argv[3], "wb"); fwrite(out, ${REC}, n, f); fclose(f); return 0;
}\n`;
  writeFileSync(join(dir, 'ssenative.c'), src);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'ssenative'), join(dir, 'ssenative.c')]);
  return join(dir, 'ssenative');
}

/** Run all variants natively: each case names its variant at +92. */
export function runNative(exe: string, dir: string, per: number, cases: Uint8Array): Uint8Array {
  writeFileSync(join(dir, 'in.bin'), cases);
  execFileSync(exe, [String(per), join(dir, 'in.bin'), join(dir, 'out.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'out.bin')));
}

// --- tsemu: flat 64-bit mode, identity-mapped 0-4 MiB with 2 MiB pages, CR4.OSFXSR set ---
export const CODE = 0x100000, IN = 0x200000, OUT = 0x280000, SLOT = 256;
const PML4 = 0x300000, PDPT = 0x301000, PD = 0x302000, IDT = 0x304000, GDT = 0x305000, STACK = 0x3f0000;
/** The #XM handler follows the variants in the guest code. */
const HANDLER = () => CODE + OPS.length * SLOT;

export function guestCode(dir: string): Uint8Array {
  const src = OPS.map((op, k) => `.org ${k * SLOT}\n1: ${body(op, '%rsi', '%rdi')}\n  add $${REC}, %rsi; add $${REC}, %rdi; dec %ecx; jnz 1b; hlt`).join('\n') +
    `\n.org ${OPS.length * SLOT}\n  movl $19, 80(%rdi); mov 24(%rsp), %rsp; jmp *%r8`;
  writeFileSync(join(dir, 'g.S'), src + '\n');
  execFileSync('as', ['--64', '-o', join(dir, 'g.o'), join(dir, 'g.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'g.o'), join(dir, 'g.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'g.bin')));
}

const host: CpuHost = {
  portRead: () => 0xffffffff, portWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
  interruptAcknowledge: () => 0x20,
};

/**
 * A 64-bit CPU (longCpu) whose IDT sends vector v (0-31) to a HLT at handlers + 16 v, so the RIP
 * after a stop tells which exception was raised. Used by the unit tests of cpu-sse and cpu-misc.
 */
export async function longCpuWithHandlers(
  cr0: bigint, cr4: bigint, at: { gdt: number; idt: number; handlers: number }, withHost: CpuHost = host,
): Promise<Cpu> {
  const cpu = await longCpu(cr4, cr0, withHost);
  const v = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
  v.setBigUint64(at.gdt + 8, 0x00af9b000000ffffn, true);
  v.setBigUint64(at.gdt + 16, 0x00cf93000000ffffn, true);
  cpu.setGdtr(BigInt(at.gdt), 23);
  for (let i = 0; i < 32; i++) {
    const h = BigInt(at.handlers + i * 16);
    v.setBigUint64(at.idt + i * 16, (h & 0xffffn) | (8n << 16n) | (0x8en << 40n) | (((h >> 16n) & 0xffffn) << 48n), true);
    v.setBigUint64(at.idt + i * 16 + 8, 0n, true);
    cpu.ram[at.handlers + i * 16] = 0xf4;
  }
  cpu.setIdtr(BigInt(at.idt), 32 * 16 - 1);
  return cpu;
}

/** A CPU in 64-bit mode at CPL 0, no IDT (a fault ends in a triple fault, reported as such). */
export async function longCpu(cr4 = 0x620n, cr0 = 0x80000031n, withHost: CpuHost = host): Promise<Cpu> {
  const cpu = await Cpu.create(8 << 20, withHost);
  const v = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
  v.setBigUint64(PML4, BigInt(PDPT | 3), true);
  v.setBigUint64(PDPT, BigInt(PD | 3), true);
  v.setBigUint64(PD, 0x83n, true);
  v.setBigUint64(PD + 8, 0x200083n, true);
  cpu.setCr(4, cr4);
  cpu.setCr(3, BigInt(PML4));
  cpu.setMsr(0xc0000080, 0x500n);
  cpu.setCr(0, cr0);
  cpu.setSeg(1, { selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00af9b00 });
  for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
  cpu.syncMode();
  // IDT: vector 19 (#XM) -> HANDLER, a 64-bit interrupt gate (SDM Vol. 3A §6.14.1).
  const h = HANDLER();
  const g = IDT + 19 * 16;
  v.setUint16(g, h & 0xffff, true);
  v.setUint16(g + 2, 8, true);
  v.setUint16(g + 4, 0x8e00, true);
  v.setUint16(g + 6, (h >>> 16) & 0xffff, true);
  v.setUint32(g + 8, 0, true);
  cpu.setIdtr(BigInt(IDT), 0xfff);
  // GDT: the 64-bit code and flat data descriptors that the selectors above name.
  v.setBigUint64(GDT + 8, 0x00af9b000000ffffn, true);
  v.setBigUint64(GDT + 16, 0x00cf93000000ffffn, true);
  cpu.setGdtr(BigInt(GDT), 23);
  cpu.setReg(4, BigInt(STACK));
  return cpu;
}

export function runTsemu(cpu: Cpu, k: number, cases: Uint8Array): Uint8Array {
  const n = cases.length / REC;
  if (cases.length > OUT - IN) throw new Error(`${OPS[k].name}: ${n} cases do not fit between IN and OUT (lower SSE_CASES)`);
  cpu.ram.set(cases, IN);
  cpu.ram.fill(0, OUT, OUT + cases.length);
  cpu.setReg(6, BigInt(IN)); cpu.setReg(7, BigInt(OUT)); cpu.setReg(1, BigInt(n));
  cpu.setRip(BigInt(CODE + k * SLOT));
  // A delivered exception can end a run() slice early: go on until HLT within the budget.
  let r = cpu.run(n * 40 + 100);
  for (let k = 0; k < n + 10 && r.reason === StopReason.Budget; k++) r = cpu.run(n * 40 + 100);
  if (r.reason !== StopReason.Halt) throw new Error(`${OPS[k].name}: tsemu did not halt: ${r.reason} rip=${cpu.getRip().toString(16)}`);
  return cpu.ram.slice(OUT, OUT + cases.length);
}

export const tmp = () => mkdtempSync(join(tmpdir(), 'tsemu-sse-'));
