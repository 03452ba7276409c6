// Memory type range registers (SDM Vol. 3A §11.11). The emulator has no caches, so the ranges
// change nothing; the registers exist because firmware and operating systems program them when
// CPUID.1:EDX.MTRR is set, and they must hold what was written and refuse reserved bits.
import { MTRR_STATE } from "./layout";

export const MSR_MTRRCAP: u32 = 0xfe;
export const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;
const MSR_MTRR_PHYS_FIRST: u32 = 0x200; // PHYSBASE0, PHYSMASK0, ... PHYSMASK7 at 0x20f
const VARIABLE_COUNT: u32 = 8;

// IA32_MTRRCAP (§11.11.1): VCNT = 8 variable ranges, FIX (8) fixed ranges, WC (10) type; no SMRR.
const MTRRCAP_VALUE: u64 = <u64>VARIABLE_COUNT | (1 << 8) | (1 << 10);
// Physical address bits above MAXPHYADDR (40, CPUID 80000008H) are reserved in base and mask.
const PHYS_RESERVED: u64 = 0xffffff0000000000;

// Slots in MTRR_STATE: 11 fixed-range MSRs, then base/mask pairs, then the default type.
const SLOT_DEF_TYPE: u32 = 11 + 2 * VARIABLE_COUNT;

/** Slot of a fixed-range MSR (§11.11.2.2, Table 11-9), or -1. */
function fixedSlot(index: u32): i32 {
  if (index == 0x250) return 0; // 64K_00000
  if (index == 0x258) return 1; // 16K_80000
  if (index == 0x259) return 2; // 16K_A0000
  if (index >= 0x268 && index <= 0x26f) return 3 + <i32>(index - 0x268); // 4K_C0000 .. 4K_F8000
  return -1;
}

/** UC (0), WC (1), WT (4), WP (5), WB (6) are the defined memory types (§11.11.2.1). */
function validType(t: u64): bool {
  return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

export function isMtrr(index: u32): bool {
  return index == MSR_MTRRCAP || index == MSR_MTRR_DEF_TYPE || fixedSlot(index) >= 0 ||
    (index >= MSR_MTRR_PHYS_FIRST && index < MSR_MTRR_PHYS_FIRST + 2 * VARIABLE_COUNT);
}

function slotOf(index: u32): u32 {
  if (index == MSR_MTRR_DEF_TYPE) return SLOT_DEF_TYPE;
  const f = fixedSlot(index);
  if (f >= 0) return <u32>f;
  return 11 + index - MSR_MTRR_PHYS_FIRST;
}

/** RDMSR of an MTRR (isMtrr(index) must hold). */
export function readMtrr(index: u32): u64 {
  if (index == MSR_MTRRCAP) return MTRRCAP_VALUE;
  return load<u64>(MTRR_STATE + (slotOf(index) << 3));
}

/** WRMSR of an MTRR; false means #GP (read-only MTRRCAP, reserved bits, undefined types). */
export function writeMtrr(index: u32, v: u64): bool {
  if (index == MSR_MTRRCAP) return false;
  if (index == MSR_MTRR_DEF_TYPE) {
    // Type (7:0), FE (10), E (11); the rest is reserved (§11.11.2.1).
    if ((v & ~(<u64>0xcff)) != 0 || !validType(v & 0xff)) return false;
  } else if (fixedSlot(index) >= 0) {
    // Eight one-byte type fields.
    for (let i: u64 = 0; i < 64; i += 8) if (!validType((v >> i) & 0xff)) return false;
  } else if (((index - MSR_MTRR_PHYS_FIRST) & 1) == 0) {
    // PHYSBASEn: type (7:0), reserved 11:8 and above MAXPHYADDR (§11.11.2.3).
    if ((v & (PHYS_RESERVED | 0xf00)) != 0 || !validType(v & 0xff)) return false;
  } else {
    // PHYSMASKn: valid (11), reserved 10:0 and above MAXPHYADDR.
    if ((v & (PHYS_RESERVED | 0x7ff)) != 0) return false;
  }
  store<u64>(MTRR_STATE + (slotOf(index) << 3), v);
  return true;
}

/** Power-on: every range register and the default type read as zero (MTRRs disabled). */
export function resetMtrrs(): void {
  memory.fill(MTRR_STATE, 0, (SLOT_DEF_TYPE + 1) << 3);
}
