// SSE/MMX host-differential test: the instruction variants, the random input generator, and both
// runners (native through a generated C helper with inline asm; tsemu in flat 64-bit mode with
// CR4.OSFXSR set). One case record (REC bytes), the same layout in and out:
//   +0 xmm1, +16 xmm2, +32 memory operand (16-byte aligned), +48 rax, +56 mm1, +64 mm2.
// Every case loads the registers from IN, copies the memory operand to OUT+32 (the op's memory
// operand is OUT+32, or OUT+33 for the unaligned forms), runs the op, stores the registers to OUT.
// IN is RSI and OUT is RDI on both sides, so that ops given as .byte can name [rdi+32].
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cpu } from '../../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../../cpu/types.ts';

export const REC = 96;
/** Bytes of a record that are compared. */
export const CMP = 72;
/** `count`: the op shifts by a register/memory count, so low quadwords are often small. */
export interface SseOp { name: string; asm: string; count?: boolean }

// MMX/SSE2 integer instructions with both an MMX (Pq,Qq) and an XMM (Vx,Wx) form.
const BOTH = [
  'punpcklbw', 'punpcklwd', 'punpckldq', 'packsswb', 'pcmpgtb', 'pcmpgtw', 'pcmpgtd', 'packuswb',
  'punpckhbw', 'punpckhwd', 'punpckhdq', 'packssdw', 'pcmpeqb', 'pcmpeqw', 'pcmpeqd',
  'psrlw', 'psrld', 'psrlq', 'paddq', 'pmullw', 'psubusb', 'psubusw', 'pminub', 'pand', 'paddusb',
  'paddusw', 'pmaxub', 'pandn', 'pavgb', 'psraw', 'psrad', 'pavgw', 'pmulhuw', 'pmulhw', 'psubsb',
  'psubsw', 'pminsw', 'por', 'paddsb', 'paddsw', 'pmaxsw', 'pxor', 'psllw', 'pslld', 'psllq',
  'pmuludq', 'pmaddwd', 'psadbw', 'psubb', 'psubw', 'psubd', 'psubq', 'paddb', 'paddw', 'paddd',
];
const XMM_ONLY = ['punpcklqdq', 'punpckhqdq', 'andps', 'andnps', 'orps', 'xorps', 'andpd', 'andnpd', 'orpd', 'xorpd',
  'unpcklps', 'unpckhps', 'unpcklpd', 'unpckhpd'];
const isShift = (n: string) => /^ps(ll|rl|ra)[wdq]$/.test(n);

function buildOps(): SseOp[] {
  const ops: SseOp[] = [];
  const add = (name: string, asm: string, count = false) => ops.push({ name, asm, count });
  for (const n of BOTH) {
    const c = isShift(n);
    add(`${n} mm,mm`, `${n} %mm2, %mm1`, c);
    add(`${n} mm,m64`, `${n} 32(OUT), %mm1`, c);
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, c);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`, c);
  }
  for (const n of XMM_ONLY) {
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`);
  }
  // REX.R / REX.B: xmm9 as destination and as source.
  for (const n of ['paddw', 'pcmpgtb', 'punpckhwd', 'packsswb', 'psubusb', 'psrad']) {
    add(`${n} xmm9,xmm1`, `movdqa %xmm2, %xmm9; ${n} %xmm1, %xmm9; movdqa %xmm9, %xmm1`, isShift(n));
    add(`${n} xmm1,xmm9`, `movdqa %xmm2, %xmm9; ${n} %xmm9, %xmm1`, isShift(n));
  }
  // Shifts by imm8 (groups 12-14).
  const imms = [0, 1, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 200];
  for (const n of ['psrlw', 'psraw', 'psllw', 'psrld', 'psrad', 'pslld', 'psrlq', 'psllq']) {
    for (const i of imms) {
      add(`${n} mm,$${i}`, `${n} $${i}, %mm1`);
      add(`${n} xmm,$${i}`, `${n} $${i}, %xmm1`);
    }
  }
  for (const i of [0, 1, 3, 7, 8, 9, 15, 16, 255]) {
    add(`psrldq $${i}`, `psrldq $${i}, %xmm1`);
    add(`pslldq $${i}`, `pslldq $${i}, %xmm1`);
  }
  add('psrlq xmm9,$13', `movdqa %xmm2, %xmm9; psrlq $13, %xmm9; movdqa %xmm9, %xmm1`);
  add('pslldq xmm9,$5', `movdqa %xmm2, %xmm9; pslldq $5, %xmm9; movdqa %xmm9, %xmm1`);
  // Shuffles.
  for (const i of [0x00, 0x1b, 0x4e, 0xe4, 0x39, 0xb1, 0x93, 0xc6]) {
    add(`pshufw $${i} reg`, `pshufw $${i}, %mm2, %mm1`);
    add(`pshufw $${i} mem`, `pshufw $${i}, 32(OUT), %mm1`);
    add(`pshufd $${i}`, `pshufd $${i}, %xmm2, %xmm1`);
    add(`pshufd $${i} mem`, `pshufd $${i}, 32(OUT), %xmm1`);
    add(`pshufhw $${i}`, `pshufhw $${i}, %xmm2, %xmm1`);
    add(`pshuflw $${i}`, `pshuflw $${i}, 32(OUT), %xmm1`);
    add(`shufps $${i}`, `shufps $${i}, %xmm2, %xmm1`);
    add(`shufps $${i} mem`, `shufps $${i}, 32(OUT), %xmm1`);
  }
  for (const i of [0, 1, 2, 3]) add(`shufpd $${i}`, `shufpd $${i}, %xmm2, %xmm1`);
  add('shufpd mem', `shufpd $2, 32(OUT), %xmm1`);
  // PEXTRW/PINSRW (indices past the register are masked), PMOVMSKB, MOVMSKPS/PD.
  for (const i of [0, 1, 2, 3, 5, 6, 7, 11]) {
    add(`pextrw $${i} xmm`, `pextrw $${i}, %xmm2, %eax`);
    add(`pinsrw $${i} xmm,r32`, `pinsrw $${i}, %eax, %xmm1`);
    add(`pinsrw $${i} xmm,m16`, `pinsrw $${i}, 32(OUT), %xmm1`);
    if (i < 4 || i === 5) {
      add(`pextrw $${i} mm`, `pextrw $${i}, %mm2, %eax`);
      add(`pinsrw $${i} mm,r32`, `pinsrw $${i}, %eax, %mm1`);
      add(`pinsrw $${i} mm,m16`, `pinsrw $${i}, 32(OUT), %mm1`);
    }
  }
  add('pextrw xmm9 -> r9', `movdqa %xmm2, %xmm9; pextrw $6, %xmm9, %r9d; mov %r9, %rax`);
  add('pmovmskb xmm', `pmovmskb %xmm2, %eax`);
  add('pmovmskb mm', `pmovmskb %mm2, %eax`);
  add('pmovmskb xmm,r64', `pmovmskb %xmm2, %rax`);
  add('movmskps', `movmskps %xmm2, %eax`);
  add('movmskpd', `movmskpd %xmm2, %eax`);
  // MOVD/MOVQ.
  add('movd xmm,r32', `movd %eax, %xmm1`);
  add('movq xmm,r64', `movq %rax, %xmm1`);
  add('movd xmm,m32', `movd 32(OUT), %xmm1`);
  add('movq xmm,m64 (66 REX.W 6E)', `.byte 0x66, 0x48, 0x0f, 0x6e, 0x4f, 0x20`);
  add('movd r32,xmm', `movd %xmm2, %eax`);
  add('movq r64,xmm', `movq %xmm2, %rax`);
  add('movd m32,xmm', `movd %xmm2, 32(OUT)`);
  add('movq m64,xmm (66 REX.W 7E)', `.byte 0x66, 0x48, 0x0f, 0x7e, 0x57, 0x20`);
  add('movq xmm,m64 (F3 7E)', `movq 32(OUT), %xmm1`);
  add('movq xmm,xmm (F3 7E)', `.byte 0xf3, 0x0f, 0x7e, 0xca`);
  add('movq xmm,xmm (66 D6)', `.byte 0x66, 0x0f, 0xd6, 0xd1`);
  add('movq m64,xmm (66 D6)', `.byte 0x66, 0x0f, 0xd6, 0x57, 0x20`);
  add('movd mm,r32', `movd %eax, %mm1`);
  add('movq mm,r64', `movq %rax, %mm1`);
  add('movd mm,m32', `movd 32(OUT), %mm1`);
  add('movd r32,mm', `movd %mm2, %eax`);
  add('movq r64,mm', `movq %mm2, %rax`);
  add('movd m32,mm', `movd %mm2, 32(OUT)`);
  add('movq mm,mm', `movq %mm2, %mm1`);
  add('movq mm,mm (7F)', `.byte 0x0f, 0x7f, 0xd1`);
  add('movq mm,m64', `movq 32(OUT), %mm1`);
  add('movq m64,mm', `movq %mm2, 32(OUT)`);
  add('movq r9,xmm9', `movdqa %xmm2, %xmm9; movq %xmm9, %r9; mov %r9, %rax`);
  add('movd xmm9,r9d', `mov %rax, %r9; movd %r9d, %xmm9; movdqa %xmm9, %xmm1`);
  add('movq2dq', `movq2dq %mm2, %xmm1`);
  add('movdq2q', `movdq2q %xmm2, %mm1`);
  // Full-register moves.
  for (const n of ['movdqa', 'movaps', 'movapd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} load`, `${n} 32(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 32(OUT)`);
  }
  add('movaps reg (29)', `.byte 0x0f, 0x29, 0xd1`);
  add('movdqa reg (7F)', `.byte 0x66, 0x0f, 0x7f, 0xd1`);
  for (const n of ['movdqu', 'movups', 'movupd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} load`, `${n} 33(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 33(OUT)`);
  }
  add('movdqu reg (7F)', `.byte 0xf3, 0x0f, 0x7f, 0xd1`);
  add('movups reg (11)', `.byte 0x0f, 0x11, 0xd1`);
  for (const n of ['movntdq', 'movntps', 'movntpd']) add(n, `${n} %xmm2, 32(OUT)`);
  add('movntq', `movntq %mm2, 32(OUT)`);
  add('movnti r32', `movnti %eax, 32(OUT)`);
  add('movnti r64', `movnti %rax, 36(OUT)`);
  // Scalar moves and the half moves.
  for (const n of ['movss', 'movsd']) {
    add(`${n} reg`, `${n} %xmm2, %xmm1`);
    add(`${n} reg (11)`, n === 'movss' ? `.byte 0xf3, 0x0f, 0x11, 0xd1` : `.byte 0xf2, 0x0f, 0x11, 0xd1`);
    add(`${n} load`, `${n} 36(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 36(OUT)`);
  }
  for (const n of ['movlps', 'movhps', 'movlpd', 'movhpd']) {
    add(`${n} load`, `${n} 36(OUT), %xmm1`);
    add(`${n} store`, `${n} %xmm2, 36(OUT)`);
  }
  add('movhlps', `movhlps %xmm2, %xmm1`);
  add('movlhps', `movlhps %xmm2, %xmm1`);
  add('movlhps xmm9', `movdqa %xmm2, %xmm9; movlhps %xmm9, %xmm1`);
  // MMX registers alias the x87 physical registers: MMX instructions set TOP to 0 (SDM Vol. 1 §9.5.1).
  add('fld1 x2; movq mm2->mm1', `fninit; fld1; fld1; movq %mm2, %mm1`);
  add('fld1; movq mm7->mm1', `fninit; fld1; movq %mm7, %mm1`);
  add('fld1 x3; paddb mm6,mm1', `fninit; fld1; fld1; fld1; paddb %mm6, %mm1; movq %mm5, %mm2`);
  return ops;
}
export const OPS: SseOp[] = buildOps();

// --- random inputs ---
export class Rng {
  constructor(private s: number) { if (this.s === 0) this.s = 1; }
  u32(): number { let x = this.s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.s = x; return x; }
  below(n: number): number { return this.u32() % n; }
}

const SPECIAL = [0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe, 0x81];
function fill(r: Rng, b: Uint8Array, o: number, n: number): void {
  const style = r.below(4);
  for (let i = 0; i < n; i++) {
    if (style === 0) b[o + i] = r.u32() & 0xff;
    else if (style === 1) b[o + i] = SPECIAL[r.below(SPECIAL.length)];
    else b[o + i] = r.below(3) === 0 ? SPECIAL[r.below(SPECIAL.length)] : r.u32() & 0xff;
  }
}
function smallCount(r: Rng, b: Uint8Array, o: number): void {
  const k = r.below(8);
  if (k >= 6) return; // keep the random (huge) count
  const v = k < 5 ? r.below(70) : 0x100 + r.below(0x10000);
  const dv = new DataView(b.buffer, b.byteOffset);
  dv.setBigUint64(o, BigInt(v), true);
}

export function randomCases(seed: number, op: SseOp, n: number): Uint8Array {
  const r = new Rng(seed);
  const buf = new Uint8Array(n * REC);
  for (let i = 0; i < n; i++) {
    const o = i * REC;
    fill(r, buf, o, 72);
    // Equal operands (per whole register) now and then, for the compares and the saturations.
    if (r.below(8) === 0) { buf.copyWithin(o + 16, o, o + 16); buf.copyWithin(o + 32, o, o + 16); buf.copyWithin(o + 64, o + 56, o + 64); }
    if (op.count) { smallCount(r, buf, o + 16); smallCount(r, buf, o + 32); smallCount(r, buf, o + 64); }
  }
  return buf;
}

// --- the case body, shared by both sides ---
function body(op: SseOp, inReg: string, outReg: string): string {
  const sub = (s: string) => s.replace(/\bIN\b/g, inReg).replace(/\bOUT\b/g, outReg);
  return sub(`movdqu 0(IN), %xmm1; movdqu 16(IN), %xmm2; movq 56(IN), %mm1; movq 64(IN), %mm2; ` +
    `movdqu 32(IN), %xmm0; movdqu %xmm0, 32(OUT); mov 48(IN), %rax; ` +
    `${op.asm}; ` +
    `movdqu %xmm1, 0(OUT); movdqu %xmm2, 16(OUT); mov %rax, 48(OUT); movq %mm1, 56(OUT); movq %mm2, 64(OUT); emms`);
}

export function buildNative(dir: string): string {
  const fns = OPS.map((op, i) =>
    `static void op${i}(const unsigned char *in, unsigned char *out) {\n` +
    `  __asm__ volatile(${JSON.stringify(body(op, '%0', '%1').replace(/%(?!\d)/g, '%%'))} :: "S"(in), "D"(out) : ` +
    `"memory", "rax", "r9", "cc", "xmm0", "xmm1", "xmm2", "xmm9", "mm1", "mm2", "st", "st(1)", "st(2)");\n}\n`).join('');
  const src = `#include <stdio.h>\n#include <stdlib.h>\n${fns}
typedef void (*fn)(const unsigned char *, unsigned char *);
static fn table[] = { ${OPS.map((_, i) => `op${i}`).join(', ')} };
int main(int argc, char **argv) {
  long per = atol(argv[1]);
  FILE *f = fopen(argv[2], "rb"); fseek(f, 0, SEEK_END); long n = ftell(f) / ${REC}; fseek(f, 0, SEEK_SET);
  unsigned char *in = aligned_alloc(64, n * ${REC}), *out = aligned_alloc(64, n * ${REC});
  if (fread(in, ${REC}, n, f) != (size_t)n) return 2; fclose(f);
  for (long i = 0; i < n * ${REC}; i++) out[i] = 0;
  for (long i = 0; i < n; i++) table[i / per](in + i * ${REC}, out + i * ${REC});
  f = fopen(argv[3], "wb"); fwrite(out, ${REC}, n, f); fclose(f); return 0;
}\n`;
  writeFileSync(join(dir, 'ssenative.c'), src);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'ssenative'), join(dir, 'ssenative.c')]);
  return join(dir, 'ssenative');
}

/** Run all variants natively: `cases` holds `per` cases of each variant in OPS order. */
export function runNative(exe: string, dir: string, per: number, cases: Uint8Array): Uint8Array {
  writeFileSync(join(dir, 'in.bin'), cases);
  execFileSync(exe, [String(per), join(dir, 'in.bin'), join(dir, 'out.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'out.bin')));
}

// --- tsemu: flat 64-bit mode, identity-mapped 0-4 MiB with 2 MiB pages, CR4.OSFXSR set ---
export const CODE = 0x100000, IN = 0x200000, OUT = 0x280000, SLOT = 256;
const PML4 = 0x300000, PDPT = 0x301000, PD = 0x302000;

export function guestCode(dir: string): Uint8Array {
  const src = OPS.map((op, k) => `.org ${k * SLOT}\n1: ${body(op, '%rsi', '%rdi')}\n  add $${REC}, %rsi; add $${REC}, %rdi; dec %ecx; jnz 1b; hlt`).join('\n');
  writeFileSync(join(dir, 'g.S'), src + '\n');
  execFileSync('as', ['--64', '-o', join(dir, 'g.o'), join(dir, 'g.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'g.o'), join(dir, 'g.bin')]);
  return new Uint8Array(readFileSync(join(dir, 'g.bin')));
}

const host: CpuHost = {
  portRead: () => 0xffffffff, portWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
  interruptAcknowledge: () => 0x20,
};

/** A CPU in 64-bit mode at CPL 0, no IDT (a fault ends in a triple fault, reported as such). */
export async function longCpu(cr4 = 0x220n, cr0 = 0x80000031n): Promise<Cpu> {
  const cpu = await Cpu.create(8 << 20, host);
  const v = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
  v.setBigUint64(PML4, BigInt(PDPT | 3), true);
  v.setBigUint64(PDPT, BigInt(PD | 3), true);
  v.setBigUint64(PD, 0x83n, true);
  v.setBigUint64(PD + 8, 0x200083n, true);
  cpu.setCr(4, cr4);
  cpu.setCr(3, BigInt(PML4));
  cpu.setMsr(0xc0000080, 0x500n);
  cpu.setCr(0, cr0);
  cpu.setSeg(1, { selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00af9b00 });
  for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
  cpu.syncMode();
  return cpu;
}

export function runTsemu(cpu: Cpu, k: number, cases: Uint8Array): Uint8Array {
  const n = cases.length / REC;
  cpu.ram.set(cases, IN);
  cpu.ram.fill(0, OUT, OUT + cases.length);
  cpu.setReg(6, BigInt(IN)); cpu.setReg(7, BigInt(OUT)); cpu.setReg(1, BigInt(n));
  cpu.setRip(BigInt(CODE + k * SLOT));
  const r = cpu.run(n * 40 + 100);
  if (r.reason !== StopReason.Halt) throw new Error(`${OPS[k].name}: tsemu did not halt: ${r.reason} rip=${cpu.getRip().toString(16)}`);
  return cpu.ram.slice(OUT, OUT + cases.length);
}

export const tmp = () => mkdtempSync(join(tmpdir(), 'tsemu-sse-'));
