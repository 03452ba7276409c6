// REP MOVS and REP STOS move whole page-sized runs at once (assembly/string.ts bulk): the result
// must be what element-by-element execution gives (SDM Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ",
// "MOVS", "STOS"): overlapping copies repeat a pattern, a fault in the middle leaves the registers
// at the faulting element with everything before it done, writes into code are seen.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../cpu/types.ts';

const host: CpuHost = {
  portRead: () => 0xffffffff,
  portWrite: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  interruptAcknowledge: () => 0,
};

const PML4 = 0x10000, PDPT = 0x11000, PD = 0x12000, PT0 = 0x13000, PT1 = 0x14000;
const GDT = 0x16000, IDT = 0x17000, HANDLERS = 0x18000, STACK = 0x1f000, CODE = 0x8000;
const PTE = 0x3n;
const RAX = 0, RCX = 1, RSI = 6, RDI = 7;

const le = (v: bigint, n: number) => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const view = (cpu: Cpu) => new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);

/** 64-bit mode; 4 KiB pages identity-mapped below 4 MiB, with page 0x250000 not present; #PF -> HLT. */
async function cpu64(): Promise<Cpu> {
  const cpu = await Cpu.create(8 << 20, host);
  const v = view(cpu);
  v.setBigUint64(PML4, BigInt(PDPT) | PTE, true);
  v.setBigUint64(PDPT, BigInt(PD) | PTE, true);
  v.setBigUint64(PD, BigInt(PT0) | PTE, true);
  v.setBigUint64(PD + 8, BigInt(PT1) | PTE, true);
  for (let i = 0; i < 512; i++) {
    v.setBigUint64(PT0 + 8 * i, BigInt(i * 0x1000) | PTE, true);
    v.setBigUint64(PT1 + 8 * i, BigInt(0x200000 + i * 0x1000) | PTE, true);
  }
  v.setBigUint64(PT1 + 8 * 0x50, 0n, true); // 0x250000: not present
  cpu.setCr(4, 0x20n);
  cpu.setCr(3, BigInt(PML4));
  cpu.setMsr(0xc0000080, 0x500n);
  cpu.setCr(0, 0x80000031n);
  v.setBigUint64(GDT + 8, 0x00af9b000000ffffn, true);
  v.setBigUint64(GDT + 16, 0x00cf93000000ffffn, true);
  cpu.setGdtr(BigInt(GDT), 23);
  cpu.setSeg(1, { selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00af9b00 });
  for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
  // IDT: vector 14 -> HLT at HANDLERS.
  v.setBigUint64(IDT + 14 * 16, BigInt(HANDLERS & 0xffff) | (8n << 16n) | (0x8en << 40n) | (BigInt(HANDLERS >>> 16) << 48n), true);
  cpu.ram[HANDLERS] = 0xf4;
  cpu.setIdtr(BigInt(IDT), 32 * 16 - 1);
  cpu.syncMode();
  return cpu;
}

/** Run `code` (HLT appended) with the registers given; returns where it stopped. */
function run(cpu: Cpu, code: number[], regs: Record<number, bigint>, rflags = 0x2n): number {
  cpu.ram.set([...code, 0xf4], CODE);
  cpu.ramWritten(CODE, code.length + 1);
  for (const [r, val] of Object.entries(regs)) cpu.setReg(Number(r), val);
  cpu.setReg(4, BigInt(STACK));
  cpu.setRflags(rflags);
  cpu.setRip(BigInt(CODE));
  const r = cpu.run(1_000_000);
  expect(r.reason).toBe(StopReason.Halt);
  return Number(cpu.getRip()) - 1;
}

const REP_MOVSB = [0xf3, 0xa4], REP_MOVSQ = [0xf3, 0x48, 0xa5], REP_STOSB = [0xf3, 0xaa];
const REP_STOSD = [0xf3, 0xab], REP_STOSQ = [0xf3, 0x48, 0xab];

/** What element-by-element forward MOVS of `n` elements of `size` bytes does to a copy of memory. */
function modelMovs(mem: Uint8Array, src: number, dst: number, n: number, size: number): void {
  for (let i = 0; i < n; i++) for (let b = 0; b < size; b++) mem[dst + i * size + b] = mem[src + i * size + b];
}

function fillPattern(cpu: Cpu, from: number, len: number, seed: number): void {
  let x = seed;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    cpu.ram[from + i] = x >>> 24;
  }
}

describe('REP MOVS / REP STOS in page-sized runs', () => {
  it('copies across several pages, unaligned, as single elements would', async () => {
    const cpu = await cpu64();
    const src = 0x100123, dst = 0x180ffd, n = 3 * 4096 + 77;
    fillPattern(cpu, 0x100000, 0x10000, 1);
    const want = cpu.ram.slice();
    modelMovs(want, src, dst, n, 1);
    expect(run(cpu, REP_MOVSB, { [RSI]: BigInt(src), [RDI]: BigInt(dst), [RCX]: BigInt(n) })).toBe(CODE + 2);
    expect(cpu.ram.subarray(0x180000, 0x190000)).toEqual(want.subarray(0x180000, 0x190000));
    expect(cpu.getReg(RSI)).toBe(BigInt(src + n));
    expect(cpu.getReg(RDI)).toBe(BigInt(dst + n));
    expect(cpu.getReg(RCX)).toBe(0n);
  });

  it('repeats a pattern when the destination overlaps the source from ahead', async () => {
    const cpu = await cpu64();
    const src = 0x100000, n = 5000;
    fillPattern(cpu, src, 16, 7);
    for (const [dst, code, size] of [[src + 3, REP_MOVSB, 1], [src + 24, REP_MOVSQ, 8]] as const) {
      const want = cpu.ram.slice();
      modelMovs(want, src, dst, n / size, size);
      run(cpu, code, { [RSI]: BigInt(src), [RDI]: BigInt(dst), [RCX]: BigInt(n / size) });
      expect(cpu.ram.subarray(src, src + 3 * n)).toEqual(want.subarray(src, src + 3 * n));
    }
  });

  it('copies down onto an overlapping range behind the source', async () => {
    const cpu = await cpu64();
    const src = 0x100800, dst = 0x100000, n = 6000;
    fillPattern(cpu, 0x100000, 0x4000, 3);
    const want = cpu.ram.slice();
    modelMovs(want, src, dst, n, 1);
    run(cpu, REP_MOVSB, { [RSI]: BigInt(src), [RDI]: BigInt(dst), [RCX]: BigInt(n) });
    expect(cpu.ram.subarray(0x100000, 0x104000)).toEqual(want.subarray(0x100000, 0x104000));
  });

  it('stores bytes, dwords and qwords', async () => {
    const cpu = await cpu64();
    run(cpu, REP_STOSB, { [RAX]: 0x1234n, [RDI]: 0x100001n, [RCX]: 9000n });
    expect(cpu.ram[0x100000]).toBe(0);
    expect(cpu.ram.subarray(0x100001, 0x100001 + 9000).every((b) => b === 0x34)).toBe(true);
    expect(cpu.ram[0x100001 + 9000]).toBe(0);
    run(cpu, REP_STOSD, { [RAX]: 0x11223344n, [RDI]: 0x110002n, [RCX]: 2000n });
    const v = view(cpu);
    for (let i = 0; i < 2000; i++) expect(v.getUint32(0x110002 + 4 * i, true)).toBe(0x11223344);
    expect(cpu.getReg(RDI)).toBe(BigInt(0x110002 + 8000));
    run(cpu, REP_STOSQ, { [RAX]: 0x0102030405060708n, [RDI]: 0x120000n, [RCX]: 1500n });
    for (let i = 0; i < 1500; i++) expect(v.getBigUint64(0x120000 + 8 * i, true)).toBe(0x0102030405060708n);
    expect(cpu.getReg(RCX)).toBe(0n);
  });

  it('stops at a page fault with the elements before it done and the registers at the fault', async () => {
    const cpu = await cpu64();
    // The destination runs into the not-present page at 0x250000.
    const dst = 0x24f000 - 100, n = 8000;
    expect(run(cpu, REP_STOSB, { [RAX]: 0xabn, [RDI]: BigInt(dst), [RCX]: BigInt(n) })).toBe(HANDLERS);
    expect(cpu.getCr(2)).toBe(0x250000n);
    expect(cpu.getReg(RDI)).toBe(0x250000n);
    expect(cpu.getReg(RCX)).toBe(BigInt(n - (0x250000 - dst)));
    expect(cpu.ram.subarray(dst, 0x250000).every((b) => b === 0xab)).toBe(true);
    // The same for a source that runs into it.
    const src = 0x24e000, to = 0x100000;
    fillPattern(cpu, src, 0x2000, 9);
    expect(run(cpu, REP_MOVSQ, { [RSI]: BigInt(src), [RDI]: BigInt(to), [RCX]: 2000n })).toBe(HANDLERS);
    expect(cpu.getCr(2)).toBe(0x250000n);
    expect(cpu.getReg(RSI)).toBe(0x250000n);
    expect(cpu.getReg(RCX)).toBe(BigInt(2000 - 0x2000 / 8));
    expect(cpu.ram.subarray(to, to + 0x2000)).toEqual(cpu.ram.subarray(src, src + 0x2000));
  });

  it('runs code that a REP MOVS wrote over instructions it ran before', async () => {
    const cpu = await cpu64();
    const target = 0x9000;
    cpu.ram.set([0xb8, 1, 0, 0, 0, 0xc3], target); // mov eax, 1; ret
    cpu.ram.set([0xb8, 2, 0, 0, 0, 0xc3], 0x9800); // mov eax, 2; ret
    cpu.ramWritten(0x9000, 0x1000);
    // call target; rep movsb (the second routine over the first); call target
    const code = [0xe8, ...le(BigInt(target - (CODE + 5)), 4), ...REP_MOVSB];
    code.push(0xe8, ...le(BigInt(target - (CODE + code.length + 5)), 4));
    run(cpu, code, { [RSI]: 0x9800n, [RDI]: BigInt(target), [RCX]: 6n, [RAX]: 0n });
    expect(cpu.getReg(RAX)).toBe(2n);
  });
});
