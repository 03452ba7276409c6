// MMX, SSE and later SIMD instructions, group 15 (FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, fences,
// CLFLUSH) and the 0F 38 / 0F 3A maps. The XMM registers and MXCSR live in the FXSAVE image at
// FPU_STATE (layout.ts); the MMX registers alias the mantissas of the x87 registers there.
// Implemented: the state instructions, data movement and packed-integer/logical operations of
// MMX, SSE and SSE2, and the SSE/SSE2 floating-point arithmetic, compares and conversions
// (executeSseFloat below; the numeric core is sse-float.ts), and SSE3 (ADDSUB/HADD/HSUB, the
// MOVxDUP moves, LDDQU). The 0F 38 / 0F 3A maps (SSSE3, SSE4.1) are in sse4.ts and sse-ssse3.ts.
import * as d from "./decode";
import * as st from "./state";
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT, mode, MODE_LONG, FS, segBase } from "./state";
import { linear, getReg, setReg } from "./access";
import { readLin32, readLin64, readLin, writeLin, writeLin64, probeWrite } from "./memory";
import { raise, raiseUD, raiseGP, EXC_NM, EXC_MF, EXC_XM } from "./fault";
import { FPU_STATE } from "./layout";
import { chunkOp, handled, shiftChunk, interleave, packChunk, shufWords, byteSigns } from "./sse-int";
import * as fl from "./sse-float";
import { setArith } from "./flags";
import { executeThreeByte } from "./sse4";

const A_FSW: u32 = FPU_STATE + 2;
const A_FTW: u32 = FPU_STATE + 4;
const A_FIP: u32 = FPU_STATE + 8;
const A_FDP: u32 = FPU_STATE + 16;
const A_MXCSR: u32 = FPU_STATE + 24;
const A_MXCSR_MASK: u32 = FPU_STATE + 28;
const A_ST: u32 = FPU_STATE + 32;
const A_XMM: u32 = FPU_STATE + 160;
/** MXCSR bits this CPU implements (DAZ included): every other bit is reserved (SDM Vol. 1 §11.6.6). */
const MXCSR_MASK: u32 = 0xffff;
/** Room to rotate the x87 slots when an MMX instruction sets TOP to 0. */
const ROTATE: usize = memory.data(128, 16);

// --- gates (SDM Vol. 3A §2.5 Table 2-2; Vol. 1 §11.6.1 Table 11-1, §9.6.x) ---

/** SSE/SSE2 forms: CR0.EM or CR4.OSFXSR clear -> #UD, CR0.TS -> #NM. */
export function gateSse(): void {
  if ((st.cr0 & CR0_EM) != 0 || (st.cr4 & CR4_OSFXSR) == 0) raiseUD();
  if ((st.cr0 & CR0_TS) != 0) raise(EXC_NM, -1);
}
/** MMX forms: CR0.EM -> #UD, CR0.TS -> #NM, a pending unmasked x87 exception (FSW.ES) -> #MF. */
export function gateMmx(): void {
  if ((st.cr0 & CR0_EM) != 0) raiseUD();
  if ((st.cr0 & CR0_TS) != 0) raise(EXC_NM, -1);
  pendingX87();
}
@inline export function pendingX87(): void {
  if ((<u32>load<u16>(A_FSW) & 0x80) != 0) raise(EXC_MF, -1);
}

// --- registers ---

@inline export function xmm(r: u32): u32 { return A_XMM + (r << 4); }
@inline function top(): u32 { return (<u32>load<u16>(A_FSW) >> 11) & 7; }
/** MMi is physical x87 register i; the slots at A_ST hold ST(0)..ST(7), so it sits at slot i - TOP. */
@inline function mmAddr(i: u32): u32 { return A_ST + (((i - top()) & 7) << 4); }
@inline export function getMm(i: u32): u64 { return load<u64>(mmAddr(i)); }

/**
 * The x87-to-MMX transition that every MMX instruction makes once it cannot fault any more
 * (SDM Vol. 1 §9.5.1, Table 9-1): TOP = 0 and every tag valid. The slots are rotated so that
 * slot i keeps physical register i once TOP is 0.
 */
export function enterMmx(): void {
  const t = top();
  if (t != 0) {
    memory.copy(ROTATE, A_ST, 128);
    for (let i: u32 = 0; i < 8; i++) memory.copy(A_ST + (i << 4), ROTATE + (((i - t) & 7) << 4), 16);
    store<u16>(A_FSW, <u16>(<u32>load<u16>(A_FSW) & ~0x3800));
  }
  store<u8>(A_FTW, 0xff);
}
/** An MMX register write also sets the exponent and sign field of the x87 register to all ones (§9.5.1). */
export function setMm(i: u32, v: u64): void {
  enterMmx();
  store<u64>(A_ST + (i << 4), v);
  store<u16>(A_ST + (i << 4) + 8, 0xffff);
}
/** MMX ModRM fields ignore REX.R and REX.B (SDM Vol. 2 §2.2.1.7). */
@inline export function mmReg(): u32 { return (d.modrm() >> 3) & 7; }
@inline export function mmRm(): u32 { return d.modrm() & 7; }

// --- memory operands ---

/** Linear address of the operand; `aligned` forms need a 16-byte-aligned address or #GP(0). */
function memLin(size: u32, write: bool, aligned: bool): u64 {
  if (size > 16) {
    // FXSAVE/FXRSTOR: check both ends with 16-byte accesses (linear() would demand 512-byte
    // alignment for #AC; the SDM asks only for 16).
    const last = (d.eaOff + <u64>(size - 16)) & (d.asz() == 8 ? <u64>-1 : d.asz() == 4 ? <u64>0xffffffff : <u64>0xffff);
    const lin = memLin(16, write, true);
    linear(d.eaSeg(), last, 16, write);
    return lin;
  }
  if (aligned) {
    const seg = d.eaSeg();
    let lin: u64;
    if (mode == MODE_LONG) lin = seg >= FS ? segBase(seg) + d.eaOff : d.eaOff;
    else lin = segBase(seg) + d.eaOff;
    if ((lin & 15) != 0) raiseGP(0);
  }
  return linear(d.eaSeg(), d.eaOff, size, write);
}
@inline function plus8(lin: u64): u64 { return mode == MODE_LONG ? lin + 8 : (lin + 8) & 0xffffffff; }

// Operands of the current instruction (locals of the executor, kept global to avoid allocation).
export let sLo: u64 = 0;
export let sHi: u64 = 0;

export function readM128(aligned: bool): void {
  const lin = memLin(16, false, aligned);
  sLo = readLin64(lin);
  sHi = readLin64(plus8(lin));
}
function writeM128(aligned: bool, lo: u64, hi: u64): void {
  const lin = memLin(16, true, aligned);
  probeWrite(lin, 16);
  writeLin64(lin, lo);
  writeLin64(plus8(lin), hi);
}
@inline export function readM(size: u32): u64 { return readLin(memLin(size, false, false), size); }
@inline export function writeM(size: u32, v: u64): void { writeLin(memLin(size, true, false), size, v); }

/** Source XMM operand (register or m128) into sLo/sHi. */
export function srcX(aligned: bool): void {
  if (d.eaIsReg()) {
    const a = xmm(d.modrmRm());
    sLo = load<u64>(a);
    sHi = load<u64>(a + 8);
  } else readM128(aligned);
}
/** Source MMX operand (register or m64). */
export function srcM(): u64 {
  return d.eaIsReg() ? getMm(mmRm()) : readM(8);
}
@inline export function setX(r: u32, lo: u64, hi: u64): void {
  store<u64>(xmm(r), lo);
  store<u64>(xmm(r) + 8, hi);
}

// --- dispatch ---

/** Mandatory-prefix class: 0 none, 1 = 66, 2 = F3, 3 = F2 (F2/F3 take precedence over 66). */
function prefixClass(): u32 {
  const rep = d.repPrefix();
  if (rep == 0xf3) return 2;
  if (rep == 0xf2) return 3;
  return d.opsizePrefix() ? 1 : 0;
}

/** Opcodes whose unprefixed form works on MMX registers. */
function mmxOpcode(op: u32): bool {
  return (op >= 0x160 && op <= 0x17f && op != 0x177 && op != 0x17c && op != 0x17d) || op == 0x1c4 || op == 0x1c5 || op == 0x1e7 ||
    (op >= 0x1d1 && op <= 0x1ff && op != 0x1d6 && op != 0x1f7);
}

export function executeSse(op: u32): void {
  switch (op) {
    case 0x1ae: group15(); return;
    case 0x1c3: { // MOVNTI: a plain store of a general register (no SIMD state involved)
      if (d.eaIsReg()) raiseUD();
      const size: u32 = d.rexW() ? 8 : 4;
      writeM(size, getReg(d.modrmReg(), size));
      return;
    }
    case 0x177: // EMMS: every x87 tag empty (SDM Vol. 2 EMMS)
      gateMmx();
      store<u8>(A_FTW, 0);
      return;
  }
  const p = prefixClass();
  if (op >= 0x200) { // the 0F 38 and 0F 3A maps: SSSE3, SSE4.1
    executeThreeByte(op, p);
    return;
  }
  if (p == 0 && mmxOpcode(op)) {
    gateMmx();
    executeMmx(op);
    enterMmx();
    return;
  }
  gateSse();
  if (executeSseFloat(op, p)) return;
  if (op == 0x1d6 && p >= 2) {
    // MOVQ2DQ (F3) and MOVDQ2Q (F2) touch an MMX register: they also check for a pending x87
    // exception and make the MMX transition (SDM Vol. 2 MOVQ2DQ, MOVDQ2Q).
    if (!d.eaIsReg()) raiseUD();
    pendingX87();
    if (p == 2) setX(d.modrmReg(), getMm(mmRm()), 0);
    else setMm(mmReg(), load<u64>(xmm(d.modrmRm())));
    enterMmx();
    return;
  }
  if (p == 1 && executeXmmInt(op)) return;
  executeSseMove(op, p);
}

// --- MMX register forms (unprefixed 0F 60-7F, C4, C5, D1-FF) ---

function executeMmx(op: u32): void {
  const r = mmReg();
  switch (op) {
    case 0x160: case 0x161: case 0x162: case 0x168: case 0x169: case 0x16a: {
      // PUNPCKL* read only 32 bits from memory (SDM Vol. 2 PUNPCKLBW: mm/m32), PUNPCKH* 64.
      const a = getMm(r);
      const b = d.eaIsReg() ? getMm(mmRm()) : readM(op < 0x168 ? 4 : 8);
      const bits: u64 = <u64>8 << <u64>(op & 3);
      setMm(r, op < 0x168 ? interleave(a, b, bits) : interleave(a >> 32, b >> 32, bits));
      return;
    }
    case 0x163: case 0x167: case 0x16b: {
      const b = srcM();
      setMm(r, packChunk(op & 0xff, getMm(r), b));
      return;
    }
    case 0x16e: // MOVD/MOVQ mm, r/m32 (r/m64 with REX.W), zero-extended
      setMm(r, readRm(d.rexW() ? 8 : 4));
      return;
    case 0x17e: { // MOVD/MOVQ r/m32 (r/m64), mm
      const v = getMm(r);
      writeRm(d.rexW() ? 8 : 4, v);
      return;
    }
    case 0x16f: setMm(r, srcM()); return;
    case 0x17f: case 0x1e7: { // MOVQ mm/m64, mm; MOVNTQ m64, mm
      const v = getMm(r);
      if (d.eaIsReg()) {
        if (op == 0x1e7) raiseUD();
        setMm(mmRm(), v);
      } else writeM(8, v);
      return;
    }
    case 0x170: { // PSHUFW
      const b = srcM();
      setMm(r, shufWords(b, <u32>d.imm() & 0xff));
      return;
    }
    case 0x171: case 0x172: case 0x173: { // shift groups 12-14 by imm8; register operand only
      if (!d.eaIsReg()) raiseUD();
      const k = (d.modrm() >> 3) & 7;
      if (k != 2 && k != 6 && !(k == 4 && op != 0x173)) raiseUD();
      const bits: u64 = <u64>8 << <u64>(op - 0x170);
      const rm = mmRm();
      setMm(rm, shiftChunk(k, bits, getMm(rm), d.imm() & 0xff));
      return;
    }
    case 0x1c4: { // PINSRW mm, r32/m16, imm8
      const w = d.eaIsReg() ? getReg(d.modrmRm(), 2) : readM(2);
      const s: u64 = <u64>((<u32>d.imm() & 3) << 4);
      setMm(r, (getMm(r) & ~(<u64>0xffff << s)) | (w << s));
      return;
    }
    case 0x1c5: { // PEXTRW r32, mm, imm8
      if (!d.eaIsReg()) raiseUD();
      const s: u64 = <u64>((<u32>d.imm() & 3) << 4);
      setReg(d.modrmReg(), 4, (getMm(mmRm()) >> s) & 0xffff);
      return;
    }
    case 0x1d7: // PMOVMSKB r32, mm
      if (!d.eaIsReg()) raiseUD();
      setReg(d.modrmReg(), 4, <u64>byteSigns(getMm(mmRm())));
      return;
  }
  const sh = shiftKind(op);
  if (sh != 0) {
    const count = srcM();
    setMm(r, shiftChunk(sh, shiftBits(op), getMm(r), count));
    return;
  }
  const b = srcM();
  const v = chunkOp(op, getMm(r), b);
  if (!handled) raiseUD();
  setMm(r, v);
}

/** Kind of a shift-by-register opcode (D1-D3, E1-E2, F1-F3): 2, 4, 6 as in the groups; else 0. */
function shiftKind(op: u32): u32 {
  switch (op & 0xff) {
    case 0xd1: case 0xd2: case 0xd3: return 2;
    case 0xe1: case 0xe2: return 4;
    case 0xf1: case 0xf2: case 0xf3: return 6;
  }
  return 0;
}
@inline function shiftBits(op: u32): u64 { return <u64>8 << <u64>(op & 3); }

/** The general-register or memory operand of MOVD/MOVQ. */
export function readRm(size: u32): u64 {
  return d.eaIsReg() ? getReg(d.modrmRm(), size) : readM(size);
}
export function writeRm(size: u32, v: u64): void {
  if (d.eaIsReg()) setReg(d.modrmRm(), size, size == 4 ? v & 0xffffffff : v);
  else writeM(size, v);
}

// --- 66-prefixed integer forms on XMM registers ---

/** Returns false if op has no 66-prefixed integer form here (left to executeSseMove). */
function executeXmmInt(op: u32): bool {
  const r = d.modrmReg();
  const a = xmm(r);
  switch (op) {
    case 0x160: case 0x161: case 0x162: case 0x168: case 0x169: case 0x16a: {
      srcX(true);
      const bits: u64 = <u64>8 << <u64>(op & 3);
      const dl = load<u64>(a), dh = load<u64>(a + 8);
      // Low forms interleave the low quadwords, high forms the high ones.
      const x = op < 0x168 ? dl : dh, y = op < 0x168 ? sLo : sHi;
      setX(r, interleave(x, y, bits), interleave(x >> 32, y >> 32, bits));
      return true;
    }
    case 0x16c: case 0x16d: { // PUNPCKLQDQ, PUNPCKHQDQ
      srcX(true);
      if (op == 0x16c) setX(r, load<u64>(a), sLo);
      else setX(r, load<u64>(a + 8), sHi);
      return true;
    }
    case 0x163: case 0x167: case 0x16b: {
      srcX(true);
      const k = op & 0xff;
      setX(r, packChunk(k, load<u64>(a), load<u64>(a + 8)), packChunk(k, sLo, sHi));
      return true;
    }
    case 0x16e: { // MOVD/MOVQ xmm, r/m32 (r/m64): zero-extended to 128 bits
      setX(r, readRm(d.rexW() ? 8 : 4), 0);
      return true;
    }
    case 0x17e: writeRm(d.rexW() ? 8 : 4, load<u64>(a)); return true;
    case 0x16f: srcX(true); setX(r, sLo, sHi); return true; // MOVDQA
    case 0x17f: case 0x1e7: { // MOVDQA store; MOVNTDQ (memory only)
      const lo = load<u64>(a), hi = load<u64>(a + 8);
      if (d.eaIsReg()) {
        if (op == 0x1e7) raiseUD();
        setX(d.modrmRm(), lo, hi);
      } else writeM128(true, lo, hi);
      return true;
    }
    case 0x170: { // PSHUFD
      srcX(true);
      const imm = <u32>d.imm() & 0xff;
      setX(r, dword(imm & 3) | (dword((imm >> 2) & 3) << 32), dword((imm >> 4) & 3) | (dword(imm >> 6) << 32));
      return true;
    }
    case 0x171: case 0x172: case 0x173: {
      if (!d.eaIsReg()) raiseUD();
      const k = (d.modrm() >> 3) & 7;
      const rm = d.modrmRm();
      const b = xmm(rm);
      const count = d.imm() & 0xff;
      if (op == 0x173 && (k == 3 || k == 7)) { // PSRLDQ, PSLLDQ: whole-register byte shifts
        sLo = load<u64>(b);
        sHi = load<u64>(b + 8);
        byteShift(k == 7, count);
        setX(rm, sLo, sHi);
        return true;
      }
      if (k != 2 && k != 6 && !(k == 4 && op != 0x173)) raiseUD();
      const bits: u64 = <u64>8 << <u64>(op - 0x170);
      setX(rm, shiftChunk(k, bits, load<u64>(b), count), shiftChunk(k, bits, load<u64>(b + 8), count));
      return true;
    }
    case 0x1c4: { // PINSRW xmm, r32/m16, imm8
      const w = d.eaIsReg() ? getReg(d.modrmRm(), 2) : readM(2);
      const i = <u32>d.imm() & 7;
      store<u16>(a + (i << 1), <u16>w);
      return true;
    }
    case 0x1c5: { // PEXTRW r32, xmm, imm8
      if (!d.eaIsReg()) raiseUD();
      const i = <u32>d.imm() & 7;
      setReg(r, 4, <u64>load<u16>(xmm(d.modrmRm()) + (i << 1)));
      return true;
    }
    case 0x1d6: { // MOVQ xmm/m64, xmm: a register destination gets its high half cleared
      const v = load<u64>(a);
      if (d.eaIsReg()) setX(d.modrmRm(), v, 0);
      else writeM(8, v);
      return true;
    }
    case 0x1d7: { // PMOVMSKB r32, xmm
      if (!d.eaIsReg()) raiseUD();
      const b = xmm(d.modrmRm());
      setReg(r, 4, <u64>(byteSigns(load<u64>(b)) | (byteSigns(load<u64>(b + 8)) << 8)));
      return true;
    }
  }
  if (op < 0x1d1 && !(op >= 0x164 && op <= 0x166) && !(op >= 0x174 && op <= 0x176)) return false;
  const sh = shiftKind(op);
  srcX(true);
  if (sh != 0) {
    // The count is the whole low quadword of the source.
    const bits = shiftBits(op);
    setX(r, shiftChunk(sh, bits, load<u64>(a), sLo), shiftChunk(sh, bits, load<u64>(a + 8), sLo));
    return true;
  }
  const lo = chunkOp(op, load<u64>(a), sLo);
  if (!handled) raiseUD();
  setX(r, lo, chunkOp(op, load<u64>(a + 8), sHi));
  return true;
}

/** Dword i (0-3) of the source sLo:sHi. */
@inline function dword(i: u32): u64 {
  return ((i & 2) != 0 ? sHi : sLo) >> <u64>((i & 1) << 5) & 0xffffffff;
}

/** Shift sLo:sHi by `n` bytes (left or right), zero-filling; 16 or more clears it. */
function byteShift(left: bool, n: u64): void {
  if (n >= 16) { sLo = 0; sHi = 0; return; }
  const b = n << 3;
  if (left) {
    if (b >= 64) { sHi = sLo << (b - 64); sLo = 0; }
    else if (b != 0) { sHi = (sHi << b) | (sLo >> (64 - b)); sLo <<= b; }
  } else {
    if (b >= 64) { sLo = sHi >> (b - 64); sHi = 0; }
    else if (b != 0) { sLo = (sLo >> b) | (sHi << (64 - b)); sHi >>= b; }
  }
}

// --- SSE/SSE2 moves, logical and shuffle forms of 0F 10-17, 28, 29, 2B, 50, 54-57, 6F/7E/7F (F3), C6 ---

function executeSseMove(op: u32, p: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  const isReg = d.eaIsReg();
  switch (op) {
    case 0x110: // MOVUPS/MOVUPD; MOVSS/MOVSD: a memory source zeroes the rest, a register one keeps it
      if (p <= 1) { srcX(false); setX(r, sLo, sHi); return; }
      if (p == 2) {
        if (isReg) store<u32>(a, load<u32>(xmm(d.modrmRm())));
        else setX(r, readM(4), 0);
      } else {
        if (isReg) store<u64>(a, load<u64>(xmm(d.modrmRm())));
        else setX(r, readM(8), 0);
      }
      return;
    case 0x111: {
      const b = xmm(d.modrmRm());
      if (p <= 1) {
        if (isReg) setX(d.modrmRm(), load<u64>(a), load<u64>(a + 8));
        else writeM128(false, load<u64>(a), load<u64>(a + 8));
      } else if (p == 2) {
        if (isReg) store<u32>(b, load<u32>(a));
        else writeM(4, <u64>load<u32>(a));
      } else {
        if (isReg) store<u64>(b, load<u64>(a));
        else writeM(8, load<u64>(a));
      }
      return;
    }
    case 0x112: case 0x116: { // MOVLPS/MOVHPS/MOVLPD/MOVHPD loads; MOVHLPS/MOVLHPS register forms
      if (p == 3) { // SSE3 MOVDDUP (F2 0F 12): the low quadword (m64, unaligned) into both halves
        if (op == 0x116) raiseUD();
        const v = src64();
        setX(r, v, v);
        return;
      }
      if (p == 2) { // SSE3 MOVSLDUP (F3 0F 12), MOVSHDUP (F3 0F 16): even or odd dwords duplicated
        srcX(true);
        const s: u64 = op == 0x116 ? 32 : 0;
        const lo = (sLo >> s) & M32, hi = (sHi >> s) & M32;
        setX(r, lo | (lo << 32), hi | (hi << 32));
        return;
      }
      const hi: u32 = op == 0x116 ? 8 : 0;
      let v: u64;
      if (isReg) {
        if (p == 1) raiseUD();
        v = load<u64>(xmm(d.modrmRm()) + (8 - hi)); // MOVHLPS takes the high half, MOVLHPS the low
      } else v = readM(8);
      store<u64>(a + hi, v);
      return;
    }
    case 0x113: case 0x117: { // MOVLPS/MOVHPS/MOVLPD/MOVHPD stores
      if (p > 1 || isReg) raiseUD();
      writeM(8, load<u64>(a + (op == 0x117 ? 8 : 0)));
      return;
    }
    case 0x114: case 0x115: { // UNPCKLPS/UNPCKHPS, UNPCKLPD/UNPCKHPD
      if (p > 1) raiseUD();
      srcX(true);
      const x = op == 0x114 ? load<u64>(a) : load<u64>(a + 8);
      const y = op == 0x114 ? sLo : sHi;
      if (p == 0) setX(r, interleave(x, y, 32), interleave(x >> 32, y >> 32, 32));
      else setX(r, x, y);
      return;
    }
    case 0x128: if (p > 1) raiseUD(); srcX(true); setX(r, sLo, sHi); return; // MOVAPS/MOVAPD
    case 0x129: case 0x12b: { // MOVAPS/MOVAPD store; MOVNTPS/MOVNTPD (memory only)
      if (p > 1) raiseUD();
      if (isReg) {
        if (op == 0x12b) raiseUD();
        setX(d.modrmRm(), load<u64>(a), load<u64>(a + 8));
      } else writeM128(true, load<u64>(a), load<u64>(a + 8));
      return;
    }
    case 0x150: { // MOVMSKPS/MOVMSKPD: sign bits of the elements
      if (p > 1 || !isReg) raiseUD();
      const b = xmm(d.modrmRm());
      const lo = load<u64>(b), hi = load<u64>(b + 8);
      let m: u64;
      if (p == 0) m = ((lo >> 31) & 1) | ((lo >> 62) & 2) | ((hi >> 29) & 4) | ((hi >> 60) & 8);
      else m = (lo >> 63) | ((hi >> 62) & 2);
      setReg(r, 4, m);
      return;
    }
    case 0x154: case 0x155: case 0x156: case 0x157: { // ANDPS ANDNPS ORPS XORPS (and PD)
      if (p > 1) raiseUD();
      srcX(true);
      const k: u32 = op == 0x154 ? 0xdb : op == 0x155 ? 0xdf : op == 0x156 ? 0xeb : 0xef;
      setX(r, chunkOp(k, load<u64>(a), sLo), chunkOp(k, load<u64>(a + 8), sHi));
      return;
    }
    case 0x16f: if (p != 2) break; srcX(false); setX(r, sLo, sHi); return; // MOVDQU
    case 0x1f0: // SSE3 LDDQU (F2 0F F0): an unaligned 128-bit load, memory operand only
      if (p != 3 || isReg) raiseUD();
      readM128(false);
      setX(r, sLo, sHi);
      return;
    case 0x17f: { // MOVDQU store
      if (p != 2) break;
      if (isReg) setX(d.modrmRm(), load<u64>(a), load<u64>(a + 8));
      else writeM128(false, load<u64>(a), load<u64>(a + 8));
      return;
    }
    case 0x17e: { // F3: MOVQ xmm, xmm/m64 (high half cleared)
      if (p != 2) break;
      setX(r, isReg ? load<u64>(xmm(d.modrmRm())) : readM(8), 0);
      return;
    }
    case 0x170: { // PSHUFHW (F3), PSHUFLW (F2)
      if (p < 2) break;
      srcX(true);
      const imm = <u32>d.imm() & 0xff;
      if (p == 2) setX(r, sLo, shufWords(sHi, imm));
      else setX(r, shufWords(sLo, imm), sHi);
      return;
    }
    case 0x1c6: { // SHUFPS, SHUFPD
      if (p > 1) raiseUD();
      srcX(true);
      const imm = <u32>d.imm() & 0xff;
      const dl = load<u64>(a), dh = load<u64>(a + 8);
      if (p == 1) {
        setX(r, (imm & 1) != 0 ? dh : dl, (imm & 2) != 0 ? sHi : sLo);
      } else {
        const d0 = pick(dl, dh, imm & 3), d1 = pick(dl, dh, (imm >> 2) & 3);
        setX(r, d0 | (d1 << 32), dword((imm >> 4) & 3) | (dword(imm >> 6) << 32));
      }
      return;
    }
  }
  raiseUD();
}

@inline function pick(lo: u64, hi: u64, i: u32): u64 {
  return ((i & 2) != 0 ? hi : lo) >> <u64>((i & 1) << 5) & 0xffffffff;
}

// --- group 15: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, fences, CLFLUSH (SDM Vol. 2 pages) ---

function group15(): void {
  const r = d.modrmReg() & 7;
  if (d.eaIsReg()) {
    // LFENCE, MFENCE, SFENCE: memory is always ordered here.
    if (r >= 5 && d.repPrefix() == 0) return;
    raiseUD();
  }
  switch (r) {
    case 0: fxsave(); return;
    case 1: fxrstor(); return;
    case 2: { // LDMXCSR: reserved bits set -> #GP(0)
      gateSse();
      const v = <u32>readM(4);
      if ((v & ~MXCSR_MASK) != 0) raiseGP(0);
      store<u32>(A_MXCSR, v);
      return;
    }
    case 3: gateSse(); writeM(4, <u64>load<u32>(A_MXCSR)); return; // STMXCSR
    case 7: // CLFLUSH: no caches to flush, but the address is checked like a byte read.
      linear(d.eaSeg(), d.eaOff, 1, false);
      return;
  }
  raiseUD(); // XSAVE family: not yet
}

/** FXSAVE/FXRSTOR fault #NM on CR0.TS or CR0.EM and need a 16-byte-aligned operand (SDM Vol. 2 FXSAVE). */
function fxGate(): void {
  if ((st.cr0 & (CR0_TS | CR0_EM)) != 0) raise(EXC_NM, -1);
}

/**
 * FXSAVE: the image at FPU_STATE is already in the FXSAVE layout (SDM Vol. 1 §10.5.1, Table 10-2).
 * REX.W selects the 64-bit form whose FIP and FDP are 64 bits wide (Table 10-3) in place of
 * FIP/FCS and FDP/FDS. XMM8-15 are stored only in 64-bit mode; bytes 288-511 are left alone.
 */
function fxsave(): void {
  fxGate();
  const lin = memLin(512, true, true);
  const n: u32 = mode == MODE_LONG ? 416 : 288;
  probeWrite(lin, n);
  store<u32>(A_MXCSR_MASK, MXCSR_MASK);
  for (let k: u32 = 0; k < n; k += 8) {
    let v = load<u64>(FPU_STATE + k);
    if (d.rexW() && (k == 8 || k == 16)) v = <u64>load<u32>(FPU_STATE + k); // 64-bit FIP/FDP
    writeLin64(linPlus(lin, k), v);
  }
}

/**
 * FXRSTOR: MXCSR reserved bits -> #GP(0) before anything changes. With REX.W the 64-bit FIP/FDP
 * are kept only to 32 bits (the x87 unit holds 32-bit pointers).
 */
function fxrstor(): void {
  fxGate();
  const lin = memLin(512, false, true);
  const mx = readLin32(linPlus(lin, 24));
  if ((mx & ~MXCSR_MASK) != 0) raiseGP(0);
  const n: u32 = mode == MODE_LONG ? 416 : 288;
  // Touch both pages the image can span first, so that a fault leaves the state untouched.
  readLin64(lin);
  readLin64(linPlus(lin, n - 8));
  for (let k: u32 = 0; k < n; k += 8) {
    const v = readLin64(linPlus(lin, k));
    if (d.rexW() && (k == 8 || k == 16)) {
      store<u32>(FPU_STATE + k, <u32>v); // selectors are not in the 64-bit image
      store<u16>(FPU_STATE + k + 4, 0);
    } else store<u64>(FPU_STATE + k, v);
  }
  store<u32>(A_MXCSR_MASK, 0);
}

@inline function linPlus(lin: u64, k: u32): u64 {
  return mode == MODE_LONG ? lin + <u64>k : (lin + <u64>k) & 0xffffffff;
}

// --- SSE/SSE2 floating point: 0F 2A-2F, 51-53, 58-5F, C2, E6 (numeric core in sse-float.ts) ---

const M32: u64 = 0xffffffff;

/**
 * Commit the flags of a floating-point instruction (SDM Vol. 1 §11.5.1): an unmasked
 * pre-computation condition (IE, DE, ZE) in any lane records only the pre-computation flags and
 * faults before the destination is written; otherwise all flags are recorded, and an unmasked
 * post-computation condition (OE, UE, PE) faults, again leaving the destination unchanged. The
 * fault is #XM with CR4.OSXMMEXCPT set, else #UD (§11.5.4).
 */
export function fpFinish(): void {
  const pre = fl.pre;
  let all = pre;
  if (fl.unmasked(pre) == 0) all |= fl.post;
  store<u32>(A_MXCSR, load<u32>(A_MXCSR) | all);
  if (fl.unmasked(all) != 0) {
    if ((st.cr4 & CR4_OSXMMEXCPT) != 0) raise(EXC_XM, -1);
    raiseUD();
  }
}
@inline export function fpStart(): void { fl.fpBegin(load<u32>(A_MXCSR)); }

/** Scalar source: the low element of an XMM register, or m32/m64. */
export function srcScalar(dbl: bool): u64 {
  if (d.eaIsReg()) {
    const b = xmm(d.modrmRm());
    return dbl ? load<u64>(b) : <u64>load<u32>(b);
  }
  return readM(dbl ? 8 : 4);
}
/** The low 64 bits of an XMM register or an m64 (no alignment check). */
function src64(): u64 {
  return d.eaIsReg() ? load<u64>(xmm(d.modrmRm())) : readM(8);
}
@inline function scalarDest(a: u32, dbl: bool): u64 { return dbl ? load<u64>(a) : <u64>load<u32>(a); }
@inline function storeScalar(a: u32, dbl: bool, v: u64): void {
  if (dbl) store<u64>(a, v);
  else store<u32>(a, <u32>v);
}

function executeSseFloat(op: u32, p: u32): bool {
  switch (op) {
    case 0x151: case 0x158: case 0x159: case 0x15c: case 0x15d: case 0x15e: case 0x15f:
      fpArithOp(op & 0xff, p);
      return true;
    case 0x152: case 0x153: // RSQRTPS/RSQRTSS, RCPPS/RCPSS
      if (p == 1 || p == 3) raiseUD();
      fpApproxOp(op == 0x152, p == 2);
      return true;
    case 0x1c2: fpCmpOp(p); return true;
    case 0x1d0: case 0x17c: case 0x17d: // SSE3 ADDSUBPD/PS, HADDPD/PS, HSUBPD/PS: 66 (PD) and F2 (PS) only
      if (p != 1 && p != 3) raiseUD();
      fpHorizontal(op, p == 1);
      return true;
    case 0x12e: case 0x12f: { // UCOMISS/COMISS, UCOMISD/COMISD
      if (p >= 2) raiseUD();
      const dbl = p == 1;
      const b = srcScalar(dbl);
      fpStart();
      const f = fl.fpComi(op == 0x12f, scalarDest(xmm(d.modrmReg()), dbl), b, dbl);
      fpFinish();
      setArith(f);
      return true;
    }
    case 0x15a: fpCvt5A(p); return true;
    case 0x15b: fpCvt5B(p); return true;
    case 0x1e6: fpCvtE6(p); return true;
    case 0x12a: fpCvtFromInt(p); return true;
    case 0x12c: case 0x12d: fpCvtToInt(op == 0x12c, p); return true;
  }
  return false;
}

/** ADD SUB MUL DIV MIN MAX SQRT: PS (none), PD (66), SS (F3), SD (F2). */
function fpArithOp(k: u32, p: u32): void {
  const dbl = p == 1 || p == 3;
  const r = d.modrmReg();
  const a = xmm(r);
  if (p >= 2) {
    const b = srcScalar(dbl);
    fpStart();
    const v = fl.fpArith(k, scalarDest(a, dbl), b, dbl);
    fpFinish();
    storeScalar(a, dbl, v);
    return;
  }
  srcX(true);
  fpStart();
  const dl = load<u64>(a), dh = load<u64>(a + 8);
  let lo: u64, hi: u64;
  if (dbl) {
    lo = fl.fpArith(k, dl, sLo, true);
    hi = fl.fpArith(k, dh, sHi, true);
  } else {
    lo = fl.fpArith(k, dl & M32, sLo & M32, false) | (fl.fpArith(k, dl >> 32, sLo >> 32, false) << 32);
    hi = fl.fpArith(k, dh & M32, sHi & M32, false) | (fl.fpArith(k, dh >> 32, sHi >> 32, false) << 32);
  }
  fpFinish();
  setX(r, lo, hi);
}

/**
 * SSE3 (SDM Vol. 2 ADDSUBPS, ADDSUBPD, HADDPS, HADDPD, HSUBPS, HSUBPD): ADDSUB subtracts in the
 * even lanes and adds in the odd ones; HADD/HSUB combine adjacent lanes (the lower one on the
 * left), the destination's pairs filling the low half of the result and the source's the high half.
 */
function fpHorizontal(op: u32, dbl: bool): void {
  const r = d.modrmReg();
  const a = xmm(r);
  srcX(true);
  fpStart();
  const dl = load<u64>(a), dh = load<u64>(a + 8);
  let lo: u64, hi: u64;
  if (op == 0x1d0) {
    if (dbl) {
      lo = fl.fpArith(0x5c, dl, sLo, true);
      hi = fl.fpArith(0x58, dh, sHi, true);
    } else {
      lo = fl.fpArith(0x5c, dl & M32, sLo & M32, false) | (fl.fpArith(0x58, dl >> 32, sLo >> 32, false) << 32);
      hi = fl.fpArith(0x5c, dh & M32, sHi & M32, false) | (fl.fpArith(0x58, dh >> 32, sHi >> 32, false) << 32);
    }
  } else {
    const k: u32 = op == 0x17c ? 0x58 : 0x5c;
    if (dbl) {
      lo = fl.fpArith(k, dl, dh, true);
      hi = fl.fpArith(k, sLo, sHi, true);
    } else {
      lo = fl.fpArith(k, dl & M32, dl >> 32, false) | (fl.fpArith(k, dh & M32, dh >> 32, false) << 32);
      hi = fl.fpArith(k, sLo & M32, sLo >> 32, false) | (fl.fpArith(k, sHi & M32, sHi >> 32, false) << 32);
    }
  }
  fpFinish();
  setX(r, lo, hi);
}

function fpApproxOp(rsqrt: bool, scalar: bool): void {
  const a = xmm(d.modrmReg());
  if (scalar) {
    const b = srcScalar(false);
    store<u32>(a, <u32>fl.fpApprox(rsqrt, b));
    return;
  }
  srcX(true);
  setX(d.modrmReg(),
    fl.fpApprox(rsqrt, sLo & M32) | (fl.fpApprox(rsqrt, sLo >> 32) << 32),
    fl.fpApprox(rsqrt, sHi & M32) | (fl.fpApprox(rsqrt, sHi >> 32) << 32));
}

/** CMPPS/CMPPD/CMPSS/CMPSD with the predicate in imm8[2:0]. */
function fpCmpOp(p: u32): void {
  const dbl = p == 1 || p == 3;
  const pred = <u32>d.imm() & 7;
  const r = d.modrmReg();
  const a = xmm(r);
  if (p >= 2) {
    const b = srcScalar(dbl);
    fpStart();
    const t = fl.fpCmp(pred, scalarDest(a, dbl), b, dbl);
    fpFinish();
    storeScalar(a, dbl, t ? <u64>-1 : 0);
    return;
  }
  srcX(true);
  fpStart();
  const dl = load<u64>(a), dh = load<u64>(a + 8);
  let lo: u64, hi: u64;
  if (dbl) {
    lo = fl.fpCmp(pred, dl, sLo, true) ? <u64>-1 : 0;
    hi = fl.fpCmp(pred, dh, sHi, true) ? <u64>-1 : 0;
  } else {
    lo = (fl.fpCmp(pred, dl & M32, sLo & M32, false) ? M32 : 0) | (fl.fpCmp(pred, dl >> 32, sLo >> 32, false) ? M32 << 32 : 0);
    hi = (fl.fpCmp(pred, dh & M32, sHi & M32, false) ? M32 : 0) | (fl.fpCmp(pred, dh >> 32, sHi >> 32, false) ? M32 << 32 : 0);
  }
  fpFinish();
  setX(r, lo, hi);
}

/** 0F 5A: CVTPS2PD, CVTPD2PS (66), CVTSS2SD (F3), CVTSD2SS (F2). */
function fpCvt5A(p: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  switch (p) {
    case 0: {
      const v = src64();
      fpStart();
      const lo = fl.fpConvert(v & M32, true), hi = fl.fpConvert(v >> 32, true);
      fpFinish();
      setX(r, lo, hi);
      return;
    }
    case 1: {
      srcX(true);
      fpStart();
      const lo = fl.fpConvert(sLo, false) | (fl.fpConvert(sHi, false) << 32);
      fpFinish();
      setX(r, lo, 0);
      return;
    }
    case 2: {
      const v = srcScalar(false);
      fpStart();
      const x = fl.fpConvert(v, true);
      fpFinish();
      store<u64>(a, x);
      return;
    }
  }
  const v = srcScalar(true);
  fpStart();
  const x = fl.fpConvert(v, false);
  fpFinish();
  store<u32>(a, <u32>x);
}

@inline function i32of(v: u64): i64 { return <i64><i32><u32>v; }

/** 0F 5B: CVTDQ2PS, CVTPS2DQ (66), CVTTPS2DQ (F3). */
function fpCvt5B(p: u32): void {
  if (p == 3) raiseUD();
  const r = d.modrmReg();
  srcX(true);
  fpStart();
  let lo: u64, hi: u64;
  if (p == 0) {
    lo = fl.fpFromInt(i32of(sLo), false) | (fl.fpFromInt(i32of(sLo >> 32), false) << 32);
    hi = fl.fpFromInt(i32of(sHi), false) | (fl.fpFromInt(i32of(sHi >> 32), false) << 32);
  } else {
    const t = p == 2;
    lo = fl.fpToInt(sLo & M32, false, t, false) | (fl.fpToInt(sLo >> 32, false, t, false) << 32);
    hi = fl.fpToInt(sHi & M32, false, t, false) | (fl.fpToInt(sHi >> 32, false, t, false) << 32);
  }
  fpFinish();
  setX(r, lo, hi);
}

/** 0F E6: CVTTPD2DQ (66), CVTDQ2PD (F3), CVTPD2DQ (F2). */
function fpCvtE6(p: u32): void {
  if (p == 0) raiseUD();
  const r = d.modrmReg();
  if (p == 2) {
    const v = src64();
    setX(r, fl.fpFromInt(i32of(v), true), fl.fpFromInt(i32of(v >> 32), true)); // exact
    return;
  }
  srcX(true);
  fpStart();
  const t = p == 1;
  const lo = fl.fpToInt(sLo, true, t, false) | (fl.fpToInt(sHi, true, t, false) << 32);
  fpFinish();
  setX(r, lo, 0);
}

/** 0F 2A: CVTPI2PS, CVTPI2PD (66), CVTSI2SS (F3), CVTSI2SD (F2). */
function fpCvtFromInt(p: u32): void {
  const r = d.modrmReg();
  const a = xmm(r);
  if (p >= 2) {
    const dbl = p == 3;
    const v = readRm(d.rexW() ? 8 : 4);
    fpStart();
    const x = fl.fpFromInt(d.rexW() ? <i64>v : i32of(v), dbl);
    fpFinish();
    storeScalar(a, dbl, x);
    return;
  }
  // The MMX-register source makes the x87-to-MMX transition; a memory source does not (SDM Vol. 2 CVTPI2PS).
  const mmSrc = d.eaIsReg();
  if (mmSrc) pendingX87();
  const v = mmSrc ? getMm(mmRm()) : readM(8);
  fpStart();
  if (p == 0) {
    const x = fl.fpFromInt(i32of(v), false) | (fl.fpFromInt(i32of(v >> 32), false) << 32);
    fpFinish();
    store<u64>(a, x);
  } else setX(r, fl.fpFromInt(i32of(v), true), fl.fpFromInt(i32of(v >> 32), true));
  if (mmSrc) enterMmx();
}

/** 0F 2C/2D: CVTT/CVT PS2PI, PD2PI (66), SS2SI (F3), SD2SI (F2). */
function fpCvtToInt(trunc: bool, p: u32): void {
  if (p >= 2) {
    const dbl = p == 3;
    const v = srcScalar(dbl);
    const is64 = d.rexW();
    fpStart();
    const x = fl.fpToInt(v, dbl, trunc, is64);
    fpFinish();
    setReg(d.modrmReg(), is64 ? 8 : 4, x);
    return;
  }
  pendingX87();
  let x: u64;
  if (p == 0) {
    const v = src64();
    fpStart();
    x = fl.fpToInt(v & M32, false, trunc, false) | (fl.fpToInt(v >> 32, false, trunc, false) << 32);
  } else {
    srcX(true);
    fpStart();
    x = fl.fpToInt(sLo, true, trunc, false) | (fl.fpToInt(sHi, true, trunc, false) << 32);
  }
  fpFinish();
  setMm(mmReg(), x);
}
