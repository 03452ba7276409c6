// `npm run bench`: guest MIPS of tsemu's CPU on a few loops, next to QEMU TCG on the same code.
// Each loop is a Multiboot kernel built here with the host binutils; both emulators run it twice
// with different iteration counts, and the difference in wall time over the difference in
// instructions retired gives MIPS without start-up costs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Loop {
  name: string;
  /** Instructions retired per iteration of the loop body. */
  perIteration: number;
  body: string;
  /** Run once before the loop (not timed per iteration). */
  setup?: string;
}

// Each body runs with ECX = iteration count, ESI/EDI pointing at two 64 KiB buffers.
const LOOPS: Loop[] = [
  {
    name: 'alu',
    perIteration: 6,
    body: `1: add %eax, %ebx
      xor %edx, %ebx
      inc %eax
      sub $3, %edx
      dec %ecx
      jnz 1b`,
  },
  {
    name: 'memcpy',
    perIteration: 7,
    body: `1: mov %ecx, %ebx
      and $0xfffc, %ebx
      mov (%esi,%ebx), %eax
      mov %eax, (%edi,%ebx)
      add $1, %edx
      dec %ecx
      jnz 1b`,
  },
  {
    name: 'call/ret',
    perIteration: 6,
    body: `1: call 2f
      dec %ecx
      jnz 1b
      jmp 3f
    2: add $1, %eax
      xor %eax, %edx
      ret
    3:`,
  },
  {
    name: 'interpreter',
    // A byte-code loop: fetch, dispatch through a jump table, one of four handlers.
    perIteration: 9,
    body: `1: mov %ecx, %ebx
      and $3, %ebx
      movzbl bytecode(%ebx), %eax
      jmp *table(,%eax,4)
    op0: add $1, %edx
      jmp 5f
    op1: sub $2, %edx
      jmp 5f
    op2: xor %ecx, %edx
      jmp 5f
    op3: shl $1, %edx
      jmp 5f
    5: nop
      dec %ecx
      jnz 1b
      jmp 9f
    .section .data
    table: .long op0, op1, op2, op3
    bytecode: .byte 2, 0, 3, 1
    .text
    9:`,
  },
  {
    name: 'fpu/sse',
    // A checksum over a buffer with SSE2 integer adds and an x87 running sum.
    perIteration: 8,
    setup: `mov %cr4, %eax
      or $0x600, %eax
      mov %eax, %cr4
      mov %cr0, %eax
      and $~4, %eax
      or $2, %eax
      mov %eax, %cr0
      fninit
      fld1
      fldz
      pxor %xmm0, %xmm0
      xor %ebx, %ebx`,
    body: `1: movdqu (%esi,%ebx), %xmm1
      paddd %xmm1, %xmm0
      pxor %xmm0, %xmm2
      fadd %st(1), %st
      add $16, %ebx
      and $0xfff0, %ebx
      dec %ecx
      jnz 1b`,
  },
];

function kernelSource(loop: Loop, iterations: number): string {
  return `
  .text
  .globl _start
  .align 4
  .long 0x1BADB002, 0, -0x1BADB002
_start:
  mov $0x200000, %esp
  mov $0x300000, %esi
  mov $0x400000, %edi
  xor %eax, %eax
  xor %ebx, %ebx
  xor %edx, %edx
  ${loop.setup ?? ''}
  mov $${iterations}, %ecx
  ${loop.body}
  mov $0x10, %al
  out %al, $0xf4
  cli
  hlt
`;
}

function build(dir: string, name: string, src: string): string {
  writeFileSync(join(dir, `${name}.S`), src);
  execFileSync('as', ['--32', '-o', join(dir, `${name}.o`), join(dir, `${name}.S`)]);
  const elf = join(dir, `${name}.elf`);
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start', '-o', elf, join(dir, `${name}.o`)]);
  return elf;
}

const here = dirname(fileURLToPath(import.meta.url));
const tsemu = [process.execPath, join(here, 'tsemu.js')];
const qemu = ['qemu-system-x86_64'];
const common = ['-nodefaults', '-display', 'none', '-no-reboot', '-m', '64', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'];

function seconds(cmd: string[], kernel: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...common, '-kernel', kernel], { stdio: ['ignore', 'ignore', 'pipe'] });
  const t1 = process.hrtime.bigint();
  // isa-debug-exit with 0x10 gives status (0x10 << 1) | 1 = 33: anything else is a failed run.
  if (r.status !== 33) throw new Error(`${cmd[0]} exited with ${r.status}: ${r.stderr}`);
  return Number(t1 - t0) / 1e9;
}

function mips(cmd: string[], small: string, large: string, instructions: number): number {
  // Best of three for each size damps the noise of a shared machine.
  const best = (k: string) => Math.min(seconds(cmd, k), seconds(cmd, k), seconds(cmd, k));
  const dt = best(large) - best(small);
  return instructions / dt / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), 'tsemu-bench-'));
const haveQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const SMALL = 1_000_000;
const LARGE = Number(process.env.BENCH_ITERATIONS ?? 50_000_000);
console.log(`loop          tsemu MIPS   QEMU TCG MIPS   tsemu/QEMU`);
for (const loop of LOOPS) {
  const small = build(dir, `${loop.name.replace('/', '')}-s`, kernelSource(loop, SMALL));
  const large = build(dir, `${loop.name.replace('/', '')}-l`, kernelSource(loop, LARGE));
  const n = (LARGE - SMALL) * loop.perIteration;
  const ours = mips(tsemu, small, large, n);
  const theirs = haveQemu ? mips(qemu, small, large, n) : NaN;
  console.log(`${loop.name.padEnd(12)} ${ours.toFixed(1).padStart(11)} ${theirs.toFixed(1).padStart(15)} ${(ours / theirs).toFixed(2).padStart(12)}`);
}
if (!existsSync(join(here, 'tsemu.js'))) console.log('(dist/tsemu.js missing: run npm run build)');
