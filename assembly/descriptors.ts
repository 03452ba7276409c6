// Reading and parsing segment and gate descriptors from the GDT/LDT/IDT (SDM Vol. 3A §3.4.5, §5.8).
import * as st from "./state";
import { LDTR, segBase, segLimit, segFlags, DESC_P, DESC_G, mode, MODE_LONG } from "./state";
import { readLin32, writeLin32, beginSupervisorAccess, endSupervisorAccess } from "./memory";

// The last descriptor read.
export let descLo: u32 = 0;
export let descHi: u32 = 0;
/** Bits 63:32 of the base of a 16-byte system descriptor or gate (long mode). */
export let descHi2: u32 = 0;
/** Linear address the descriptor was read from (for setting the accessed/busy bits). */
export let descAddr: u64 = 0;

/**
 * Read the 8-byte descriptor for `sel` (16 bytes if `wide`). Returns false if the selector's
 * index is outside the table (the caller raises the fault its instruction specifies).
 */
export function readDescriptor(sel: u32, wide: bool): bool {
  let base: u64, limit: u32;
  if ((sel & 4) != 0) {
    if ((segFlags(LDTR) & DESC_P) == 0) return false;
    base = segBase(LDTR);
    limit = segLimit(LDTR);
  } else {
    base = st.gdtrBase;
    limit = st.gdtrLimit;
  }
  const idx = <u64>(sel & 0xfff8);
  if (idx + (wide ? 15 : 7) > <u64>limit) return false;
  descAddr = base + idx;
  if (mode != MODE_LONG) descAddr &= 0xffffffff;
  beginSupervisorAccess();
  descLo = readLin32(descAddr);
  descHi = readLin32(descAddr + 4);
  descHi2 = wide ? readLin32(descAddr + 8) : 0;
  endSupervisorAccess();
  return true;
}

/** Read IDT entry `vector` (8 bytes, or 16 in long mode); false if past the IDT limit. */
export function readGate(vector: u32): bool {
  const wide = (st.efer & st.EFER_LMA) != 0;
  const size: u32 = wide ? 16 : 8;
  if (<u64>(vector * size + size - 1) > <u64>st.idtrLimit) return false;
  descAddr = st.idtrBase + <u64>(vector * size);
  if (!wide) descAddr &= 0xffffffff;
  beginSupervisorAccess();
  descLo = readLin32(descAddr);
  descHi = readLin32(descAddr + 4);
  descHi2 = wide ? readLin32(descAddr + 8) : 0;
  endSupervisorAccess();
  return true;
}

export function descBase(): u64 {
  return <u64>((descLo >>> 16) | ((descHi & 0xff) << 16) | (descHi & 0xff000000));
}
export function descLimit(): u32 {
  let l = (descLo & 0xffff) | (descHi & 0xf0000);
  if ((descHi & DESC_G) != 0) l = (l << 12) | 0xfff;
  return l;
}
/** Descriptor dword 2 masked as the segment cache keeps it. */
@inline export function descFlags(): u32 {
  return descHi & 0x00f0ff00;
}
@inline export function descDpl(): u32 {
  return (descHi >> 13) & 3;
}
@inline export function descPresent(): bool {
  return (descHi & DESC_P) != 0;
}
/** S = 0: a system descriptor (TSS, LDT, gate). */
@inline export function descIsSystem(): bool {
  return (descHi & (1 << 12)) == 0;
}
@inline export function descType(): u32 {
  return (descHi >> 8) & 15;
}
/** Gate target offset (bits 15:0 in dword 0, 31:16 in dword 1, 63:32 in dword 2). */
export function gateOffset(): u64 {
  return <u64>((descLo & 0xffff) | (descHi & 0xffff0000)) | (<u64>descHi2 << 32);
}
@inline export function gateSelector(): u32 {
  return descLo >>> 16;
}

/** Set the accessed bit of the descriptor just read, as a segment load does (§3.4.5.1). */
export function setAccessed(): void {
  if ((descHi & 0x100) == 0) {
    descHi |= 0x100;
    beginSupervisorAccess();
    writeLin32(descAddr + 4, descHi);
    endSupervisorAccess();
  }
}

/** Write back dword 1 of the descriptor just read (TSS busy bit). */
export function writeDescHi(v: u32): void {
  descHi = v;
  beginSupervisorAccess();
  writeLin32(descAddr + 4, v);
  endSupervisorAccess();
}
