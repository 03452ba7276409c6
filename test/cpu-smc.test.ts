// Decoded instructions are cached by physical address (assembly/decode.ts): writes to code pages,
// through any mapping, must be seen by the next execution, and changing a linear page's mapping
// must run the new page's bytes (SDM Vol. 3A §11.6, self-modifying and cross-modifying code).
// The guest runs in 64-bit mode with 4 KiB pages for the low 2 MiB and for linear 4-8 MiB.
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

const PML4 = 0x10000, PDPT = 0x11000, PD = 0x12000, PT0 = 0x13000, PT2 = 0x14000, PT3 = 0x15000;
const GDT = 0x16000, STACK = 0x1f000;
/** Physical pages for code that the tests map at linear 4-8 MiB. */
const P1 = 0x300000, P2 = 0x301000, P3 = 0x302000, P4 = 0x303000, P5 = 0x304000;
const PTE = 0x3n; // present, writable

const le = (v: bigint, n: number) => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));

async function cpu64(): Promise<Cpu> {
  const cpu = await Cpu.create(8 << 20, host);
  const v = view(cpu);
  v.setBigUint64(PML4, BigInt(PDPT) | PTE, true);
  v.setBigUint64(PDPT, BigInt(PD) | PTE, true);
  v.setBigUint64(PD, BigInt(PT0) | PTE, true);
  v.setBigUint64(PD + 8, 0x200083n, true); // 2-4 MiB: one 2 MiB page, identity
  v.setBigUint64(PD + 16, BigInt(PT2) | PTE, true);
  v.setBigUint64(PD + 24, BigInt(PT3) | PTE, true);
  for (let i = 0; i < 512; i++) v.setBigUint64(PT0 + 8 * i, BigInt(i * 0x1000) | PTE, true);
  cpu.setCr(4, 0x20n); // PAE
  cpu.setCr(3, BigInt(PML4));
  cpu.setMsr(0xc0000080, 0x500n); // LME, LMA
  cpu.setCr(0, 0x80000031n);
  v.setBigUint64(GDT + 8, 0x00af9b000000ffffn, true);
  v.setBigUint64(GDT + 16, 0x00cf93000000ffffn, true);
  cpu.setGdtr(BigInt(GDT), 23);
  cpu.setSeg(1, { selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00af9b00 });
  for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
  cpu.syncMode();
  return cpu;
}

const view = (cpu: Cpu) => new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);

/** Map linear page `lin` (4-8 MiB) to physical page `phys` in the page tables (no TLB flush). */
function map(cpu: Cpu, lin: number, phys: number): void {
  const table = lin < 0x600000 ? PT2 : PT3;
  view(cpu).setBigUint64(table + 8 * ((lin >> 12) & 511), BigInt(phys) | PTE, true);
}

/**
 * The host places bytes (and says so, as DMA would: that drops every decoded instruction, so the
 * tests place all code before the first run and let the guest make the changes under test).
 */
function put(cpu: Cpu, addr: number, bytes: number[]): void {
  cpu.ram.set(bytes, addr);
  cpu.ramWritten(addr, bytes.length);
}

/** Run from `rip` to HLT; returns RAX. */
function run(cpu: Cpu, rip: number): bigint {
  cpu.setReg(4, BigInt(STACK));
  cpu.setRip(BigInt(rip));
  const r = cpu.run(100_000);
  expect(r.reason).toBe(StopReason.Halt);
  return cpu.getReg(0);
}

const HLT = 0xf4;
/** mov byte [abs32], imm8 */
const storeByte = (addr: number, b: number) => [0xc6, 0x04, 0x25, ...le(BigInt(addr), 4), b];
/** mov rax, imm64; mov [abs32], rax */
const storeQword = (addr: number, v: bigint) => [0x48, 0xb8, ...le(v, 8), 0x48, 0x89, 0x04, 0x25, ...le(BigInt(addr), 4)];
/** invlpg [abs32] */
const invlpg = (addr: number) => [0x0f, 0x01, 0x3c, 0x25, ...le(BigInt(addr), 4)];
/** mov al, imm8 */
const movAl = (b: number) => [0xb0, b];

describe('self-modifying code and decoded instructions', () => {
  it('runs the new bytes after the guest patches code it has run before', async () => {
    const cpu = await cpu64();
    const A = 0x8000, B = 0x9000;
    put(cpu, A, [0x31, 0xc0, ...movAl(0x11), HLT]); // xor eax, eax; mov al, 0x11; hlt
    put(cpu, B, [...storeByte(A + 3, 0x22), HLT]);
    expect(run(cpu, A)).toBe(0x11n);
    expect(run(cpu, A)).toBe(0x11n);
    run(cpu, B);
    expect(run(cpu, A)).toBe(0x22n);
  });

  it('sees patches through a TLB entry made by data writes before the page held code', async () => {
    const cpu = await cpu64();
    const A = 0x8000, B = 0x9000;
    put(cpu, A, [0x31, 0xc0, ...movAl(0x11), HLT]);
    put(cpu, B, [...storeByte(A + 0x100, 0x01), HLT]);
    put(cpu, B + 0x100, [...storeByte(A + 3, 0x22), HLT]);
    run(cpu, B);
    expect(run(cpu, A)).toBe(0x11n);
    run(cpu, B + 0x100);
    expect(run(cpu, A)).toBe(0x22n);
  });

  it('sees a patch of the next instruction on the same page', async () => {
    const cpu = await cpu64();
    const A = 0x8000;
    // mov byte [A + 11], 0x33 (8 bytes); xor eax, eax (2); mov al, 0x44 (2: imm at A + 11); hlt
    put(cpu, A, [...storeByte(A + 11, 0x33), 0x31, 0xc0, ...movAl(0x44), HLT]);
    expect(run(cpu, A)).toBe(0x33n);
    // The second run writes the same byte again: still 0x33.
    expect(run(cpu, A)).toBe(0x33n);
  });

  it('sees writes made through another linear mapping of the same physical page', async () => {
    const cpu = await cpu64();
    const ALIAS = 0x400000, B = 0x9000;
    map(cpu, ALIAS, P1);
    put(cpu, P1, [0x31, 0xc0, ...movAl(0x11), HLT]);
    put(cpu, B, [...storeByte(ALIAS + 3, 0x55), HLT]);
    // Run the code at its identity address (P1 lies in the 2 MiB identity page) and at the alias.
    expect(run(cpu, P1)).toBe(0x11n);
    expect(run(cpu, ALIAS)).toBe(0x11n);
    run(cpu, B);
    expect(run(cpu, P1)).toBe(0x55n);
    expect(run(cpu, ALIAS)).toBe(0x55n);
  });

  it('runs the bytes of the new page when the guest remaps a linear page (INVLPG)', async () => {
    const cpu = await cpu64();
    const LIN = 0x500000, B = 0x9000;
    map(cpu, LIN, P1);
    put(cpu, P1, [0x31, 0xc0, ...movAl(0x11), HLT]);
    put(cpu, P2, [0x31, 0xc0, ...movAl(0x22), HLT]);
    const pte = PT2 + 8 * ((LIN >> 12) & 511);
    put(cpu, B, [...storeQword(pte, BigInt(P2) | PTE), ...invlpg(LIN), HLT]);
    put(cpu, B + 0x100, [...storeQword(pte, BigInt(P1) | PTE), ...invlpg(LIN), HLT]);
    expect(run(cpu, LIN)).toBe(0x11n);
    run(cpu, B);
    expect(run(cpu, LIN)).toBe(0x22n);
    // And back: the records of P1 are still good.
    run(cpu, B + 0x100);
    expect(run(cpu, LIN)).toBe(0x11n);
  });

  it('runs the bytes of the new page after a CR3 load', async () => {
    const cpu = await cpu64();
    const LIN = 0x500000, B = 0x9000;
    map(cpu, LIN, P1);
    put(cpu, P1, [0x31, 0xc0, ...movAl(0x11), HLT]);
    put(cpu, P2, [0x31, 0xc0, ...movAl(0x22), HLT]);
    // A second PML4 that differs only in the PT for linear 4-6 MiB.
    const PML4B = 0x17000, PDPTB = 0x18000, PDB = 0x19000, PT2B = 0x1a000;
    const v = view(cpu);
    cpu.ram.copyWithin(PDB, PD, PD + 0x1000);
    cpu.ram.copyWithin(PT2B, PT2, PT2 + 0x1000);
    v.setBigUint64(PML4B, BigInt(PDPTB) | PTE, true);
    v.setBigUint64(PDPTB, BigInt(PDB) | PTE, true);
    v.setBigUint64(PDB + 16, BigInt(PT2B) | PTE, true);
    v.setBigUint64(PT2B + 8 * ((LIN >> 12) & 511), BigInt(P2) | PTE, true);
    // mov rax, PML4B; mov cr3, rax; hlt
    put(cpu, B, [0x48, 0xb8, ...le(BigInt(PML4B), 8), 0x0f, 0x22, 0xd8, HLT]);
    put(cpu, B + 0x100, [0x48, 0xb8, ...le(BigInt(PML4), 8), 0x0f, 0x22, 0xd8, HLT]);
    expect(run(cpu, LIN)).toBe(0x11n);
    run(cpu, B);
    expect(run(cpu, LIN)).toBe(0x22n);
    run(cpu, B + 0x100);
    expect(run(cpu, LIN)).toBe(0x11n);
  });

  it('decodes an instruction that crosses into a remapped page from the new bytes', async () => {
    const cpu = await cpu64();
    const LIN = 0x600000, B = 0x9000;
    map(cpu, LIN, P3);
    map(cpu, LIN + 0x1000, P4);
    // xor eax, eax; mov eax, imm32 at LIN + 0xffe: the opcode and one immediate byte on the first page.
    put(cpu, P3 + 0xffc, [0x31, 0xc0, 0xb8, 0x78]);
    put(cpu, P4, [0x56, 0x34, 0x12, HLT]);
    put(cpu, P5, [0xbc, 0x9a, 0x00, HLT]);
    const pte = PT3 + 8 * (((LIN + 0x1000) >> 12) & 511);
    put(cpu, B, [...storeQword(pte, BigInt(P5) | PTE), ...invlpg(LIN + 0x1000), HLT]);
    expect(run(cpu, LIN + 0xffc)).toBe(0x12345678n);
    expect(run(cpu, LIN + 0xffc)).toBe(0x12345678n);
    run(cpu, B);
    expect(run(cpu, LIN + 0xffc)).toBe(0x009abc78n);
  });

  it('lets a page that held code become data, and code again', async () => {
    const cpu = await cpu64();
    const A = 0x8000, B = 0x9000;
    put(cpu, A, [0x31, 0xc0, ...movAl(0x11), HLT]);
    // Fill the page with data through stores (rep stosb: rdi = A, ecx = 4095, al = 0x90).
    put(cpu, B, [0x48, 0xbf, ...le(BigInt(A), 8), 0xb9, ...le(4095n, 4), 0xb0, 0x90, 0xf3, 0xaa, HLT]);
    // Then write code again, byte by byte from the guest: xor eax,eax; mov al,0x66; hlt.
    const B2 = B + 0x100, B3 = B + 0x200;
    put(cpu, B2, [...storeByte(A, 0x31), ...storeByte(A + 1, 0xc0), ...storeByte(A + 2, 0xb0), ...storeByte(A + 3, 0x66),
      ...storeByte(A + 4, HLT), HLT]);
    // xor eax, eax; mov eax, 0x77; jmp A + 0x800 (into the NOPs, up to the HLT at A + 0xfff)
    put(cpu, B3, [0x31, 0xc0, 0xb8, ...le(0x77n, 4), 0xe9, ...le(BigInt(A + 0x800 - (B3 + 12)), 4)]);
    put(cpu, A + 0xfff, [HLT]);
    expect(run(cpu, A)).toBe(0x11n);
    run(cpu, B);
    expect(cpu.ram[A]).toBe(0x90);
    expect(cpu.ram[A + 4094]).toBe(0x90);
    run(cpu, B2);
    expect(run(cpu, A)).toBe(0x66n);
    // The NOP sled left behind runs as code when jumped into.
    expect(run(cpu, B3)).toBe(0x77n);
    expect(Number(cpu.getRip())).toBe(A + 0x1000);
  });

  it('sees a patch of code that a cached block reached through a direct CALL on the same page', async () => {
    const cpu = await cpu64();
    const A = 0x8000, F = 0x8100, B = 0x9000;
    // A: xor eax, eax; call F; hlt.  F: mov al, 0x11; ret.
    put(cpu, A, [0x31, 0xc0, 0xe8, ...le(BigInt(F - (A + 7)), 4), HLT]);
    put(cpu, F, [...movAl(0x11), 0xc3]);
    put(cpu, B, [...storeByte(F + 1, 0x22), HLT]);
    expect(run(cpu, A)).toBe(0x11n);
    expect(run(cpu, A)).toBe(0x11n);
    run(cpu, B);
    expect(run(cpu, A)).toBe(0x22n);
  });

  it('sees host writes reported through ramWritten', async () => {
    const cpu = await cpu64();
    const A = 0x8000;
    put(cpu, A, [0x31, 0xc0, ...movAl(0x11), HLT]);
    expect(run(cpu, A)).toBe(0x11n);
    put(cpu, A + 3, [0x99]);
    expect(run(cpu, A)).toBe(0x99n);
  });
});
