// 80-bit extended-precision arithmetic for the x87 (x87.ts). Values travel as a (se, m) pair: se
// holds the sign (bit 15) and the biased 15-bit exponent, m the 64-bit significand with its explicit
// integer bit (SDM Vol. 1 §4.2.2, Figure 4-3). Every operation is computed exactly (128-bit
// intermediates: hi word plus a lo word whose nonzero bits only matter as round/sticky bits) and
// rounded once by roundTo(). Results land in the globals rSE/rM; exception flags accumulate in fx.
// Nothing here allocates.

// Exception flag bits as in the status word (SDM Vol. 1 §8.1.3.3).
export const FX_IE: u32 = 1;
export const FX_DE: u32 = 2;
export const FX_ZE: u32 = 4;
export const FX_OE: u32 = 8;
export const FX_UE: u32 = 16;
export const FX_PE: u32 = 32;

// Rounding control (SDM Vol. 1 §4.8.4, Table 4-8).
export const RC_NEAR: u32 = 0;
export const RC_DOWN: u32 = 1;
export const RC_UP: u32 = 2;
export const RC_CHOP: u32 = 3;

// Operand classes.
export const K_ZERO: u32 = 0;
export const K_NORMAL: u32 = 1;
export const K_DENORMAL: u32 = 2; // includes pseudo-denormals (exponent 0, J bit set)
export const K_INF: u32 = 3;
export const K_QNAN: u32 = 4;
export const K_SNAN: u32 = 5;
export const K_UNSUPP: u32 = 6; // unnormals, pseudo-NaNs, pseudo-infinities (SDM Vol. 1 §8.2.2)

const J: u64 = 0x8000000000000000;
/** The real indefinite (SDM Vol. 1 §4.8.3.7): negative QNaN with fraction 0. */
export const INDEF_SE: u32 = 0xffff;
export const INDEF_M: u64 = 0xc000000000000000;

/** Exception flags raised by the current operation. */
export let fx: u32 = 0;
/** Whether the last rounding increased the magnitude (C1, SDM Vol. 1 §8.1.3.1). */
export let rUp: bool = false;
/** Result of the last operation (extended format). */
export let rSE: u32 = 0;
export let rM: u64 = 0;

// Control for the current instruction, from the control word.
export let ctlPrec: i32 = 64;
export let ctlRc: u32 = RC_NEAR;
let ctlUmU: bool = false; // underflow unmasked
let ctlUmO: bool = false; // overflow unmasked
let ctlUmD: bool = false; // denormal operand unmasked: the operation stops after the check

/** Take rounding, precision and the O/U masks from a control word; clears fx and rUp. */
export function setControl(cw: u32): void {
  const pc = (cw >> 8) & 3;
  ctlPrec = pc == 0 ? 24 : pc == 2 ? 53 : 64; // PC=01 is reserved; treated as 64 bits
  ctlRc = (cw >> 10) & 3;
  ctlUmU = (cw & FX_UE) == 0;
  ctlUmO = (cw & FX_OE) == 0;
  ctlUmD = (cw & FX_DE) == 0;
  fx = 0;
  rUp = false;
  memDenormal = false;
}

export function classify(se: u32, m: u64): u32 {
  const e = se & 0x7fff;
  if (e == 0) return m == 0 ? K_ZERO : K_DENORMAL;
  if ((m & J) == 0) return K_UNSUPP;
  if (e == 0x7fff) {
    if ((m << 1) == 0) return K_INF;
    return (m & 0x4000000000000000) != 0 ? K_QNAN : K_SNAN;
  }
  return K_NORMAL;
}

export function setFx(v: u32): void {
  fx = v;
}
@inline export function setResult(se: u32, m: u64): void {
  rSE = se;
  rM = m;
}
export function setIndefinite(): void {
  rSE = INDEF_SE;
  rM = INDEF_M;
}

// --- normalisation of an operand: nS sign, nE unbiased exponent of bit 63, nM with bit 63 set ---
let nS: u32 = 0;
let nE: i32 = 0;
let nM: u64 = 0;
function unpack(se: u32, m: u64): void {
  nS = (se >> 15) & 1;
  let e = <i32>(se & 0x7fff);
  if (e == 0) e = 1; // denormals and pseudo-denormals use the minimum exponent
  const z = <i32>clz(m);
  nM = m << <u64>z;
  nE = e - 16383 - z;
}

// --- rounding ---
let gRound: bool = false;
let gSticky: bool = false;

/** (hi:lo) >> (s + 64) kept bits of hi; sets the round and sticky bits of what is dropped. */
function discard(hi: u64, lo: u64, s: i32): u64 {
  if (s == 0) {
    gRound = (lo >> 63) != 0;
    gSticky = (lo << 1) != 0;
    return hi;
  }
  if (s < 64) {
    const rem = hi << <u64>(64 - s);
    gRound = (rem >> 63) != 0;
    gSticky = (rem << 1) != 0 || lo != 0;
    return hi >> <u64>s;
  }
  if (s == 64) {
    gRound = (hi >> 63) != 0;
    gSticky = (hi << 1) != 0 || lo != 0;
    return 0;
  }
  gRound = false;
  gSticky = hi != 0 || lo != 0;
  return 0;
}

@inline function roundsUp(sign: u32, kept: u64, rc: u32): bool {
  if (rc == RC_NEAR) return gRound && (gSticky || (kept & 1) != 0);
  if (rc == RC_CHOP) return false;
  if (!gRound && !gSticky) return false;
  return rc == RC_DOWN ? sign != 0 : sign == 0;
}

/**
 * Round sign * (hi:lo) * 2^(e-63) (hi normalised, bit 63 set, or hi = lo = 0) to `prec` bits in a
 * format with normal exponents emin..emax and exponent bias `bias`; the result goes to rSE/rM with
 * rSE holding the biased exponent field (all ones for infinity) and rM the significand with its
 * integer bit at bit 63 (for denormals, bit 63 stands for 2^emin). `adj` is the exponent bias
 * adjustment for unmasked overflow/underflow with a register destination (SDM Vol. 1 §4.9.1.4,
 * §4.9.1.5); 0 for memory destinations (the caller then does not store). Tininess is detected
 * after rounding.
 */
export function roundTo(sign: u32, e: i32, hi: u64, lo: u64, prec: i32, emin: i32, emax: i32, bias: i32, adj: i32): void {
  const rc = ctlRc;
  const sbit = sign << 15;
  if (hi == 0) {
    rSE = sbit;
    rM = 0;
    return;
  }
  const s0 = 64 - prec;
  let tiny = false;
  if (e < emin) {
    // Tiny after rounding: the value rounded to prec bits with unbounded exponent is below 2^emin.
    tiny = true;
    if (e == emin - 1) {
      const k = discard(hi, lo, s0);
      if (roundsUp(sign, k, rc) && (prec == 64 ? k + 1 == 0 : ((k + 1) >> <u64>prec) != 0)) tiny = false;
    }
  }
  if (e < emin && !(ctlUmU && adj != 0)) {
    // Masked underflow (or memory destination): denormalise, then round.
    const sh = <i64>s0 + <i64>(emin - e);
    let kept = discard(hi, lo, sh > 200 ? 200 : <i32>sh);
    const inexact = gRound || gSticky;
    const up = roundsUp(sign, kept, rc);
    if (up) kept++;
    const m = kept << <u64>s0;
    rM = m;
    rSE = sbit | <u32>(m >> 63); // carried into the integer bit: smallest normal
    if (inexact) {
      fx |= FX_PE;
      rUp = up;
    }
    if (tiny && (inexact || ctlUmU)) fx |= FX_UE;
    return;
  }
  if (tiny) {
    // Unmasked underflow to a register: the bias-adjusted result. A value below 2^emin that rounds
    // up to 2^emin is not tiny (no #U): it takes the normal path below, where the carry makes it
    // the smallest normal.
    fx |= FX_UE;
    e += adj;
    if (e < emin) {
      // Too small even for the bias adjustment (only FSCALE gets here): a signed zero.
      fx |= FX_PE;
      rSE = sbit;
      rM = 0;
      rUp = false;
      return;
    }
  }
  let kept = discard(hi, lo, s0);
  const inexact = gRound || gSticky;
  const up = roundsUp(sign, kept, rc);
  if (up) {
    kept++;
    if (prec == 64 ? kept == 0 : (kept >> <u64>prec) != 0) {
      kept = prec == 64 ? J : kept >> 1;
      e++;
    }
  }
  if (e > emax) {
    if (ctlUmO && adj != 0 && e - adj <= emax) {
      fx |= FX_OE;
      e -= adj;
    } else if (ctlUmO && adj != 0) {
      // Too large even for the bias adjustment (only FSCALE gets here): infinity.
      fx |= FX_OE | FX_PE;
      rSE = sbit | <u32>(emax + bias + 1);
      rM = J;
      rUp = true;
      return;
    } else {
      // Masked overflow (SDM Vol. 1 §4.9.1.4, Table 4-10): infinity or the largest finite number.
      fx |= FX_OE | FX_PE;
      if (rc == RC_NEAR || (rc == RC_DOWN && sign != 0) || (rc == RC_UP && sign == 0)) {
        rSE = sbit | <u32>(emax + bias + 1);
        rM = J;
        rUp = true;
      } else {
        rSE = sbit | <u32>(emax + bias);
        rM = s0 == 0 ? 0xffffffffffffffff : ((<u64>1 << <u64>prec) - 1) << <u64>s0;
        rUp = false;
      }
      return;
    }
  }
  rSE = sbit | <u32>(e + bias);
  rM = kept << <u64>s0;
  if (inexact) {
    fx |= FX_PE;
    rUp = up;
  }
}

/** Round to extended format with precision p and register-destination bias adjustment. */
@inline function roundExt(sign: u32, e: i32, hi: u64, lo: u64, prec: i32): void {
  roundTo(sign, e, hi, lo, prec, -16382, 16383, 16383, 24576);
}

// --- NaN handling (SDM Vol. 1 §4.8.3.5, Table 4-7) ---

/** One operand: unsupported -> indefinite (#IA); SNaN -> quieted (#IA); QNaN -> itself. True if handled. */
export function nanOne(se: u32, m: u64): bool {
  const k = classify(se, m);
  if (k == K_UNSUPP) {
    fx |= FX_IE;
    setIndefinite();
    return true;
  }
  if (k == K_SNAN) {
    fx |= FX_IE;
    setResult(se, m | 0x4000000000000000);
    return true;
  }
  if (k == K_QNAN) {
    setResult(se, m);
    return true;
  }
  return false;
}

/** Two operands: NaN propagation. True if the result is decided. */
export function nanTwo(aSE: u32, aM: u64, bSE: u32, bM: u64): bool {
  const ka = classify(aSE, aM), kb = classify(bSE, bM);
  if (ka == K_UNSUPP || kb == K_UNSUPP) {
    fx |= FX_IE;
    setIndefinite();
    return true;
  }
  const an = ka == K_QNAN || ka == K_SNAN, bn = kb == K_QNAN || kb == K_SNAN;
  if (!an && !bn) return false;
  if (ka == K_SNAN || kb == K_SNAN) fx |= FX_IE;
  const q: u64 = 0x4000000000000000;
  if (an && bn && ka != kb) {
    // An SNaN and a QNaN: the QNaN.
    if (ka == K_QNAN) setResult(aSE, aM);
    else setResult(bSE, bM);
  } else if (an && bn) {
    // The larger significand wins; on a tie the positive one... (ties resolved as the host does).
    const am = aM | q, bm = bM | q;
    if (am > bm) setResult(aSE, am);
    else if (bm > am) setResult(bSE, bm);
    else setResult(aSE < bSE ? aSE : bSE, am);
  } else if (an) setResult(aSE, aM | q);
  else setResult(bSE, bM | q);
  return true;
}

/** Denormal-operand check (SDM Vol. 1 §4.9.1.2): sets DE for a denormal or pseudo-denormal. */
/** A memory operand converted from a single/double denormal (reported with the operand checks). */
let memDenormal: bool = false;
@inline export function checkDenormal(se: u32, m: u64): void {
  if (((se & 0x7fff) == 0 && m != 0) || memDenormal) fx |= FX_DE;
}
/** An unmasked denormal-operand exception stops the operation before it computes anything. */
@inline export function stopped(): bool {
  return ctlUmD && (fx & FX_DE) != 0;
}

// --- arithmetic ---

/** a + b, or a - b with negB, rounded to prec. */
export function add(aSE: u32, aM: u64, bSE: u32, bM: u64, prec: i32, negB: bool): void {
  if (nanTwo(aSE, aM, bSE, bM)) return;
  if (negB) bSE ^= 0x8000;
  const ka = classify(aSE, aM), kb = classify(bSE, bM);
  checkDenormal(aSE, aM);
  checkDenormal(bSE, bM);
  if (stopped()) return;
  const as = aSE & 0x8000, bs = bSE & 0x8000;
  if (ka == K_INF || kb == K_INF) {
    if (ka == K_INF && kb == K_INF && as != bs) {
      fx |= FX_IE;
      setIndefinite();
    } else if (ka == K_INF) setResult(aSE, J);
    else setResult(bSE, J);
    return;
  }
  if (ka == K_ZERO && kb == K_ZERO) {
    // Exact zero sum: +0 unless both negative, or opposite signs while rounding down.
    if (as == bs) setResult(as, 0);
    else setResult(ctlRc == RC_DOWN ? 0x8000 : 0, 0);
    return;
  }
  if (kb == K_ZERO) {
    unpack(aSE, aM);
    roundExt(nS, nE, nM, 0, prec);
    return;
  }
  if (ka == K_ZERO) {
    unpack(bSE, bM);
    roundExt(nS, nE, nM, 0, prec);
    return;
  }
  unpack(aSE, aM);
  let xs = nS, xe = nE, xm = nM;
  unpack(bSE, bM);
  let ys = nS, ye = nE, ym = nM;
  // Order by magnitude: x is the larger.
  if (ye > xe || (ye == xe && ym > xm)) {
    let t = xs; xs = ys; ys = t;
    let te = xe; xe = ye; ye = te;
    let tm = xm; xm = ym; ym = tm;
  }
  const dexp = xe - ye;
  // y aligned into (yh:yl), with everything shifted out jammed into the lowest bit.
  let yh: u64 = 0, yl: u64 = 0;
  if (dexp == 0) yh = ym;
  else if (dexp < 64) {
    yh = ym >> <u64>dexp;
    yl = ym << <u64>(64 - dexp);
  } else if (dexp < 128) {
    yl = ym >> <u64>(dexp - 64);
    if (dexp > 64 && (ym << <u64>(128 - dexp)) != 0) yl |= 1;
  } else yl = 1;
  let hi: u64, lo: u64;
  let e = xe;
  if (xs == ys) {
    lo = yl;
    hi = xm + yh;
    if (hi < xm) {
      // Carry out: shift right one, jamming the lost bit.
      const lost = lo & 1;
      lo = (lo >> 1) | (hi << 63) | lost;
      hi = (hi >> 1) | J;
      e++;
    }
  } else {
    lo = 0 - yl;
    hi = xm - yh - (yl != 0 ? 1 : 0);
    if (hi == 0 && lo == 0) {
      setResult(ctlRc == RC_DOWN ? 0x8000 : 0, 0);
      return;
    }
    if (hi == 0) {
      hi = lo;
      lo = 0;
      e -= 64;
    }
    const z = <i32>clz(hi);
    if (z != 0) {
      hi = (hi << <u64>z) | (lo >> <u64>(64 - z));
      lo <<= <u64>z;
      e -= z;
    }
  }
  roundExt(xs, e, hi, lo, prec);
}

/** 64x64 -> 128 multiply into mHi:mLo. */
let mHi: u64 = 0;
let mLo: u64 = 0;
function mul128(a: u64, b: u64): void {
  const a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  mLo = (p00 & 0xffffffff) | (mid << 32);
  mHi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

export function mul(aSE: u32, aM: u64, bSE: u32, bM: u64, prec: i32): void {
  if (nanTwo(aSE, aM, bSE, bM)) return;
  const ka = classify(aSE, aM), kb = classify(bSE, bM);
  const s = (aSE ^ bSE) & 0x8000;
  if ((ka == K_INF && kb == K_ZERO) || (ka == K_ZERO && kb == K_INF)) {
    fx |= FX_IE;
    setIndefinite();
    return;
  }
  checkDenormal(aSE, aM);
  checkDenormal(bSE, bM);
  if (stopped()) return;
  if (ka == K_INF || kb == K_INF) {
    setResult(s | 0x7fff, J);
    return;
  }
  if (ka == K_ZERO || kb == K_ZERO) {
    setResult(s, 0);
    return;
  }
  unpack(aSE, aM);
  const ae = nE, am = nM;
  unpack(bSE, bM);
  mul128(am, nM);
  let e = ae + nE;
  let hi = mHi, lo = mLo;
  if ((hi & J) != 0) e++;
  else {
    hi = (hi << 1) | (lo >> 63);
    lo <<= 1;
  }
  roundExt(s >> 15, e, hi, lo, prec);
}

/** a / b. */
export function div(aSE: u32, aM: u64, bSE: u32, bM: u64, prec: i32): void {
  if (nanTwo(aSE, aM, bSE, bM)) return;
  const ka = classify(aSE, aM), kb = classify(bSE, bM);
  const s = (aSE ^ bSE) & 0x8000;
  if ((ka == K_INF && kb == K_INF) || (ka == K_ZERO && kb == K_ZERO)) {
    fx |= FX_IE;
    setIndefinite();
    return;
  }
  if (kb == K_ZERO && ka != K_INF) {
    // Zero divide takes precedence over a denormal dividend (as the host does).
    fx |= FX_ZE;
    setResult(s | 0x7fff, J);
    return;
  }
  checkDenormal(aSE, aM);
  checkDenormal(bSE, bM);
  if (stopped()) return;
  if (ka == K_INF || kb == K_ZERO) {
    setResult(s | 0x7fff, J);
    return;
  }
  if (ka == K_ZERO || kb == K_INF) {
    setResult(s, 0);
    return;
  }
  unpack(aSE, aM);
  const ae = nE, am = nM;
  unpack(bSE, bM);
  const bm = nM;
  // Restoring division, one quotient bit per step: 66 bits (the 2^0 bit and 65 fraction bits).
  let r = am;
  let hi: u64 = 0, lo: u64 = 0;
  for (let i = 0; i < 66; i++) {
    let bit: u64 = 0;
    if (i > 0) {
      const carry = r >> 63;
      r <<= 1;
      if (carry != 0 || r >= bm) {
        r -= bm;
        bit = 1;
      }
    } else if (r >= bm) {
      r -= bm;
      bit = 1;
    }
    hi = (hi << 1) | (lo >> 63);
    lo = (lo << 1) | bit;
  }
  // Left-align the 66 bits.
  hi = (hi << 62) | (lo >> 2);
  lo <<= 62;
  let e = ae - nE;
  if ((hi & J) == 0) {
    hi = (hi << 1) | (lo >> 63);
    lo <<= 1;
    e--;
  }
  if (r != 0) lo |= 1;
  roundExt(s >> 15, e, hi, lo, prec);
}

/** Square root. */
export function sqrt(aSE: u32, aM: u64, prec: i32): void {
  if (nanOne(aSE, aM)) return;
  const k = classify(aSE, aM);
  if (k == K_ZERO) {
    setResult(aSE, 0);
    return;
  }
  if ((aSE & 0x8000) != 0) {
    fx |= FX_IE;
    setIndefinite();
    return;
  }
  checkDenormal(aSE, aM);
  if (stopped()) return;
  if (k == K_INF) {
    setResult(aSE, aM);
    return;
  }
  unpack(aSE, aM);
  // X = nM * 2^(nE-63); make the exponent even and take the integer root of a 128-bit N.
  const kexp = nE - 63;
  let nh: u64, nl: u64, t: i32;
  if ((kexp & 1) == 0) {
    nh = nM;
    nl = 0;
    t = (kexp - 64) >> 1;
  } else {
    nh = nM >> 1;
    nl = nM << 63;
    t = (kexp - 63) >> 1;
  }
  // Bit-by-bit integer square root: root r, remainder (remH:remL).
  let root: u64 = 0;
  let remH: u64 = 0, remL: u64 = 0;
  for (let i = 0; i < 64; i++) {
    // Bring down the next two bits of N.
    const two = nh >> 62;
    nh = (nh << 2) | (nl >> 62);
    nl <<= 2;
    remH = (remH << 2) | (remL >> 62);
    remL = (remL << 2) | two;
    // trial = 4*root + 1 (up to 66 bits)
    const tH = root >> 62;
    const tL = (root << 2) | 1;
    if (remH > tH || (remH == tH && remL >= tL)) {
      const borrow: u64 = remL < tL ? 1 : 0;
      remL -= tL;
      remH = remH - tH - borrow;
      root = (root << 1) | 1;
    } else root <<= 1;
  }
  // Fraction of the root: > 1/2 iff remainder > root (it is never exactly 1/2).
  let lo: u64 = 0;
  if (remH != 0 || remL != 0) lo = (remH != 0 || remL > root) ? 0xc000000000000000 : 0x4000000000000000;
  roundExt(0, t + 63, root, lo, prec);
}

// --- conversions ---

/** Signed 64-bit integer to extended (always exact). */
export function fromInt(v: i64): void {
  if (v == 0) {
    setResult(0, 0);
    return;
  }
  const s: u32 = v < 0 ? 0x8000 : 0;
  const a: u64 = v < 0 ? <u64>(0 - v) : <u64>v;
  const z = <u32>clz(a);
  setResult(s | (16383 + 63 - z), a << <u64>z);
}

/** Result of toInt: value, or the integer indefinite after #IA. */
export let rInt: i64 = 0;

/**
 * Extended to a signed integer of `bits` bits, rounded by rc (chop for FISTTP). Out of range,
 * NaN or infinity: #IA and the integer indefinite (SDM Vol. 1 §4.8.3.7, Table 4-2).
 */
export function toInt(se: u32, m: u64, bits: i32, rc: u32): void {
  const k = classify(se, m);
  const indef: i64 = <i64>(<u64>1 << <u64>(bits - 1)) * -1;
  if (k == K_INF || k == K_QNAN || k == K_SNAN || k == K_UNSUPP) {
    fx |= FX_IE;
    rInt = indef;
    return;
  }
  if (k == K_ZERO) {
    rInt = 0;
    return;
  }
  unpack(se, m);
  // Value = nM * 2^(nE-63): integer part kept bits, the rest round/sticky.
  let mag: u64;
  const sh = 63 - nE;
  if (sh <= 0) {
    if (sh < 0) {
      fx |= FX_IE;
      rInt = indef;
      return;
    }
    mag = nM;
    gRound = false;
    gSticky = false;
  } else mag = discard(nM, 0, sh > 200 ? 200 : sh);
  const inexact = gRound || gSticky;
  const up = roundsUp(nS, mag, rc);
  if (up) mag++;
  // Range check: [-2^(bits-1), 2^(bits-1)-1]. mag may have wrapped to 0 only from 2^64-1.
  const lim: u64 = <u64>1 << <u64>(bits - 1);
  if ((up && mag == 0) || (nS == 0 ? mag >= lim : mag > lim)) {
    fx |= FX_IE;
    rInt = indef;
    return;
  }
  if (inexact) {
    fx |= FX_PE;
    rUp = up;
  }
  rInt = nS != 0 ? <i64>(0 - mag) : <i64>mag;
}

/** IEEE single (bits in the low 32) to extended. */
/** `load` (FLD): an SNaN is quieted with #IA; arithmetic keeps it for the operation to see. */
export function fromF32(v: u32, load: bool): void {
  const s = (v >> 16) & 0x8000;
  const e = (v >> 23) & 0xff;
  const f = <u64>(v & 0x7fffff);
  if (e == 0xff) {
    if (f == 0) setResult(s | 0x7fff, J);
    else {
      const q: u64 = load ? 0x4000000000000000 : 0;
      if (load && (f & 0x400000) == 0) fx |= FX_IE; // SNaN
      setResult(s | 0x7fff, J | q | (f << 40));
    }
  } else if (e == 0) {
    if (f == 0) setResult(s, 0);
    else {
      if (load) fx |= FX_DE; else memDenormal = true;
      const z = <u32>clz(f); // >= 41
      setResult(s | <u32>(16383 - 126 - (z - 40)), f << <u64>z);
    }
  } else setResult(s | (e - 127 + 16383), J | (f << 40));
}

export function fromF64(v: u64, load: bool): void {
  const s = <u32>(v >> 48) & 0x8000;
  const e = <u32>(v >> 52) & 0x7ff;
  const f = v & 0xfffffffffffff;
  if (e == 0x7ff) {
    if (f == 0) setResult(s | 0x7fff, J);
    else {
      const q: u64 = load ? 0x4000000000000000 : 0;
      if (load && (f & 0x8000000000000) == 0) fx |= FX_IE;
      setResult(s | 0x7fff, J | q | (f << 11));
    }
  } else if (e == 0) {
    if (f == 0) setResult(s, 0);
    else {
      if (load) fx |= FX_DE; else memDenormal = true;
      const z = <u32>clz(f); // >= 12
      setResult(s | <u32>(16383 - 1022 - (z - 11)), f << <u64>z);
    }
  } else setResult(s | (e - 1023 + 16383), J | (f << 11));
}

/** Result of toF32/toF64. */
export let rBits: u64 = 0;

/** Extended to single or double (`dbl`), rounded by RC (SDM Vol. 1 §4.9.1.4/5 for O/U). */
export function toFloat(se: u32, m: u64, dbl: bool): void {
  const k = classify(se, m);
  const fbits: u64 = dbl ? 52 : 23;
  const ebias: u32 = dbl ? 1023 : 127;
  const emax: u64 = dbl ? 0x7ff : 0xff;
  const s: u64 = <u64>((se >> 15) & 1) << (dbl ? 63 : 31);
  if (k == K_UNSUPP) {
    fx |= FX_IE;
    rBits = s == 0 ? 0 : 0; // indefinite below
    rBits = dbl ? 0xfff8000000000000 : 0xffc00000;
    return;
  }
  if (k == K_QNAN || k == K_SNAN) {
    if (k == K_SNAN) fx |= FX_IE;
    rBits = s | (emax << fbits) | ((m << 1) >> (64 - fbits)) | (<u64>1 << (fbits - 1));
    return;
  }
  if (k == K_INF) {
    rBits = s | (emax << fbits);
    return;
  }
  if (k == K_ZERO) {
    rBits = s;
    return;
  }
  unpack(se, m);
  if (dbl) roundTo(nS, nE, nM, 0, 53, -1022, 1023, 1023, 0);
  else roundTo(nS, nE, nM, 0, 24, -126, 127, 127, 0);
  const be = <u64>(rSE & 0x7fff);
  rBits = s | (be << fbits) | ((rM << 1) >> (64 - fbits));
}

/** Round to an integral value by rc (FRNDINT); exact-sized values pass through. */
export function roundInt(se: u32, m: u64): void {
  if (nanOne(se, m)) return;
  const k = classify(se, m);
  if (k == K_ZERO || k == K_INF) {
    setResult(se, m);
    return;
  }
  checkDenormal(se, m);
  if (stopped()) return;
  unpack(se, m);
  if (nE >= 63) {
    setResult(se, m);
    return;
  }
  const sh = 63 - nE;
  let mag = discard(nM, 0, sh > 200 ? 200 : sh);
  const inexact = gRound || gSticky;
  const up = roundsUp(nS, mag, ctlRc);
  if (up) mag++;
  if (inexact) {
    fx |= FX_PE;
    rUp = up;
  }
  if (mag == 0) {
    setResult(nS << 15, 0);
    return;
  }
  const z = <u32>clz(mag);
  setResult((nS << 15) | (16383 + 63 - z), mag << <u64>z);
}

// --- compare ---

/** Compare results: 0 greater, 1 less, 2 equal, 3 unordered. */
export const CMP_GT: u32 = 0;
export const CMP_LT: u32 = 1;
export const CMP_EQ: u32 = 2;
export const CMP_UN: u32 = 3;

/** Compare a with b. `quiet`: QNaNs do not raise #IA (FUCOM). */
export function compare(aSE: u32, aM: u64, bSE: u32, bM: u64, quiet: bool): u32 {
  const ka = classify(aSE, aM), kb = classify(bSE, bM);
  if (ka >= K_QNAN || kb >= K_QNAN) {
    if (!quiet || ka == K_SNAN || kb == K_SNAN || ka == K_UNSUPP || kb == K_UNSUPP) fx |= FX_IE;
    return CMP_UN;
  }
  checkDenormal(aSE, aM);
  checkDenormal(bSE, bM);
  if (ka == K_ZERO && kb == K_ZERO) return CMP_EQ;
  const as = (aSE >> 15) & 1, bs = (bSE >> 15) & 1;
  if (ka == K_ZERO) return bs != 0 ? CMP_GT : CMP_LT;
  if (kb == K_ZERO) return as != 0 ? CMP_LT : CMP_GT;
  if (as != bs) return as != 0 ? CMP_LT : CMP_GT;
  // Same sign: compare magnitudes (normalised, so denormals and pseudo-denormals compare right).
  let ae: i32, am: u64;
  if (ka == K_INF) { ae = 0x10000; am = J; } else { unpack(aSE, aM); ae = nE; am = nM; }
  let be: i32, bm: u64;
  if (kb == K_INF) { be = 0x10000; bm = J; } else { unpack(bSE, bM); be = nE; bm = nM; }
  if (ae == be && am == bm) return CMP_EQ;
  const greaterMag = ae > be || (ae == be && am > bm);
  return (greaterMag != (as != 0)) ? CMP_GT : CMP_LT;
}
