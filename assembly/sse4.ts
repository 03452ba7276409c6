// The 0F 38 and 0F 3A maps (SDM Vol. 2 Tables ): SSSE3 (sse-ssse3.ts) and SSE4.1.
// SSE4.1 is written from the SDM Vol. 2 pages BLENDPS, BLENDPD, BLENDVPS, BLENDVPD, PBLENDVB,
// PBLENDW, PMINSB/PMINSD, PMINUW, PMINUD, PMAXSB/PMAXSD, PMAXUW, PMAXUD, PMULLD, PMULDQ,
// PCMPEQQ, PACKUSDW, PMOVSX, PMOVZX, PEXTRB/PEXTRD/PEXTRQ, PEXTRW, PINSRB/PINSRD/PINSRQ,
// EXTRACTPS, INSERTPS, PTEST, PHMINPOSUW, MOVNTDQA, ROUNDPS/PD/SS/SD, DPPS, DPPD and MPSADBW;
// PCMPGTQ (SSE4.2) is here too, and the SSE4.2 string compares PCMPESTRM/PCMPESTRI/PCMPISTRM/
// PCMPISTRI (0F 3A 60-63) are dispatched to sse42.ts. Every SSE4 form needs the 66 prefix (no
// MMX forms); 128-bit memory operands must be 16-byte aligned (#GP otherwise), the narrower ones
// and those of the string compares need not be.
// No allocation: operands are globals of sse.ts or locals.
import * as d from "./decode";
import { raiseUD } from "./fault";
import { getReg, setReg } from "./access";
import { setArith } from "./flags";
import {
  gateSse, gateMmx, enterMmx, xmm, sLo, sHi, srcX, setX, readM, writeM, readM128, readRm, writeRm,
  srcScalar, fpStart, fpFinish,
} from "./sse";
import { isSsse3, ssse3Mmx, ssse3Xmm } from "./sse-ssse3";
import * as fl from "./sse-float";
import { pcmpStr } from "./sse42";

const M32: u64 = 0xffffffff;

/** op: 0x200 | byte for 0F 38, 0x300 | byte for 0F 3A; p: the mandatory-prefix class (0 none, 1 = 66, 2 = F3, 3 = F2). */
export function executeThreeByte(op: u32, p: u32): void {
  const three = op >= 0x300;
  const k = op & 0xff;
  if (three ? k == 0x0f : isSsse3(k)) {
    if (p == 0) {
      gateMmx();
      ssse3Mmx(k, three);
      enterMmx();
      return;
    }
    if (p != 1) raiseUD();
    gateSse();
    ssse3Xmm(k, three);
    return;
  }
  if (p != 1) raiseUD();
  gateSse();
  if (three) exec3A(k);
  else exec38(k);
}

@inline function sx(x: u64, bits: u64): i64 { return (<i64>(x << (64 - bits))) >> (64 - bits); }

/** All-ones lanes (of `bits`) where the lane of m has its sign bit set. */
function signLanes(m: u64, bits: u64): u64 {
  if (bits == 64) return <u64>(<i64>m >> 63);
  const lm: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  for (let s: u64 = 0; s < 64; s += bits) if (((m >> (s + bits - 1)) & 1) != 0) r |= lm << s;
  return r;
}
/** All-ones lanes (of `bits`) where bit i of `sel` is set, for the lanes from number `first` on. */
function immLanes(sel: u32, bits: u64, first: u32): u64 {
  if (bits == 64) return ((sel >> first) & 1) != 0 ? <u64>-1 : 0;
  const lm: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  let i = first;
  for (let s: u64 = 0; s < 64; s += bits) {
    if (((sel >> i) & 1) != 0) r |= lm << s;
    i++;
  }
  return r;
}

/**
 * Lane-wise SSE4.1 operations of the 0F 38 map on one chunk (a destination, b source):
 * 28 PMULDQ, 29 PCMPEQQ, 37 PCMPGTQ, 38-3F PMIN/PMAX (SB SD UW UD), 40 PMULLD.
 */
function chunk38(k: u32, a: u64, b: u64): u64 {
  switch (k) {
    case 0x28: return <u64>(sx(a, 32) * sx(b, 32));
    case 0x29: return a == b ? <u64>-1 : 0;
    case 0x37: return <i64>a > <i64>b ? <u64>-1 : 0;
    case 0x40: return ((a * b) & M32) | ((a >> 32) * (b >> 32) << 32);
  }
  // 38 PMINSB, 39 PMINSD, 3A PMINUW, 3B PMINUD; 3C-3F the PMAX forms.
  const bits: u64 = (k & 3) == 0 ? 8 : (k & 3) == 2 ? 16 : 32;
  const signed = (k & 3) < 2;
  const max = k >= 0x3c;
  const m: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  for (let s: u64 = 0; s < 64; s += bits) {
    const x = (a >> s) & m, y = (b >> s) & m;
    const less = signed ? sx(x, bits) < sx(y, bits) : x < y;
    r |= (less != max ? x : y) << s;
  }
  return r;
}

/** PACKUSDW: the signed dwords of x (words 0-1) and y (words 2-3), saturated to unsigned words. */
function packUsdw(x: u64, y: u64): u64 {
  let r: u64 = 0;
  for (let i: u64 = 0; i < 4; i++) {
    const v = sx((i < 2 ? x : y) >> ((i & 1) << 5), 32);
    r |= <u64>(v < 0 ? 0 : v > 0xffff ? 0xffff : v) << (i << 4);
  }
  return r;
}

function exec38(k: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  switch (k) {
    case 0x10: case 0x14: case 0x15: { // PBLENDVB, BLENDVPS, BLENDVPD: selected by the sign bits of XMM0
      srcX(true);
      const bits: u64 = k == 0x10 ? 8 : k == 0x14 ? 32 : 64;
      const m0 = xmm(0);
      const mLo = signLanes(load<u64>(m0), bits), mHi = signLanes(load<u64>(m0 + 8), bits);
      setX(r, (load<u64>(a) & ~mLo) | (sLo & mLo), (load<u64>(a + 8) & ~mHi) | (sHi & mHi));
      return;
    }
    case 0x17: { // PTEST: ZF = (src AND dest) == 0, CF = (src AND NOT dest) == 0, OF SF AF PF cleared
      srcX(true);
      const dl = load<u64>(a), dh = load<u64>(a + 8);
      const z = ((sLo & dl) | (sHi & dh)) == 0;
      const c = ((sLo & ~dl) | (sHi & ~dh)) == 0;
      setArith((z ? 0x40 : 0) | (c ? 1 : 0));
      return;
    }
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25:
    case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35: {
      // PMOVSX/PMOVZX BW BD BQ WD WQ DQ: the low 8, 4 or 2 bytes of the source widened.
      const f = k & 7;
      const sb: u64 = f < 3 ? 8 : f < 5 ? 16 : 32;
      const db: u64 = f == 0 ? 16 : f == 1 || f == 3 ? 32 : 64;
      const n: u32 = <u32>((sb << 7) / db) >> 3; // source bytes: 128 / db lanes of sb bits
      const v = d.eaIsReg() ? load<u64>(xmm(d.modrmRm())) : readM(n);
      const sm: u64 = (<u64>1 << sb) - 1;
      const dm: u64 = db == 64 ? <u64>-1 : (<u64>1 << db) - 1;
      const signed = k < 0x30;
      let lo: u64 = 0, hi: u64 = 0;
      const lanes = <u64>(128 / db);
      for (let i: u64 = 0; i < lanes; i++) {
        const e = (v >> (i * sb)) & sm;
        const w = (signed ? <u64>sx(e, sb) : e) & dm;
        const o = (i * db) & 63;
        if (i * db < 64) lo |= w << o;
        else hi |= w << o;
      }
      setX(r, lo, hi);
      return;
    }
    case 0x28: case 0x29: case 0x37: case 0x38: case 0x39: case 0x3a: case 0x3b:
    case 0x3c: case 0x3d: case 0x3e: case 0x3f: case 0x40: {
      srcX(true);
      setX(r, chunk38(k, load<u64>(a), sLo), chunk38(k, load<u64>(a + 8), sHi));
      return;
    }
    case 0x2a: // MOVNTDQA: an aligned 128-bit load, memory operand only
      if (d.eaIsReg()) raiseUD();
      readM128(true);
      setX(r, sLo, sHi);
      return;
    case 0x2b: // PACKUSDW
      srcX(true);
      setX(r, packUsdw(load<u64>(a), load<u64>(a + 8)), packUsdw(sLo, sHi));
      return;
    case 0x41: { // PHMINPOSUW: the smallest unsigned word of the source (lowest index on ties) and its index
      srcX(true);
      let min: u64 = sLo & 0xffff, idx: u64 = 0;
      for (let i: u64 = 1; i < 8; i++) {
        const w = ((i < 4 ? sLo : sHi) >> ((i & 3) << 4)) & 0xffff;
        if (w < min) { min = w; idx = i; }
      }
      setX(r, min | (idx << 16), 0);
      return;
    }
  }
  raiseUD();
}

// MPSADBW: the bytes of the destination and source.
@inline function byteOf(lo: u64, hi: u64, i: u32): i32 {
  return <i32>(((i >= 8 ? hi : lo) >> <u64>((i & 7) << 3)) & 0xff);
}

function exec3A(k: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  const imm = <u32>d.imm() & 0xff;
  switch (k) {
    case 0x08: case 0x09: { // ROUNDPS, ROUNDPD
      srcX(true);
      fpStart();
      let lo: u64, hi: u64;
      if (k == 0x09) {
        lo = fl.fpRound(sLo, true, imm);
        hi = fl.fpRound(sHi, true, imm);
      } else {
        lo = fl.fpRound(sLo & M32, false, imm) | (fl.fpRound(sLo >> 32, false, imm) << 32);
        hi = fl.fpRound(sHi & M32, false, imm) | (fl.fpRound(sHi >> 32, false, imm) << 32);
      }
      fpFinish();
      setX(r, lo, hi);
      return;
    }
    case 0x0a: case 0x0b: { // ROUNDSS, ROUNDSD: the low element; the rest of the destination is kept
      const dbl = k == 0x0b;
      const v = srcScalar(dbl);
      fpStart();
      const x = fl.fpRound(v, dbl, imm);
      fpFinish();
      if (dbl) store<u64>(a, x);
      else store<u32>(a, <u32>x);
      return;
    }
    case 0x0c: case 0x0d: case 0x0e: { // BLENDPS, BLENDPD, PBLENDW: lane i from the source if imm8 bit i is set
      srcX(true);
      const bits: u64 = k == 0x0c ? 32 : k == 0x0d ? 64 : 16;
      const per = <u32>(64 / bits);
      const mLo = immLanes(imm, bits, 0), mHi = immLanes(imm, bits, per);
      setX(r, (load<u64>(a) & ~mLo) | (sLo & mLo), (load<u64>(a + 8) & ~mHi) | (sHi & mHi));
      return;
    }
    case 0x14: // PEXTRB r32/m8, xmm, imm8 (a register destination is zero-extended)
      writeRmZx(1, <u64>load<u8>(a + (imm & 15)));
      return;
    case 0x15: // PEXTRW r32/m16, xmm, imm8
      writeRmZx(2, <u64>load<u16>(a + ((imm & 7) << 1)));
      return;
    case 0x16: // PEXTRD r/m32, PEXTRQ r/m64 (REX.W)
      if (d.rexW()) writeRm(8, load<u64>(a + ((imm & 1) << 3)));
      else writeRm(4, <u64>load<u32>(a + ((imm & 3) << 2)));
      return;
    case 0x17: // EXTRACTPS r/m32, xmm, imm8 (a 64-bit register destination is zero-extended)
      writeRm(4, <u64>load<u32>(a + ((imm & 3) << 2)));
      return;
    case 0x20: { // PINSRB xmm, r32/m8, imm8: the low byte of the register
      const v = d.eaIsReg() ? getReg(d.modrmRm(), 4) : readM(1);
      store<u8>(a + (imm & 15), <u8>v);
      return;
    }
    case 0x21: { // INSERTPS xmm, xmm/m32, imm8: dword imm8[7:6] of a register source (or the m32) into dword imm8[5:4], then imm8[3:0] zeroes dwords
      const v: u32 = d.eaIsReg() ? load<u32>(xmm(d.modrmRm()) + ((imm >> 6) << 2)) : <u32>readM(4);
      store<u32>(a + (((imm >> 4) & 3) << 2), v);
      const z = immLanes(imm, 32, 0), zh = immLanes(imm, 32, 2);
      setX(r, load<u64>(a) & ~z, load<u64>(a + 8) & ~zh);
      return;
    }
    case 0x22: // PINSRD xmm, r/m32, imm8; PINSRQ xmm, r/m64, imm8 (REX.W)
      if (d.rexW()) {
        const v = readRm(8);
        store<u64>(a + ((imm & 1) << 3), v);
      } else {
        const v = readRm(4);
        store<u32>(a + ((imm & 3) << 2), <u32>v);
      }
      return;
    case 0x40: case 0x41: dotProduct(k == 0x41, imm); return;
    case 0x60: case 0x61: case 0x62: case 0x63: pcmpStr(k, imm); return; // SSE4.2 string compares (sse42.ts)
    case 0x42: { // MPSADBW: eight sums of absolute differences of 4-byte groups
      srcX(true);
      const dl = load<u64>(a), dh = load<u64>(a + 8);
      const so: u32 = (imm & 3) << 2, dOff: u32 = (imm & 4) != 0 ? 4 : 0;
      let lo: u64 = 0, hi: u64 = 0;
      for (let i: u32 = 0; i < 8; i++) {
        let sum: i32 = 0;
        for (let j: u32 = 0; j < 4; j++) {
          const t = byteOf(dl, dh, dOff + i + j) - byteOf(sLo, sHi, so + j);
          sum += t < 0 ? -t : t;
        }
        if (i < 4) lo |= <u64>sum << <u64>(i << 4);
        else hi |= <u64>sum << <u64>((i - 4) << 4);
      }
      setX(r, lo, hi);
      return;
    }
  }
  raiseUD();
}

/** A register destination of PEXTRB/PEXTRW gets the zero-extended value; memory takes `size` bytes. */
function writeRmZx(size: u32, v: u64): void {
  if (d.eaIsReg()) setReg(d.modrmRm(), 4, v);
  else writeM(size, v);
}

/**
 * DPPS/DPPD: the products of the lanes selected by imm8[7:4] (the others +0.0), each rounded,
 * summed pairwise ((p0 + p1) + (p2 + p3) for DPPS, p0 + p1 for DPPD) with rounding at each step,
 * and the sum written to the lanes selected by imm8[3:0] (the others zeroed).
 */
function dotProduct(dbl: bool, imm: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  srcX(true);
  const dl = load<u64>(a), dh = load<u64>(a + 8);
  // The steps (products, then sums) commit their flags one after the other: an unmasked
  // condition in one step ends the instruction there (host-verified).
  fpStart();
  let t: u64 = 0;
  if (dbl) {
    const p0: u64 = (imm & 0x10) != 0 ? fl.fpArith(0x59, dl, sLo, true) : 0;
    const p1: u64 = (imm & 0x20) != 0 ? fl.fpArith(0x59, dh, sHi, true) : 0;
    if (!fl.fpStepEnd(true)) {
      t = fl.fpArith(0x58, p0, p1, true);
      fl.fpStepEnd(false);
    }
  } else {
    const p0: u64 = (imm & 0x10) != 0 ? fl.fpArith(0x59, dl & M32, sLo & M32, false) : 0;
    const p1: u64 = (imm & 0x20) != 0 ? fl.fpArith(0x59, dl >> 32, sLo >> 32, false) : 0;
    const p2: u64 = (imm & 0x40) != 0 ? fl.fpArith(0x59, dh & M32, sHi & M32, false) : 0;
    const p3: u64 = (imm & 0x80) != 0 ? fl.fpArith(0x59, dh >> 32, sHi >> 32, false) : 0;
    if (!fl.fpStepEnd(true)) {
      const t1 = fl.fpArith(0x58, p0, p1, false);
      const t2 = fl.fpArith(0x58, p2, p3, false);
      if (!fl.fpStepEnd(false)) {
        t = fl.fpArith(0x58, t1, t2, false);
        fl.fpStepEnd(false);
      }
    }
  }
  fl.fpStepsDone();
  fpFinish();
  if (dbl) setX(r, (imm & 1) != 0 ? t : 0, (imm & 2) != 0 ? t : 0);
  else {
    const tt = t | (t << 32);
    setX(r, tt & immLanes(imm, 32, 0), tt & immLanes(imm, 32, 2));
  }
}
