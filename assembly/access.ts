// Segmented memory access and operand helpers: segment checks (SDM Vol. 3A §5.3-5.6), ModRM
// operands, and the stack.
import * as st from "./state";
import {
  mode, MODE_LONG, MODE_PROT, MODE_COMPAT, SS, FS, RSP, segBase, segLimit, segFlags, segFast, reg64, setReg64,
  DESC_P, DESC_TYPE_CODE, DESC_TYPE_RW, DESC_TYPE_EC, DESC_DB, DESC_S,
} from "./state";
import { raise, EXC_GP, EXC_SS, EXC_AC } from "./fault";
import { readLin, writeLin, readLin8, readLin16, readLin32, readLin64, probeWrite, isCanonical } from "./memory";
import * as d from "./decode";
import { sizeMask } from "./flags";

function segFault(seg: u32): void {
  raise(seg == SS ? EXC_SS : EXC_GP, 0);
}

/** Linear address of seg:off for an access of `size` bytes, after the segment and alignment checks. */
@inline export function linear(seg: u32, off: u64, size: u32, write: bool): u64 {
  // The common case inline: 64-bit mode, a segment without a base, no alignment checking.
  if (mode == MODE_LONG && seg < FS && !st.alignCheck && isCanonical(off)) return off;
  return linearChecked(seg, off, size, write);
}

function linearChecked(seg: u32, off: u64, size: u32, write: bool): u64 {
  const lin = segmentLinear(seg, off, size, write);
  if (st.alignCheck && (lin & <u64>(size - 1)) != 0) raise(EXC_AC, 0);
  return lin;
}

function segmentLinear(seg: u32, off: u64, size: u32, write: bool): u64 {
  if (mode == MODE_LONG) {
    const lin = seg >= FS ? segBase(seg) + off : off;
    if (!isCanonical(lin)) segFault(seg == SS ? SS : 0);
    return lin;
  }
  if ((segFast(seg) & (write ? 2 : 1)) != 0) {
    if (off + <u64>(size - 1) > <u64>segLimit(seg)) segFault(seg);
    return (segBase(seg) + off) & 0xffffffff;
  }
  const f = segFlags(seg);
  if (mode == MODE_PROT || mode == MODE_COMPAT) {
    // Null or unusable segment, or wrong type for the access.
    if ((f & DESC_P) == 0) segFault(seg);
    if (write) {
      if ((f & DESC_TYPE_CODE) != 0 || (f & DESC_TYPE_RW) == 0) segFault(seg);
    } else if ((f & (DESC_TYPE_CODE | DESC_TYPE_RW)) == DESC_TYPE_CODE) segFault(seg);
  }
  const limit = <u64>segLimit(seg);
  const last = off + <u64>(size - 1);
  if ((f & (DESC_TYPE_EC | DESC_TYPE_CODE | DESC_S)) == (DESC_TYPE_EC | DESC_S)) {
    // Expand-down data segment: valid offsets are limit+1 .. 0xffff or 0xffffffff.
    const upper: u64 = (f & DESC_DB) != 0 ? 0xffffffff : 0xffff;
    if (off <= limit || last > upper) segFault(seg);
  } else if (last > limit) segFault(seg);
  return (segBase(seg) + off) & 0xffffffff;
}

export function readMem(seg: u32, off: u64, size: u32): u64 {
  return readLin(linear(seg, off, size, false), size);
}
export function writeMem(seg: u32, off: u64, size: u32, v: u64): void {
  writeLin(linear(seg, off, size, true), size, v);
}
export function readMem8(seg: u32, off: u64): u32 {
  return readLin8(linear(seg, off, 1, false));
}
export function readMem16(seg: u32, off: u64): u32 {
  return readLin16(linear(seg, off, 2, false));
}
export function readMem32(seg: u32, off: u64): u32 {
  return readLin32(linear(seg, off, 4, false));
}
export function readMem64(seg: u32, off: u64): u64 {
  return readLin64(linear(seg, off, 8, false));
}

// --- registers by operand size ---

/** 8-bit register r (0-15): without REX, 4-7 are AH, CH, DH, BH. */
export function getReg8(r: u32): u32 {
  if (r >= 4 && r < 8 && d.rex() == 0) return <u32>load<u8>(<usize>(0x1000 + ((r - 4) << 3) + 1));
  return <u32>load<u8>(<usize>(0x1000 + (r << 3)));
}
export function setReg8(r: u32, v: u32): void {
  if (r >= 4 && r < 8 && d.rex() == 0) store<u8>(<usize>(0x1000 + ((r - 4) << 3) + 1), <u8>v);
  else store<u8>(<usize>(0x1000 + (r << 3)), <u8>v);
}
export function getReg(r: u32, size: u32): u64 {
  switch (size) {
    case 1: return <u64>getReg8(r);
    case 2: return reg64(r) & 0xffff;
    case 4: return reg64(r) & 0xffffffff;
    default: return reg64(r);
  }
}
export function setReg(r: u32, size: u32, v: u64): void {
  switch (size) {
    case 1: setReg8(r, <u32>v); break;
    case 2: st.setReg16(r, <u32>v); break;
    case 4: setReg64(r, v & 0xffffffff); break;
    default: setReg64(r, v); break;
  }
}

// --- ModRM operands ---

/** Linear address of the ModRM memory operand. */
@inline export function eaLinear(size: u32, write: bool): u64 {
  return linear(d.eaSeg(), d.eaOff, size, write);
}
export function readE(size: u32): u64 {
  if (d.eaIsReg()) return getReg(d.modrmRm(), size);
  return readLin(linear(d.eaSeg(), d.eaOff, size, false), size);
}
export function writeE(size: u32, v: u64): void {
  if (d.eaIsReg()) setReg(d.modrmRm(), size, v);
  else writeLin(linear(d.eaSeg(), d.eaOff, size, true), size, v);
}
/** Read a read-modify-write operand, checking up front that it can be written back. */
let rmwLin: u64 = 0;
export function readRmw(size: u32): u64 {
  if (d.eaIsReg()) return getReg(d.modrmRm(), size);
  rmwLin = linear(d.eaSeg(), d.eaOff, size, true);
  probeWrite(rmwLin, size);
  return readLin(rmwLin, size);
}
export function writeRmw(size: u32, v: u64): void {
  if (d.eaIsReg()) setReg(d.modrmRm(), size, v);
  else writeLin(rmwLin, size, v);
}
@inline export function readG(size: u32): u64 {
  return getReg(d.modrmReg(), size);
}
@inline export function writeG(size: u32, v: u64): void {
  setReg(d.modrmReg(), size, v);
}

// --- the stack ---

@inline function spMask(): u64 {
  return sizeMask(st.stackSize);
}

/** Address of the stack slot `delta` bytes from RSP (negative: below). */
export function stackLinear(delta: i64, size: u32, write: bool): u64 {
  const sp = (reg64(RSP) + <u64>delta) & spMask();
  return linear(SS, sp, size, write);
}

export function setSp(v: u64): void {
  const s = st.stackSize;
  if (s == 8) setReg64(RSP, v);
  else if (s == 4) setReg64(RSP, v & 0xffffffff);
  else st.setReg16(RSP, <u32>v);
}

export function push(v: u64, size: u32): void {
  const lin = stackLinear(-<i64>size, size, true);
  writeLin(lin, size, v);
  setSp(reg64(RSP) - size);
}
export function pop(size: u32): u64 {
  const v = readLin(stackLinear(0, size, false), size);
  setSp(reg64(RSP) + size);
  return v;
}
/** Read the stack `delta` bytes above RSP without popping (far returns, IRET). */
export function peek(delta: u32, size: u32): u64 {
  return readLin(stackLinear(<i64>delta, size, false), size);
}
