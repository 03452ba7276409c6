// Lazy evaluation of the arithmetic flags: an instruction that sets them records the kind of
// operation, its operands and result; CF, PF, AF, ZF, SF and OF are derived only when read.
import { eflags, F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF, F_ARITH } from "./state";
import * as st from "./state";

export const LF_NONE: u32 = 0; // eflags holds the flags
export const LF_ADD: u32 = 1; // ADD, ADC: res = a + b (+ carry)
export const LF_SUB: u32 = 2; // SUB, SBB, CMP, NEG: res = a - b (- borrow)
export const LF_LOGIC: u32 = 3; // AND, OR, XOR, TEST: CF = OF = AF = 0
export const LF_INC: u32 = 4; // like ADD with b = 1, CF kept in eflags
export const LF_DEC: u32 = 5; // like SUB with b = 1, CF kept in eflags

export let lfOp: u32 = LF_NONE;
export let lfA: u64 = 0;
export let lfB: u64 = 0;
export let lfRes: u64 = 0;
/** Index of the sign bit: 7, 15, 31 or 63. */
export let lfTop: u64 = 31;

@inline export function sizeMask(size: u32): u64 {
  return size == 8 ? <u64>0xffffffffffffffff : ((<u64>1 << ((<u64>size) << 3)) - 1);
}

@inline export function setLazy(op: u32, a: u64, b: u64, res: u64, size: u32): void {
  lfOp = op;
  lfA = a;
  lfB = b;
  lfRes = res;
  lfTop = ((<u64>size) << 3) - 1;
}

/** INC and DEC leave CF alone: fold the current CF into eflags before going lazy. */
export function setLazyKeepCF(op: u32, a: u64, res: u64, size: u32): void {
  const cf = getCF();
  st.eflags = (eflags & ~F_CF) | (cf ? F_CF : 0);
  setLazy(op, a, 1, res, size);
}

export function getCF(): bool {
  switch (lfOp) {
    case LF_ADD: return (((lfA & lfB) | ((lfA | lfB) & ~lfRes)) >> lfTop & 1) != 0;
    case LF_SUB: return (((~lfA & lfB) | ((~lfA | lfB) & lfRes)) >> lfTop & 1) != 0;
    case LF_LOGIC: return false;
    default: return (eflags & F_CF) != 0;
  }
}

export function getOF(): bool {
  switch (lfOp) {
    case LF_ADD:
    case LF_INC:
      return (((lfA ^ lfRes) & (lfB ^ lfRes)) >> lfTop & 1) != 0;
    case LF_SUB:
    case LF_DEC:
      return (((lfA ^ lfB) & (lfA ^ lfRes)) >> lfTop & 1) != 0;
    case LF_LOGIC: return false;
    default: return (eflags & F_OF) != 0;
  }
}

export function getAF(): bool {
  switch (lfOp) {
    case LF_NONE: return (eflags & F_AF) != 0;
    case LF_LOGIC: return false;
    default: return ((lfA ^ lfB ^ lfRes) & 0x10) != 0;
  }
}

@inline export function getZF(): bool {
  if (lfOp == LF_NONE) return (eflags & F_ZF) != 0;
  return (lfRes << (63 - lfTop)) == 0;
}

@inline export function getSF(): bool {
  if (lfOp == LF_NONE) return (eflags & F_SF) != 0;
  return ((lfRes >> lfTop) & 1) != 0;
}

@inline export function getPF(): bool {
  if (lfOp == LF_NONE) return (eflags & F_PF) != 0;
  return (popcnt<u32>(<u32>lfRes & 0xff) & 1) == 0;
}

/** EFLAGS with the arithmetic flags materialised. */
export function getEflags(): u32 {
  if (lfOp == LF_NONE) return eflags;
  let f = eflags & ~F_ARITH;
  if (getCF()) f |= F_CF;
  if (getPF()) f |= F_PF;
  if (getAF()) f |= F_AF;
  if (getZF()) f |= F_ZF;
  if (getSF()) f |= F_SF;
  if (getOF()) f |= F_OF;
  return f;
}

/** Replace the six arithmetic flags (eager instructions: shifts, MUL, BT, ...). */
export function setArith(f: u32): void {
  st.eflags = (eflags & ~F_ARITH) | (f & F_ARITH);
  lfOp = LF_NONE;
}

/** Materialise the lazy flags into eflags, leaving the lazy state empty. */
export function flushFlags(): void {
  if (lfOp != LF_NONE) {
    st.eflags = getEflags();
    lfOp = LF_NONE;
  }
}

/** SF, ZF and PF of a result, for eager instructions. */
export function szp(res: u64, size: u32): u32 {
  let f: u32 = 0;
  const m = sizeMask(size);
  if ((res & m) == 0) f |= F_ZF;
  if (((res >> (((<u64>size) << 3) - 1)) & 1) != 0) f |= F_SF;
  if ((popcnt<u32>(<u32>res & 0xff) & 1) == 0) f |= F_PF;
  return f;
}

/** Condition codes 0-15 as in Jcc/SETcc/CMOVcc (SDM Vol. 1 Appendix B). */
export function testCC(cc: u32): bool {
  let r: bool;
  switch (cc >> 1) {
    case 0: r = getOF(); break;
    case 1: r = getCF(); break;
    case 2: r = getZF(); break;
    case 3: r = getCF() || getZF(); break;
    case 4: r = getSF(); break;
    case 5: r = getPF(); break;
    case 6: r = getSF() != getOF(); break;
    default: r = getZF() || (getSF() != getOF()); break;
  }
  return (cc & 1) != 0 ? !r : r;
}
