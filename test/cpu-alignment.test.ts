// #AC: with CR0.AM and EFLAGS.AC set, a misaligned data access at CPL 3 raises interrupt 17 with
// error code 0 (SDM Vol. 3A §6.15). QEMU TCG does not implement it, so the QEMU diff cannot
// cover it: this test sets up ring 3 by hand and checks the exception frame.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, Seg, Reg } from '../cpu/types.ts';

function assemble(src: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-asm-'));
  writeFileSync(join(dir, 'a.S'), '.code32\n' + src + '\n');
  execFileSync('as', ['--32', '-o', join(dir, 'a.o'), join(dir, 'a.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'a.bin')));
}

const GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, HANDLER = 0x4000, USER = 0x5000, DATA = 0x6000;
const KSTACK = 0x9000, USTACK = 0x8000;

function descriptor(base: number, limit: number, access: number, flags: number): bigint {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = (base & 0xff000000) | ((flags & 0xf) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

async function ring3Cpu(userCode: string, eflags: bigint, cr0: bigint) {
  const cpu = await Cpu.create(4 << 20, {
    portRead: () => 0xffffffff, portWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
    interruptAcknowledge: () => 0,
  });
  const view = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
  const gdt = [0n, descriptor(0, 0xfffff, 0x9a, 0xc), descriptor(0, 0xfffff, 0x92, 0xc),
    descriptor(0, 0xfffff, 0xfa, 0xc), descriptor(0, 0xfffff, 0xf2, 0xc), descriptor(TSS, 0x67, 0x89, 0)];
  gdt.forEach((d, i) => view.setBigUint64(GDT + i * 8, d, true));
  // TSS: SS0:ESP0 for the switch to ring 0.
  view.setUint32(TSS + 4, KSTACK, true);
  view.setUint32(TSS + 8, 0x10, true);
  // IDT: vector 17 (#AC) and 0x80 (DPL 3) as 32-bit interrupt gates to the ring-0 handler (HLT).
  for (const [v, dpl] of [[17, 0], [0x80, 3]]) {
    view.setUint32(IDT + v * 8, (0x08 << 16) | (HANDLER & 0xffff), true);
    view.setUint32(IDT + v * 8 + 4, (HANDLER & 0xffff0000) | 0x8e00 | (dpl << 13), true);
  }
  cpu.ram[HANDLER] = 0xf4; // hlt
  cpu.ram.set(assemble(userCode), USER);
  cpu.setGdtr(BigInt(GDT), gdt.length * 8 - 1);
  cpu.setIdtr(BigInt(IDT), 256 * 8 - 1);
  cpu.setSeg(Seg.CS, { selector: 0x1b, base: 0n, limit: 0xffffffff, flags: 0x00cffb00 });
  for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) cpu.setSeg(s, { selector: 0x23, base: 0n, limit: 0xffffffff, flags: 0x00cff300 });
  cpu.setSeg(Seg.TR, { selector: 0x28, base: BigInt(TSS), limit: 0x67, flags: 0x00008b00 });
  cpu.setCr(0, cr0);
  cpu.setReg(Reg.RSP, BigInt(USTACK));
  cpu.setRflags(eflags);
  cpu.setRip(BigInt(USER));
  cpu.syncMode();
  return { cpu, view };
}

const CODE = `
  mov $${DATA + 1}, %ebx
  movl (%ebx), %eax
  int $0x80`;

describe('alignment check (#AC)', () => {
  it('faults on a misaligned load at CPL 3 with CR0.AM and EFLAGS.AC', async () => {
    const { cpu, view } = await ring3Cpu(CODE, 0x40202n, 0x40011n);
    expect(cpu.run(100).reason).toBe(StopReason.Halt);
    // Frame on the ring-0 stack: error code, EIP, CS, EFLAGS, ESP, SS.
    const esp = Number(cpu.getReg(Reg.RSP));
    expect(esp).toBe(KSTACK - 24);
    expect(view.getUint32(esp, true)).toBe(0); // error code
    expect(view.getUint32(esp + 4, true)).toBe(USER + 5); // the faulting MOV, after the 5-byte MOV EBX
    expect(view.getUint32(esp + 8, true)).toBe(0x1b);
    expect(view.getUint32(esp + 16, true)).toBe(USTACK);
  });

  it('does not fault with EFLAGS.AC clear, with CR0.AM clear, or on an aligned load', async () => {
    for (const [eflags, cr0, code] of [[0x202n, 0x40011n, CODE], [0x40202n, 0x11n, CODE],
      [0x40202n, 0x40011n, CODE.replace(`$${DATA + 1}`, `$${DATA + 4}`)]] as const) {
      const { cpu, view } = await ring3Cpu(code, eflags, cr0);
      view.setUint32(DATA, 0x44332211, true);
      view.setUint32(DATA + 4, 0x88776655, true);
      expect(cpu.run(100).reason).toBe(StopReason.Halt);
      // Reached INT 0x80: no error code on the frame, EIP after the INT.
      expect(Number(cpu.getReg(Reg.RSP))).toBe(KSTACK - 20);
      expect(view.getUint32(KSTACK - 20, true)).toBe(USER + 9);
      const expected = code.includes(`${DATA + 4}`) ? 0x88776655n : 0x55443322n;
      expect(cpu.getReg(Reg.RAX)).toBe(expected);
    }
  });
});
