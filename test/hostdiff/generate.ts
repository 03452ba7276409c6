// Random instruction sequences for the host-differential CPU test.
//
// A case is 1-8 "main" instructions (plus the setup instructions some of them need, e.g.
// `mov cl, imm8` before a shift by CL) with random GPR and flag inputs. The generator never
// simulates the code; it only tracks what it must know to keep the case well defined:
//  - memory: two registers B (base) and X (index) are chosen per case, given known values and
//    never written, so every memory operand's address is known exactly and stays in the
//    scratch page (DATA_LO..DATA_HI for data, STACK_LO..STACK_HI for the stack);
//  - RSP: only changed by PUSH/POP (known deltas) or an 8-bit write to SPL (range tracked);
//  - undefined flags: `undef` = arithmetic flags whose value is undefined per the SDM. Each
//    instruction defines some flags (fd) and leaves some undefined (fu):
//        undef = (undef & ~(fd | fu)) | fu
//    so a flag is masked only if the LAST instruction that wrote it left it undefined.
//    An instruction that reads a flag (ADC, RCL, CMOVcc, SETcc, PUSHF, LAHF, CMC...) is not
//    generated while that flag is undefined, so undefined values never propagate;
//  - undefined registers (`taint`): BSF/BSR destinations whose source may be 0 and SHLD/SHRD
//    16-bit destinations with count > 16. A tainted register is neither read nor written by
//    later instructions and is masked in the comparison.
// The masks are recorded before every instruction so a fault in the middle (e.g. #DE) can be
// compared against the state at that instruction boundary.

import { readFileSync } from 'node:fs';

/** Instructions the host CPU must have to be the oracle for a template (/proc/cpuinfo flags). */
const HOST = (() => {
  let flags = new Set<string>();
  try {
    const m = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    flags = new Set((m?.[1] ?? '').trim().split(/\s+/));
  } catch { /* not Linux: no templates that need extensions */ }
  return {
    popcnt: flags.has('popcnt'), lzcnt: flags.has('abm'), tzcnt: flags.has('bmi1'),
    movbe: flags.has('movbe'), crc32: flags.has('sse4_2'),
  };
})();

export const CODE_ADDR = 0x100000;
export const DATA_ADDR = 0x200000;
export const DATA_SIZE = 4096;
// Data operands (including BT bit offsets of +-128 bytes and string runs of +-64 bytes).
const DATA_LO = DATA_ADDR + 0x180;
const DATA_HI = DATA_ADDR + 0xa80;
// Stack accesses.
const STACK_LO = DATA_ADDR + 0xb00;
const STACK_HI = DATA_ADDR + 0x1000;

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ALL6 = CF | PF | AF | ZF | SF | OF;
const IF = 0x200;

const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RSI = 6, RDI = 7;
const bit = (r: number) => 1 << (r >= 16 ? r - 16 : r);

export interface HostdiffCase {
  index: number;
  /** Preferred operand size of the case (2, 4 or 8 bytes). */
  size: number;
  code: Uint8Array;
  regs: bigint[];
  rflags: bigint;
  memSeed: number;
  /** Start offset of every instruction, then code.length. */
  bounds: number[];
  /** Undefined arithmetic flags before instruction i (index bounds.length-1: at the end). */
  undef: number[];
  /** Undefined registers (bit per GPR) at the same points. */
  taint: number[];
}

/** sfc32 seeded through splitmix32: fast, 32-bit only, reproducible. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  int(n: number): number { return Math.floor((this.u32() / 4294967296) * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
}

/** Scratch page content for a seed; native-runner.c fill_scratch() is the same function. */
export function fillScratch(seed: number, out: Uint8Array): void {
  let s = seed >>> 0;
  const mix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const dv = new DataView(out.buffer, out.byteOffset, DATA_SIZE);
  for (let i = 0; i < DATA_SIZE; i += 4) {
    let v = mix();
    const t = mix() >>> 28;
    if (t === 0) v = 0;
    else if (t === 1) v = 0xffffffff;
    dv.setUint32(i, v, true);
  }
}

/** A memory operand. base: GPR, -1 none, -2 RIP; for RIP `disp` is the target address. */
interface Mem {
  kind: 'mem';
  base: number;
  index: number;
  scale: number;
  disp: number;
  dsz: 0 | 1 | 4;
  a32: boolean;
  /** Effective address when it is a data access (known exactly). */
  addr: number;
}
/** A register operand; for byte operands 0-15 are AL..R15B (SPL etc. need REX), 16-19 AH..BH. */
interface RegOp { kind: 'reg'; r: number }
type Rm = RegOp | Mem;

interface Insn {
  pfx?: number[];
  os?: number; // 2 -> 0x66, 8 -> REX.W
  op: number[];
  reg?: number; // ModRM.reg: register or /digit
  byteReg?: boolean;
  rm?: Rm;
  byteRm?: boolean;
  opReg?: number; // register in the low opcode bits (50+r...)
  byteOpReg?: boolean;
  imm?: number[];
}

/** Effects of one instruction, for the bookkeeping described at the top. */
interface Eff {
  rd?: number; // GPRs read (bit mask)
  wr?: number; // GPRs written
  fr?: number; // flags read
  fd?: number; // flags defined
  fu?: number; // flags left undefined
  taint?: number;
  memW?: boolean;
  sp?: number; // RSP delta of PUSH/POP
  splW?: boolean; // writes SPL
  end?: boolean; // raises an exception: nothing after it runs
}

const le = (v: number | bigint, n: number): number[] => {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  for (let i = 0; i < n; i++) { out.push(Number(x & 0xffn)); x >>= 8n; }
  return out;
};
const fits8 = (v: number) => v >= -128 && v <= 127;
const immBytes = (s: number) => (s === 1 ? 1 : s === 2 ? 2 : 4);

/** Encode; null when the operands cannot be encoded together (AH..BH with a REX prefix). */
function encode(insn: Insn, at: number): number[] | null {
  let rex = 0, needRex = false, noRex = false;
  if (insn.os === 8) rex |= 8;
  const regEnc = (v: number, isByte: boolean | undefined, rexBit: number): number => {
    if (isByte && v >= 16) { noRex = true; return v - 12; }
    if (v >= 8) rex |= rexBit;
    if (isByte && v >= 4 && v < 8) needRex = true;
    return v & 7;
  };
  const out: number[] = [...(insn.pfx ?? [])];
  if (insn.os === 2) out.push(0x66);
  const m = insn.rm?.kind === 'mem' ? insn.rm : undefined;
  if (m?.a32) out.push(0x67);
  let modrm: number[] = [];
  let ripAt = -1;
  if (insn.rm) {
    const reg = regEnc(insn.reg ?? 0, insn.byteReg, 4);
    if (insn.rm.kind === 'reg') {
      modrm = [0xc0 | (reg << 3) | regEnc(insn.rm.r, insn.byteRm, 1)];
    } else {
      const mm = insn.rm;
      if (mm.index >= 8) rex |= 2;
      if (mm.base >= 8) rex |= 1;
      const idx = mm.index < 0 ? 4 : mm.index & 7;
      if (mm.base === -2) {
        modrm = [(reg << 3) | 5];
        ripAt = modrm.length;
        modrm.push(0, 0, 0, 0);
      } else if (mm.base === -1) {
        modrm = [(reg << 3) | 4, (mm.scale << 6) | (idx << 3) | 5, ...le(mm.disp, 4)];
      } else {
        let dsz = mm.dsz;
        if (dsz === 0 && (mm.base & 7) === 5) dsz = 1; // [rbp]/[r13] need a displacement
        const mod = dsz === 0 ? 0 : dsz === 1 ? 1 : 2;
        if (mm.index >= 0 || (mm.base & 7) === 4) {
          modrm = [(mod << 6) | (reg << 3) | 4, (mm.scale << 6) | (idx << 3) | (mm.base & 7)];
        } else {
          modrm = [(mod << 6) | (reg << 3) | (mm.base & 7)];
        }
        modrm.push(...le(mm.disp, dsz));
      }
    }
  }
  const op = [...insn.op];
  if (insn.opReg !== undefined) op[op.length - 1] |= regEnc(insn.opReg, insn.byteOpReg, 1);
  if (noRex && (rex || needRex)) return null;
  if (rex || needRex) out.push(0x40 | rex);
  const modrmAt = out.length + op.length;
  out.push(...op, ...modrm, ...(insn.imm ?? []));
  if (ripAt >= 0) {
    const next = CODE_ADDR + at + out.length;
    out.splice(modrmAt + ripAt, 4, ...le(m!.disp - next, 4));
  }
  return out;
}

const CC_FLAGS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];

type Template = (g: Gen) => boolean;

class Gen {
  code: number[] = [];
  bounds: number[] = [];
  undefs: number[] = [];
  taints: number[] = [];
  regs: bigint[] = [];
  B = 0; X = 0; bVal = 0; xVal = 0;
  protect = 0;
  written = 0;
  memWritten = false;
  undef = 0;
  taint = 0;
  rspKnown = true;
  rsp = 0; rspLo = 0; rspHi = 0;
  memSeed = 0;
  ended = false;
  size = 4;
  private initMem: Uint8Array | null = null;

  constructor(readonly rng: Rng) {}

  snapshot() {
    return {
      len: this.code.length, n: this.bounds.length, written: this.written, memWritten: this.memWritten,
      undef: this.undef, taint: this.taint, rspKnown: this.rspKnown, rsp: this.rsp, rspLo: this.rspLo,
      rspHi: this.rspHi, ended: this.ended,
    };
  }
  restore(s: ReturnType<Gen['snapshot']>): void {
    this.code.length = s.len;
    this.bounds.length = this.undefs.length = this.taints.length = s.n;
    Object.assign(this, {
      written: s.written, memWritten: s.memWritten, undef: s.undef, taint: s.taint, rspKnown: s.rspKnown,
      rsp: s.rsp, rspLo: s.rspLo, rspHi: s.rspHi, ended: s.ended,
    });
  }

  /** Append one instruction if its effects keep the case well defined. */
  emit(insn: Insn | number[], eff: Eff = {}): boolean {
    const at = this.code.length;
    const bytes = Array.isArray(insn) ? insn : encode(insn, at);
    if (!bytes) return false;
    const rd = eff.rd ?? 0, wr = eff.wr ?? 0;
    if ((rd | wr) & this.taint) return false;
    if (wr & this.protect) return false;
    if ((eff.fr ?? 0) & this.undef) return false;
    let lo = this.rspLo, hi = this.rspHi;
    if (eff.sp) { lo += eff.sp; hi += eff.sp; }
    if (eff.splW) { lo = lo & ~0xff; hi = (hi & ~0xff) | 0xff; }
    if (lo - 16 < STACK_LO || hi + 16 > STACK_HI) return false;
    this.bounds.push(at);
    this.undefs.push(this.undef);
    this.taints.push(this.taint);
    this.code.push(...bytes);
    const fd = eff.fd ?? 0, fu = eff.fu ?? 0;
    this.undef = (this.undef & ~(fd | fu)) | fu;
    this.taint |= eff.taint ?? 0;
    this.written |= wr;
    if (eff.memW) this.memWritten = true;
    if (eff.sp) this.rsp += eff.sp;
    if (eff.splW) this.rspKnown = false;
    this.rspLo = lo; this.rspHi = hi;
    if (eff.end) this.ended = true;
    return true;
  }

  // ---- operand choice ----

  opSize(allowByte = true): number {
    const r = this.rng.u32() / 4294967296;
    if (r < 0.55) return this.size;
    if (allowByte && r < 0.75) return 1;
    return this.rng.pick([2, 4, 8]);
  }
  /** A register of the given size; for bytes, `legacy` chooses AL..BH (no REX) vs AL..R15B. */
  reg(size: number, legacy = false): number {
    if (size !== 1) return this.rng.int(16);
    return legacy ? this.rng.pick([0, 1, 2, 3, 16, 17, 18, 19]) : this.rng.int(16);
  }
  /** Effects of writing register operand r of the given size (SPL is tracked separately). */
  wrReg(r: number, size: number): Eff {
    if (size === 1 && r === RSP) return { splW: true };
    return { wr: bit(r) };
  }
  rdOf(rm: Rm): number { return rm.kind === 'reg' ? bit(rm.r) : 0; }

  /** A memory operand addressing `target` (known absolute address) in a random form. */
  memAt(target: number, noRsp = false): Mem {
    const rng = this.rng;
    const a32 = rng.chance(0.12);
    const forms = ['b', 'bi', 'i', 'abs', 'rip', 'xb'];
    if (this.rspKnown && !noRsp) forms.push('sp');
    const f = rng.pick(forms);
    const m: Mem = { kind: 'mem', base: -1, index: -1, scale: 0, disp: 0, dsz: 4, a32, addr: target };
    let basePart = 0;
    switch (f) {
      case 'b': m.base = this.B; basePart = this.bVal; break;
      case 'bi': m.base = this.B; m.index = this.X; m.scale = rng.int(4); basePart = this.bVal + this.xVal * (1 << m.scale); break;
      case 'xb': m.base = this.X; m.index = this.B; basePart = this.bVal + this.xVal; break;
      case 'i': m.index = this.X; m.scale = rng.int(4); basePart = this.xVal * (1 << m.scale); break;
      case 'abs': break;
      case 'rip': m.base = -2; m.disp = target; return m;
      case 'sp': m.base = RSP; basePart = this.rsp; break;
    }
    m.disp = target - basePart;
    if (m.base >= 0) m.dsz = m.disp === 0 && rng.chance(0.5) ? 0 : fits8(m.disp) && rng.chance(0.8) ? 1 : 4;
    return m;
  }
  /** A data memory operand of `size` bytes, aligned to `align`. */
  dataMem(size: number, align = 1, noRsp = false): Mem {
    const rng = this.rng;
    // Half the time aim close to B (+X) so that disp8 forms come out.
    let target: number;
    if (rng.chance(0.5)) target = this.bVal + (rng.chance(0.5) ? this.xVal * (1 << rng.int(4)) : 0) + rng.range(-128, 127);
    else target = rng.range(DATA_LO, DATA_HI - 16);
    target -= target % align;
    if (target < DATA_LO) target += 256;
    if (target + size > DATA_HI) target -= 256;
    return this.memAt(target, noRsp);
  }
  /** Register or memory operand. */
  rm(size: number, legacy = false, pMem = 0.4, align = 1): Rm {
    if (this.rng.chance(pMem)) return this.dataMem(size, align);
    return { kind: 'reg', r: this.reg(size, legacy) };
  }
  /** Any addressing form with any registers: for LEA and NOP, which do not access memory. */
  anyAddr(): Mem {
    const rng = this.rng;
    const m: Mem = { kind: 'mem', base: -1, index: -1, scale: rng.int(4), disp: 0, dsz: 0, a32: rng.chance(0.2), addr: 0 };
    const b = rng.int(20);
    m.base = b < 16 ? b : b < 18 ? -1 : -2;
    if (m.base !== -2 && rng.chance(0.6)) { do m.index = rng.int(16); while (m.index === RSP); }
    m.dsz = rng.pick([0, 1, 4] as const);
    if (m.base === -2) m.disp = CODE_ADDR + rng.range(-0x40000000, 0x40000000);
    else m.disp = m.dsz === 1 ? rng.range(-128, 127) : rng.u32() | 0;
    return m;
  }
  memRegs(m: Mem): number {
    return (m.base >= 0 ? bit(m.base) : 0) | (m.index >= 0 ? bit(m.index) : 0);
  }

  imm(size: number): number[] {
    const rng = this.rng;
    const n = immBytes(size);
    const r = rng.int(10);
    let v: bigint;
    if (r < 3) v = BigInt(rng.range(-4, 4));
    else if (r < 5) v = BigInt(rng.pick([0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff]));
    else v = BigInt(rng.u32());
    return le(v, n);
  }
  /** Shift/rotate counts: 0, 1, around the operand width, around 32/64, random. */
  count(bits: number): number {
    const rng = this.rng;
    return rng.chance(0.3) ? rng.int(256) : rng.pick([0, 1, 1, 2, 3, bits - 1, bits, bits + 1, 16, 17, 31, 32, 33, 63, 64, 65]) & 0xff;
  }

  /** Value of an operand if the generator knows it (untouched register or memory). */
  known(rm: Rm, size: number): bigint | null {
    const mask = (1n << BigInt(size * 8)) - 1n;
    if (rm.kind === 'reg') {
      if (rm.r === RSP) return this.rspKnown ? BigInt(this.rsp) & mask : null; // PUSH/POP move it
      if (size === 1 || this.written & bit(rm.r)) return null;
      return this.regs[rm.r] & mask;
    }
    if (this.memWritten) return null;
    if (!this.initMem) { this.initMem = new Uint8Array(DATA_SIZE); fillScratch(this.memSeed, this.initMem); }
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.initMem[rm.addr - DATA_ADDR + i]);
    return v;
  }

  /** Emit a main instruction: occasionally adds a no-op segment prefix to memory forms. */
  main(insn: Insn, eff: Eff): boolean {
    if (insn.rm?.kind === 'mem' && this.rng.chance(0.04)) insn.pfx = [...(insn.pfx ?? []), this.rng.pick([0x26, 0x2e, 0x36, 0x3e])];
    return this.emit(insn, eff);
  }

  // ---- case assembly ----

  randomReg(): bigint {
    const rng = this.rng;
    switch (rng.int(10)) {
      case 0: return 0n;
      case 1: return BigInt(rng.int(256));
      case 2: return BigInt.asUintN(64, BigInt(-rng.range(1, 256)));
      case 3: return BigInt(rng.u32());
      case 4: return rng.pick([1n, 0x7fn, 0x80n, 0xffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
        0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn]);
      default: return rng.u64();
    }
  }

  generate(index: number, size: number, forced?: TemplateName[]): HostdiffCase {
    const rng = this.rng;
    this.size = size;
    // B and X usually from registers few instructions write implicitly.
    const pool = [RBX, 5, RSI, RDI, 8, 9, 10, 11, 12, 13, 14, 15];
    const any = [RAX, RCX, RDX, RBX, 5, RSI, RDI, 8, 9, 10, 11, 12, 13, 14, 15];
    this.B = rng.pick(rng.chance(0.1) ? any : pool);
    do this.X = rng.pick(rng.chance(0.1) ? any : pool); while (this.X === this.B);
    this.bVal = rng.range(DATA_ADDR + 0x400, DATA_ADDR + 0x7ff);
    this.xVal = rng.range(-32, 63);
    this.protect = bit(RSP) | bit(this.B) | bit(this.X);
    this.rsp = DATA_ADDR + 0xd00 + (rng.chance(0.9) ? rng.int(32) * 8 : rng.int(256));
    this.rspLo = this.rspHi = this.rsp;
    this.memSeed = rng.u32();
    this.regs = [];
    for (let r = 0; r < 16; r++) this.regs.push(this.randomReg());
    this.regs[this.B] = BigInt(this.bVal);
    this.regs[this.X] = BigInt.asUintN(64, BigInt(this.xVal));
    this.regs[RSP] = BigInt(this.rsp);
    const rflags = 0x202 | (rng.u32() & ALL6) | (rng.chance(0.25) ? DF : 0);

    const n = forced ? forced.length : 1 + rng.int(8);
    for (let i = 0; i < n && !this.ended; i++) {
      for (let attempt = 0; attempt < 100; attempt++) {
        const t = forced ? TEMPLATES[forced[i]][0] : pickTemplate(rng);
        const s = this.snapshot();
        if (t(this)) break;
        this.restore(s);
      }
    }
    this.bounds.push(this.code.length);
    this.undefs.push(this.undef);
    this.taints.push(this.taint);
    return {
      index, size, code: Uint8Array.from(this.code), regs: this.regs, rflags: BigInt(rflags), memSeed: this.memSeed,
      bounds: this.bounds, undef: this.undefs, taint: this.taints,
    };
  }
}

// ---- templates (SDM Vol. 2 "Flags Affected" for each) ----

const ALU_LOGIC = (op: number) => op === 1 || op === 4 || op === 6; // OR AND XOR: AF undefined

const alu: Template = (g) => {
  const rng = g.rng, op = rng.int(8), s = g.opSize(), legacy = rng.chance(0.4);
  const writes = op !== 7; // CMP
  const flags: Eff = ALU_LOGIC(op) ? { fd: ALL6 & ~AF, fu: AF } : { fd: ALL6 };
  if (op === 2 || op === 3) flags.fr = CF; // ADC SBB
  const w = s === 1 ? 0 : 1;
  const form = rng.int(4);
  if (form === 0 || form === 1) {
    const rm = g.rm(s, legacy), reg = g.reg(s, legacy);
    const lock = form === 0 && writes && rm.kind === 'mem' && rng.chance(0.15);
    const insn: Insn = { pfx: lock ? [0xf0] : [], os: s, op: [op * 8 + form * 2 + w], reg, byteReg: s === 1, rm, byteRm: s === 1 };
    const dst = form === 0 ? rm : ({ kind: 'reg', r: reg } as RegOp);
    let eff: Eff = { ...flags, rd: g.rdOf(rm) | bit(reg), memW: dst.kind === 'mem' && writes };
    if (writes && dst.kind === 'reg') eff = { ...eff, ...g.wrReg(dst.r, s) };
    return g.main(insn, eff);
  }
  if (form === 2) {
    return g.main({ os: s, op: [op * 8 + 4 + w], imm: g.imm(s) }, { ...flags, rd: bit(RAX), wr: writes ? bit(RAX) : 0 });
  }
  const rm = g.rm(s, legacy);
  const sx8 = s !== 1 && rng.chance(0.5);
  const lock = writes && rm.kind === 'mem' && rng.chance(0.15);
  const insn: Insn = { pfx: lock ? [0xf0] : [], os: s, op: [s === 1 ? 0x80 : sx8 ? 0x83 : 0x81], reg: op, rm, byteRm: s === 1, imm: g.imm(sx8 ? 1 : s) };
  let eff: Eff = { ...flags, rd: g.rdOf(rm), memW: rm.kind === 'mem' && writes };
  if (writes && rm.kind === 'reg') eff = { ...eff, ...g.wrReg(rm.r, s) };
  return g.main(insn, eff);
};

const test: Template = (g) => {
  const rng = g.rng, s = g.opSize(), legacy = rng.chance(0.4), w = s === 1 ? 0 : 1;
  const flags = { fd: ALL6 & ~AF, fu: AF };
  switch (rng.int(3)) {
    case 0: {
      const rm = g.rm(s, legacy), reg = g.reg(s, legacy);
      return g.main({ os: s, op: [0x84 + w], reg, byteReg: s === 1, rm, byteRm: s === 1 }, { ...flags, rd: g.rdOf(rm) | bit(reg) });
    }
    case 1: return g.main({ os: s, op: [0xa8 + w], imm: g.imm(s) }, { ...flags, rd: bit(RAX) });
    default: {
      const rm = g.rm(s, legacy);
      return g.main({ os: s, op: [0xf6 + w], reg: 0, rm, byteRm: s === 1, imm: g.imm(s) }, { ...flags, rd: g.rdOf(rm) });
    }
  }
};

/** Single-operand r/m instruction (INC DEC NOT NEG, SETcc...) that writes its operand. */
function unaryRm(g: Gen, s: number, op: number[], digit: number, flags: Eff, lockable: boolean): boolean {
  const rm = g.rm(s, g.rng.chance(0.4));
  const lock = lockable && rm.kind === 'mem' && g.rng.chance(0.15);
  let eff: Eff = { ...flags, rd: g.rdOf(rm), memW: rm.kind === 'mem' };
  if (rm.kind === 'reg') eff = { ...eff, ...g.wrReg(rm.r, s) };
  return g.main({ pfx: lock ? [0xf0] : [], os: s, op, reg: digit, rm, byteRm: s === 1 }, eff);
}

const incdec: Template = (g) => {
  const s = g.opSize();
  return unaryRm(g, s, [s === 1 ? 0xfe : 0xff], g.rng.int(2), { fd: ALL6 & ~CF }, true);
};
const negnot: Template = (g) => {
  const s = g.opSize(), neg = g.rng.chance(0.5);
  return unaryRm(g, s, [s === 1 ? 0xf6 : 0xf7], neg ? 3 : 2, neg ? { fd: ALL6 } : {}, true);
};
const setcc: Template = (g) => {
  const cc = g.rng.int(16);
  return unaryRm(g, 1, [0x0f, 0x90 + cc], 0, { fr: CC_FLAGS[cc] }, false);
};

// MUL/IMUL: CF OF defined, SF ZF AF PF undefined.
const MUL_FLAGS: Eff = { fd: CF | OF, fu: SF | ZF | AF | PF };

const mul: Template = (g) => {
  const rng = g.rng, s = g.opSize();
  const rm = g.rm(s, rng.chance(0.4));
  const wr = s === 1 ? bit(RAX) : bit(RAX) | bit(RDX);
  return g.main({ os: s, op: [s === 1 ? 0xf6 : 0xf7], reg: rng.chance(0.5) ? 4 : 5, rm, byteRm: s === 1 },
    { ...MUL_FLAGS, rd: bit(RAX) | g.rdOf(rm), wr });
};
const imul: Template = (g) => {
  const rng = g.rng;
  const s = g.opSize(false);
  const rm = g.rm(s), reg = g.reg(s);
  if (rng.chance(0.5)) {
    return g.main({ os: s, op: [0x0f, 0xaf], reg, rm }, { ...MUL_FLAGS, rd: bit(reg) | g.rdOf(rm), wr: bit(reg) });
  }
  const i8 = rng.chance(0.5);
  return g.main({ os: s, op: [i8 ? 0x6b : 0x69], reg, rm, imm: g.imm(i8 ? 1 : s) }, { ...MUL_FLAGS, rd: g.rdOf(rm), wr: bit(reg) });
};

// DIV/IDIV: all six flags undefined. Usually the dividend is prepared so that the quotient fits
// (zero / sign extension); otherwise, or with a zero divisor, #DE.
const div: Template = (g) => {
  const rng = g.rng, s = g.opSize(), signed = rng.chance(0.5);
  const legacy = rng.chance(0.4);
  const rm = g.rm(s, legacy);
  if (rng.chance(0.75)) {
    if (!signed) {
      if (s === 1) { if (!g.emit([0xb4, 0x00], { wr: bit(RAX) })) return false; } // mov ah, 0
      else if (!g.emit([0xba, 0, 0, 0, 0], { wr: bit(RDX) })) return false; // mov edx, 0
    } else {
      const sz = s === 1 ? [0x66, 0x98] : s === 2 ? [0x66, 0x99] : s === 4 ? [0x99] : [0x48, 0x99];
      if (!g.emit(sz, s === 1 ? { rd: bit(RAX), wr: bit(RAX) } : { rd: bit(RAX), wr: bit(RDX) })) return false;
    }
  }
  if (rm.kind === 'reg' && rng.chance(0.06)) {
    const r = rm.r >= 16 ? rm.r - 16 : rm.r; // zero divisor
    if (!g.emit({ op: [0xb8], opReg: r, imm: [0, 0, 0, 0] }, { wr: bit(r) })) return false;
  }
  const rw = s === 1 ? bit(RAX) : bit(RAX) | bit(RDX);
  return g.main({ os: s, op: [s === 1 ? 0xf6 : 0xf7], reg: signed ? 7 : 6, rm, byteRm: s === 1 },
    { fu: ALL6, rd: rw | g.rdOf(rm), wr: rw });
};

/** Flags of a shift/rotate group-2 op with masked count mc (SDM: ROL/RCL/SHL/SAR "Flags Affected"). */
function shiftFlags(op: number, mc: number, bits: number): Eff {
  if (mc === 0) return op === 2 || op === 3 ? { fr: CF } : {};
  const of1 = mc === 1 ? { fd: OF, fu: 0 } : { fd: 0, fu: OF };
  if (op < 4) return { fd: CF | of1.fd, fu: of1.fu, fr: op >= 2 ? CF : 0 }; // ROL ROR RCL RCR
  const cfUndef = op !== 7 && mc >= bits; // SHL/SHR by >= width: CF undefined
  return { fd: SF | ZF | PF | (cfUndef ? 0 : CF) | of1.fd, fu: AF | of1.fu | (cfUndef ? CF : 0) };
}

const shift: Template = (g) => {
  const rng = g.rng, s = g.opSize(), bits = s * 8, w = s === 1 ? 0 : 1;
  const op = rng.pick([0, 1, 2, 3, 4, 5, 7]);
  const rm = g.rm(s, rng.chance(0.4));
  const form = rng.int(3);
  let count = 1, opc: number, imm: number[] = [];
  if (form === 0) opc = 0xd0 + w;
  else if (form === 1) {
    count = g.count(bits);
    opc = 0xc0 + w;
    imm = [count];
  } else {
    count = g.count(bits);
    if (!g.emit([0xb1, count], { wr: bit(RCX) })) return false; // mov cl, count
    opc = 0xd2 + w;
  }
  const mc = count & (s === 8 ? 0x3f : 0x1f);
  let eff: Eff = { ...shiftFlags(op, mc, bits), rd: g.rdOf(rm) | (form === 2 ? bit(RCX) : 0), memW: rm.kind === 'mem' };
  if (rm.kind === 'reg') eff = { ...eff, ...g.wrReg(rm.r, s) };
  return g.main({ os: s, op: [opc], reg: op, rm, byteRm: s === 1, imm }, eff);
};

// SHLD/SHRD: count 0 changes nothing; count > width leaves result and flags undefined;
// otherwise CF SF ZF PF defined, OF only for count 1, AF undefined.
const shld: Template = (g) => {
  const rng = g.rng, s = g.opSize(false), bits = s * 8;
  const rm = g.rm(s), reg = g.reg(s);
  const right = rng.chance(0.5), cl = rng.chance(0.5);
  const count = g.count(bits);
  const mc = count & (s === 8 ? 0x3f : 0x1f);
  let eff: Eff;
  if (mc === 0) eff = {};
  else if (mc > bits) {
    if (rm.kind === 'mem') return false;
    eff = { fu: ALL6, taint: bit(rm.r) };
  } else eff = { fd: CF | SF | ZF | PF | (mc === 1 ? OF : 0), fu: AF | (mc === 1 ? 0 : OF) };
  if (cl && !g.emit([0xb1, count], { wr: bit(RCX) })) return false;
  eff = { ...eff, rd: g.rdOf(rm) | bit(reg) | (cl ? bit(RCX) : 0), memW: rm.kind === 'mem' };
  if (rm.kind === 'reg') eff.wr = bit(rm.r);
  return g.main({ os: s, op: [0x0f, (right ? 0xac : 0xa4) + (cl ? 1 : 0)], reg, rm, imm: cl ? [] : [count] }, eff);
};

// BT BTS BTR BTC: CF = the bit; ZF unchanged; OF SF AF PF undefined.
const bt: Template = (g) => {
  const rng = g.rng, s = g.opSize(false), kind = rng.int(4);
  const flags: Eff = { fd: CF, fu: OF | SF | AF | PF };
  const writes = kind !== 0;
  if (rng.chance(0.5)) {
    const rm = g.rm(s);
    const lock = writes && rm.kind === 'mem' && rng.chance(0.15);
    let eff: Eff = { ...flags, rd: g.rdOf(rm), memW: writes && rm.kind === 'mem' };
    if (writes && rm.kind === 'reg') eff.wr = bit(rm.r);
    return g.main({ pfx: lock ? [0xf0] : [], os: s, op: [0x0f, 0xba], reg: 4 + kind, rm, imm: [rng.int(256)] }, eff);
  }
  const op = [0x0f, [0xa3, 0xab, 0xb3, 0xbb][kind]];
  if (rng.chance(0.5)) {
    const rm = g.rm(s, false, 0), reg = g.reg(s);
    return g.main({ os: s, op, reg, rm }, { ...flags, rd: bit(reg) | g.rdOf(rm), wr: writes ? bit((rm as RegOp).r) : 0 });
  }
  // Memory with a register bit offset: the offset is signed and may reach outside the operand,
  // so it is either X (-32..63) or set to -1024..1023 just before.
  const m = g.dataMem(s);
  let off = g.X;
  if (rng.chance(0.5)) {
    off = g.reg(8);
    const v = rng.range(-1024, 1023);
    if (!g.emit({ os: 8, op: [0xc7], reg: 0, rm: { kind: 'reg', r: off }, imm: le(v, 4) }, { wr: bit(off) })) return false;
  }
  const lock = writes && rng.chance(0.15);
  return g.main({ pfx: lock ? [0xf0] : [], os: s, op, reg: off, rm: m }, { ...flags, rd: bit(off), memW: writes });
};

// BSF/BSR: ZF defined, CF OF SF AF PF undefined; destination undefined when the source is 0,
// so it is masked unless the source value is known and non-zero. (No F3 prefix: TZCNT/LZCNT.)
const bsf: Template = (g) => {
  const rng = g.rng, s = g.opSize(false);
  const rm = g.rm(s), reg = g.reg(s);
  const v = g.known(rm, s);
  const eff: Eff = { fd: ZF, fu: CF | OF | SF | AF | PF, rd: g.rdOf(rm), wr: bit(reg) };
  if (v === null || v === 0n) eff.taint = bit(reg);
  return g.main({ os: s, op: [0x0f, rng.chance(0.5) ? 0xbc : 0xbd], reg, rm }, eff);
};

// POPCNT/LZCNT/TZCNT (F3 0F B8/BD/BC): POPCNT defines all six flags (ZF = source is 0, the
// rest 0); LZCNT/TZCNT define CF (source 0) and ZF (result 0) and leave OF SF AF PF undefined.
const bitCount: Template = (g) => {
  const rng = g.rng, s = g.opSize(false);
  const kinds = [HOST.popcnt ? 0xb8 : 0, HOST.lzcnt ? 0xbd : 0, HOST.tzcnt ? 0xbc : 0].filter(Boolean);
  if (kinds.length === 0) return false;
  const op = rng.pick(kinds);
  const rm = g.rm(s), reg = g.reg(s);
  const flags: Eff = op === 0xb8 ? { fd: ALL6 } : { fd: CF | ZF, fu: OF | SF | AF | PF };
  return g.main({ pfx: [0xf3], os: s, op: [0x0f, op], reg, rm }, { ...flags, rd: g.rdOf(rm), wr: bit(reg) });
};

// MOVBE (0F 38 F0 load, F1 store; memory operand only): no flags.
const movbe: Template = (g) => {
  if (!HOST.movbe) return false;
  const s = g.opSize(false), m = g.dataMem(s), reg = g.reg(s);
  if (g.rng.chance(0.5)) return g.main({ os: s, op: [0x0f, 0x38, 0xf0], reg, rm: m }, { wr: bit(reg) });
  return g.main({ os: s, op: [0x0f, 0x38, 0xf1], reg, rm: m }, { rd: bit(reg), memW: true });
};

// CRC32 (F2 0F 38 F0 with a byte source, F1 with 16/32/64): the destination (32 bits, or 64 with
// REX.W) is both read and written; no flags.
const crc32: Template = (g) => {
  if (!HOST.crc32) return false;
  const rng = g.rng;
  const src = rng.pick([1, 2, 4, 8]);
  const dst = src === 8 || (src === 1 && rng.chance(0.3)) ? 8 : 4;
  const rm = g.rm(src, rng.chance(0.4)), reg = g.reg(dst);
  return g.main({ pfx: [0xf2], os: src === 2 ? 2 : dst, op: [0x0f, 0x38, src === 1 ? 0xf0 : 0xf1], reg, rm, byteRm: src === 1 },
    { rd: bit(reg) | g.rdOf(rm), wr: bit(reg) });
};

// BSWAP of a 16-bit register is undefined: 32/64 only.
const bswap: Template = (g) => {
  const s = g.rng.chance(0.5) ? 4 : 8, r = g.reg(s);
  return g.main({ os: s, op: [0x0f, 0xc8], opReg: r }, { rd: bit(r), wr: bit(r) });
};

const cmov: Template = (g) => {
  const s = g.opSize(false), cc = g.rng.int(16);
  const rm = g.rm(s), reg = g.reg(s);
  // A 32-bit CMOV writes (zero-extends) the destination even when the condition is false.
  return g.main({ os: s, op: [0x0f, 0x40 + cc], reg, rm }, { fr: CC_FLAGS[cc], rd: bit(reg) | g.rdOf(rm), wr: bit(reg) });
};

const xchg: Template = (g) => {
  const rng = g.rng, s = g.opSize();
  if (s !== 1 && rng.chance(0.3)) {
    const r = g.reg(s);
    // 90 without REX.B is NOP even for 32 bits (no zero extension of RAX).
    const eff: Eff = r === 0 ? {} : { rd: bit(r) | bit(RAX), wr: bit(r) | bit(RAX) };
    return g.main({ os: s, op: [0x90], opReg: r }, eff);
  }
  const legacy = rng.chance(0.4);
  const rm = g.rm(s, legacy), reg = g.reg(s, legacy);
  let eff: Eff = { rd: bit(reg) | g.rdOf(rm), memW: rm.kind === 'mem', ...g.wrReg(reg, s) };
  if (rm.kind === 'reg') {
    const e2 = g.wrReg(rm.r, s);
    eff = { ...eff, wr: (eff.wr ?? 0) | (e2.wr ?? 0), splW: eff.splW || e2.splW };
  }
  const lock = rm.kind === 'mem' && rng.chance(0.2);
  return g.main({ pfx: lock ? [0xf0] : [], os: s, op: [s === 1 ? 0x86 : 0x87], reg, byteReg: s === 1, rm, byteRm: s === 1 }, eff);
};

const xadd: Template = (g) => {
  const rng = g.rng, s = g.opSize(), legacy = rng.chance(0.4);
  const rm = g.rm(s, legacy), reg = g.reg(s, legacy);
  let eff: Eff = { fd: ALL6, rd: bit(reg) | g.rdOf(rm), memW: rm.kind === 'mem', ...g.wrReg(reg, s) };
  if (rm.kind === 'reg') {
    const e2 = g.wrReg(rm.r, s);
    eff = { ...eff, wr: (eff.wr ?? 0) | (e2.wr ?? 0), splW: eff.splW || e2.splW };
  }
  const lock = rm.kind === 'mem' && rng.chance(0.3);
  return g.main({ pfx: lock ? [0xf0] : [], os: s, op: [0x0f, s === 1 ? 0xc0 : 0xc1], reg, byteReg: s === 1, rm, byteRm: s === 1 }, eff);
};

// CMPXCHG: flags as CMP. Half the time the accumulator is loaded from the destination first so
// that the compare succeeds.
const cmpxchg: Template = (g) => {
  const rng = g.rng, s = g.opSize(), legacy = rng.chance(0.4), w = s === 1 ? 0 : 1;
  const rm = g.rm(s, legacy), reg = g.reg(s, legacy);
  if (rng.chance(0.5)) {
    const src: Rm = rm.kind === 'reg' ? rm : g.memAt(rm.addr);
    if (!g.emit({ os: s, op: [0x8a + w], reg: 0, byteReg: s === 1, rm: src, byteRm: s === 1 }, { rd: g.rdOf(src), wr: bit(RAX) })) return false;
  }
  const lock = rm.kind === 'mem' && rng.chance(0.3);
  let eff: Eff = { fd: ALL6, rd: bit(RAX) | bit(reg) | g.rdOf(rm), wr: bit(RAX), memW: rm.kind === 'mem' };
  if (rm.kind === 'reg') {
    const e2 = g.wrReg(rm.r, s);
    eff = { ...eff, wr: (eff.wr ?? 0) | (e2.wr ?? 0), splW: e2.splW };
  }
  return g.main({ pfx: lock ? [0xf0] : [], os: s, op: [0x0f, 0xb0 + w], reg, byteReg: s === 1, rm, byteRm: s === 1 }, eff);
};

// CMPXCHG8B/16B: only ZF changes. 16B needs a 16-byte aligned operand (else #GP).
const cmpxchg8b: Template = (g) => {
  const rng = g.rng, wide = rng.chance(0.4), n = wide ? 16 : 8, half = n / 2;
  const m = g.dataMem(n, wide ? 16 : 1);
  if (rng.chance(0.5)) {
    const os = wide ? 8 : 4;
    if (!g.emit({ os, op: [0x8b], reg: RAX, rm: g.memAt(m.addr) }, { wr: bit(RAX) })) return false;
    if (!g.emit({ os, op: [0x8b], reg: RDX, rm: g.memAt(m.addr + half) }, { wr: bit(RDX) })) return false;
  }
  const lock = rng.chance(0.3);
  return g.main({ pfx: lock ? [0xf0] : [], os: wide ? 8 : 4, op: [0x0f, 0xc7], reg: 1, rm: m },
    { fd: ZF, rd: bit(RAX) | bit(RDX) | bit(RBX) | bit(RCX), wr: bit(RAX) | bit(RDX), memW: true });
};

const lea: Template = (g) => {
  const s = g.opSize(false), reg = g.reg(s), m = g.anyAddr();
  return g.main({ os: s, op: [0x8d], reg, rm: m }, { rd: g.memRegs(m), wr: bit(reg) });
};

const mov: Template = (g) => {
  const rng = g.rng, s = g.opSize(), legacy = rng.chance(0.4), w = s === 1 ? 0 : 1;
  switch (rng.int(6)) {
    case 0: case 1: { // 88/89 r/m <- r, 8A/8B r <- r/m
      const rm = g.rm(s, legacy), reg = g.reg(s, legacy), toRm = rng.chance(0.5);
      let eff: Eff;
      if (toRm) eff = { rd: bit(reg), memW: rm.kind === 'mem', ...(rm.kind === 'reg' ? g.wrReg(rm.r, s) : {}) };
      else eff = { rd: g.rdOf(rm), ...g.wrReg(reg, s) };
      return g.main({ os: s, op: [(toRm ? 0x88 : 0x8a) + w], reg, byteReg: s === 1, rm, byteRm: s === 1 }, eff);
    }
    case 2: { // C6/C7 /0
      const rm = g.rm(s, legacy);
      const eff: Eff = { memW: rm.kind === 'mem', ...(rm.kind === 'reg' ? g.wrReg(rm.r, s) : {}) };
      return g.main({ os: s, op: [0xc6 + w], reg: 0, rm, byteRm: s === 1, imm: g.imm(s) }, eff);
    }
    case 3: { // B0+r ib, B8+r iw/id/io
      const r = g.reg(s, legacy);
      const imm = s === 8 ? le(rng.chance(0.5) ? rng.u64() : BigInt(rng.u32()), 8) : g.imm(s);
      return g.main({ os: s, op: [s === 1 ? 0xb0 : 0xb8], opReg: r, byteOpReg: s === 1, imm }, g.wrReg(r, s));
    }
    case 4: { // A0-A3 moffs (8-byte address, 4 with 0x67)
      const m = g.dataMem(s), a32 = rng.chance(0.2), store = rng.chance(0.5);
      const bytes = [...(s === 2 ? [0x66] : []), ...(a32 ? [0x67] : []), ...(s === 8 ? [0x48] : []),
        (store ? 0xa2 : 0xa0) + w, ...le(m.addr, a32 ? 4 : 8)];
      return g.emit(bytes, store ? { rd: bit(RAX), memW: true } : { wr: bit(RAX) });
    }
    default: { // MOVZX MOVSX MOVSXD
      const k = rng.int(5);
      if (k === 4) {
        const rm = g.rm(4), reg = g.reg(8);
        return g.main({ os: 8, op: [0x63], reg, rm }, { rd: g.rdOf(rm), wr: bit(reg) });
      }
      const src = k < 2 ? 1 : 2, sx = k % 2 === 1;
      const ds = src === 1 ? rng.pick([2, 4, 8]) : rng.pick([4, 8]);
      const rm = g.rm(src, legacy), reg = g.reg(ds);
      return g.main({ os: ds, op: [0x0f, (sx ? 0xbe : 0xb6) + (src === 2 ? 1 : 0)], reg, rm, byteRm: src === 1 },
        { rd: g.rdOf(rm), wr: bit(reg) });
    }
  }
};

const cbw: Template = (g) => {
  const s = g.rng.pick([2, 4, 8]);
  return g.rng.chance(0.5)
    ? g.main({ os: s, op: [0x98] }, { rd: bit(RAX), wr: bit(RAX) })
    : g.main({ os: s, op: [0x99] }, { rd: bit(RAX), wr: bit(RDX) });
};

const push: Template = (g) => {
  const rng = g.rng, s = rng.chance(0.85) ? 8 : 2, sp = -s;
  switch (rng.int(4)) {
    case 0: { const r = g.reg(8); return g.main({ os: s === 2 ? 2 : 0, op: [0x50], opReg: r }, { rd: bit(r), sp }); }
    case 1: return g.main({ os: s === 2 ? 2 : 0, op: [0x6a], imm: [rng.int(256)] }, { sp });
    case 2: return g.main({ os: s === 2 ? 2 : 0, op: [0x68], imm: g.imm(s === 2 ? 2 : 4) }, { sp });
    default: { const rm = g.rm(s); return g.main({ os: s === 2 ? 2 : 0, op: [0xff], reg: 6, rm }, { rd: g.rdOf(rm), sp }); }
  }
};
const pop: Template = (g) => {
  const rng = g.rng, s = rng.chance(0.85) ? 8 : 2, sp = s;
  if (rng.chance(0.6)) { const r = g.reg(8); return g.main({ os: s === 2 ? 2 : 0, op: [0x58], opReg: r }, { wr: bit(r), sp }); }
  // POP r/m: an RSP-based address would be computed after the increment; not generated.
  const rm: Rm = rng.chance(0.5) ? g.dataMem(s, 1, true) : { kind: 'reg', r: g.reg(8) };
  return g.main({ os: s === 2 ? 2 : 0, op: [0x8f], reg: 0, rm }, { sp, memW: rm.kind === 'mem', wr: rm.kind === 'reg' ? bit(rm.r) : 0 });
};

const flagOps: Template = (g) => {
  const rng = g.rng;
  switch (rng.int(9)) {
    case 0: return g.emit([0x9f], { fr: SF | ZF | AF | PF | CF, wr: bit(RAX) }); // LAHF
    case 1: return g.emit([0x9e], { rd: bit(RAX), fd: SF | ZF | AF | PF | CF }); // SAHF
    case 2: return g.emit([0xf8], { fd: CF }); // CLC
    case 3: return g.emit([0xf9], { fd: CF }); // STC
    case 4: return g.emit([0xf5], { fr: CF, fd: CF }); // CMC
    case 5: return g.emit([rng.chance(0.5) ? 0xfc : 0xfd]); // CLD STD
    case 6: return rng.chance(0.8) ? g.emit([0x9c], { fr: ALL6, sp: -8 }) : g.emit([0x66, 0x9c], { fr: ALL6, sp: -2 });
    default: { // POPF of a pushed immediate: only arithmetic flags, DF, and IF=1 (as in user mode)
      const v = (rng.u32() & (ALL6 | DF)) | IF | 2;
      if (rng.chance(0.8)) return g.emit([0x68, ...le(v, 4)], { sp: -8 }) && g.emit([0x9d], { fd: ALL6, sp: 8 });
      return g.emit([0x66, 0x68, ...le(v, 2)], { sp: -2 }) && g.emit([0x66, 0x9d], { fd: ALL6, sp: 2 });
    }
  }
};
// String instructions with RSI/RDI set into the scratch area and a small RCX for REP.
const string: Template = (g) => {
  const rng = g.rng, s = g.opSize(), w = s === 1 ? 0 : 1;
  const kind = rng.pick(['movs', 'stos', 'lods', 'scas', 'cmps'] as const);
  const base = { movs: 0xa4, stos: 0xaa, lods: 0xac, scas: 0xae, cmps: 0xa6 }[kind];
  const cmp = kind === 'scas' || kind === 'cmps';
  const rep = rng.int(3); // 0 none, 1 REP/REPE, 2 REPNE (compares only)
  const pfx = rep === 0 ? [] : rep === 1 || !cmp ? [0xf3] : [0xf2];
  const useSi = kind === 'movs' || kind === 'lods' || kind === 'cmps';
  const useDi = kind !== 'lods';
  const a32 = rng.chance(0.1);
  if (useSi && !g.emit([0xbe, ...le(rng.range(DATA_LO + 64, DATA_HI - 80), 4)], { wr: bit(RSI) })) return false;
  if (useDi && !g.emit([0xbf, ...le(rng.range(DATA_LO + 64, DATA_HI - 80), 4)], { wr: bit(RDI) })) return false;
  const n = rng.chance(0.15) ? 0 : rng.range(1, 8);
  if (pfx.length && !g.emit([0xb9, ...le(n, 4)], { wr: bit(RCX) })) return false;
  const wr = (useSi ? bit(RSI) : 0) | (useDi ? bit(RDI) : 0) | (pfx.length ? bit(RCX) : 0) | (kind === 'lods' ? bit(RAX) : 0);
  const rd = wr | (kind === 'stos' || kind === 'scas' ? bit(RAX) : 0);
  const eff: Eff = { rd, wr, memW: kind === 'movs' || kind === 'stos' };
  if (cmp && (pfx.length === 0 || n > 0)) eff.fd = ALL6;
  const bytes = [...pfx, ...(s === 2 ? [0x66] : []), ...(a32 ? [0x67] : []), ...(s === 8 ? [0x48] : []), base + w];
  return g.emit(bytes, eff);
};

const nop: Template = (g) => {
  const rng = g.rng;
  switch (rng.int(4)) {
    case 0: return g.emit([0x90]);
    case 1: return g.emit([0x66, 0x90]);
    case 2: return g.emit([0xf3, 0x90]); // PAUSE
    default: { // 0F 1F /0: the operand is not accessed
      const m = g.anyAddr();
      return g.emit({ os: rng.pick([2, 4]), op: [0x0f, 0x1f], reg: 0, rm: rng.chance(0.8) ? m : { kind: 'reg', r: g.reg(4) } });
    }
  }
};

// Encodings that must raise #UD (SDM Vol. 2 appendix A: 82 is invalid in 64-bit mode; LOCK on a
// register destination; CMPXCHG8B with a register operand; UD2).
const ud: Template = (g) => {
  switch (g.rng.int(4)) {
    case 0: return g.emit([0x0f, 0x0b], { end: true });
    case 1: return g.emit([0x82, 0xc0 | g.rng.int(64), g.rng.int(256)], { end: true });
    case 2: return g.emit([0xf0, 0x01, 0xc0 | g.rng.int(64)], { end: true });
    default: return g.emit([0x0f, 0xc7, 0xc8 | g.rng.int(8)], { end: true });
  }
};

const TEMPLATES = {
  alu: [alu, 14], test: [test, 3], incdec: [incdec, 3], negnot: [negnot, 3], mul: [mul, 3], imul: [imul, 3],
  div: [div, 4], shift: [shift, 9], shld: [shld, 4], bt: [bt, 5], bsf: [bsf, 3], bswap: [bswap, 1], cmov: [cmov, 3],
  setcc: [setcc, 2], xchg: [xchg, 2], xadd: [xadd, 2], cmpxchg: [cmpxchg, 3], cmpxchg8b: [cmpxchg8b, 2], lea: [lea, 4],
  mov: [mov, 6], cbw: [cbw, 2], push: [push, 3], pop: [pop, 3], flagOps: [flagOps, 4], string: [string, 4],
  nop: [nop, 1], ud: [ud, 0.1], bitCount: [bitCount, 2], movbe: [movbe, 1], crc32: [crc32, 1],
} satisfies Record<string, [Template, number]>;
export type TemplateName = keyof typeof TEMPLATES;
// HOSTDIFF_EXCLUDE=push,pop leaves templates out (to look past a known bug while fixing it).
const EXCLUDED = new Set((process.env.HOSTDIFF_EXCLUDE ?? '').split(',').filter(Boolean));
const WEIGHTED = Object.entries(TEMPLATES).filter(([n]) => !EXCLUDED.has(n)).map(([, tw]) => tw);
const TOTAL_WEIGHT = WEIGHTED.reduce((a, [, w]) => a + w, 0);
function pickTemplate(rng: Rng): Template {
  let x = (rng.u32() / 4294967296) * TOTAL_WEIGHT;
  for (const [t, w] of WEIGHTED) if ((x -= w) < 0) return t;
  return WEIGHTED[0][0];
}

/** Case `index` of the run with `seed`; sizes rotate 16/32/64-bit by index. Each case has its
 * own PRNG stream, so one case can be regenerated alone. `forced` fixes the templates (tests). */
export function generateCase(seed: number, index: number, forced?: TemplateName[]): HostdiffCase {
  const rng = new Rng((seed ^ Math.imul(index + 1, 0x2545f491)) >>> 0);
  return new Gen(rng).generate(index, [2, 4, 8][index % 3], forced);
}

export function generateCases(seed: number, count: number, first = 0): HostdiffCase[] {
  const out: HostdiffCase[] = [];
  for (let i = first; i < first + count; i++) out.push(generateCase(seed, i));
  return out;
}

/** The mask state at a code offset (an instruction boundary), or null if it is not one. */
export function masksAt(c: HostdiffCase, offset: number): { undef: number; taint: number } | null {
  const i = c.bounds.indexOf(offset);
  return i < 0 ? null : { undef: c.undef[i], taint: c.taint[i] };
}

/** Serialise cases in native-runner.c's input format. */
export function encodeCases(cases: HostdiffCase[]): Buffer {
  let total = 0;
  for (const c of cases) total += 8 + 17 * 8 + c.code.length;
  const buf = Buffer.alloc(total);
  let p = 0;
  for (const c of cases) {
    buf.writeUInt32LE(c.code.length, p); buf.writeUInt32LE(c.memSeed, p + 4); p += 8;
    for (const r of c.regs) { buf.writeBigUInt64LE(r, p); p += 8; }
    buf.writeBigUInt64LE(c.rflags, p); p += 8;
    buf.set(c.code, p); p += c.code.length;
  }
  return buf;
}

/** The first `k` instructions of a case (to find the first instruction that goes wrong). */
export function truncateCase(c: HostdiffCase, k: number): HostdiffCase {
  return {
    ...c, code: c.code.slice(0, c.bounds[k]), bounds: c.bounds.slice(0, k + 1),
    undef: c.undef.slice(0, k + 1), taint: c.taint.slice(0, k + 1),
  };
}
