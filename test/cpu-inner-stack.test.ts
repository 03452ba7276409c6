// An interrupt from ring 3 pushes its frame onto the ring-0 stack from the TSS. Those pushes are
// made at the new privilege level: a kernel stack on a supervisor-only page must work (Linux with
// page-table isolation keeps its entry stack on such a page; the first user-mode page fault of
// /init used to end in a triple fault). 32-bit protected mode with paging, hand-assembled code.

import { describe, expect, it } from 'vitest';
import { Cpu } from '../cpu/cpu.ts';
import { Reg, Seg, StopReason, type CpuHost } from '../cpu/types.ts';

const GDT = 0x1000;
const IDT = 0x2000;
const TSS = 0x3000;
const PAGE_DIR = 0x4000;
const PAGE_TABLE = 0x5000;
const KSTACK_PAGE = 0x9000; // supervisor-only
const KSTACK_TOP = 0xa000;
const USER_CODE = 0x10000;
const HANDLER = 0x11000;
const USER_STACK = 0x20000;

const host: CpuHost = {
  portRead: () => 0xffffffff,
  portWrite: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  interruptAcknowledge: () => 0x20,
};

async function ring3Cpu(): Promise<Cpu> {
  const cpu = await Cpu.create(2 << 20, host);
  const m = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
  const desc = (sel: number, lo: number, hi: number) => {
    m.setUint32(GDT + sel, lo, true);
    m.setUint32(GDT + sel + 4, hi, true);
  };
  desc(0x08, 0x0000ffff, 0x00cf9b00); // ring-0 code
  desc(0x10, 0x0000ffff, 0x00cf9300); // ring-0 data
  desc(0x18, 0x0000ffff, 0x00cffb00); // ring-3 code
  desc(0x20, 0x0000ffff, 0x00cff300); // ring-3 data
  desc(0x28, ((TSS & 0xffff) << 16) | 0x67, 0x00008b00); // busy 32-bit TSS at TSS (base < 64 KiB)
  // IDT vector 0x80: 32-bit interrupt gate, DPL 3, to HANDLER in ring 0.
  m.setUint32(IDT + 0x80 * 8, (0x08 << 16) | (HANDLER & 0xffff), true);
  m.setUint32(IDT + 0x80 * 8 + 4, (HANDLER & 0xffff0000) | 0xee00, true);
  m.setUint32(TSS + 4, KSTACK_TOP, true); // ESP0
  m.setUint32(TSS + 8, 0x10, true); // SS0
  // Identity-map the first 4 MiB as user pages, except the kernel stack page.
  m.setUint32(PAGE_DIR, PAGE_TABLE | 0x7, true);
  for (let i = 0; i < 1024; i++) m.setUint32(PAGE_TABLE + 4 * i, (i << 12) | (i << 12 === KSTACK_PAGE ? 0x3 : 0x7), true);
  cpu.ram.set([0xcd, 0x80, 0xf4], USER_CODE); // int $0x80; hlt
  cpu.ram.set([0xf4], HANDLER); // hlt
  const flat = (selector: number, flags: number) => ({ selector, base: 0n, limit: 0xffffffff, flags });
  cpu.setGdtr(BigInt(GDT), 0x2f);
  cpu.setIdtr(BigInt(IDT), 0x7ff);
  cpu.setSeg(Seg.TR, { selector: 0x28, base: BigInt(TSS), limit: 0x67, flags: 0x8b00 });
  cpu.setCr(3, BigInt(PAGE_DIR));
  cpu.setCr(0, 0x80000011n); // PG, ET, PE
  cpu.setSeg(Seg.CS, flat(0x1b, 0x00c0fb00));
  for (const s of [Seg.SS, Seg.DS, Seg.ES]) cpu.setSeg(s, flat(0x23, 0x00c0f300));
  cpu.setReg(Reg.RSP, BigInt(USER_STACK));
  cpu.setRflags(0x202n);
  cpu.setRip(BigInt(USER_CODE));
  cpu.syncMode();
  return cpu;
}

describe('interrupt delivery to an inner ring', () => {
  it('pushes the frame onto a supervisor-only ring-0 stack', async () => {
    const cpu = await ring3Cpu();
    const r = cpu.run(10);
    expect(r.reason).toBe(StopReason.Halt);
    expect(cpu.getRip()).toBe(BigInt(HANDLER + 1));
    expect(cpu.getSeg(Seg.CS).selector).toBe(0x08);
    expect(cpu.getSeg(Seg.SS).selector).toBe(0x10);
    expect(cpu.getReg(Reg.RSP)).toBe(BigInt(KSTACK_TOP - 20));
    const m = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
    const frame = [0, 4, 8, 12, 16].map((o) => m.getUint32(KSTACK_TOP - 20 + o, true));
    expect(frame).toEqual([USER_CODE + 2, 0x1b, 0x202, USER_STACK, 0x23]);
  });
});
