// SSE4.2 packed string compares, 66 0F 3A 60-63: PCMPESTRM, PCMPESTRI, PCMPISTRM, PCMPISTRI.
// Written from the SDM Vol. 2 §4.1 (imm8 control byte operation) and the four instruction pages.
//   imm8[1:0]  source format: 00 unsigned bytes, 01 unsigned words, 10 signed bytes, 11 signed words
//   imm8[3:2]  aggregation: 00 equal any, 01 ranges, 10 equal each, 11 equal ordered
//   imm8[5:4]  polarity: 00/10 positive, 01 negative, 11 masked negative (only the valid
//              elements of the second operand are inverted)
//   imm8[6]    output: index forms, 0 the least and 1 the most significant set bit of IntRes2;
//              mask forms, 0 IntRes2 zero-extended into XMM0, 1 IntRes2 expanded to byte/word lanes
// The first operand (the ModRM reg XMM register) is the "set", "ranges" or "needle"; the second
// (XMM register or m128, any alignment) is the string examined. Valid lengths: the explicit forms
// take |EAX| and |EDX| (|RAX| and |RDX| with REX.W) saturated at the element count; the implicit
// forms stop at the first null element. Elements past a length are invalid, and the pair results
// are then forced as in SDM Table 4-3 before aggregation.
// Flags: CF = IntRes2 != 0, ZF = second operand shorter than the element count, SF = first operand
// shorter, OF = IntRes2[0]; AF and PF cleared. Index forms write ECX (RCX upper half zeroed): the
// selected bit's position, or the element count when IntRes2 is 0.
// No allocation: the elements are unpacked into two static 16-slot arrays.
import * as d from "./decode";
import { getReg, setReg } from "./access";
import { setArith } from "./flags";
import { F_CF, F_ZF, F_SF, F_OF } from "./state";
import { xmm, sLo, sHi, srcX, setX } from "./sse";

// Elements of the first (EA) and second (EB) operand, as i32 (sign- or zero-extended).
const EA: usize = memory.data(64, 16);
const EB: usize = memory.data(64, 16);

/** Unpack the 16 bytes (lo, hi) into 16 byte or 8 word elements at `to`. */
function unpack(to: usize, lo: u64, hi: u64, words: bool, signed: bool): void {
  if (words) {
    for (let i: u32 = 0; i < 8; i++) {
      const w = <u32>(((i < 4 ? lo : hi) >> <u64>((i & 3) << 4)) & 0xffff);
      store<i32>(to + (<usize>i << 2), signed ? <i32><i16>w : <i32>w);
    }
  } else {
    for (let i: u32 = 0; i < 16; i++) {
      const b = <u32>(((i < 8 ? lo : hi) >> <u64>((i & 7) << 3)) & 0xff);
      store<i32>(to + (<usize>i << 2), signed ? <i32><i8>b : <i32>b);
    }
  }
}
@inline function el(at: usize, i: u32): i32 { return load<i32>(at + (<usize>i << 2)); }

/** Explicit length from register r (EAX = 0, EDX = 2): its absolute value, at most n. */
function explicitLen(r: u32, n: u32): u32 {
  let v: i64 = d.rexW() ? <i64>getReg(r, 8) : <i64><i32>getReg(r, 4);
  if (v < 0) v = -v;
  // -(2^63) stays negative: its magnitude is past n as well.
  return v < 0 || v > <i64>n ? n : <u32>v;
}
/** Implicit length: the index of the first null element, or n. */
function implicitLen(at: usize, n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) if (el(at, i) == 0) return i;
  return n;
}

/** k: 0x60 PCMPESTRM, 0x61 PCMPESTRI, 0x62 PCMPISTRM, 0x63 PCMPISTRI. */
export function pcmpStr(k: u32, imm: u32): void {
  const a = xmm(d.modrmReg());
  const aLo = load<u64>(a), aHi = load<u64>(a + 8);
  srcX(false);
  const words = (imm & 1) != 0;
  const signed = (imm & 2) != 0;
  const n: u32 = words ? 8 : 16;
  unpack(EA, aLo, aHi, words, signed);
  unpack(EB, sLo, sHi, words, signed);
  let la: u32, lb: u32;
  if ((k & 2) == 0) {
    la = explicitLen(0, n);
    lb = explicitLen(2, n);
  } else {
    la = implicitLen(EA, n);
    lb = implicitLen(EB, n);
  }

  // IntRes1: bit j for element j of the second operand.
  let res: u32 = 0;
  switch ((imm >> 2) & 3) {
    case 0: // equal any: b[j] equals some valid a[i]
      for (let j: u32 = 0; j < lb; j++) {
        const b = el(EB, j);
        for (let i: u32 = 0; i < la; i++) {
          if (el(EA, i) == b) { res |= <u32>1 << j; break; }
        }
      }
      break;
    case 1: // ranges: a[i] <= b[j] <= a[i+1] for some pair with both bounds valid
      for (let j: u32 = 0; j < lb; j++) {
        const b = el(EB, j);
        for (let i: u32 = 0; i + 1 < la; i += 2) {
          if (b >= el(EA, i) && b <= el(EA, i + 1)) { res |= <u32>1 << j; break; }
        }
      }
      break;
    case 2: // equal each: both invalid counts as a match, one invalid as a mismatch
      for (let i: u32 = 0; i < n; i++) {
        const va = i < la, vb = i < lb;
        if (va && vb ? el(EA, i) == el(EB, i) : !va && !vb) res |= <u32>1 << i;
      }
      break;
    default: // equal ordered: the valid part of a occurs in b at position j
      for (let j: u32 = 0; j < n; j++) {
        let m = true;
        for (let i: u32 = 0; i < n - j && i < la; i++) {
          if (j + i >= lb || el(EA, i) != el(EB, j + i)) { m = false; break; }
        }
        if (m) res |= <u32>1 << j;
      }
      break;
  }

  // IntRes2: the polarity.
  const all: u32 = (<u32>1 << n) - 1;
  const pol = (imm >> 4) & 3;
  if (pol == 1) res ^= all;
  else if (pol == 3) res ^= (<u32>1 << lb) - 1;

  setArith((res != 0 ? F_CF : 0) | (lb < n ? F_ZF : 0) | (la < n ? F_SF : 0) | ((res & 1) != 0 ? F_OF : 0));

  if ((k & 1) != 0) {
    const idx: u32 = res == 0 ? n : (imm & 0x40) != 0 ? 31 - clz<u32>(res) : ctz<u32>(res);
    setReg(1, 4, <u64>idx);
    return;
  }
  if ((imm & 0x40) == 0) {
    setX(0, <u64>res, 0);
    return;
  }
  // Expanded mask: each IntRes2 bit fills its byte or word lane.
  let lo: u64 = 0, hi: u64 = 0;
  const half = n >> 1;
  const lane: u64 = words ? 0xffff : 0xff;
  const sh: u64 = words ? 16 : 8;
  for (let i: u32 = 0; i < n; i++) {
    if (((res >> i) & 1) == 0) continue;
    if (i < half) lo |= lane << (<u64>i * sh);
    else hi |= lane << (<u64>(i - half) * sh);
  }
  setX(0, lo, hi);
}
