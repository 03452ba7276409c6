// Smoke tests of the CPU core on hand-assembled code: real mode, the switch to protected mode,
// exceptions. The exhaustive checks are the test kernels (QEMU diff) and the host-CPU diff.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../cpu/types.ts';

/** Assemble GNU as source to flat binary with the host binutils. */
function assemble(src: string, code16 = true): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-asm-'));
  writeFileSync(join(dir, 'a.S'), (code16 ? '.code16\n' : '') + src + '\n');
  execFileSync('as', ['--32', '-o', join(dir, 'a.o'), join(dir, 'a.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'a.bin')));
}

function makeHost(out: number[] = []): CpuHost {
  return {
    portRead: () => 0xffffffff,
    portWrite: (port, _size, value) => {
      if (port === 0xe9) out.push(value & 0xff);
    },
    mmioRead: () => 0xffffffff,
    mmioWrite: () => {},
    interruptAcknowledge: () => 0x20,
  };
}

async function realModeCpu(code: Uint8Array, out: number[] = []) {
  const cpu = await Cpu.create(2 << 20, makeHost(out));
  cpu.ram.set(code, 0x7c00);
  cpu.setSeg(1, { selector: 0, base: 0n, limit: 0xffff, flags: 0x9b00 });
  cpu.setRip(0x7c00n);
  cpu.syncMode();
  return cpu;
}

describe('CPU core', () => {
  it('runs real-mode arithmetic and stops on HLT', async () => {
    const cpu = await realModeCpu(assemble(`
      mov $0x1234, %ax
      mov $0x1111, %bx
      add %bx, %ax
      mov %ax, %cx
      shl $4, %cx
      push %cx
      pop %dx
      hlt`));
    const r = cpu.run(1000);
    expect(r.reason).toBe(StopReason.Halt);
    expect(r.executed).toBe(8);
    expect(cpu.getReg(0) & 0xffffn).toBe(0x2345n);
    expect(cpu.getReg(2) & 0xffffn).toBe(0x3450n);
  });

  it('delivers #DE through the real-mode IVT', async () => {
    const code = assemble(`
      movw $handler, 0
      movw $0, 2
      xor %cx, %cx
      mov $5, %ax
      div %cl
      hlt
    handler:
      mov $0x77, %bx
      hlt`);
    const cpu = await realModeCpu(code);
    // The handler label is assembled at offset relative to 0; relocate the IVT entry.
    cpu.ram.set(code, 0);
    cpu.setRip(0n);
    const r = cpu.run(1000);
    expect(r.reason).toBe(StopReason.Halt);
    expect(cpu.getReg(3) & 0xffffn).toBe(0x77n);
  });

  it('raises #DE (and does not trap) for IDIV of the most negative 64-bit dividend by -1', async () => {
    // EDX:EAX = 0x80000000:00000000 is INT64_MIN: WebAssembly's i64.div_s traps on MIN / -1.
    const code = assemble(`
      movw $handler, 0
      movw $0, 2
      mov $0x80000000, %edx
      xor %eax, %eax
      mov $-1, %ecx
      idiv %ecx
      hlt
    handler:
      mov $0x66, %bx
      hlt`);
    const cpu = await realModeCpu(new Uint8Array(0));
    cpu.ram.set(code, 0);
    cpu.setRip(0n);
    expect(cpu.run(1000).reason).toBe(StopReason.Halt);
    expect(cpu.getReg(3) & 0xffffn).toBe(0x66n);
    expect(cpu.getReg(2) & 0xffffffffn).toBe(0x80000000n); // unchanged
  });

  it('delivers an NMI through vector 2 even with IF clear, one at a time until IRET', async () => {
    // The code starts at 0 (labels are addresses): jump over the IVT's first entries.
    const code = assemble(`
      jmp start
      .org 0x40
    handler:
      inc %bx
      nop
      nop
      iret
    start:
      movw $handler, 8
      movw $0, 10
      cli
    idle:
      hlt
      jmp idle`);
    const cpu = await realModeCpu(new Uint8Array(0));
    cpu.ram.set(code, 0);
    cpu.setRip(0n);
    expect(cpu.run(100).reason).toBe(StopReason.Halt);
    cpu.nmi();
    expect(cpu.run(1).reason).toBe(StopReason.Budget); // NMI taken, then INC
    expect(cpu.getReg(3) & 0xffffn).toBe(1n);
    cpu.nmi(); // arrives inside the handler: held until IRET
    cpu.run(1); // NOP
    expect(cpu.getReg(3) & 0xffffn).toBe(1n);
    cpu.run(2); // NOP, IRET
    expect(cpu.run(1).reason).toBe(StopReason.Budget); // the held NMI, then INC
    expect(cpu.getReg(3) & 0xffffn).toBe(2n);
  });

  it('writes to an I/O port with REP OUTSB', async () => {
    const out: number[] = [];
    const code = assemble(`
      mov $msg, %si
      mov $5, %cx
      mov $0xe9, %dx
      cld
      rep outsb
      hlt
    msg: .ascii "hello"`);
    const cpu = await realModeCpu(new Uint8Array(0), out);
    cpu.ram.set(code, 0);
    cpu.setRip(0n);
    expect(cpu.run(1000).reason).toBe(StopReason.Halt);
    expect(String.fromCharCode(...out)).toBe('hello');
  });
});
