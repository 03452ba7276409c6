// SSSE3: 0F 38 00-0B, 1C-1E and 0F 3A 0F, each with an MMX (no prefix) and an XMM (66) form.
// Written from the SDM Vol. 2 pages PSHUFB, PHADDW/PHADDD, PHADDSW, PMADDUBSW, PHSUBW/PHSUBD,
// PHSUBSW, PSIGNB/PSIGNW/PSIGND, PMULHRSW, PABSB/PABSW/PABSD/PABSQ and PALIGNR. The lane-wise
// operations work on one 64-bit chunk (an XMM operation applies them to both halves); the
// horizontal ones fold a chunk's adjacent lane pairs into 32 bits. No allocation.
import * as d from "./decode";
import { xmm, sLo, sHi, srcX, srcM, setX, getMm, setMm, mmReg, mmRm } from "./sse";

@inline function sx(x: u64, bits: u64): i64 { return (<i64>(x << (64 - bits))) >> (64 - bits); }
@inline function satW(v: i64): u64 { return <u64>(v > 32767 ? 32767 : v < -32768 ? -32768 : v) & 0xffff; }

/** Lane width in bits of the PSIGN/PABS forms (opcode low byte 08-0A, 1C-1E). */
@inline function signBits(k: u32): u64 { return <u64>8 << <u64>(k & 3); }
@inline function absBits(k: u32): u64 { return <u64>8 << <u64>(k - 0x1c); }

/**
 * The lane-wise SSSE3 operations on one chunk: a is the destination, b the source.
 * 04 PMADDUBSW (unsigned destination bytes times signed source bytes, pairs summed with signed
 * saturation), 08-0A PSIGNB/W/D (negate, zero or keep by the source's sign), 0B PMULHRSW
 * (bits 16:1 of the product plus 2^14), 1C-1E PABSB/W/D (of the source; the most negative
 * value stays itself, read as unsigned).
 */
export function ssse3Chunk(k: u32, a: u64, b: u64): u64 {
  let r: u64 = 0;
  switch (k) {
    case 0x04:
      for (let s: u64 = 0; s < 64; s += 16) {
        const p0 = <i64>((a >> s) & 0xff) * sx(b >> s, 8);
        const p1 = <i64>((a >> (s + 8)) & 0xff) * sx(b >> (s + 8), 8);
        r |= satW(p0 + p1) << s;
      }
      return r;
    case 0x0b:
      for (let s: u64 = 0; s < 64; s += 16) {
        const t = (sx(a >> s, 16) * sx(b >> s, 16)) >> 14;
        r |= (<u64>((t + 1) >> 1) & 0xffff) << s;
      }
      return r;
    case 0x08: case 0x09: case 0x0a: {
      const bits = signBits(k);
      const m: u64 = (<u64>1 << bits) - 1;
      for (let s: u64 = 0; s < 64; s += bits) {
        const y = sx(b >> s, bits);
        const x = (a >> s) & m;
        const v: u64 = y < 0 ? 0 - x : y == 0 ? 0 : x;
        r |= (v & m) << s;
      }
      return r;
    }
  }
  // 1C-1E: PABSB/W/D
  const bits = absBits(k);
  const m: u64 = (<u64>1 << bits) - 1;
  for (let s: u64 = 0; s < 64; s += bits) {
    const y = sx(b >> s, bits);
    r |= (<u64>(y < 0 ? -y : y) & m) << s;
  }
  return r;
}

/**
 * Horizontal add/subtract of one chunk's adjacent lane pairs (lower lane first), packed into 32
 * bits: 01 PHADDW, 02 PHADDD, 03 PHADDSW (signed saturation), 05 PHSUBW, 06 PHSUBD, 07 PHSUBSW.
 */
export function hChunk(k: u32, v: u64): u64 {
  const sub = k >= 5;
  if (k == 2 || k == 6) {
    const x = v & 0xffffffff, y = v >> 32;
    return (sub ? x - y : x + y) & 0xffffffff;
  }
  let r: u64 = 0;
  for (let s: u64 = 0; s < 32; s += 16) {
    const x = sx(v >> (s << 1), 16), y = sx(v >> ((s << 1) + 16), 16);
    const t = sub ? x - y : x + y;
    r |= (k == 3 || k == 7 ? satW(t) : <u64>t & 0xffff) << s;
  }
  return r;
}

// PSHUFB/PALIGNR read bytes of the operands by index: the operands are kept here.
let xLo: u64 = 0, xHi: u64 = 0, yLo: u64 = 0, yHi: u64 = 0;
/** Byte i of the 256-bit value yHi:yLo:xHi:xLo (x the low 128 bits); 0 past the end. */
@inline function byteAt(i: u32): u64 {
  if (i >= 32) return 0;
  const q = i >= 16 ? (i >= 24 ? yHi : yLo) : (i >= 8 ? xHi : xLo);
  return (q >> <u64>((i & 7) << 3)) & 0xff;
}

/** PSHUFB: byte i of the result is 0 if bit 7 of control byte i is set, else the selected byte of the destination. */
function pshufb(ctl: u64, indexMask: u32): u64 {
  let r: u64 = 0;
  for (let i: u64 = 0; i < 64; i += 8) {
    const c = <u32>(ctl >> i) & 0xff;
    if ((c & 0x80) == 0) r |= byteAt(c & indexMask) << i;
  }
  return r;
}

/** PALIGNR: 8 result bytes from byte n + first on of the concatenation (destination high, source low). */
function alignBytes(n: u32, first: u32): u64 {
  let r: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) r |= byteAt(n + first + i) << <u64>(i << 3);
  return r;
}

/** k: opcode low byte; `three`: the 0F 3A map (PALIGNR). */
export function ssse3Mmx(k: u32, three: bool): void {
  const r = mmReg();
  const a = getMm(r);
  const b = srcM();
  if (three) { // PALIGNR mm, mm/m64, imm8: (a:b) >> 8 * imm8, low 64 bits
    xLo = b; xHi = a; yLo = 0; yHi = 0;
    const n = <u32>d.imm() & 0xff;
    setMm(r, n >= 16 ? 0 : alignBytes(n, 0));
    return;
  }
  switch (k) {
    case 0x00:
      xLo = a; xHi = 0; yLo = 0; yHi = 0;
      setMm(r, pshufb(b, 7));
      return;
    case 0x01: case 0x02: case 0x03: case 0x05: case 0x06: case 0x07:
      setMm(r, hChunk(k, a) | (hChunk(k, b) << 32));
      return;
  }
  setMm(r, ssse3Chunk(k, a, b));
}

export function ssse3Xmm(k: u32, three: bool): void {
  const r = d.modrmReg();
  const p = xmm(r);
  srcX(true);
  const aLo = load<u64>(p), aHi = load<u64>(p + 8);
  if (three) { // PALIGNR xmm, xmm/m128, imm8: (a:b) >> 8 * imm8, low 128 bits
    xLo = sLo; xHi = sHi; yLo = aLo; yHi = aHi;
    const n = <u32>d.imm() & 0xff;
    if (n >= 32) setX(r, 0, 0);
    else setX(r, alignBytes(n, 0), alignBytes(n, 8));
    return;
  }
  switch (k) {
    case 0x00:
      xLo = aLo; xHi = aHi; yLo = 0; yHi = 0;
      setX(r, pshufb(sLo, 15), pshufb(sHi, 15));
      return;
    case 0x01: case 0x02: case 0x03: case 0x05: case 0x06: case 0x07:
      setX(r, hChunk(k, aLo) | (hChunk(k, aHi) << 32), hChunk(k, sLo) | (hChunk(k, sHi) << 32));
      return;
  }
  setX(r, ssse3Chunk(k, aLo, sLo), ssse3Chunk(k, aHi, sHi));
}

/** Is 0F 38 k an SSSE3 opcode? */
export function isSsse3(k: u32): bool {
  return k <= 0x0b || (k >= 0x1c && k <= 0x1e);
}
