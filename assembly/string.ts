// String instructions with REP/REPE/REPNE in every address size (SDM Vol. 2 "MOVS", "REP").
// Registers are updated after every element, so a fault in the middle restarts correctly.
import * as st from "./state";
import { reg64, RAX, RCX, RDX, RSI, RDI, DS, ES, F_DF, F_IF, EV_INTR } from "./state";
import * as d from "./decode";
import { linear, getReg, setReg } from "./access";
import { readLin, writeLin, hostRange } from "./memory";
import { alu } from "./alu";
import { getZF, sizeMask } from "./flags";
import { hostPortRead, hostPortWrite } from "./host";
import { ioPermitted } from "./transfer";

@inline function advance(r: u32, delta: u64): void {
  const m = sizeMask(d.asz());
  setReg(r, d.asz(), (reg64(r) + delta) & m);
}

/** One element of the string operation `op`; returns false when REPE/REPNE should stop. */
function element(op: u32, size: u32, step: u64): bool {
  const am = sizeMask(d.asz());
  const srcSeg: u32 = d.segOverride() >= 0 ? <u32>d.segOverride() : DS;
  switch (op) {
    case 0xa4: case 0xa5: { // MOVS
      const v = readLin(linear(srcSeg, reg64(RSI) & am, size, false), size);
      writeLin(linear(ES, reg64(RDI) & am, size, true), size, v);
      advance(RSI, step);
      advance(RDI, step);
      return true;
    }
    case 0xa6: case 0xa7: { // CMPS
      const a = readLin(linear(srcSeg, reg64(RSI) & am, size, false), size);
      const b = readLin(linear(ES, reg64(RDI) & am, size, false), size);
      alu(7, a, b, size);
      advance(RSI, step);
      advance(RDI, step);
      return false;
    }
    case 0xaa: case 0xab: // STOS
      writeLin(linear(ES, reg64(RDI) & am, size, true), size, reg64(RAX));
      advance(RDI, step);
      return true;
    case 0xac: case 0xad: { // LODS
      const v = readLin(linear(srcSeg, reg64(RSI) & am, size, false), size);
      setReg(RAX, size, v);
      advance(RSI, step);
      return true;
    }
    case 0xae: case 0xaf: { // SCAS
      const b = readLin(linear(ES, reg64(RDI) & am, size, false), size);
      alu(7, getReg(RAX, size), b, size);
      advance(RDI, step);
      return false;
    }
    case 0x6c: case 0x6d: { // INS
      const port = <u32>reg64(RDX) & 0xffff;
      ioPermitted(port, size);
      const lin = linear(ES, reg64(RDI) & am, size, true);
      const v = hostPortRead(port, size);
      writeLin(lin, size, <u64>v);
      advance(RDI, step);
      return true;
    }
    default: { // OUTS
      const port = <u32>reg64(RDX) & 0xffff;
      ioPermitted(port, size);
      const v = readLin(linear(srcSeg, reg64(RSI) & am, size, false), size);
      hostPortWrite(port, size, <u32>v & <u32>sizeMask(size));
      advance(RSI, step);
      return true;
    }
  }
}

/**
 * One run of REP MOVS/STOS going up (DF = 0) with 32- or 64-bit addresses: the elements that lie
 * on the current page of the destination (and of the source), at once, when the TLB already
 * allows plain access to all of them (no MMIO, no code, dirty) and the segment checks pass for
 * the first and the last. Registers end as after that many single elements. Returns false when
 * there was no such run (the caller does one element the normal way, which fills the TLB or faults).
 */
function bulk(op: u32, size: u32): bool {
  const asz = d.asz();
  if (asz == 2 || (st.eflags & F_DF) != 0) return false;
  const am = sizeMask(asz);
  const movs = op == 0xa4 || op == 0xa5;
  const count = reg64(RCX) & am;
  const di = reg64(RDI) & am;
  const si = reg64(RSI) & am;
  let n: u64 = (<u64>0x1000 - (di & 0xfff)) / <u64>size;
  if (movs) {
    const ns = (<u64>0x1000 - (si & 0xfff)) / <u64>size;
    if (ns < n) n = ns;
  }
  if (n > count) n = count;
  const bytes = n * <u64>size;
  if (n < 2 || di + bytes - 1 > am || (movs && si + bytes - 1 > am)) return false;
  const dst = linear(ES, di, size, true);
  linear(ES, di + bytes - size, size, true);
  const hd = hostRange(dst, <u32>bytes, true);
  if (hd == 0) return false;
  if (movs) {
    const srcSeg: u32 = d.segOverride() >= 0 ? <u32>d.segOverride() : DS;
    const src = linear(srcSeg, si, size, false);
    linear(srcSeg, si + bytes - size, size, false);
    const hs = hostRange(src, <u32>bytes, false);
    // A forward copy into a range just ahead of its source repeats a pattern: not a memmove.
    if (hs == 0 || (hd > hs && hd < hs + <u32>bytes)) return false;
    memory.copy(hd, hs, <u32>bytes);
    setReg(RSI, asz, (si + bytes) & am);
  } else {
    const v = reg64(RAX);
    const end = hd + <u32>bytes;
    if (size == 1) memory.fill(hd, <u8>v, <u32>bytes);
    else if (size == 2) for (let p = hd; p < end; p += 2) store<u16>(p, <u16>v);
    else if (size == 4) for (let p = hd; p < end; p += 4) store<u32>(p, <u32>v);
    else for (let p = hd; p < end; p += 8) store<u64>(p, v);
  }
  setReg(RDI, asz, (di + bytes) & am);
  setReg(RCX, asz, (count - n) & am);
  return true;
}

export function stringOp(op: u32): void {
  // Even opcodes are byte forms, odd ones use the operand size; INS/OUTS are capped at 32 bits.
  let size: u32 = (op & 1) == 0 ? 1 : d.osz();
  if ((op == 0x6d || op == 0x6f) && size == 8) size = 4;
  const step: u64 = (st.eflags & F_DF) != 0 ? <u64>(0 - <i64>size) : <u64>size;
  if (d.repPrefix() == 0) {
    element(op, size, step);
    return;
  }
  const compares = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
  const am = sizeMask(d.asz());
  const runs = op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab;
  while ((reg64(RCX) & am) != 0) {
    if (!runs || !bulk(op, size)) {
      element(op, size, step);
      setReg(RCX, d.asz(), (reg64(RCX) - 1) & am);
      if (compares) {
        const zf = getZF();
        if (d.repPrefix() == 0xf3 ? !zf : zf) break;
      }
    }
    // Let a pending interrupt in between elements; the instruction resumes afterwards.
    if ((st.events & EV_INTR) != 0 && (st.eflags & F_IF) != 0 && (reg64(RCX) & am) != 0) {
      st.rip = st.instrStart;
      break;
    }
  }
}


