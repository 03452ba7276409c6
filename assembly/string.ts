// String instructions with REP/REPE/REPNE in every address size (SDM Vol. 2 "MOVS", "REP").
// Registers are updated after every element, so a fault in the middle restarts correctly.
import * as st from "./state";
import { reg64, RAX, RCX, RDX, RSI, RDI, DS, ES, F_DF, F_IF, EV_INTR } from "./state";
import * as d from "./decode";
import { linear, getReg, setReg } from "./access";
import { readLin, writeLin } from "./memory";
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
  while ((reg64(RCX) & am) != 0) {
    element(op, size, step);
    setReg(RCX, d.asz(), (reg64(RCX) - 1) & am);
    if (compares) {
      const zf = getZF();
      if (d.repPrefix() == 0xf3 ? !zf : zf) break;
    }
    // Let a pending interrupt in between elements; the instruction resumes afterwards.
    if ((st.events & EV_INTR) != 0 && (st.eflags & F_IF) != 0 && (reg64(RCX) & am) != 0) {
      st.rip = st.instrStart;
      break;
    }
  }
}


