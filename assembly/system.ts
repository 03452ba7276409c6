// System registers and instructions: MOV CR/DR, MSRs, CPUID, RDTSC, SYSCALL/SYSRET,
// SYSENTER/SYSEXIT, CLTS (SDM Vol. 2 and Vol. 3A §2.5, §5.8.7, §5.8.8).
import * as st from "./state";
import {
  mode, MODE_REAL, MODE_V86, MODE_LONG, MODE_PROT, RAX, RCX, RDX, RBX, RSP, CS, SS, FS, GS,
  reg64, setReg64, setSegCache, segBase, segFlags,
  CR0_PE, CR0_PG, CR0_WP, CR0_CD, CR0_NW, CR0_TS, CR0_ET, CR4_PAE, CR4_PGE, CR4_PSE, CR4_TSD, CR4_DE, CR4_OSXSAVE,
  EFER_LME, EFER_LMA, EFER_SCE, EFER_NXE, DESC_L, F_RF, F_VM, F_IF,
} from "./state";
import { DREGS, MSR_SCRATCH } from "./layout";
import { hostMsrRead, hostMsrWrite, hostCr8Read, hostCr8Write } from "./host";
import { isMtrr, readMtrr, writeMtrr } from "./mtrr";
import * as d from "./decode";
import { getReg, setReg } from "./access";
import { flushTlb, isCanonical } from "./memory";
import { raise, raiseUD, raiseGP, EXC_GP } from "./fault";
import { modeChanged, setEflags } from "./transfer";
import { getEflags, sizeMask } from "./flags";
import { osxsaveBit, XCR0_SUPPORTED, XSAVE_AREA_SIZE } from "./xsave";

function requireCpl0(): void {
  if (mode == MODE_V86 || st.cpl != 0) raiseGP(0);
}

// --- control registers ---

/** Bits of CR4 this CPU implements (others are reserved: #GP). */
const CR4_VALID: u64 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x10000;
/** CR4.OSXSAVE (bit 18): the XSAVE feature set is enabled (SDM Vol. 3A §2.5); xsave.ts. */
const CR4_VALID_XSAVE: u64 = CR4_OSXSAVE;

export function movToCr0Value(v: u64): void {
  if ((v >> 32) != 0) raiseGP(0);
  v |= CR0_ET; // ET is hard-wired to 1 on processors with an x87 interface
  if ((v & CR0_PG) != 0 && (v & CR0_PE) == 0) raiseGP(0);
  if ((v & CR0_NW) != 0 && (v & CR0_CD) == 0) raiseGP(0);
  const old = st.cr0;
  // Enabling paging with EFER.LME activates long mode (SDM Vol. 3A §9.8.5).
  if ((v & CR0_PG) != 0 && (old & CR0_PG) == 0 && (st.efer & EFER_LME) != 0) {
    if ((st.cr4 & CR4_PAE) == 0) raiseGP(0);
    if ((segFlags(CS) & DESC_L) != 0) raiseGP(0);
    st.efer |= EFER_LMA;
  }
  if ((v & CR0_PG) == 0 && (old & CR0_PG) != 0 && (st.efer & EFER_LMA) != 0) {
    if (mode == MODE_LONG) raiseGP(0);
    st.efer &= ~EFER_LMA;
  }
  st.cr0 = v;
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) != 0) flushTlb(true);
  modeChanged();
}

function movToCr4Value(v: u64): void {
  if ((v & ~(CR4_VALID | CR4_VALID_XSAVE)) != 0) raiseGP(0);
  if ((st.efer & EFER_LMA) != 0 && (v & CR4_PAE) == 0) raiseGP(0);
  const old = st.cr4;
  st.cr4 = v;
  if (((old ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE)) != 0) flushTlb(true);
  modeChanged();
}

export function movToCr3Value(v: u64): void {
  st.cr3 = mode == MODE_LONG ? v & 0x000ffffffffff000 | (v & 0x18) : v & 0xffffffff;
  flushTlb(false);
}

function crNumber(): u32 {
  const n = d.modrmReg();
  if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) raiseUD();
  if (n == 8 && mode != MODE_LONG) raiseUD();
  return n;
}

export function movFromCr(): void {
  requireCpl0();
  const n = crNumber();
  let v: u64;
  switch (n) {
    case 0: v = st.cr0; break;
    case 2: v = st.cr2; break;
    case 3: v = st.cr3; break;
    case 4: v = st.cr4; break;
    default: v = readCr8(); break;
  }
  setReg(d.modrmRm(), mode == MODE_LONG ? 8 : 4, v);
}

export function movToCr(): void {
  requireCpl0();
  const n = crNumber();
  const v = getReg(d.modrmRm(), mode == MODE_LONG ? 8 : 4);
  switch (n) {
    case 0: movToCr0Value(v); break;
    case 2: st.cr2 = v; break;
    case 3: movToCr3Value(v); break;
    case 4: movToCr4Value(v); break;
    default: if ((v >> 4) != 0) raiseGP(0); writeCr8(v); break;
  }
}

// CR8 is the task-priority register's class, TPR[7:4], of the local APIC (SDM Vol. 3A §10.8.6.1).
// The APIC is the host's device; without one (unit tests) CR8 is a plain 4-bit register.
function readCr8(): u64 {
  const v = hostCr8Read();
  return v < 0 ? st.cr8 : <u64>v;
}
function writeCr8(v: u64): void {
  st.cr8 = v;
  hostCr8Write(<u32>v);
}

export function clts(): void {
  requireCpl0();
  st.cr0 &= ~CR0_TS;
}

// --- debug registers (no breakpoints are armed yet; the values round-trip) ---

function drNumber(): u32 {
  let n = d.modrmReg();
  if (n > 7) raiseUD();
  if (n == 4 || n == 5) {
    if ((st.cr4 & CR4_DE) != 0) raiseUD();
    n += 2;
  }
  return n;
}
export function movFromDr(): void {
  requireCpl0();
  const n = drNumber();
  setReg(d.modrmRm(), mode == MODE_LONG ? 8 : 4, load<u64>(DREGS + (n << 3)));
}
export function movToDr(): void {
  requireCpl0();
  const n = drNumber();
  let v = getReg(d.modrmRm(), mode == MODE_LONG ? 8 : 4);
  if (n == 6) v = (v & 0xe00f) | 0xffff0ff0;
  else if (n == 7) v = (v & 0xffff2fff) | 0x400;
  store<u64>(DREGS + (n << 3), v);
}
export function resetDebugRegisters(): void {
  for (let i: u32 = 0; i < 8; i++) store<u64>(DREGS + (i << 3), 0);
  store<u64>(DREGS + 48, 0xffff0ff0);
  store<u64>(DREGS + 56, 0x400);
}

// --- time stamp counter: a function of the instruction count, so runs are repeatable ---

// The TSC (SDM Vol. 3B §17.17) counts at 1 GHz of the machine's virtual clock. The host calls
// syncTsc() with the virtual time and the time each instruction takes (ns, 16.16 fixed point) at
// the start of a run slice; within the slice the TSC is base + retired instructions x that rate,
// which is exactly the time the host's devices see (emulator/clock.ts), so the TSC, the PIT, the
// HPET and the ACPI PM timer agree at every instruction. It never goes backwards. Without syncs
// it is simply the instruction count.
export const TSC_RATE_SHIFT: u64 = 16;
@inline function tscRaw(): u64 {
  return st.tscBase + (((st.icount - st.tscIcountBase) * st.tscRateFx) >> TSC_RATE_SHIFT);
}
export function tscValue(): u64 {
  return tscRaw() + <u64>st.tscOffset;
}
export function syncTsc(nowNs: u64, rateFx: u64): void {
  const cur = tscRaw();
  st.tscBase = nowNs > cur ? nowNs : cur;
  st.tscIcountBase = st.icount;
  st.tscRateFx = rateFx == 0 ? 1 : rateFx;
}
export function rdtscInto(): void {
  const t = tscValue();
  setReg64(RAX, t & 0xffffffff);
  setReg64(RDX, t >> 32);
}
export function rdtsc(): void {
  if ((st.cr4 & CR4_TSD) != 0 && st.cpl != 0 && mode != MODE_REAL) raiseGP(0);
  rdtscInto();
}

// --- MSRs ---

export const MSR_TSC: u32 = 0x10;
/** IA32_PLATFORM_ID (read-only): bits 52:50 name the platform a microcode update must match; 0 here. */
export const MSR_PLATFORM_ID: u32 = 0x17;
/** IA32_BIOS_SIGN_ID: the loaded microcode's revision in bits 63:32 (SDM Vol. 3A §9.11.7.1). */
export const MSR_BIOS_SIGN_ID: u32 = 0x8b;
// No microcode is ever loaded: the revision reads as 1, and writes (software clears the MSR before
// CPUID(1) to have the revision filled in) change nothing.
const MICROCODE_REVISION: u64 = <u64>1 << 32;
export const MSR_SYSENTER_CS: u32 = 0x174;
export const MSR_SYSENTER_ESP: u32 = 0x175;
export const MSR_SYSENTER_EIP: u32 = 0x176;
export const MSR_MISC_ENABLE: u32 = 0x1a0;
export const MSR_PAT: u32 = 0x277;
export const MSR_EFER: u32 = 0xc0000080;
export const MSR_STAR: u32 = 0xc0000081;
export const MSR_LSTAR: u32 = 0xc0000082;
export const MSR_CSTAR: u32 = 0xc0000083;
export const MSR_FMASK: u32 = 0xc0000084;
export const MSR_FS_BASE: u32 = 0xc0000100;
export const MSR_GS_BASE: u32 = 0xc0000101;
export const MSR_KERNEL_GS_BASE: u32 = 0xc0000102;
export const MSR_TSC_AUX: u32 = 0xc0000103;

/** Last readMsr() outcome: false for an MSR this CPU does not have. */
export let msrOk: bool = true;

export function readMsr(index: u32): u64 {
  msrOk = true;
  switch (index) {
    case MSR_TSC: return tscValue();
    case MSR_PLATFORM_ID: return 0;
    case MSR_BIOS_SIGN_ID: return MICROCODE_REVISION;
    case MSR_SYSENTER_CS: return st.msrSysenterCs;
    case MSR_SYSENTER_ESP: return st.msrSysenterEsp;
    case MSR_SYSENTER_EIP: return st.msrSysenterEip;
    case MSR_MISC_ENABLE: return st.msrMiscEnable;
    case MSR_PAT: return st.msrPat;
    case MSR_EFER: return st.efer;
    case MSR_STAR: return st.msrStar;
    case MSR_LSTAR: return st.msrLstar;
    case MSR_CSTAR: return st.msrCstar;
    case MSR_FMASK: return st.msrFmask;
    case MSR_FS_BASE: return segBase(FS);
    case MSR_GS_BASE: return segBase(GS);
    case MSR_KERNEL_GS_BASE: return st.msrKernelGsBase;
    case MSR_TSC_AUX: return st.msrTscAux;
  }
  if (isMtrr(index)) return readMtrr(index);
  // Not the CPU's own: devices behind the host may implement it (x2APIC, TSC deadline).
  if (hostMsrRead(index) != 0) return load<u64>(MSR_SCRATCH);
  msrOk = false;
  return 0;
}

/** Write an MSR; returns false if the MSR does not exist or the value is invalid. */
export function writeMsr(index: u32, v: u64): bool {
  switch (index) {
    case MSR_TSC: st.tscOffset = <i64>(v - tscRaw()); return true;
    case MSR_BIOS_SIGN_ID: return true;
    case MSR_SYSENTER_CS: st.msrSysenterCs = v & 0xffff; return true;
    case MSR_SYSENTER_ESP: st.msrSysenterEsp = v; return true;
    case MSR_SYSENTER_EIP: st.msrSysenterEip = v; return true;
    case MSR_MISC_ENABLE: st.msrMiscEnable = v; return true;
    case MSR_PAT: st.msrPat = v; return true;
    case MSR_EFER: {
      // Only SCE, LME and NXE are writable; LMA is read-only; LME cannot change while paging.
      if ((v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) != 0) return false;
      if ((st.cr0 & CR0_PG) != 0 && ((v ^ st.efer) & EFER_LME) != 0) return false;
      const nv = (v & (EFER_SCE | EFER_LME | EFER_NXE)) | (st.efer & EFER_LMA);
      if (((nv ^ st.efer) & EFER_NXE) != 0) flushTlb(true);
      st.efer = nv;
      return true;
    }
    case MSR_STAR: st.msrStar = v; return true;
    case MSR_LSTAR: st.msrLstar = v; return true;
    case MSR_CSTAR: st.msrCstar = v; return true;
    case MSR_FMASK: st.msrFmask = v & 0xffffffff; return true;
    case MSR_FS_BASE: store<u64>(0x1100 + FS * 32 + 8, v); return true;
    case MSR_GS_BASE: store<u64>(0x1100 + GS * 32 + 8, v); return true;
    case MSR_KERNEL_GS_BASE: st.msrKernelGsBase = v; return true;
    case MSR_TSC_AUX: st.msrTscAux = v & 0xffffffff; return true;
  }
  if (isMtrr(index)) return writeMtrr(index, v);
  return hostMsrWrite(index, v) != 0;
}

export function rdmsr(): void {
  requireCpl0();
  const v = readMsr(<u32>reg64(RCX));
  if (!msrOk) raiseGP(0);
  setReg64(RAX, v & 0xffffffff);
  setReg64(RDX, v >> 32);
}
export function wrmsr(): void {
  requireCpl0();
  const v = (reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32);
  if (!writeMsr(<u32>reg64(RCX), v)) raiseGP(0);
}

// --- CPUID: exactly the features implemented so far ---

// The identity is that of a Westmere-class part (family 6, model 2CH, stepping 2): the newest
// Intel generation whose feature set (SSE4.2, POPCNT, no AVX) matches what is implemented.
// EAX of leaf 1 (SDM Vol. 2A CPUID, Figure 3-6): extended model 2, family 6, model 0CH, stepping 2.
export const CPU_SIGNATURE: u32 = 0x000206c2;

// Leaf 1 EDX: FPU, DE, PSE, TSC, MSR, PAE, CX8, APIC, SEP, MTRR (mtrr.ts), PGE, CMOV, PAT, PSE-36,
// CLFSH, MMX, FXSR, SSE, SSE2. (The local APIC is the machine's device, reached through host MSRs
// and MMIO.)
const CPUID1_EDX: u32 = (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26) | 1 | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 17);
// Leaf 1 ECX: SSE3 (0), SSSE3 (9), CMPXCHG16B (13), SSE4.1 (19).
const CPUID1_ECX: u32 = 1 | (1 << 9) | (1 << 13) | (1 << 19);
// Leaf 1 ECX, the integer and state-management extensions: SSE4.2 (20: CRC32 in bitcount.ts,
// the string instructions in sse42.ts, PCMPGTQ), MOVBE (22), POPCNT (23), XSAVE (26), RDRAND (30);
// OSXSAVE (27) is added from CR4. The local APIC's TSC-deadline timer mode (24) is the machine's
// (devices/apic.ts), as is x2APIC (21): both are added by setApicFeatures() when the host has them.
const CPUID1_ECX_EXT: u32 = (1 << 20) | (1 << 22) | (1 << 23) | (1 << 26) | (1 << 30);
export const CPUID1_ECX_X2APIC: u32 = 1 << 21;
export const CPUID1_ECX_TSC_DEADLINE: u32 = 1 << 24;
let apicFeatures: u32 = 0;
/** The host declares which local APIC features its device implements (CPUID.1:ECX bits 21, 24). */
export function setApicFeatures(bits: u32): void {
  apicFeatures = bits & (CPUID1_ECX_X2APIC | CPUID1_ECX_TSC_DEADLINE);
}
// Leaf 7 sub-leaf 0 EBX: RDSEED (18). BMI1 (3) stays clear: of BMI1 only TZCNT is implemented.
const CPUID7_EBX: u32 = 1 << 18;
// Leaf 0x80000001 EDX: SYSCALL, NX, RDTSCP (27), LM.
const CPUIDX1_EDX: u32 = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
// ECX: LAHF/SAHF in 64-bit mode (0), LZCNT (5, "ABM").
const CPUIDX1_ECX: u32 = 1 | (1 << 5);

// The brand string of leaves 80000002H-80000004H, 48 bytes as 12 little-endian dwords:
// "tsemu Virtual CPU (Westmere class)", NUL-padded.
const BRAND: StaticArray<u32> = [
  0x6d657374, 0x69562075, 0x61757472, 0x5043206c, 0x57282055, 0x6d747365, 0x20657265, 0x73616c63,
  0x00002973, 0, 0, 0,
];

export function cpuid(): void {
  const leaf = <u32>reg64(RAX);
  let a: u32 = 0, b: u32 = 0, c: u32 = 0, dd: u32 = 0;
  switch (leaf) {
    case 0:
      // Vendor "GenuineIntel" in EBX, EDX, ECX; highest basic leaf 0DH (as QEMU's qemu64).
      // Leaves 2-6 and 8-0CH read as zeros: no cache descriptors (2, 4), no MONITOR leaf (5),
      // power management (6), performance monitoring (0AH) or topology (0BH) information.
      a = 0xd; b = 0x756e6547; dd = 0x49656e69; c = 0x6c65746e;
      break;
    case 1:
      // EBX: CLFLUSH line size 8 x 8 = 64 bytes (15:8), one logical processor, APIC ID 0.
      a = CPU_SIGNATURE;
      b = 0x00000800; c = CPUID1_ECX | CPUID1_ECX_EXT | apicFeatures | osxsaveBit(); dd = CPUID1_EDX;
      break;
    case 7:
      // Structured extended features; sub-leaf 0 only (EAX = highest sub-leaf = 0).
      if (<u32>reg64(RCX) == 0) b = CPUID7_EBX;
      break;
    case 0xd:
      // XSAVE (SDM Vol. 1 §13.2): sub-leaf 0: supported XCR0 bits (x87, SSE), the area size for
      // the components enabled in XCR0 and for all supported ones (both 576: the legacy region
      // and the header); sub-leaf 1: XSAVEOPT only (no XSAVEC, XGETBV with ECX = 1, XSAVES).
      // Sub-leaves 2 and up describe components 2 and up: none.
      switch (<u32>reg64(RCX)) {
        case 0: a = <u32>XCR0_SUPPORTED; b = XSAVE_AREA_SIZE; c = XSAVE_AREA_SIZE; break;
        case 1: a = 1; break;
      }
      break;
    case 0x80000000: a = 0x80000008; b = 0x756e6547; dd = 0x49656e69; c = 0x6c65746e; break;
    case 0x80000001: c = CPUIDX1_ECX; dd = CPUIDX1_EDX; break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const i = (leaf - 0x80000002) * 4;
      a = BRAND[i]; b = BRAND[i + 1]; c = BRAND[i + 2]; dd = BRAND[i + 3];
      break;
    }
    case 0x80000008: a = 0x00003028; break; // 40 physical, 48 linear address bits
    default: break;
  }
  setReg64(RAX, <u64>a);
  setReg64(RBX, <u64>b);
  setReg64(RCX, <u64>c);
  setReg64(RDX, <u64>dd);
}

// --- fast system calls ---

const FLAT_CODE64: u32 = 0x00a09b00; // P, S, code, readable, accessed, L, G
const FLAT_CODE32: u32 = 0x00c09b00; // P, S, code, readable, accessed, D, G
const FLAT_DATA: u32 = 0x00c09300; // P, S, data, writable, accessed, B, G

export function syscall(): void {
  if ((st.efer & EFER_SCE) == 0) raiseUD();
  if (mode == MODE_REAL || mode == MODE_V86) raiseUD();
  const sel = <u32>(st.msrStar >> 32) & 0xfffc;
  const fl = getEflags();
  if ((st.efer & EFER_LMA) != 0) {
    setReg64(RCX, st.rip);
    setReg64(11, <u64>(fl & ~F_RF));
    const target = mode == MODE_LONG ? st.msrLstar : st.msrCstar;
    setSegCache(CS, sel, 0, 0xffffffff, FLAT_CODE64);
    setSegCache(SS, sel + 8, 0, 0xffffffff, FLAT_DATA);
    setEflags(fl & ~(<u32>st.msrFmask) & ~F_RF);
    modeChanged();
    st.rip = target;
  } else {
    // Legacy-mode SYSCALL (AMD): EIP from STAR[31:0].
    setReg64(RCX, st.rip & 0xffffffff);
    setSegCache(CS, sel, 0, 0xffffffff, FLAT_CODE32);
    setSegCache(SS, sel + 8, 0, 0xffffffff, FLAT_DATA);
    setEflags(fl & ~(F_VM | F_IF | F_RF));
    modeChanged();
    st.rip = st.msrStar & 0xffffffff;
  }
}

export function sysret(): void {
  if ((st.efer & EFER_SCE) == 0) raiseUD();
  if (mode == MODE_REAL || mode == MODE_V86 || st.cpl != 0) raiseGP(0);
  const base = <u32>(st.msrStar >> 48) & 0xffff;
  if ((st.efer & EFER_LMA) != 0) {
    const to64 = d.rexW();
    const target = to64 ? reg64(RCX) : reg64(RCX) & 0xffffffff;
    if (to64 && !isCanonical(target)) raiseGP(0);
    if (to64) setSegCache(CS, (base + 16) | 3, 0, 0xffffffff, FLAT_CODE64 | (3 << 13));
    else setSegCache(CS, base | 3, 0, 0xffffffff, FLAT_CODE32 | (3 << 13));
    setSegCache(SS, (base + 8) | 3, 0, 0xffffffff, FLAT_DATA | (3 << 13));
    setEflags((<u32>reg64(11) & 0x3c7fd7) | 2);
    modeChanged();
    st.rip = target;
  } else {
    setSegCache(CS, base | 3, 0, 0xffffffff, FLAT_CODE32 | (3 << 13));
    setSegCache(SS, (base + 8) | 3, 0, 0xffffffff, FLAT_DATA | (3 << 13));
    setEflags(getEflags() | F_IF);
    modeChanged();
    st.rip = reg64(RCX) & 0xffffffff;
  }
}

export function sysenter(): void {
  if (mode == MODE_REAL || (st.msrSysenterCs & 0xfffc) == 0) raiseGP(0);
  const sel = <u32>st.msrSysenterCs & 0xfffc;
  const lma = (st.efer & EFER_LMA) != 0;
  setEflags(getEflags() & ~(F_VM | F_IF | F_RF));
  setSegCache(CS, sel, 0, 0xffffffff, lma ? FLAT_CODE64 : FLAT_CODE32);
  setSegCache(SS, sel + 8, 0, 0xffffffff, FLAT_DATA);
  modeChanged();
  setReg64(RSP, lma ? st.msrSysenterEsp : st.msrSysenterEsp & 0xffffffff);
  st.rip = lma ? st.msrSysenterEip : st.msrSysenterEip & 0xffffffff;
}

export function sysexit(): void {
  if (mode == MODE_REAL || mode == MODE_V86 || st.cpl != 0 || (st.msrSysenterCs & 0xfffc) == 0) raiseGP(0);
  const base = <u32>st.msrSysenterCs & 0xfffc;
  const to64 = d.rexW();
  if (to64) {
    setSegCache(CS, (base + 32) | 3, 0, 0xffffffff, FLAT_CODE64 | (3 << 13));
    setSegCache(SS, (base + 40) | 3, 0, 0xffffffff, FLAT_DATA | (3 << 13));
  } else {
    setSegCache(CS, (base + 16) | 3, 0, 0xffffffff, FLAT_CODE32 | (3 << 13));
    setSegCache(SS, (base + 24) | 3, 0, 0xffffffff, FLAT_DATA | (3 << 13));
  }
  modeChanged();
  setReg64(RSP, to64 ? reg64(RCX) : reg64(RCX) & 0xffffffff);
  st.rip = to64 ? reg64(RDX) : reg64(RDX) & 0xffffffff;
}

