// The x87 FPU (escape opcodes D8-DF) and FWAIT, with true 80-bit extended precision
// (x87-float80.ts). The state lives at FPU_STATE in the FXSAVE image layout (SDM Vol. 1 §10.5.1,
// Table 10-2) so that FXSAVE/FXRSTOR are copies: FCW, FSW (TOP inside), abridged FTW (one bit per
// physical register), FOP, FIP/FCS, FDP/FDS and ST(0)..ST(7) in 16-byte slots in ST(i) order (the
// slots rotate when TOP changes).
// Unmasked exceptions set ES/B and are delivered as #MF at the next waiting FP instruction
// (SDM Vol. 1 §8.6). There is no FERR#/IGNNE# path: CR0.NE=0 behaves like CR0.NE=1.
import * as st from "./state";
import { CR0_EM, CR0_TS, CR0_MP, CS, mode, MODE_REAL, MODE_V86, MODE_LONG, RAX } from "./state";
import { raise, raiseUD, EXC_NM, EXC_MF } from "./fault";
import { FPU_STATE } from "./layout";
import * as d from "./decode";
import { readMem, writeMem, linear } from "./access";
import { probeWrite } from "./memory";
import { sizeMask, setArith, getCF, getZF, getPF } from "./flags";
import {
  fx, rUp, rSE, rM, rInt, rBits, setControl, classify, setIndefinite, add, mul, div, sqrt, fromInt, toInt,
  fromF32, fromF64, toFloat, roundInt, compare, nanOne, checkDenormal, stopped, ctlPrec, ctlRc,
  FX_IE, FX_DE, FX_ZE, FX_OE, FX_UE, FX_PE, RC_CHOP, K_ZERO, K_NORMAL, K_DENORMAL, K_INF, K_QNAN, K_SNAN, K_UNSUPP,
  INDEF_SE, INDEF_M, CMP_GT, CMP_LT, CMP_EQ, CMP_UN, setFx, roundTo, nanTwo, setResult,
} from "./x87-float80";
import { f2xm1, fyl2x, fyl2xp1, fpatan, ftrig, r2SE, r2M, outOfRange } from "./x87-transcendental";

const A_FCW: u32 = FPU_STATE;
const A_FSW: u32 = FPU_STATE + 2;
const A_FTW: u32 = FPU_STATE + 4; // abridged: bit i = physical register i is not empty
const A_FOP: u32 = FPU_STATE + 6;
const A_FIP: u32 = FPU_STATE + 8;
const A_FCS: u32 = FPU_STATE + 12;
const A_FDP: u32 = FPU_STATE + 16;
const A_FDS: u32 = FPU_STATE + 20;
const A_ST: u32 = FPU_STATE + 32;

// Status word bits (SDM Vol. 1 §8.1.3, Figure 8-4).
const SW_SF: u32 = 0x40;
const SW_ES: u32 = 0x80;
const SW_C0: u32 = 0x100;
const SW_C1: u32 = 0x200;
const SW_C2: u32 = 0x400;
const SW_C3: u32 = 0x4000;
const SW_B: u32 = 0x8000;
const SW_CC: u32 = SW_C0 | SW_C1 | SW_C2 | SW_C3;

@inline function fcw(): u32 { return <u32>load<u16>(A_FCW); }
@inline function fsw(): u32 { return <u32>load<u16>(A_FSW); }
@inline function setFsw(v: u32): void { store<u16>(A_FSW, <u16>v); }
@inline function top(): u32 { return (fsw() >> 11) & 7; }
@inline function phys(i: u32): u32 { return (top() + i) & 7; }
@inline function isEmpty(i: u32): bool { return ((<u32>load<u8>(A_FTW) >> phys(i)) & 1) == 0; }
@inline function stSE(i: u32): u32 { return <u32>load<u16>(A_ST + (i << 4) + 8); }
@inline function stM(i: u32): u64 { return load<u64>(A_ST + (i << 4)); }
function setTag(i: u32, valid: bool): void {
  const b = <u32>1 << phys(i);
  const t = <u32>load<u8>(A_FTW);
  store<u8>(A_FTW, <u8>(valid ? t | b : t & ~b));
}
function setST(i: u32, se: u32, m: u64): void {
  store<u64>(A_ST + (i << 4), m);
  store<u16>(A_ST + (i << 4) + 8, <u16>se);
  setTag(i, true);
}
@inline function setTop(t: u32): void { setFsw((fsw() & ~0x3800) | ((t & 7) << 11)); }

// TOP changes rotate the slots so that slot i keeps holding ST(i).
let tmpM: u64 = 0;
let tmpSE: u16 = 0;
function decTop(): void {
  tmpM = load<u64>(A_ST + 112);
  tmpSE = load<u16>(A_ST + 120);
  memory.copy(A_ST + 16, A_ST, 112);
  store<u64>(A_ST, tmpM);
  store<u16>(A_ST + 8, tmpSE);
  store<u32>(A_ST + 10, 0);
  store<u16>(A_ST + 14, 0);
  setTop(top() - 1);
}
function incTop(): void {
  tmpM = load<u64>(A_ST);
  tmpSE = load<u16>(A_ST + 8);
  memory.copy(A_ST, A_ST + 16, 112);
  store<u64>(A_ST + 112, tmpM);
  store<u16>(A_ST + 120, tmpSE);
  store<u32>(A_ST + 122, 0);
  store<u16>(A_ST + 126, 0);
  setTop(top() + 1);
}
function pop(): void {
  setTag(0, false);
  incTop();
}

/** Merge the current operation's exception flags; ES and B follow unmasked ones (SDM Vol. 1 §8.1.3.2). */
function commit(ex: u32): void {
  let s = fsw() | (ex & 0x7f);
  if ((s & ~fcw() & 0x3f) != 0) s |= SW_ES | SW_B;
  setFsw(s);
}
@inline function setC1(on: bool): void { setFsw(on ? fsw() | SW_C1 : fsw() & ~SW_C1); }
/** Pre-computation exceptions that are unmasked: the instruction leaves its destination alone. */
@inline function blocked(ex: u32): bool { return (ex & ~fcw() & (FX_IE | FX_DE | FX_ZE)) != 0; }
@inline function imMasked(): bool { return (fcw() & FX_IE) != 0; }

/** Stack underflow (#IS, C1=0) or overflow (#IS, C1=1). Returns true if masked (continue with indefinite). */
function stackFault(overflow: bool): bool {
  setC1(overflow);
  commit(FX_IE | SW_SF);
  return imMasked();
}

/** Push a value; stack overflow puts the indefinite there if masked. */
function pushValue(se: u32, m: u64): void {
  if (!isEmpty(7)) {
    if (!stackFault(true)) return;
    se = INDEF_SE;
    m = INDEF_M;
  }
  decTop();
  setST(0, se, m);
}

// --- the last instruction / operand pointers (SDM Vol. 1 §8.1.8, §8.1.9) ---
function notePointers(op: u32): void {
  store<u16>(A_FOP, <u16>(((op & 7) << 8) | d.modrm()));
  store<u32>(A_FIP, <u32>st.instrStart);
  store<u16>(A_FCS, <u16>st.segSelector(CS));
  if (!d.eaIsReg()) {
    store<u32>(A_FDP, <u32>d.eaOff);
    store<u16>(A_FDS, <u16>st.segSelector(d.eaSeg()));
  }
}

// --- memory operands ---
let memSE: u32 = 0;
let memM: u64 = 0;
@inline function eaPlus(k: u32): u64 { return (d.eaOff + <u64>k) & sizeMask(d.asz()); }
function readM80(): void {
  memM = readMem(d.eaSeg(), d.eaOff, 8);
  memSE = <u32>readMem(d.eaSeg(), eaPlus(8), 2);
}
/** Check that `size` bytes at the operand may be written, so that a multi-part store is all or nothing. */
function probeOperand(size: u32): void {
  const lin = linear(d.eaSeg(), d.eaOff, 2, true);
  linear(d.eaSeg(), eaPlus(size - 1), 1, true);
  probeWrite(lin, size);
}
function writeM80(se: u32, m: u64): void {
  probeOperand(10);
  writeMem(d.eaSeg(), d.eaOff, 8, m);
  writeMem(d.eaSeg(), eaPlus(8), 2, <u64>se);
}

/** Load the memory operand of the D8/DA/DC/DE arithmetic forms into (memSE, memM). */
function loadArithOperand(op: u32): void {
  if (op == 0xd8) {
    fromF32(<u32>readMem(d.eaSeg(), d.eaOff, 4), false);
  } else if (op == 0xdc) {
    fromF64(readMem(d.eaSeg(), d.eaOff, 8), false);
  } else if (op == 0xda) {
    fromInt(<i64><i32>readMem(d.eaSeg(), d.eaOff, 4));
  } else {
    fromInt(<i64><i16>readMem(d.eaSeg(), d.eaOff, 2));
  }
  memSE = rSE;
  memM = rM;
}

// --- arithmetic ---

/** reg field 0-7 of the D8 group applied to x = ST(0) and y = the other operand. */
function arith(r: u32, xSE: u32, xM: u64, ySE: u32, yM: u64): void {
  const p = ctlPrec;
  switch (r) {
    case 0: add(xSE, xM, ySE, yM, p, false); break;
    case 1: mul(xSE, xM, ySE, yM, p); break;
    case 4: add(xSE, xM, ySE, yM, p, true); break;
    case 5: add(ySE, yM, xSE, xM, p, true); break;
    case 6: div(xSE, xM, ySE, yM, p); break;
    default: div(ySE, yM, xSE, xM, p); break;
  }
}

/** Write an arithmetic result to ST(dst) (unless blocked), set C1, commit flags, pop if asked. */
function finishArith(dst: u32, popAfter: bool): void {
  const ex = fx;
  if (blocked(ex)) {
    commit(ex);
    return;
  }
  setST(dst, rSE, rM);
  setC1((ex & FX_PE) != 0 && rUp);
  commit(ex);
  if (popAfter) pop();
}

/** Stack underflow for an operation writing ST(dst): masked -> indefinite there. */
function underflowTo(dst: u32, popAfter: bool): void {
  if (stackFault(false)) {
    setST(dst, INDEF_SE, INDEF_M);
    if (popAfter) pop();
  }
}

/** The condition codes are set even when an unmasked exception stops the pop (as the host does). */
function compareSet(cc: u32, ex: u32): void {
  commit(ex);
  let s = fsw() & ~SW_CC;
  if (cc == CMP_LT) s |= SW_C0;
  else if (cc == CMP_EQ) s |= SW_C3;
  else if (cc == CMP_UN) s |= SW_C0 | SW_C2 | SW_C3;
  setFsw(s);
}

/** FCOMI & co.: ZF PF CF from the compare, OF SF AF cleared (SDM Vol. 2 "FCOMI"). */
function compareEflags(cc: u32, ex: u32): void {
  commit(ex);
  setC1(false);
  let f: u32 = 0;
  if (cc == CMP_LT) f = st.F_CF;
  else if (cc == CMP_EQ) f = st.F_ZF;
  else if (cc == CMP_UN) f = st.F_ZF | st.F_PF | st.F_CF;
  setArith(f);
}

/** FCOM family on ST(0) vs ST(i) (reg) with `pops` pops. */
function compareRegs(i: u32, quiet: bool, pops: u32, eflags: bool): void {
  setControl(fcw());
  if (isEmpty(0) || isEmpty(i)) {
    const masked = stackFault(false);
    if (masked) {
      if (eflags) setArith(st.F_ZF | st.F_PF | st.F_CF);
      else setFsw(fsw() | SW_C0 | SW_C2 | SW_C3);
      for (let k: u32 = 0; k < pops; k++) pop();
    }
    return;
  }
  const cc = compare(stSE(0), stM(0), stSE(i), stM(i), quiet);
  const ex = fx;
  if (eflags) compareEflags(cc, ex);
  else {
    compareSet(cc, ex);
    setC1(false);
  }
  if (blocked(ex)) return;
  for (let k: u32 = 0; k < pops; k++) pop();
}

// --- constants (SDM Vol. 1 §8.3.8): 66-bit internal values rounded by RC, no #P ---
function loadConst(k: u32): void {
  let se: u32 = 0, m: u64 = 0, upOnNear = false, bump = true;
  switch (k) {
    case 0: se = 16383; m = 0x8000000000000000; bump = false; break; // 1
    case 1: se = 16384; m = 0xd49a784bcd1b8afe; upOnNear = false; break; // log2(10), next bits 01
    case 2: se = 16383; m = 0xb8aa3b295c17f0bb; upOnNear = true; break; // log2(e), next bits 10+
    case 3: se = 16384; m = 0xc90fdaa22168c234; upOnNear = true; break; // pi, next bits 11
    case 4: se = 16381; m = 0x9a209a84fbcff798; upOnNear = true; break; // log10(2), next bits 10+
    case 5: se = 16382; m = 0xb17217f7d1cf79ab; upOnNear = true; break; // ln(2), next bits 11
    default: se = 0; m = 0; bump = false; break; // +0
  }
  const rc = (fcw() >> 10) & 3;
  if (bump && (rc == 2 || (rc == 0 && upOnNear))) m++;
  pushLoaded(se, m);
}

// --- FXAM class codes: C3 C2 C0 (SDM Vol. 2 "FXAM") ---
function fxam(): void {
  const se = stSE(0), m = stM(0);
  let s = fsw() & ~SW_CC;
  if ((se & 0x8000) != 0) s |= SW_C1;
  if (isEmpty(0)) s |= SW_C3 | SW_C0;
  else {
    const k = classify(se, m);
    if (k == K_ZERO) s |= SW_C3;
    else if (k == K_NORMAL) s |= SW_C2;
    else if (k == K_DENORMAL) s |= SW_C3 | SW_C2;
    else if (k == K_INF) s |= SW_C2 | SW_C0;
    else if (k == K_QNAN || k == K_SNAN) s |= SW_C0;
  }
  setFsw(s);
}

// --- environment (SDM Vol. 1 §8.1.10, Figures 8-9 to 8-12) ---

/** Full tag word from the abridged one and the register contents (SDM Vol. 1 §8.1.7). */
function fullTagWord(): u32 {
  let t: u32 = 0;
  const tp = top();
  for (let p: u32 = 0; p < 8; p++) {
    let tag: u32 = 3;
    if (((<u32>load<u8>(A_FTW) >> p) & 1) != 0) {
      const i = (p - tp) & 7;
      const k = classify(stSE(i), stM(i));
      tag = k == K_NORMAL ? 0 : k == K_ZERO ? 1 : 2;
    }
    t |= tag << (p << 1);
  }
  return t;
}

/** Size of the environment image: 14 bytes with 16-bit operand size, else 28. */
@inline function envSize(): u32 { return d.osz() == 2 ? 14 : 28; }
@inline function realFormat(): bool { return mode == MODE_REAL || mode == MODE_V86; }

function wr(k: u32, size: u32, v: u64): void { writeMem(d.eaSeg(), eaPlus(k), size, v); }
function rd(k: u32, size: u32): u64 { return readMem(d.eaSeg(), eaPlus(k), size); }

function storeEnv(): void {
  const fip = <u32>load<u32>(A_FIP), fdp = load<u32>(A_FDP);
  const fop = <u32>load<u16>(A_FOP) & 0x7ff;
  const fcs = <u32>load<u16>(A_FCS), fds = <u32>load<u16>(A_FDS);
  if (envSize() == 14) {
    wr(0, 2, fcw()); wr(2, 2, fsw()); wr(4, 2, fullTagWord());
    if (realFormat()) {
      const ip = (fcs << 4) + fip, dp = (fds << 4) + fdp;
      wr(6, 2, ip & 0xffff); wr(8, 2, ((ip >> 4) & 0xf000) | fop);
      wr(10, 2, dp & 0xffff); wr(12, 2, (dp >> 4) & 0xf000);
    } else {
      wr(6, 2, fip & 0xffff); wr(8, 2, fcs); wr(10, 2, fdp & 0xffff); wr(12, 2, fds);
    }
  } else {
    wr(0, 4, 0xffff0000 | fcw()); wr(4, 4, 0xffff0000 | fsw()); wr(8, 4, 0xffff0000 | fullTagWord());
    if (realFormat()) {
      const ip = (fcs << 4) + fip, dp = (fds << 4) + fdp;
      wr(12, 4, 0xffff0000 | (ip & 0xffff)); wr(16, 4, ((ip >> 4) & 0x0ffff000) | fop);
      wr(20, 4, 0xffff0000 | (dp & 0xffff)); wr(24, 4, (dp >> 4) & 0x0ffff000);
    } else {
      wr(12, 4, fip); wr(16, 4, fcs | (fop << 16)); wr(20, 4, fdp); wr(24, 4, 0xffff0000 | fds);
    }
  }
}

// Loaded environment, held until every read has succeeded.
let eCW: u32 = 0;
let eSW: u32 = 0;
let eTW: u32 = 0;
function readEnv(): void {
  if (envSize() == 14) {
    eCW = <u32>rd(0, 2); eSW = <u32>rd(2, 2); eTW = <u32>rd(4, 2);
  } else {
    eCW = <u32>rd(0, 4) & 0xffff; eSW = <u32>rd(4, 4) & 0xffff; eTW = <u32>rd(8, 4) & 0xffff;
  }
  rd(envSize() - 1, 1);
}
function applyEnv(): void {
  store<u16>(A_FCW, <u16>(eCW | 0x40));
  let s = eSW & 0x7f7f;
  if ((s & ~eCW & 0x3f) != 0) s |= SW_ES | SW_B;
  setFsw(s);
  let a: u32 = 0;
  for (let p: u32 = 0; p < 8; p++) if (((eTW >> (p << 1)) & 3) != 3) a |= <u32>1 << p;
  store<u8>(A_FTW, <u8>a);
  // The pointers are not kept from the image (FIP etc. are informational).
}

/** Power-up and RESET state (SDM Vol. 3A §9.1.1, Table 9-1): FCW 0x0040, everything else clear. */
export function resetFpu(): void {
  memory.fill(FPU_STATE, 0, 512);
  store<u16>(A_FCW, 0x40);
  store<u32>(FPU_STATE + 24, 0x1f80); // MXCSR (FXSAVE offset 24): all SIMD exceptions masked
}

export function fninit(): void {
  store<u16>(A_FCW, 0x37f);
  setFsw(0);
  store<u8>(A_FTW, 0);
  store<u16>(A_FOP, 0);
  store<u64>(A_FIP, 0);
  store<u64>(A_FDP, 0);
}

// --- dispatch ---

/** D8-DF: with CR0.EM or CR0.TS the instruction faults #NM (SDM Vol. 3A §2.5, Table 2-2). */
export function executeX87(op: u32): void {
  if ((st.cr0 & (CR0_EM | CR0_TS)) != 0) raise(EXC_NM, -1);
  const modrm = d.modrm();
  const r = (modrm >> 3) & 7;
  const isReg = d.eaIsReg();
  // Non-waiting control instructions (SDM Vol. 1 §8.6): FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE.
  let noWait = false;
  if (isReg) noWait = (op == 0xdb && (modrm == 0xe2 || modrm == 0xe3)) || (op == 0xdf && modrm == 0xe0);
  else noWait = (op == 0xd9 && (r == 6 || r == 7)) || (op == 0xdd && (r == 6 || r == 7));
  if (!noWait && (fsw() & SW_ES) != 0) raise(EXC_MF, -1);
  if (isReg) executeReg(op, modrm, r, modrm & 7);
  else executeMem(op, r);
}

/** FILD m16/m32/m64: the signed integer is exact in extended precision. */
function fild(size: u32, op: u32): void {
  const raw = readMem(d.eaSeg(), d.eaOff, size);
  const v: i64 = size == 2 ? <i64>(<i16>raw) : size == 4 ? <i64>(<i32>raw) : <i64>raw;
  notePointers(op);
  setControl(fcw());
  fromInt(v);
  loadFinish();
}

function executeMem(op: u32, r: u32): void {
  switch (op) {
    case 0xd8: case 0xdc: case 0xda: case 0xde: {
      // Arithmetic with a memory operand: ST(0) = ST(0) op m.
      setControl(fcw());
      loadArithOperand(op);
      notePointers(op);
      if (r == 2 || r == 3) {
        if (isEmpty(0)) {
          if (stackFault(false)) { setFsw(fsw() | SW_C0 | SW_C2 | SW_C3); if (r == 3) pop(); }
          return;
        }
        const cc = compare(stSE(0), stM(0), memSE, memM, false);
        const ex = fx;
        compareSet(cc, ex);
        setC1(false);
        if (!blocked(ex) && r == 3) pop();
        return;
      }
      if (isEmpty(0)) { underflowTo(0, false); return; }
      const mse = memSE, mm = memM;
      const ex0 = fx;
      arith(r, stSE(0), stM(0), mse, mm);
      setFx(fx | ex0);
      finishArith(0, false);
      return;
    }
    case 0xd9:
      switch (r) {
        case 0: { // FLD m32
          const v = <u32>readMem(d.eaSeg(), d.eaOff, 4);
          notePointers(op);
          setControl(fcw());
          fromF32(v, true);
          loadFinish();
          return;
        }
        case 2: case 3: storeFloat(false, r == 3); return;
        case 4: readEnv(); applyEnv(); return; // FLDENV
        case 5: { // FLDCW
          const v = <u32>readMem(d.eaSeg(), d.eaOff, 2);
          store<u16>(A_FCW, <u16>(v | 0x40));
          let s = fsw() & ~(SW_ES | SW_B);
          if ((s & ~v & 0x3f) != 0) s |= SW_ES | SW_B;
          setFsw(s);
          return;
        }
        case 6: { // FNSTENV, then mask all exceptions
          probeOperand(envSize());
          storeEnv();
          store<u16>(A_FCW, <u16>(fcw() | 0x3f));
          return;
        }
        case 7: writeMem(d.eaSeg(), d.eaOff, 2, <u64>fcw()); return; // FNSTCW
      }
      break;
    case 0xdb:
      switch (r) {
        case 0: fild(4, op); return; // FILD m32
        case 1: storeInt(4, true, true); return; // FISTTP m32
        case 2: storeInt(4, false, false); return;
        case 3: storeInt(4, true, false); return;
        case 5: { // FLD m80: no conversion, no exceptions but stack overflow
          readM80();
          notePointers(op);
          setControl(fcw());
          setFx(0);
          pushLoaded(memSE, memM);
          return;
        }
        case 7: { // FSTP m80
          if (isEmpty(0)) {
            if (stackFault(false)) { writeM80(INDEF_SE, INDEF_M); pop(); }
            return;
          }
          writeM80(stSE(0), stM(0));
          notePointers(op);
          setC1(false);
          pop();
          return;
        }
      }
      break;
    case 0xdd:
      switch (r) {
        case 0: { // FLD m64
          const v = readMem(d.eaSeg(), d.eaOff, 8);
          notePointers(op);
          setControl(fcw());
          fromF64(v, true);
          loadFinish();
          return;
        }
        case 1: storeInt(8, true, true); return; // FISTTP m64
        case 2: case 3: storeFloat(true, r == 3); return;
        case 4: { // FRSTOR
          readEnv();
          const base = envSize();
          // Read all eight registers before changing anything.
          for (let i: u32 = 0; i < 8; i++) rd(base + i * 10 + 9, 1);
          applyEnv();
          for (let i: u32 = 0; i < 8; i++) {
            store<u64>(A_ST + (i << 4), rd(base + i * 10, 8));
            store<u16>(A_ST + (i << 4) + 8, <u16>rd(base + i * 10 + 8, 2));
          }
          return;
        }
        case 6: { // FNSAVE, then FNINIT
          const base = envSize();
          probeOperand(base + 80);
          storeEnv();
          for (let i: u32 = 0; i < 8; i++) {
            wr(base + i * 10, 8, stM(i));
            wr(base + i * 10 + 8, 2, <u64>stSE(i));
          }
          fninit();
          return;
        }
        case 7: writeMem(d.eaSeg(), d.eaOff, 2, <u64>fsw()); return; // FNSTSW m16
      }
      break;
    case 0xdf:
      switch (r) {
        case 0: fild(2, op); return; // FILD m16
        case 1: storeInt(2, true, true); return; // FISTTP m16
        case 2: storeInt(2, false, false); return;
        case 3: storeInt(2, true, false); return;
        case 4: fbld(); return;
        case 5: fild(8, op); return; // FILD m64
        case 6: fbstp(); return;
        case 7: storeInt(8, true, false); return;
      }
      break;
  }
  raiseUD();
}

/** Push a converted load (rSE/rM, flags in fx): blocked by unmasked #IA only (the host loads denormals). */
function loadFinish(): void {
  const ex = fx;
  if ((ex & ~fcw() & FX_IE) != 0) {
    commit(ex);
    return;
  }
  pushLoaded(rSE, rM);
  commit(ex);
}
function pushLoaded(se: u32, m: u64): void {
  if (!isEmpty(7)) {
    if (!stackFault(true)) return;
    se = INDEF_SE;
    m = INDEF_M;
  } else setC1(false);
  decTop();
  setST(0, se, m);
}

/** FST/FSTP m32/m64. */
function storeFloat(dbl: bool, popAfter: bool): void {
  const size: u32 = dbl ? 8 : 4;
  setControl(fcw());
  if (isEmpty(0)) {
    if (stackFault(false)) {
      writeMem(d.eaSeg(), d.eaOff, size, dbl ? 0xfff8000000000000 : 0xffc00000);
      if (popAfter) pop();
    }
    return;
  }
  toFloat(stSE(0), stM(0), dbl);
  const ex = fx;
  // Unmasked #IA, #O or #U: nothing is stored (SDM Vol. 1 §4.9.1.4, §4.9.1.5).
  if ((ex & ~fcw() & (FX_IE | FX_OE | FX_UE)) != 0) {
    probeOperand(size);
    commit(ex & ~FX_PE);
    return;
  }
  writeMem(d.eaSeg(), d.eaOff, size, rBits);
  notePointers(dbl ? 0xdd : 0xd9);
  setC1((ex & FX_PE) != 0 && rUp);
  commit(ex);
  if (popAfter) pop();
}

/** FIST/FISTP/FISTTP. */
function storeInt(size: u32, popAfter: bool, chop: bool): void {
  setControl(fcw());
  const bits = <i32>(size << 3);
  if (isEmpty(0)) {
    if (stackFault(false)) {
      writeMem(d.eaSeg(), d.eaOff, size, <u64>1 << <u64>(bits - 1));
      if (popAfter) pop();
    }
    return;
  }
  toInt(stSE(0), stM(0), bits, chop ? RC_CHOP : ctlRc);
  const ex = fx;
  if ((ex & ~fcw() & FX_IE) != 0) {
    probeOperand(size);
    commit(ex);
    return;
  }
  writeMem(d.eaSeg(), d.eaOff, size, <u64>rInt);
  setC1((ex & FX_PE) != 0 && rUp);
  commit(ex);
  if (popAfter) pop();
}

/** FBLD: 18 packed BCD digits and a sign byte (SDM Vol. 1 §4.7). Invalid digits are undefined. */
function fbld(): void {
  const lo = readMem(d.eaSeg(), d.eaOff, 8);
  const hi = <u32>readMem(d.eaSeg(), eaPlus(8), 2);
  notePointers(0xdf);
  // Digit walk, most significant first.
  let v = <u64>((hi >> 4) & 0xf) * 10 + <u64>(hi & 0xf);
  for (let k: i32 = 15; k >= 0; k--) v = v * 10 + ((lo >> <u64>(k << 2)) & 0xf);
  setControl(fcw());
  fromInt(<i64>v);
  let se = rSE;
  if ((hi & 0x8000) != 0) se |= 0x8000;
  pushLoaded(se, rM);
}

/** FBSTP: round by RC; out of range, NaN or infinity -> #IA and the BCD indefinite. */
function fbstp(): void {
  setControl(fcw());
  let lo: u64 = 0, hi: u32 = 0;
  if (isEmpty(0)) {
    if (!stackFault(false)) return;
    lo = 0xc000000000000000; hi = 0xffff;
  } else {
    toInt(stSE(0), stM(0), 64, ctlRc);
    let ex = fx;
    let a: u64 = rInt < 0 ? <u64>(0 - rInt) : <u64>rInt;
    if ((ex & FX_IE) == 0 && a > 999999999999999999) ex |= FX_IE;
    if ((ex & FX_IE) != 0) {
      ex &= ~FX_PE;
      if (!imMasked()) { probeOperand(10); commit(ex); return; }
      lo = 0xc000000000000000; hi = 0xffff;
    } else {
      for (let k: u64 = 0; k < 16; k++) { lo |= (a % 10) << (k << 2); a /= 10; }
      hi = <u32>(a % 10) | (<u32>((a / 10) % 10) << 4);
      if ((stSE(0) & 0x8000) != 0) hi |= 0x8000;
      setC1((ex & FX_PE) != 0 && rUp);
    }
    probeOperand(10);
    commit(ex);
  }
  writeMem(d.eaSeg(), d.eaOff, 8, lo);
  writeMem(d.eaSeg(), eaPlus(8), 2, <u64>hi);
  pop();
}

function executeReg(op: u32, modrm: u32, r: u32, i: u32): void {
  switch (op) {
    case 0xd8: case 0xdc: case 0xde: {
      // D8: ST(0) = ST(0) op ST(i); DC: ST(i) = ST(0) op' ST(i); DE: the DC form, then pop.
      notePointers(op);
      if (r == 2 || r == 3) { // FCOM/FCOMP (DC, DE D0-DF aliases)
        if (op == 0xde && modrm != 0xd9 && r == 3) raiseUD();
        if (op == 0xde && modrm == 0xd9) { compareRegs(1, false, 2, false); return; } // FCOMPP
        compareRegs(i, false, r == 3 ? 1 : 0, false);
        return;
      }
      const dst: u32 = op == 0xd8 ? 0 : i;
      const popAfter = op == 0xde;
      setControl(fcw());
      if (isEmpty(0) || isEmpty(i)) { underflowTo(dst, popAfter); return; }
      if (op == 0xd8) arith(r, stSE(0), stM(0), stSE(i), stM(i));
      else {
        // In the DC/DE encodings the SUB/SUBR and DIV/DIVR reg values are swapped.
        const rr = r >= 4 ? r ^ 1 : r;
        arith(rr, stSE(i), stM(i), stSE(0), stM(0));
      }
      finishArith(dst, popAfter);
      return;
    }
    case 0xd9:
      if (modrm < 0xc8) { // FLD ST(i)
        notePointers(op);
        if (isEmpty(i)) {
          if (!stackFault(false)) return;
          pushLoaded(INDEF_SE, INDEF_M);
          return;
        }
        pushLoaded(stSE(i), stM(i));
        return;
      }
      if (modrm < 0xd0) { fxch(i); return; }
      if (modrm == 0xd0) { notePointers(op); return; } // FNOP
      if (modrm >= 0xd8 && modrm < 0xe0) { fstReg(i, true); return; } // FSTP1 alias
      notePointers(op);
      switch (modrm) {
        case 0xe0: case 0xe1: { // FCHS, FABS
          if (isEmpty(0)) { underflowTo(0, false); return; }
          setST(0, modrm == 0xe0 ? stSE(0) ^ 0x8000 : stSE(0) & 0x7fff, stM(0));
          setC1(false);
          return;
        }
        case 0xe4: { // FTST
          setControl(fcw());
          if (isEmpty(0)) { if (stackFault(false)) setFsw(fsw() | SW_C0 | SW_C2 | SW_C3); return; }
          const cc = compare(stSE(0), stM(0), 0, 0, false);
          compareSet(cc, fx);
          setC1(false);
          return;
        }
        case 0xe5: fxam(); return;
        case 0xe8: case 0xe9: case 0xea: case 0xeb: case 0xec: case 0xed: case 0xee:
          loadConst(modrm - 0xe8);
          return;
        case 0xf0: { // F2XM1
          setControl(fcw());
          if (isEmpty(0)) { underflowTo(0, false); return; }
          f2xm1(stSE(0), stM(0));
          finishArith(0, false);
          return;
        }
        case 0xf1: case 0xf3: case 0xf9: // FYL2X, FPATAN, FYL2XP1: ST(1) = f(ST(1), ST(0)), pop
          setControl(fcw());
          if (isEmpty(0) || isEmpty(1)) { underflowTo(1, true); return; }
          if (modrm == 0xf1) fyl2x(stSE(1), stM(1), stSE(0), stM(0));
          else if (modrm == 0xf3) fpatan(stSE(1), stM(1), stSE(0), stM(0));
          else fyl2xp1(stSE(1), stM(1), stSE(0), stM(0));
          finishArith(1, true);
          return;
        case 0xf2: trig(3); return; // FPTAN
        case 0xfb: trig(2); return; // FSINCOS
        case 0xfe: trig(0); return; // FSIN
        case 0xff: trig(1); return; // FCOS
        case 0xf4: fxtract(); return;
        case 0xf5: fprem(true); return;
        case 0xf6: case 0xf7: // FDECSTP, FINCSTP
          if (modrm == 0xf6) decTop(); else incTop();
          setC1(false);
          return;
        case 0xf8: fprem(false); return;
        case 0xfa: case 0xfc: { // FSQRT, FRNDINT
          setControl(fcw());
          if (isEmpty(0)) { underflowTo(0, false); return; }
          if (modrm == 0xfa) sqrt(stSE(0), stM(0), ctlPrec);
          else roundInt(stSE(0), stM(0));
          finishArith(0, false);
          return;
        }
        case 0xfd: fscale(); return;
      }
      break;
    case 0xda:
      if (modrm < 0xe0) { fcmov(modrm, i); return; }
      if (modrm == 0xe9) { notePointers(op); compareRegs(1, true, 2, false); return; } // FUCOMPP
      break;
    case 0xdb:
      if (modrm < 0xe0) { fcmov(modrm, i); return; }
      if (modrm == 0xe2) { setFsw(fsw() & 0x7f00); return; } // FNCLEX: flags, SF, ES, B cleared
      if (modrm == 0xe3) { fninit(); return; }
      if (modrm == 0xe0 || modrm == 0xe1 || modrm == 0xe4) return; // FENI/FDISI/FSETPM: no-ops
      if (modrm >= 0xe8 && modrm < 0xf8) { // FUCOMI, FCOMI
        notePointers(op);
        compareRegs(i, modrm < 0xf0, 0, true);
        return;
      }
      break;
    case 0xdd:
      notePointers(op);
      switch (r) {
        case 0: setTag(i, false); return; // FFREE
        case 1: fxch(i); return;
        case 2: fstReg(i, false); return;
        case 3: fstReg(i, true); return;
        case 4: compareRegs(i, true, 0, false); return; // FUCOM
        case 5: compareRegs(i, true, 1, false); return; // FUCOMP
      }
      break;
    case 0xdf:
      if (modrm == 0xe0) { st.setReg16(RAX, fsw()); return; } // FNSTSW AX
      notePointers(op);
      if (r == 0) { setTag(i, false); pop(); return; } // FFREEP
      if (r == 1) { fxch(i); return; }
      if (r == 2 || r == 3) { fstReg(i, true); return; }
      if (r == 5 || r == 6) { compareRegs(i, r == 5, 1, true); return; } // FUCOMIP, FCOMIP
      break;
  }
  raiseUD();
}

function fxch(i: u32): void {
  let ase = stSE(0), am = stM(0), bse = stSE(i), bm = stM(i);
  if (isEmpty(0) || isEmpty(i)) {
    if (!stackFault(false)) return;
    if (isEmpty(0)) { ase = INDEF_SE; am = INDEF_M; }
    if (isEmpty(i)) { bse = INDEF_SE; bm = INDEF_M; }
  } else setC1(false);
  setST(0, bse, bm);
  setST(i, ase, am);
}

/** FST/FSTP ST(i): a plain copy. */
function fstReg(i: u32, popAfter: bool): void {
  if (isEmpty(0)) {
    if (!stackFault(false)) return;
    setST(i, INDEF_SE, INDEF_M);
  } else {
    setST(i, stSE(0), stM(0));
    setC1(false);
  }
  if (popAfter) pop();
}

/** FCMOVcc (DA: B E BE U, DB: the negations). */
function fcmov(modrm: u32, i: u32): void {
  notePointers(0xda);
  const k = (modrm >> 3) & 3;
  let c = k == 0 ? getCF() : k == 1 ? getZF() : k == 2 ? (getCF() || getZF()) : getPF();
  if (d.op() == 0xdb) c = !c;
  if (isEmpty(0) || isEmpty(i)) {
    if (!stackFault(false)) return;
    if (c) setST(0, INDEF_SE, INDEF_M);
    return;
  }
  setC1(false);
  if (c) setST(0, stSE(i), stM(i));
}

/** FXTRACT: ST(0) = significand, then push... exponent below it (SDM Vol. 2 "FXTRACT"). */
function fxtract(): void {
  setControl(fcw());
  if (isEmpty(0)) {
    if (!stackFault(false)) return;
    setST(0, INDEF_SE, INDEF_M);
    pushLoaded(INDEF_SE, INDEF_M);
    return;
  }
  if (!isEmpty(7)) {
    if (!stackFault(true)) return;
    setST(0, INDEF_SE, INDEF_M);
    pushLoaded(INDEF_SE, INDEF_M);
    return;
  }
  const se = stSE(0), m = stM(0);
  const k = classify(se, m);
  let expSE: u32, expM: u64, sigSE: u32, sigM: u64;
  if (nanOne(se, m)) {
    expSE = rSE; expM = rM; sigSE = rSE; sigM = rM;
  } else if (k == K_ZERO) {
    // Zero: #Z, exponent -infinity, significand the zero.
    setFx(fx | FX_ZE);
    expSE = 0xffff; expM = 0x8000000000000000; sigSE = se; sigM = m;
  } else if (k == K_INF) {
    expSE = 0x7fff; expM = 0x8000000000000000; sigSE = se; sigM = m;
  } else {
    checkDenormal(se, m);
    let e = <i32>(se & 0x7fff);
    if (e == 0) e = 1;
    const z = <i32>clz(m);
    fromInt(<i64>(e - 16383 - z));
    expSE = rSE; expM = rM;
    sigSE = (se & 0x8000) | 16383; sigM = m << <u64>z;
  }
  const ex = fx;
  if (blocked(ex)) { commit(ex); return; }
  setST(0, expSE, expM);
  decTop();
  setST(0, sigSE, sigM);
  setC1(false);
  commit(ex);
}

/**
 * FSIN (0), FCOS (1), FSINCOS (2), FPTAN (3) (SDM Vol. 2 pages of each): |ST(0)| >= 2^63 leaves it
 * alone with C2 = 1; otherwise C2 = 0 and ST(0) is replaced, FSINCOS then pushes the cosine and
 * FPTAN pushes 1.0.
 */
function trig(kind: i32): void {
  setControl(fcw());
  const pushes = kind >= 2;
  if (isEmpty(0) || (pushes && !isEmpty(7))) {
    if (!stackFault(!isEmpty(0))) return;
    setST(0, INDEF_SE, INDEF_M);
    if (pushes) pushLoaded(INDEF_SE, INDEF_M);
    return;
  }
  ftrig(stSE(0), stM(0), kind);
  const ex = fx;
  if (outOfRange) {
    setFsw(fsw() | SW_C2);
    commit(ex);
    return;
  }
  setFsw(fsw() & ~SW_C2);
  if (blocked(ex)) { commit(ex); return; }
  if (kind == 2) {
    setST(0, r2SE, r2M);
    decTop();
    setST(0, rSE, rM);
  } else {
    setST(0, rSE, rM);
    // FPTAN pushes 1.0, or the NaN result again (as the host does).
    const nan = (rSE & 0x7fff) == 0x7fff && (rM << 1) != 0;
    if (kind == 3) { decTop(); if (nan) setST(0, rSE, rM); else setST(0, 0x3fff, 0x8000000000000000); }
  }
  setC1((ex & FX_PE) != 0 && rUp);
  commit(ex);
}

/** FSCALE: ST(0) * 2^trunc(ST(1)). */
function fscale(): void {
  setControl(fcw());
  if (isEmpty(0) || isEmpty(1)) { underflowTo(0, false); return; }
  const ase = stSE(0), am = stM(0), bse = stSE(1), bm = stM(1);
  const ka = classify(ase, am), kb = classify(bse, bm);
  if (nanTwo(ase, am, bse, bm)) { finishArith(0, false); return; }
  checkDenormal(ase, am);
  checkDenormal(bse, bm);
  if (stopped()) { commit(fx); return; }
  const bneg = (bse & 0x8000) != 0;
  if (kb == K_INF) {
    if ((ka == K_ZERO && !bneg) || (ka == K_INF && bneg)) { setFx(fx | FX_IE); setIndefinite(); }
    else if (bneg) setResult(ase & 0x8000, 0);
    else setResult(ase | 0x7fff, 0x8000000000000000);
    finishArith(0, false);
    return;
  }
  if (ka == K_ZERO || ka == K_INF) { setResult(ase, am); finishArith(0, false); return; }
  // Truncate ST(1) to an integer, clamped (beyond +-2^17 the result saturates anyway).
  toInt(bse, bm, 64, RC_CHOP);
  setFx(fx & ~(FX_PE | FX_IE));
  let n = rInt;
  if (classify(bse, bm) != K_ZERO && ((bse & 0x7fff) >= 16383 + 62)) n = bneg ? -0x10000000 : 0x10000000;
  if (n > 0x10000000) n = 0x10000000;
  if (n < -0x10000000) n = -0x10000000;
  let e = <i32>(ase & 0x7fff);
  if (e == 0) e = 1;
  const z = <i32>clz(am);
  roundTo((ase >> 15) & 1, e - 16383 - z + <i32>n, am << <u64>z, 0, 64, -16382, 16383, 16383, 24576);
  finishArith(0, false);
}


/** FPREM (truncating) and FPREM1 (IEEE, round to nearest): partial when exponents differ by 64+. */
function fprem(ieee: bool): void {
  setControl(fcw());
  if (isEmpty(0) || isEmpty(1)) { underflowTo(0, false); return; }
  const ase = stSE(0), am = stM(0), bse = stSE(1), bm = stM(1);
  const ka = classify(ase, am), kb = classify(bse, bm);
  let s = fsw() & ~SW_CC;
  if (nanTwo(ase, am, bse, bm)) { setFsw(s); finishArith(0, false); return; }
  if (ka == K_INF || kb == K_ZERO) {
    setFx(fx | FX_IE); setIndefinite(); setFsw(s); finishArith(0, false); return;
  }
  checkDenormal(ase, am);
  checkDenormal(bse, bm);
  if (stopped()) { commit(fx); return; }
  if (ka == K_ZERO) { setResult(ase, am); setFsw(s); finishArith(0, false); return; }
  // y infinite: the remainder is x, still rounded (a denormal x with #U unmasked is scaled).
  let ea = <i32>(ase & 0x7fff); if (ea == 0) ea = 1;
  let eb = <i32>(bse & 0x7fff); if (eb == 0) eb = 1;
  const za = <i32>clz(am), zb = <i32>clz(bm);
  const xm = am << <u64>za, ym = bm << <u64>zb;
  const xe = ea - za, ye = eb - zb;
  const dexp = xe - ye;
  let q: u64 = 0;
  let rm: u64 = xm;
  let re: i32 = xe;
  let sign = ase & 0x8000;
  if (kb == K_INF) {
    // rm, re already hold x.
  } else if (dexp >= 64) {
    // Partial remainder: reduce by a chunk so that the exponent drops by 32..63 bits.
    const n = 32 + ((dexp - 32) & 31);
    let r = xm;
    for (let k = 0; k <= n; k++) {
      if (k > 0) { const c = r >> 63; r <<= 1; if (c != 0 || r >= ym) { r -= ym; } }
      else if (r >= ym) r -= ym;
    }
    rm = r; re = xe - n;
    s |= SW_C2;
  } else if (dexp >= 0) {
    let r = xm;
    for (let k = 0; k <= dexp; k++) {
      q <<= 1;
      if (k > 0) { const c = r >> 63; r <<= 1; if (c != 0 || r >= ym) { r -= ym; q |= 1; } }
      else if (r >= ym) { r -= ym; q |= 1; }
    }
    rm = r; re = ye;
    if (ieee) {
      // Round the quotient to nearest even: compare 2r with y.
      const twice = (r >> 63) != 0 || (r << 1) > ym;
      const tie = (r >> 63) == 0 && (r << 1) == ym;
      if (twice || (tie && (q & 1) != 0)) { rm = ym - r; q++; sign ^= 0x8000; }
    }
  } else if (ieee && dexp == -1 && xm > ym) {
    // |x| in (|y|/2, |y|): the nearest quotient is 1, remainder y - x (units of 2^xe).
    rm = ym - (xm - ym); re = xe; q = 1; sign ^= 0x8000;
  }
  s |= ((q & 1) != 0 ? SW_C1 : 0) | ((q & 2) != 0 ? SW_C3 : 0) | ((q & 4) != 0 ? SW_C0 : 0);
  if (rm == 0) setResult(ase & 0x8000, 0);
  else {
    const z = <i32>clz(rm);
    roundTo(sign >> 15, re - 16383 - z, rm << <u64>z, 0, 64, -16382, 16383, 16383, 24576);
  }
  const ex = fx;
  if (blocked(ex)) { commit(ex); return; }
  setST(0, rSE, rM);
  setFsw((fsw() & ~SW_CC) | (s & SW_CC));
  commit(ex);
}

/** FWAIT: #NM when CR0.MP and CR0.TS are both set; then pending unmasked exceptions -> #MF. */
export function fwait(): void {
  if ((st.cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) raise(EXC_NM, -1);
  if ((fsw() & SW_ES) != 0) raise(EXC_MF, -1);
}
