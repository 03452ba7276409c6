// Instruction decoding: prefixes, opcode, ModRM/SIB/displacement and immediates, driven by the
// attribute table generated from cpu/opcode-table.ts. Results are left in module globals that the
// executor reads; nothing is allocated.
import { OPCODE_ATTRS } from "./generated/opcode-table";
import * as st from "./state";
import { mode, MODE_LONG, CS, SS, DS, ES, FS, GS, segBase, segLimit, reg64 } from "./state";
import { fetchLin8 } from "./memory";
import { raise, EXC_GP, EXC_UD } from "./fault";
import { TLB, TLB_MASK } from "./layout";

// Attribute bits; keep in step with scripts/gen-opcode-table.mjs.
export const A_MODRM: u32 = 1;
export const A_I64: u32 = 1 << 4;
export const A_D64: u32 = 1 << 5;
export const A_F64: u32 = 1 << 6;
export const A_UNDEF: u32 = 1 << 7;
export const A_GRP3IMM: u32 = 1 << 8;

// Prefix classes, one byte per opcode byte (SDM Vol. 2 §2.1.1).
const PFX_SEG: u32 = 1;
const PFX_FS: u32 = 2;
const PFX_GS: u32 = 3;
const PFX_OPSIZE: u32 = 4;
const PFX_ADSIZE: u32 = 5;
const PFX_LOCK: u32 = 6;
const PFX_REP: u32 = 7;
const PFX_REX: u32 = 8;
const PREFIX_CLASS: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** Opcode: 0x00-0xff one-byte map, 0x100-0x1ff the 0F map. */
export let op: u32 = 0;
/** Operand size in bytes for "v" operands: 2, 4 or 8. */
export let osz: u32 = 4;
/** Address size in bytes: 2, 4 or 8. */
export let asz: u32 = 4;
export let segOverride: i32 = -1;
/** REX prefix byte, 0 if none. */
export let rex: u32 = 0;
export let rexW: bool = false;
/** 0xF2, 0xF3 or 0. */
export let repPrefix: u32 = 0;
export let lockPrefix: bool = false;
export let opsizePrefix: bool = false;
export let modrm: u32 = 0;
export let modrmMod: u32 = 0;
/** ModRM.reg extended by REX.R. */
export let modrmReg: u32 = 0;
/** ModRM.rm extended by REX.B (the register when mod = 3). */
export let modrmRm: u32 = 0;
export let eaIsReg: bool = false;
/** Effective address (offset in eaSeg), truncated to the address size. */
export let eaOff: u64 = 0;
export let eaSeg: u32 = DS;
/** Base register of the memory operand (16: none); POP Ev needs to know if it is RSP. */
export let eaBase: u32 = 16;
export let imm: u64 = 0;
export let imm2: u32 = 0;

// The page the instruction bytes come from, to skip the TLB for consecutive bytes.
let fetchTag: u64 = 1;
let fetchAddend: u32 = 0;
let ip: u64 = 0;
/** Host address of the next instruction byte while the whole instruction is known to be on one page. */
let fastPtr: u32 = 0;
let fast: bool = false;

/** Forget the cached code page (TLB flush, CPL or CS change). */
export function invalidateFetch(): void {
  fetchTag = 1;
}

function fetchSlow(): u32 {
  const off = ip;
  let lin: u64;
  if (mode == MODE_LONG) {
    lin = off;
  } else {
    // Code-segment limit (SDM Vol. 3A §5.3).
    if (off > <u64>segLimit(CS)) raise(EXC_GP, 0);
    lin = (segBase(CS) + off) & 0xffffffff;
  }
  if (off - st.instrStart >= 15) raise(EXC_GP, 0); // longer than 15 bytes (SDM Vol. 2 §2.3.11)
  const b = fetchLin8(lin);
  const e = TLB + ((<u32>(lin >> 12) & TLB_MASK) << 4);
  if (load<u64>(e) == (lin & ~<u64>0xfff) && (load<u32>(e + 12) & 16) == 0) {
    fetchTag = lin & ~<u64>0xfff;
    fetchAddend = load<u32>(e + 8);
  }
  ip = off + 1;
  return b;
}

@inline function fetch8(): u32 {
  if (fast) {
    ip++;
    return load<u8>(fastPtr++);
  }
  return fetchSlow();
}

/**
 * Start fetching at st.rip: when the longest possible instruction (15 bytes) lies on the cached
 * code page and inside the CS limit, bytes are read straight from memory with no checks.
 */
@inline function startFetch(): void {
  const start = st.rip;
  let lin: u64;
  let ok: bool;
  if (mode == MODE_LONG) {
    lin = start;
    ok = true;
  } else {
    lin = (segBase(CS) + start) & 0xffffffff;
    ok = start + 14 <= <u64>segLimit(CS);
  }
  fast = ok && (lin & ~<u64>0xfff) == fetchTag && (<u32>lin & 0xfff) <= 0xff1;
  fastPtr = <u32>lin + fetchAddend;
}

function fetch16(): u32 {
  const lo = fetch8();
  return lo | (fetch8() << 8);
}
function fetch32(): u32 {
  const lo = fetch16();
  return lo | (fetch16() << 16);
}

/** LOCK is allowed only on read-modify-write instructions with a memory destination (SDM Vol. 2 "LOCK"). */
function lockable(b: u32): bool {
  if (eaIsReg) return false;
  const r = modrmReg & 7;
  switch (b) {
    case 0x00: case 0x01: case 0x08: case 0x09: case 0x10: case 0x11: case 0x18: case 0x19:
    case 0x20: case 0x21: case 0x28: case 0x29: case 0x30: case 0x31: case 0x86: case 0x87:
    case 0x1ab: case 0x1b3: case 0x1bb: case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1:
      return true;
    case 0x80: case 0x81: case 0x82: case 0x83: return r != 7;
    case 0xf6: case 0xf7: return r == 2 || r == 3;
    case 0xfe: case 0xff: return r < 2;
    case 0x1ba: return r >= 5;
    case 0x1c7: return r == 1;
  }
  return false;
}

/** Decode the instruction at RIP; on return st.rip is the address of the next instruction. */
export function decode(): void {
  const longMode = mode == MODE_LONG;
  ip = st.rip;
  st.instrStart = ip;
  startFetch();
  segOverride = -1;
  rex = 0;
  repPrefix = 0;
  lockPrefix = false;
  opsizePrefix = false;
  let adsizePrefix = false;
  let b: u32;
  while (true) {
    b = fetch8();
    // Most instructions have no prefix: one table load tells.
    const cls = <u32>load<u8>(PREFIX_CLASS + b);
    if (cls == 0) break;
    switch (cls) {
      case PFX_SEG: segOverride = <i32>((b >> 3) & 3); break;
      case PFX_FS: segOverride = <i32>FS; break;
      case PFX_GS: segOverride = <i32>GS; break;
      case PFX_OPSIZE: opsizePrefix = true; break;
      case PFX_ADSIZE: adsizePrefix = true; break;
      case PFX_LOCK: lockPrefix = true; break;
      case PFX_REP: repPrefix = b; break;
      default: // REX (0x40-0x4f): a prefix only in 64-bit mode, and only right before the opcode
        if (!longMode) break;
        rex = b;
        continue;
    }
    if (cls == PFX_REX) break;
    rex = 0;
  }
  if (b == 0x0f) b = 0x100 | fetch8();
  op = b;
  const attrs = <u32>load<u16>(OPCODE_ATTRS + (b << 1));
  if ((attrs & A_UNDEF) != 0 || (longMode && (attrs & A_I64) != 0)) raise(EXC_UD, -1);
  rexW = (rex & 8) != 0;

  if (longMode) {
    if (rexW) osz = 8;
    else if ((attrs & A_F64) != 0) osz = 8;
    else if ((attrs & A_D64) != 0) osz = opsizePrefix ? 2 : 8;
    else osz = opsizePrefix ? 2 : 4;
    asz = adsizePrefix ? 4 : 8;
  } else {
    osz = opsizePrefix ? 6 - st.codeSize : st.codeSize;
    asz = adsizePrefix ? 6 - st.addrSize : st.addrSize;
  }

  let ripRelative = false;
  if ((attrs & A_MODRM) != 0) {
    const m = fetch8();
    modrm = m;
    modrmMod = m >> 6;
    modrmReg = ((m >> 3) & 7) | ((rex & 4) << 1);
    const rm = m & 7;
    if (modrmMod == 3) {
      eaIsReg = true;
      modrmRm = rm | ((rex & 1) << 3);
    } else {
      eaIsReg = false;
      modrmRm = rm;
      let seg: u32 = DS;
      let ea: u64 = 0;
      eaBase = 16;
      if (asz == 2) {
        // 16-bit forms (SDM Vol. 2 Table 2-1).
        switch (rm) {
          case 0: ea = reg64(3) + reg64(6); break;
          case 1: ea = reg64(3) + reg64(7); break;
          case 2: ea = reg64(5) + reg64(6); seg = SS; break;
          case 3: ea = reg64(5) + reg64(7); seg = SS; break;
          case 4: ea = reg64(6); break;
          case 5: ea = reg64(7); break;
          case 6:
            if (modrmMod == 0) ea = <u64>fetch16();
            else { ea = reg64(5); seg = SS; }
            break;
          default: ea = reg64(3); break;
        }
        if (modrmMod == 1) ea += <u64>(<i64>(<i8>fetch8()));
        else if (modrmMod == 2) ea += <u64>fetch16();
        ea &= 0xffff;
      } else {
        // 32/64-bit forms (SDM Vol. 2 Tables 2-2, 2-3 and §2.2.1.6).
        if (rm == 4) {
          const sib = fetch8();
          const scale = sib >> 6;
          const index = ((sib >> 3) & 7) | ((rex & 2) << 2);
          const base = sib & 7;
          if (index != 4) ea = reg64(index) << scale;
          if (base == 5 && modrmMod == 0) {
            ea += <u64>(<i64>(<i32>fetch32()));
          } else {
            eaBase = base | ((rex & 1) << 3);
            ea += reg64(eaBase);
            if (base == 4 || base == 5) seg = SS;
          }
        } else if (rm == 5 && modrmMod == 0) {
          ea = <u64>(<i64>(<i32>fetch32()));
          if (longMode) ripRelative = true;
        } else {
          eaBase = rm | ((rex & 1) << 3);
          ea = reg64(eaBase);
          if (rm == 5) seg = SS;
        }
        if (modrmMod == 1) ea += <u64>(<i64>(<i8>fetch8()));
        else if (modrmMod == 2) ea += <u64>(<i64>(<i32>fetch32()));
      }
      eaOff = ea;
      eaSeg = segOverride >= 0 ? <u32>segOverride : seg;
    }
  }

  // Group 5 members have their own 64-bit-mode sizes (cpu/opcode-table.ts GROUPS['5']):
  // near CALL/JMP are f64, PUSH is d64.
  if (longMode && b == 0xff) {
    const r = modrmReg & 7;
    if (r == 2 || r == 4) osz = 8;
    else if (r == 6 && !rexW) osz = opsizePrefix ? 2 : 8;
  }

  // Immediates (operand codes of SDM Vol. 2 §A.2.2).
  let immKind = (attrs >> 1) & 7;
  if ((attrs & A_GRP3IMM) != 0 && (modrmReg & 6) == 0) immKind = b == 0xf6 ? 1 : 3;
  switch (immKind) {
    case 0: break;
    case 1: imm = <u64>(<i64>(<i8>fetch8())); break;
    case 2: imm = <u64>fetch16(); break;
    case 3: imm = osz == 2 ? <u64>(<i64>(<i16>fetch16())) : <u64>(<i64>(<i32>fetch32())); break;
    case 4:
      if (osz == 2) imm = <u64>fetch16();
      else if (osz == 4) imm = <u64>fetch32();
      else { const lo = <u64>fetch32(); imm = lo | (<u64>fetch32() << 32); }
      break;
    case 5: imm = <u64>fetch16(); imm2 = fetch8(); break;
    case 6: imm = osz == 2 ? <u64>fetch16() : <u64>fetch32(); imm2 = fetch16(); break;
    default:
      // moffs: an address-size offset.
      if (asz == 2) imm = <u64>fetch16();
      else if (asz == 4) imm = <u64>fetch32();
      else { const lo = <u64>fetch32(); imm = lo | (<u64>fetch32() << 32); }
      break;
  }
  if (lockPrefix && !lockable(b)) raise(EXC_UD, -1);
  if (ripRelative) eaOff += ip;
  if (!eaIsReg && (attrs & A_MODRM) != 0 && asz == 4) eaOff &= 0xffffffff;
  st.rip = ip;
}

