// The XSAVE feature set for state components 0 (x87) and 1 (SSE) (SDM Vol. 1 ch. 13):
// XCR0 with XGETBV/XSETBV (0F 01 D0/D1), and XSAVE/XRSTOR/XSAVEOPT (NP 0F AE /4 /5 /6, memory
// operand) in the standard (non-compacted) format. The legacy region (bytes 0-511) has the FXSAVE
// layout (Vol. 1 §13.4.1), which is also how the state sits at FPU_STATE, so components are
// copied between the image and memory. XSAVEC/XSAVES/XRSTORS and components 2 and up (AVX...)
// are not implemented: CPUID leaf 0DH (system.ts) says so.
import * as st from "./state";
import { mode, MODE_LONG, RAX, RCX, RDX, CR0_TS, CR4_OSXSAVE, FS, reg64, setReg64, segBase } from "./state";
import * as d from "./decode";
import { linear } from "./access";
import { readLin64, readLin32, writeLin64, writeLin32, probeWrite } from "./memory";
import { raise, raiseUD, raiseGP, EXC_NM } from "./fault";
import { FPU_STATE } from "./layout";
import { sizeMask } from "./flags";

/** State components this CPU supports in XCR0: x87 (bit 0) and SSE (bit 1). */
export const XCR0_SUPPORTED: u64 = 3;
/** Size of the standard-format XSAVE area for x87 and SSE: legacy region plus the 64-byte header. */
export const XSAVE_AREA_SIZE: u32 = 576;

const A_MXCSR: u32 = FPU_STATE + 24;
const A_XMM: u32 = FPU_STATE + 160;
/** MXCSR bits implemented (DAZ included), as reported in MXCSR_MASK (Vol. 1 §11.6.6). */
const MXCSR_MASK: u32 = 0xffff;

function requireOsxsave(): void {
  if ((st.cr4 & CR4_OSXSAVE) == 0) raiseUD();
}

// --- XGETBV / XSETBV (SDM Vol. 2C "XGETBV", "XSETBV") ---

/** XGETBV: EDX:EAX = XCR[ECX]. Only XCR0 exists (XGETBV with ECX = 1 is not enumerated): #GP(0) otherwise. */
export function xgetbv(): void {
  requireOsxsave();
  if (<u32>reg64(RCX) != 0) raiseGP(0);
  setReg64(RAX, st.xcr0 & 0xffffffff);
  setReg64(RDX, st.xcr0 >> 32);
}

/**
 * XSETBV: XCR[ECX] = EDX:EAX at CPL 0. #GP(0) for another XCR than 0, for bits outside the
 * supported components, for clearing bit 0 (x87), and for XCR0[2:1] = 10b (AVX without SSE;
 * bit 2 is unsupported here anyway).
 */
export function xsetbv(): void {
  requireOsxsave();
  if (st.cpl != 0) raiseGP(0); // CPL is 3 in virtual-8086 mode
  if (<u32>reg64(RCX) != 0) raiseGP(0);
  const v = (reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32);
  if ((v & ~XCR0_SUPPORTED) != 0 || (v & 1) == 0 || (v & 6) == 4) raiseGP(0);
  st.xcr0 = v;
}

// --- XSAVE / XRSTOR / XSAVEOPT ---

@inline function linPlus(lin: u64, k: u32): u64 {
  return mode == MODE_LONG ? lin + <u64>k : (lin + <u64>k) & 0xffffffff;
}

/**
 * Common checks (Vol. 2C "XSAVE" exceptions): CR4.OSXSAVE = 0 -> #UD, CR0.TS = 1 -> #NM, an
 * operand not aligned on 64 bytes -> #GP(0) whatever the segment. Then the segment checks of both
 * ends of the 576-byte area; returns its linear address.
 */
function xsaveArea(write: bool): u64 {
  requireOsxsave();
  if ((st.cr0 & CR0_TS) != 0) raise(EXC_NM, -1);
  const seg = d.eaSeg();
  const off = d.eaOff;
  let lin: u64;
  if (mode == MODE_LONG) lin = seg >= FS ? segBase(seg) + off : off;
  else lin = (segBase(seg) + off) & 0xffffffff;
  if ((lin & 63) != 0) raiseGP(0);
  // 64-byte accesses at both ends: aligned, so alignment checking (#AC) never objects.
  const first = linear(seg, off, 64, write);
  linear(seg, (off + <u64>(XSAVE_AREA_SIZE - 64)) & sizeMask(d.asz()), 64, write);
  return first;
}

/** Requested-feature bitmap: XCR0 AND EDX:EAX (Vol. 1 §13.7). */
@inline function rfbm(): u64 {
  return st.xcr0 & ((reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32));
}

/** Number of bytes of XMM registers in the legacy region: XMM0-15 in 64-bit mode, else XMM0-7. */
@inline function xmmBytes(): u32 {
  return mode == MODE_LONG ? 256 : 128;
}

/**
 * XSAVE and XSAVEOPT (Vol. 1 §13.7, §13.9): store the components in RFBM, and write XSTATE_BV
 * as (old XSTATE_BV AND NOT RFBM) OR (XINUSE AND RFBM). XINUSE is taken as all ones (the SDM
 * allows a component to be reported in use while it is in its initial state), and XSAVEOPT
 * uses neither the init nor the modified optimisation, which makes it the same as XSAVE. Only
 * bytes of saved components and XSTATE_BV are written; the rest of the area is left alone.
 */
export function xsave(): void {
  const lin = xsaveArea(true);
  const mask = rfbm();
  probeWrite(lin, XSAVE_AREA_SIZE); // both pages writable before anything is stored
  const oldBv = readLin64(linPlus(lin, 512));
  if ((mask & 1) != 0) {
    // x87: FCW, FSW, abridged FTW, FOP, FIP/FCS, FDP/FDS (64-bit FIP and FDP with REX.W, as
    // FXSAVE64: Vol. 1 Table 10-3), then ST0-ST7 in 16-byte slots.
    writeLin64(lin, load<u64>(FPU_STATE));
    for (let k: u32 = 8; k <= 16; k += 8) {
      const v = d.rexW() ? <u64>load<u32>(FPU_STATE + k) : load<u64>(FPU_STATE + k);
      writeLin64(linPlus(lin, k), v);
    }
    for (let k: u32 = 32; k < 160; k += 8) writeLin64(linPlus(lin, k), load<u64>(FPU_STATE + k));
  }
  if ((mask & 6) != 0) {
    // MXCSR and MXCSR_MASK go with SSE or AVX state (Vol. 1 §13.7).
    writeLin32(linPlus(lin, 24), load<u32>(A_MXCSR));
    writeLin32(linPlus(lin, 28), MXCSR_MASK);
  }
  if ((mask & 2) != 0) {
    const n = xmmBytes();
    for (let k: u32 = 0; k < n; k += 8) writeLin64(linPlus(lin, 160 + k), load<u64>(A_XMM + k));
  }
  writeLin64(linPlus(lin, 512), (oldBv & ~mask) | (XCR0_SUPPORTED & mask));
}

/**
 * XRSTOR, standard form (Vol. 1 §13.8.1): #GP(0) if bytes 8-23 of the header (XCOMP_BV and the
 * following quadword) are not zero (so a compacted image, XCOMP_BV[63] = 1, is refused: XSAVEC is
 * not supported), if XSTATE_BV has a bit outside XCR0, or if MXCSR would be loaded with a
 * reserved bit set. Every check and every page touch happens before the state changes. Then, for
 * each component in RFBM, it is loaded if its XSTATE_BV bit is set and put in its initial
 * configuration (§13.6) otherwise; MXCSR is loaded whenever RFBM[1] or RFBM[2] is set.
 */
export function xrstor(): void {
  const lin = xsaveArea(false);
  const mask = rfbm();
  const bv = readLin64(linPlus(lin, 512));
  const hdr1 = readLin64(linPlus(lin, 520));
  const hdr2 = readLin64(linPlus(lin, 528));
  if (hdr1 != 0 || hdr2 != 0) raiseGP(0);
  if ((bv & ~st.xcr0) != 0) raiseGP(0);
  readLin64(lin); // the first page too: both are readable before anything changes
  let mx: u32 = 0;
  if ((mask & 6) != 0) {
    mx = readLin32(linPlus(lin, 24));
    if ((mx & ~MXCSR_MASK) != 0) raiseGP(0);
  }
  const restore = mask & bv;
  const init = mask & ~bv;
  if ((restore & 1) != 0) {
    store<u64>(FPU_STATE, readLin64(lin));
    for (let k: u32 = 8; k <= 16; k += 8) {
      const v = readLin64(linPlus(lin, k));
      if (d.rexW()) {
        store<u32>(FPU_STATE + k, <u32>v); // no selectors in the 64-bit image
        store<u32>(FPU_STATE + k + 4, 0);
      } else store<u64>(FPU_STATE + k, v);
    }
    for (let k: u32 = 32; k < 160; k += 8) store<u64>(FPU_STATE + k, readLin64(linPlus(lin, k)));
  } else if ((init & 1) != 0) {
    // x87 initial configuration (§13.6): FCW 037FH, FSW 0, FTW FFFFH (abridged 0: all empty),
    // FOP, FIP, FCS, FDP and FDS 0, ST0-ST7 0.
    store<u64>(FPU_STATE, 0x37f);
    store<u64>(FPU_STATE + 8, 0);
    store<u64>(FPU_STATE + 16, 0);
    memory.fill(FPU_STATE + 32, 0, 128);
  }
  if ((mask & 6) != 0) store<u32>(A_MXCSR, mx);
  if ((restore & 2) != 0) {
    const n = xmmBytes();
    for (let k: u32 = 0; k < n; k += 8) store<u64>(A_XMM + k, readLin64(linPlus(lin, 160 + k)));
  } else if ((init & 2) != 0) {
    memory.fill(A_XMM, 0, xmmBytes()); // XMM8-15 are left alone outside 64-bit mode
  }
}

/**
 * Group 15 memory forms /4 /5 /6 without a 66, F2 or F3 prefix. Returns false for encodings
 * that are not XSAVE/XRSTOR/XSAVEOPT (the caller hands them on).
 */
export function xsaveGroup(): bool {
  if (d.eaIsReg() || d.opsizePrefix() || d.repPrefix() != 0) return false;
  const r = d.modrmReg() & 7;
  if (r == 4 || r == 6) xsave();
  else if (r == 5) xrstor();
  else return false;
  return true;
}

/** The value of CPUID.01H:ECX.OSXSAVE[bit 27]: a copy of CR4.OSXSAVE. */
@inline export function osxsaveBit(): u32 {
  return (st.cr4 & CR4_OSXSAVE) != 0 ? <u32>(1 << 27) : 0;
}
