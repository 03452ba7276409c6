// The executor: one switch over the decoded opcode (compiled to a br_table). Handlers read the
// decode results from decode.ts and write architectural state only after their last fault.
import * as st from "./state";
import {
  reg64, setReg64, mode, MODE_LONG, MODE_REAL, MODE_V86, MODE_PROT, RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
  ES, CS, SS, DS, FS, GS, segSelector, segBase, F_CF, F_DF, F_IF, F_TF, F_AC, F_ID, F_NT, F_IOPL, F_RF,
  F_VM, F_VIF, F_VIP, F_OF, F_SF, F_ZF, F_AF, F_PF, F_ARITH, EV_HALT, EV_SHADOW, CR0_TS, CR0_EM,
} from "./state";
import * as d from "./decode";
import {
  readE, writeE, readRmw, writeRmw, readG, writeG, getReg, setReg, push, pop, readMem, writeMem,
  linear, getReg8, setReg8, setSp, peek,
} from "./access";
import { readLin, writeLin, probeWrite } from "./memory";
import {
  alu, inc, dec, neg, shift, shiftDouble, mulHiU, mulHiS, setMulFlags, imulTrunc, divide, divQuot, divRem,
} from "./alu";
import {
  getCF, getZF, getSF, getOF, getAF, getPF, getEflags, setArith, testCC, sizeMask, szp, setLazy, LF_LOGIC, flushFlags,
} from "./flags";
import { raise, raiseUD, raiseGP, EXC_GP, EXC_UD, EXC_NM, EXC_BR, EXC_DE, EXC_SS } from "./fault";
import { stringOp } from "./string";
import {
  loadSeg, farJump, farCall, farReturn, iret, softwareInterrupt, INT_SOFT, INT_INT3, INT_INTO, INT_ICEBP,
  setEflags, ioPermitted,
} from "./transfer";
import { groupSix, groupSeven, lar, lsl, arpl } from "./segments";
import { movToCr, movFromCr, movToDr, movFromDr, rdmsr, wrmsr, cpuid, rdtsc, syscall, sysret, sysenter, sysexit, clts } from "./system";
import { hostPortRead, hostPortWrite } from "./host";
import { executeFast, H_ALU_RR32 } from "./fastpath";
import { executeX87, fwait } from "./x87";
import { executeSse } from "./sse";
import { popcntOp, zeroCountOp, movbeOp, crc32Op } from "./bitcount";
import { randomOp } from "./random";
import { xsaveGroup } from "./xsave";

@inline function sext(v: u64, size: u32): u64 {
  const s: u64 = 64 - ((<u64>size) << 3);
  return <u64>((<i64>(v << s)) >> s);
}

/** Near branch target, truncated to the operand size (SDM Vol. 2 "JMP"). */
function branchTo(target: u64): void {
  if (d.osz() == 2) target &= 0xffff;
  else if (d.osz() == 4) target &= 0xffffffff;
  if (mode != MODE_LONG && target > <u64>st.segLimit(CS)) raise(EXC_GP, 0);
  st.rip = target;
}

/** Count register for LOOP/JCXZ/string ops: CX, ECX or RCX by address size. */
@inline function countReg(): u64 {
  return reg64(RCX) & sizeMask(d.asz());
}

function portIn(port: u32, size: u32): u32 {
  ioPermitted(port, size);
  return hostPortRead(port, size) & <u32>sizeMask(size);
}
function portOut(port: u32, size: u32, v: u32): void {
  ioPermitted(port, size);
  hostPortWrite(port, size, v & <u32>sizeMask(size));
}

/** PUSHF image: VM and RF are never pushed (SDM Vol. 2 "PUSHF"). */
function pushfValue(): u64 {
  return <u64>(getEflags() & ~(F_VM | F_RF));
}

/** POPF/IRET-less flag load with the privilege rules of SDM Vol. 2 "POPF". */
function popfValue(v: u32, size: u32): void {
  let mask: u32 = F_ARITH | F_TF | F_DF | F_NT | F_OF;
  if (size >= 4) mask |= F_AC | F_ID;
  const iopl = (st.eflags >> 12) & 3;
  if (mode == MODE_V86) {
    if (iopl < 3) raise(EXC_GP, 0);
    mask |= F_IF;
  } else {
    if (st.cpl == 0) mask |= F_IOPL;
    if (st.cpl <= iopl) mask |= F_IF;
  }
  if (size == 2) mask &= 0xffff;
  setEflags((getEflags() & ~mask) | (v & mask));
}

function cliSti(set: bool): void {
  const iopl = (st.eflags >> 12) & 3;
  if (mode != MODE_REAL) {
    const allowed = mode == MODE_V86 ? iopl == 3 : st.cpl <= iopl;
    if (!allowed) raise(EXC_GP, 0);
  }
  if (set) {
    if ((st.eflags & F_IF) == 0) st.events |= EV_SHADOW; // STI shadow (SDM Vol. 2 "STI")
    st.eflags |= F_IF;
  } else st.eflags &= ~F_IF;
  st.updateIntrEvent();
}

function bitTest(kind: u32, isImm: bool): void {
  // kind: 0 BT, 1 BTS, 2 BTR, 3 BTC.
  const size = d.osz();
  const bits: u64 = (<u64>size) << 3;
  let offset: u64 = isImm ? (d.imm() & 0xff) : readG(size);
  let v: u64;
  let bit: u64;
  let lin: u64 = 0;
  if (d.eaIsReg()) {
    bit = offset & (bits - 1);
    v = getReg(d.modrmRm(), size);
  } else {
    // Register bit offsets address memory beyond the operand (SDM Vol. 2 "BT").
    let disp: i64 = 0;
    if (!isImm) {
      const so: i64 = <i64>sext(offset, size);
      disp = (so >> (<i64>((size == 2 ? 4 : size == 4 ? 5 : 6)))) * <i64>size;
      bit = <u64>so & (bits - 1);
    } else bit = offset & (bits - 1);
    const off = (d.eaOff + <u64>disp) & sizeMask(d.asz());
    lin = linear(d.eaSeg(), off, size, kind != 0);
    if (kind != 0) probeWrite(lin, size);
    v = readLin(lin, size);
  }
  const cf = (v >> bit) & 1;
  const f = getEflags() & ~F_CF;
  setArith((f & F_ARITH) | (cf != 0 ? F_CF : 0));
  if (kind == 0) return;
  if (kind == 1) v |= <u64>1 << bit;
  else if (kind == 2) v &= ~(<u64>1 << bit);
  else v ^= <u64>1 << bit;
  if (d.eaIsReg()) setReg(d.modrmRm(), size, v);
  else writeLin(lin, size, v);
}

function group3(size: u32): void {
  switch (d.modrmReg() & 7) {
    case 0: case 1: { const a = readE(size); alu(4, a, d.imm(), size); break; }
    case 2: { const a = readRmw(size); writeRmw(size, ~a & sizeMask(size)); break; }
    case 3: { const a = readRmw(size); const r = neg(a, size); writeRmw(size, r); break; }
    case 4: { // MUL
      const b = readE(size);
      if (size == 1) {
        const r = (reg64(RAX) & 0xff) * b;
        st.setReg16(RAX, <u32>r);
        setMulFlags((r >> 8) != 0, r, 1);
      } else if (size == 8) {
        const a = reg64(RAX);
        const hi = mulHiU(a, b);
        const lo = a * b;
        setReg64(RAX, lo); setReg64(RDX, hi);
        setMulFlags(hi != 0, lo, 8);
      } else {
        const r = (reg64(RAX) & sizeMask(size)) * b;
        const bits: u64 = (<u64>size) << 3;
        setReg(RAX, size, r); setReg(RDX, size, r >> bits);
        setMulFlags((r >> bits) != 0, r, size);
      }
      break;
    }
    case 5: { // IMUL one-operand
      const b = readE(size);
      if (size == 1) {
        const r = <i64>(<i8>reg64(RAX)) * <i64>(<i8>b);
        st.setReg16(RAX, <u32>r);
        setMulFlags(r != <i64>(<i8>r), <u64>r, 1);
      } else if (size == 8) {
        const a = reg64(RAX);
        const hi = mulHiS(a, b);
        const lo = a * b;
        setReg64(RAX, lo); setReg64(RDX, hi);
        setMulFlags(hi != <u64>((<i64>lo) >> 63), lo, 8);
      } else {
        const r = <i64>sext(reg64(RAX), size) * <i64>sext(b, size);
        const bits: u64 = (<u64>size) << 3;
        setReg(RAX, size, <u64>r); setReg(RDX, size, <u64>r >> bits);
        setMulFlags(<u64>r != sext(<u64>r, size), <u64>r, size);
      }
      break;
    }
    default: { // DIV, IDIV
      const signed = (d.modrmReg() & 7) == 7;
      const b = readE(size);
      if (size == 1) {
        const ax = reg64(RAX) & 0xffff;
        divide(signed, signed ? sext(ax >> 8, 1) : ax >> 8, ax & 0xff, b, 1);
        st.setReg16(RAX, <u32>((divQuot & 0xff) | ((divRem & 0xff) << 8)));
      } else {
        const hi = getReg(RDX, size);
        divide(signed, signed && size == 8 ? hi : hi, getReg(RAX, size), b, size);
        setReg(RAX, size, divQuot);
        setReg(RDX, size, divRem);
      }
      // Flags are undefined after DIV/IDIV; they are left unchanged.
      break;
    }
  }
}

function bcd(op: u32): void {
  const al = reg64(RAX) & 0xff;
  const cf = getCF();
  const af = getAF();
  switch (op) {
    case 0x27: case 0x2f: { // DAA, DAS (SDM Vol. 2 pseudo-code)
      let a = al;
      let ncf = false, naf = false;
      if ((al & 0xf) > 9 || af) {
        a = op == 0x27 ? (a + 6) & 0xff : (a - 6) & 0xff;
        ncf = cf || (op == 0x27 ? al + 6 > 0xff : al < 6);
        naf = true;
      }
      if (al > 0x99 || cf) {
        a = op == 0x27 ? (a + 0x60) & 0xff : (a - 0x60) & 0xff;
        ncf = true;
      }
      setReg8(RAX, <u32>a);
      setArith(szp(a, 1) | (ncf ? F_CF : 0) | (naf ? F_AF : 0));
      break;
    }
    case 0x37: case 0x3f: { // AAA, AAS
      let ax = reg64(RAX) & 0xffff;
      let f: u32 = 0;
      if ((al & 0xf) > 9 || af) {
        // AAS borrows from AH through the 16-bit subtraction, then decrements AH again.
        if (op == 0x37) ax = (ax + 0x106) & 0xffff;
        else { ax = (ax - 6) & 0xffff; ax = (ax - 0x100) & 0xffff; }
        f = F_AF | F_CF;
      }
      ax &= 0xff0f;
      st.setReg16(RAX, <u32>ax);
      setArith(f | szp(ax & 0xff, 1));
      break;
    }
  }
}

function enter(): void {
  const size = d.osz();
  const alloc = d.imm() & 0xffff;
  const level = d.imm2() & 31;
  const bp = reg64(RBP);
  const smask = sizeMask(st.stackSize);
  let sp = reg64(RSP);
  // Do all stack writes through explicit addresses so a fault leaves RSP/RBP unchanged.
  sp = (sp - size) & smask;
  writeMem(SS, sp, size, bp);
  const frame = sp;
  if (level > 0) {
    let tbp = bp;
    for (let i: u32 = 1; i < level; i++) {
      tbp = (tbp - size) & smask;
      const v = readMem(SS, tbp, size);
      sp = (sp - size) & smask;
      writeMem(SS, sp, size, v);
    }
    sp = (sp - size) & smask;
    writeMem(SS, sp, size, frame);
  }
  sp = (sp - alloc) & smask;
  // Touch the lowest byte so a stack fault is raised here, as the hardware does.
  linear(SS, sp, 1, true);
  setReg(RBP, st.stackSize == 2 ? 2 : st.stackSize, frame);
  if (size == 2 && st.stackSize != 2) st.setReg16(RBP, <u32>frame);
  setSp(sp);
}

function cmpxchg8b16b(): void {
  if (d.eaIsReg()) raiseUD();
  const wide = d.rexW();
  const size: u32 = wide ? 16 : 8;
  const lin = linear(d.eaSeg(), d.eaOff, size, true);
  if (wide && (d.eaOff & 15) != 0) raiseGP(0);
  probeWrite(lin, 8);
  probeWrite(lin + 8, wide ? 8 : 0);
  const half: u32 = wide ? 8 : 4;
  const lo = readLin(lin, half), hi = readLin(lin + half, half);
  const m = sizeMask(half);
  const f = getEflags();
  if (lo == (reg64(RAX) & m) && hi == (reg64(RDX) & m)) {
    writeLin(lin, half, reg64(RBX) & m);
    writeLin(lin + half, half, reg64(RCX) & m);
    setArith((f & F_ARITH) | F_ZF);
  } else {
    // The destination is written back unchanged (locked cycle), then loaded into EDX:EAX.
    writeLin(lin, half, lo);
    writeLin(lin + half, half, hi);
    setReg(RAX, half, lo);
    setReg(RDX, half, hi);
    setArith((f & F_ARITH) & ~F_ZF);
  }
}

/** Far pointer load: LDS/LES/LFS/LGS/LSS. */
function loadFarPointer(seg: u32): void {
  if (d.eaIsReg()) raiseUD();
  const size = d.osz();
  const off = readMem(d.eaSeg(), d.eaOff, size);
  const sel = <u32>readMem(d.eaSeg(), (d.eaOff + size) & sizeMask(d.asz()), 2);
  loadSeg(seg, sel);
  writeG(size, off);
}

@inline export function execute(): void {
  const h = d.handler();
  if (h >= H_ALU_RR32) executeFast(h);
  else executeOpcode(h);
}

function executeOpcode(op: u32): void {
  const osz = d.osz();
  switch (op) {
    // ALU: 00-3F in eight rows of six forms.
    case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38: {
      const n = op >> 3;
      const a = n == 7 ? readE(1) : readRmw(1);
      const r = alu(n, a, readG(1), 1);
      if (n != 7) writeRmw(1, r);
      break;
    }
    case 0x01: case 0x09: case 0x11: case 0x19: case 0x21: case 0x29: case 0x31: case 0x39: {
      const n = op >> 3;
      const a = n == 7 ? readE(osz) : readRmw(osz);
      const r = alu(n, a, readG(osz), osz);
      if (n != 7) writeRmw(osz, r);
      break;
    }
    case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a: {
      const n = op >> 3;
      const r = alu(n, readG(1), readE(1), 1);
      if (n != 7) writeG(1, r);
      break;
    }
    case 0x03: case 0x0b: case 0x13: case 0x1b: case 0x23: case 0x2b: case 0x33: case 0x3b: {
      const n = op >> 3;
      const r = alu(n, readG(osz), readE(osz), osz);
      if (n != 7) writeG(osz, r);
      break;
    }
    case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c: {
      const n = op >> 3;
      const r = alu(n, reg64(RAX), d.imm(), 1);
      if (n != 7) setReg8(RAX, <u32>r);
      break;
    }
    case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d: {
      const n = op >> 3;
      const r = alu(n, reg64(RAX), d.imm(), osz);
      if (n != 7) setReg(RAX, osz, r);
      break;
    }
    case 0x06: case 0x0e: case 0x16: case 0x1e: push(<u64>segSelector((op >> 3) & 3), osz); break;
    case 0x07: case 0x17: case 0x1f: {
      const seg = (op >> 3) & 3;
      const sel = <u32>peek(0, 2);
      loadSeg(seg, sel);
      setSp(reg64(RSP) + osz);
      if (seg == SS) st.events |= EV_SHADOW; // MOV/POP SS shadow (SDM Vol. 3A §6.8.3)
      break;
    }
    case 0x27: case 0x2f: case 0x37: case 0x3f: bcd(op); break;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      setReg(op & 7, osz, inc(getReg(op & 7, osz), osz)); break;
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      setReg(op & 7, osz, dec(getReg(op & 7, osz), osz)); break;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: {
      const r = (op & 7) | ((d.rex() & 1) << 3);
      push(getReg(r, osz), osz);
      break;
    }
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
      const r = (op & 7) | ((d.rex() & 1) << 3);
      const v = pop(osz);
      setReg(r, osz, v);
      break;
    }
    case 0x60: { // PUSHA
      const sp = reg64(RSP);
      for (let r: u32 = 0; r < 8; r++) {
        const v = r == RSP ? sp : reg64(r);
        writeMem(SS, (sp - (r + 1) * osz) & sizeMask(st.stackSize), osz, v);
      }
      setSp(sp - 8 * osz);
      break;
    }
    case 0x61: { // POPA (the stored SP is skipped)
      const sp = reg64(RSP);
      const vals = changetype<usize>(0); // no allocation: read in place
      let tmp0: u64 = 0, tmp1: u64 = 0, tmp2: u64 = 0, tmp3: u64 = 0, tmp5: u64 = 0, tmp6: u64 = 0, tmp7: u64 = 0;
      const m = sizeMask(st.stackSize);
      tmp7 = readMem(SS, sp & m, osz);
      tmp6 = readMem(SS, (sp + osz) & m, osz);
      tmp5 = readMem(SS, (sp + 2 * osz) & m, osz);
      tmp3 = readMem(SS, (sp + 4 * osz) & m, osz);
      tmp2 = readMem(SS, (sp + 5 * osz) & m, osz);
      tmp1 = readMem(SS, (sp + 6 * osz) & m, osz);
      tmp0 = readMem(SS, (sp + 7 * osz) & m, osz);
      setReg(RDI, osz, tmp7); setReg(RSI, osz, tmp6); setReg(RBP, osz, tmp5);
      setReg(RBX, osz, tmp3); setReg(RDX, osz, tmp2); setReg(RCX, osz, tmp1); setReg(RAX, osz, tmp0);
      setSp(sp + 8 * osz);
      if (vals != 0) unreachable();
      break;
    }
    case 0x62: { // BOUND
      if (d.eaIsReg()) raiseUD();
      const idx = sext(readG(osz), osz);
      const lo = sext(readMem(d.eaSeg(), d.eaOff, osz), osz);
      const hi = sext(readMem(d.eaSeg(), (d.eaOff + osz) & sizeMask(d.asz()), osz), osz);
      if (<i64>idx < <i64>lo || <i64>idx > <i64>hi) raise(EXC_BR, -1);
      break;
    }
    case 0x63:
      if (mode == MODE_LONG) { // MOVSXD
        const v = readE(4);
        writeG(osz, osz == 8 ? sext(v, 4) : v);
      } else arpl();
      break;
    case 0x68: case 0x6a: push(d.imm(), osz); break;
    case 0x69: case 0x6b: writeG(osz, imulTrunc(readE(osz), d.imm(), osz)); break;
    case 0x6c: case 0x6d: case 0x6e: case 0x6f: case 0xa4: case 0xa5: case 0xa6: case 0xa7:
    case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
      stringOp(op); break;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (testCC(op & 15)) branchTo(st.rip + d.imm());
      break;
    case 0x80: case 0x82: {
      const n = d.modrmReg() & 7;
      const a = n == 7 ? readE(1) : readRmw(1);
      const r = alu(n, a, d.imm(), 1);
      if (n != 7) writeRmw(1, r);
      break;
    }
    case 0x81: case 0x83: {
      const n = d.modrmReg() & 7;
      const a = n == 7 ? readE(osz) : readRmw(osz);
      const r = alu(n, a, d.imm(), osz);
      if (n != 7) writeRmw(osz, r);
      break;
    }
    case 0x84: alu(4, readE(1), readG(1), 1); break;
    case 0x85: alu(4, readE(osz), readG(osz), osz); break;
    case 0x86: { const a = readRmw(1); const b = readG(1); writeRmw(1, b); writeG(1, a); break; }
    case 0x87: { const a = readRmw(osz); const b = readG(osz); writeRmw(osz, b); writeG(osz, a); break; }
    case 0x88: writeE(1, readG(1)); break;
    case 0x89: writeE(osz, readG(osz)); break;
    case 0x8a: writeG(1, readE(1)); break;
    case 0x8b: writeG(osz, readE(osz)); break;
    case 0x8c: { // MOV Ev, Sreg: a register destination takes the zero-extended selector
      const s = d.modrmReg() & 7;
      if (s > 5) raiseUD();
      const v = <u64>segSelector(s);
      if (d.eaIsReg()) setReg(d.modrmRm(), osz == 2 ? 2 : osz, v);
      else writeE(2, v);
      break;
    }
    case 0x8d: if (d.eaIsReg()) raiseUD(); writeG(osz, d.eaOff); break;
    case 0x8e: {
      const s = d.modrmReg() & 7;
      if (s == CS || s > 5) raiseUD();
      loadSeg(s, <u32>readE(2));
      if (s == SS) st.events |= EV_SHADOW;
      break;
    }
    case 0x8f: { // POP Ev: with RSP as base, the address is computed after the increment
      if ((d.modrmReg() & 7) != 0) raiseUD();
      const v = peek(0, osz);
      if (d.eaIsReg()) { setSp(reg64(RSP) + osz); setReg(d.modrmRm(), osz, v); }
      else {
        const off = d.eaBase() == RSP ? (d.eaOff + osz) & sizeMask(d.asz()) : d.eaOff;
        writeLin(linear(d.eaSeg(), off, osz, true), osz, v);
        setSp(reg64(RSP) + osz);
      }
      break;
    }
    case 0x90:
      if (d.rex() & 1) { const a = reg64(8); setReg(8, osz, getReg(RAX, osz)); setReg(RAX, osz, a); }
      break; // NOP, PAUSE
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
      const r = (op & 7) | ((d.rex() & 1) << 3);
      const a = getReg(r, osz);
      setReg(r, osz, getReg(RAX, osz));
      setReg(RAX, osz, a);
      break;
    }
    case 0x98: // CBW/CWDE/CDQE
      setReg(RAX, osz, sext(reg64(RAX), osz >> 1));
      break;
    case 0x99: // CWD/CDQ/CQO
      setReg(RDX, osz, (sext(reg64(RAX), osz) >> 63) != 0 ? <u64>0xffffffffffffffff : 0);
      break;
    case 0x9a: farCall(d.imm2(), d.imm(), osz); break;
    case 0x9b: fwait(); break;
    case 0x9c:
      if (mode == MODE_V86 && ((st.eflags >> 12) & 3) < 3) raiseGP(0);
      push(pushfValue(), osz); break;
    case 0x9d: { const v = <u32>peek(0, osz); popfValue(v, osz); setSp(reg64(RSP) + osz); break; }
    case 0x9e: { // SAHF
      const ah = (<u32>reg64(RAX) >> 8) & 0xff;
      setArith((getEflags() & F_OF) | (ah & (F_SF | F_ZF | F_AF | F_PF | F_CF)));
      break;
    }
    case 0x9f: setReg8(4, (getEflags() & 0xd5) | 2); break; // LAHF (AH is reg 4 without REX)
    case 0xa0: { const seg = d.segOverride() >= 0 ? <u32>d.segOverride() : DS; setReg8(RAX, <u32>readMem(seg, d.imm(), 1)); break; }
    case 0xa1: { const seg = d.segOverride() >= 0 ? <u32>d.segOverride() : DS; setReg(RAX, osz, readMem(seg, d.imm(), osz)); break; }
    case 0xa2: { const seg = d.segOverride() >= 0 ? <u32>d.segOverride() : DS; writeMem(seg, d.imm(), 1, reg64(RAX)); break; }
    case 0xa3: { const seg = d.segOverride() >= 0 ? <u32>d.segOverride() : DS; writeMem(seg, d.imm(), osz, reg64(RAX)); break; }
    case 0xa8: alu(4, reg64(RAX), d.imm(), 1); break;
    case 0xa9: alu(4, reg64(RAX), d.imm(), osz); break;
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      setReg8((op & 7) | ((d.rex() & 1) << 3), <u32>d.imm()); break;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      setReg((op & 7) | ((d.rex() & 1) << 3), osz, d.imm()); break;
    case 0xc0: { const a = readRmw(1); writeRmw(1, shift(d.modrmReg() & 7, a, <u32>d.imm(), 1)); break; }
    case 0xc1: { const a = readRmw(osz); writeRmw(osz, shift(d.modrmReg() & 7, a, <u32>d.imm(), osz)); break; }
    case 0xd0: { const a = readRmw(1); writeRmw(1, shift(d.modrmReg() & 7, a, 1, 1)); break; }
    case 0xd1: { const a = readRmw(osz); writeRmw(osz, shift(d.modrmReg() & 7, a, 1, osz)); break; }
    case 0xd2: { const a = readRmw(1); writeRmw(1, shift(d.modrmReg() & 7, a, <u32>reg64(RCX) & 0xff, 1)); break; }
    case 0xd3: { const a = readRmw(osz); writeRmw(osz, shift(d.modrmReg() & 7, a, <u32>reg64(RCX) & 0xff, osz)); break; }
    case 0xc2: case 0xc3: { // RET near
      const target = peek(0, osz);
      branchTo(target);
      setSp(reg64(RSP) + osz + (op == 0xc2 ? (d.imm() & 0xffff) : 0));
      break;
    }
    case 0xc4: loadFarPointer(ES); break;
    case 0xc5: loadFarPointer(DS); break;
    case 0xc6: if ((d.modrmReg() & 7) != 0) raiseUD(); writeE(1, d.imm()); break;
    case 0xc7: if ((d.modrmReg() & 7) != 0) raiseUD(); writeE(osz, d.imm()); break;
    case 0xc8: enter(); break;
    case 0xc9: { // LEAVE
      const bp = getReg(RBP, st.stackSize);
      const v = readMem(SS, bp, osz);
      setSp(bp + osz);
      setReg(RBP, osz, v);
      break;
    }
    case 0xca: farReturn(osz, <u32>(d.imm() & 0xffff)); break;
    case 0xcb: farReturn(osz, 0); break;
    case 0xcc: softwareInterrupt(3, INT_INT3); break;
    case 0xcd: softwareInterrupt(<u32>d.imm() & 0xff, INT_SOFT); break;
    case 0xce: if (getOF()) softwareInterrupt(4, INT_INTO); break;
    case 0xcf: iret(osz); break;
    case 0xd4: { // AAM
      const base = <u32>d.imm() & 0xff;
      if (base == 0) raise(EXC_DE, -1);
      const al = <u32>reg64(RAX) & 0xff;
      const r = ((al / base) << 8) | (al % base);
      st.setReg16(RAX, r);
      setArith(szp(<u64>(r & 0xff), 1));
      break;
    }
    case 0xd5: { // AAD
      const base = <u32>d.imm() & 0xff;
      const ax = <u32>reg64(RAX);
      const al = ((ax & 0xff) + ((ax >> 8) & 0xff) * base) & 0xff;
      st.setReg16(RAX, al);
      setArith(szp(<u64>al, 1));
      break;
    }
    case 0xd6: setReg8(RAX, getCF() ? 0xff : 0); break; // SALC
    case 0xd7: { // XLAT
      const seg = d.segOverride() >= 0 ? <u32>d.segOverride() : DS;
      const off = (reg64(RBX) + (reg64(RAX) & 0xff)) & sizeMask(d.asz());
      setReg8(RAX, <u32>readMem(seg, off, 1));
      break;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      executeX87(op);
      break;
    case 0xe0: case 0xe1: case 0xe2: { // LOOPNE, LOOPE, LOOP
      const c = (countReg() - 1) & sizeMask(d.asz());
      setReg(RCX, d.asz(), c);
      let take = c != 0;
      if (op == 0xe0) take = take && !getZF();
      else if (op == 0xe1) take = take && getZF();
      if (take) branchTo(st.rip + d.imm());
      break;
    }
    case 0xe3: if (countReg() == 0) branchTo(st.rip + d.imm()); break;
    case 0xe4: setReg8(RAX, portIn(<u32>d.imm() & 0xff, 1)); break;
    case 0xe5: setReg(RAX, osz == 2 ? 2 : 4, <u64>portIn(<u32>d.imm() & 0xff, osz == 2 ? 2 : 4)); break;
    case 0xe6: portOut(<u32>d.imm() & 0xff, 1, <u32>reg64(RAX)); break;
    case 0xe7: portOut(<u32>d.imm() & 0xff, osz == 2 ? 2 : 4, <u32>reg64(RAX)); break;
    case 0xec: setReg8(RAX, portIn(<u32>reg64(RDX) & 0xffff, 1)); break;
    case 0xed: setReg(RAX, osz == 2 ? 2 : 4, <u64>portIn(<u32>reg64(RDX) & 0xffff, osz == 2 ? 2 : 4)); break;
    case 0xee: portOut(<u32>reg64(RDX) & 0xffff, 1, <u32>reg64(RAX)); break;
    case 0xef: portOut(<u32>reg64(RDX) & 0xffff, osz == 2 ? 2 : 4, <u32>reg64(RAX)); break;
    case 0xe8: { // CALL near relative
      const target = st.rip + d.imm();
      const ret = st.rip;
      const tmask = sizeMask(osz);
      if (mode != MODE_LONG && (target & tmask) > <u64>st.segLimit(CS)) raise(EXC_GP, 0);
      push(ret, osz);
      st.rip = target & tmask;
      break;
    }
    case 0xe9: case 0xeb: branchTo(st.rip + d.imm()); break;
    case 0xea: farJump(d.imm2(), d.imm()); break;
    case 0xf1: softwareInterrupt(1, INT_ICEBP); break;
    case 0xf4: // HLT
      if (st.cpl != 0) raiseGP(0);
      st.events |= EV_HALT;
      break;
    case 0xf5: setArith((getEflags() ^ F_CF) & F_ARITH); break;
    case 0xf6: group3(1); break;
    case 0xf7: group3(osz); break;
    case 0xf8: setArith(getEflags() & ~F_CF); break;
    case 0xf9: setArith(getEflags() | F_CF); break;
    case 0xfa: cliSti(false); break;
    case 0xfb: cliSti(true); break;
    case 0xfc: st.eflags &= ~F_DF; break;
    case 0xfd: st.eflags |= F_DF; break;
    case 0xfe: {
      const n = d.modrmReg() & 7;
      if (n > 1) raiseUD();
      const a = readRmw(1);
      writeRmw(1, n == 0 ? inc(a, 1) : dec(a, 1));
      break;
    }
    case 0xff: group5(); break;
    default:
      executeTwoByte(op);
  }
}

function group5(): void {
  const osz = d.osz();
  switch (d.modrmReg() & 7) {
    case 0: { const a = readRmw(osz); writeRmw(osz, inc(a, osz)); break; }
    case 1: { const a = readRmw(osz); writeRmw(osz, dec(a, osz)); break; }
    case 2: { // CALL near indirect
      const target = readE(osz);
      if (mode != MODE_LONG && target > <u64>st.segLimit(CS)) raise(EXC_GP, 0);
      push(st.rip, osz);
      st.rip = target;
      break;
    }
    case 3: case 5: { // CALL/JMP far indirect
      if (d.eaIsReg()) raiseUD();
      const size: u32 = osz;
      const off = readMem(d.eaSeg(), d.eaOff, size);
      const sel = <u32>readMem(d.eaSeg(), (d.eaOff + size) & sizeMask(d.asz()), 2);
      if ((d.modrmReg() & 7) == 3) farCall(sel, off, osz);
      else farJump(sel, off);
      break;
    }
    case 4: branchTo(readE(osz)); break;
    case 6: push(readE(osz), osz); break;
    default: raiseUD();
  }
}

function executeTwoByte(op: u32): void {
  const osz = d.osz();
  switch (op) {
    case 0x100: groupSix(); break;
    case 0x101: groupSeven(); break;
    case 0x102: lar(); break;
    case 0x103: lsl(); break;
    case 0x105: syscall(); break;
    case 0x106: clts(); break;
    case 0x107: sysret(); break;
    case 0x108: case 0x109: if (st.cpl != 0) raiseGP(0); break; // INVD, WBINVD: no caches to model
    case 0x10b: case 0x1b9: raiseUD(); break; // UD2, UD1
    case 0x10d: case 0x118: case 0x119: case 0x11a: case 0x11b: case 0x11c: case 0x11d: case 0x11e: case 0x11f:
      break; // hint NOPs and prefetches
    case 0x120: movFromCr(); break;
    case 0x121: movFromDr(); break;
    case 0x122: movToCr(); break;
    case 0x123: movToDr(); break;
    case 0x130: wrmsr(); break;
    case 0x131: rdtsc(); break;
    case 0x132: rdmsr(); break;
    case 0x134: sysenter(); break;
    case 0x135: sysexit(); break;
    case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
    case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f: {
      // CMOVcc reads its source even when the condition is false; a 32-bit destination is
      // zero-extended in 64-bit mode either way.
      const v = readE(osz);
      if (testCC(op & 15)) writeG(osz, v);
      else if (osz == 4) writeG(4, readG(4));
      break;
    }
    case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
    case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f:
      if (testCC(op & 15)) branchTo(st.rip + d.imm());
      break;
    case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
    case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
      writeE(1, testCC(op & 15) ? 1 : 0);
      break;
    case 0x1a0: push(<u64>segSelector(FS), osz); break;
    case 0x1a8: push(<u64>segSelector(GS), osz); break;
    case 0x1a1: case 0x1a9: {
      const seg = op == 0x1a1 ? FS : GS;
      loadSeg(seg, <u32>peek(0, 2));
      setSp(reg64(RSP) + osz);
      break;
    }
    case 0x1a2: cpuid(); break;
    case 0x1a3: bitTest(0, false); break;
    case 0x1ab: bitTest(1, false); break;
    case 0x1b3: bitTest(2, false); break;
    case 0x1bb: bitTest(3, false); break;
    case 0x1ba: {
      const n = d.modrmReg() & 7;
      if (n < 4) raiseUD();
      bitTest(n - 4, true);
      break;
    }
    case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: {
      const count = (op & 1) != 0 ? <u32>reg64(RCX) & 0xff : <u32>d.imm() & 0xff;
      const a = readRmw(osz);
      writeRmw(osz, shiftDouble(op < 0x1ac, a, readG(osz), count, osz));
      break;
    }
    case 0x1af: writeG(osz, imulTrunc(readG(osz), readE(osz), osz)); break;
    case 0x1b0: case 0x1b1: { // CMPXCHG
      const size: u32 = op == 0x1b0 ? 1 : osz;
      const dst = readRmw(size);
      const acc = getReg(RAX, size);
      alu(7, acc, dst, size);
      if (acc == dst) writeRmw(size, readG(size));
      else {
        // A memory destination is written back unchanged (locked cycle); a register one is
        // left alone entirely (no zero-extension). Then the accumulator is loaded.
        if (!d.eaIsReg()) writeRmw(size, dst);
        setReg(RAX, size, dst);
      }
      break;
    }
    case 0x1b2: loadFarPointer(SS); st.events |= EV_SHADOW; break;
    case 0x1b4: loadFarPointer(FS); break;
    case 0x1b5: loadFarPointer(GS); break;
    case 0x1b6: writeG(osz, readE(1)); break;
    case 0x1b7: writeG(osz, readE(2)); break;
    case 0x1be: writeG(osz, sext(readE(1), 1)); break;
    case 0x1bf: writeG(osz, sext(readE(2), 2)); break;
    case 0x1b8: popcntOp(); break;
    case 0x1bc: case 0x1bd: { // BSF, BSR; with F3: TZCNT, LZCNT (bitcount.ts)
      if (d.repPrefix() == 0xf3) { zeroCountOp(op == 0x1bd); break; }
      const v = readE(osz);
      const f = getEflags() & F_ARITH & ~F_ZF;
      if (v == 0) { setArith(f | F_ZF); break; } // destination unchanged
      const r: u64 = op == 0x1bc ? ctz<u64>(v) : 63 - clz<u64>(v);
      writeG(osz, r);
      setArith(f);
      break;
    }
    case 0x1c0: case 0x1c1: { // XADD
      const size: u32 = op == 0x1c0 ? 1 : osz;
      const dst = readRmw(size);
      const src = readG(size);
      const r = alu(0, dst, src, size);
      writeG(size, dst);
      writeRmw(size, r);
      break;
    }
    case 0x1c7: {
      const n = d.modrmReg() & 7;
      if (n == 1) cmpxchg8b16b();
      else if (n >= 6) randomOp(); // RDRAND, RDSEED
      else raiseUD();
      break;
    }
    case 0x1c8: case 0x1c9: case 0x1ca: case 0x1cb: case 0x1cc: case 0x1cd: case 0x1ce: case 0x1cf: {
      const r = (op & 7) | ((d.rex() & 1) << 3);
      if (osz == 8) setReg64(r, bswap<u64>(reg64(r)));
      else if (osz == 4) setReg(r, 4, <u64>bswap<u32>(<u32>reg64(r)));
      else st.setReg16(r, 0); // BSWAP of a 16-bit register is undefined; zero like common hardware
      break;
    }
    case 0x1ae: // group 15: XSAVE, XRSTOR, XSAVEOPT here; the rest in sse.ts
      if (!xsaveGroup()) executeSse(op);
      break;
    case 0x2f0: case 0x2f1: // F2: CRC32; otherwise MOVBE (load F0, store F1)
      if (d.repPrefix() == 0xf2) crc32Op(op == 0x2f1);
      else movbeOp(op == 0x2f1);
      break;
    default:
      // MMX, SSE and friends, group 15 (FXSAVE, LDMXCSR, fences), the 0F 38 / 0F 3A maps.
      executeSse(op);
  }
}

