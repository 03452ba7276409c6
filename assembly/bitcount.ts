// Integer extensions on general-purpose registers: POPCNT (F3 0F B8), TZCNT (F3 0F BC), LZCNT
// (F3 0F BD), MOVBE (0F 38 F0/F1) and CRC32 (F2 0F 38 F0/F1), each as described on its page of
// SDM Vol. 2. Without the F3 prefix 0F BC/BD stay BSF/BSR (execute.ts); 0F B8 without F3 is #UD
// (JMPE exists only on Itanium).
import * as d from "./decode";
import { readE, writeE, readG, writeG } from "./access";
import { raiseUD } from "./fault";
import { setArith, getEflags } from "./flags";
import { F_CF, F_ZF, F_OF, F_SF, F_AF, F_PF } from "./state";

/**
 * POPCNT (SDM Vol. 2B "POPCNT"): OF, SF, ZF, AF, CF and PF are cleared, then ZF is set if the
 * source is 0.
 */
export function popcntOp(): void {
  if (d.repPrefix() != 0xf3) raiseUD();
  const size = d.osz();
  const v = readE(size);
  writeG(size, <u64>popcnt<u64>(v));
  setArith(v == 0 ? F_ZF : 0);
}

/**
 * TZCNT and LZCNT (SDM Vol. 2B "TZCNT", Vol. 2A "LZCNT"): the count of trailing/leading zero
 * bits, the operand size in bits for a zero source. CF = 1 for a zero source, ZF = 1 for a zero
 * result; OF, SF, AF and PF are undefined (left unchanged here, apart from being materialised).
 */
export function zeroCountOp(leading: bool): void {
  const size = d.osz();
  const bits: u64 = (<u64>size) << 3;
  const v = readE(size);
  let r: u64;
  if (v == 0) r = bits;
  else if (leading) r = <u64>clz<u64>(v) - (64 - bits);
  else r = <u64>ctz<u64>(v);
  writeG(size, r);
  const keep = getEflags() & (F_OF | F_SF | F_AF | F_PF);
  setArith(keep | (v == 0 ? F_CF : 0) | (r == 0 ? F_ZF : 0));
}

/**
 * MOVBE (SDM Vol. 2B "MOVBE"): a load (0F 38 F0) or store (0F 38 F1) with the bytes reversed;
 * a register operand in ModRM.rm is #UD, as is an F3 prefix. Flags are not affected.
 */
export function movbeOp(store: bool): void {
  if (d.eaIsReg() || d.repPrefix() == 0xf3) raiseUD();
  const size = d.osz();
  if (store) writeE(size, swapBytes(readG(size), size));
  else writeG(size, swapBytes(readE(size), size));
}

@inline function swapBytes(v: u64, size: u32): u64 {
  if (size == 2) return <u64>bswap<u16>(<u16>v);
  if (size == 4) return <u64>bswap<u32>(<u32>v);
  return bswap<u64>(v);
}

// CRC-32C (Castagnoli), polynomial 11EDC6F41H, computed bit-reflected as in the pseudo-code of
// SDM Vol. 2A "CRC32": reflecting source, destination and result is the same as shifting right
// through the reflected polynomial 82F63B78H, one source byte at a time from the lowest.
const CRC32C_REFLECTED: u32 = 0x82f63b78;

function crc32cBytes(crc: u32, v: u64, n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) {
    crc ^= <u32>(v >> (<u64>i << 3)) & 0xff;
    for (let k = 0; k < 8; k++) crc = (crc >> 1) ^ (CRC32C_REFLECTED & (0 - (crc & 1)));
  }
  return crc;
}

/**
 * CRC32 (SDM Vol. 2A "CRC32"): F2 0F 38 F0 takes an 8-bit source, F2 0F 38 F1 a 16-, 32- or
 * 64-bit one (66 / none / REX.W). The destination is 32 bits, or 64 with REX.W whose upper half
 * is cleared. Flags are not affected.
 */
export function crc32Op(wide: bool): void {
  const n: u32 = wide ? d.osz() : 1;
  const src = readE(n);
  const crc = crc32cBytes(<u32>readG(4), src, n);
  writeG(d.rexW() ? 8 : 4, <u64>crc);
}
