// SSE/SSE2 floating point: the numeric core for single (f32) and double (f64) lanes. Written from
// the Intel SDM: Vol. 1 §4.8 (formats, NaNs, Table 4-7 NaN results), §4.9 (exceptions and their
// precedence), §10.2.3 (MXCSR, §10.2.3.3 FTZ, §10.2.3.4 DAZ), §11.5 (SIMD floating-point
// exceptions), and the Vol. 2 page of each instruction.
//
// Every operation is exact integer arithmetic on an unpacked significand followed by one rounding
// step (roundPack) in the MXCSR rounding mode. A value is unpacked as sign, exponent e and a 64-bit
// significand m with its leading one at bit 62: value = m * 2^(e - 62). The two spare low bits of a
// double's 64-bit field (11 for a single) hold guard bits, and a "sticky" bit 0 records any nonzero
// bits shifted out. WebAssembly floats are used only for ordering compares of non-NaN values, for
// a first guess of a square root that is then checked exactly, and for RCP/RSQRT (approximations).
//
// Flags of the current instruction accumulate in `pre` (pre-computation: IE, DE, ZE) and `post`
// (post-computation: OE, UE, PE), bit positions as in MXCSR (SDM Vol. 1 §11.5.1: an unmasked
// pre-computation condition in any lane stops the instruction before post-computation flags are
// recorded). No allocation: all state is in globals.

export const IE: u32 = 1;
export const DE: u32 = 2;
export const ZE: u32 = 4;
export const OE: u32 = 8;
export const UE: u32 = 16;
export const PE: u32 = 32;

/** MXCSR of the current instruction (set by fpBegin). */
export let mx: u32 = 0x1f80;
export let pre: u32 = 0;
export let post: u32 = 0;
let rc: u32 = 0; // 0 nearest-even, 1 down, 2 up, 3 toward zero (MXCSR.RC, SDM Vol. 1 §4.8.4)
let daz = false;
let ftz = false;

export function fpBegin(m: u32): void {
  mx = m;
  pre = 0;
  post = 0;
  rc = (m >> 13) & 3;
  daz = (m & 0x40) != 0;
  ftz = (m & 0x8000) != 0;
}
/** Exception conditions in `f` whose MXCSR mask bit (bits 7-12) is clear. */
@inline export function unmasked(f: u32): u32 { return f & ~(mx >> 7) & 63; }

// Value classes.
const K_ZERO: u32 = 0;
const K_FIN: u32 = 1;
const K_INF: u32 = 2;
const K_QNAN: u32 = 3;
const K_SNAN: u32 = 4;

// Format parameters: mantissa bits, biased exponent of Inf/NaN, bias.
@inline function mbits(dbl: bool): u32 { return dbl ? 52 : 23; }
@inline function emaxField(dbl: bool): u64 { return dbl ? 0x7ff : 0xff; }
@inline function bias(dbl: bool): i32 { return dbl ? 1023 : 127; }
@inline function signShift(dbl: bool): u64 { return dbl ? 63 : 31; }
/** The QNaN floating-point indefinite (SDM Vol. 1 §4.8.3.7, Table 4-3). */
@inline export function indefinite(dbl: bool): u64 { return dbl ? 0xfff8000000000000 : 0xffc00000; }
@inline function quietBit(dbl: bool): u64 { return dbl ? 0x0008000000000000 : 0x00400000; }

// Unpacked operands A and B, and the output of unpack().
let uS: u32 = 0, uE: i32 = 0, uM: u64 = 0, uK: u32 = 0, uDen = false;
let aS: u32 = 0, aE: i32 = 0, aM: u64 = 0, aK: u32 = 0, aDen = false;
let bS: u32 = 0, bE: i32 = 0, bM: u64 = 0, bK: u32 = 0, bDen = false;

/** Unpack `v`; a denormal becomes a signed zero under DAZ (SDM Vol. 1 §10.2.3.4), else it is flagged in uDen. */
function unpack(v: u64, dbl: bool): void {
  const mb = mbits(dbl);
  const mask: u64 = (<u64>1 << <u64>mb) - 1;
  uS = <u32>(v >> signShift(dbl)) & 1;
  const e = (v >> <u64>mb) & emaxField(dbl);
  const m = v & mask;
  uDen = false;
  uE = 0;
  uM = 0;
  if (e == emaxField(dbl)) {
    uK = m == 0 ? K_INF : (m & quietBit(dbl)) != 0 ? K_QNAN : K_SNAN;
    uM = m;
  } else if (e == 0) {
    if (m == 0 || daz) { uK = K_ZERO; return; }
    uK = K_FIN;
    uDen = true;
    const s = <i32>clz(m) - 1;
    uM = m << <u64>s;
    uE = 63 - bias(dbl) - <i32>mb - s;
  } else {
    uK = K_FIN;
    uM = (m | (<u64>1 << <u64>mb)) << <u64>(62 - mb);
    uE = <i32>e - bias(dbl);
  }
}
function unpackA(v: u64, dbl: bool): void { unpack(v, dbl); aS = uS; aE = uE; aM = uM; aK = uK; aDen = uDen; }
function unpackB(v: u64, dbl: bool): void { unpack(v, dbl); bS = uS; bE = uE; bM = uM; bK = uK; bDen = uDen; }

@inline function isNan(k: u32): bool { return k >= K_QNAN; }
@inline function signed(s: u32, dbl: bool): u64 { return <u64>s << signShift(dbl); }
@inline function infOf(s: u32, dbl: bool): u64 { return signed(s, dbl) | (emaxField(dbl) << <u64>mbits(dbl)); }
@inline function quiet(v: u64, dbl: bool): u64 { return v | quietBit(dbl); }

/** Right shift keeping a sticky bit 0 for anything shifted out. */
function shrSticky(m: u64, n: i32): u64 {
  if (n <= 0) return m;
  if (n >= 64) return m != 0 ? 1 : 0;
  return (m >> <u64>n) | ((m & ((<u64>1 << <u64>n) - 1)) != 0 ? 1 : 0);
}

/** Does the truncated value q with discarded bits rem (of width sh) round away from zero? */
function roundsUp(q: u64, rem: u64, sh: u64, sign: u32, mode: u32): bool {
  if (rem == 0) return false;
  switch (mode) {
    case 0: {
      const half: u64 = <u64>1 << (sh - 1);
      return rem > half || (rem == half && (q & 1) != 0);
    }
    case 1: return sign != 0;
    case 2: return sign == 0;
  }
  return false;
}

/** Tininess is detected after rounding (the result rounded with an unbounded exponent is below 2^emin). */
const TINY_AFTER_ROUNDING = true;

/**
 * Round sign * sig * 2^(e - 62) (sig != 0, any position of its leading one) to the format, setting
 * OE/UE/PE in `post` (SDM Vol. 1 §4.9.1.4-§4.9.1.6, §10.2.3.3 for FTZ).
 */
export function roundPack(sign: u32, e: i32, sig: u64, dbl: bool): u64 {
  const lz = <i32>clz(sig);
  if (lz == 0) { sig = (sig >> 1) | (sig & 1); e += 1; }
  else if (lz > 1) { sig <<= <u64>(lz - 1); e -= lz - 1; }
  const mb = mbits(dbl);
  const sh: u64 = <u64>(62 - mb);
  const emin: i32 = 1 - bias(dbl);
  const emax: i32 = bias(dbl);
  const lowMask: u64 = (<u64>1 << sh) - 1;
  let tiny = false;
  if (e < emin) {
    tiny = true;
    if (TINY_AFTER_ROUNDING && e == emin - 1) {
      const q = sig >> sh;
      if (roundsUp(q, sig & lowMask, sh, sign, rc) && ((q + 1) >> <u64>(mb + 1)) != 0) tiny = false;
    }
    if (tiny && (mx & 0x0800) == 0) {
      // Unmasked underflow: UE, and PE if the result rounded with an unbounded exponent is inexact
      // (the destination is not written). Host-verified; cf. SDM Vol. 1 §11.5.2.5.
      post |= UE | ((sig & lowMask) != 0 ? PE : 0);
      return 0;
    }
    if (tiny && ftz) { // FTZ with UM masked: a signed zero, UE and PE (§10.2.3.3)
      post |= UE | PE;
      return signed(sign, dbl);
    }
    sig = shrSticky(sig, emin - e);
    e = emin;
  }
  let q = sig >> sh;
  const rem = sig & lowMask;
  const inexact = rem != 0;
  if (roundsUp(q, rem, sh, sign, rc)) q++;
  if ((q >> <u64>(mb + 1)) != 0) { q >>= 1; e++; }
  if (e > emax) {
    // Unmasked overflow: OE, and PE only if the rounding was inexact (the destination is not
    // written); masked: OE and PE with the rounding-direction result.
    if ((mx & 0x0400) == 0) { post |= OE | (inexact ? PE : 0); return 0; }
    post |= OE | PE;
    // Masked overflow: infinity or the largest finite value, by rounding direction (§4.9.1.4, Table 4-10).
    const toInf = rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
    if (toInf) return infOf(sign, dbl);
    return signed(sign, dbl) | (((emaxField(dbl) - 1) << <u64>mb) | ((<u64>1 << <u64>mb) - 1));
  }
  if (tiny && inexact) post |= UE;
  if (inexact) post |= PE;
  const expField: u64 = (q >> <u64>mb) != 0 ? <u64>(e + bias(dbl)) : 0;
  return signed(sign, dbl) | (expField << <u64>mb) | (q & ((<u64>1 << <u64>mb) - 1));
}

/** NaN result of a two-operand operation: the first source if it is a NaN, else the second, quieted (Table 4-7). */
function nanResult(a: u64, b: u64, dbl: bool): u64 {
  if (aK == K_SNAN || bK == K_SNAN) pre |= IE;
  return isNan(aK) ? quiet(a, dbl) : quiet(b, dbl);
}
function invalid(dbl: bool): u64 {
  pre |= IE;
  return indefinite(dbl);
}

/** 64 x 64 -> 128 multiply: high half returned, low half in mulLo. */
let mulLo: u64 = 0;
function mul128(x: u64, y: u64): u64 {
  const x0 = x & 0xffffffff, x1 = x >> 32, y0 = y & 0xffffffff, y1 = y >> 32;
  const p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0, p11 = x1 * y1;
  const mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  mulLo = (mid << 32) | (p00 & 0xffffffff);
  return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

// --- the arithmetic operations (opcode low byte: 51 sqrt, 58 add, 59 mul, 5C sub, 5D min, 5E div, 5F max) ---

export function fpArith(op: u32, a: u64, b: u64, dbl: bool): u64 {
  unpackA(a, dbl);
  unpackB(b, dbl);
  switch (op) {
    case 0x58: return addSub(a, b, 0, dbl);
    case 0x5c: return addSub(a, b, 1, dbl);
    case 0x59: return mul(a, b, dbl);
    case 0x5e: return div(a, b, dbl);
    case 0x51: return sqrt(b, dbl);
    case 0x5d: return minMax(a, b, false, dbl);
    default: return minMax(a, b, true, dbl);
  }
}

/** Denormal operand flag (DE): after NaN and invalid checks (precedence, SDM Vol. 1 §4.9.2). */
@inline function flagDen(): void { if (aDen || bDen) pre |= DE; }

function zeroSum(sa: u32, sb: u32, dbl: bool): u64 {
  // Exact zero sum: the common sign, or +0 (-0 when rounding down) for opposite signs (IEEE 754 §6.3).
  return signed(sa == sb ? sa : rc == 1 ? 1 : 0, dbl);
}

function addSub(a: u64, b: u64, neg: u32, dbl: bool): u64 {
  if (isNan(aK) || isNan(bK)) return nanResult(a, b, dbl);
  const sb = bS ^ neg;
  if (aK == K_INF || bK == K_INF) {
    if (aK == K_INF && bK == K_INF && aS != sb) return invalid(dbl);
    flagDen();
    return aK == K_INF ? infOf(aS, dbl) : infOf(sb, dbl);
  }
  flagDen();
  if (aK == K_ZERO && bK == K_ZERO) return zeroSum(aS, sb, dbl);
  if (aK == K_ZERO) return roundPack(sb, bE, bM, dbl);
  if (bK == K_ZERO) return roundPack(aS, aE, aM, dbl);
  let s1 = aS, e1 = aE, m1 = aM, s2 = sb, e2 = bE, m2 = bM;
  if (e1 < e2 || (e1 == e2 && m1 < m2)) {
    s1 = sb; e1 = bE; m1 = bM; s2 = aS; e2 = aE; m2 = aM;
  }
  m2 = shrSticky(m2, e1 - e2);
  if (s1 == s2) return roundPack(s1, e1, m1 + m2, dbl);
  const d = m1 - m2;
  if (d == 0) return zeroSum(0, 1, dbl);
  return roundPack(s1, e1, d, dbl);
}

function mul(a: u64, b: u64, dbl: bool): u64 {
  if (isNan(aK) || isNan(bK)) return nanResult(a, b, dbl);
  const s = aS ^ bS;
  if (aK == K_INF || bK == K_INF) {
    if (aK == K_ZERO || bK == K_ZERO) return invalid(dbl);
    flagDen();
    return infOf(s, dbl);
  }
  flagDen();
  if (aK == K_ZERO || bK == K_ZERO) return signed(s, dbl);
  const hi = mul128(aM, bM); // [2^124, 2^126)
  const sig = (hi << 2) | (mulLo >> 62) | ((mulLo & 0x3fffffffffffffff) != 0 ? 1 : 0);
  return roundPack(s, aE + bE, sig, dbl);
}

function div(a: u64, b: u64, dbl: bool): u64 {
  if (isNan(aK) || isNan(bK)) return nanResult(a, b, dbl);
  const s = aS ^ bS;
  if (aK == K_INF) {
    if (bK == K_INF) return invalid(dbl);
    flagDen();
    return infOf(s, dbl);
  }
  if (bK == K_INF) { flagDen(); return signed(s, dbl); }
  if (bK == K_ZERO) {
    if (aK == K_ZERO) return invalid(dbl);
    // Finite nonzero / 0: divide-by-zero and an infinity (SDM Vol. 1 §4.9.1.3); ZE takes
    // precedence over a denormal dividend (§4.9.2), which is not flagged.
    pre |= ZE;
    return infOf(s, dbl);
  }
  flagDen();
  if (aK == K_ZERO) return signed(s, dbl);
  // Long division: 63 quotient bits of aM / bM, scaled by 2^62.
  let rem = aM, q: u64 = 0;
  for (let i = 0; i < 63; i++) {
    q <<= 1;
    if (rem >= bM) { rem -= bM; q |= 1; }
    rem <<= 1;
  }
  return roundPack(s, aE - bE, q | (rem != 0 ? 1 : 0), dbl);
}

function sqrt(b: u64, dbl: bool): u64 {
  if (isNan(bK)) {
    if (bK == K_SNAN) pre |= IE;
    return quiet(b, dbl);
  }
  if (bK == K_ZERO) return signed(bS, dbl); // sqrt(-0) = -0
  if (bS != 0) return invalid(dbl);
  if (bK == K_INF) return b;
  if (bDen) pre |= DE;
  // x = bM * 2^(-62 + odd) in [1, 4): its f64 square root q (correctly rounded, nearest) is then
  // compared exactly with x through q*q, which tells on which side of q the true root lies (a
  // square root is never exactly halfway between two 53-bit values).
  const odd = bE & 1;
  const x = <f64>bM * reinterpret<f64>(<u64>(1023 - 62 + odd) << 52);
  const r = Math.sqrt(x); // [1, 2)
  const qm = (reinterpret<u64>(r) & 0x000fffffffffffff) | 0x0010000000000000;
  const hi = mul128(qm, qm); // q^2 * 2^104
  const tHi: u64 = bM >> <u64>(22 - odd), tLo: u64 = bM << <u64>(42 + odd); // x * 2^104
  let sig = qm << 10;
  if (hi > tHi || (hi == tHi && mulLo > tLo)) sig -= 1;
  else if (hi != tHi || mulLo != tLo) sig += 1;
  return roundPack(0, (bE - odd) >> 1, sig, dbl);
}

/** The value as an f64 for ordering compares (exact for non-NaN singles and doubles), DAZ applied. */
function ord(v: u64, dbl: bool): f64 {
  if (daz) {
    const mb = mbits(dbl);
    if (((v >> <u64>mb) & emaxField(dbl)) == 0) v &= <u64>1 << signShift(dbl);
  }
  return dbl ? reinterpret<f64>(v) : <f64>reinterpret<f32>(<u32>v);
}
/** The value with DAZ applied (a denormal becomes a signed zero). */
function dazed(v: u64, dbl: bool): u64 {
  if (daz && ((v >> <u64>mbits(dbl)) & emaxField(dbl)) == 0) return v & (<u64>1 << signShift(dbl));
  return v;
}

/**
 * MIN/MAX: the second operand when either is a NaN (IE even for a QNaN) or both are zero, else the
 * smaller/larger (SDM Vol. 2 MINPS/MAXPS: "Invalid (including QNaN Source Operand), Denormal").
 */
function minMax(a: u64, b: u64, max: bool, dbl: bool): u64 {
  if (isNan(aK) || isNan(bK)) { pre |= IE; return dazed(b, dbl); }
  flagDen();
  const x = ord(a, dbl), y = ord(b, dbl);
  const pickA = max ? x > y : x < y;
  return pickA ? dazed(a, dbl) : dazed(b, dbl);
}

// --- compares ---

/**
 * CMPPS/CMPSS/CMPPD/CMPSD predicate 0-7 (SDM Vol. 2 CMPPS Table 3-1): all ones or zero. LT, LE,
 * NLT, NLE (1, 2, 5, 6) signal IE on any NaN, the others only on an SNaN.
 */
export function fpCmp(pred: u32, a: u64, b: u64, dbl: bool): bool {
  unpackA(a, dbl);
  unpackB(b, dbl);
  const un = isNan(aK) || isNan(bK);
  if (un) {
    if (aK == K_SNAN || bK == K_SNAN || (pred & 3) == 1 || (pred & 3) == 2) pre |= IE;
  } else flagDen();
  const x = ord(a, dbl), y = ord(b, dbl);
  switch (pred & 7) {
    case 0: return !un && x == y;
    case 1: return !un && x < y;
    case 2: return !un && x <= y;
    case 3: return un;
    case 4: return un || x != y;
    case 5: return un || !(x < y);
    case 6: return un || !(x <= y);
  }
  return !un;
}

/** COMIS/UCOMIS: ZF PF CF = 111 unordered, 000 greater, 001 less, 100 equal (SDM Vol. 2 COMISS). */
export function fpComi(signalQnan: bool, a: u64, b: u64, dbl: bool): u32 {
  unpackA(a, dbl);
  unpackB(b, dbl);
  if (isNan(aK) || isNan(bK)) {
    if (signalQnan || aK == K_SNAN || bK == K_SNAN) pre |= IE;
    return 0x45;
  }
  flagDen();
  const x = ord(a, dbl), y = ord(b, dbl);
  return x == y ? 0x40 : x < y ? 0x01 : 0;
}

// --- conversions ---

/** Single <-> double (CVTSS2SD, CVTSD2SS, CVTPS2PD, CVTPD2PS). `toDbl`: the result format. */
export function fpConvert(v: u64, toDbl: bool): u64 {
  const from = !toDbl;
  unpackA(v, from);
  if (isNan(aK)) {
    if (aK == K_SNAN) pre |= IE;
    // The payload keeps its top bits (SDM Vol. 1 §4.8.3.5: a NaN converts with its fraction truncated).
    const m = toDbl ? aM << 29 : aM >> 29;
    return infOf(aS, toDbl) | m | quietBit(toDbl);
  }
  if (aK == K_INF) return infOf(aS, toDbl);
  if (aK == K_ZERO) return signed(aS, toDbl);
  if (aDen) pre |= DE;
  return roundPack(aS, aE, aM, toDbl);
}

/** Signed integer (64-bit value `v`) to float, rounded by MXCSR.RC: only PE can be set. */
export function fpFromInt(v: i64, dbl: bool): u64 {
  if (v == 0) return 0;
  const s: u32 = v < 0 ? 1 : 0;
  const m: u64 = v < 0 ? <u64>(-v) : <u64>v; // -2^63 stays 2^63 as unsigned
  return roundPack(s, 62, m, dbl);
}

/**
 * Float to signed integer of 32 or 64 bits, rounded by MXCSR.RC or truncated; a NaN, infinity or
 * out-of-range value gives the integer indefinite (the most negative value) and IE (SDM Vol. 2
 * CVTSS2SI). DAZ applies to the source; DE is not reported.
 */
export function fpToInt(v: u64, dbl: bool, trunc: bool, is64: bool): u64 {
  unpackA(v, dbl);
  const indef: u64 = is64 ? 0x8000000000000000 : 0x80000000;
  if (isNan(aK) || aK == K_INF) { pre |= IE; return indef; }
  if (aK == K_ZERO) return 0;
  const mode = trunc ? 3 : rc;
  let q: u64;
  let inexact = true;
  if (aE >= 64) { pre |= IE; return indef; }
  if (aE == 63) {
    if (aS != 0 && aM == 0x4000000000000000 && is64) return indef; // exactly -2^63
    pre |= IE;
    return indef;
  }
  const sh = 62 - aE;
  if (sh >= 64) {
    q = 0;
    if (mode == 1 && aS != 0 || mode == 2 && aS == 0) q = 1;
  } else {
    q = sh == 0 ? aM : aM >> <u64>sh;
    const rem = sh == 0 ? 0 : aM & ((<u64>1 << <u64>sh) - 1);
    inexact = rem != 0;
    if (sh > 0 && roundsUp(q, rem, <u64>sh, aS, mode)) q++;
  }
  const limit: u64 = is64 ? (aS != 0 ? 0x8000000000000000 : 0x7fffffffffffffff) : (aS != 0 ? 0x80000000 : 0x7fffffff);
  if (q > limit) { pre |= IE; return indef; }
  if (inexact) post |= PE;
  const r: u64 = aS != 0 ? 0 - q : q;
  return is64 ? r : r & 0xffffffff;
}

// --- approximations: RCPPS/RCPSS/RSQRTPS/RSQRTSS (single only, no exceptions, MXCSR ignored) ---

/**
 * The SDM bounds the relative error by 1.5 * 2^-12 and leaves the value to the implementation.
 * Here: the correctly rounded (nearest) single result, which is within the bound. Denormal inputs
 * count as zero, and tiny results (below 2^-126) are flushed to a signed zero (SDM Vol. 2 RCPSS).
 */
export function fpApprox(rsqrt: bool, v: u64): u64 {
  const x = <u32>v;
  const s = x >> 31;
  const e = (x >> 23) & 0xff, m = x & 0x7fffff;
  if (e == 0xff) {
    if (m != 0) return <u64>(x | 0x400000);
    if (rsqrt) return s != 0 ? 0xffc00000 : 0;
    return <u64>(s << 31);
  }
  if (e == 0) return <u64>((s << 31) | 0x7f800000); // +-0 and denormals: infinity of the sign
  if (rsqrt && s != 0) return 0xffc00000;
  const f = <f64>reinterpret<f32>(x);
  const r = rsqrt ? 1.0 / Math.sqrt(f) : 1.0 / f;
  const bits = reinterpret<u32>(<f32>r);
  if (((bits >> 23) & 0xff) == 0) return <u64>(bits & 0x80000000);
  return <u64>bits;
}

// --- SSE4.1 ROUNDPS/ROUNDPD/ROUNDSS/ROUNDSD ---

/**
 * Round to an integral value in the same format (SDM Vol. 2 ROUNDPD, Table 4-18): imm8[1:0] is
 * the rounding mode (0 nearest-even, 1 down, 2 up, 3 toward zero) unless imm8[2] selects
 * MXCSR.RC; imm8[3] suppresses the precision exception. Only IE (an SNaN source, which is
 * returned quieted) and PE can be signalled; zeros and infinities pass through, a denormal
 * source is a zero under DAZ, and a zero result keeps the source's sign.
 */
export function fpRound(v: u64, dbl: bool, imm: u32): u64 {
  unpackA(v, dbl);
  if (isNan(aK)) {
    if (aK == K_SNAN) pre |= IE;
    return quiet(v, dbl);
  }
  if (aK == K_INF) return v;
  if (aK == K_ZERO) return signed(aS, dbl);
  if (aE >= <i32>mbits(dbl)) return v; // no fraction bits left
  const mode = (imm & 4) != 0 ? rc : imm & 3;
  const sh = 62 - aE; // at least 10: the fraction bits of aM
  let q: u64 = 0;
  let up = false;
  let inexact = true;
  if (sh >= 64) up = (mode == 1 && aS != 0) || (mode == 2 && aS == 0); // |v| < 2^-1: only directed rounding reaches 1
  else {
    q = aM >> <u64>sh;
    const rem = aM & ((<u64>1 << <u64>sh) - 1);
    inexact = rem != 0;
    up = roundsUp(q, rem, <u64>sh, aS, mode);
  }
  if (up) q++;
  if (inexact && (imm & 8) == 0) post |= PE;
  if (q == 0) return signed(aS, dbl);
  return roundPack(aS, 62, q, dbl);
}

/**
 * Multi-step operations (DPPS, DPPD): end one step. Its flags are committed as for a whole
 * instruction (an unmasked pre-computation condition drops the step's post-computation flags);
 * true if an unmasked condition stops the instruction there (host-verified: later steps then
 * flag nothing). The flags so far are kept in `pre` for the final commit, `post` is cleared.
 */
let stagedFlags: u32 = 0;
export function fpStepEnd(first: bool): bool {
  let f = pre;
  if (unmasked(pre) == 0) f |= post;
  stagedFlags = (first ? 0 : stagedFlags) | f;
  pre = 0;
  post = 0;
  return unmasked(f) != 0;
}
/** After the last step (or the one that stopped): all committed flags into `pre` for fpFinish. */
export function fpStepsDone(): void {
  pre = stagedFlags;
  post = 0;
}
