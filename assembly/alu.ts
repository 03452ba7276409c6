// Integer arithmetic with exact flags (SDM Vol. 2, each instruction's "Flags Affected").
import {
  setLazy, setLazyKeepCF, setArith, getCF, getEflags, sizeMask, szp,
  LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC,
} from "./flags";
import { F_CF, F_OF, F_AF, F_ZF, F_SF, F_PF } from "./state";
import { raise, EXC_DE } from "./fault";

@inline function msb(v: u64, size: u32): u64 {
  return (v >> (((<u64>size) << 3) - 1)) & 1;
}

/** The eight ALU operations of opcodes 00-3F and group 1: add or adc sbb and sub xor cmp. */
export function alu(n: u32, a: u64, b: u64, size: u32): u64 {
  return aluInline(n, a, b, size);
}

/** alu() for callers with a constant size (fastpath.ts), so the masks fold away. Returns the result (CMP: a). */
@inline export function aluInline(n: u32, a: u64, b: u64, size: u32): u64 {
  const m = sizeMask(size);
  a &= m;
  b &= m;
  let r: u64;
  switch (n) {
    case 0: r = (a + b) & m; setLazy(LF_ADD, a, b, r, size); return r;
    case 1: r = a | b; setLazy(LF_LOGIC, a, b, r, size); return r;
    case 2: { const c: u64 = getCF() ? 1 : 0; r = (a + b + c) & m; setLazy(LF_ADD, a, b, r, size); return r; }
    case 3: { const c: u64 = getCF() ? 1 : 0; r = (a - b - c) & m; setLazy(LF_SUB, a, b, r, size); return r; }
    case 4: r = a & b; setLazy(LF_LOGIC, a, b, r, size); return r;
    case 5: r = (a - b) & m; setLazy(LF_SUB, a, b, r, size); return r;
    case 6: r = a ^ b; setLazy(LF_LOGIC, a, b, r, size); return r;
    default: r = (a - b) & m; setLazy(LF_SUB, a, b, r, size); return a;
  }
}

export function inc(a: u64, size: u32): u64 {
  const r = (a + 1) & sizeMask(size);
  setLazyKeepCF(LF_INC, a & sizeMask(size), r, size);
  return r;
}
export function dec(a: u64, size: u32): u64 {
  const r = (a - 1) & sizeMask(size);
  setLazyKeepCF(LF_DEC, a & sizeMask(size), r, size);
  return r;
}
export function neg(a: u64, size: u32): u64 {
  const m = sizeMask(size);
  const r = (0 - a) & m;
  setLazy(LF_SUB, 0, a & m, r, size);
  return r;
}

/**
 * SHL/SAL, SHR and SAR (group 2 members 4-7) by a count already masked and not 0: the result,
 * with all six arithmetic flags set from it (nothing of the old flags survives, so they are not
 * read). OF is defined for 1-bit shifts; for longer ones we give what SHL's and SHR's 1-bit rules
 * give, and 0 for SAR. AF is undefined: 0.
 */
@inline export function shiftArith(n: u32, a: u64, c: u32, size: u32): u64 {
  const bits: u32 = size << 3;
  const m = sizeMask(size);
  a &= m;
  let r: u64;
  let f: u32;
  if (n == 5) { // SHR
    r = c >= 64 ? 0 : a >> c;
    const cf: u64 = c <= bits ? (a >> (c - 1)) & 1 : 0;
    f = szp(r, size) | (cf != 0 ? F_CF : 0) | (c == 1 && msb(a, size) != 0 ? F_OF : 0);
  } else if (n == 7) { // SAR
    const sa: i64 = (<i64>(a << (64 - bits))) >> (64 - bits);
    const k: u32 = c >= bits ? bits - 1 : c;
    r = <u64>(sa >> k) & m;
    const cf: u64 = <u64>(sa >> (c - 1 >= bits ? bits - 1 : c - 1)) & 1;
    f = szp(r, size) | (cf != 0 ? F_CF : 0);
  } else { // SHL/SAL
    r = c >= 64 ? 0 : (a << c) & m;
    const cf: u64 = c <= bits ? (a >> (bits - c)) & 1 : 0;
    f = szp(r, size) | (cf != 0 ? F_CF : 0) | ((msb(r, size) ^ cf) != 0 ? F_OF : 0);
  }
  setArith(f);
  return r;
}

/** Group 2: rol ror rcl rcr shl shr sal sar. Flags are computed eagerly. */
export function shift(n: u32, a: u64, count: u32, size: u32): u64 {
  const bits: u32 = size << 3;
  const m = sizeMask(size);
  a &= m;
  let c = count & (size == 8 ? 0x3f : 0x1f);
  if (c == 0) return a; // no flags change (SDM: "If the count is 0, the flags are not affected")
  if (n >= 4) return shiftArith(n, a, c, size);
  // Rotates keep SF, ZF, AF and PF.
  const old = getEflags();
  let f = old & (F_CF | F_OF | F_AF | F_ZF | F_SF | F_PF);
  let r: u64 = 0;
  switch (n) {
    case 0: { // ROL
      const k = c % bits;
      r = k == 0 ? a : ((a << k) | (a >> (bits - k))) & m;
      const cf = r & 1;
      f = (f & ~(F_CF | F_OF)) | (cf != 0 ? F_CF : 0) | ((msb(r, size) ^ cf) != 0 ? F_OF : 0);
      break;
    }
    case 1: { // ROR
      const k = c % bits;
      r = k == 0 ? a : ((a >> k) | (a << (bits - k))) & m;
      const hi = msb(r, size);
      const next = (r >> (bits - 2)) & 1;
      f = (f & ~(F_CF | F_OF)) | (hi != 0 ? F_CF : 0) | ((hi ^ next) != 0 ? F_OF : 0);
      break;
    }
    case 2: { // RCL: rotate through CF, a (bits+1)-bit rotation
      const k = c % (bits + 1);
      let cf: u64 = (old & F_CF) != 0 ? 1 : 0;
      r = a;
      for (let i: u32 = 0; i < k; i++) {
        const out = msb(r, size);
        r = ((r << 1) | cf) & m;
        cf = out;
      }
      f = (f & ~(F_CF | F_OF)) | (cf != 0 ? F_CF : 0) | ((msb(r, size) ^ cf) != 0 ? F_OF : 0);
      break;
    }
    case 3: { // RCR
      const k = c % (bits + 1);
      let cf: u64 = (old & F_CF) != 0 ? 1 : 0;
      r = a;
      // OF is defined for 1-bit rotates: MSB(dest) XOR CF before the rotate.
      const of1 = msb(a, size) ^ cf;
      for (let i: u32 = 0; i < k; i++) {
        const out = r & 1;
        r = (r >> 1) | (cf << (bits - 1));
        cf = out;
      }
      // For counts above 1 OF is undefined; report what a 1-bit step of the last rotate gives.
      const of2 = k == 1 ? of1 : (msb(r, size) ^ ((r >> (bits - 2)) & 1));
      f = (f & ~(F_CF | F_OF)) | (cf != 0 ? F_CF : 0) | (of2 != 0 ? F_OF : 0);
      break;
    }
    default: unreachable();
  }
  setArith(f);
  return r;
}

/** SHLD/SHRD (SDM Vol. 2 "SHLD", "SHRD"). */
export function shiftDouble(left: bool, a: u64, b: u64, count: u32, size: u32): u64 {
  const bits: u32 = size << 3;
  const m = sizeMask(size);
  a &= m;
  b &= m;
  const c = count & (size == 8 ? 0x3f : 0x1f);
  if (c == 0) return a;
  let r: u64;
  let cf: u64;
  if (size == 2 && c > 16) {
    // Undefined result; compute through a 48-bit a:b:a concatenation, as hardware commonly does.
    const wide: u64 = left ? (a << 32) | (b << 16) | a : (a << 32) | (b << 16) | a;
    if (left) {
      r = (wide << c) >> 32 & m;
      cf = (wide >> (48 - c)) & 1;
    } else {
      const w2: u64 = (a) | (b << 16) | (a << 32);
      r = (w2 >> c) & m;
      cf = (w2 >> (c - 1)) & 1;
    }
  } else if (left) {
    r = ((a << c) | (c == bits ? b : (b >> (bits - c)))) & m;
    if (c == bits) r = b;
    cf = (a >> (bits - c)) & 1;
  } else {
    r = ((a >> c) | (c == bits ? b : (b << (bits - c)))) & m;
    if (c == bits) r = b;
    cf = (a >> (c - 1)) & 1;
  }
  const ovf = (msb(r, size) ^ msb(a, size)) != 0;
  setArith(szp(r, size) | (cf != 0 ? F_CF : 0) | (ovf ? F_OF : 0));
  return r;
}

// --- multiplication and division ---

/** High 64 bits of an unsigned 64x64 product. */
export function mulHiU(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff, aHi = a >> 32, bLo = b & 0xffffffff, bHi = b >> 32;
  const ll = aLo * bLo, lh = aLo * bHi, hl = aHi * bLo, hh = aHi * bHi;
  const mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
export function mulHiS(a: u64, b: u64): u64 {
  let hi = mulHiU(a, b);
  if (<i64>a < 0) hi -= b;
  if (<i64>b < 0) hi -= a;
  return hi;
}

/** Flags after MUL/IMUL: CF = OF = upper half significant; SF ZF AF PF undefined (we use SZP of the low half, AF 0). */
export function setMulFlags(overflow: bool, low: u64, size: u32): void {
  setArith(szp(low, size) | (overflow ? (F_CF | F_OF) : 0));
}

/** Two- and three-operand IMUL: truncated signed product. */
export function imulTrunc(a: u64, b: u64, size: u32): u64 {
  const bits: u32 = size << 3;
  const m = sizeMask(size);
  const sa: i64 = (<i64>(a << (64 - bits))) >> (64 - bits);
  const sb: i64 = (<i64>(b << (64 - bits))) >> (64 - bits);
  const lo = <u64>(sa * sb);
  let overflow: bool;
  if (size == 8) {
    const hi = mulHiS(a, b);
    overflow = hi != <u64>((<i64>lo) >> 63);
  } else {
    const r = lo & m;
    const back: i64 = (<i64>(r << (64 - bits))) >> (64 - bits);
    overflow = back != (sa * sb);
  }
  setMulFlags(overflow, lo, size);
  return lo & m;
}

// Results of div128.
export let divQuot: u64 = 0;
export let divRem: u64 = 0;

/** Unsigned 128/64 division; hi must be below d (the caller raised #DE otherwise). */
export function div128(hi: u64, lo: u64, dv: u64): void {
  if (hi == 0) {
    divQuot = lo / dv;
    divRem = lo % dv;
    return;
  }
  let q: u64 = 0;
  let r = hi;
  for (let i = 63; i >= 0; i--) {
    const top = r >> 63;
    r = (r << 1) | ((lo >> <u64>i) & 1);
    q <<= 1;
    if (top != 0 || r >= dv) {
      r -= dv;
      q |= 1;
    }
  }
  divQuot = q;
  divRem = r;
}

/** DIV/IDIV of the (2*size)-byte dividend hi:lo by dv; raises #DE on zero or overflow. */
export function divide(signed: bool, hi: u64, lo: u64, dv: u64, size: u32): void {
  const bits: u32 = size << 3;
  const m = sizeMask(size);
  dv &= m;
  if (dv == 0) raise(EXC_DE, -1);
  if (!signed) {
    if (size == 8) {
      if (hi >= dv) raise(EXC_DE, -1);
      div128(hi, lo, dv);
    } else {
      const n = ((hi & m) << bits) | (lo & m);
      const q = n / dv;
      if (q > m) raise(EXC_DE, -1);
      divQuot = q;
      divRem = n % dv;
    }
    return;
  }
  if (size == 8) {
    const neg = <i64>hi < 0;
    let nh = hi, nl = lo;
    if (neg) { nl = ~lo + 1; nh = ~hi + (nl == 0 ? 1 : 0); }
    const dneg = <i64>dv < 0;
    const ad = dneg ? 0 - dv : dv;
    if (nh >= ad) raise(EXC_DE, -1);
    div128(nh, nl, ad);
    let q = divQuot, r = divRem;
    const qneg = neg != dneg;
    if (qneg) { if (q > 0x8000000000000000) raise(EXC_DE, -1); q = 0 - q; }
    else if (q > 0x7fffffffffffffff) raise(EXC_DE, -1);
    if (neg) r = 0 - r;
    divQuot = q;
    divRem = r;
    return;
  }
  const n: i64 = <i64>(((hi & m) << bits) | (lo & m)) << (64 - 2 * bits) >> (64 - 2 * bits);
  const sd: i64 = (<i64>(dv << (64 - bits))) >> (64 - bits);
  // A 64-bit dividend of i64 MIN divided by -1 would trap in WebAssembly; its quotient (2^63)
  // overflows every operand size anyway, so it is #DE like any other too-large quotient.
  const lim: i64 = <i64>1 << (bits - 1);
  if (sd == -1) {
    if (n == i64.MIN_VALUE || -n >= lim || -n < -lim) raise(EXC_DE, -1);
    divQuot = <u64>(-n) & m;
    divRem = 0;
    return;
  }
  const q = n / sd;
  if (q >= lim || q < -lim) raise(EXC_DE, -1);
  divQuot = <u64>q & m;
  divRem = <u64>(n % sd) & m;
}

