// Hardware task switching in legacy protected mode (SDM Vol. 3A chapter 7): JMP/CALL to a TSS or
// task gate, IRET with NT set, and interrupts/exceptions through IDT task gates. Long mode has no
// task switching (SDM Vol. 3A §7.7); the callers in transfer.ts raise #GP before getting here.
//
// The switch runs in two halves, as §7.3 describes. Before the commit point every fault leaves the
// old task untouched and restarts the instruction that asked for the switch: the new TSS is read
// in full and every write is probed before the first one is made. After TR has been loaded the
// switch is complete; faults from loading the new task's LDT and segments are raised in the
// context of the new task, at its first instruction (§7.3 step 13).
import * as st from "./state";
import {
  ES, CS, SS, DS, FS, GS, LDTR, TR, RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
  reg32, setReg32, segBase, segLimit, segFlags, segSelector, setSegCache,
  CR0_PG, CR0_TS, F_NT, F_VM,
  DESC_P, DESC_S, DESC_TYPE_ACCESSED, DESC_TYPE_RW, DESC_TYPE_CODE, DESC_DPL_SHIFT,
} from "./state";
import { raise, EXC_GP, EXC_NP, EXC_SS, EXC_TS } from "./fault";
import {
  readDescriptor, descBase, descLimit, descFlags, descDpl, descPresent, descIsSystem, descType,
  gateSelector, setAccessed, writeDescHi, descHi,
} from "./descriptors";
import {
  readLin16, readLin32, writeLin16, writeLin32, probeWrite, beginSupervisorAccess, endSupervisorAccess,
} from "./memory";
import { getEflags } from "./flags";
import { setEflags, modeChanged } from "./transfer";
import { movToCr3Value } from "./system";
import { push } from "./access";

export const TS_JMP: u32 = 0;
export const TS_CALL: u32 = 1;
export const TS_IRET: u32 = 2;
export const TS_INT: u32 = 3;

/**
 * EXT bit (SDM Vol. 3A §6.13) for the error codes of faults raised by a TS_INT switch. deliver()
 * should set it to 1 before calling taskSwitch for an external interrupt or an exception; it is
 * consumed (reset to 0) by every call.
 */
export let taskSwitchExt: u32 = 0;
export function setTaskSwitchExt(ext: u32): void {
  taskSwitchExt = ext;
}

// TSS descriptor "busy" bit: bit 1 of the type field (SDM Vol. 3A §7.2.2).
const TSS_BUSY: u32 = 0x200;

// The new task's state, read from its TSS before anything is written (no allocation: globals).
let nCr3: u32 = 0;
let nEip: u32 = 0;
let nEflags: u32 = 0;
let nEax: u32 = 0;
let nEcx: u32 = 0;
let nEdx: u32 = 0;
let nEbx: u32 = 0;
let nEsp: u32 = 0;
let nEbp: u32 = 0;
let nEsi: u32 = 0;
let nEdi: u32 = 0;
let nEs: u32 = 0;
let nCs: u32 = 0;
let nSs: u32 = 0;
let nDs: u32 = 0;
let nFs: u32 = 0;
let nGs: u32 = 0;
let nLdt: u32 = 0;

/** TSS fields are addressed linearly and wrap at 4 GiB (legacy modes only). */
@inline function tssLin(base: u64, off: u32): u64 {
  return (base + <u64>off) & 0xffffffff;
}

/** Read the state fields of a 32-bit TSS (SDM Vol. 3A Figure 7-2). Caller brackets supervisor access. */
function readTss32(base: u64): void {
  nCr3 = readLin32(tssLin(base, 0x1c));
  nEip = readLin32(tssLin(base, 0x20));
  nEflags = readLin32(tssLin(base, 0x24));
  nEax = readLin32(tssLin(base, 0x28));
  nEcx = readLin32(tssLin(base, 0x2c));
  nEdx = readLin32(tssLin(base, 0x30));
  nEbx = readLin32(tssLin(base, 0x34));
  nEsp = readLin32(tssLin(base, 0x38));
  nEbp = readLin32(tssLin(base, 0x3c));
  nEsi = readLin32(tssLin(base, 0x40));
  nEdi = readLin32(tssLin(base, 0x44));
  nEs = readLin16(tssLin(base, 0x48));
  nCs = readLin16(tssLin(base, 0x4c));
  nSs = readLin16(tssLin(base, 0x50));
  nDs = readLin16(tssLin(base, 0x54));
  nFs = readLin16(tssLin(base, 0x58));
  nGs = readLin16(tssLin(base, 0x5c));
  nLdt = readLin16(tssLin(base, 0x60));
  // The debug trap flag T (offset 0x64 bit 0) is not implemented: no #DB is raised on entry.
}

/** Read a 16-bit TSS (SDM Vol. 3A Figure 7-10); it has no CR3, FS or GS fields. */
function readTss16(base: u64): void {
  nCr3 = 0;
  nEip = readLin16(tssLin(base, 0x0e));
  nEflags = readLin16(tssLin(base, 0x10));
  nEax = readLin16(tssLin(base, 0x12));
  nEcx = readLin16(tssLin(base, 0x14));
  nEdx = readLin16(tssLin(base, 0x16));
  nEbx = readLin16(tssLin(base, 0x18));
  nEsp = readLin16(tssLin(base, 0x1a));
  nEbp = readLin16(tssLin(base, 0x1c));
  nEsi = readLin16(tssLin(base, 0x1e));
  nEdi = readLin16(tssLin(base, 0x20));
  nEs = readLin16(tssLin(base, 0x22));
  nCs = readLin16(tssLin(base, 0x24));
  nSs = readLin16(tssLin(base, 0x26));
  nDs = readLin16(tssLin(base, 0x28));
  nLdt = readLin16(tssLin(base, 0x2a));
}

/** Save the current task into a 32-bit TSS: EIP, EFLAGS, GPRs, selectors (§7.3 step 8). */
function saveTss32(base: u64, eip: u32, fl: u32): void {
  writeLin32(tssLin(base, 0x20), eip);
  writeLin32(tssLin(base, 0x24), fl);
  writeLin32(tssLin(base, 0x28), reg32(RAX));
  writeLin32(tssLin(base, 0x2c), reg32(RCX));
  writeLin32(tssLin(base, 0x30), reg32(RDX));
  writeLin32(tssLin(base, 0x34), reg32(RBX));
  writeLin32(tssLin(base, 0x38), reg32(RSP));
  writeLin32(tssLin(base, 0x3c), reg32(RBP));
  writeLin32(tssLin(base, 0x40), reg32(RSI));
  writeLin32(tssLin(base, 0x44), reg32(RDI));
  // Selector slots are 32 bits with the upper half reserved: write only the selector.
  writeLin16(tssLin(base, 0x48), segSelector(ES));
  writeLin16(tssLin(base, 0x4c), segSelector(CS));
  writeLin16(tssLin(base, 0x50), segSelector(SS));
  writeLin16(tssLin(base, 0x54), segSelector(DS));
  writeLin16(tssLin(base, 0x58), segSelector(FS));
  writeLin16(tssLin(base, 0x5c), segSelector(GS));
}

/** Save into a 16-bit TSS: the upper halves of EIP, EFLAGS and the GPRs are lost (§7.6). */
function saveTss16(base: u64, eip: u32, fl: u32): void {
  writeLin16(tssLin(base, 0x0e), eip);
  writeLin16(tssLin(base, 0x10), fl);
  writeLin16(tssLin(base, 0x12), reg32(RAX));
  writeLin16(tssLin(base, 0x14), reg32(RCX));
  writeLin16(tssLin(base, 0x16), reg32(RDX));
  writeLin16(tssLin(base, 0x18), reg32(RBX));
  writeLin16(tssLin(base, 0x1a), reg32(RSP));
  writeLin16(tssLin(base, 0x1c), reg32(RBP));
  writeLin16(tssLin(base, 0x1e), reg32(RSI));
  writeLin16(tssLin(base, 0x20), reg32(RDI));
  writeLin16(tssLin(base, 0x22), segSelector(ES));
  writeLin16(tssLin(base, 0x24), segSelector(CS));
  writeLin16(tssLin(base, 0x26), segSelector(SS));
  writeLin16(tssLin(base, 0x28), segSelector(DS));
}

// --- loading the new task's segments (after the commit point; SDM Vol. 3A Table 7-1) ---

/** LDTR: null, or a present LDT descriptor in the GDT; anything else is #TS(LDT selector). */
function loadTaskLdt(sel: u32, ext: u32): void {
  if ((sel & 0xfffc) == 0) {
    setSegCache(LDTR, sel, 0, 0, 0);
    return;
  }
  const err = <i32>((sel & 0xfffc) | ext);
  if ((sel & 4) != 0 || !readDescriptor(sel, false)) raise(EXC_TS, err);
  // A not-present LDT is #TS too, not #NP (Table 7-1, "LDT of new task is present").
  if (!descIsSystem() || descType() != 2 || !descPresent()) raise(EXC_TS, err);
  setSegCache(LDTR, sel, descBase(), descLimit(), descFlags());
}

/** SS: writable data with RPL = DPL = the new CPL; not present is #SS. */
function loadTaskStack(sel: u32, cpl: u32, ext: u32): void {
  const err = <i32>((sel & 0xfffc) | ext);
  if ((sel & 0xfffc) == 0 || !readDescriptor(sel, false)) raise(EXC_TS, err);
  if ((sel & 3) != cpl || descIsSystem() || (descType() & 0xa) != 2 || descDpl() != cpl) raise(EXC_TS, err);
  if (!descPresent()) raise(EXC_SS, err);
  setAccessed();
  setSegCache(SS, sel, descBase(), descLimit(), descFlags() | DESC_TYPE_ACCESSED);
}

/** CS: a code segment; nonconforming needs DPL = CPL, conforming DPL <= CPL; not present is #NP. */
function loadTaskCode(sel: u32, cpl: u32, ext: u32): void {
  const err = <i32>((sel & 0xfffc) | ext);
  if ((sel & 0xfffc) == 0 || !readDescriptor(sel, false)) raise(EXC_TS, err);
  const ty = descType();
  if (descIsSystem() || (ty & 8) == 0) raise(EXC_TS, err);
  if ((ty & 4) != 0 ? descDpl() > cpl : descDpl() != cpl) raise(EXC_TS, err);
  if (!descPresent()) raise(EXC_NP, err);
  setAccessed();
  setSegCache(CS, sel, descBase(), descLimit(), descFlags() | DESC_TYPE_ACCESSED);
}

/** DS/ES/FS/GS: null, data or readable code, with the MOV privilege rules; not present is #NP. */
function loadTaskData(seg: u32, sel: u32, cpl: u32, ext: u32): void {
  if ((sel & 0xfffc) == 0) {
    setSegCache(seg, sel, 0, 0, 0);
    return;
  }
  const err = <i32>((sel & 0xfffc) | ext);
  if (!readDescriptor(sel, false)) raise(EXC_TS, err);
  const ty = descType();
  if (descIsSystem() || (ty & 0xa) == 8) raise(EXC_TS, err); // execute-only code
  const dpl = descDpl();
  if ((ty & 0xc) != 0xc && (dpl < cpl || dpl < (sel & 3))) raise(EXC_TS, err); // not conforming code
  if (!descPresent()) raise(EXC_NP, err);
  setAccessed();
  setSegCache(seg, sel, descBase(), descLimit(), descFlags() | DESC_TYPE_ACCESSED);
}

/** Virtual-8086 segment: base = selector * 16, limit 64 KiB, DPL 3 (SDM Vol. 3A §20.1.1). */
function loadV86Seg(seg: u32, sel: u32): void {
  setSegCache(seg, sel, <u64>(sel << 4), 0xffff,
    DESC_P | DESC_S | DESC_TYPE_RW | DESC_TYPE_ACCESSED | (3 << DESC_DPL_SHIFT) | (seg == CS ? DESC_TYPE_CODE : 0));
}

/**
 * Switch to the task whose TSS selector is `sel` (SDM Vol. 3A §7.3). With `viaGate`, `sel` is the
 * selector of a task gate in the GDT/LDT and the TSS selector is read from the gate; IDT task gates
 * arrive with the TSS selector already extracted (viaGate false, reason TS_INT). The callers have
 * already checked the privilege and presence of the gate or TSS descriptor they were given.
 * `error` >= 0 (TS_INT only) is an exception error code pushed on the new task's stack.
 */
export function taskSwitch(sel: u32, viaGate: bool, reason: u32, error: i32): void {
  let ext = taskSwitchExt;
  taskSwitchExt = 0;
  // Exceptions are delivered by deliverPending(), which marks the vector it is delivering.
  if (reason == TS_INT && st.deliveringVector >= 0) ext = 1;
  sel &= 0xffff;
  const isIret = reason == TS_IRET;
  const nesting = reason == TS_CALL || reason == TS_INT;

  // §7.3 step 1: the new TSS selector (from the gate when there is one).
  let tssSel = sel;
  if (viaGate) {
    if (!readDescriptor(sel, false) || !descIsSystem() || descType() != 5) raise(EXC_GP, <i32>((sel & 0xfffc) | ext));
    tssSel = gateSelector();
  }

  // Steps 3-4 and Table 7-1: a TSS descriptor in the GDT (never the LDT, §7.2.2), available for
  // JMP/CALL/INT and busy for IRET. A bad selector or type is #GP, or #TS for IRET.
  const errSel = <i32>((tssSel & 0xfffc) | ext);
  const badSel = isIret ? EXC_TS : EXC_GP;
  if ((tssSel & 0xfffc) == 0 || (tssSel & 4) != 0 || !readDescriptor(tssSel, false)) raise(badSel, errSel);
  const ty = descType();
  // Types 1/3 (16-bit TSS, available/busy) and 9/11 (32-bit).
  if (!descIsSystem() || (ty & 5) != 1) raise(badSel, errSel);
  if (((ty & 2) != 0) != isIret) raise(badSel, errSel);
  if (!descPresent()) raise(EXC_NP, errSel);
  const new32 = (ty & 8) != 0;
  const newBase = descBase();
  const newLimit = descLimit();
  const newFlags = descFlags();
  const minLimit: u32 = new32 ? 0x67 : 0x2b;
  if (newLimit < minLimit) raise(EXC_TS, errSel);

  // Step 5: read the whole new TSS now, so that a page fault cannot strike after the old task
  // has been saved. TSS accesses are supervisor accesses at any CPL.
  beginSupervisorAccess();
  if (new32) readTss32(newBase); else readTss16(newBase);
  endSupervisorAccess();

  // Steps 7-8: the old task's state. IRET clears NT in the saved EFLAGS image (Table 7-2);
  // JMP, CALL and interrupts leave it as it is.
  const oldSel = segSelector(TR);
  const oldBase = segBase(TR);
  const old32 = ((segFlags(TR) >> 8) & 8) != 0;
  // The save area must lie inside the old TSS ("stores to the old TSS encounter a fault", §6.15 #TS).
  const saveEnd: u32 = old32 ? 0x5f : 0x29;
  if (segLimit(TR) < saveEnd) raise(EXC_TS, <i32>((oldSel & 0xfffc) | ext));
  let oldFl = getEflags();
  if (isIret) oldFl &= ~F_NT;
  const oldEip = <u32>st.rip;
  beginSupervisorAccess();
  // Probe every write first: the whole save area, and the new back link for a nested switch.
  if (old32) probeWrite(tssLin(oldBase, 0x20), 0x40);
  else probeWrite(tssLin(oldBase, 0x0e), 0x1c);
  if (nesting) probeWrite(tssLin(newBase, 0), 2);
  if (old32) saveTss32(oldBase, oldEip, oldFl);
  else saveTss16(oldBase, oldEip, oldFl);
  // Table 7-2: CALL and interrupts store the old TSS selector in the new task's link field.
  if (nesting) writeLin16(tssLin(newBase, 0), oldSel);
  endSupervisorAccess();

  // Steps 6 and 10: busy flags. JMP and IRET leave the old task; JMP, CALL and interrupts mark
  // the new one busy (IRET returns to a task that is still busy).
  if (!nesting && (oldSel & 0xfffc) != 0 && (oldSel & 4) == 0 && readDescriptor(oldSel, false)) {
    if (descIsSystem() && (descType() & 5) == 1) writeDescHi(descHi & ~TSS_BUSY);
  }
  if (!isIret && readDescriptor(tssSel, false)) writeDescHi(descHi | TSS_BUSY);

  // Step 11: load TR. This is the commit point: from here on faults belong to the new task and
  // are reported at its first instruction (Interrupt 10 "#TS" description, §6.15).
  setSegCache(TR, tssSel, newBase, newLimit, newFlags | TSS_BUSY);
  st.rip = <u64>nEip;
  st.instrStart = st.rip;
  // Table 7-2: every task switch sets CR0.TS.
  st.cr0 |= CR0_TS;

  // Step 12: CR3 (32-bit TSS only, and only when paging is on), EFLAGS, GPRs, selectors.
  if (new32 && (st.cr0 & CR0_PG) != 0) movToCr3Value(<u64>nCr3);
  // A 16-bit TSS holds only the low word of EFLAGS; the upper bits (VM among them) become 0.
  let fl = nEflags;
  if (nesting) fl |= F_NT;
  // Writing a 16-bit TSS register clears the upper half: §7.6 leaves it undefined.
  setReg32(RAX, nEax);
  setReg32(RCX, nEcx);
  setReg32(RDX, nEdx);
  setReg32(RBX, nEbx);
  setReg32(RSP, nEsp);
  setReg32(RBP, nEbp);
  setReg32(RSI, nEsi);
  setReg32(RDI, nEdi);
  const v86 = (fl & F_VM) != 0;
  // The selectors go in first with unusable caches, so that a fault while qualifying them shows
  // the new task's selectors; the CPL is the new CS.RPL (3 in virtual-8086 mode).
  const cpl: u32 = v86 ? 3 : nCs & 3;
  setSegCache(LDTR, nLdt, 0, 0, 0);
  if (v86) {
    loadV86Seg(ES, nEs);
    loadV86Seg(CS, nCs);
    loadV86Seg(SS, nSs);
    loadV86Seg(DS, nDs);
    loadV86Seg(FS, nFs);
    loadV86Seg(GS, nGs);
  } else {
    setSegCache(ES, nEs, 0, 0, 0);
    setSegCache(CS, nCs, 0, 0, (cpl << DESC_DPL_SHIFT) | DESC_S | DESC_TYPE_CODE);
    setSegCache(SS, nSs, 0, 0, (cpl << DESC_DPL_SHIFT) | DESC_S | DESC_TYPE_RW);
    setSegCache(DS, nDs, 0, 0, 0);
    if (new32) {
      setSegCache(FS, nFs, 0, 0, 0);
      setSegCache(GS, nGs, 0, 0, 0);
    }
  }
  setEflags(fl);
  modeChanged();

  // Step 13: qualify and load the descriptors, in the new task's context. The LDT comes first
  // because the other selectors may point into it. (The check order is model specific, §7.3.)
  loadTaskLdt(nLdt, ext);
  if (!v86) {
    loadTaskStack(nSs, cpl, ext);
    loadTaskCode(nCs, cpl, ext);
    modeChanged();
    loadTaskData(ES, nEs, cpl, ext);
    loadTaskData(DS, nDs, cpl, ext);
    // A 16-bit TSS has no FS/GS fields: those registers keep their contents.
    if (new32) {
      loadTaskData(FS, nFs, cpl, ext);
      loadTaskData(GS, nGs, cpl, ext);
    }
  }

  // An exception's error code goes on the new task's stack, sized by the new TSS (Vol. 2 "INT n").
  if (error >= 0) push(<u64><u32>error, new32 ? 4 : 2);
  // The new EIP must lie inside the new code segment (Vol. 2 "JMP", "CALL", "IRET", "INT n").
  if (st.rip > <u64>segLimit(CS)) raise(EXC_GP, <i32>ext);
}
