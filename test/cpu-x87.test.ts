// x87 control paths on hand-assembled real-mode code: #NM, deferred #MF at FWAIT, FNSTENV/FNSAVE
// layouts, FXAM classes. Arithmetic is covered bit for bit by cpu-x87-hostdiff.test.ts.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../cpu/types.ts';

function assemble(src: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-x87u-'));
  writeFileSync(join(dir, 'a.S'), '.code16\n' + src + '\n');
  execFileSync('as', ['--32', '-o', join(dir, 'a.o'), join(dir, 'a.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'a.bin')));
}
const host: CpuHost = {
  portRead: () => 0xffffffff, portWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
  interruptAcknowledge: () => 0x20,
};
/** Real mode, code at 0 (so labels are offsets); IVT entries 7 and 16 point at handlers that set BX. */
async function run(src: string, cr0 = 0x30n) {
  const code = assemble(`jmp start
  .org 0x100 /* past the IVT entries written below (vector 16 is at 0x40) */
nm: mov $7, %bx
  hlt
mf: mov $16, %bx
  hlt
start:
  movw $nm, 7*4
  movw $0, 7*4+2
  movw $mf, 16*4
  movw $0, 16*4+2
  ${src}
  hlt`);
  const cpu = await Cpu.create(2 << 20, host);
  cpu.ram.set(code, 0x0);
  cpu.setSeg(1, { selector: 0, base: 0n, limit: 0xffff, flags: 0x9b00 });
  cpu.setCr(0, cr0);
  cpu.setRip(0n);
  cpu.syncMode();
  const r = cpu.run(10000);
  expect(r.reason).toBe(StopReason.Halt);
  return cpu;
}
const w16 = (cpu: Cpu, a: number) => cpu.ram[a] | (cpu.ram[a + 1] << 8);

describe('x87 control', () => {
  it('raises #NM with CR0.EM and on FWAIT with TS+MP', async () => {
    expect((await run('mov $1, %bx\n fwait', 0x3an)).getReg(3) & 0xffn, 'fwait TS+MP').toBe(7n);
    expect((await run('mov $1, %bx\n fwait', 0x38n)).getReg(3) & 0xffn, 'fwait TS without MP').toBe(1n);
    expect((await run('mov $1, %bx\n fld1', 0x34n)).getReg(3) & 0xffn, 'fld1 with EM').toBe(7n);
    expect((await run('mov $1, %bx\n fld1', 0x38n)).getReg(3) & 0xffn, 'fld1 with TS').toBe(7n);
  });

  it('delivers an unmasked zero divide as #MF at the next waiting instruction', async () => {
    const cpu = await run(`fninit
      movw $0x037b, 0x600
      fldcw 0x600
      fldz
      fld1
      fdiv %st(1), %st
      mov $1, %bx
      fnstsw 0x602
      fwait
      mov $2, %bx`);
    expect(cpu.getReg(3) & 0xffn).toBe(16n);
    expect(w16(cpu, 0x602)).toBe(0xb084); // B, ES, ZE, TOP=6; FNSTSW does not wait
  });

  it('stores the 16-bit real-mode environment and FNSAVE image, then reinitialises', async () => {
    const cpu = await run(`fninit
      fldpi
      fld1
      fnstenv 0x700
      fnsave 0x800
      fnstcw 0x900
      fnstsw 0x902`);
    expect(w16(cpu, 0x700)).toBe(0x037f | 0); // FCW before FNSTENV masked everything (already masked)
    expect(w16(cpu, 0x702)).toBe(0x3000); // TOP = 6
    expect(w16(cpu, 0x704)).toBe(0x0fff); // R6 R7 valid, the rest empty
    // FNSAVE: ST0 = 1.0 right after the 14-byte environment.
    expect(Array.from(cpu.ram.slice(0x80e, 0x818))).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    expect(w16(cpu, 0x900)).toBe(0x037f);
    expect(w16(cpu, 0x902)).toBe(0);
  });

  it('classifies with FXAM and compares with FCOMI', async () => {
    const cpu = await run(`fninit
      fldz
      fxam
      fnstsw 0x600
      fld1
      fcomi %st(1), %st
      pushf
      pop %ax
      mov %ax, 0x602
      fchs
      fxam
      fnstsw 0x604`);
    expect(w16(cpu, 0x600) & 0x4700).toBe(0x4000); // zero: C3
    expect(w16(cpu, 0x602) & 0x8d5).toBe(0); // 1 > 0: ZF PF CF clear
    expect(w16(cpu, 0x604) & 0x4700).toBe(0x0600); // negative normal: C2, C1 = sign
  });

  it('computes the transcendentals (FPTAN pushes 1.0, FSINCOS order, C2 out of range, popping forms)', async () => {
    // Constants at 0x600: 0.5 as a double, 2^63 as a double, 3 and 10 as int16.
    const cpu = await run(`fninit
      movl $0, 0x600
      movl $0x3fe00000, 0x604
      movl $0, 0x608
      movl $0x43e00000, 0x60c
      movw $3, 0x610
      movw $10, 0x612
      fldl 0x600
      fptan
      fnstsw 0x700
      fstpt 0x710
      fstpt 0x720
      fldl 0x600
      fsincos
      fstpt 0x730
      fstpt 0x740
      fldl 0x600
      f2xm1
      fstpt 0x750
      filds 0x610
      filds 0x612
      fyl2x
      fstpt 0x760
      fld1
      fld1
      fchs
      fpatan
      fstpt 0x770
      fldl 0x608
      fsin
      fnstsw 0x702
      fstpt 0x780`);
    const x80 = (a: number) => Array.from(cpu.ram.slice(a, a + 10)).reverse().map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(x80(0x710)).toBe('3fff8000000000000000'); // FPTAN pushed 1.0
    expect(x80(0x720)).toBe('3ffe8bda7adf9a3a5219'); // tan 0.5 (correctly rounded)
    expect(w16(cpu, 0x700) & 0x0400).toBe(0); // C2 = 0
    expect(x80(0x730)).toBe('3ffee0a94032dbea7cee'); // cos 0.5 in ST(0)
    expect(x80(0x740)).toBe('3ffdf57743a2582f7f44'); // sin 0.5 in ST(1)
    expect(x80(0x750)).toBe('3ffdd413cccfe7799211'); // 2^0.5 - 1
    expect(x80(0x760)).toBe('40029f73da38d9d4a83f'); // 3 * log2(10)
    expect(x80(0x770)).toBe('400096cbe3f9990e91a8'); // atan2(1, -1) = 3pi/4
    expect(x80(0x780)).toBe('403e8000000000000000'); // 2^63 unchanged
    expect(w16(cpu, 0x702) & 0x0400).toBe(0x0400); // C2 = 1
  });

  it('does not report underflow when rounding to the precision control carries into the smallest normal', async () => {
    // Single precision, UE unmasked: ST(1) - ST(0) is just below 2^-16382 before rounding, exactly
    // 2^-16382 after rounding to 24 bits with unbounded exponent, so it is not tiny (SDM Vol. 1
    // §8.5.5): no #U, no bias adjustment; the result is the smallest normal, rounded up (C1, #P),
    // and the denormal operand is reported (#D, masked). Found by cpu-x87-hostdiff (seed 3229358113).
    const cpu = await run(`fninit
      movw $0x1062, 0x600
      fldcw 0x600
      fldt 0x700
      fldt 0x710
      .byte 0xde, 0xe9 /* fsubp st(1), st(0) */
      fnstsw 0x602
      fnclex
      fstpt 0x720
      jmp 1f
      .org 0x700
      .quad 0x8000000000040000
      .word 0x8001
      .org 0x710
      .quad 0x00000013c1346bdc
      .word 0x8000
    1:`);
    const x80 = (a: number) => Array.from(cpu.ram.slice(a, a + 10)).reverse().map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(w16(cpu, 0x602).toString(16)).toBe('3a22'); // TOP=7, C1, PE, DE
    expect(x80(0x720)).toBe('80018000000000000000');
  });
});
