// The CPU module's exports: the run loop and the state accessors cpu/cpu.ts uses.
import * as st from "./state";
import { REGS, SEGS, SEG_SIZE, RAM_BASE, ROM_AREA, ROM_AREA_SIZE, PHYS_RAM, PHYS_ROM, PHYS_MMIO, TLB } from "./layout";
import { decode, invalidateDecoded, runBlock } from "./decode";
import { execute } from "./execute";
import { getEflags } from "./flags";
import { initPhysMap, mapPhysPages, flushTlb, setPrivilegeMasks } from "./memory";
import { combineFaults, EXC_DB } from "./fault";
import { deliver, hasErrorCode, modeChanged, setEflags, INT_EXT, INT_EXC } from "./transfer";
import { hostInterruptAcknowledge } from "./host";
import { movToCr0Value, movToCr3Value, readMsr, writeMsr, msrOk, resetDebugRegisters, syncTsc, CPU_SIGNATURE } from "./system";
import { resetMtrrs } from "./mtrr";
import { DREGS } from "./layout";
import { resetFpu } from "./x87";

export const STOP_BUDGET: i32 = 0;
export const STOP_HALT: i32 = 1;
export const STOP_REQUESTED: i32 = 2;
export const STOP_TRIPLE_FAULT: i32 = 3;

/** Grow the memory to hold `ramSize` bytes of guest RAM and lay out the physical map. */
export function init(ramSize: u32): bool {
  const need = (<u64>RAM_BASE + <u64>ramSize + 0xffff) >> 16;
  const have = <u64>memory.size();
  if (need > have && memory.grow(<i32>(need - have)) < 0) return false;
  initPhysMap(<u64>ramSize);
  reset();
  return true;
}

export function reset(): void {
  memory.fill(REGS, 0, 16 * 8);
  memory.fill(SEGS, 0, 8 * SEG_SIZE);
  st.setReg64(2, CPU_SIGNATURE); // EDX after reset holds the processor signature (SDM Vol. 3A §9.1.4)
  st.cr0 = 0x60000010;
  st.cr2 = 0; st.cr3 = 0; st.cr4 = 0; st.cr8 = 0; st.efer = 0;
  st.gdtrBase = 0; st.gdtrLimit = 0xffff; st.idtrBase = 0; st.idtrLimit = 0xffff;
  for (let s: u32 = 0; s < 6; s++) st.setSegCache(s, 0, 0, 0xffff, 0x9300);
  st.setSegCache(st.CS, 0xf000, 0xffff0000, 0xffff, 0x9b00);
  st.setSegCache(st.LDTR, 0, 0, 0xffff, 0x8200);
  st.setSegCache(st.TR, 0, 0, 0xffff, 0x8b00);
  st.eflags = 2;
  setEflags(2);
  st.rip = 0xfff0;
  st.msrStar = 0; st.msrLstar = 0; st.msrCstar = 0; st.msrFmask = 0; st.msrKernelGsBase = 0;
  st.msrSysenterCs = 0; st.msrSysenterEsp = 0; st.msrSysenterEip = 0; st.msrTscAux = 0;
  st.events = 0;
  st.nmiBlocked = false;
  st.updateIntrEvent();
  st.pendingVector = -1;
  st.deliveringVector = -1;
  st.tripleFault = false;
  resetDebugRegisters();
  resetMtrrs();
  resetFpu();
  st.xcr0 = 1; // XCR0 after RESET: x87 only (SDM Vol. 1 §13.3)
  flushTlb(true);
  invalidateDecoded();
  modeChanged();
}

/** Deliver an event after the current instruction (external interrupt, single-step trap). */
function deliverAfter(vector: u32, kind: u32): void {
  st.instrStart = st.rip;
  deliver(vector, kind, -1);
}

/** Returned by handleEvents when it executed an instruction itself (single-stepping). */
const STEPPED: i32 = -2;

function handleEvents(): i32 {
  let ev = st.events;
  if ((ev & st.EV_RESYNC) != 0) {
    // Only the block loop cares: it has already left the block.
    ev &= ~st.EV_RESYNC;
    st.events = ev;
    if (ev == 0) return -1;
  }
  if ((ev & st.EV_STOP) != 0) {
    st.events &= ~st.EV_STOP;
    return STOP_REQUESTED;
  }
  if ((ev & st.EV_SHADOW) != 0) {
    // STI / MOV SS shadow: no interrupt before the next instruction.
    st.events &= ~st.EV_SHADOW;
    if ((ev & st.EV_HALT) != 0) return STOP_HALT;
  } else {
    // NMI first: it ignores IF, but one NMI at a time until the handler's IRET.
    if ((ev & st.EV_NMI) != 0 && !st.nmiBlocked) {
      st.events &= ~(st.EV_NMI | st.EV_HALT);
      st.nmiBlocked = true;
      deliverAfter(2, INT_EXT);
      return -1;
    }
    if ((ev & st.EV_INTR) != 0 && (st.eflags & st.F_IF) != 0) {
      const vector = hostInterruptAcknowledge() & 0xff;
      st.events &= ~st.EV_HALT;
      deliverAfter(vector, INT_EXT);
      return -1;
    }
    if ((ev & st.EV_HALT) != 0) return STOP_HALT;
  }
  if ((st.events & st.EV_TF) != 0) {
    if (st.icount >= st.stopAt) return STOP_BUDGET;
    st.softwareInterruptTaken = false;
    decode();
    execute();
    st.icount++;
    // Single-step trap after the instruction (SDM Vol. 3A §17.3.1.4); DR6.BS records it. INT n
    // and friends clear TF on entry and take no trap.
    if (!st.softwareInterruptTaken) {
      store<u64>(DREGS + 48, load<u64>(DREGS + 48) | 0x4000);
      deliverAfter(EXC_DB, INT_EXC);
    }
    return STEPPED;
  }
  return -1;
}

/** Execute up to `budget` instructions. */
export function run(budget: i32): i32 {
  st.stopAt = st.icount + <u64>budget;
  if (st.tripleFault) return STOP_TRIPLE_FAULT;
  while (true) {
    if (st.events != 0) {
      const r = handleEvents();
      if (r >= 0) return r;
      if (r == STEPPED) continue;
    }
    if (st.icount >= st.stopAt) return STOP_BUDGET;
    runBlock();
  }
}

/** Called by the host after a raise() unwound run(): deliver the pending exception. */
export function deliverPending(): void {
  let v = st.pendingVector;
  let err = st.pendingError;
  st.pendingVector = -1;
  if (v < 0) return;
  // A fault inside an implicit supervisor access (descriptor or TSS read) left the supervisor
  // masks in place: restore the ones of the current privilege level.
  setPrivilegeMasks(st.cpl == 3);
  if (st.deliveringVector >= 0) {
    const c = combineFaults(st.deliveringVector, v);
    if (c == -2) {
      st.tripleFault = true;
      st.deliveringVector = -1;
      return;
    }
    if (c == 8) { v = 8; err = 0; }
  }
  st.deliveringVector = v;
  deliver(<u32>v, INT_EXC, hasErrorCode(<u32>v) ? err : -1);
  st.deliveringVector = -1;
}

// --- accessors for the host ---

export function getRip(): u64 { return st.rip; }
/** Setting RIP by hand also ends a HLT, so the host can start the CPU somewhere new. */
export function setRip(v: u64): void { st.rip = v; st.events &= ~st.EV_HALT; }
export function getRflags(): u32 { return getEflags(); }
export function setRflags(v: u32): void { setEflags(v); }
export function regsAddress(): u32 { return REGS; }
export function segsAddress(): u32 { return SEGS; }
export function ramAddress(): u32 { return RAM_BASE; }
export function getCr(n: u32): u64 {
  switch (n) { case 0: return st.cr0; case 2: return st.cr2; case 3: return st.cr3; case 4: return st.cr4; default: return st.cr8; }
}
export function setCr(n: u32, v: u64): void {
  switch (n) {
    case 0: st.cr0 = v; flushTlb(true); break;
    case 2: st.cr2 = v; break;
    case 3: st.cr3 = v; flushTlb(true); break;
    case 4: st.cr4 = v; flushTlb(true); break;
    default: st.cr8 = v;
  }
}
export function getMsr(index: u32): u64 { return readMsr(index); }
export function hasMsr(index: u32): bool { readMsr(index); return msrOk; }
export function setMsr(index: u32, v: u64): bool {
  if (index == 0xc0000080) { st.efer = v; flushTlb(true); return true; } // the host may set LMA directly
  return writeMsr(index, v);
}
export function getGdtrBase(): u64 { return st.gdtrBase; }
export function getGdtrLimit(): u32 { return st.gdtrLimit; }
export function setGdtr(base: u64, limit: u32): void { st.gdtrBase = base; st.gdtrLimit = limit; }
export function getIdtrBase(): u64 { return st.idtrBase; }
export function getIdtrLimit(): u32 { return st.idtrLimit; }
export function setIdtr(base: u64, limit: u32): void { st.idtrBase = base; st.idtrLimit = limit; }
export function syncMode(): void { modeChanged(); setPrivilegeMasks(st.cpl == 3); }
export function getIcount(): u64 { return st.icount; }
export function getMode(): u32 { return st.mode; }
export function getCpl(): u32 { return st.cpl; }
export function isHalted(): bool { return (st.events & st.EV_HALT) != 0; }
export function isTripleFault(): bool { return st.tripleFault; }

export function setIntr(level: bool): void {
  st.intrLine = level;
  st.updateIntrEvent();
}
export function requestStop(): void { st.events |= st.EV_STOP; }
/** Raise the NMI input (edge): delivered as vector 2 as soon as no earlier NMI is in service. */
export function nmi(): void { st.events |= st.EV_NMI; }
export function setA20(enabled: bool): void {
  st.a20Mask = enabled ? 0xffffffffffffffff : ~(<u64>0x100000);
  flushTlb(true);
}

/** Reserve `size` bytes in the ROM area; returns the host address to copy the image to. */
let romUsed: u32 = 0;
export function allocRom(size: u32): u32 {
  const s = (size + 0xfff) & ~0xfff;
  if (romUsed + s > ROM_AREA_SIZE) return 0;
  const a = ROM_AREA + romUsed;
  romUsed += s;
  return a;
}
export function mapRom(phys: u32, size: u32, hostAddr: u32): void {
  mapPhysPages(phys, (size + 0xfff) >> 12, hostAddr, PHYS_ROM);
}
export function mapMmio(phys: u32, size: u32): void {
  mapPhysPages(phys, (size + 0xfff) >> 12, 0, PHYS_MMIO);
}
/** Point physical pages back at the RAM of the same address (chipset shadow RAM, i440FX PAM):
 *  writable, or read-only with writes dropped. The caller keeps it inside guest RAM. */
export function mapRam(phys: u32, size: u32, writable: bool): void {
  mapPhysPages(phys, (size + 0xfff) >> 12, RAM_BASE + (phys & ~0xfff), writable ? PHYS_RAM : PHYS_ROM);
}
export function tlbAddress(): u32 { return TLB; }

/** The host wrote guest RAM behind the CPU's back (DMA, loaders): drop decoded instructions. */
export function invalidateDecodedCode(): void { invalidateDecoded(); }

/**
 * Virtual time for the TSC (nanoseconds; the TSC runs at 1 GHz of virtual time) and how long each
 * retired instruction takes until the next call (ns in 16.16 fixed point; system.ts syncTsc).
 */
export function setVirtualTime(ns: u64, nsPerInstructionFx: u64): void { syncTsc(ns, nsPerInstructionFx); }

/** Seed of RDRAND/RDSEED's deterministic generator (random.ts). */
export { setRandomSeed } from "./random";
export { setApicFeatures } from "./system";
