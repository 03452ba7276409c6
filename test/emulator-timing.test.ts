// One virtual clock for everything the guest can read (emulator/timing.ts): a kernel times a
// countdown of PIT channel 2 (port 0x61 bit 5 rises at terminal count) with RDTSC, as Linux's TSC
// calibration does; the TSC (1 GHz of virtual time) must have advanced by the PIT's time for that
// count, whether time follows the host or the instruction count (-icount).
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/tsemu.js');
const dir = mkdtempSync(join(tmpdir(), 'tsemu-timing-'));
/** PIT input clock (Hz) and the count timed: about 10 ms. */
const PIT_HZ = 1193182;
const COUNT = 11932;

const SOURCE = `
  .text
  .globl _start
  .align 4
  .long 0x1BADB002, 0, -0x1BADB002
_start:
  mov $0x200000, %esp
  in $0x61, %al                  # channel 2 gate on, speaker off
  and $0xfc, %al
  or $1, %al
  out %al, $0x61
  mov $0xb0, %al                 # channel 2, low then high byte, mode 0
  out %al, $0x43
  mov $${COUNT & 0xff}, %al
  out %al, $0x42
  rdtsc
  mov %eax, %esi
  mov %edx, %edi
  mov $${COUNT >> 8}, %al        # the count starts with its high byte
  out %al, $0x42
1: in $0x61, %al                 # OUT2 rises at terminal count
  test $0x20, %al
  jz 1b
  rdtsc
  sub %esi, %eax
  sbb %edi, %edx
  mov %eax, %ecx
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
  .data
hexdigits: .ascii "0123456789abcdef"
`;

let kernel = '';
beforeAll(() => {
  expect(existsSync(cli), 'dist/tsemu.js is built by npm test').toBe(true);
  writeFileSync(join(dir, 'k.S'), SOURCE);
  execFileSync('as', ['--32', '-o', join(dir, 'k.o'), join(dir, 'k.S')]);
  kernel = join(dir, 'k.elf');
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start', '-o', kernel, join(dir, 'k.o')]);
});

/** TSC ticks the kernel measured across the countdown. */
function tscTicks(...extra: string[]): number {
  const r = spawnSync(process.execPath, [cli, '-nodefaults', '-display', 'none', '-serial', 'stdio', '-m', '32',
    ...extra, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', kernel], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(1);
  return parseInt(r.stdout.trim(), 16);
}

describe('virtual time', () => {
  const expected = (COUNT / PIT_HZ) * 1e9;
  it('keeps the TSC and the PIT in step when time follows the host', () => {
    const ticks = tscTicks();
    expect(Math.abs(ticks - expected) / expected).toBeLessThan(0.005);
  });

  it('keeps the TSC and the PIT in step with -icount', () => {
    const ticks = tscTicks('-icount', 'shift=2');
    expect(Math.abs(ticks - expected) / expected).toBeLessThan(0.005);
  });
});
