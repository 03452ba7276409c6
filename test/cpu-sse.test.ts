// MMX/SSE state instructions and gates: FXSAVE/FXRSTOR round trips (64-bit, REX.W and 32-bit
// forms), LDMXCSR/STMXCSR, and the #UD/#NM/#MF/#GP conditions of SDM Vol. 3A §2.5 Table 2-2,
// Vol. 1 §11.6.1 and the FXSAVE/MOVDQA/LDMXCSR pages. Instructions are given as bytes.
import { describe, expect, it } from 'vitest';
import { longCpuWithHandlers } from './hostdiff-sse/ops.ts';
import { flatCpu } from './hostdiff-x87/ops.ts';
import { StopReason } from '../cpu/types.ts';
import type { Cpu } from '../cpu/cpu.ts';

const CODE = 0x100000, DATA = 0x200000, IMG = 0x201000;
const GDT = 0x303000, IDT = 0x304000, HANDLERS = 0x305000, STACK = 0x3f0000;

/** 64-bit CPU with an IDT whose handler for vector v is a HLT at HANDLERS + 16 v. */
function cpu64(cr0 = 0x80000031n, cr4 = 0x220n): Promise<Cpu> {
  return longCpuWithHandlers(cr0, cr4, { gdt: GDT, idt: IDT, handlers: HANDLERS });
}

/** Run code (HLT appended); returns the exception vector, or -1 if it reached the end. */
function run(cpu: Cpu, code: number[]): number {
  cpu.ram.set([...code, 0xf4], CODE);
  cpu.ramWritten(CODE, code.length + 1);
  cpu.setReg(4, BigInt(STACK));
  cpu.setReg(7, BigInt(DATA)); // RDI: the data area
  cpu.setRip(BigInt(CODE));
  const r = cpu.run(10_000);
  expect(r.reason).toBe(StopReason.Halt);
  const rip = Number(cpu.getRip()) - 1;
  if (rip === CODE + code.length) return -1;
  expect(rip >= HANDLERS && rip < HANDLERS + 32 * 16).toBe(true);
  return (rip - HANDLERS) / 16;
}

const movRdi = (a: number) => [0x48, 0xbf, ...le(BigInt(a), 8)];
const le = (v: bigint, n: number) => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
/** MOVDQU xmm<i>, [rdi + 16 i] */
const loadXmm = (i: number) => [0xf3, ...(i >= 8 ? [0x44] : []), 0x0f, 0x6f, 0x87 | ((i & 7) << 3), ...le(BigInt(16 * i), 4)];
const pxorSelf = (i: number) => [0x66, ...(i >= 8 ? [0x45] : []), 0x0f, 0xef, 0xc0 | ((i & 7) << 3) | (i & 7)];

const PADDB_XMM = [0x66, 0x0f, 0xfc, 0xca];
const PADDB_MM = [0x0f, 0xfc, 0xca];
const EMMS = [0x0f, 0x77];
const FXSAVE = [0x0f, 0xae, 0x07];
const FXRSTOR = [0x0f, 0xae, 0x0f];
const LDMXCSR = [0x0f, 0xae, 0x17];
const MOVDQA = [0x66, 0x0f, 0x6f, 0x0f];
const MOVQ2DQ = [0xf3, 0x0f, 0xd6, 0xca];
const FNINIT = [0xdb, 0xe3];

describe('FXSAVE / FXRSTOR', () => {
  it('round-trips x87, MMX, XMM0-15 and MXCSR in 64-bit mode', async () => {
    const cpu = await cpu64();
    const xmm = new Uint8Array(256);
    for (let i = 0; i < 256; i++) xmm[i] = (i * 37 + 11) & 0xff;
    cpu.ram.set(xmm, DATA);
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    dv.setUint32(DATA + 0x100, 0x7fc0, true); // RC=11, FZ, DAZ, all masked
    dv.setUint32(DATA + 0x104, 0x1f80, true);
    const code = [
      ...Array.from({ length: 16 }, (_, i) => loadXmm(i)).flat(),
      0x0f, 0xae, 0x97, ...le(0x100n, 4), // LDMXCSR [rdi+0x100]
      ...FNINIT, 0xd9, 0xe8, 0xd9, 0xee, // FLD1, FLDZ: TOP = 6
      ...movRdi(IMG), ...FXSAVE,
      ...Array.from({ length: 16 }, (_, i) => pxorSelf(i)).flat(),
      ...FNINIT, ...movRdi(DATA + 0x104), ...LDMXCSR,
      ...movRdi(IMG), ...FXRSTOR,
      ...movRdi(IMG + 0x200), ...FXSAVE,
      ...movRdi(IMG + 0x400), 0x48, ...FXSAVE, // FXSAVE64
    ];
    expect(run(cpu, code)).toBe(-1);
    const a = cpu.ram.slice(IMG, IMG + 416), b = cpu.ram.slice(IMG + 0x200, IMG + 0x200 + 416);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(a.slice(160, 416))).toEqual(Array.from(xmm));
    const v = new DataView(a.buffer);
    expect(v.getUint16(0, true)).toBe(0x37f); // FCW
    expect((v.getUint16(2, true) >> 11) & 7).toBe(6); // TOP
    expect(a[4]).toBe(0xc0); // abridged FTW: physical registers 6 and 7
    expect(v.getUint32(24, true)).toBe(0x7fc0); // MXCSR
    expect(v.getUint32(28, true)).toBe(0xffff); // MXCSR_MASK
    expect(v.getBigUint64(48, true)).toBe(1n << 63n); // ST(1) = 1.0
    expect(v.getUint16(56, true)).toBe(0x3fff);
    const w = new DataView(cpu.ram.slice(IMG + 0x400, IMG + 0x400 + 416).buffer);
    expect(w.getUint32(12, true)).toBe(0); // REX.W: 64-bit FIP, no FCS
    expect(w.getBigUint64(160, true)).toBe(v.getBigUint64(160, true));
  });

  it('stores only XMM0-7 outside 64-bit mode', async () => {
    const cpu = await flatCpu(0x31n);
    cpu.setCr(4, 0x200n);
    cpu.ram.fill(0xaa, 0x200000, 0x200200);
    for (let i = 0; i < 128; i++) cpu.ram[0x100000 + i] = i;
    // MOVDQU xmm0..7, [0x100000 + 16 i]; FXSAVE [0x200000]; HLT
    const code: number[] = [];
    for (let i = 0; i < 8; i++) code.push(0xf3, 0x0f, 0x6f, 0x05 | (i << 3), ...le(BigInt(0x100000 + 16 * i), 4));
    code.push(0x0f, 0xae, 0x05, ...le(0x200000n, 4), 0xf4);
    cpu.ram.set(code, 0x1000);
    cpu.setRip(0x1000n);
    expect(cpu.run(100).reason).toBe(StopReason.Halt);
    expect(Array.from(cpu.ram.slice(0x200000 + 160, 0x200000 + 288))).toEqual(Array.from({ length: 128 }, (_, i) => i));
    expect(cpu.ram.slice(0x200000 + 288, 0x200000 + 512).every((x) => x === 0xaa)).toBe(true);
  });

  it('FXRSTOR with a reserved MXCSR bit raises #GP(0) and changes nothing', async () => {
    const cpu = await cpu64();
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    cpu.ram.fill(0x55, IMG, IMG + 512);
    dv.setUint32(IMG + 24, 0x11f80, true);
    dv.setUint32(DATA, 0x12345678, true);
    expect(run(cpu, [0x66, 0x0f, 0x6e, 0x0f, ...movRdi(IMG), ...FXRSTOR])).toBe(13); // MOVD xmm1, [rdi]
    expect(dv.getBigUint64(STACK - 8 * 6, true)).toBe(0n); // error code 0 (below SS RSP RFLAGS CS RIP)
    dv.setUint32(IMG + 24, 0x1f80, true);
    expect(run(cpu, [...movRdi(IMG + 0x200), ...FXSAVE])).toBe(-1);
    expect(dv.getUint32(IMG + 0x200 + 176, true)).toBe(0x12345678); // XMM1 kept
  });

  it('LDMXCSR/STMXCSR round trip; reserved bits and misalignment fault #GP', async () => {
    const cpu = await cpu64();
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    dv.setUint32(DATA, 0xffff, true);
    expect(run(cpu, [...LDMXCSR, 0x0f, 0xae, 0x5f, 0x04])).toBe(-1); // STMXCSR [rdi+4]
    expect(dv.getUint32(DATA + 4, true)).toBe(0xffff);
    dv.setUint32(DATA, 0x10000, true);
    expect(run(cpu, LDMXCSR)).toBe(13);
    expect(run(cpu, [0x66, 0x0f, 0x6f, 0x4f, 0x08])).toBe(13); // MOVDQA xmm1, [rdi+8]
    expect(run(cpu, [0xf3, 0x0f, 0x6f, 0x4f, 0x08])).toBe(-1); // MOVDQU xmm1, [rdi+8]
    expect(run(cpu, [0x66, 0x0f, 0xfc, 0x4f, 0x08])).toBe(13); // PADDB xmm1, [rdi+8]
    expect(run(cpu, [0x0f, 0xfc, 0x4f, 0x08])).toBe(-1); // PADDB mm1, [rdi+8]: no alignment rule
    expect(run(cpu, [0x0f, 0xae, 0x47, 0x08])).toBe(13); // FXSAVE [rdi+8]
  });
});

describe('SIMD gates', () => {
  it('CR0.EM: #UD for MMX and SSE, #NM for FXSAVE', async () => {
    const cpu = await cpu64(0x80000035n);
    expect(run(cpu, PADDB_XMM)).toBe(6);
    expect(run(cpu, PADDB_MM)).toBe(6);
    expect(run(cpu, EMMS)).toBe(6);
    expect(run(cpu, LDMXCSR)).toBe(6);
    expect(run(cpu, FXSAVE)).toBe(7);
  });
  it('CR4.OSFXSR clear: #UD for SSE only', async () => {
    const cpu = await cpu64(0x80000031n, 0x20n);
    expect(run(cpu, PADDB_XMM)).toBe(6);
    expect(run(cpu, MOVDQA)).toBe(6);
    expect(run(cpu, LDMXCSR)).toBe(6);
    expect(run(cpu, MOVQ2DQ)).toBe(6);
    expect(run(cpu, PADDB_MM)).toBe(-1);
    expect(run(cpu, EMMS)).toBe(-1);
    expect(run(cpu, FXSAVE)).toBe(-1);
  });
  it('CR0.TS: #NM', async () => {
    const cpu = await cpu64(0x80000039n);
    for (const c of [PADDB_XMM, PADDB_MM, EMMS, LDMXCSR, FXSAVE, FXRSTOR, MOVDQA]) expect(run(cpu, c)).toBe(7);
  });
  it('a pending x87 exception: #MF for MMX forms and MOVQ2DQ, not for SSE', async () => {
    const cpu = await cpu64();
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    dv.setUint16(DATA + 0x40, 0x37b, true); // ZE unmasked
    const pend = [...FNINIT, 0xd9, 0x6f, 0x40, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9]; // FLDCW; FLD1; FLDZ; FDIVP
    expect(run(cpu, [...pend, ...PADDB_MM])).toBe(16);
    expect(run(cpu, [...pend, ...EMMS])).toBe(16);
    expect(run(cpu, [...pend, ...MOVQ2DQ])).toBe(16);
    expect(run(cpu, [...pend, ...PADDB_XMM, ...FNINIT])).toBe(-1);
  });
  it('LOCK is #UD', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0xf0, ...PADDB_XMM])).toBe(6);
  });
  it('MMX instructions set TOP to 0 and every tag valid; EMMS empties the tags', async () => {
    const cpu = await cpu64();
    const code = [...FNINIT, 0xd9, 0xe8, 0xd9, 0xe8, ...PADDB_MM, ...movRdi(IMG), ...FXSAVE, ...EMMS, ...movRdi(IMG + 0x200), ...FXSAVE];
    expect(run(cpu, code)).toBe(-1);
    expect((cpu.ram[IMG + 3] >> 3) & 7).toBe(0);
    expect(cpu.ram[IMG + 4]).toBe(0xff);
    expect(cpu.ram[IMG + 32 + 16 + 8] | (cpu.ram[IMG + 32 + 16 + 9] << 8)).toBe(0xffff); // MM1 written: exponent all ones
    expect(cpu.ram[IMG + 0x200 + 4]).toBe(0);
  });
});

// SSE/SSE2 floating point: the exception path (SDM Vol. 1 §11.5.1, §11.5.4) and the encodings
// that stay #UD. Values come from the data area: XMM1 = [rdi+16], XMM2 = [rdi+32], MXCSR at +0x40.
describe('SIMD floating-point exceptions', () => {
  const DIVPS = [0x0f, 0x5e, 0xca]; // divps xmm1, xmm2
  const STMXCSR_44 = [0x0f, 0xae, 0x5f, 0x44]; // stmxcsr [rdi+0x44]
  const setup = (cpu: Cpu, mxcsr: number) => {
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    for (let i = 0; i < 4; i++) {
      dv.setFloat32(DATA + 16 + 4 * i, 1 + i, true);
      dv.setFloat32(DATA + 32 + 4 * i, i === 2 ? 0 : 2, true); // lane 2 divides by zero
    }
    dv.setUint32(DATA + 0x40, mxcsr, true);
    return dv;
  };
  const code = [0x0f, 0xae, 0x57, 0x40, ...loadXmm(1), ...loadXmm(2), ...DIVPS, ...STMXCSR_44, 0xf3, 0x0f, 0x7f, 0x4f, 0x50]; // ...; movdqu [rdi+0x50], xmm1

  it('an unmasked exception in one lane raises #XM with CR4.OSXMMEXCPT, leaving the destination unchanged', async () => {
    const cpu = await cpu64(0x80000031n, 0x620n);
    setup(cpu, 0x1f80 & ~0x200); // ZM clear
    expect(run(cpu, code)).toBe(19);
    const x = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    // The fault left XMM1 as loaded; MXCSR has ZE set.
    expect(run(cpu, [...STMXCSR_44, 0xf3, 0x0f, 0x7f, 0x4f, 0x50])).toBe(-1);
    expect(x.getUint32(DATA + 0x44, true)).toBe((0x1f80 & ~0x200) | 4);
    expect(x.getFloat32(DATA + 0x50, true)).toBe(1);
    expect(x.getFloat32(DATA + 0x58, true)).toBe(3);
  });
  it('the same exception is #UD with CR4.OSXMMEXCPT clear', async () => {
    const cpu = await cpu64(0x80000031n, 0x220n);
    setup(cpu, 0x1f80 & ~0x200);
    expect(run(cpu, code)).toBe(6);
  });
  it('masked: the default results and the flags', async () => {
    const cpu = await cpu64(0x80000031n, 0x620n);
    const dv = setup(cpu, 0x1f80);
    expect(run(cpu, code)).toBe(-1);
    expect(dv.getUint32(DATA + 0x44, true)).toBe(0x1f80 | 4); // ZE only: the other quotients are exact
    expect([0, 4, 8, 12].map((o) => dv.getFloat32(DATA + 0x50 + o, true))).toEqual([0.5, 1, Infinity, 2]);
  });
  it('encodings without an SSE/SSE2 form are #UD', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0x0f, 0xe6, 0xca])).toBe(6); // E6 without a prefix
    expect(run(cpu, [0xf2, 0x0f, 0x52, 0xca])).toBe(6); // RSQRTSD does not exist
    expect(run(cpu, [0x66, 0x0f, 0x53, 0xca])).toBe(6); // RCPPD does not exist
    expect(run(cpu, [0xf2, 0x0f, 0x5b, 0xca])).toBe(6);
    expect(run(cpu, [0xf3, 0x0f, 0x2e, 0xca])).toBe(6);
  });
});

// SSE3/SSSE3/SSE4.1: what the host-differential test cannot show (the host runs only valid,
// aligned encodings): #UD for missing prefixes and register forms of memory-only instructions
// (SDM Vol. 2 LDDQU, MOVNTDQA; Tables ), #GP(0) for misaligned 128-bit operands but not
// for the narrower ones (PMOVSX m64, ROUNDSS m32) nor LDDQU, and the MMX gates of the SSSE3 MMX forms.
describe('SSE3, SSSE3 and SSE4.1 encodings', () => {
  const PSHUFB_MM = [0x0f, 0x38, 0x00, 0xca];
  const PSHUFB_XMM = [0x66, 0x0f, 0x38, 0x00, 0xca];
  it('invalid prefixes and register forms are #UD', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0xf2, 0x0f, 0xf0, 0xca])).toBe(6); // LDDQU xmm, xmm
    expect(run(cpu, [0x66, 0x0f, 0x38, 0x2a, 0xca])).toBe(6); // MOVNTDQA xmm, xmm
    expect(run(cpu, [0x0f, 0x38, 0x10, 0xca])).toBe(6); // PBLENDVB without 66
    expect(run(cpu, [0x0f, 0x3a, 0x0e, 0xca, 0x00])).toBe(6); // PBLENDW without 66
    expect(run(cpu, [0xf3, 0x0f, 0x38, 0x00, 0xca])).toBe(6); // F3 PSHUFB
    expect(run(cpu, [0x0f, 0x7c, 0xca])).toBe(6); // HADDPS needs F2
    expect(run(cpu, [0xf3, 0x0f, 0xd0, 0xca])).toBe(6); // ADDSUB with F3
    expect(run(cpu, [0xf2, 0x0f, 0x16, 0xca])).toBe(6); // F2 0F 16
    expect(run(cpu, [0x66, 0x0f, 0x38, 0x18, 0xca])).toBe(6); // 0F 38 18: VEX only
    expect(run(cpu, PSHUFB_MM)).toBe(-1);
    expect(run(cpu, PSHUFB_XMM)).toBe(-1);
    expect(run(cpu, [0xf2, 0x0f, 0x12, 0xca])).toBe(-1); // MOVDDUP
  });
  it('128-bit memory operands must be aligned; narrower ones and LDDQU need not be', async () => {
    const cpu = await cpu64();
    expect(run(cpu, [0x66, 0x0f, 0x38, 0x00, 0x4f, 0x01])).toBe(13); // PSHUFB xmm1, [rdi+1]
    expect(run(cpu, [0x66, 0x0f, 0x38, 0x2a, 0x4f, 0x01])).toBe(13); // MOVNTDQA
    expect(run(cpu, [0x66, 0x0f, 0x3a, 0x08, 0x4f, 0x01, 0x00])).toBe(13); // ROUNDPS
    expect(run(cpu, [0xf2, 0x0f, 0x7c, 0x4f, 0x01])).toBe(13); // HADDPS
    expect(run(cpu, [0x0f, 0x38, 0x00, 0x4f, 0x01])).toBe(-1); // PSHUFB mm1, [rdi+1]
    expect(run(cpu, [0x66, 0x0f, 0x38, 0x20, 0x4f, 0x01])).toBe(-1); // PMOVSXBW xmm1, [rdi+1]
    expect(run(cpu, [0x66, 0x0f, 0x3a, 0x0a, 0x4f, 0x01, 0x00])).toBe(-1); // ROUNDSS xmm1, [rdi+1]
    expect(run(cpu, [0xf2, 0x0f, 0xf0, 0x4f, 0x01])).toBe(-1); // LDDQU
    expect(run(cpu, [0xf2, 0x0f, 0x12, 0x4f, 0x01])).toBe(-1); // MOVDDUP m64
  });
  it('gates: CR4.OSFXSR, CR0.TS, and a pending x87 exception for the MMX forms only', async () => {
    const noFxsr = await cpu64(0x80000031n, 0x20n);
    expect(run(noFxsr, PSHUFB_XMM)).toBe(6);
    expect(run(noFxsr, PSHUFB_MM)).toBe(-1);
    const ts = await cpu64(0x80000039n);
    expect(run(ts, PSHUFB_XMM)).toBe(7);
    expect(run(ts, PSHUFB_MM)).toBe(7);
    expect(run(ts, [0x66, 0x0f, 0x3a, 0x0f, 0xca, 0x03])).toBe(7); // PALIGNR xmm
    const cpu = await cpu64();
    const dv = new DataView(cpu.ram.buffer, cpu.ram.byteOffset);
    dv.setUint16(DATA + 0x40, 0x37b, true); // ZE unmasked
    const pend = [...FNINIT, 0xd9, 0x6f, 0x40, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9]; // FLDCW; FLD1; FLDZ; FDIVP
    expect(run(cpu, [...pend, ...PSHUFB_MM])).toBe(16);
    expect(run(cpu, [...pend, 0x0f, 0x3a, 0x0f, 0xca, 0x03])).toBe(16); // PALIGNR mm
    expect(run(cpu, [...pend, ...PSHUFB_XMM, ...FNINIT])).toBe(-1);
  });
});

// SSE4.2 string compares (sse42.ts; the host-differential test covers every imm8 on random strings):
// the encodings the host test cannot show, and two worked examples from the SDM's definitions for
// hosts where that test does not run.
describe('SSE4.2 PCMPESTRM/PCMPESTRI/PCMPISTRM/PCMPISTRI', () => {
  const PCMPESTRI = [0x66, 0x0f, 0x3a, 0x61, 0xca, 0x00];
  const str = (t: string) => Array.from({ length: 16 }, (_, i) => (i < t.length ? t.charCodeAt(i) : 0));
  it('need 66; any alignment; the SSE gates', async () => {
    const cpu = await cpu64();
    expect(run(cpu, PCMPESTRI)).toBe(-1);
    expect(run(cpu, [0x0f, 0x3a, 0x61, 0xca, 0x00])).toBe(6); // no 66
    expect(run(cpu, [0xf2, 0x66, 0x0f, 0x3a, 0x63, 0xca, 0x00])).toBe(6); // F2 wins over 66
    expect(run(cpu, [0xf3, 0x66, 0x0f, 0x3a, 0x62, 0xca, 0x00])).toBe(6);
    expect(run(cpu, [0x66, 0x0f, 0x3a, 0x64, 0xca, 0x00])).toBe(6); // 0F 3A 64: none
    expect(run(cpu, [0x66, 0x0f, 0x3a, 0x63, 0x4f, 0x01, 0x00])).toBe(-1); // PCMPISTRI xmm1, [rdi+1]
    expect(run(cpu, [0x66, 0x0f, 0x3a, 0x60, 0x4f, 0x07, 0x00])).toBe(-1); // PCMPESTRM xmm1, [rdi+7]
    expect(run(await cpu64(0x80000031n, 0x20n), PCMPESTRI)).toBe(6); // CR4.OSFXSR clear
    expect(run(await cpu64(0x80000039n), PCMPESTRI)).toBe(7); // CR0.TS
  });
  it('PCMPISTRI equal ordered finds a substring; PCMPESTRM ranges gives a byte mask', async () => {
    const cpu = await cpu64();
    const flags = () => Number(cpu.getRflags()) & 0x8d5;
    // pcmpistri $0x0c: unsigned bytes, equal ordered, positive, least significant index.
    cpu.ram.set([...str('lo'), ...str('hello world')], DATA + 16);
    cpu.setReg(1, 0xdeadbeef_12345678n);
    expect(run(cpu, [...loadXmm(1), ...loadXmm(2), 0x66, 0x0f, 0x3a, 0x63, 0xca, 0x0c])).toBe(-1);
    expect(cpu.getReg(1)).toBe(3n); // RCX: the index, upper half cleared
    expect(flags()).toBe(0xc1); // CF (a match), ZF (xmm2 has a null), SF (xmm1 has one)
    // pcmpestrm $0x44: unsigned bytes, ranges, positive, expanded mask. |EAX| = 2 elements of
    // xmm1 ("az"), EDX = 5 of xmm2 ("Hello", the upper half of RDX ignored without REX.W).
    cpu.ram.set([...str('azxxxxxxxxxxxxxx'), ...str('HelloHelloHelloH')], DATA + 16);
    cpu.setReg(0, 0xfffffffen);
    cpu.setReg(2, 0xffffffff_00000005n);
    const STORE_XMM0 = [0xf3, 0x0f, 0x7f, 0x87, 0x80, 0x00, 0x00, 0x00]; // movdqu [rdi+0x80], xmm0
    expect(run(cpu, [...loadXmm(1), ...loadXmm(2), 0x66, 0x0f, 0x3a, 0x60, 0xca, 0x44, ...STORE_XMM0])).toBe(-1);
    expect(Array.from(cpu.ram.slice(DATA + 0x80, DATA + 0x90))).toEqual([0, 0xff, 0xff, 0xff, 0xff, ...Array(11).fill(0)]);
    expect(flags()).toBe(0xc1);
  });
});
