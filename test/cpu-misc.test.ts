// Integer extensions and the XSAVE feature set: POPCNT/LZCNT/TZCNT (and BSF/BSR without F3),
// MOVBE, CRC32, RDRAND/RDSEED, XGETBV/XSETBV, XSAVE/XRSTOR/XSAVEOPT for x87 and SSE state, and
// what CPUID says about them (SDM Vol. 2 instruction pages, Vol. 1 ch. 13). Instructions are
// given as bytes and run in 64-bit mode.
import { describe, expect, it } from 'vitest';
import { longCpuWithHandlers } from './hostdiff-sse/ops.ts';
import { StopReason, type CpuHost } from '../cpu/types.ts';
import type { Cpu } from '../cpu/cpu.ts';

const CODE = 0x100000, DATA = 0x200000, IMG = 0x201000;
const GDT = 0x303000, IDT = 0x304000, HANDLERS = 0x305000, STACK = 0x3f0000;
const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ALL6 = CF | PF | AF | ZF | SF | OF;
const OSXSAVE = 0x40000n;

/** 64-bit CPU (CR4: PAE, OSFXSR, plus `cr4`) with an IDT whose handler for vector v is a HLT at HANDLERS + 16 v. */
function cpu64(cr4 = 0n, cr0 = 0x80000031n, host?: CpuHost): Promise<Cpu> {
  return longCpuWithHandlers(cr0, 0x220n | cr4, { gdt: GDT, idt: IDT, handlers: HANDLERS }, host);
}

/** Run code (HLT appended) with RDI = DATA and the given registers; the exception vector, or -1. */
function run(cpu: Cpu, code: number[], regs: Record<number, bigint> = {}, rflags = 0x2n): number {
  cpu.ram.set([...code, 0xf4], CODE);
  cpu.ramWritten(CODE, code.length + 1);
  cpu.setReg(4, BigInt(STACK));
  cpu.setReg(7, BigInt(DATA));
  for (const [r, v] of Object.entries(regs)) cpu.setReg(Number(r), v);
  cpu.setRflags(rflags);
  cpu.setRip(BigInt(CODE));
  const r = cpu.run(10_000);
  expect(r.reason).toBe(StopReason.Halt);
  const rip = Number(cpu.getRip()) - 1;
  if (rip === CODE + code.length) return -1;
  expect(rip >= HANDLERS && rip < HANDLERS + 32 * 16).toBe(true);
  return (rip - HANDLERS) / 16;
}
/** Error code of the exception just taken (on top of the handler's stack). */
const errorCode = (cpu: Cpu) => view(cpu).getBigUint64(Number(cpu.getReg(4)), true);
const view = (cpu: Cpu) => new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
const le = (v: bigint, n: number) => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const movRdi = (a: number) => [0x48, 0xbf, ...le(BigInt(a), 8)];
const movEax = (v: number) => [0xb8, ...le(BigInt(v), 4)];
const movEcx = (v: number) => [0xb9, ...le(BigInt(v), 4)];
const movEdx = (v: number) => [0xba, ...le(BigInt(v), 4)];
const flags = (cpu: Cpu) => Number(cpu.getRflags()) & ALL6;
const mask = (n: number) => (1n << BigInt(8 * n)) - 1n;

const XGETBV = [0x0f, 0x01, 0xd0];
const XSETBV = [0x0f, 0x01, 0xd1];
const XSAVE = [0x0f, 0xae, 0x27]; // xsave [rdi]
const XSAVE64 = [0x48, 0x0f, 0xae, 0x27];
const XRSTOR = [0x0f, 0xae, 0x2f];
const XSAVEOPT = [0x0f, 0xae, 0x37];
const FXSAVE = [0x0f, 0xae, 0x07];
const CPUID = [0x0f, 0xa2];
const ALL_COMPONENTS = [...movEax(0xffffffff), ...movEdx(0xffffffff)];
/** MOVDQU xmm<i>, [rdi + 16 i] */
const loadXmm = (i: number) => [0xf3, ...(i >= 8 ? [0x44] : []), 0x0f, 0x6f, 0x87 | ((i & 7) << 3), ...le(BigInt(16 * i), 4)];
const pxorSelf = (i: number) => [0x66, ...(i >= 8 ? [0x45] : []), 0x0f, 0xef, 0xc0 | ((i & 7) << 3) | (i & 7)];
const osPrefix = (size: number) => (size === 2 ? [0x66] : size === 8 ? [0x48] : []);

// ---- reference models ----

function crc32c(crc: number, v: bigint, n: number): number {
  for (let i = 0; i < n; i++) {
    crc ^= Number((v >> BigInt(8 * i)) & 0xffn);
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (crc & 1 ? 0x82f63b78 : 0);
  }
  return crc >>> 0;
}
const popcount = (v: bigint) => v.toString(2).split('').filter((c) => c === '1').length;
function lzcnt(v: bigint, bits: number): number {
  let n = 0;
  for (let i = bits - 1; i >= 0 && ((v >> BigInt(i)) & 1n) === 0n; i--) n++;
  return n;
}
function tzcnt(v: bigint, bits: number): number {
  let n = 0;
  for (let i = 0; i < bits && ((v >> BigInt(i)) & 1n) === 0n; i++) n++;
  return n;
}

const VALUES = [0n, 1n, 0x80n, 0x8000n, 0xffffn, 0x80000000n, 0x12345678n, 0xffffffffn, 0x100000000n,
  0x8000000000000000n, 0xffffffffffffffffn, 0x0123456789abcdefn, 0xfedcba9876543210n, 0x0000f00000000000n];

describe('POPCNT, LZCNT, TZCNT', () => {
  it('count bits at 16, 32 and 64 bits with the flags of the SDM', async () => {
    const cpu = await cpu64();
    for (const size of [2, 4, 8]) {
      const bits = size * 8;
      for (const v of VALUES) {
        const src = v & mask(size);
        for (const [op, model] of [[0xb8, popcount], [0xbd, (x: bigint) => lzcnt(x, bits)], [0xbc, (x: bigint) => tzcnt(x, bits)]] as const) {
          // op rax, rbx (F3 before the REX/66 prefixes is fine: F3 66 REX 0F xx)
          const code = [0xf3, ...osPrefix(size), 0x0f, op, 0xc3];
          const before = 0x1111222233334444n;
          expect(run(cpu, code, { 0: before, 3: v }, BigInt(0x2 | ALL6))).toBe(-1);
          const r = BigInt(model(src));
          const want = size === 2 ? (before & ~0xffffn) | r : r;
          expect(cpu.getReg(0), `${op.toString(16)} ${size} ${v.toString(16)}`).toBe(want);
          const f = flags(cpu);
          if (op === 0xb8) expect(f).toBe(src === 0n ? ZF : 0);
          else {
            expect(f & CF).toBe(src === 0n ? CF : 0);
            expect(f & ZF).toBe(r === 0n ? ZF : 0);
          }
        }
      }
    }
  });

  it('takes a memory source', async () => {
    const cpu = await cpu64();
    view(cpu).setBigUint64(DATA + 8, 0x00f0000000000100n, true);
    // popcnt rax, [rdi+8]; lzcnt rcx, [rdi+8]; tzcnt edx, [rdi+8]
    expect(run(cpu, [0xf3, 0x48, 0x0f, 0xb8, 0x47, 8, 0xf3, 0x48, 0x0f, 0xbd, 0x4f, 8, 0xf3, 0x0f, 0xbc, 0x57, 8])).toBe(-1);
    expect([cpu.getReg(0), cpu.getReg(1), cpu.getReg(2)]).toEqual([5n, 8n, 8n]);
  });

  it('leaves BSF/BSR without F3 alone, and 0F B8 without F3 is #UD', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0x48, 0x0f, 0xbd, 0xc3], { 0: 77n, 3: 0x10n })).toBe(-1); // bsr rax, rbx
    expect(cpu.getReg(0)).toBe(4n);
    expect(run(cpu, [0x48, 0x0f, 0xbc, 0xc3], { 0: 77n, 3: 0n })).toBe(-1); // bsf rax, 0: unchanged, ZF
    expect(cpu.getReg(0)).toBe(77n);
    expect(flags(cpu) & ZF).toBe(ZF);
    expect(run(cpu, [0x48, 0x0f, 0xb8, 0xc3])).toBe(6);
  });
});

describe('MOVBE', () => {
  it('loads and stores byte-reversed at 16, 32 and 64 bits', async () => {
    const cpu = await cpu64();
    const dv = view(cpu);
    dv.setBigUint64(DATA, 0x0102030405060708n, true);
    // movbe rax, [rdi]; movbe ecx, [rdi]; movbe dx, [rdi]
    expect(run(cpu, [0x48, 0x0f, 0x38, 0xf0, 0x07, 0x0f, 0x38, 0xf0, 0x0f, 0x66, 0x0f, 0x38, 0xf0, 0x17],
      { 1: 0xffffffffffffffffn, 2: 0xaaaaaaaaaaaaaaaan })).toBe(-1);
    expect(cpu.getReg(0)).toBe(0x0807060504030201n);
    expect(cpu.getReg(1)).toBe(0x08070605n); // zero-extended
    expect(cpu.getReg(2)).toBe(0xaaaaaaaaaaaa0807n);
    // movbe [rdi+16], rbx; movbe [rdi+24], ebx; movbe [rdi+32], bx
    dv.setBigUint64(DATA + 32, 0xccccccccccccccccn, true);
    expect(run(cpu, [0x48, 0x0f, 0x38, 0xf1, 0x5f, 16, 0x0f, 0x38, 0xf1, 0x5f, 24, 0x66, 0x0f, 0x38, 0xf1, 0x5f, 32],
      { 3: 0x1122334455667788n })).toBe(-1);
    expect(dv.getBigUint64(DATA + 16, true)).toBe(0x8877665544332211n);
    expect(dv.getUint32(DATA + 24, true)).toBe(0x88776655);
    expect(dv.getBigUint64(DATA + 32, true)).toBe(0xcccccccccccc8877n);
  });

  it('raises #UD for a register operand and with F3', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0x0f, 0x38, 0xf0, 0xc3])).toBe(6);
    expect(run(cpu, [0x0f, 0x38, 0xf1, 0xc3])).toBe(6);
    expect(run(cpu, [0xf3, 0x0f, 0x38, 0xf0, 0x07])).toBe(6);
  });
});

describe('CRC32', () => {
  it('gives the CRC-32C check value of "123456789"', async () => {
    const cpu = await cpu64();
    cpu.ram.set(Buffer.from('123456789'), DATA);
    // mov eax, -1; 9x: crc32 eax, byte [rdi+i]; not eax
    const code = [...movEax(0xffffffff)];
    for (let i = 0; i < 9; i++) code.push(0xf2, 0x0f, 0x38, 0xf0, 0x47, i);
    code.push(0xf7, 0xd0);
    expect(run(cpu, code)).toBe(-1);
    expect(cpu.getReg(0)).toBe(0xe3069283n);
  });

  it('matches the bitwise model for 8-, 16-, 32- and 64-bit sources', async () => {
    const cpu = await cpu64();
    for (const [n, code] of [
      [1, [0xf2, 0x0f, 0x38, 0xf0, 0xc3]], // crc32 eax, bl
      [1, [0xf2, 0x48, 0x0f, 0x38, 0xf0, 0xc3]], // crc32 rax, bl
      [2, [0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xc3]], // crc32 eax, bx
      [4, [0xf2, 0x0f, 0x38, 0xf1, 0xc3]], // crc32 eax, ebx
      [8, [0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc3]], // crc32 rax, rbx
    ] as const) {
      for (const v of VALUES) {
        for (const init of [0n, 0xffffffffn, 0x1234567800000000n | 0x9abcdef0n]) {
          expect(run(cpu, [...code], { 0: init, 3: v }, BigInt(0x2 | CF | ZF))).toBe(-1);
          expect(cpu.getReg(0), `${n} ${v.toString(16)}`).toBe(BigInt(crc32c(Number(init & 0xffffffffn), v, n)));
          expect(flags(cpu)).toBe(CF | ZF); // flags unchanged
        }
      }
    }
  });
});

describe('RDRAND, RDSEED', () => {
  it('set CF, clear the other flags and repeat from the same seed', async () => {
    const seq = async () => {
      const cpu = await cpu64();
      const out: bigint[] = [];
      // rdrand rax; rdseed rcx; rdrand edx; rdrand bx
      expect(run(cpu, [0x48, 0x0f, 0xc7, 0xf0, 0x48, 0x0f, 0xc7, 0xf9, 0x0f, 0xc7, 0xf2, 0x66, 0x0f, 0xc7, 0xf3],
        { 2: 0xffffffffffffffffn, 3: 0xaaaaaaaaaaaaaaaan }, BigInt(0x2 | ALL6 & ~CF))).toBe(-1);
      expect(flags(cpu)).toBe(CF);
      out.push(cpu.getReg(0), cpu.getReg(1), cpu.getReg(2), cpu.getReg(3));
      return out;
    };
    const a = await seq(), b = await seq();
    expect(a).toEqual(b);
    expect(a[0]).not.toBe(a[1]);
    expect(a[2] >> 32n).toBe(0n);
    expect(a[3] >> 16n).toBe(0xaaaaaaaaaaaan);
  });

  it('raises #UD for memory operands', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0x0f, 0xc7, 0x37])).toBe(6);
    expect(run(cpu, [0x0f, 0xc7, 0x3f])).toBe(6);
  });
});

describe('CPUID', () => {
  const cpuid = (cpu: Cpu, leaf: number, sub = 0) => {
    expect(run(cpu, [...movEax(leaf), ...movEcx(sub), ...CPUID])).toBe(-1);
    return [0, 3, 1, 2].map((r) => Number(cpu.getReg(r)));
  };
  it('advertises what is implemented and nothing more', async () => {
    const cpu = await cpu64();
    const [max, b0, c0, d0] = cpuid(cpu, 0);
    expect(max).toBe(0xd);
    expect(Buffer.from(new Uint32Array([b0, d0, c0]).buffer).toString()).toBe('GenuineIntel');
    const [sig, ebx1, ecx1, edx1] = cpuid(cpu, 1);
    // Family 6, model 2CH (extended model 2, model 0CH), stepping 2: a Westmere-class part.
    expect(sig).toBe(0x206c2);
    expect(ebx1).toBe(0x800); // 64-byte CLFLUSH line, one logical processor, APIC ID 0
    expect(Number(cpu.getReg(2))).not.toBe(0); // (EDX was overwritten by CPUID)
    const bit = (v: number, b: number) => (v >>> b) & 1;
    expect([bit(ecx1, 22), bit(ecx1, 23), bit(ecx1, 26), bit(ecx1, 27), bit(ecx1, 30)]).toEqual([1, 1, 1, 0, 1]);
    expect(bit(ecx1, 20)).toBe(1); // SSE4.2: CRC32, PCMPGTQ and the string instructions
    expect(bit(ecx1, 28)).toBe(0); // AVX
    expect([bit(ecx1, 21), bit(ecx1, 24)]).toEqual([0, 0]); // x2APIC, TSC-deadline: no APIC here
    expect([bit(edx1, 12), bit(edx1, 9), bit(edx1, 13)]).toEqual([1, 1, 1]); // MTRR, APIC, PGE
    const [, ebx7] = cpuid(cpu, 7);
    expect(bit(ebx7, 18)).toBe(1); // RDSEED
    expect(bit(ebx7, 3)).toBe(0); // BMI1
    expect(cpuid(cpu, 7, 1)).toEqual([0, 0, 0, 0]);
    expect(cpuid(cpu, 0xd, 0)).toEqual([3, 576, 576, 0]);
    expect(cpuid(cpu, 0xd, 1)).toEqual([1, 0, 0, 0]);
    expect(cpuid(cpu, 0xd, 2)).toEqual([0, 0, 0, 0]);
    const [, , ecxx, edxx] = cpuid(cpu, 0x80000001);
    expect(bit(ecxx, 5)).toBe(1); // LZCNT
    expect([bit(edxx, 27), bit(edxx, 29)]).toEqual([1, 1]); // RDTSCP, LM
    const brand = [0x80000002, 0x80000003, 0x80000004].flatMap((l) => cpuid(cpu, l));
    expect(Buffer.from(new Uint32Array(brand).buffer).toString('latin1').replace(/\0+$/, '')).toBe(
      'tsemu Virtual CPU (Westmere class)');
  });

  it('offers x2APIC and the TSC-deadline timer when the host APIC has them', async () => {
    const cpu = await cpu64(0n, 0x80000031n, { ...plainHost, apicFeatures: { x2apic: true, tscDeadline: true } });
    const [, , ecx1] = cpuid(cpu, 1);
    expect([(ecx1 >>> 21) & 1, (ecx1 >>> 24) & 1]).toEqual([1, 1]);
  });

  it('mirrors CR4.OSXSAVE in leaf 1 ECX bit 27, and MOV to CR4 accepts it', async () => {
    const cpu = await cpu64();
    // mov rax, cr4; or eax, 0x40000; mov cr4, rax; cpuid(1)
    expect(run(cpu, [0x0f, 0x20, 0xe0, 0x0d, ...le(OSXSAVE, 4), 0x0f, 0x22, 0xe0, ...movEax(1), ...movEcx(0), ...CPUID])).toBe(-1);
    expect((Number(cpu.getReg(1)) >>> 27) & 1).toBe(1);
    expect(cpu.getCr(4) & OSXSAVE).toBe(OSXSAVE);
  });
});

const plainHost: CpuHost = {
  portRead: () => 0xffffffff,
  portWrite: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  interruptAcknowledge: () => 0xff,
};
const MOV_RAX_CR8 = [0x44, 0x0f, 0x20, 0xc0];
const MOV_CR8_RAX = [0x44, 0x0f, 0x22, 0xc0];
const movRax = (v: bigint) => [0x48, 0xb8, ...le(v, 8)];

describe('MOV CR8', () => {
  it('is a 4-bit register without a host APIC, and #GP(0) for bits above 3', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [...movRax(9n), ...MOV_CR8_RAX, ...movRax(0n), ...MOV_RAX_CR8])).toBe(-1);
    expect(cpu.getReg(0)).toBe(9n);
    expect(run(cpu, [...movRax(0x10n), ...MOV_CR8_RAX])).toBe(13);
    expect(errorCode(cpu)).toBe(0n);
  });

  it('reads and writes the host APIC\'s TPR[7:4] (SDM Vol. 3A §10.8.6.1)', async () => {
    let tpr = 0x7c;
    const writes: number[] = [];
    const cpu = await cpu64(0n, 0x80000031n, {
      ...plainHost,
      readCr8: () => tpr >> 4,
      writeCr8: (v) => { writes.push(v); tpr = v << 4; },
    });
    expect(run(cpu, MOV_RAX_CR8)).toBe(-1);
    expect(cpu.getReg(0)).toBe(7n);
    expect(run(cpu, [...movRax(0xbn), ...MOV_CR8_RAX, ...movRax(0n), ...MOV_RAX_CR8])).toBe(-1);
    expect(writes).toEqual([0xb]);
    expect(tpr).toBe(0xb0);
    expect(cpu.getReg(0)).toBe(0xbn);
  });
});

describe('MTRRs (SDM Vol. 3A §11.11)', () => {
  const RDMSR = [0x0f, 0x32], WRMSR = [0x0f, 0x30];
  const wr = (cpu: Cpu, msr: number, v: bigint) =>
    run(cpu, [...movEcx(msr), ...movEax(Number(v & 0xffffffffn)), ...movEdx(Number(v >> 32n)), ...WRMSR]);
  const rd = (cpu: Cpu, msr: number) => {
    expect(run(cpu, [...movEcx(msr), ...RDMSR])).toBe(-1);
    return (cpu.getReg(2) << 32n) | (cpu.getReg(0) & 0xffffffffn);
  };
  it('reports 8 variable ranges, fixed ranges and WC in MTRRCAP, which is read-only', async () => {
    const cpu = await cpu64();
    expect(rd(cpu, 0xfe)).toBe(0x508n);
    expect(wr(cpu, 0xfe, 0x508n)).toBe(13);
  });
  it('keeps valid values and starts disabled', async () => {
    const cpu = await cpu64();
    expect(rd(cpu, 0x2ff)).toBe(0n);
    const cases: [number, bigint][] = [
      [0x2ff, 0xc06n], [0x250, 0x0606060606060606n], [0x258, 0x0001040506000104n], [0x259, 0n],
      [0x268, 0x0505050505050505n], [0x26f, 0x0504010006050401n], [0x200, 0xfe0000006n], [0x201, 0xfffc000800n],
      [0x20e, 0xe0000001n], [0x20f, 0xfff0000800n],
    ];
    for (const [msr, v] of cases) expect(wr(cpu, msr, v), `msr ${msr.toString(16)}`).toBe(-1);
    for (const [msr, v] of cases) expect(rd(cpu, msr), `msr ${msr.toString(16)}`).toBe(v);
  });
  it('refuses reserved bits and undefined memory types with #GP(0)', async () => {
    const cpu = await cpu64();
    const bad: [number, bigint][] = [
      [0x2ff, 0x1006n], // reserved bit 12
      [0x2ff, 0x002n], // type 2 is undefined
      [0x2ff, 0x007n], // type 7 too
      [0x250, 0x0606060606060603n], // a fixed-range byte with type 3
      [0x26b, 0x0800000000000000n], // type 8
      [0x200, 0x106n], // PHYSBASE reserved bits 11:8
      [0x200, 0x10000000006n], // above MAXPHYADDR (40)
      [0x201, 0x801n], // PHYSMASK reserved bits 10:0
      [0x20f, 0x10000000800n],
    ];
    for (const [msr, v] of bad) {
      expect(wr(cpu, msr, v), `msr ${msr.toString(16)} = ${v.toString(16)}`).toBe(13);
      expect(errorCode(cpu)).toBe(0n);
    }
    expect(rd(cpu, 0x2ff)).toBe(0n);
    // 0x251-0x257 are not MTRRs.
    expect(run(cpu, [...movEcx(0x251), ...RDMSR])).toBe(13);
  });
});

describe('XGETBV, XSETBV', () => {
  it('are #UD while CR4.OSXSAVE is clear', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [...movEcx(0), ...XGETBV])).toBe(6);
    expect(run(cpu, [...movEcx(0), ...movEax(3), ...movEdx(0), ...XSETBV])).toBe(6);
  });

  it('read and write XCR0 (x87 at reset) and refuse invalid values with #GP(0)', async () => {
    const cpu = await cpu64(OSXSAVE);
    expect(run(cpu, [...movEcx(0), ...XGETBV], { 0: -1n & mask(8), 2: -1n & mask(8) })).toBe(-1);
    expect([cpu.getReg(0), cpu.getReg(2)]).toEqual([1n, 0n]);
    expect(run(cpu, [...movEcx(0), ...movEax(3), ...movEdx(0), ...XSETBV, ...XGETBV])).toBe(-1);
    expect([cpu.getReg(0), cpu.getReg(2)]).toEqual([3n, 0n]);
    for (const [eax, edx, ecx] of [[0, 0, 0], [2, 0, 0], [7, 0, 0], [5, 0, 0], [0x13, 0, 0], [3, 1, 0], [3, 0, 1]]) {
      expect(run(cpu, [...movEcx(ecx), ...movEax(eax), ...movEdx(edx), ...XSETBV]), `${eax} ${edx} ${ecx}`).toBe(13);
      expect(errorCode(cpu)).toBe(0n);
    }
    expect(run(cpu, [...movEcx(1), ...XGETBV])).toBe(13); // XGETBV with ECX = 1 is not enumerated
    expect(run(cpu, [...movEcx(0), ...XGETBV])).toBe(-1);
    expect(cpu.getReg(0)).toBe(3n); // unchanged by the refused writes
    expect(run(cpu, [...movEcx(0), ...movEax(1), ...movEdx(0), ...XSETBV, ...XGETBV])).toBe(-1);
    expect(cpu.getReg(0)).toBe(1n);
  });
});

/** Fill XMM0-15 from a pattern, MXCSR, and push two x87 values; returns the XMM bytes. */
function stateCode(cpu: Cpu): { code: number[]; xmm: Uint8Array } {
  const xmm = new Uint8Array(256);
  for (let i = 0; i < 256; i++) xmm[i] = (i * 37 + 11) & 0xff;
  cpu.ram.set(xmm, DATA);
  view(cpu).setUint32(DATA + 0x100, 0x7fc0, true);
  const code = [
    ...Array.from({ length: 16 }, (_, i) => loadXmm(i)).flat(),
    0x0f, 0xae, 0x97, ...le(0x100n, 4), // LDMXCSR [rdi+0x100]
    0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xee, // FNINIT, FLD1, FLDZ: TOP = 6
    ...movEcx(0), ...movEax(3), ...movEdx(0), ...XSETBV,
  ];
  return { code, xmm };
}
/** Clobber the state: XMM0-15 zero, FNINIT, MXCSR = 0x1f80. */
function clobberCode(): number[] {
  return [
    ...Array.from({ length: 16 }, (_, i) => pxorSelf(i)).flat(),
    0xdb, 0xe3, ...movRdi(DATA + 0x104), 0x0f, 0xae, 0x17, // LDMXCSR [rdi]
  ];
}

describe('XSAVE, XRSTOR, XSAVEOPT', () => {
  it('save the FXSAVE image plus XSTATE_BV, and XRSTOR brings the state back', async () => {
    const cpu = await cpu64(OSXSAVE);
    const { code, xmm } = stateCode(cpu);
    view(cpu).setUint32(DATA + 0x104, 0x1f80, true);
    cpu.ram.fill(0xee, IMG, IMG + 0x1000);
    view(cpu).setBigUint64(IMG + 512, 0n, true); // header: zero
    view(cpu).setBigUint64(IMG + 520, 0n, true);
    view(cpu).setBigUint64(IMG + 528, 0n, true);
    const prog = [
      ...code,
      ...movRdi(IMG + 0x400), ...FXSAVE,
      ...movRdi(IMG), ...ALL_COMPONENTS, ...XSAVE,
      ...clobberCode(),
      ...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR,
      ...movRdi(IMG + 0x800), ...FXSAVE,
    ];
    expect(run(cpu, prog)).toBe(-1);
    const img = cpu.ram.slice(IMG, IMG + 576);
    const fx = cpu.ram.slice(IMG + 0x400, IMG + 0x400 + 416);
    expect(Array.from(img.slice(0, 416))).toEqual(Array.from(fx));
    expect(Array.from(img.slice(160, 416))).toEqual(Array.from(xmm));
    const v = new DataView(img.buffer);
    expect(v.getUint32(24, true)).toBe(0x7fc0);
    expect(v.getUint32(28, true)).toBe(0xffff);
    expect(v.getBigUint64(512, true)).toBe(3n); // XSTATE_BV
    expect(img.slice(416, 512).every((b) => b === 0xee)).toBe(true); // not written
    expect(img.slice(536, 576).every((b) => b === 0xee)).toBe(true);
    // After XRSTOR the state is the saved one again.
    expect(Array.from(cpu.ram.slice(IMG + 0x800, IMG + 0x800 + 416))).toEqual(Array.from(fx));
  });

  it('XSAVE64 stores a 64-bit FIP/FDP; XSAVEOPT stores like XSAVE', async () => {
    const cpu = await cpu64(OSXSAVE);
    const { code } = stateCode(cpu);
    cpu.ram.fill(0, IMG, IMG + 0x1000);
    expect(run(cpu, [...code, ...movRdi(IMG), ...ALL_COMPONENTS, ...XSAVE64,
      ...movRdi(IMG + 0x400), 0x48, ...FXSAVE, ...movRdi(IMG + 0x800), ...ALL_COMPONENTS, ...XSAVEOPT,
      ...movRdi(IMG + 0xc00), ...ALL_COMPONENTS, ...XSAVE])).toBe(-1);
    expect(Array.from(cpu.ram.slice(IMG, IMG + 416))).toEqual(Array.from(cpu.ram.slice(IMG + 0x400, IMG + 0x400 + 416)));
    expect(Array.from(cpu.ram.slice(IMG + 0x800, IMG + 0x800 + 576))).toEqual(Array.from(cpu.ram.slice(IMG + 0xc00, IMG + 0xc00 + 576)));
  });

  it('store only the requested components and keep the other XSTATE_BV bits', async () => {
    const cpu = await cpu64(OSXSAVE);
    const { code } = stateCode(cpu);
    cpu.ram.fill(0xee, IMG, IMG + 576);
    view(cpu).setBigUint64(IMG + 512, 2n, true); // XSTATE_BV: SSE (kept), x87 (set now)
    expect(run(cpu, [...code, ...movRdi(IMG), ...movEax(1), ...movEdx(0), ...XSAVE])).toBe(-1);
    const img = cpu.ram.slice(IMG, IMG + 576);
    const v = new DataView(img.buffer);
    expect(v.getUint16(0, true)).toBe(0x37f);
    expect(img.slice(24, 32).every((b) => b === 0xee)).toBe(true); // no MXCSR without SSE
    expect(img.slice(160, 416).every((b) => b === 0xee)).toBe(true);
    expect(v.getBigUint64(512, true)).toBe(3n);
    // SSE only: the x87 part stays, XSTATE_BV[0] is kept (0 here).
    cpu.ram.fill(0xee, IMG, IMG + 576);
    view(cpu).setBigUint64(IMG + 512, 0n, true);
    expect(run(cpu, [...movRdi(IMG), ...movEax(2), ...movEdx(0), ...XSAVE])).toBe(-1);
    const img2 = cpu.ram.slice(IMG, IMG + 576);
    expect(img2.slice(0, 24).every((b) => b === 0xee)).toBe(true);
    expect(new DataView(img2.buffer).getUint32(24, true)).toBe(0x7fc0);
    expect(new DataView(img2.buffer).getBigUint64(512, true)).toBe(2n);
    // Components outside XCR0 are not saved even if requested.
    expect(run(cpu, [...movEcx(0), ...movEax(1), ...movEdx(0), ...XSETBV])).toBe(-1);
    cpu.ram.fill(0xee, IMG, IMG + 576);
    view(cpu).setBigUint64(IMG + 512, 0n, true);
    expect(run(cpu, [...movRdi(IMG), ...ALL_COMPONENTS, ...XSAVE])).toBe(-1);
    expect(cpu.ram.slice(IMG + 24, IMG + 32).every((b) => b === 0xee)).toBe(true);
    expect(view(cpu).getBigUint64(IMG + 512, true)).toBe(1n);
  });

  it('XRSTOR initialises components whose XSTATE_BV bit is clear but loads MXCSR', async () => {
    const cpu = await cpu64(OSXSAVE);
    const { code } = stateCode(cpu);
    cpu.ram.fill(0x55, IMG, IMG + 576);
    const v = view(cpu);
    v.setUint32(IMG + 24, 0x1f80 | 0x6000, true); // MXCSR: RC = 11
    v.setBigUint64(IMG + 512, 0n, true);
    v.setBigUint64(IMG + 520, 0n, true);
    v.setBigUint64(IMG + 528, 0n, true);
    expect(run(cpu, [...code, ...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR, ...movRdi(IMG + 0x800), ...FXSAVE])).toBe(-1);
    const fx = new DataView(cpu.ram.slice(IMG + 0x800, IMG + 0x800 + 416).buffer);
    expect(fx.getUint16(0, true)).toBe(0x37f); // FCW
    expect(fx.getUint16(2, true)).toBe(0); // FSW (TOP 0)
    expect(fx.getUint8(4)).toBe(0); // all empty
    expect(fx.getUint32(24, true)).toBe(0x7f80);
    for (let k = 32; k < 416; k += 8) expect(fx.getBigUint64(k, true), `${k}`).toBe(0n);
  });

  it('raise #GP(0) for misalignment and bad headers, #NM with CR0.TS, #UD without OSXSAVE, and change nothing', async () => {
    const cpu = await cpu64(OSXSAVE);
    const { code } = stateCode(cpu);
    expect(run(cpu, code)).toBe(-1);
    const v = view(cpu);
    const good = () => {
      cpu.ram.fill(0, IMG, IMG + 576);
      v.setUint32(IMG + 24, 0x1f80, true);
      v.setBigUint64(IMG + 512, 3n, true);
    };
    const snapshot = () => {
      expect(run(cpu, [...movRdi(IMG + 0x800), ...FXSAVE])).toBe(-1);
      return Array.from(cpu.ram.slice(IMG + 0x800, IMG + 0x800 + 416));
    };
    const before = snapshot();
    for (const [what, setup, prog] of [
      ['misaligned XSAVE', () => {}, [...movRdi(IMG + 32), ...ALL_COMPONENTS, ...XSAVE]],
      ['misaligned XRSTOR', good, [...movRdi(IMG + 16), ...ALL_COMPONENTS, ...XRSTOR]],
      ['XCOMP_BV set', () => { good(); v.setBigUint64(IMG + 520, 1n << 63n, true); }, [...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR]],
      ['header bytes 16-23', () => { good(); v.setUint8(IMG + 530, 1); }, [...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR]],
      ['XSTATE_BV beyond XCR0', () => { good(); v.setBigUint64(IMG + 512, 4n, true); }, [...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR]],
      ['reserved MXCSR bit', () => { good(); v.setUint32(IMG + 24, 0x11f80, true); }, [...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR]],
    ] as const) {
      setup();
      expect(run(cpu, [...prog]), what).toBe(13);
      expect(errorCode(cpu)).toBe(0n);
      expect(snapshot(), what).toEqual(before);
    }
    // Only SSE requested: a reserved MXCSR bit still faults (MXCSR goes with RFBM[1]).
    good();
    v.setUint32(IMG + 24, 0x11f80, true);
    expect(run(cpu, [...movRdi(IMG), ...movEax(2), ...movEdx(0), ...XRSTOR])).toBe(13);
    // x87 only: MXCSR is not loaded, so its reserved bits do not matter.
    expect(run(cpu, [...movRdi(IMG), ...movEax(1), ...movEdx(0), ...XRSTOR])).toBe(-1);
    // XSTATE_BV beyond XCR0 faults even when EDX:EAX does not ask for it.
    good();
    expect(run(cpu, [...movEcx(0), ...movEax(1), ...movEdx(0), ...XSETBV, ...movRdi(IMG), ...movEax(1), ...XRSTOR])).toBe(13);

    const ts = await cpu64(OSXSAVE, 0x80000039n);
    expect(run(ts, [...movRdi(IMG), ...ALL_COMPONENTS, ...XSAVE])).toBe(7);
    expect(run(ts, [...movRdi(IMG), ...ALL_COMPONENTS, ...XRSTOR])).toBe(7);
    const off = await cpu64();
    for (const op of [XSAVE, XRSTOR, XSAVEOPT]) expect(run(off, [...movRdi(IMG), ...ALL_COMPONENTS, ...op])).toBe(6);
  });

  it('XSAVE with a page fault writes nothing', async () => {
    const cpu = await cpu64(OSXSAVE);
    // The area straddles the end of the mapped 4 MiB: 0x3fffc0 .. 0x400200 (PD entry 2 absent).
    const at = 0x400000 - 0x40;
    cpu.ram.fill(0xee, at, at + 0x40);
    expect(run(cpu, [...movRdi(at), ...ALL_COMPONENTS, ...XSAVE])).toBe(14);
    expect(cpu.ram.slice(at, at + 0x40).every((b) => b === 0xee)).toBe(true);
  });
});
