// -icount: virtual time from the instruction count. A kernel counts loop iterations until the
// PIT's one-shot IRQ0 arrives; with -icount the count is the same in every run and follows from
// the PIT period and 2^shift ns per instruction.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from '../emulator/options.ts';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/tsemu.js');
const dir = mkdtempSync(join(tmpdir(), 'tsemu-icount-'));
const PIT_COUNT = 10000;
const LOOP_INSNS = 3; // inc, test, jz

// Remap the 8259 to 0x20, unmask IRQ0, program PIT channel 0 mode 0, then spin counting until the
// IRQ0 handler sets a flag; print the count in hex on COM1 and exit through isa-debug-exit.
const SOURCE = `
  .text
  .globl _start
  .align 4
  .long 0x1BADB002, 0, -0x1BADB002
_start:
  mov $0x200000, %esp
  lgdt gdtr
  mov $irq0, %eax
  mov %ax, idt + 0x20 * 8
  movw $0x08, idt + 0x20 * 8 + 2
  movw $0x8e00, idt + 0x20 * 8 + 4
  shr $16, %eax
  mov %ax, idt + 0x20 * 8 + 6
  lidt idtr
  mov $0x11, %al; out %al, $0x20
  mov $0x20, %al; out %al, $0x21
  mov $0x04, %al; out %al, $0x21
  mov $0x01, %al; out %al, $0x21
  mov $0xfe, %al; out %al, $0x21
  mov $0x30, %al; out %al, $0x43
  mov $${PIT_COUNT & 0xff}, %al; out %al, $0x40
  mov $${PIT_COUNT >> 8}, %al; out %al, $0x40
  xor %ecx, %ecx
  movl $0, flag
  sti
1: inc %ecx
  testl $1, flag
  jz 1b
  cli
  mov $8, %ebx
2: rol $4, %ecx
  mov %ecx, %eax
  and $15, %eax
  mov hexdigits(%eax), %al
  mov $0x3f8, %dx
  out %al, %dx
  dec %ebx
  jnz 2b
  mov $10, %al
  out %al, %dx
  mov $0, %al
  out %al, $0xf4
3: hlt
  jmp 3b
irq0:
  movl $1, flag
  push %eax
  mov $0x20, %al
  out %al, $0x20
  pop %eax
  iret
  .data
  .align 8
flag: .long 0
hexdigits: .ascii "0123456789abcdef"
gdt: .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr: .word 23
  .long gdt
idt: .fill 0x21, 8, 0
idtr: .word 0x21 * 8 - 1
  .long idt
`;

let kernel = '';
beforeAll(() => {
  expect(existsSync(cli), 'dist/tsemu.js is built by npm test').toBe(true);
  writeFileSync(join(dir, 'k.S'), SOURCE);
  execFileSync('as', ['--32', '-o', join(dir, 'k.o'), join(dir, 'k.S')]);
  kernel = join(dir, 'k.elf');
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start', '-o', kernel, join(dir, 'k.o')]);
});

function iterations(shift: number): number {
  const r = spawnSync(process.execPath, [cli, '-nodefaults', '-display', 'none', '-serial', 'stdio', '-m', '32',
    '-icount', `shift=${shift}`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', kernel], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(1);
  return parseInt(r.stdout.trim(), 16);
}

describe('-icount', () => {
  it('parses like QEMU', () => {
    const cfg = (...a: string[]) => {
      const p = parseArgs(['-kernel', 'k', ...a]);
      if (p.action !== 'run') throw new Error('not a run');
      return p.config.icountShift;
    };
    expect(cfg()).toBeNull();
    expect(cfg('-icount', '3')).toBe(3);
    expect(cfg('-icount', 'shift=0,sleep=off')).toBe(0);
    expect(() => cfg('-icount', 'shift=auto')).toThrow(/auto/);
    expect(() => cfg('-icount', 'shift=11')).toThrow(/between 0 and 10/);
  });

  it('makes the timer interrupt land on the same instruction in every run', () => {
    const a = iterations(2);
    const b = iterations(2);
    expect(a).toBe(b);
    // PIT_COUNT ticks of 1/1193182 s, 4 ns per instruction, LOOP_INSNS instructions per iteration.
    const expected = (PIT_COUNT / 1193182) * 1e9 / 4 / LOOP_INSNS;
    expect(Math.abs(a - expected) / expected).toBeLessThan(0.01);
    // Twice the time per instruction: half the iterations.
    const c = iterations(3);
    expect(Math.abs(c - expected / 2) / (expected / 2)).toBeLessThan(0.01);
  });
});
