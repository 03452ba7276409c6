// Architectural state that is not in the register file: RIP, control registers, MSRs, the
// derived mode of the processor, and the per-instruction decode results.
import { REGS, SEGS, SEG_SIZE, SEG_BASE, SEG_LIMIT, SEG_FLAGS, SEG_SELECTOR, SEG_FAST } from "./layout";

// Segment register numbers (encoding order).
export const ES: u32 = 0;
export const CS: u32 = 1;
export const SS: u32 = 2;
export const DS: u32 = 3;
export const FS: u32 = 4;
export const GS: u32 = 5;
export const LDTR: u32 = 6;
export const TR: u32 = 7;

// Register numbers.
export const RAX: u32 = 0;
export const RCX: u32 = 1;
export const RDX: u32 = 2;
export const RBX: u32 = 3;
export const RSP: u32 = 4;
export const RBP: u32 = 5;
export const RSI: u32 = 6;
export const RDI: u32 = 7;

// Processor modes (derived from CR0.PE, EFLAGS.VM, EFER.LMA and CS.L).
export const MODE_REAL: u32 = 0;
export const MODE_PROT: u32 = 1;
export const MODE_V86: u32 = 2;
export const MODE_COMPAT: u32 = 3;
export const MODE_LONG: u32 = 4;

// CR0 bits (SDM Vol. 3A §2.5).
export const CR0_PE: u64 = 1;
export const CR0_MP: u64 = 2;
export const CR0_EM: u64 = 4;
export const CR0_TS: u64 = 8;
export const CR0_ET: u64 = 0x10;
export const CR0_NE: u64 = 0x20;
export const CR0_WP: u64 = 0x10000;
export const CR0_AM: u64 = 0x40000;
export const CR0_NW: u64 = 0x20000000;
export const CR0_CD: u64 = 0x40000000;
export const CR0_PG: u64 = 0x80000000;
// CR4 bits.
export const CR4_VME: u64 = 1;
export const CR4_PVI: u64 = 2;
export const CR4_TSD: u64 = 4;
export const CR4_DE: u64 = 8;
export const CR4_PSE: u64 = 0x10;
export const CR4_PAE: u64 = 0x20;
export const CR4_MCE: u64 = 0x40;
export const CR4_PGE: u64 = 0x80;
export const CR4_PCE: u64 = 0x100;
export const CR4_OSFXSR: u64 = 0x200;
export const CR4_OSXMMEXCPT: u64 = 0x400;
export const CR4_FSGSBASE: u64 = 0x10000;
export const CR4_OSXSAVE: u64 = 0x40000;
// EFER bits (SDM Vol. 3A §2.2.1).
export const EFER_SCE: u64 = 1;
export const EFER_LME: u64 = 0x100;
export const EFER_LMA: u64 = 0x400;
export const EFER_NXE: u64 = 0x800;

// EFLAGS bits.
export const F_CF: u32 = 1;
export const F_FIXED1: u32 = 2;
export const F_PF: u32 = 4;
export const F_AF: u32 = 0x10;
export const F_ZF: u32 = 0x40;
export const F_SF: u32 = 0x80;
export const F_TF: u32 = 0x100;
export const F_IF: u32 = 0x200;
export const F_DF: u32 = 0x400;
export const F_OF: u32 = 0x800;
export const F_IOPL: u32 = 0x3000;
export const F_NT: u32 = 0x4000;
export const F_RF: u32 = 0x10000;
export const F_VM: u32 = 0x20000;
export const F_AC: u32 = 0x40000;
export const F_VIF: u32 = 0x80000;
export const F_VIP: u32 = 0x100000;
export const F_ID: u32 = 0x200000;
export const F_ARITH: u32 = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;

/** EFLAGS; the six arithmetic flags are stale while flags.ts holds a lazy result. */
export let eflags: u32 = F_FIXED1;
export let rip: u64 = 0;
/** RIP of the first byte of the instruction being executed: faults restart here. */
export let instrStart: u64 = 0;

export let cr0: u64 = CR0_ET;
export let cr2: u64 = 0;
export let cr3: u64 = 0;
export let cr4: u64 = 0;
export let cr8: u64 = 0;
export let efer: u64 = 0;
/** XCR0, the XSAVE feature-enable register (SDM Vol. 1 §13.3): x87 state is always enabled. */
export let xcr0: u64 = 1;
export let gdtrBase: u64 = 0;
export let gdtrLimit: u32 = 0xffff;
export let idtrBase: u64 = 0;
export let idtrLimit: u32 = 0xffff;

// Model-specific registers kept by the CPU itself.
export let msrStar: u64 = 0;
export let msrLstar: u64 = 0;
export let msrCstar: u64 = 0;
export let msrFmask: u64 = 0;
export let msrKernelGsBase: u64 = 0;
export let msrSysenterCs: u64 = 0;
export let msrSysenterEsp: u64 = 0;
export let msrSysenterEip: u64 = 0;
export let msrTscAux: u64 = 0;
export let msrPat: u64 = 0x0007040600070406;
export let msrMiscEnable: u64 = 1;
export let tscOffset: i64 = 0;
/** Time-stamp counter at the last syncTsc() (virtual nanoseconds: the TSC runs at 1 GHz). */
export let tscBase: u64 = 0;
/** Instruction count at the last syncTsc(). */
export let tscIcountBase: u64 = 0;
/** Virtual nanoseconds per retired instruction between syncs, in 16.16 fixed point (1.0 until the host says otherwise). */
export let tscRateFx: u64 = 0x10000;

// Derived mode; recomputed by updateMode() whenever CR0, EFER, EFLAGS.VM or CS change.
export let mode: u32 = MODE_REAL;
export let cpl: u32 = 0;
/** Default operand size of the code segment in bytes (2 or 4; 4 in 64-bit mode too). */
export let codeSize: u32 = 2;
/** Default address size in bytes (2, 4 or 8). */
export let addrSize: u32 = 2;
/** Stack pointer width in bytes (SS.B, or 8 in 64-bit mode). */
export let stackSize: u32 = 2;
/** CR0.AM, EFLAGS.AC and CPL 3 together: misaligned data accesses raise #AC (SDM Vol. 3A §6.15, interrupt 17). */
export let alignCheck: bool = false;
export function updateAlignCheck(): void {
  alignCheck = (cr0 & CR0_AM) != 0 && (eflags & F_AC) != 0 && cpl == 3;
}
/** Everything decoding depends on besides the bytes: decoded records carry it as part of their key. */
export let decodeContext: u32 = 0;

/** Instructions retired. */
export let icount: u64 = 0;
/** run() returns when icount reaches this. */
export let stopAt: u64 = 0;

// Events that make the run loop look up from straight-line execution.
export const EV_INTR: u32 = 1; // the INTR pin is raised
export const EV_STOP: u32 = 2; // the host asked us to return
export const EV_HALT: u32 = 4; // HLT executed
export const EV_SHADOW: u32 = 8; // STI / MOV SS shadow: no interrupt before the next instruction
export const EV_NMI: u32 = 16;
export const EV_TF: u32 = 32; // EFLAGS.TF is set: instructions run one by one with a trap after each
// The cached block being run may be stale: code was written, the mode, CS or a page mapping changed.
// The run loop leaves the block and looks up the next instruction afresh (decode.ts).
export const EV_RESYNC: u32 = 64;
export let events: u32 = 0;
/** An NMI was delivered and no IRET has run since: further NMIs wait (SDM Vol. 3A §6.7.1). */
export let nmiBlocked: bool = false;

/** EV_INTR stands for "an interrupt can be taken": the INTR pin is high and EFLAGS.IF is set. */
export function updateIntrEvent(): void {
  if (intrLine && (eflags & F_IF) != 0) events |= EV_INTR;
  else events &= ~EV_INTR;
}
export let intrLine: bool = false;
export let a20Mask: u64 = 0xffffffffffffffff;
export let tripleFault: bool = false;
/** Set by INT n/INT3/INTO/INT1: no single-step trap follows them (TF is cleared on entry). */
export let softwareInterruptTaken: bool = false;

// Exception being raised (set by raise(), consumed by deliverPending()).
export let pendingVector: i32 = -1;
export let pendingError: i32 = -1;
/** Vector whose delivery is under way, for the double-fault rules; -1 when none. */
export let deliveringVector: i32 = -1;

// --- register file access ---

@inline export function reg64(r: u32): u64 {
  return load<u64>(REGS + (r << 3));
}
@inline export function setReg64(r: u32, v: u64): void {
  store<u64>(REGS + (r << 3), v);
}
@inline export function reg32(r: u32): u32 {
  return load<u32>(REGS + (r << 3));
}
@inline export function reg16(r: u32): u32 {
  return <u32>load<u16>(REGS + (r << 3));
}
/** Writing a 32-bit register zero-extends to 64 bits (SDM Vol. 1 §3.4.1.1). */
@inline export function setReg32(r: u32, v: u32): void {
  store<u64>(REGS + (r << 3), <u64>v);
}
@inline export function setReg16(r: u32, v: u32): void {
  store<u16>(REGS + (r << 3), <u16>v);
}

// --- segment register file ---

@inline export function segBase(s: u32): u64 {
  return load<u64>(SEGS + s * SEG_SIZE + SEG_BASE);
}
@inline export function segLimit(s: u32): u32 {
  return load<u32>(SEGS + s * SEG_SIZE + SEG_LIMIT);
}
@inline export function segFlags(s: u32): u32 {
  return load<u32>(SEGS + s * SEG_SIZE + SEG_FLAGS);
}
@inline export function segSelector(s: u32): u32 {
  return load<u32>(SEGS + s * SEG_SIZE + SEG_SELECTOR);
}
export function setSegCache(s: u32, selector: u32, base: u64, limit: u32, flags: u32): void {
  const p = SEGS + s * SEG_SIZE;
  store<u32>(p + SEG_SELECTOR, selector & 0xffff);
  store<u64>(p + SEG_BASE, base);
  store<u32>(p + SEG_LIMIT, limit);
  store<u32>(p + SEG_FLAGS, flags);
  store<u8>(p + SEG_FAST, <u8>fastRights(flags));
}

/**
 * Accesses that need only a limit check: present, expand-up segments that are readable (data or
 * readable code: bit 0) or writable (data: bit 1). Everything else takes access.ts's full checks.
 */
function fastRights(f: u32): u32 {
  if ((f & (DESC_P | DESC_S)) != (DESC_P | DESC_S)) return 0;
  if ((f & DESC_TYPE_CODE) != 0) return (f & DESC_TYPE_RW) != 0 ? 1 : 0;
  if ((f & DESC_TYPE_EC) != 0) return 0; // expand-down
  return (f & DESC_TYPE_RW) != 0 ? 3 : 1;
}
@inline export function segFast(s: u32): u32 {
  return <u32>load<u8>(SEGS + s * SEG_SIZE + SEG_FAST);
}

// Segment descriptor flag bits, positioned as in descriptor dword 2.
export const DESC_TYPE_ACCESSED: u32 = 1 << 8;
export const DESC_TYPE_RW: u32 = 1 << 9; // readable code / writable data
export const DESC_TYPE_EC: u32 = 1 << 10; // expand-down data / conforming code
export const DESC_TYPE_CODE: u32 = 1 << 11;
export const DESC_S: u32 = 1 << 12;
export const DESC_DPL_SHIFT: u32 = 13;
export const DESC_P: u32 = 1 << 15;
export const DESC_AVL: u32 = 1 << 20;
export const DESC_L: u32 = 1 << 21;
export const DESC_DB: u32 = 1 << 22;
export const DESC_G: u32 = 1 << 23;

/** Recompute mode, CPL and default sizes from CR0, EFER, EFLAGS.VM and the CS/SS caches. */
export function updateMode(): void {
  // The host may have written segment caches directly (cpu.ts setSeg): refresh derived rights.
  for (let s: u32 = 0; s < 8; s++) {
    const p = SEGS + s * SEG_SIZE;
    store<u8>(p + SEG_FAST, <u8>fastRights(load<u32>(p + SEG_FLAGS)));
  }
  const eflagsVm = (eflags & F_VM) != 0;
  const csFlags = segFlags(CS);
  if ((cr0 & CR0_PE) == 0) {
    mode = MODE_REAL;
    cpl = 0;
  } else if (eflagsVm) {
    mode = MODE_V86;
    cpl = 3;
  } else if ((efer & EFER_LMA) != 0 && (csFlags & DESC_L) != 0) {
    mode = MODE_LONG;
    cpl = segSelector(CS) & 3;
  } else {
    mode = (efer & EFER_LMA) != 0 ? MODE_COMPAT : MODE_PROT;
    // CPL is the DPL of the CS cache in protected mode (SDM Vol. 3A §5.5); the selector's RPL
    // equals it except in transient states, and SS.DPL always equals CPL.
    cpl = (segFlags(SS) >> DESC_DPL_SHIFT) & 3;
  }
  if (mode == MODE_LONG) {
    codeSize = 4;
    addrSize = 8;
    stackSize = 8;
  } else if (mode == MODE_REAL || mode == MODE_V86) {
    codeSize = (mode == MODE_REAL && (csFlags & DESC_DB) != 0) ? 4 : 2;
    addrSize = codeSize;
    stackSize = (mode == MODE_REAL && (segFlags(SS) & DESC_DB) != 0) ? 4 : 2;
  } else {
    codeSize = (csFlags & DESC_DB) != 0 ? 4 : 2;
    addrSize = codeSize;
    stackSize = (segFlags(SS) & DESC_DB) != 0 ? 4 : 2;
  }
  updateAlignCheck();
  decodeContext = mode | (cpl << 4) | (codeSize << 8) | (addrSize << 12) | (stackSize << 16);
}
