// Transcendental x87 operations (F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS) for
// x87.ts. They are evaluated in a wider software format -- sign, 32-bit exponent and a 128-bit
// significand -- and rounded once to the 64-bit extended significand by roundTo() in
// x87-float80.ts. Series are summed until the terms fall 130 bits below the sum, so the value before
// rounding is good to roughly 2^-120 relative and the rounded result is within one ulp (almost
// always correctly rounded). Additions jam shifted-out bits into a sticky bit so that tiny
// corrections (sin x = x - x^3/6 for tiny x) still steer directed rounding and #P.
//
// Precision control does not apply: SDM Vol. 1 §8.1.5.2 lists the only instructions PC affects
// (FADD, FSUB(R), FMUL, FDIV(R), FSQRT and their forms); results here always have 64 bits.
//
// Argument reduction for FSIN/FCOS/FSINCOS/FPTAN follows the hardware: SDM Vol. 1 §8.3.10 says the
// x87 reduces with a 66-bit approximation of pi. x - k * (P66 / 2) is computed exactly with integer
// arithmetic (P66 = 0x3.243F6A8885A308D3, pi truncated to 66 significant bits), then the reduced
// argument's sine/cosine are evaluated accurately. This matches the host FPU bit for bit on large
// arguments (where the "true" sine differs). Nothing here allocates: wide values live in a static
// scratch area.
import {
  fx, rSE, rM, setFx, setResult, setIndefinite, roundTo, classify, nanOne, nanTwo, checkDenormal, stopped, mul, fromInt,
  FX_IE, FX_ZE, FX_UE, FX_PE, K_ZERO, K_INF,
} from "./x87-float80";

// --- the wide format: slot +0 significand high word, +8 low word, +16 exponent (of bit 127), +20 sign ---
// Value = (-1)^s * (hi:lo) * 2^(e - 127), hi bit 63 set, or hi = lo = 0 for zero.
const SLOT: usize = 24;
const WS: usize = memory.data(<i32>(SLOT * 24));
@inline function slot(i: i32): usize { return WS + <usize>i * SLOT; }
@inline function gH(p: usize): u64 { return load<u64>(p); }
@inline function gL(p: usize): u64 { return load<u64>(p, 8); }
@inline function gE(p: usize): i32 { return load<i32>(p, 16); }
@inline function gS(p: usize): u32 { return load<u32>(p, 20); }
@inline function isZ(p: usize): bool { return gH(p) == 0 && gL(p) == 0; }

/** Store sign, exponent of bit 127, and an unnormalised 128-bit significand (normalised here). */
function wset(p: usize, s: u32, e: i32, hi: u64, lo: u64): void {
  if (hi == 0 && lo == 0) {
    store<u64>(p, 0); store<u64>(p, 0, 8); store<i32>(p, 0, 16); store<u32>(p, s, 20);
    return;
  }
  if (hi == 0) { hi = lo; lo = 0; e -= 64; }
  const z = <i32>clz(hi);
  if (z != 0) {
    hi = (hi << <u64>z) | (lo >> <u64>(64 - z));
    lo <<= <u64>z;
    e -= z;
  }
  store<u64>(p, hi); store<u64>(p, lo, 8); store<i32>(p, e, 16); store<u32>(p, s, 20);
}
function wcopy(d: usize, a: usize): void { memory.copy(d, a, SLOT); }
function wneg(p: usize): void { store<u32>(p, gS(p) ^ 1, 20); }

/** An extended value (finite, nonzero or zero) into a wide slot. */
function wfromExt(p: usize, se: u32, m: u64): void {
  let e = <i32>(se & 0x7fff);
  if (e == 0) e = 1;
  wset(p, (se >> 15) & 1, e - 16383, m, 0);
}
function wfromInt(p: usize, v: i64): void {
  const s: u32 = v < 0 ? 1 : 0;
  wset(p, s, 127, 0, v < 0 ? <u64>(0 - v) : <u64>v);
}

// 64 x 64 -> 128.
let pH: u64 = 0;
let pL: u64 = 0;
function mul64(a: u64, b: u64): void {
  const a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  pL = (p00 & 0xffffffff) | (mid << 32);
  pH = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/** d = a * b (top 128 bits of the 256-bit product; the rest jammed into the lowest bit). */
function wmul(d: usize, a: usize, b: usize): void {
  const s = gS(a) ^ gS(b);
  if (isZ(a) || isZ(b)) { wset(d, s, 0, 0, 0); return; }
  const ah = gH(a), al = gL(a), bh = gH(b), bl = gL(b);
  mul64(al, bl); const w0 = pL; let w1 = pH;
  mul64(ah, bl); const x0 = pL, x1 = pH;
  mul64(al, bh); const y0 = pL, y1 = pH;
  mul64(ah, bh); let w2 = pL, w3 = pH;
  // w1 += x0 + y0, carries into w2/w3; w2 += x1 + y1.
  let c: u64 = 0;
  w1 += x0; if (w1 < x0) c++;
  w1 += y0; if (w1 < y0) c++;
  w2 += c; let c2: u64 = w2 < c ? 1 : 0;
  w2 += x1; if (w2 < x1) c2++;
  w2 += y1; if (w2 < y1) c2++;
  w3 += c2;
  let e = gE(a) + gE(b);
  if ((w3 >> 63) != 0) e++;
  else {
    w3 = (w3 << 1) | (w2 >> 63);
    w2 = (w2 << 1) | (w1 >> 63);
    w1 <<= 1;
  }
  if (w1 != 0 || w0 != 0) w2 |= 1;
  store<u64>(d, w3); store<u64>(d, w2, 8); store<i32>(d, e, 16); store<u32>(d, s, 20);
}

/** d = a + b (or a - b with sub). Bits shifted out of the smaller operand are jammed (sticky). */
function wadd(d: usize, a: usize, b: usize, sub: bool): void {
  let bs = gS(b) ^ (sub ? 1 : 0);
  if (isZ(b)) { wcopy(d, a); return; }
  if (isZ(a)) { wcopy(d, b); store<u32>(d, bs, 20); return; }
  let xs = gS(a), xe = gE(a), xh = gH(a), xl = gL(a);
  let ys = bs, ye = gE(b), yh = gH(b), yl = gL(b);
  if (ye > xe || (ye == xe && (yh > xh || (yh == xh && yl > xl)))) {
    let t = xs; xs = ys; ys = t;
    let te = xe; xe = ye; ye = te;
    let th = xh; xh = yh; yh = th;
    let tl = xl; xl = yl; yl = tl;
  }
  const dx = xe - ye;
  // Align y right by dx with a sticky bit.
  if (dx >= 128) {
    yh = 0; yl = 1;
  } else if (dx >= 64) {
    const sh = dx - 64;
    const lost = sh == 0 ? yl : (yl | (yh << <u64>(64 - sh)));
    yl = sh == 0 ? yh : yh >> <u64>sh;
    yh = 0;
    if (lost != 0) yl |= 1;
  } else if (dx > 0) {
    const lost = yl << <u64>(64 - dx);
    yl = (yl >> <u64>dx) | (yh << <u64>(64 - dx));
    yh >>= <u64>dx;
    if (lost != 0) yl |= 1;
  }
  if (xs == ys) {
    let lo = xl + yl;
    let hi = xh + yh + (lo < xl ? 1 : 0);
    const carry = hi < xh || (hi == xh && lo < xl);
    if (carry) {
      const lost = lo & 1;
      lo = (lo >> 1) | (hi << 63) | lost;
      hi = (hi >> 1) | 0x8000000000000000;
      xe++;
    }
    store<u64>(d, hi); store<u64>(d, lo, 8); store<i32>(d, xe, 16); store<u32>(d, xs, 20);
  } else {
    const lo = xl - yl;
    const hi = xh - yh - (xl < yl ? 1 : 0);
    wset(d, xs, xe, hi, lo);
  }
}

/** d = a / b: restoring division, 128 quotient bits, remainder jammed into the lowest bit. */
function wdiv(d: usize, a: usize, b: usize): void {
  const s = gS(a) ^ gS(b);
  if (isZ(a)) { wset(d, s, 0, 0, 0); return; }
  let rh = gH(a), rl = gL(a);
  const bh = gH(b), bl = gL(b);
  let e = gE(a) - gE(b);
  let rc: u64 = 0;
  if (rh < bh || (rh == bh && rl < bl)) {
    rc = rh >> 63; rh = (rh << 1) | (rl >> 63); rl <<= 1; e--;
  }
  let qh: u64 = 0, ql: u64 = 0;
  for (let i = 0; i < 128; i++) {
    let bit: u64 = 0;
    if (rc != 0 || rh > bh || (rh == bh && rl >= bl)) {
      const borrow: u64 = rl < bl ? 1 : 0;
      rl -= bl; rh = rh - bh - borrow;
      bit = 1;
    }
    qh = (qh << 1) | (ql >> 63); ql = (ql << 1) | bit;
    rc = rh >> 63; rh = (rh << 1) | (rl >> 63); rl <<= 1;
  }
  if (rh != 0 || rl != 0 || rc != 0) ql |= 1;
  store<u64>(d, qh); store<u64>(d, ql, 8); store<i32>(d, e, 16); store<u32>(d, s, 20);
}

/** d = a / n for a small positive integer n (< 2^32). */
function wdivSmall(d: usize, a: usize, n: u64): void {
  const h = gH(a), l = gL(a);
  const q1 = h / n; let r = h % n;
  let t = (r << 32) | (l >> 32);
  const q2 = t / n; r = t % n;
  t = (r << 32) | (l & 0xffffffff);
  const q3 = t / n; r = t % n;
  // Eight more quotient bits below, so normalisation does not shift in zeros.
  t = r << 32;
  const q4 = t / n;
  const rest = t % n;
  const z = <i32>clz(q1); // q1 >= 2^63 / n: z <= 32
  let hi = q1, lo = (q2 << 32) | q3;
  let e = gE(a);
  if (z != 0) {
    hi = (hi << <u64>z) | (lo >> <u64>(64 - z));
    lo = (lo << <u64>z) | (q4 >> <u64>(32 - z));
    e -= z;
  }
  if (rest != 0 || (q4 << <u64>(32 + z)) != 0) lo |= 1;
  store<u64>(d, hi); store<u64>(d, lo, 8); store<i32>(d, e, 16); store<u32>(d, gS(a), 20);
}

/** The wide value rounded into rSE/rM (64-bit precision, register destination), with #P etc. */
function wround(p: usize): void {
  if (isZ(p)) { setResult(gS(p) << 15, 0); return; }
  roundTo(gS(p), gE(p), gH(p), gL(p), 64, -16382, 16383, 16383, 24576);
}

// --- constants (128 bits, truncated; computed with mpmath at 400 bits: floor(v * 2^(127 - e))) ---
const C_LN2: i32 = 20;
const C_PI: i32 = 21;
const C_PIO2: i32 = 22;
const C_PIO4: i32 = 23;
let constsReady = false;
function initConsts(): void {
  wset(slot(C_LN2), 0, -1, 0xb17217f7d1cf79ab, 0xc9e3b39803f2f6af);
  wset(slot(C_PI), 0, 1, 0xc90fdaa22168c234, 0xc4c6628b80dc1cd1);
  wset(slot(C_PIO2), 0, 0, 0xc90fdaa22168c234, 0xc4c6628b80dc1cd1);
  wset(slot(C_PIO4), 0, -1, 0xc90fdaa22168c234, 0xc4c6628b80dc1cd1);
  constsReady = true;
}
@inline function consts(): void { if (!constsReady) initConsts(); }

// Scratch slots T0-T7 for the helpers; 8-13 for the instruction bodies; 20-23 the constants.
const T0: i32 = 0, T1: i32 = 1, T2: i32 = 2, T3: i32 = 3, T4: i32 = 4, T5: i32 = 5, T6: i32 = 6, T7: i32 = 7;

/** Stop summing when the term is more than 130 binary places below the sum. */
@inline function negligible(term: usize, sum: usize): bool { return isZ(term) || gE(term) < gE(sum) - 130; }

/** d = e^t - 1 for |t| <= ~0.75 (Taylor series). Uses T5, T6. */
function wexpm1(d: usize, t: usize): void {
  const term = slot(T5);
  wcopy(term, t);
  wcopy(d, t);
  if (isZ(t)) return;
  for (let n: u64 = 2; n < 80; n++) {
    wmul(term, term, t);
    wdivSmall(term, term, n);
    wadd(d, d, term, false);
    if (negligible(term, d)) break;
  }
}

/** d = s + s^3/3 + s^5/5 + ... (atanh), or with alternating signs (atan) for |s| <= ~0.42. Uses T5-T7. */
function woddSeries(d: usize, s: usize, alternate: bool): void {
  const s2 = slot(T5), pw = slot(T6), term = slot(T7);
  wcopy(d, s);
  if (isZ(s)) return;
  wmul(s2, s, s);
  wcopy(pw, s);
  for (let n: u64 = 3; n < 400; n += 2) {
    wmul(pw, pw, s2);
    wdivSmall(term, pw, n);
    wadd(d, d, term, alternate && (n & 2) != 0);
    if (negligible(term, d)) break;
  }
}

/** sin (cosine = false) or cos of |r| <= ~0.8 into d (Taylor series). Uses T5-T7. */
function wsincos(d: usize, r: usize, cosine: bool): void {
  const r2 = slot(T5), term = slot(T6);
  wmul(r2, r, r);
  if (cosine) wset(term, 0, 0, 0x8000000000000000, 0);
  else wcopy(term, r);
  wcopy(d, term);
  if (isZ(r)) return;
  for (let n: u64 = cosine ? 1 : 2; n < 80; n += 2) {
    wmul(term, term, r2);
    wdivSmall(term, term, n * (n + 1));
    wadd(d, d, term, true);
    store<u32>(term, gS(term) ^ 1, 20);
    if (negligible(term, d)) break;
  }
}

// ================= the instructions =================
// Each sets rSE/rM (the value for ST(0), or for ST(1) for the popping ones) and fx; the second value
// of FSINCOS/FPTAN goes to r2SE/r2M. `outOfRange` reports C2 = 1 for the trigonometric ones.
export let r2SE: u32 = 0;
export let r2M: u64 = 0;
export let outOfRange: bool = false;
const J: u64 = 0x8000000000000000;

/**
 * Round a transcendental result. These values are never exactly representable (the exact cases are
 * handled before), so the lowest bit is forced on as a sticky bit: a value that happens to land on a
 * representable number or a tie (e.g. tan x = x / 1 for tiny x, where the sine's and cosine's sticky
 * bits cancel in the division) is still inexact.
 */
function finish(p: usize): void {
  if (!isZ(p)) store<u64>(p, gL(p) | 1, 8);
  wround(p);
}

/** F2XM1: 2^x - 1 (SDM Vol. 2 "F2XM1": -1.0 <= x <= +1.0; outside the result is undefined). */
export function f2xm1(se: u32, m: u64): void {
  if (nanOne(se, m)) return;
  const k = classify(se, m);
  if (k == K_ZERO) { setResult(se, m); return; }
  if (k == K_INF) { // -inf -> -1, +inf -> +inf (SDM table)
    if ((se & 0x8000) != 0) setResult(0xbfff, J); else setResult(se, m);
    return;
  }
  checkDenormal(se, m);
  if (stopped()) return;
  const e = <i32>(se & 0x7fff);
  if (e > 16383 || (e == 16383 && m != J)) {
    // |x| > 1: undefined. The host (AMD) returns the operand with #P; so does this.
    setResult(se, m);
    setFx(fx | FX_PE);
    return;
  }
  consts();
  const x = slot(T0), t = slot(T1), r = slot(T2);
  wfromExt(x, se, m);
  wmul(t, x, slot(C_LN2));
  wexpm1(r, t);
  finish(r);
}

/** log2(x) of a finite positive wide value x into d. Uses T1-T7. */
function wlog2(d: usize, x: usize): void {
  // x = f * 2^k with f in [sqrt(1/2), sqrt(2)); ln f = 2 atanh((f - 1) / (f + 1)).
  let k = gE(x);
  let fe: i32 = 0;
  // f's significand compared with sqrt(2)/2 * 2 = 1.0110101...: above -> use f/2.
  if (gH(x) > 0xb504f333f9de6484) { k++; fe = -1; }
  const f = slot(T1), one = slot(T2), num = slot(T3), den = slot(T4);
  wset(f, 0, fe, gH(x), gL(x));
  wset(one, 0, 0, J, 0);
  wadd(num, f, one, true);
  wadd(den, f, one, false);
  const s = slot(T1);
  wdiv(s, num, den);
  woddSeries(num, s, false); // atanh(s)
  store<i32>(num, gE(num) + 1, 16); // ln f = 2 atanh(s)
  wdiv(num, num, slot(C_LN2));
  wfromInt(den, <i64>k);
  wadd(d, den, num, false);
}

/** FYL2X: y * log2(x) with y = ST(1), x = ST(0) (SDM Vol. 2 "FYL2X" table). */
export function fyl2x(ySE: u32, yM: u64, xSE: u32, xM: u64): void {
  if (nanTwo(ySE, yM, xSE, xM)) return;
  const ky = classify(ySE, yM), kx = classify(xSE, xM);
  const xneg = (xSE & 0x8000) != 0;
  if (xneg && kx != K_ZERO) { setFx(fx | FX_IE); setIndefinite(); return; }
  if (kx == K_ZERO) {
    // log2(0) = -inf: zero divide for finite nonzero y; 0 * inf is invalid (mul); inf * -inf = -inf.
    if (ky == K_ZERO) { setFx(fx | FX_IE); setIndefinite(); return; }
    if (ky != K_INF) setFx(fx | FX_ZE); // no #D for a denormal y here (as the host)
    if (stopped()) return;
    setResult((ySE ^ 0x8000) | 0x7fff, J);
    return;
  }
  if (kx == K_INF) { mul(ySE, yM, 0x7fff, J, 64); return; }
  // x = 2^k exactly: log2 is the integer k and the product is exact. The host still reports it as
  // inexact (#P, and #U when tiny) unless k = 0; this follows it.
  const ex = <i32>(xSE & 0x7fff);
  const z = <i32>clz(xM);
  if ((xM << <u64>(z + 1)) == 0) {
    const kk = (ex == 0 ? 1 : ex) - 16383 - z;
    if (kk == 0 || ky == K_INF || ky == K_ZERO) {
      fromInt(<i64>kk);
      const lse = rSE, lm = rM;
      checkDenormal(xSE, xM);
      mul(ySE, yM, lse, lm, 64);
      return;
    }
    checkDenormal(ySE, yM);
    checkDenormal(xSE, xM);
    if (stopped()) return;
    const a = slot(8), b = slot(9);
    wfromInt(a, <i64>kk);
    wfromExt(b, ySE, yM);
    wmul(a, a, b);
    wround(a);
    setFx(fx | FX_PE);
    if ((rSE & 0x7fff) == 0 && (fx & FX_UE) == 0) setFx(fx | FX_UE);
    return;
  }
  if (ky == K_INF || ky == K_ZERO) {
    checkDenormal(xSE, xM);
    if (stopped()) return;
    // Sign: y's sign, flipped for x < 1.
    const xlt1 = ex < 16383;
    setResult((xlt1 ? ySE ^ 0x8000 : ySE), yM);
    return;
  }
  checkDenormal(ySE, yM);
  checkDenormal(xSE, xM);
  if (stopped()) return;
  consts();
  const x = slot(T0), l = slot(8), y = slot(9);
  wfromExt(x, xSE, xM);
  wlog2(l, x);
  wfromExt(y, ySE, yM);
  wmul(l, l, y);
  finish(l);
}

/** FYL2XP1: y * log2(x + 1), |x| < 1 - sqrt(2)/2 (outside: undefined; x > -1 is computed the same way). */
export function fyl2xp1(ySE: u32, yM: u64, xSE: u32, xM: u64): void {
  if (nanTwo(ySE, yM, xSE, xM)) return;
  const ky = classify(ySE, yM), kx = classify(xSE, xM);
  if (kx == K_INF) {
    // Outside the defined range. The host treats it as log2(+inf) = +inf (and -inf as invalid).
    if ((xSE & 0x8000) != 0) { setFx(fx | FX_IE); setIndefinite(); } else mul(ySE, yM, 0x7fff, J, 64);
    return;
  }
  if (kx == K_ZERO) {
    if (ky == K_INF) { setFx(fx | FX_IE); setIndefinite(); return; }
    checkDenormal(ySE, yM);
    if (stopped()) return;
    setResult((ySE ^ xSE) & 0x8000, 0);
    return;
  }
  checkDenormal(ySE, yM);
  checkDenormal(xSE, xM);
  if (stopped()) return;
  if (ky == K_INF || ky == K_ZERO) {
    setResult(ySE ^ (xSE & 0x8000), yM);
    return;
  }
  consts();
  const x = slot(T0), l = slot(8), y = slot(9), one = slot(10);
  wfromExt(x, xSE, xM);
  wset(one, 0, 0, J, 0);
  if (gE(x) < -1) {
    // 2 atanh(x / (x + 2)) / ln 2, accurate for tiny x.
    const den = slot(11), two = slot(12);
    wset(two, 0, 1, J, 0);
    wadd(den, x, two, false);
    wdiv(y, x, den);
    woddSeries(l, y, false);
    store<i32>(l, gE(l) + 1, 16);
    wdiv(l, l, slot(C_LN2));
  } else {
    wadd(y, x, one, false);
    // x <= -1: undefined; the host returns x with #P.
    if (gS(y) != 0 || isZ(y)) { setResult(xSE, xM); setFx(fx | FX_PE); return; }
    wlog2(l, y);
  }
  wfromExt(y, ySE, yM);
  wmul(l, l, y);
  finish(l);
}

/** FPATAN: atan(y / x) with the quadrant from both signs; y = ST(1), x = ST(0) (SDM Vol. 2 "FPATAN"). */
export function fpatan(ySE: u32, yM: u64, xSE: u32, xM: u64): void {
  if (nanTwo(ySE, yM, xSE, xM)) return;
  const ky = classify(ySE, yM), kx = classify(xSE, xM);
  checkDenormal(ySE, yM);
  checkDenormal(xSE, xM);
  if (stopped()) return;
  consts();
  const ys = (ySE >> 15) & 1;
  const xneg = (xSE & 0x8000) != 0;
  const res = slot(8);
  if (ky == K_ZERO) {
    // atan2(+-0, x>=+0) = +-0; x negative (or -0): +-pi.
    if (!xneg) { setResult(ySE, 0); return; }
    wcopy(res, slot(C_PI));
  } else if (kx == K_INF && ky == K_INF) {
    // +-pi/4 or +-3pi/4
    if (xneg) wset(res, 0, 1, 0x96cbe3f9990e91a7, 0x9394c9e8a0a5159c);
    else wcopy(res, slot(C_PIO4));
  } else if (kx == K_INF) {
    if (!xneg) { setResult(ySE & 0x8000, 0); return; }
    wcopy(res, slot(C_PI));
  } else if (ky == K_INF || kx == K_ZERO) {
    wcopy(res, slot(C_PIO2));
  } else {
    const a = slot(9), b = slot(10), t = slot(11), u = slot(12), one = slot(13);
    wfromExt(a, ySE & 0x7fff, yM);
    wfromExt(b, xSE & 0x7fff, xM);
    // theta = atan(min/max), then pi/2 - theta if |y| > |x|, then pi - theta if x < 0.
    const swap = gE(a) > gE(b) || (gE(a) == gE(b) && (gH(a) > gH(b)));
    if (swap) wdiv(t, b, a); else wdiv(t, a, b);
    // t in [0, 1]; above tan(pi/8) use atan(t) = pi/4 + atan((t - 1) / (t + 1)).
    const big = gE(t) >= -1 || (gE(t) == -2 && gH(t) > 0xd413cccfe7799211); // tan(pi/8) = 0.4142...
    if (big) {
      wset(one, 0, 0, J, 0);
      wadd(a, t, one, true);
      wadd(b, t, one, false);
      wdiv(u, a, b);
      woddSeries(res, u, true);
      wadd(res, slot(C_PIO4), res, false);
    } else woddSeries(res, t, true);
    if (swap) wadd(res, slot(C_PIO2), res, true);
    if (xneg) wadd(res, slot(C_PI), res, true);
  }
  store<u32>(res, ys, 20);
  finish(res);
}

// --- FSIN / FCOS / FSINCOS / FPTAN ---

/** |x| (exponent field xe, significand m) reduced exactly by P66/2 into slot d; returns k mod 4. |x| < 2^63. */
function reduce(d: usize, xe: u32, m: u64): i32 {
  const x = slot(T0);
  wfromExt(x, xe, m);
  // |x| <= pi/4: no reduction (compare with pi/4's leading 64 bits).
  if (gE(x) < -1 || (gE(x) == -1 && gH(x) <= 0xc90fdaa22168c234)) {
    wcopy(d, x);
    return 0;
  }
  // k = nearest integer to |x| / (P66 / 2); P66 / 2 = Q * 2^-65 with Q = 0x3243F6A8885A308D3.
  const q = slot(T1);
  wset(q, 0, 0, 0xc90fdaa22168c234, 0xc000000000000000);
  wdiv(q, x, q);
  // Integer part and the half bit from the quotient (exponent <= 63).
  const qe = gE(q);
  let k: u64;
  if (qe < 0) k = (qe == -1) ? 1 : 0;
  else {
    const ip = gH(q) >> <u64>(63 - qe);
    const half = qe == 63 ? (gL(q) >> 63) : ((gH(q) >> <u64>(62 - qe)) & 1);
    k = ip + half;
  }
  // r * 2^65 = m * 2^(E + 2) - k * Q, exactly, in 128-bit two's complement (|r| < 2^66 units).
  const E = gE(x); // exponent of m's top bit
  const sh = E + 2; // 1..64
  let ah: u64, al: u64;
  if (sh >= 64) { ah = m; al = 0; } else { ah = m >> <u64>(64 - sh); al = m << <u64>sh; }
  mul64(k, 0x243f6a8885a308d3);
  const bl = pL;
  const bh = pH + k * 3;
  let rl = al - bl;
  let rh = ah - bh - (al < bl ? 1 : 0);
  let rs: u32 = 0;
  if ((rh >> 63) != 0) { rs = 1; rl = 0 - rl; rh = 0 - rh - (rl != 0 ? 1 : 0); }
  wset(d, rs, 127 - 65, rh, rl);
  return <i32>(k & 3) ;
}

/** kind: 0 FSIN, 1 FCOS, 2 FSINCOS (sine in r2SE/r2M, cosine in rSE/rM), 3 FPTAN (tan in rSE/rM). */
export function ftrig(se: u32, m: u64, kind: i32): void {
  outOfRange = false;
  if (nanOne(se, m)) { r2SE = rSE; r2M = rM; return; }
  const k = classify(se, m);
  if (k == K_INF) { setFx(fx | FX_IE); setIndefinite(); r2SE = rSE; r2M = rM; return; }
  if ((se & 0x7fff) >= 16383 + 63) { outOfRange = true; return; }
  if (k == K_ZERO) {
    // sin/tan: the zero itself; cos: 1. FSINCOS: sine in r2SE/r2M, cosine in rSE/rM.
    r2SE = se; r2M = m;
    if (kind == 1 || kind == 2) setResult(0x3fff, J); else setResult(se, m);
    return;
  }
  checkDenormal(se, m);
  if (stopped()) return;
  consts();
  const r = slot(8), sn = slot(9), cs = slot(10);
  // |x| = k * (P66 / 2) + r; sin(-y) = -sin(y), cos(-y) = cos(y).
  const q = reduce(r, se & 0x7fff, m);
  const neg = (se & 0x8000) != 0;
  wsincos(sn, r, false);
  wsincos(cs, r, true);
  // sin(|x|) and cos(|x|) by quadrant.
  const s1 = slot(11), c1 = slot(12);
  if (kind == 0 || kind == 2 || kind == 3) {
    if ((q & 1) == 0) wcopy(s1, sn); else wcopy(s1, cs);
    if ((q & 2) != 0) wneg(s1);
    if (neg) wneg(s1);
  }
  if (kind != 0) {
    if ((q & 1) == 0) wcopy(c1, cs); else { wcopy(c1, sn); wneg(c1); }
    if ((q & 2) != 0) wneg(c1);
  }
  if (kind == 0) { finish(s1); return; }
  if (kind == 1) { finish(c1); return; }
  if (kind == 3) {
    wdiv(s1, s1, c1);
    finish(s1);
    return;
  }
  // FSINCOS: the sine (to stay in ST(1)) into r2SE/r2M, then the cosine (pushed) into rSE/rM; C1
  // follows the cosine's rounding.
  finish(s1);
  r2SE = rSE; r2M = rM;
  const fxs = fx;
  finish(c1);
  setFx(fx | fxs);
}
