// Hardware task switching in 32-bit protected mode (SDM Vol. 3A chapter 7): JMP to a TSS, CALL
// through a task gate and IRET back, INT n through an IDT task gate, an exception with an error
// code through a task gate, and #TS before and after the commit point.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, Reg, Seg, type CpuHost } from '../cpu/types.ts';

const CODE = 0x10000;
const GDT = 0x1000;
const IDT = 0x2000;
const STOP_PORT = 0xf4;

// GDT selectors.
const CODE_SEL = 0x08;
const DATA_SEL = 0x10;
const TSS_A = 0x18; // the task running at the start
const TSS_B = 0x20; // JMP target
const TSS_C = 0x28; // reached through the task gate below
const GATE_C = 0x30; // task gate in the GDT -> TSS_C
const TSS_D = 0x38; // INT 0x40 (IDT task gate)
const TSS_E = 0x40; // bad SS selector: #TS after the commit point
const TSS_F = 0x48; // #TS handler task (IDT vector 10)
const TSS_SHORT = 0x50; // limit 0x20 < 0x67: #TS before the commit point
const TSS_G = 0x58; // #GP handler task (IDT vector 13)
const TSS_V = 0x60; // virtual-8086 task (EFLAGS.VM = 1 in its TSS)
const TSS_H = 0x68; // 16-bit TSS
const CODE16_SEL = 0x70; // 32-bit code with base CODE, so that the 16-bit TSS's IP can reach it
const TSS_U = 0x78; // #UD handler task (IDT vector 6) with a bad SS selector
const GDT_LIMIT = 0x7f;

const tssBase = (sel: number) => 0x3000 + ((sel - TSS_A) / 8) * 0x100;

// 32-bit TSS offsets (SDM Vol. 3A Figure 7-2).
const T = { link: 0, cr3: 0x1c, eip: 0x20, eflags: 0x24, eax: 0x28, ecx: 0x2c, edx: 0x30, ebx: 0x34, esp: 0x38, ebp: 0x3c, esi: 0x40, edi: 0x44, es: 0x48, cs: 0x4c, ss: 0x50, ds: 0x54, fs: 0x58, gs: 0x5c, ldt: 0x60 };

const SRC = `
.code32
.globl _start
_start:
testJmp:
  mov $0x11111111, %eax
  mov $0x22222222, %ebx
  ljmp $${TSS_B}, $0
jmpAfter:
  hlt
taskB:
  mov %eax, %ecx
  out %al, $${STOP_PORT}
  hlt

testCall:
  mov $0xaaaa, %eax
  mov $0xbbbb, %edx
  lcall $${GATE_C}, $0
callRet:
  mov %eax, %esi
  out %al, $${STOP_PORT}
  hlt
taskC:
  mov $0xc0c0, %edx
  pushf
  pop %edi
  out %al, $${STOP_PORT}
  iret
taskCAfterIret:
  jmp taskC

testInt:
  mov $0x1234, %ecx
  int $0x40
intRet:
  out %al, $${STOP_PORT}
  hlt
taskD:
  str %bx
  pushf
  pop %edi
  iret
  jmp taskD

testTsAfterCommit:
  ljmp $${TSS_E}, $0
  hlt
taskE:
  mov $1, %eax
  hlt
taskF:
  pop %eax
  str %bx
  out %al, $${STOP_PORT}
  hlt

testTsBeforeCommit:
  mov $0x5555, %esi
shortJmp:
  ljmp $${TSS_SHORT}, $0
  hlt

testGp:
  mov $0x1233, %ax
gpInsn:
  mov %ax, %ds
  hlt
taskG:
  pop %eax
  str %bx
  out %al, $${STOP_PORT}
  hlt

testBusy:
  ljmp $${TSS_A}, $0
  hlt

testUd:
  ud2
  hlt

testV86:
  ljmp $${TSS_V}, $0
  hlt
.code16
taskV:
  mov $0x77, %al
  hlt
.code32

testJmp16:
  mov $0x12345678, %ebx
  ljmp $${TSS_H}, $0
jmp16After:
  out %al, $${STOP_PORT}
  hlt
taskH:
  mov %ax, %cx
  mov $0x4321, %dx
  ljmp $${TSS_A}, $0
taskHAfterJmp:
  hlt
`;

let image: Uint8Array;
let sym: Record<string, number>;

/** Assemble and link at CODE with the host binutils; returns the flat image and the labels. */
function build(): void {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-tasks-'));
  writeFileSync(join(dir, 'a.S'), SRC);
  execFileSync('as', ['--32', '-o', join(dir, 'a.o'), join(dir, 'a.S')]);
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext', `0x${CODE.toString(16)}`, '-e', '_start', '-o', join(dir, 'a.elf'), join(dir, 'a.o')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.elf'), join(dir, 'a.bin')]);
  image = new Uint8Array(readFileSync(join(dir, 'a.bin')));
  sym = {};
  for (const line of execFileSync('nm', [join(dir, 'a.elf')]).toString().split('\n')) {
    const m = /^([0-9a-f]+) \w (\w+)$/.exec(line.trim());
    if (m) sym[m[2]] = parseInt(m[1], 16);
  }
}

function segDesc(base: number, limit: number, access: number, flags: number): [number, number] {
  const lo = ((limit & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
  const hi = (((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000)) >>> 0;
  return [lo, hi];
}
const taskGate = (tssSel: number): [number, number] => [(tssSel << 16) >>> 0, 0x8500];

interface TaskInit { eip: number; esp: number; eax?: number; ss?: number; eflags?: number }

class Machine {
  cpu: Cpu;
  view: DataView;
  constructor() {
    let cpu: Cpu | undefined;
    const host: CpuHost = {
      portRead: () => 0xffffffff,
      portWrite: (port) => { if (port === STOP_PORT) cpu!.requestStop(); },
      mmioRead: () => 0xffffffff,
      mmioWrite: () => {},
      interruptAcknowledge: () => 0x20,
    };
    cpu = new Cpu(2 << 20, host);
    this.cpu = cpu;
    this.view = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
    cpu.ram.set(image, CODE);
    const gdt: Array<[number, [number, number]]> = [
      [CODE_SEL, segDesc(0, 0xfffff, 0x9a, 0xc)],
      [DATA_SEL, segDesc(0, 0xfffff, 0x92, 0xc)],
      [TSS_A, segDesc(tssBase(TSS_A), 0x67, 0x8b, 0)], // busy: the current task
      [TSS_B, segDesc(tssBase(TSS_B), 0x67, 0x89, 0)],
      [TSS_C, segDesc(tssBase(TSS_C), 0x67, 0x89, 0)],
      [GATE_C, taskGate(TSS_C)],
      [TSS_D, segDesc(tssBase(TSS_D), 0x67, 0x89, 0)],
      [TSS_E, segDesc(tssBase(TSS_E), 0x67, 0x89, 0)],
      [TSS_F, segDesc(tssBase(TSS_F), 0x67, 0x89, 0)],
      [TSS_SHORT, segDesc(tssBase(TSS_SHORT), 0x20, 0x89, 0)],
      [TSS_G, segDesc(tssBase(TSS_G), 0x67, 0x89, 0)],
      [TSS_V, segDesc(tssBase(TSS_V), 0x67, 0x89, 0)],
      [TSS_H, segDesc(tssBase(TSS_H), 0x2b, 0x81, 0)],
      [CODE16_SEL, segDesc(CODE, 0xfffff, 0x9a, 0xc)],
      [TSS_U, segDesc(tssBase(TSS_U), 0x67, 0x89, 0)],
    ];
    for (const [sel, [lo, hi]] of gdt) {
      this.w32(GDT + sel, lo);
      this.w32(GDT + sel + 4, hi);
    }
    const idt: Array<[number, [number, number]]> = [[6, taskGate(TSS_U)], [10, taskGate(TSS_F)], [13, taskGate(TSS_G)], [0x40, taskGate(TSS_D)]];
    for (const [v, [lo, hi]] of idt) {
      this.w32(IDT + v * 8, lo);
      this.w32(IDT + v * 8 + 4, hi);
    }
    this.initTss(TSS_B, { eip: sym.taskB, esp: 0x9800, eax: 0xb0b0b0b0 });
    this.initTss(TSS_C, { eip: sym.taskC, esp: 0xa000 });
    this.initTss(TSS_D, { eip: sym.taskD, esp: 0xa800 });
    this.initTss(TSS_E, { eip: sym.taskE, esp: 0xb000, ss: CODE_SEL });
    this.initTss(TSS_F, { eip: sym.taskF, esp: 0xb800 });
    this.initTss(TSS_G, { eip: sym.taskG, esp: 0xc000 });
    this.initTss(TSS_U, { eip: sym.taskE, esp: 0xc800, ss: CODE_SEL });
    // Virtual-8086 task: real-mode style selectors, code at CODE = 0x1000:0.
    const v = tssBase(TSS_V);
    this.w32(v + T.eip, sym.taskV - CODE);
    this.w32(v + T.eflags, 0x20002);
    this.w32(v + T.esp, 0x1000);
    this.w32(v + T.cs, CODE >> 4);
    this.w32(v + T.ss, 0x0800);
    for (const f of [T.es, T.ds, T.fs, T.gs]) this.w32(v + f, 0x0123);
    // 16-bit TSS (SDM Vol. 3A Figure 7-10): IP 0x0e, FLAGS 0x10, AX 0x12 .. DI 0x20, ES CS SS DS, LDT 0x2a.
    const h = tssBase(TSS_H);
    this.view.setUint16(h + 0x0e, sym.taskH - CODE, true);
    this.view.setUint16(h + 0x10, 0x0002, true);
    this.view.setUint16(h + 0x12, 0xbeef, true);
    this.view.setUint16(h + 0x1a, 0x7000, true);
    this.view.setUint16(h + 0x22, DATA_SEL, true);
    this.view.setUint16(h + 0x24, CODE16_SEL, true);
    this.view.setUint16(h + 0x26, DATA_SEL, true);
    this.view.setUint16(h + 0x28, DATA_SEL, true);
    // Protected mode, flat segments, TR = TSS_A, no paging.
    cpu.setCr(0, 0x11n);
    cpu.setGdtr(BigInt(GDT), GDT_LIMIT);
    cpu.setIdtr(BigInt(IDT), 0x7ff);
    cpu.setSeg(Seg.CS, { selector: CODE_SEL, base: 0n, limit: 0xffffffff, flags: 0x00c09b00 });
    for (const s of [Seg.ES, Seg.SS, Seg.DS]) cpu.setSeg(s, { selector: DATA_SEL, base: 0n, limit: 0xffffffff, flags: 0x00c09300 });
    for (const s of [Seg.FS, Seg.GS, Seg.LDTR]) cpu.setSeg(s, { selector: 0, base: 0n, limit: 0, flags: 0 });
    cpu.setSeg(Seg.TR, { selector: TSS_A, base: BigInt(tssBase(TSS_A)), limit: 0x67, flags: 0x8b00 });
    cpu.setReg(Reg.RSP, 0x9000n);
    cpu.setRflags(0x2n);
    cpu.syncMode();
  }
  w32(a: number, v: number) { this.view.setUint32(a, v >>> 0, true); }
  r32(a: number) { return this.view.getUint32(a, true); }
  r16(a: number) { return this.view.getUint16(a, true); }
  initTss(sel: number, t: TaskInit) {
    const b = tssBase(sel);
    this.w32(b + T.eip, t.eip);
    this.w32(b + T.eflags, t.eflags ?? 2);
    this.w32(b + T.eax, t.eax ?? 0);
    this.w32(b + T.esp, t.esp);
    for (const f of [T.es, T.ds]) this.w32(b + f, DATA_SEL);
    this.w32(b + T.ss, t.ss ?? DATA_SEL);
    this.w32(b + T.cs, CODE_SEL);
  }
  /** TSS field of the task with selector `sel`. */
  tss(sel: number, off: number) { return this.r32(tssBase(sel) + off); }
  /** Type field of a GDT descriptor: 9 available 32-bit TSS, 11 busy. */
  type(sel: number) { return (this.r32(GDT + sel + 4) >>> 8) & 0xf; }
  start(label: string) { this.cpu.setRip(BigInt(sym[label])); }
  run(expected = StopReason.Requested) {
    const r = this.cpu.run(1000);
    expect(r.reason).toBe(expected);
  }
  reg(r: number) { return Number(this.cpu.getReg(r) & 0xffffffffn); }
  eip() { return Number(this.cpu.getRip()); }
}

const NT = 0x4000;
const CR0_TS = 8n;

describe('task switching', () => {
  beforeAll(build);

  it('JMP to a TSS saves the old task, loads the new one and moves the busy flag', () => {
    const m = new Machine();
    m.start('testJmp');
    m.run();
    // The new task runs with its TSS registers.
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_B);
    expect(m.reg(Reg.RCX)).toBe(0xb0b0b0b0);
    expect(m.reg(Reg.RSP)).toBe(0x9800);
    expect(m.eip()).toBe(sym.taskB + 4); // mov (2) + out (2)
    expect(m.cpu.getSeg(Seg.CS).selector).toBe(CODE_SEL);
    expect(m.cpu.getSeg(Seg.SS).limit).toBe(0xffffffff);
    expect(Number(m.cpu.getRflags()) & NT).toBe(0);
    expect(m.cpu.getCr(0) & CR0_TS).toBe(CR0_TS);
    // The old task's state is in its TSS, resuming after the JMP.
    expect(m.tss(TSS_A, T.eip)).toBe(sym.jmpAfter);
    expect(m.tss(TSS_A, T.eax)).toBe(0x11111111);
    expect(m.tss(TSS_A, T.ebx)).toBe(0x22222222);
    expect(m.tss(TSS_A, T.esp)).toBe(0x9000);
    expect(m.tss(TSS_A, T.cs) & 0xffff).toBe(CODE_SEL);
    expect(m.tss(TSS_A, T.ss) & 0xffff).toBe(DATA_SEL);
    expect(m.tss(TSS_A, T.fs) & 0xffff).toBe(0);
    expect(m.tss(TSS_A, T.eflags) & 0x2).toBe(2);
    // JMP: old TSS available, new busy, no back link.
    expect(m.type(TSS_A)).toBe(9);
    expect(m.type(TSS_B)).toBe(11);
    expect(m.tss(TSS_B, T.link)).toBe(0);
  });

  it('CALL through a task gate nests the task; IRET returns through the back link', () => {
    const m = new Machine();
    m.start('testCall');
    m.run();
    // Inside the called task: NT set, back link to the caller, both TSSs busy.
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_C);
    expect(m.reg(Reg.RDI) & NT).toBe(NT);
    expect(Number(m.cpu.getRflags()) & NT).toBe(NT);
    expect(m.tss(TSS_C, T.link) & 0xffff).toBe(TSS_A);
    expect(m.type(TSS_A)).toBe(11);
    expect(m.type(TSS_C)).toBe(11);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.callRet);
    expect(m.tss(TSS_A, T.eflags) & NT).toBe(0);
    // IRET with NT set switches back.
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_A);
    expect(m.eip()).toBe(sym.callRet + 4);
    expect(m.reg(Reg.RAX)).toBe(0xaaaa);
    expect(m.reg(Reg.RSI)).toBe(0xaaaa);
    expect(m.reg(Reg.RDX)).toBe(0xbbbb);
    expect(m.reg(Reg.RSP)).toBe(0x9000);
    expect(Number(m.cpu.getRflags()) & NT).toBe(0);
    // IRET: the called task is available again with NT clear in its saved image; the caller stays busy.
    expect(m.type(TSS_C)).toBe(9);
    expect(m.type(TSS_A)).toBe(11);
    expect(m.tss(TSS_C, T.eip)).toBe(sym.taskCAfterIret);
    expect(m.tss(TSS_C, T.eflags) & NT).toBe(0);
    expect(m.tss(TSS_C, T.edx)).toBe(0xc0c0);
    expect(m.tss(TSS_C, T.link) & 0xffff).toBe(TSS_A);
  });

  it('INT n through an IDT task gate runs the handler task and IRET resumes after the INT', () => {
    const m = new Machine();
    m.start('testInt');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_A);
    expect(m.eip()).toBe(sym.intRet + 2);
    expect(m.reg(Reg.RCX)).toBe(0x1234);
    // What the handler task saw, from its saved state.
    expect(m.tss(TSS_D, T.ebx) & 0xffff).toBe(TSS_D);
    expect(m.tss(TSS_D, T.edi) & NT).toBe(NT);
    expect(m.tss(TSS_D, T.link) & 0xffff).toBe(TSS_A);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.intRet);
    expect(m.type(TSS_D)).toBe(9);
    expect(m.type(TSS_A)).toBe(11);
  });

  it('an exception with an error code through a task gate pushes it on the new stack', () => {
    const m = new Machine();
    m.start('testGp');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_G);
    expect(m.reg(Reg.RAX)).toBe(0x1230); // #GP(selector)
    expect(m.reg(Reg.RBX) & 0xffff).toBe(TSS_G);
    expect(m.reg(Reg.RSP)).toBe(0xc000);
    // The fault is restartable: the saved EIP is the faulting instruction.
    expect(m.tss(TSS_A, T.eip)).toBe(sym.gpInsn);
    expect(m.tss(TSS_A, T.eax) & 0xffff).toBe(0x1233);
    expect(m.tss(TSS_G, T.link) & 0xffff).toBe(TSS_A);
    expect(m.type(TSS_A)).toBe(11);
    expect(m.type(TSS_G)).toBe(11);
  });

  it('JMP to a busy TSS raises #GP(selector) without switching', () => {
    const m = new Machine();
    m.start('testBusy');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_G);
    expect(m.reg(Reg.RAX)).toBe(TSS_A);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.testBusy);
  });

  it('a TSS limit below 0x67 raises #TS in the old task', () => {
    const m = new Machine();
    m.start('testTsBeforeCommit');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_F);
    expect(m.reg(Reg.RAX)).toBe(TSS_SHORT);
    // Reported against the JMP, in the old task: nothing of the target was touched.
    expect(m.tss(TSS_F, T.link) & 0xffff).toBe(TSS_A);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.shortJmp);
    expect(m.tss(TSS_A, T.esi)).toBe(0x5555);
    expect(m.type(TSS_SHORT)).toBe(9);
    expect(m.type(TSS_A)).toBe(11);
  });

  it('a bad SS selector in the new TSS raises #TS in the context of the new task', () => {
    const m = new Machine();
    m.start('testTsAfterCommit');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_F);
    expect(m.reg(Reg.RAX)).toBe(CODE_SEL); // #TS(SS selector)
    expect(m.reg(Reg.RBX) & 0xffff).toBe(TSS_F);
    // The switch to E completed: A was left (JMP), E is busy and is the #TS task's back link.
    expect(m.type(TSS_A)).toBe(9);
    expect(m.type(TSS_E)).toBe(11);
    expect(m.type(TSS_F)).toBe(11);
    expect(m.tss(TSS_F, T.link) & 0xffff).toBe(TSS_E);
    // E's state was saved as loaded, before its first instruction.
    expect(m.tss(TSS_E, T.eip)).toBe(sym.taskE);
    expect(m.tss(TSS_E, T.ss) & 0xffff).toBe(CODE_SEL);
    expect(m.tss(TSS_E, T.esp)).toBe(0xb000);
    expect(m.tss(TSS_E, T.eax)).toBe(0);
  });

  it('a fault while switching to an exception handler task has the EXT bit in its error code', () => {
    const m = new Machine();
    m.start('testUd');
    m.run();
    // #UD goes to task U, whose SS is bad: #TS(SS selector | EXT) in U's context, handled by F.
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_F);
    expect(m.reg(Reg.RAX)).toBe(CODE_SEL | 1);
    expect(m.tss(TSS_F, T.link) & 0xffff).toBe(TSS_U);
    expect(m.tss(TSS_U, T.link) & 0xffff).toBe(TSS_A);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.testUd);
    expect(m.type(TSS_A)).toBe(11);
    expect(m.type(TSS_U)).toBe(11);
    expect(m.type(TSS_F)).toBe(11);
  });

  it('a TSS with EFLAGS.VM set starts a virtual-8086 task', () => {
    const m = new Machine();
    m.start('testV86');
    expect(m.cpu.run(2).reason).toBe(StopReason.Budget); // the JMP and the task's first instruction
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_V);
    expect(m.cpu.mode).toBe(2);
    expect(m.cpu.cpl).toBe(3);
    expect(m.cpu.getSeg(Seg.CS)).toMatchObject({ selector: CODE >> 4, base: BigInt(CODE), limit: 0xffff });
    expect(m.cpu.getSeg(Seg.DS)).toMatchObject({ selector: 0x123, base: 0x1230n });
    expect(m.cpu.getSeg(Seg.SS).base).toBe(0x8000n);
    expect(m.reg(Reg.RAX) & 0xff).toBe(0x77);
    expect(m.eip()).toBe(sym.taskV - CODE + 2);
    expect(Number(m.cpu.getRflags()) & 0x20000).toBe(0x20000);
    expect(m.type(TSS_A)).toBe(9);
    expect(m.type(TSS_V)).toBe(11);
  });

  it('switches to a 16-bit TSS and saves into it on the way back', () => {
    const m = new Machine();
    m.start('testJmp16');
    m.run();
    expect(m.cpu.getSeg(Seg.TR).selector).toBe(TSS_A);
    expect(m.eip()).toBe(sym.jmp16After + 2);
    expect(m.reg(Reg.RBX)).toBe(0x12345678); // restored from A's 32-bit TSS
    // What H did, from its 16-bit TSS (IP 0x0e, CX 0x14, DX 0x16, SP 0x1a, CS 0x24).
    const h = tssBase(TSS_H);
    expect(m.r16(h + 0x0e)).toBe(sym.taskHAfterJmp - CODE);
    expect(m.r16(h + 0x14)).toBe(0xbeef);
    expect(m.r16(h + 0x16)).toBe(0x4321);
    expect(m.r16(h + 0x1a)).toBe(0x7000);
    expect(m.r16(h + 0x24)).toBe(CODE16_SEL);
    // JMP there and JMP back: both available at the end except the running task.
    expect(m.type(TSS_H)).toBe(1);
    expect(m.type(TSS_A)).toBe(11);
    expect(m.tss(TSS_A, T.eip)).toBe(sym.jmp16After);
  });
});
