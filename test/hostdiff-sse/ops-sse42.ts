// SSE4.2 string-compare variants of the SSE host-differential test (test/hostdiff-sse/ops.ts):
// PCMPESTRM, PCMPESTRI, PCMPISTRM and PCMPISTRI with every imm8 value (0-255) in the register
// form, plus memory (unaligned), REX.W (RAX/RDX lengths), XMM0 and XMM9 operand forms for a spread
// of imm8 values. The inputs come from strCase below, not from the byte-biased generator.
// In each case (record layout of ops.ts):
//   in   +0 XMM1 (first operand), +16 XMM2 (second operand; the memory forms store it to OUT+33
//        first), +48 RAX (the first length of the explicit forms), +56 RDX (the second length,
//        through MM1), +64 RCX before the op (through MM2: random, so that a missing zeroing of
//        the upper half shows)
//   out  +0 XMM1, +16 XMM0 after the op (the mask forms' result), +48 EFLAGS & 0x8D5 (CF PF AF
//        ZF SF OF), +56 RCX after the op, +64 RDX after the op
// RCX and RDX are the guest loop's counter and not in the native helper's clobber list, so they
// are saved on the stack below the red zone around the op.
import type { Rng, SseOp } from './ops.ts';

const NAMES = ['pcmpestrm', 'pcmpestri', 'pcmpistrm', 'pcmpistri'];

const SPECIAL_B = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x20, 0x41, 0x61, 0x7a];
const SPECIAL_W = [0x0000, 0x0001, 0x007f, 0x0080, 0x00ff, 0x0100, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, 0x0041, 0x4100];

/** A random length for EAX/RAX or EDX/RDX: mostly small (around the element count n), sometimes negative, huge, or with junk in the upper half. */
function lengthValue(r: Rng, n: number): bigint {
  const small = BigInt(r.below(n + 4));
  const hi32 = BigInt(r.u32()) << 32n;
  const k = r.below(14);
  if (k < 6) return small;
  if (k === 6) return BigInt.asUintN(64, -small); // -(0..n+3) as a 64-bit value
  if (k === 7) return BigInt.asUintN(32, -small); // the same in 32 bits, upper half clear
  if (k === 8) return hi32 | small; // upper half junk, low half small
  if (k === 9) return hi32 | BigInt.asUintN(32, -small);
  if (k === 10) {
    const sp = [0x80000000n, 0x7fffffffn, 0xffffffffn, 0xffffffff80000000n, 0x8000000000000000n, 0x7fffffffffffffffn,
      0xffffffffffffffffn, 0x100000000n, BigInt(n), BigInt(n + 1), BigInt(n - 1)];
    return sp[r.below(sp.length)];
  }
  if (k === 11) return BigInt(r.u32());
  return hi32 | BigInt(r.u32());
}

/**
 * Two random strings of bytes or words: from a small alphabet (repeated characters), a run of
 * letters, the sign and null boundary values, or anything; sometimes related (equal, the first a
 * substring of the second, one element apart), sometimes the first laid out as range pairs with the
 * second's elements at, inside and just outside their bounds; nulls added at random places (or none).
 */
function strCase(words: boolean) {
  const n = words ? 8 : 16;
  const mask = words ? 0xffff : 0xff;
  return (r: Rng, b: Uint8Array, o: number): void => {
    const dv = new DataView(b.buffer, b.byteOffset);
    const A: number[] = [], B: number[] = [];
    const style = r.below(6);
    let alpha: number[] = [];
    if (style === 0) for (let i = 1 + r.below(4); i > 0; i--) alpha.push(r.u32() & mask);
    else if (style === 1) { const c0 = 0x41 + r.below(40), len = 2 + r.below(6); for (let i = 0; i < len; i++) alpha.push(c0 + i); }
    else if (style === 2) alpha = words ? SPECIAL_W : SPECIAL_B;
    const pick = (): number => (alpha.length && (style !== 3 || r.below(2)) ? alpha[r.below(alpha.length)] : r.u32() & mask);
    if (style === 3) alpha = words ? SPECIAL_W : SPECIAL_B; // half special, half random
    for (let i = 0; i < n; i++) { A.push(pick()); B.push(pick()); }

    const rel = r.below(10);
    if (rel === 0) for (let i = 0; i < n; i++) B[i] = A[i];
    else if (rel === 1) { for (let i = 0; i < n; i++) B[i] = A[i]; B[r.below(n)] = pick(); }
    else if (rel === 2 || rel === 3) { // A's first few elements somewhere in B (equal ordered)
      const len = 1 + r.below(5), at = r.below(n);
      for (let i = 0; i < len && at + i < n; i++) B[at + i] = A[i];
      if (r.below(2)) B[Math.min(n - 1, at + len)] = A[len] ?? pick();
    } else if (rel === 4 || rel === 5) { // A as range pairs, B near their bounds
      for (let i = 0; i + 1 < n; i += 2) {
        let lo = pick(), hi = pick();
        const signed = r.below(2) === 1;
        const key = (v: number) => (signed ? (words ? (v << 16) >> 16 : (v << 24) >> 24) : v);
        if (r.below(4) !== 0 && key(lo) > key(hi)) [lo, hi] = [hi, lo];
        A[i] = lo; A[i + 1] = hi;
      }
      for (let j = 0; j < n; j++) {
        const p = 2 * r.below(n / 2);
        const k = r.below(5);
        const v = k === 0 ? A[p] : k === 1 ? A[p + 1] : k === 2 ? A[p] - 1 : k === 3 ? A[p + 1] + 1 : (A[p] + A[p + 1]) >> 1;
        B[j] = r.below(4) === 0 ? pick() : v & mask;
      }
    }

    // Nulls: none at all, as generated, one, at the start, or several.
    for (const S of [A, B]) {
      const k = r.below(8);
      if (k < 2) { for (let i = 0; i < n; i++) if (S[i] === 0) S[i] = 1 + r.below(mask); }
      else if (k < 5) S[r.below(n)] = 0;
      else if (k === 5) S[0] = 0;
      else if (k === 6) { S[r.below(n)] = 0; S[r.below(n)] = 0; }
      else if (k === 7 && r.below(2)) S[n - 1] = 0;
    }
    for (let i = 0; i < n; i++) {
      if (words) { dv.setUint16(o + 2 * i, A[i], true); dv.setUint16(o + 16 + 2 * i, B[i], true); }
      else { b[o + i] = A[i]; b[o + 16 + i] = B[i]; }
    }
    // Memory operand bytes (also XMM0 at the start): random; the memory forms overwrite them with XMM2.
    for (let i = 0; i < 16; i++) b[o + 32 + i] = r.u32() & 0xff;
    // Lengths: independent, or the first null's position now and then.
    const nul = (S: number[]) => { const i = S.indexOf(0); return BigInt(i < 0 ? n : i); };
    dv.setBigUint64(o + 48, r.below(6) === 0 ? nul(A) : lengthValue(r, n), true);
    dv.setBigUint64(o + 56, r.below(6) === 0 ? nul(B) : lengthValue(r, n), true);
    dv.setBigUint64(o + 64, (BigInt(r.u32()) << 32n) | BigInt(r.u32()), true);
  };
}

/** The op between the register set-up and the result moves described above. */
const wrap = (op: string, pre = '') =>
  `${pre}lea -128(%rsp), %rsp; push %rcx; push %rdx; movq %mm1, %rdx; movq %mm2, %rcx; ${op}; ` +
  `pushfq; pop %rax; and $0x8d5, %eax; movq %rcx, %mm1; movq %rdx, %mm2; movdqa %xmm0, %xmm2; ` +
  `pop %rdx; pop %rcx; lea 128(%rsp), %rsp`;

export function sse42StringOps(ops: SseOp[]): void {
  const needs = 'sse4_2';
  const add = (name: string, asm: string, imm: number, mult: number) =>
    ops.push({ name, asm, mult, needs, init: strCase((imm & 1) === 1) });
  // Every imm8 in the register form: about 24 cases each at the default SSE_CASES (160).
  for (const n of NAMES) {
    for (let imm = 0; imm < 256; imm++) add(`${n} $${imm}`, wrap(`${n} $${imm}, %xmm2, %xmm1`), imm, 0.15);
  }
  // The other forms on a spread of imm8 values (all four formats, aggregations, polarities and
  // both output selections among them).
  const some: number[] = [];
  for (let i = 0; i < 32; i++) some.push((i * 0x4b + 0x17) & 0xff);
  some.push(0x00, 0x0c, 0x1a, 0x3a, 0x44, 0x4d, 0x7f, 0x80, 0xff);
  for (const n of NAMES) {
    for (const imm of some) {
      // Unaligned m128: XMM2's bytes at OUT+33.
      add(`${n} $${imm} m128`, wrap(`${n} $${imm}, 33(OUT), %xmm1`, 'movdqu %xmm2, 33(OUT); '), imm, 0.15);
    }
    for (const imm of some.filter((_, i) => i % 3 === 0)) {
      // REX.W: RAX/RDX lengths for the explicit forms, no effect on the implicit ones.
      add(`${n}q $${imm}`, wrap(`.byte 0x66, 0x48, 0x0f, 0x3a, 0x${(0x60 + NAMES.indexOf(n)).toString(16)}, 0xca, ${imm}`), imm, 0.15);
      // XMM9 as either operand (REX.R, REX.B), XMM0 as an operand.
      add(`${n} $${imm} xmm9,xmm2`, wrap(`movdqa %xmm1, %xmm9; ${n} $${imm}, %xmm2, %xmm9`), imm, 0.1);
      add(`${n} $${imm} xmm1,xmm9`, wrap(`movdqa %xmm2, %xmm9; ${n} $${imm}, %xmm9, %xmm1`), imm, 0.1);
      add(`${n} $${imm} xmm0,xmm0`, wrap(`movdqa %xmm2, %xmm0; ${n} $${imm}, %xmm0, %xmm0`), imm, 0.1);
      add(`${n} $${imm} xmm0,xmm1`, wrap(`movdqa %xmm2, %xmm0; ${n} $${imm}, %xmm1, %xmm0`), imm, 0.1);
    }
  }
  // The REX.W memory forms.
  for (const imm of [0x01, 0x0c, 0x38, 0x44]) {
    add(`pcmpestrmq $${imm} m128`, wrap(`pcmpestrmq $${imm}, 33(OUT), %xmm1`, 'movdqu %xmm2, 33(OUT); '), imm, 0.15);
    add(`pcmpestriq $${imm} m128`, wrap(`pcmpestriq $${imm}, 33(OUT), %xmm1`, 'movdqu %xmm2, 33(OUT); '), imm, 0.15);
  }
}
