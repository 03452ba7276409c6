// Descriptor-table instructions: groups 0F 00 and 0F 01, LAR, LSL, ARPL (SDM Vol. 2).
import * as st from "./state";
import {
  mode, MODE_REAL, MODE_V86, MODE_LONG, LDTR, TR, CS, RAX, RCX, RDX, reg64, setReg64, segSelector, segFlags, setSegCache,
  DESC_P, DESC_TYPE_ACCESSED, EFER_LMA, CR0_PE, segBase,
} from "./state";
import * as d from "./decode";
import { readE, writeE, readMem, writeMem, getReg, setReg, readG, writeG, readRmw, writeRmw } from "./access";
import { flushTlbPage } from "./memory";
import { raise, raiseUD, raiseGP, EXC_GP, EXC_NP } from "./fault";
import {
  readDescriptor, descBase, descLimit, descFlags, descDpl, descPresent, descIsSystem, descType, descHi, descHi2, writeDescHi,
} from "./descriptors";
import { getEflags, setArith, sizeMask } from "./flags";
import { F_ZF, F_ARITH } from "./state";
import { movToCr0Value } from "./system";
import { xgetbv, xsetbv } from "./xsave";

function requireProtected(): void {
  if (mode == MODE_REAL || mode == MODE_V86) raiseUD();
}
function requireCpl0(): void {
  if (st.cpl != 0) raiseGP(0);
}

function setZF(on: bool): void {
  const f = getEflags() & F_ARITH & ~F_ZF;
  setArith(on ? f | F_ZF : f);
}

/** Can a selector be examined by LAR/LSL/VERR/VERW at the current CPL? Reads its descriptor. */
function visible(sel: u32): bool {
  if ((sel & 0xfffc) == 0) return false;
  if (!readDescriptor(sel, false)) return false;
  const ty = descType();
  const conforming = !descIsSystem() && (ty & 0xc) == 0xc;
  if (!conforming && (descDpl() < st.cpl || descDpl() < (sel & 3))) return false;
  return true;
}

export function groupSix(): void {
  requireProtected();
  switch (d.modrmReg() & 7) {
    case 0: // SLDT
      if (d.eaIsReg()) setReg(d.modrmRm(), d.osz(), <u64>segSelector(LDTR));
      else writeE(2, <u64>segSelector(LDTR));
      break;
    case 1: // STR
      if (d.eaIsReg()) setReg(d.modrmRm(), d.osz(), <u64>segSelector(TR));
      else writeE(2, <u64>segSelector(TR));
      break;
    case 2: { // LLDT
      requireCpl0();
      const sel = <u32>readE(2) & 0xffff;
      if ((sel & 0xfffc) == 0) { setSegCache(LDTR, sel, 0, 0, 0); break; }
      if ((sel & 4) != 0) raiseGP(sel & 0xfffc);
      const lma = (st.efer & EFER_LMA) != 0;
      if (!readDescriptor(sel, lma)) raiseGP(sel & 0xfffc);
      if (!descIsSystem() || descType() != 2) raiseGP(sel & 0xfffc);
      if (!descPresent()) raise(EXC_NP, <i32>(sel & 0xfffc));
      setSegCache(LDTR, sel, descBase() | (lma ? <u64>descHi2 << 32 : 0), descLimit(), descFlags());
      break;
    }
    case 3: { // LTR
      requireCpl0();
      const sel = <u32>readE(2) & 0xffff;
      if ((sel & 0xfffc) == 0 || (sel & 4) != 0) raiseGP(sel & 0xfffc);
      const lma = (st.efer & EFER_LMA) != 0;
      if (!readDescriptor(sel, lma)) raiseGP(sel & 0xfffc);
      const ty = descType();
      // An available TSS: 16-bit (1) or 32/64-bit (9); long mode allows only 9.
      if (!descIsSystem() || (ty != 9 && (lma || ty != 1))) raiseGP(sel & 0xfffc);
      if (!descPresent()) raise(EXC_NP, <i32>(sel & 0xfffc));
      writeDescHi(descHi | 0x200); // mark busy
      setSegCache(TR, sel, descBase() | (lma ? <u64>descHi2 << 32 : 0), descLimit(), descFlags() | 0x200);
      break;
    }
    case 4: case 5: { // VERR, VERW
      const sel = <u32>readE(2) & 0xffff;
      let ok = visible(sel) && !descIsSystem();
      if (ok) {
        const ty = descType();
        if ((d.modrmReg() & 7) == 4) ok = (ty & 8) == 0 || (ty & 2) != 0; // data, or readable code
        else ok = (ty & 8) == 0 && (ty & 2) != 0; // writable data
      }
      setZF(ok);
      break;
    }
    default: raiseUD();
  }
}

export function lar(): void {
  requireProtected();
  const sel = <u32>readE(2) & 0xffff;
  let ok = visible(sel);
  if (ok && descIsSystem()) {
    const ty = descType();
    const lma = (st.efer & EFER_LMA) != 0;
    // System types LAR accepts (SDM Vol. 2 "LAR", Table 3-?): TSS, LDT, gates (legacy); fewer in long mode.
    ok = lma ? (ty == 2 || ty == 9 || ty == 11 || ty == 12) : (ty == 1 || ty == 2 || ty == 3 || ty == 4 || ty == 5 || ty == 9 || ty == 11 || ty == 12);
  }
  if (ok) writeG(d.osz(), <u64>(descHi & 0x00f0ff00) & sizeMask(d.osz()));
  setZF(ok);
}

export function lsl(): void {
  requireProtected();
  const sel = <u32>readE(2) & 0xffff;
  let ok = visible(sel);
  if (ok && descIsSystem()) {
    const ty = descType();
    const lma = (st.efer & EFER_LMA) != 0;
    ok = lma ? (ty == 2 || ty == 9 || ty == 11) : (ty == 1 || ty == 2 || ty == 3 || ty == 9 || ty == 11);
  }
  if (ok) writeG(d.osz(), <u64>descLimit());
  setZF(ok);
}

export function arpl(): void {
  requireProtected();
  const dst = <u32>readRmw(2);
  const src = <u32>readG(2);
  if ((dst & 3) < (src & 3)) {
    writeRmw(2, <u64>((dst & ~3) | (src & 3)));
    setZF(true);
  } else setZF(false);
}

export function groupSeven(): void {
  const reg = d.modrmReg() & 7;
  if (d.eaIsReg()) {
    // Register forms (SDM Vol. 2 Table A-6, group 7 with mod = 11b).
    const code = (reg << 3) | (d.modrm() & 7);
    switch (code) {
      case 0x38: { // 0F 01 F8: SWAPGS
        if (mode != MODE_LONG) raiseUD();
        requireCpl0();
        const gs = st.segBase(5);
        const p = 0x1100 + 5 * 32 + 8;
        store<u64>(p, st.msrKernelGsBase);
        st.msrKernelGsBase = gs;
        return;
      }
      case 0x39: { // 0F 01 F9: RDTSCP
        setReg64(RCX, st.msrTscAux & 0xffffffff);
        rdtscInto();
        return;
      }
      case 0x08: case 0x09: // MONITOR, MWAIT: hints
        requireCpl0();
        return;
      case 0x10: xgetbv(); return; // 0F 01 D0
      case 0x11: xsetbv(); return; // 0F 01 D1
      default:
        if (reg == 4) { setReg(d.modrmRm(), d.osz(), st.cr0 & sizeMask(d.osz())); return; } // SMSW r
        if (reg == 6) { lmsw(<u32>getReg(d.modrmRm(), 2)); return; }
        raiseUD();
    }
  }
  switch (reg) {
    case 0: case 1: { // SGDT, SIDT: 16-bit limit then 24/32/64-bit base
      if (mode == MODE_V86 && false) raiseGP(0);
      const base = reg == 0 ? st.gdtrBase : st.idtrBase;
      const limit = reg == 0 ? st.gdtrLimit : st.idtrLimit;
      writeMem(d.eaSeg(), d.eaOff, 2, <u64>limit);
      const bsz: u32 = mode == MODE_LONG ? 8 : 4;
      const b = mode == MODE_LONG ? base : base & 0xffffffff;
      writeMem(d.eaSeg(), (d.eaOff + 2) & sizeMask(d.asz()), bsz, b);
      break;
    }
    case 2: case 3: { // LGDT, LIDT
      requireCpl0();
      const limit = <u32>readMem(d.eaSeg(), d.eaOff, 2);
      let base: u64;
      if (mode == MODE_LONG) base = readMem(d.eaSeg(), (d.eaOff + 2) & sizeMask(d.asz()), 8);
      else {
        base = readMem(d.eaSeg(), (d.eaOff + 2) & sizeMask(d.asz()), 4);
        if (d.osz() == 2) base &= 0xffffff; // 16-bit operand size loads a 24-bit base
      }
      if (reg == 2) { st.gdtrBase = base; st.gdtrLimit = limit; }
      else { st.idtrBase = base; st.idtrLimit = limit; }
      break;
    }
    case 4: writeE(2, st.cr0 & 0xffff); break; // SMSW m16
    case 6: lmsw(<u32>readE(2)); break;
    case 7: // INVLPG
      requireCpl0();
      flushTlbPage(st.mode == MODE_LONG ? (d.eaSeg() >= 4 ? segBase(d.eaSeg()) + d.eaOff : d.eaOff) : ((segBase(d.eaSeg()) + d.eaOff) & 0xffffffff));
      break;
    default: raiseUD();
  }
}

/** LMSW: loads PE, MP, EM, TS; cannot clear PE (SDM Vol. 2 "LMSW"). */
function lmsw(v: u32): void {
  requireCpl0();
  const keep = st.cr0 & ~<u64>0xe;
  movToCr0Value(keep | <u64>(v & 0xf) | (st.cr0 & CR0_PE));
}

import { rdtscInto } from "./system";
