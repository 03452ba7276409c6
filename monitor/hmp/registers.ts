// `info registers` and the `$name` registers of monitor expressions, from a RegisterSnapshot.
// The layout is QEMU 7.2's x86-64 dump: 64-bit columns while CS is a 64-bit code segment, 32-bit
// ones otherwise, and 64-bit descriptor tables whenever long mode is active.

import type { CpuApi } from '../../cpu/types.ts';
import { hex } from './format.ts';
import type { RegisterSnapshot, SegmentSnapshot } from './target.ts';

const EFER_MSR = 0xc0000080;
const EFER_LMA = 0x400n;

// Descriptor flag bits (second dword of a descriptor).
const D_ACCESSED = 1 << 8;
const D_RW = 1 << 9; // readable code / writable data
const D_CE = 1 << 10; // conforming code / expand-down data
const D_CODE = 1 << 11;
const D_S = 1 << 12;
const D_P = 1 << 15;
const D_L = 1 << 21;
const D_B = 1 << 22;

const SYSTEM_TYPES_32 = [
  'Reserved', 'TSS16-avl', 'LDT', 'TSS16-busy', 'CallGate16', 'TaskGate', 'IntGate16', 'TrapGate16',
  'Reserved', 'TSS32-avl', 'Reserved', 'TSS32-busy', 'CallGate32', 'Reserved', 'IntGate32', 'TrapGate32',
];
const SYSTEM_TYPES_64 = [
  '<hiword>', 'Reserved', 'LDT', 'Reserved', 'Reserved', 'Reserved', 'Reserved', 'Reserved',
  'Reserved', 'TSS64-avl', 'Reserved', 'TSS64-busy', 'CallGate64', 'Reserved', 'IntGate64', 'TrapGate64',
];

interface Mode {
  pe: boolean;
  lma: boolean;
  /** Long mode with a 64-bit code segment. */
  cs64: boolean;
}

function modeOf(s: RegisterSnapshot): Mode {
  const pe = (s.cr0 & 1n) !== 0n;
  const lma = (s.efer & EFER_LMA) !== 0n;
  const cs64 = lma && (s.segs[1].flags & D_L) !== 0;
  return { pe, lma, cs64 };
}

function segmentLine(name: string, sc: SegmentSnapshot, m: Mode): string {
  const flags = sc.flags & 0x00ffff00;
  const base = m.cs64 ? hex(sc.base, 16) : hex(sc.base & 0xffffffffn, 8);
  let line = `${name.padEnd(3)}=${hex(sc.selector & 0xffff, 4)} ${base} ${hex(sc.limit, 8)} ${hex(flags, 8)}`;
  if (m.pe && (sc.flags & D_P) !== 0) {
    line += ` DPL=${(sc.flags >> 13) & 3} `;
    if (sc.flags & D_S) {
      if (sc.flags & D_CODE) {
        line += sc.flags & D_L ? 'CS64' : sc.flags & D_B ? 'CS32' : 'CS16';
        line += ` [${sc.flags & D_CE ? 'C' : '-'}${sc.flags & D_RW ? 'R' : '-'}`;
      } else {
        line += sc.flags & D_B || m.lma ? 'DS  ' : 'DS16';
        line += ` [${sc.flags & D_CE ? 'E' : '-'}${sc.flags & D_RW ? 'W' : '-'}`;
      }
      line += `${sc.flags & D_ACCESSED ? 'A' : '-'}]`;
    } else {
      line += (m.lma ? SYSTEM_TYPES_64 : SYSTEM_TYPES_32)[(sc.flags >> 8) & 15];
    }
  }
  return line + '\n';
}

/** The register dump `info registers` prints for one CPU (without the "CPU#n" header). */
export function formatRegisters(s: RegisterSnapshot): string {
  const m = modeOf(s);
  const r = (i: number) => s.regs[i] ?? 0n;
  const eflags = Number(s.rflags & 0xffffffffn);
  const cpl = s.cpl ?? (m.pe ? (s.segs[2].flags >> 13) & 3 : 0);
  const flagChars =
    (eflags & 0x400 ? 'D' : '-') +
    (eflags & 0x800 ? 'O' : '-') +
    (eflags & 0x80 ? 'S' : '-') +
    (eflags & 0x40 ? 'Z' : '-') +
    (eflags & 0x10 ? 'A' : '-') +
    (eflags & 0x04 ? 'P' : '-') +
    (eflags & 0x01 ? 'C' : '-');
  const status =
    `[${flagChars}] CPL=${cpl} II=${s.interruptShadow ? 1 : 0} A20=${s.a20 === false ? 0 : 1} ` +
    `SMM=${s.smm ? 1 : 0} HLT=${s.halted ? 1 : 0}\n`;
  let out = '';
  if (m.cs64) {
    const q = (i: number) => hex(r(i), 16);
    out +=
      `RAX=${q(0)} RBX=${q(3)} RCX=${q(1)} RDX=${q(2)}\n` +
      `RSI=${q(6)} RDI=${q(7)} RBP=${q(5)} RSP=${q(4)}\n` +
      `R8 =${q(8)} R9 =${q(9)} R10=${q(10)} R11=${q(11)}\n` +
      `R12=${q(12)} R13=${q(13)} R14=${q(14)} R15=${q(15)}\n` +
      `RIP=${hex(s.rip, 16)} RFL=${hex(eflags, 8)} ${status}`;
  } else {
    const d = (i: number) => hex(r(i) & 0xffffffffn, 8);
    out +=
      `EAX=${d(0)} EBX=${d(3)} ECX=${d(1)} EDX=${d(2)}\n` +
      `ESI=${d(6)} EDI=${d(7)} EBP=${d(5)} ESP=${d(4)}\n` +
      `EIP=${hex(s.rip & 0xffffffffn, 8)} EFL=${hex(eflags, 8)} ${status}`;
  }
  const names = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
  for (let i = 0; i < 6; i++) out += segmentLine(names[i], s.segs[i], m);
  out += segmentLine('LDT', s.ldt, m);
  out += segmentLine('TR', s.tr, m);

  const dr = (i: number, dflt: bigint) => s.dr?.[i] ?? dflt;
  const low32 = (v: bigint) => hex(v & 0xffffffffn, 8);
  if (m.lma) {
    out += `GDT=     ${hex(s.gdt.base, 16)} ${hex(s.gdt.limit, 8)}\n`;
    out += `IDT=     ${hex(s.idt.base, 16)} ${hex(s.idt.limit, 8)}\n`;
    out += `CR0=${low32(s.cr0)} CR2=${hex(s.cr2, 16)} CR3=${hex(s.cr3, 16)} CR4=${low32(s.cr4)}\n`;
  } else {
    out += `GDT=     ${low32(s.gdt.base)} ${hex(s.gdt.limit, 8)}\n`;
    out += `IDT=     ${low32(s.idt.base)} ${hex(s.idt.limit, 8)}\n`;
    out += `CR0=${low32(s.cr0)} CR2=${low32(s.cr2)} CR3=${low32(s.cr3)} CR4=${low32(s.cr4)}\n`;
  }
  for (let i = 0; i < 4; i++) out += `DR${i}=${hex(dr(i, 0n), 16)} `;
  out += `\nDR6=${hex(dr(4, 0xffff0ff0n), 16)} DR7=${hex(dr(5, 0x400n), 16)}\n`;
  out += `EFER=${hex(s.efer, 16)}\n`;

  const fpu = s.fpu ?? { fcw: 0x37f, fsw: 0, ftw: 0, regs: [] };
  out += `FCW=${hex(fpu.fcw & 0xffff, 4)} FSW=${hex(fpu.fsw & 0xffff, 4)} [ST=${(fpu.fsw >> 11) & 7}] `;
  out += `FTW=${hex(fpu.ftw & 0xff, 2)} MXCSR=${hex(s.mxcsr ?? 0x1f80, 8)}\n`;
  for (let i = 0; i < 8; i++) {
    const reg = fpu.regs[i] ?? { mantissa: 0n, exponent: 0 };
    out += `FPR${i}=${hex(reg.mantissa, 16)} ${hex(reg.exponent & 0xffff, 4)}${i & 1 ? '\n' : ' '}`;
  }
  const nXmm = m.cs64 ? 16 : 8;
  for (let i = 0; i < nXmm; i++) {
    const [lo, hi] = s.xmm?.[i] ?? [0n, 0n];
    out += `XMM${String(i).padStart(2, '0')}=${hex(hi, 16)} ${hex(lo, 16)}${i & 1 ? '\n' : ' '}`;
  }
  return out;
}

/**
 * The value of `$name` in an expression, or null if QEMU has no such name. As in QEMU, the
 * general registers are whole 64-bit registers under their 32-bit names, selectors and limits are
 * signed 32-bit, and $pc is CS base + RIP.
 */
export function registerValue(s: RegisterSnapshot, name: string): bigint | null {
  const gpr: Record<string, number> = {
    eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, sp: 4, ebp: 5, fp: 5, esi: 6, edi: 7,
    r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
  };
  if (Object.hasOwn(gpr, name)) return BigInt.asIntN(64, s.regs[gpr[name]] ?? 0n);
  if (name === 'eflags') return BigInt.asIntN(64, s.rflags);
  if (name === 'eip') return BigInt.asIntN(64, s.rip);
  if (name === 'pc') return BigInt.asIntN(64, s.rip + s.segs[1].base);
  const segIndex: Record<string, number> = { es: 0, cs: 1, ss: 2, ds: 3, fs: 4, gs: 5 };
  const [seg, field, extra] = name.split('.');
  if (extra !== undefined || !Object.hasOwn(segIndex, seg)) return null;
  const sc = s.segs[segIndex[seg]];
  if (field === undefined) return BigInt(sc.selector | 0);
  if (field === 'base') return BigInt.asIntN(64, sc.base);
  if (field === 'limit') return BigInt(sc.limit | 0);
  return null;
}

/**
 * A snapshot from what CpuApi exposes. The rest (FPU, SSE, debug registers, HLT, interrupt
 * shadow) is the caller's to add; absent fields print as after reset.
 */
export function snapshotFromCpu(cpu: CpuApi): RegisterSnapshot {
  const seg = (i: number): SegmentSnapshot => {
    const s = cpu.getSeg(i);
    return { selector: s.selector, base: s.base, limit: s.limit, flags: s.flags };
  };
  return {
    regs: Array.from({ length: 16 }, (_, i) => cpu.getReg(i)),
    rip: cpu.getRip(),
    rflags: cpu.getRflags(),
    segs: [0, 1, 2, 3, 4, 5].map(seg),
    ldt: seg(6),
    tr: seg(7),
    gdt: cpu.getGdtr(),
    idt: cpu.getIdtr(),
    cr0: cpu.getCr(0),
    cr2: cpu.getCr(2),
    cr3: cpu.getCr(3),
    cr4: cpu.getCr(4),
    efer: cpu.getMsr(EFER_MSR),
  };
}
