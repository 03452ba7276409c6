// MMX/SSE2 packed-integer arithmetic on one 64-bit chunk (SDM Vol. 1 §9.4, §11.4.3; Vol. 2 pages
// of each instruction). An XMM operation applies the same function to both 64-bit halves, so the
// MMX and XMM forms share everything here. Lanes are extracted with shifts: no allocation.

// High bit of every lane, for the carry-free add/sub below.
const H8: u64 = 0x8080808080808080;
const H16: u64 = 0x8000800080008000;
const H32: u64 = 0x8000000080000000;

// Wrapping lane add/sub without carries crossing lanes: add the low bits, then fix the top bit.
@inline function addL(a: u64, b: u64, h: u64): u64 { return ((a & ~h) + (b & ~h)) ^ ((a ^ b) & h); }
@inline function subL(a: u64, b: u64, h: u64): u64 { return ((a | h) - (b & ~h)) ^ ((a ^ ~b) & h); }

@inline function sx(x: u64, bits: u64): i64 { return (<i64>(x << (64 - bits))) >> (64 - bits); }

function clampS(v: i64, bits: u64): u64 {
  const hi: i64 = (<i64>1 << <i64>(bits - 1)) - 1;
  const lo: i64 = -hi - 1;
  return <u64>(v > hi ? hi : v < lo ? lo : v);
}

/** Lane width in bits of the lane-wise operations (0: whole-chunk or not a lane op). */
export function laneBits(op: u32): u64 {
  switch (op & 0xff) {
    case 0x64: case 0x74: case 0xd8: case 0xdc: case 0xe8: case 0xec: case 0xda: case 0xde: case 0xe0:
      return 8;
    case 0x65: case 0x75: case 0xd5: case 0xe5: case 0xe4: case 0xd9: case 0xdd: case 0xe9: case 0xed:
    case 0xea: case 0xee: case 0xe3:
      return 16;
    case 0x66: case 0x76:
      return 32;
  }
  return 0;
}

/** One lane of a lane-wise operation; x, y are the zero-extended lanes, the result is masked by the caller. */
function lane(op: u32, x: u64, y: u64, bits: u64): u64 {
  const m: u64 = (<u64>1 << bits) - 1;
  switch (op & 0xff) {
    case 0x64: case 0x65: case 0x66: return sx(x, bits) > sx(y, bits) ? m : 0; // PCMPGT: signed
    case 0x74: case 0x75: case 0x76: return x == y ? m : 0; // PCMPEQ
    case 0xd5: return x * y; // PMULLW: low 16 bits of the product
    case 0xe5: return <u64>((sx(x, 16) * sx(y, 16)) >> 16); // PMULHW
    case 0xe4: return (x * y) >> 16; // PMULHUW
    case 0xd8: case 0xd9: return x > y ? x - y : 0; // PSUBUS: saturate at 0
    case 0xdc: case 0xdd: { const s = x + y; return s > m ? m : s; } // PADDUS
    case 0xe8: case 0xe9: return clampS(sx(x, bits) - sx(y, bits), bits); // PSUBS
    case 0xec: case 0xed: return clampS(sx(x, bits) + sx(y, bits), bits); // PADDS
    case 0xda: return x < y ? x : y; // PMINUB
    case 0xde: return x > y ? x : y; // PMAXUB
    case 0xea: return sx(x, 16) < sx(y, 16) ? x : y; // PMINSW
    case 0xee: return sx(x, 16) > sx(y, 16) ? x : y; // PMAXSW
    default: return (x + y + 1) >> 1; // PAVGB/PAVGW: rounded average of the unsigned lanes
  }
}

/**
 * The operations of the 0F map whose 64-bit halves are independent: returns op(a, b) with a the
 * destination and b the source chunk. `handled` says whether op was one of them.
 */
export let handled: bool = false;
export function chunkOp(op: u32, a: u64, b: u64): u64 {
  handled = true;
  switch (op & 0xff) {
    case 0xfc: return addL(a, b, H8);
    case 0xfd: return addL(a, b, H16);
    case 0xfe: return addL(a, b, H32);
    case 0xd4: return a + b;
    case 0xf8: return subL(a, b, H8);
    case 0xf9: return subL(a, b, H16);
    case 0xfa: return subL(a, b, H32);
    case 0xfb: return a - b;
    case 0xdb: return a & b;
    case 0xdf: return ~a & b; // PANDN inverts the destination
    case 0xeb: return a | b;
    case 0xef: return a ^ b;
    case 0xf4: return (a & 0xffffffff) * (b & 0xffffffff); // PMULUDQ: low dwords, full product
    case 0xf5: { // PMADDWD: signed word pairs multiplied and summed into dwords (wraps only for 4 x -32768)
      let r: u64 = 0;
      for (let s: u64 = 0; s < 64; s += 32) {
        const p0 = sx(a >> s, 16) * sx(b >> s, 16);
        const p1 = sx(a >> (s + 16), 16) * sx(b >> (s + 16), 16);
        r |= (<u64>(p0 + p1) & 0xffffffff) << s;
      }
      return r;
    }
    case 0xf6: { // PSADBW: sum of absolute byte differences into the low word, the rest zero
      let sum: u64 = 0;
      for (let s: u64 = 0; s < 64; s += 8) {
        const x = (a >> s) & 0xff, y = (b >> s) & 0xff;
        sum += x > y ? x - y : y - x;
      }
      return sum;
    }
  }
  const bits = laneBits(op);
  if (bits == 0) {
    handled = false;
    return 0;
  }
  const m: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  for (let s: u64 = 0; s < 64; s += bits) r |= (lane(op, (a >> s) & m, (b >> s) & m, bits) & m) << s;
  return r;
}

/**
 * Shifts by a count (PSRL/PSRA/PSLL W/D/Q). kind: 2 = logical right, 4 = arithmetic right,
 * 6 = left (the ModRM.reg numbers of groups 12-14). Counts past the lane width give 0, or all
 * sign bits for the arithmetic shift (SDM Vol. 2 PSLLW/PSRAW/PSRLW pages).
 */
export function shiftChunk(kind: u32, bits: u64, v: u64, count: u64): u64 {
  if (count >= bits) {
    if (kind != 4) return 0;
    count = bits - 1;
  }
  if (bits == 64) return kind == 2 ? v >> count : v << count;
  const m: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  for (let s: u64 = 0; s < 64; s += bits) {
    const x = (v >> s) & m;
    let y: u64;
    if (kind == 2) y = x >> count;
    else if (kind == 4) y = <u64>(sx(x, bits) >> <i64>count);
    else y = x << count;
    r |= (y & m) << s;
  }
  return r;
}

/** Interleave the low `32 / bits` lanes of the 32-bit values x (even slots) and y (odd slots). */
export function interleave(x: u64, y: u64, bits: u64): u64 {
  if (bits == 32) return (x & 0xffffffff) | (y << 32);
  const m: u64 = (<u64>1 << bits) - 1;
  let r: u64 = 0;
  let o: u64 = 0;
  for (let s: u64 = 0; s < 32; s += bits) {
    r |= ((x >> s) & m) << o;
    r |= ((y >> s) & m) << (o + bits);
    o += bits << 1;
  }
  return r;
}

/**
 * Saturating narrow of the lanes of x into the low half and of y into the high half of the
 * result. op 0x63 PACKSSWB, 0x6b PACKSSDW, 0x67 PACKUSWB (signed source, unsigned result).
 */
export function packChunk(op: u32, x: u64, y: u64): u64 {
  const src: u64 = op == 0x6b ? 32 : 16;
  const dst: u64 = src >> 1;
  const m: u64 = (<u64>1 << src) - 1;
  const dm: u64 = (<u64>1 << dst) - 1;
  let r: u64 = 0;
  let o: u64 = 0;
  for (let k = 0; k < 2; k++) {
    const v = k == 0 ? x : y;
    for (let s: u64 = 0; s < 64; s += src) {
      const e = sx((v >> s) & m, src);
      let n: u64;
      if (op == 0x67) n = e < 0 ? 0 : e > 255 ? 255 : <u64>e;
      else n = clampS(e, dst);
      r |= (n & dm) << o;
      o += dst;
    }
  }
  return r;
}

/** PSHUFW/PSHUFLW/PSHUFHW on one 64-bit chunk: word i of the result is word (imm >> 2i) & 3. */
export function shufWords(v: u64, imm: u32): u64 {
  let r: u64 = 0;
  for (let i: u32 = 0; i < 4; i++) {
    const k = <u64>((imm >> (i << 1)) & 3);
    r |= ((v >> (k << 4)) & 0xffff) << <u64>(i << 4);
  }
  return r;
}

/** Sign bits of the bytes (PMOVMSKB) of one chunk. */
export function byteSigns(v: u64): u32 {
  let r: u32 = 0;
  for (let i: u32 = 0; i < 8; i++) r |= <u32>((v >> <u64>(i * 8 + 7)) & 1) << i;
  return r;
}
