// Specialised handlers for the most frequent instruction forms. At decode time specialize()
// picks one for a record when the form allows it (register or simple memory operands, a fixed
// operand size, no prefixes that change the meaning); the executor then runs it without the
// generic operand decoding and size switches. Everything else keeps the opcode as its handler.
import * as st from "./state";
import { REGS } from "./layout";
import { mode, MODE_LONG, CS, SS, RAX, RDX, RSP, RCX, reg64, setReg64 } from "./state";
import { setLazyKeepCF, testCC, LF_INC, LF_DEC } from "./flags";
import { linear } from "./access";
import { aluInline, shiftArith, imulTrunc, mulHiU, mulHiS, setMulFlags } from "./alu";
import { readLin8, readLin16, readLin32, readLin64, writeLin8, writeLin16, writeLin32, writeLin64, probeWrite } from "./memory";
import { raise, EXC_GP } from "./fault";
import * as d from "./decode";

export const H_ALU_RR32: u32 = 0x400; // + ALU number: dst = rm, src = reg
export const H_ALU_RR64: u32 = 0x408;
export const H_ALU_RI32: u32 = 0x410; // dst = rm, src = imm
export const H_ALU_RI64: u32 = 0x418;
export const H_MOV_RR32: u32 = 0x420;
export const H_MOV_RR64: u32 = 0x421;
export const H_LOAD32: u32 = 0x422; // reg <- [ea]
export const H_LOAD64: u32 = 0x423;
export const H_STORE32: u32 = 0x424; // [ea] <- reg
export const H_STORE64: u32 = 0x425;
export const H_INC32: u32 = 0x426; // register in rm
export const H_DEC32: u32 = 0x427;
export const H_INC64: u32 = 0x428;
export const H_DEC64: u32 = 0x429;
export const H_JCC: u32 = 0x42a; // condition in the opcode's low nibble
export const H_PUSH64: u32 = 0x42b; // register in rm
export const H_POP64: u32 = 0x42c;
export const H_PUSH32: u32 = 0x42d;
export const H_POP32: u32 = 0x42e;
export const H_MOV_RI32: u32 = 0x42f;
export const H_MOV_RI64: u32 = 0x430;
export const H_LEA32: u32 = 0x431;
export const H_LEA64: u32 = 0x432;
export const H_JMP: u32 = 0x433;
export const H_CALL: u32 = 0x434; // E8 with operand size = stack width
export const H_RET: u32 = 0x435; // C3 with operand size = stack width
export const H_TEST_RR32: u32 = 0x436; // dst = rm, src = reg
export const H_TEST_RR64: u32 = 0x437;
export const H_ALU_LOAD32: u32 = 0x438; // + ALU number: reg = reg op [ea]
export const H_ALU_LOAD64: u32 = 0x440;
export const H_ALU_MEM32: u32 = 0x448; // + ALU number: [ea] = [ea] op reg
export const H_ALU_MEM64: u32 = 0x450;
export const H_MOVZX8_LOAD: u32 = 0x458; // reg32 <- zero-extended byte [ea]
export const H_JMP_IND: u32 = 0x459; // JMP r/m with operand size = 4 (legacy) or 8 (64-bit)
export const H_SHIFT_RI32: u32 = 0x45a; // SHL/SHR/SAL/SAR register by imm8 (C1) or by 1 (D1, imm = 1); kind in reg
export const H_SHIFT_RI64: u32 = 0x45b;
export const H_SHIFT_CL32: u32 = 0x45c; // the same by CL (D3)
export const H_SHIFT_CL64: u32 = 0x45d;
export const H_MOVZX8_RR: u32 = 0x45e; // reg32 <- byte register at host address imm2
export const H_MOVZX16_RR: u32 = 0x45f; // reg32 <- rm16
export const H_MOVZX16_LOAD: u32 = 0x460; // reg32 <- zero-extended word [ea]
export const H_MOVSXD_RR: u32 = 0x461; // reg64 <- sign-extended rm32 (63 in 64-bit mode, REX.W)
export const H_MOVSXD_LOAD: u32 = 0x462;
export const H_IMUL_RR32: u32 = 0x463; // reg = reg * rm (0F AF)
export const H_IMUL_RR64: u32 = 0x464;
export const H_IMUL_LOAD32: u32 = 0x465; // reg = reg * [ea]
export const H_IMUL_LOAD64: u32 = 0x466;
export const H_CMOV_RR32: u32 = 0x467; // condition in the opcode's low nibble; reg <- rm
export const H_CMOV_RR64: u32 = 0x468;
export const H_CMOV_LOAD32: u32 = 0x469;
export const H_CMOV_LOAD64: u32 = 0x46a;
export const H_SETCC_R: u32 = 0x46b; // byte register at host address imm2 <- condition
export const H_LOAD16: u32 = 0x46c; // reg16 <- [ea] (66 8B)
export const H_STORE16: u32 = 0x46d; // [ea] <- reg16 (66 89)
export const H_LOAD8: u32 = 0x46e; // byte register at host address imm2 <- [ea] (8A)
export const H_STORE8: u32 = 0x46f; // [ea] <- byte register at host address imm2 (88)
export const H_TEST_RR8: u32 = 0x470; // byte registers at host addresses imm2 (rm) and imm (reg) (84)
export const H_MUL32: u32 = 0x471; // MUL (reg 4) or IMUL (reg 5) of EAX by r/m32 into EDX:EAX (F7)
export const H_MUL64: u32 = 0x472; // the same with RAX, r/m64, RDX:RAX
export const H_LAST: u32 = 0x472;

const I_REG: u32 = 22;
const I_RM: u32 = 23;
const I_IMM: u32 = 32;
const I_IMM2: u32 = 40;

/**
 * Host address of byte register r as the record names it: without a REX prefix 4-7 are AH, CH,
 * DH, BH (bits 15:8 of registers 0-3); with one they are SPL, BPL, SIL, DIL.
 */
function byteRegAddress(e: u32, r: u32): u32 {
  if (r >= 4 && r < 8 && load<u8>(e + 19) == 0) return REGS + ((r - 4) << 3) + 1;
  return REGS + (r << 3);
}

/** Choose the handler of a freshly decoded record (fields already stored). */
export function specialize(e: u32, op: u32, osz: u32, flags: u32, prefixed: bool): u32 {
  if (prefixed) return op;
  const regForm = (flags & 1) != 0;
  const memForm = (flags & 2) != 0;
  const size4 = osz == 4;
  const size8 = osz == 8;
  const reg = <u32>load<u8>(e + I_REG);
  const rm = <u32>load<u8>(e + I_RM);
  // Byte operands: the register's host address goes in imm2 (84, 88, 8A have no immediate).
  switch (op) {
    case 0x88: case 0x8a:
      if (!memForm) return op;
      store<u32>(e + I_IMM2, byteRegAddress(e, reg));
      return op == 0x88 ? H_STORE8 : H_LOAD8;
    case 0x84:
      if (!regForm) return op;
      store<u32>(e + I_IMM2, byteRegAddress(e, rm));
      store<u64>(e + I_IMM, <u64>byteRegAddress(e, reg));
      return H_TEST_RR8;
    case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
    case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
      if (!regForm) return op;
      store<u32>(e + I_IMM2, byteRegAddress(e, rm));
      return H_SETCC_R;
  }
  if (osz == 2) {
    if (op == 0x8b && memForm) return H_LOAD16;
    if (op == 0x89 && memForm) return H_STORE16;
    return op;
  }
  if (!size4 && !size8) return op;
  if (op < 0x40 && (op & 7) <= 3 && (op & 1) != 0) {
    if (memForm) return ((op & 2) != 0 ? (size4 ? H_ALU_LOAD32 : H_ALU_LOAD64) : (size4 ? H_ALU_MEM32 : H_ALU_MEM64)) + (op >> 3);
    if (!regForm) return op;
    // ALU Ev,Gv (x1) or Gv,Ev (x3): store dst in rm and src in reg.
    if ((op & 2) != 0) { store<u8>(e + I_REG, <u8>rm); store<u8>(e + I_RM, <u8>reg); }
    return (size4 ? H_ALU_RR32 : H_ALU_RR64) + (op >> 3);
  }
  switch (op) {
    case 0x81: case 0x83:
      if (!regForm) return op;
      return (size4 ? H_ALU_RI32 : H_ALU_RI64) + (reg & 7);
    case 0x85:
      return regForm ? (size4 ? H_TEST_RR32 : H_TEST_RR64) : op;
    case 0x1b6:
      if (!size4) return op;
      if (memForm) return H_MOVZX8_LOAD;
      store<u32>(e + I_IMM2, byteRegAddress(e, rm));
      return H_MOVZX8_RR;
    case 0x1b7:
      if (!size4) return op;
      return memForm ? H_MOVZX16_LOAD : H_MOVZX16_RR;
    case 0x63:
      if (!size8 || mode != MODE_LONG) return op;
      return memForm ? H_MOVSXD_LOAD : H_MOVSXD_RR;
    case 0x1af:
      if (regForm) return size4 ? H_IMUL_RR32 : H_IMUL_RR64;
      return size4 ? H_IMUL_LOAD32 : H_IMUL_LOAD64;
    case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
    case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f:
      if (regForm) return size4 ? H_CMOV_RR32 : H_CMOV_RR64;
      return size4 ? H_CMOV_LOAD32 : H_CMOV_LOAD64;
    case 0xf7:
      if ((reg & 7) != 4 && (reg & 7) != 5) return op;
      return size4 ? H_MUL32 : H_MUL64;
    case 0xc1: case 0xd1: case 0xd3:
      if (!regForm || (reg & 7) < 4) return op;
      if (op == 0xd1) store<u64>(e + I_IMM, 1);
      if (op == 0xd3) return size4 ? H_SHIFT_CL32 : H_SHIFT_CL64;
      return size4 ? H_SHIFT_RI32 : H_SHIFT_RI64;
    case 0x89:
      if (regForm) return size4 ? H_MOV_RR32 : H_MOV_RR64;
      if (memForm) return size4 ? H_STORE32 : H_STORE64;
      return op;
    case 0x8b:
      if (regForm) { store<u8>(e + I_REG, <u8>rm); store<u8>(e + I_RM, <u8>reg); return size4 ? H_MOV_RR32 : H_MOV_RR64; }
      if (memForm) return size4 ? H_LOAD32 : H_LOAD64;
      return op;
    case 0x8d:
      if (memForm) return size4 ? H_LEA32 : H_LEA64;
      return op;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      if (!size4) return op;
      store<u8>(e + I_RM, <u8>(op & 7));
      return H_INC32;
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      if (!size4) return op;
      store<u8>(e + I_RM, <u8>(op & 7));
      return H_DEC32;
    case 0xff:
      // Near JMP r/m: 32-bit outside 64-bit mode, 64-bit in it (decode forces f64 there).
      if ((reg & 7) == 4) return (size8 ? mode == MODE_LONG : mode != MODE_LONG) ? H_JMP_IND : op;
      if (!regForm) return op;
      if ((reg & 7) == 0) return size4 ? H_INC32 : H_INC64;
      if ((reg & 7) == 1) return size4 ? H_DEC32 : H_DEC64;
      return op;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
      // The operand size must match the stack width for the simple forms.
      if (osz != st.stackSize) return op;
      const r = (op & 7) | ((<u32>load<u8>(e + 19) & 1) << 3);
      store<u8>(e + I_RM, <u8>r);
      if (op < 0x58) return size8 ? H_PUSH64 : H_PUSH32;
      return size8 ? H_POP64 : H_POP32;
    }
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      store<u8>(e + I_RM, <u8>((op & 7) | ((<u32>load<u8>(e + 19) & 1) << 3)));
      return size4 ? H_MOV_RI32 : H_MOV_RI64;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
    case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
    case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f:
      return H_JCC;
    case 0xe9: case 0xeb:
      return H_JMP;
    case 0xe8:
      return osz == st.stackSize ? H_CALL : op;
    case 0xc3:
      return osz == st.stackSize ? H_RET : op;
  }
  return op;
}

@inline function r32(r: u32): u64 {
  return <u64>load<u32>(REGS + (r << 3));
}
@inline function set32(r: u32, v: u64): void {
  store<u64>(REGS + (r << 3), v & 0xffffffff);
}

/** Near branch: the target wraps at the operand size and must lie within CS outside 64-bit mode. */
@inline function jumpTo(target: u64): void {
  if (mode != MODE_LONG) {
    target &= 0xffffffff;
    if (target > <u64>st.segLimit(CS)) raise(EXC_GP, 0);
  }
  st.rip = target;
}

/** Run specialised handler h (H_ALU_RR32 .. H_LAST). */
@inline export function executeFast(h: u32): void {
  const e = d.ins;
  if (h < H_MOV_RR32) {
    const n = h & 7;
    const dst = <u32>load<u8>(e + I_RM);
    if (h < H_ALU_RR64) {
      const r = aluInline(n, r32(dst), r32(<u32>load<u8>(e + I_REG)), 4);
      if (n != 7) set32(dst, r);
    } else if (h < H_ALU_RI32) {
      const r = aluInline(n, reg64(dst), reg64(<u32>load<u8>(e + I_REG)), 8);
      if (n != 7) setReg64(dst, r);
    } else if (h < H_ALU_RI64) {
      const r = aluInline(n, r32(dst), d.imm() & 0xffffffff, 4);
      if (n != 7) set32(dst, r);
    } else {
      const r = aluInline(n, reg64(dst), d.imm(), 8);
      if (n != 7) setReg64(dst, r);
    }
    return;
  }
  if (h >= H_ALU_LOAD32 && h < H_MOVZX8_LOAD) {
    const n = h & 7;
    const reg = <u32>load<u8>(e + I_REG);
    if (h < H_ALU_LOAD64) {
      const r = aluInline(n, r32(reg), <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false)), 4);
      if (n != 7) set32(reg, r);
    } else if (h < H_ALU_MEM32) {
      const r = aluInline(n, reg64(reg), readLin64(linear(d.eaSeg(), d.eaOff, 8, false)), 8);
      if (n != 7) setReg64(reg, r);
    } else if (h < H_ALU_MEM64) {
      // Read-modify-write: make sure the write can happen before any flag changes.
      const lin = linear(d.eaSeg(), d.eaOff, 4, n != 7);
      if (n != 7) probeWrite(lin, 4);
      const r = aluInline(n, <u64>readLin32(lin), r32(reg), 4);
      if (n != 7) writeLin32(lin, <u32>r);
    } else {
      const lin = linear(d.eaSeg(), d.eaOff, 8, n != 7);
      if (n != 7) probeWrite(lin, 8);
      const r = aluInline(n, readLin64(lin), reg64(reg), 8);
      if (n != 7) writeLin64(lin, r);
    }
    return;
  }
  switch (h) {
    case H_TEST_RR32: aluInline(4, r32(<u32>load<u8>(e + I_RM)), r32(<u32>load<u8>(e + I_REG)), 4); break;
    case H_TEST_RR64: aluInline(4, reg64(<u32>load<u8>(e + I_RM)), reg64(<u32>load<u8>(e + I_REG)), 8); break;
    case H_MOVZX8_LOAD: set32(<u32>load<u8>(e + I_REG), <u64>readLin8(linear(d.eaSeg(), d.eaOff, 1, false))); break;
    case H_JMP_IND: {
      const size = d.osz();
      let target: u64;
      if (d.eaIsReg()) target = size == 8 ? reg64(<u32>load<u8>(e + I_RM)) : r32(<u32>load<u8>(e + I_RM));
      else target = size == 8 ? readLin64(linear(d.eaSeg(), d.eaOff, 8, false)) : <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false));
      jumpTo(target);
      break;
    }
    case H_MOV_RR32: set32(<u32>load<u8>(e + I_RM), r32(<u32>load<u8>(e + I_REG))); break;
    case H_MOV_RR64: setReg64(<u32>load<u8>(e + I_RM), reg64(<u32>load<u8>(e + I_REG))); break;
    case H_LOAD32: set32(<u32>load<u8>(e + I_REG), <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false))); break;
    case H_LOAD64: setReg64(<u32>load<u8>(e + I_REG), readLin64(linear(d.eaSeg(), d.eaOff, 8, false))); break;
    case H_STORE32: writeLin32(linear(d.eaSeg(), d.eaOff, 4, true), <u32>reg64(<u32>load<u8>(e + I_REG))); break;
    case H_STORE64: writeLin64(linear(d.eaSeg(), d.eaOff, 8, true), reg64(<u32>load<u8>(e + I_REG))); break;
    case H_LEA32: set32(<u32>load<u8>(e + I_REG), d.eaOff); break;
    case H_LEA64: setReg64(<u32>load<u8>(e + I_REG), d.eaOff); break;
    case H_INC32: case H_DEC32: {
      const r = <u32>load<u8>(e + I_RM);
      const a = r32(r);
      const inc = h == H_INC32;
      const v = (inc ? a + 1 : a - 1) & 0xffffffff;
      setLazyKeepCF(inc ? LF_INC : LF_DEC, a, v, 4);
      set32(r, v);
      break;
    }
    case H_INC64: case H_DEC64: {
      const r = <u32>load<u8>(e + I_RM);
      const a = reg64(r);
      const inc = h == H_INC64;
      const v = inc ? a + 1 : a - 1;
      setLazyKeepCF(inc ? LF_INC : LF_DEC, a, v, 8);
      setReg64(r, v);
      break;
    }
    case H_JCC:
      if (testCC(d.op() & 15)) jumpTo(st.rip + d.imm());
      break;
    case H_JMP: jumpTo(st.rip + d.imm()); break;
    case H_CALL: {
      // Check the target before pushing so a #GP leaves the stack alone.
      let target = st.rip + d.imm();
      if (mode != MODE_LONG) {
        target &= 0xffffffff;
        if (target > <u64>st.segLimit(CS)) raise(EXC_GP, 0);
      }
      if (st.stackSize == 8) {
        const sp = reg64(RSP) - 8;
        writeLin64(linear(SS, sp, 8, true), st.rip);
        setReg64(RSP, sp);
      } else {
        const sp = (reg64(RSP) - 4) & 0xffffffff;
        writeLin32(linear(SS, sp, 4, true), <u32>st.rip);
        set32(RSP, sp);
      }
      st.rip = target;
      break;
    }
    case H_RET:
      if (st.stackSize == 8) {
        const sp = reg64(RSP);
        const target = readLin64(linear(SS, sp, 8, false));
        jumpTo(target);
        setReg64(RSP, sp + 8);
      } else {
        const sp = reg64(RSP) & 0xffffffff;
        const target = <u64>readLin32(linear(SS, sp, 4, false));
        jumpTo(target);
        set32(RSP, sp + 4);
      }
      break;
    case H_PUSH64: {
      const v = reg64(<u32>load<u8>(e + I_RM));
      const sp = reg64(RSP) - 8;
      writeLin64(linear(SS, sp, 8, true), v);
      setReg64(RSP, sp);
      break;
    }
    case H_POP64: {
      const sp = reg64(RSP);
      const v = readLin64(linear(SS, sp, 8, false));
      setReg64(RSP, sp + 8);
      setReg64(<u32>load<u8>(e + I_RM), v);
      break;
    }
    case H_PUSH32: {
      const v = <u32>reg64(<u32>load<u8>(e + I_RM));
      const sp = (reg64(RSP) - 4) & 0xffffffff;
      writeLin32(linear(SS, sp, 4, true), v);
      set32(RSP, sp);
      break;
    }
    case H_POP32: {
      const sp = reg64(RSP) & 0xffffffff;
      const v = readLin32(linear(SS, sp, 4, false));
      set32(RSP, sp + 4);
      set32(<u32>load<u8>(e + I_RM), <u64>v);
      break;
    }
    case H_MOV_RI32: set32(<u32>load<u8>(e + I_RM), d.imm()); break;
    case H_SHIFT_RI32: case H_SHIFT_CL32: {
      const r = <u32>load<u8>(e + I_RM);
      const c = (h == H_SHIFT_RI32 ? <u32>d.imm() : <u32>reg64(RCX)) & 31;
      const a = r32(r);
      set32(r, c == 0 ? a : shiftArith(<u32>load<u8>(e + I_REG) & 7, a, c, 4));
      break;
    }
    case H_SHIFT_RI64: case H_SHIFT_CL64: {
      const r = <u32>load<u8>(e + I_RM);
      const c = (h == H_SHIFT_RI64 ? <u32>d.imm() : <u32>reg64(RCX)) & 63;
      if (c != 0) setReg64(r, shiftArith(<u32>load<u8>(e + I_REG) & 7, reg64(r), c, 8));
      break;
    }
    case H_MOVZX8_RR: set32(<u32>load<u8>(e + I_REG), <u64>load<u8>(d.imm2())); break;
    case H_MOVZX16_RR: set32(<u32>load<u8>(e + I_REG), <u64>load<u16>(REGS + (<u32>load<u8>(e + I_RM) << 3))); break;
    case H_MOVZX16_LOAD: set32(<u32>load<u8>(e + I_REG), <u64>readLin16(linear(d.eaSeg(), d.eaOff, 2, false))); break;
    case H_MOVSXD_RR: setReg64(<u32>load<u8>(e + I_REG), <u64>(<i64>load<i32>(REGS + (<u32>load<u8>(e + I_RM) << 3)))); break;
    case H_MOVSXD_LOAD: setReg64(<u32>load<u8>(e + I_REG), <u64>(<i64>(<i32>readLin32(linear(d.eaSeg(), d.eaOff, 4, false))))); break;
    case H_IMUL_RR32: {
      const r = <u32>load<u8>(e + I_REG);
      set32(r, imulTrunc(r32(r), r32(<u32>load<u8>(e + I_RM)), 4));
      break;
    }
    case H_IMUL_RR64: {
      const r = <u32>load<u8>(e + I_REG);
      setReg64(r, imulTrunc(reg64(r), reg64(<u32>load<u8>(e + I_RM)), 8));
      break;
    }
    case H_IMUL_LOAD32: {
      const r = <u32>load<u8>(e + I_REG);
      const b = <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false));
      set32(r, imulTrunc(r32(r), b, 4));
      break;
    }
    case H_IMUL_LOAD64: {
      const r = <u32>load<u8>(e + I_REG);
      const b = readLin64(linear(d.eaSeg(), d.eaOff, 8, false));
      setReg64(r, imulTrunc(reg64(r), b, 8));
      break;
    }
    // CMOVcc reads its source whatever the condition; a 32-bit destination is zero-extended either way.
    case H_CMOV_RR32: {
      const r = <u32>load<u8>(e + I_REG);
      set32(r, testCC(d.op() & 15) ? r32(<u32>load<u8>(e + I_RM)) : r32(r));
      break;
    }
    case H_CMOV_RR64:
      if (testCC(d.op() & 15)) setReg64(<u32>load<u8>(e + I_REG), reg64(<u32>load<u8>(e + I_RM)));
      break;
    case H_CMOV_LOAD32: {
      const r = <u32>load<u8>(e + I_REG);
      const v = <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false));
      set32(r, testCC(d.op() & 15) ? v : r32(r));
      break;
    }
    case H_CMOV_LOAD64: {
      const v = readLin64(linear(d.eaSeg(), d.eaOff, 8, false));
      if (testCC(d.op() & 15)) setReg64(<u32>load<u8>(e + I_REG), v);
      break;
    }
    case H_SETCC_R: store<u8>(d.imm2(), testCC(d.op() & 15) ? 1 : 0); break;
    case H_LOAD16: store<u16>(REGS + (<u32>load<u8>(e + I_REG) << 3), <u16>readLin16(linear(d.eaSeg(), d.eaOff, 2, false))); break;
    case H_STORE16: writeLin16(linear(d.eaSeg(), d.eaOff, 2, true), <u32>load<u16>(REGS + (<u32>load<u8>(e + I_REG) << 3))); break;
    case H_LOAD8: store<u8>(d.imm2(), <u8>readLin8(linear(d.eaSeg(), d.eaOff, 1, false))); break;
    case H_STORE8: writeLin8(linear(d.eaSeg(), d.eaOff, 1, true), <u32>load<u8>(d.imm2())); break;
    case H_TEST_RR8: aluInline(4, <u64>load<u8>(d.imm2()), <u64>load<u8>(<u32>d.imm()), 1); break;
    // One-operand MUL/IMUL (SDM Vol. 2 "MUL", "IMUL"): CF = OF = the upper half is significant.
    case H_MUL32: {
      const b = d.eaIsReg() ? r32(<u32>load<u8>(e + I_RM)) : <u64>readLin32(linear(d.eaSeg(), d.eaOff, 4, false));
      if ((load<u8>(e + I_REG) & 7) == 4) {
        const r = r32(RAX) * b;
        set32(RAX, r);
        set32(RDX, r >> 32);
        setMulFlags((r >> 32) != 0, r, 4);
      } else {
        const r = <i64>(<i32>r32(RAX)) * <i64>(<i32>b);
        set32(RAX, <u64>r);
        set32(RDX, <u64>r >> 32);
        setMulFlags(r != <i64>(<i32>r), <u64>r, 4);
      }
      break;
    }
    case H_MUL64: {
      const b = d.eaIsReg() ? reg64(<u32>load<u8>(e + I_RM)) : readLin64(linear(d.eaSeg(), d.eaOff, 8, false));
      const a = reg64(RAX);
      const lo = a * b;
      if ((load<u8>(e + I_REG) & 7) == 4) {
        const hi = mulHiU(a, b);
        setReg64(RAX, lo);
        setReg64(RDX, hi);
        setMulFlags(hi != 0, lo, 8);
      } else {
        const hi = mulHiS(a, b);
        setReg64(RAX, lo);
        setReg64(RDX, hi);
        setMulFlags(hi != <u64>((<i64>lo) >> 63), lo, 8);
      }
      break;
    }
    default: setReg64(<u32>load<u8>(e + I_RM), d.imm()); break; // H_MOV_RI64
  }
}
