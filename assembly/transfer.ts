// Segment loads and far control transfers in every mode: far JMP/CALL/RET, call gates, IRET,
// and interrupt/exception delivery (SDM Vol. 3A chapters 5 and 6, Vol. 2 "CALL", "IRET", "INT n").
import * as st from "./state";
import {
  mode, MODE_REAL, MODE_V86, MODE_PROT, MODE_COMPAT, MODE_LONG, ES, CS, SS, DS, FS, GS, TR, RSP,
  reg64, setReg64, segSelector, segBase, segLimit, segFlags, setSegCache, updateMode,
  DESC_P, DESC_S, DESC_TYPE_CODE, DESC_TYPE_RW, DESC_TYPE_EC, DESC_TYPE_ACCESSED, DESC_L, DESC_DB, DESC_DPL_SHIFT,
  F_IF, F_TF, F_NT, F_RF, F_VM, F_AC, F_IOPL, F_VIF, F_VIP, F_ID, F_FIXED1, F_ARITH, F_DF,
  EFER_LMA, CR4_VME,
} from "./state";
import { getEflags, flushFlags, sizeMask } from "./flags";
import * as flags from "./flags";
import { raise, EXC_GP, EXC_NP, EXC_SS, EXC_TS, EXC_UD, EXC_DB, EXC_BP, EXC_OF } from "./fault";
import {
  readDescriptor, readGate, descBase, descLimit, descFlags, descDpl, descPresent, descIsSystem, descType,
  gateOffset, gateSelector, setAccessed, descLo, descHi, descHi2,
} from "./descriptors";
import { readLin, writeLin, readLin16, readLin32, readLin64, setPrivilegeMasks, beginSupervisorAccess, endSupervisorAccess, isCanonical } from "./memory";
import { invalidateFetch } from "./decode";
import { push, pop, peek, setSp, linear } from "./access";
import { taskSwitch, setTaskSwitchExt, TS_JMP, TS_CALL, TS_IRET, TS_INT } from "./tasks";

// Kinds of interrupt for delivery (they differ in privilege checks and the saved RIP).
export const INT_EXT: u32 = 0; // external (PIC) or NMI
export const INT_EXC: u32 = 1; // processor exception (fault)
export const INT_SOFT: u32 = 2; // INT n
export const INT_INT3: u32 = 3; // INT3
export const INT_INTO: u32 = 4; // INTO
export const INT_ICEBP: u32 = 5; // INT1 (ICEBP)

/** Re-derive mode, CPL and access masks after CS, SS, CR0, EFER or EFLAGS.VM changed. */
export function modeChanged(): void {
  updateMode();
  setPrivilegeMasks(st.cpl == 3);
  invalidateFetch();
}

/** Write EFLAGS (all bits), keeping the fixed bit and re-deriving the mode if VM changed. */
export function setEflags(v: u32): void {
  const oldVm = st.eflags & F_VM;
  flushFlags();
  st.eflags = (v & (F_ARITH | F_TF | F_IF | F_DF | F_IOPL | F_NT | F_RF | F_VM | F_AC | F_VIF | F_VIP | F_ID | 0x800)) | F_FIXED1;
  flags.lfOp = flags.LF_NONE;
  if ((st.eflags & F_TF) != 0) st.events |= st.EV_TF;
  else st.events &= ~st.EV_TF;
  st.updateIntrEvent();
  st.updateAlignCheck();
  if ((st.eflags & F_VM) != oldVm) modeChanged();
}

// --- segment loading ---

/** Real-mode and virtual-8086 segment load: base = selector * 16. */
function loadSegReal(seg: u32, sel: u32): void {
  if (mode == MODE_V86) {
    // In virtual-8086 mode the hidden limit and attributes are set too (SDM Vol. 3A §20.1.1).
    setSegCache(seg, sel, <u64>(sel << 4), 0xffff, DESC_P | DESC_S | DESC_TYPE_RW | DESC_TYPE_ACCESSED | (3 << DESC_DPL_SHIFT) | (seg == CS ? DESC_TYPE_CODE : 0));
  } else {
    setSegCache(seg, sel, <u64>(sel << 4), segLimit(seg), segFlags(seg));
  }
}

/** Load the cache of `seg` from the descriptor just read. */
function loadFromDescriptor(seg: u32, sel: u32): void {
  setAccessed();
  setSegCache(seg, sel, descBase(), descLimit(), descFlags() | DESC_TYPE_ACCESSED);
}

/** MOV/POP/LxS to a segment register other than CS (SDM Vol. 2 "MOV" pseudo-code). */
export function loadSeg(seg: u32, sel: u32): void {
  sel &= 0xffff;
  if (mode == MODE_REAL || mode == MODE_V86) {
    loadSegReal(seg, sel);
    if (seg == SS) modeChanged();
    return;
  }
  const rpl = sel & 3;
  const cpl = st.cpl;
  if ((sel & 0xfffc) == 0) {
    if (seg == SS) {
      // A null SS is allowed only in 64-bit mode at CPL < 3 (SDM Vol. 2 "MOV").
      if (mode != MODE_LONG || cpl == 3 || rpl != cpl) raise(EXC_GP, 0);
      setSegCache(SS, sel, 0, 0, (cpl << DESC_DPL_SHIFT) | DESC_DB);
      modeChanged();
      return;
    }
    setSegCache(seg, sel, 0, 0, 0);
    return;
  }
  if (!readDescriptor(sel, false)) raise(EXC_GP, <i32>(sel & 0xfffc));
  const dpl = descDpl();
  const ty = descType();
  if (seg == SS) {
    // Writable data segment with RPL = DPL = CPL.
    if (descIsSystem() || (ty & 0xa) != 2 || rpl != cpl || dpl != cpl) raise(EXC_GP, <i32>(sel & 0xfffc));
    if (!descPresent()) raise(EXC_SS, <i32>(sel & 0xfffc));
    loadFromDescriptor(SS, sel);
    modeChanged();
    return;
  }
  // Data or readable code; privilege checked unless conforming code.
  if (descIsSystem() || (ty & 0xa) == 8) raise(EXC_GP, <i32>(sel & 0xfffc));
  if ((ty & 0xc) != 0xc && (rpl > dpl || cpl > dpl)) raise(EXC_GP, <i32>(sel & 0xfffc));
  if (!descPresent()) raise(EXC_NP, <i32>(sel & 0xfffc));
  loadFromDescriptor(seg, sel);
}

/** Load CS from the descriptor just read, with RPL forced to `newCpl`. */
function loadCs(sel: u32, newCpl: u32): void {
  setAccessed();
  setSegCache(CS, (sel & 0xfffc) | newCpl, descBase(), descLimit(), descFlags() | DESC_TYPE_ACCESSED);
  modeChanged();
}

/** Check a code-segment descriptor for a direct far JMP/CALL; raises the right fault. */
function checkDirectCode(sel: u32): void {
  const ty = descType();
  if ((ty & 8) == 0) raise(EXC_GP, <i32>(sel & 0xfffc));
  const dpl = descDpl();
  if ((ty & 4) != 0) {
    if (dpl > st.cpl) raise(EXC_GP, <i32>(sel & 0xfffc)); // conforming
  } else if ((sel & 3) > st.cpl || dpl != st.cpl) raise(EXC_GP, <i32>(sel & 0xfffc));
  if (!descPresent()) raise(EXC_NP, <i32>(sel & 0xfffc));
  // In long mode a 64-bit code segment may not also have D set (SDM Vol. 3A §5.2.1).
  if ((st.efer & EFER_LMA) != 0 && (descHi & DESC_L) != 0 && (descHi & DESC_DB) != 0) raise(EXC_GP, <i32>(sel & 0xfffc));
}

/** Offset limit check against the descriptor just read (none for 64-bit code). */
function checkTargetOffset(off: u64): void {
  if ((st.efer & EFER_LMA) != 0 && (descHi & DESC_L) != 0) {
    if (!isCanonical(off)) raise(EXC_GP, 0);
  } else if (off > <u64>descLimit()) raise(EXC_GP, 0);
}

/**
 * Far JMP/CALL to the system descriptor just read: switch tasks through a TSS or task gate
 * (returns true), or check the call gate and leave it in the descriptor globals (returns false;
 * in long mode re-read as a 16-byte gate).
 */
function taskOrGate(sel: u32, reason: u32): bool {
  const ty = descType();
  const dpl = descDpl();
  const err = <i32>(sel & 0xfffc);
  const lma = (st.efer & EFER_LMA) != 0;
  if (ty == 1 || ty == 9 || ty == 5) {
    if (lma) raise(EXC_GP, err);
    if (dpl < st.cpl || dpl < (sel & 3)) raise(EXC_GP, err);
    if (!descPresent()) raise(EXC_NP, err);
    taskSwitch(sel, ty == 5, reason, -1);
    return true;
  }
  if (ty != 4 && ty != 12) raise(EXC_GP, err);
  if (lma && (ty != 12 || !readDescriptor(sel, true))) raise(EXC_GP, err);
  if (dpl < st.cpl || dpl < (sel & 3)) raise(EXC_GP, err);
  if (!descPresent()) raise(EXC_NP, err);
  return false;
}

export function farJump(sel: u32, off: u64): void {
  sel &= 0xffff;
  if (mode == MODE_REAL || mode == MODE_V86) {
    loadSegReal(CS, sel);
    st.rip = off;
    invalidateFetch();
    return;
  }
  if ((sel & 0xfffc) == 0) raise(EXC_GP, 0);
  if (!readDescriptor(sel, false)) raise(EXC_GP, <i32>(sel & 0xfffc));
  if (!descIsSystem()) {
    checkDirectCode(sel);
    checkTargetOffset(off);
    loadCs(sel, st.cpl);
    st.rip = off;
    return;
  }
  if (taskOrGate(sel, TS_JMP)) return;
  // Call gate used by JMP: no privilege change is possible.
  const ty = descType();
  let target = gateOffset();
  if ((st.efer & EFER_LMA) == 0) target &= ty == 4 ? 0xffff : 0xffffffff;
  const csSel = gateSelector();
  if ((csSel & 0xfffc) == 0) raise(EXC_GP, 0);
  if (!readDescriptor(csSel, false)) raise(EXC_GP, <i32>(csSel & 0xfffc));
  const cty = descType();
  const cdpl = descDpl();
  if (descIsSystem() || (cty & 8) == 0) raise(EXC_GP, <i32>(csSel & 0xfffc));
  if ((cty & 4) != 0 ? cdpl > st.cpl : cdpl != st.cpl) raise(EXC_GP, <i32>(csSel & 0xfffc));
  if (!descPresent()) raise(EXC_NP, <i32>(csSel & 0xfffc));
  checkTargetOffset(target);
  loadCs(csSel, st.cpl);
  st.rip = target;
}

// --- TSS stack pointers ---

/** SS:ESP (or RSP) for privilege level `dpl` from the current TSS (SDM Vol. 3A §7.2.1, §7.7). */
export let tssSs: u32 = 0;
export let tssSp: u64 = 0;
export function tssStack(dpl: u32, ist: u32): void {
  const trFlags = segFlags(TR);
  const base = segBase(TR);
  const limit = <u64>segLimit(TR);
  beginSupervisorAccess();
  if ((st.efer & EFER_LMA) != 0) {
    const off: u64 = ist != 0 ? 0x24 + (<u64>(ist - 1) << 3) + 0 : 4 + (<u64>dpl << 3);
    const o = ist != 0 ? 0x24 + (<u64>ist - 1) * 8 : off;
    if (o + 7 > limit) { endSupervisorAccess(); raise(EXC_TS, <i32>(segSelector(TR) & 0xfffc)); }
    tssSp = readLin64(base + o);
    tssSs = 0;
  } else if (((trFlags >> 8) & 8) != 0) {
    // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n.
    const o: u64 = 4 + (<u64>dpl << 3);
    if (o + 5 > limit) { endSupervisorAccess(); raise(EXC_TS, <i32>(segSelector(TR) & 0xfffc)); }
    tssSp = <u64>readLin32((base + o) & 0xffffffff);
    tssSs = readLin16((base + o + 4) & 0xffffffff);
  } else {
    // 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n.
    const o: u64 = 2 + (<u64>dpl << 2);
    if (o + 3 > limit) { endSupervisorAccess(); raise(EXC_TS, <i32>(segSelector(TR) & 0xfffc)); }
    tssSp = <u64>readLin16((base + o) & 0xffffffff);
    tssSs = readLin16((base + o + 2) & 0xffffffff);
  }
  endSupervisorAccess();
}

/** Check and read the descriptor of a new inner stack selector; raises #TS / #SS. */
function checkInnerSs(ss: u32, dpl: u32, errorExt: u32): void {
  if ((ss & 0xfffc) == 0) raise(EXC_TS, <i32>errorExt);
  if (!readDescriptor(ss, false)) raise(EXC_TS, <i32>((ss & 0xfffc) | errorExt));
  if ((ss & 3) != dpl || descDpl() != dpl || descIsSystem() || (descType() & 0xa) != 2) raise(EXC_TS, <i32>((ss & 0xfffc) | errorExt));
  if (!descPresent()) raise(EXC_SS, <i32>((ss & 0xfffc) | errorExt));
}

// Writes onto a new stack before it is committed: explicit SS base/limit/size.
let nsBase: u64 = 0;
let nsLimit: u32 = 0;
let nsFlags: u32 = 0;
let nsSp: u64 = 0;
let nsMask: u64 = 0xffffffff;
/**
 * True while the pushes go to a more privileged stack (an interrupt or call gate from an outer
 * ring): they are made at the new privilege level, so they are supervisor accesses even though
 * CPL is still the old one (a ring-3 interrupt must not fault on a supervisor-only kernel stack).
 */
let nsSupervisor: bool = false;

function nsPush(v: u64, size: u32): void {
  nsSp = (nsSp - size) & nsMask;
  let lin: u64;
  if (mode == MODE_LONG || nsMask == 0xffffffffffffffff) {
    lin = nsSp;
  } else {
    if (nsSp + size - 1 > <u64>nsLimit && (nsFlags & DESC_TYPE_EC) == 0) raise(EXC_SS, 0);
    lin = (nsBase + nsSp) & 0xffffffff;
  }
  if (nsSupervisor) {
    // A fault here unwinds past endSupervisorAccess(); deliverPending() resets the masks from CPL.
    beginSupervisorAccess();
    writeLin(lin, size, v);
    endSupervisorAccess();
  } else writeLin(lin, size, v);
}

export function farCall(sel: u32, off: u64, osz: u32): void {
  sel &= 0xffff;
  if (mode == MODE_REAL || mode == MODE_V86) {
    const oldCs = segSelector(CS);
    const oldIp = st.rip;
    push(<u64>oldCs, osz);
    push(oldIp, osz);
    loadSegReal(CS, sel);
    st.rip = off & sizeMask(osz);
    invalidateFetch();
    return;
  }
  if ((sel & 0xfffc) == 0) raise(EXC_GP, 0);
  if (!readDescriptor(sel, false)) raise(EXC_GP, <i32>(sel & 0xfffc));
  if (!descIsSystem()) {
    checkDirectCode(sel);
    checkTargetOffset(off);
    // Check the pushes before loading CS.
    const sp = reg64(RSP);
    const retCs = <u64>segSelector(CS);
    const retIp = st.rip;
    linear(SS, (sp - 2 * <u64>osz) & sizeMask(st.stackSize), 2 * osz, true);
    const csLo = descLo, csHi = descHi;
    push(retCs, osz);
    push(retIp, osz);
    // Restore the code descriptor (push may not have changed it, but keep it explicit).
    if (csLo != descLo || csHi != descHi) readDescriptor(sel, false);
    loadCs(sel, st.cpl);
    st.rip = off;
    return;
  }
  if (taskOrGate(sel, TS_CALL)) return;
  const ty = descType();
  const lma = (st.efer & EFER_LMA) != 0;
  const gateSize: u32 = lma ? 8 : ty == 12 ? 4 : 2;
  let target = gateOffset();
  if (!lma) target &= sizeMask(gateSize);
  const paramCount = descHi & 0x1f;
  const csSel = gateSelector();
  if ((csSel & 0xfffc) == 0) raise(EXC_GP, 0);
  if (!readDescriptor(csSel, false)) raise(EXC_GP, <i32>(csSel & 0xfffc));
  const cty = descType();
  const cdpl = descDpl();
  if (descIsSystem() || (cty & 8) == 0 || cdpl > st.cpl) raise(EXC_GP, <i32>(csSel & 0xfffc));
  if (!descPresent()) raise(EXC_NP, <i32>(csSel & 0xfffc));
  if (lma && ((descHi & DESC_L) == 0 || (descHi & DESC_DB) != 0)) raise(EXC_GP, <i32>(csSel & 0xfffc));
  const codeLo = descLo, codeHi = descHi;
  const oldCs = <u64>segSelector(CS);
  const oldIp = st.rip;
  if ((cty & 4) == 0 && cdpl < st.cpl) {
    // More privileged: switch to the inner stack from the TSS and copy parameters.
    tssStack(cdpl, 0);
    const oldSs = <u64>segSelector(SS);
    const oldSp = reg64(RSP);
    let newSs = tssSs;
    if (lma) {
      newSs = cdpl; // null SS with RPL = new CPL
      nsBase = 0; nsLimit = 0xffffffff; nsFlags = 0; nsMask = 0xffffffffffffffff;
    } else {
      checkInnerSs(newSs, cdpl, 0);
      nsBase = descBase(); nsLimit = descLimit(); nsFlags = descFlags();
      nsMask = (nsFlags & DESC_DB) != 0 ? 0xffffffff : 0xffff;
    }
    const ssLo = descLo, ssHi = descHi;
    nsSp = tssSp & nsMask;
    nsSupervisor = true;
    nsPush(oldSs, gateSize);
    nsPush(oldSp, gateSize);
    const oldMask = sizeMask(st.stackSize);
    for (let i: i32 = <i32>paramCount - 1; i >= 0; i--) {
      const v = readLin(linear(SS, (oldSp + <u64>(i * gateSize)) & oldMask, gateSize, false), gateSize);
      nsPush(v, gateSize);
    }
    nsPush(oldCs, gateSize);
    nsPush(oldIp, gateSize);
    // Commit: SS, then CS (which sets the new CPL).
    if (lma) setSegCache(SS, newSs, 0, 0, (cdpl << DESC_DPL_SHIFT) | DESC_P | DESC_S | DESC_TYPE_RW | DESC_DB);
    else {
      const savedLo = descLo, savedHi = descHi;
      if (savedLo != ssLo || savedHi != ssHi) readDescriptor(newSs, false);
      setSegCache(SS, newSs, nsBase, nsLimit, nsFlags | DESC_TYPE_ACCESSED);
    }
    setReg64(RSP, 0);
    if (nsMask == 0xffff) st.setReg16(RSP, <u32>nsSp); else setReg64(RSP, nsSp);
    setSegCache(CS, (csSel & 0xfffc) | cdpl, (<u64>((codeLo >>> 16) | ((codeHi & 0xff) << 16) | (codeHi & 0xff000000))),
      codeLimitOf(codeLo, codeHi), (codeHi & 0x00f0ff00) | DESC_TYPE_ACCESSED);
    modeChanged();
    st.rip = target;
    return;
  }
  // Same privilege through the gate.
  push(oldCs, gateSize);
  push(oldIp, gateSize);
  setSegCache(CS, (csSel & 0xfffc) | st.cpl, (<u64>((codeLo >>> 16) | ((codeHi & 0xff) << 16) | (codeHi & 0xff000000))),
    codeLimitOf(codeLo, codeHi), (codeHi & 0x00f0ff00) | DESC_TYPE_ACCESSED);
  modeChanged();
  st.rip = target;
}

function codeLimitOf(lo: u32, hi: u32): u32 {
  let l = (lo & 0xffff) | (hi & 0xf0000);
  if ((hi & (1 << 23)) != 0) l = (l << 12) | 0xfff;
  return l;
}

/** After a return to an outer level, data segments the new CPL may not use become null (§5.8.6). */
function nullInaccessibleSegments(): void {
  for (let s: u32 = 0; s < 6; s++) {
    if (s == CS || s == SS) continue;
    const f = segFlags(s);
    const dpl = (f >> DESC_DPL_SHIFT) & 3;
    const conformingCode = (f & (DESC_TYPE_CODE | DESC_TYPE_EC)) == (DESC_TYPE_CODE | DESC_TYPE_EC);
    if ((f & DESC_S) != 0 && !conformingCode && dpl < st.cpl) setSegCache(s, 0, 0, 0, 0);
  }
}

/** Common tail of far RET and protected-mode IRET: CS:IP already popped at offsets 0 and size. */
function returnToCode(newCs: u32, newIp: u64, size: u32, extra: u32, iretFlags: i64): void {
  if ((newCs & 0xfffc) == 0) raise(EXC_GP, 0);
  if (!readDescriptor(newCs, false)) raise(EXC_GP, <i32>(newCs & 0xfffc));
  const rpl = newCs & 3;
  const ty = descType();
  if (descIsSystem() || (ty & 8) == 0 || rpl < st.cpl) raise(EXC_GP, <i32>(newCs & 0xfffc));
  if ((ty & 4) != 0 ? descDpl() > rpl : descDpl() != rpl) raise(EXC_GP, <i32>(newCs & 0xfffc));
  if (!descPresent()) raise(EXC_NP, <i32>(newCs & 0xfffc));
  const lma = (st.efer & EFER_LMA) != 0;
  if (lma && (descHi & DESC_L) != 0 && (descHi & DESC_DB) != 0) raise(EXC_GP, <i32>(newCs & 0xfffc));
  const codeLo = descLo, codeHi = descHi;
  const isIret = iretFlags >= 0;
  const frame: u32 = isIret ? 3 : 2; // IP, CS (, FLAGS)
  const toOuter = rpl > st.cpl;
  const returnToLong = lma && (codeHi & DESC_L) != 0;
  if (!returnToLong && newIp > <u64>codeLimitOf(codeLo, codeHi)) raise(EXC_GP, 0);
  if (returnToLong && !isCanonical(newIp)) raise(EXC_GP, 0);
  // IRETQ always pops SS:RSP (SDM Vol. 2 "IRET").
  const popStack = toOuter || (isIret && mode == MODE_LONG);
  if (!popStack) {
    setSp(reg64(RSP) + frame * size + extra);
    setSegCache(CS, newCs, <u64>((codeLo >>> 16) | ((codeHi & 0xff) << 16) | (codeHi & 0xff000000)), codeLimitOf(codeLo, codeHi), (codeHi & 0x00f0ff00) | DESC_TYPE_ACCESSED);
    if (isIret) applyIretFlags(<u32>iretFlags, size);
    modeChanged();
    st.rip = newIp;
    return;
  }
  const newSp = peek(frame * size + extra, size);
  const newSs = <u32>peek(frame * size + extra + size, size) & 0xffff;
  let ssBase: u64 = 0, ssLimit: u32 = 0, ssFlags: u32 = 0;
  if ((newSs & 0xfffc) == 0) {
    // A null SS is allowed when returning to 64-bit code at CPL < 3.
    if (!(returnToLong && rpl != 3 && (newSs & 3) == rpl)) raise(EXC_GP, 0);
    ssFlags = (rpl << DESC_DPL_SHIFT) | DESC_DB;
  } else {
    if (!readDescriptor(newSs, false)) raise(EXC_GP, <i32>(newSs & 0xfffc));
    if ((newSs & 3) != rpl || descDpl() != rpl || descIsSystem() || (descType() & 0xa) != 2) raise(EXC_GP, <i32>(newSs & 0xfffc));
    if (!descPresent()) raise(EXC_SS, <i32>(newSs & 0xfffc));
    setAccessed();
    ssBase = descBase(); ssLimit = descLimit(); ssFlags = descFlags() | DESC_TYPE_ACCESSED;
  }
  if (isIret) applyIretFlags(<u32>iretFlags, size);
  setSegCache(CS, newCs, <u64>((codeLo >>> 16) | ((codeHi & 0xff) << 16) | (codeHi & 0xff000000)), codeLimitOf(codeLo, codeHi), (codeHi & 0x00f0ff00) | DESC_TYPE_ACCESSED);
  setSegCache(SS, newSs, ssBase, ssLimit, ssFlags);
  modeChanged();
  // RET imm16 also releases parameters from the outer stack.
  const outerExtra: u64 = isIret ? 0 : <u64>extra;
  if (mode == MODE_LONG) setReg64(RSP, newSp + outerExtra);
  else if ((ssFlags & DESC_DB) != 0) setReg64(RSP, (newSp + outerExtra) & 0xffffffff);
  else st.setReg16(RSP, <u32>(newSp + outerExtra));
  st.rip = newIp;
  if (toOuter) nullInaccessibleSegments();
}

export function farReturn(osz: u32, extra: u32): void {
  if (mode == MODE_REAL || mode == MODE_V86) {
    const ip = pop(osz);
    const cs = <u32>pop(osz) & 0xffff;
    setSp(reg64(RSP) + extra);
    loadSegReal(CS, cs);
    st.rip = ip & sizeMask(osz);
    invalidateFetch();
    return;
  }
  const ip = peek(0, osz);
  const cs = <u32>peek(osz, osz) & 0xffff;
  returnToCode(cs, ip, osz, extra, -1);
}

/** Load EFLAGS from an IRET frame with the privilege rules of SDM Vol. 2 "IRET". */
function applyIretFlags(v: u32, size: u32): void {
  let mask: u32 = F_ARITH | F_TF | F_DF | F_NT | 0x800 | F_RF | F_AC | F_ID;
  const iopl = (st.eflags >> 12) & 3;
  if (st.cpl <= iopl) mask |= F_IF;
  if (st.cpl == 0) mask |= F_IOPL | F_VIF | F_VIP;
  if (size == 2) mask &= 0xffff;
  setEflags((getEflags() & ~mask) | (v & mask));
}

export function iret(osz: u32): void {
  // IRET ends NMI blocking (SDM Vol. 3A §6.7.1), even if it then faults.
  st.nmiBlocked = false;
  if (mode == MODE_REAL) {
    const ip = pop(osz);
    const cs = <u32>pop(osz) & 0xffff;
    const fl = <u32>pop(osz);
    loadSegReal(CS, cs);
    st.rip = ip & sizeMask(osz);
    const mask: u32 = osz == 2 ? 0xffff & ~0 : 0x257fd5 & ~(F_VM | F_VIF | F_VIP);
    setEflags((getEflags() & ~mask) | (fl & mask));
    invalidateFetch();
    return;
  }
  if (mode == MODE_V86) {
    // IOPL 3: IRET works on the real-mode stack frame; otherwise #GP (no VME yet).
    if (((st.eflags >> 12) & 3) != 3) raise(EXC_GP, 0);
    const ip = pop(osz);
    const cs = <u32>pop(osz) & 0xffff;
    const fl = <u32>pop(osz);
    loadSegReal(CS, cs);
    st.rip = ip & sizeMask(osz);
    const mask: u32 = (osz == 2 ? 0xffff : 0xffffffff) & ~(F_IOPL | F_VM | F_VIF | F_VIP);
    setEflags((getEflags() & ~mask) | (fl & mask));
    invalidateFetch();
    return;
  }
  if ((st.eflags & F_NT) != 0) {
    if (mode == MODE_LONG || (st.efer & EFER_LMA) != 0) raise(EXC_GP, 0);
    // Return from a nested task through the TSS back link.
    beginSupervisorAccess();
    const link = readLin16(segBase(TR) & 0xffffffff);
    endSupervisorAccess();
    taskSwitch(link, false, TS_IRET, -1);
    return;
  }
  const ip = peek(0, osz);
  const cs = <u32>peek(osz, osz) & 0xffff;
  const fl = <u32>peek(2 * osz, osz);
  if ((fl & F_VM) != 0 && st.cpl == 0 && mode == MODE_PROT && osz == 4) {
    returnToV86(<u32>ip, cs, fl);
    return;
  }
  returnToCode(cs, ip, osz, 0, <i64>fl);
}

/** IRET from CPL 0 to virtual-8086 mode: pops ESP, SS, ES, DS, FS, GS too (SDM Vol. 2 "IRET"). */
function returnToV86(ip: u32, cs: u32, fl: u32): void {
  const esp = <u32>peek(12, 4);
  const ss = <u32>peek(16, 4) & 0xffff;
  const es = <u32>peek(20, 4) & 0xffff;
  const ds = <u32>peek(24, 4) & 0xffff;
  const fs = <u32>peek(28, 4) & 0xffff;
  const gs = <u32>peek(32, 4) & 0xffff;
  setEflags(fl);
  // setEflags switched the mode to V86: segment loads now take real-mode form.
  loadSegReal(CS, cs);
  loadSegReal(SS, ss);
  loadSegReal(ES, es);
  loadSegReal(DS, ds);
  loadSegReal(FS, fs);
  loadSegReal(GS, gs);
  modeChanged();
  setReg64(RSP, <u64>esp);
  st.rip = <u64>(ip & 0xffff);
}

// --- interrupts and exceptions ---

/** Does this vector push an error code (SDM Vol. 3A Table 6-1)? */
export function hasErrorCode(v: u32): bool {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/** INT n / INT3 / INTO / INT1: RIP already points past the instruction. */
export function softwareInterrupt(vector: u32, kind: u32): void {
  if (mode == MODE_V86 && kind == INT_SOFT && ((st.eflags >> 12) & 3) < 3) raise(EXC_GP, 0);
  deliver(vector, kind, -1);
  st.softwareInterruptTaken = true;
}

/**
 * Deliver interrupt `vector` through the IVT or IDT. `error` < 0: none. Faults during delivery are
 * raised with the EXT bit where the SDM asks for it (external events and exceptions).
 */
export function deliver(vector: u32, kind: u32, error: i32): void {
  const ext: u32 = kind == INT_EXT || kind == INT_EXC ? 1 : 0;
  if (mode == MODE_REAL) {
    if (<u64>(vector * 4 + 3) > <u64>st.idtrLimit) raise(EXC_GP, <i32>(vector * 8 + 2 + ext));
    const fl = getEflags();
    const ivt = (st.idtrBase + <u64>(vector * 4)) & 0xffffffff;
    const newIp = readLin16(ivt);
    const newCs = readLin16(ivt + 2);
    push(<u64>(fl & 0xffff), 2);
    push(<u64>segSelector(CS), 2);
    push(st.rip & 0xffff, 2);
    loadSegReal(CS, newCs);
    st.rip = <u64>newIp;
    st.eflags &= ~(F_IF | F_TF | F_AC | F_RF);
    invalidateFetch();
    return;
  }
  const idtErr: i32 = <i32>(vector * 8 + 2 + ext);
  if (!readGate(vector)) raise(EXC_GP, idtErr);
  const lma = (st.efer & EFER_LMA) != 0;
  const ty = descType();
  const soft = kind == INT_SOFT || kind == INT_INT3 || kind == INT_INTO;
  // Gate type: 5 task gate (legacy only), 6/7 16-bit, 14/15 32/64-bit interrupt/trap gates.
  const valid = lma ? (ty == 14 || ty == 15) : (ty == 5 || ty == 6 || ty == 7 || ty == 14 || ty == 15);
  if (!valid || !descIsSystem()) raise(EXC_GP, idtErr);
  if (soft && descDpl() < st.cpl) raise(EXC_GP, idtErr);
  if (!descPresent()) raise(EXC_NP, idtErr);
  if (ty == 5) {
    // Faults raised by the task switch carry EXT for external interrupts and exceptions (§6.13).
    setTaskSwitchExt(ext);
    taskSwitch(gateSelector(), false, TS_INT, hasErrorCode(vector) && kind == INT_EXC ? error : -1);
    return;
  }
  const trapGate = (ty & 1) != 0;
  const gateSize: u32 = lma ? 8 : (ty & 8) != 0 ? 4 : 2;
  let target = gateOffset();
  if (!lma) target &= sizeMask(gateSize);
  const gateIst: u32 = lma ? (descHi & 7) : 0;
  const csSel = gateSelector();
  if ((csSel & 0xfffc) == 0) raise(EXC_GP, <i32>ext);
  if (!readDescriptor(csSel, false)) raise(EXC_GP, <i32>((csSel & 0xfffc) | ext));
  const cdpl = descDpl();
  const cty = descType();
  if (descIsSystem() || (cty & 8) == 0 || cdpl > st.cpl) raise(EXC_GP, <i32>((csSel & 0xfffc) | ext));
  if (!descPresent()) raise(EXC_NP, <i32>((csSel & 0xfffc) | ext));
  if (lma && ((descHi & DESC_L) == 0 || (descHi & DESC_DB) != 0)) raise(EXC_GP, <i32>((csSel & 0xfffc) | ext));
  const codeLo = descLo, codeHi = descHi;
  const fromV86 = mode == MODE_V86;
  const inner = (cty & 4) == 0 && cdpl < st.cpl;
  if (fromV86 && (!inner || cdpl != 0)) raise(EXC_GP, <i32>((csSel & 0xfffc) | ext));
  const fl = getEflags();
  const oldCs = <u64>segSelector(CS);
  const oldSs = <u64>segSelector(SS);
  const oldSp = reg64(RSP);
  const newCpl = inner ? cdpl : st.cpl;
  nsSupervisor = inner;
  let newSs: u32 = 0;
  if (lma) {
    // 64-bit IDT: the new RSP comes from the TSS (RSPn or ISTn) or stays; aligned to 16.
    if (inner || gateIst != 0) {
      tssStack(newCpl, gateIst);
      nsSp = tssSp;
    } else nsSp = oldSp;
    nsSp &= ~<u64>15;
    nsMask = 0xffffffffffffffff;
    newSs = inner ? newCpl : <u32>oldSs;
    if (!isCanonical(nsSp)) raise(EXC_SS, <i32>ext);
    nsPush(oldSs, 8);
    nsPush(oldSp, 8);
    nsPush(<u64>fl, 8);
    nsPush(oldCs, 8);
    nsPush(st.rip, 8);
    if (error >= 0) nsPush(<u64>error, 8);
  } else if (inner) {
    tssStack(newCpl, 0);
    newSs = tssSs;
    checkInnerSs(newSs, newCpl, ext);
    nsBase = descBase(); nsLimit = descLimit(); nsFlags = descFlags();
    nsMask = (nsFlags & DESC_DB) != 0 ? 0xffffffff : 0xffff;
    nsSp = tssSp & nsMask;
    if (fromV86) {
      nsPush(<u64>segSelector(GS), gateSize);
      nsPush(<u64>segSelector(FS), gateSize);
      nsPush(<u64>segSelector(DS), gateSize);
      nsPush(<u64>segSelector(ES), gateSize);
    }
    nsPush(oldSs, gateSize);
    nsPush(oldSp, gateSize);
    nsPush(<u64>fl, gateSize);
    nsPush(oldCs, gateSize);
    nsPush(st.rip, gateSize);
    if (error >= 0) nsPush(<u64>error, gateSize);
  } else {
    nsBase = segBase(SS); nsLimit = segLimit(SS); nsFlags = segFlags(SS);
    nsMask = sizeMask(st.stackSize);
    nsSp = oldSp & nsMask;
    nsPush(<u64>fl, gateSize);
    nsPush(oldCs, gateSize);
    nsPush(st.rip, gateSize);
    if (error >= 0) nsPush(<u64>error, gateSize);
  }
  // Commit.
  if (lma) {
    if (inner) setSegCache(SS, newSs, 0, 0, (newCpl << DESC_DPL_SHIFT) | DESC_DB);
  } else if (inner) {
    readDescriptor(newSs, false);
    setAccessed();
    setSegCache(SS, newSs, nsBase, nsLimit, nsFlags | DESC_TYPE_ACCESSED);
  }
  if (fromV86) {
    setSegCache(ES, 0, 0, 0, 0);
    setSegCache(DS, 0, 0, 0, 0);
    setSegCache(FS, 0, 0, 0, 0);
    setSegCache(GS, 0, 0, 0, 0);
  }
  setSegCache(CS, (csSel & 0xfffc) | newCpl, <u64>((codeLo >>> 16) | ((codeHi & 0xff) << 16) | (codeHi & 0xff000000)), codeLimitOf(codeLo, codeHi), (codeHi & 0x00f0ff00) | DESC_TYPE_ACCESSED);
  if (nsMask == 0xffff) st.setReg16(RSP, <u32>nsSp); else setReg64(RSP, nsSp);
  let clear: u32 = F_TF | F_NT | F_RF | F_VM;
  if (!trapGate) clear |= F_IF;
  setEflags(fl & ~clear);
  modeChanged();
  st.rip = target;
}

// --- I/O permission (SDM Vol. 1 §19.5) ---

/** Raise #GP(0) unless the current privilege may access ports port .. port+size-1. */
export function ioPermitted(port: u32, size: u32): void {
  if (mode == MODE_REAL) return;
  if (mode != MODE_V86 && st.cpl <= ((st.eflags >> 12) & 3)) return;
  // Consult the I/O permission bitmap of a 32-bit (or 64-bit) TSS.
  const trFlags = segFlags(TR);
  if ((trFlags & DESC_P) == 0 || ((trFlags >> 8) & 8) == 0) raise(EXC_GP, 0);
  const base = segBase(TR);
  const limit = <u64>segLimit(TR);
  if (limit < 0x67) raise(EXC_GP, 0);
  beginSupervisorAccess();
  const mapBase = <u64>readLin16(base + 0x66);
  const byteOff = mapBase + <u64>(port >> 3);
  if (byteOff + 1 > limit) { endSupervisorAccess(); raise(EXC_GP, 0); }
  const bits = readLin16(base + byteOff);
  endSupervisorAccess();
  const mask = ((1 << size) - 1) << (port & 7);
  if ((bits & mask) != 0) raise(EXC_GP, 0);
}

