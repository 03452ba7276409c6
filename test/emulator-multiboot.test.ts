// Multiboot loading of kernels assembled and linked at test time, plus malformed files.
// Where QEMU is installed, the boot information is compared byte for byte with what QEMU 7.2 builds.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelLoadError, loadMultiboot, pcMemoryMap, type MultibootInput } from '../emulator/multiboot.ts';

const MiB = 1024 * 1024;

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const haveTools = have('gcc') && have('ld');
const haveQemu = have('qemu-system-x86_64');
let dir = '';

/** Multiboot header (flags 3: page-align modules, memory info) followed by "cli; hlt; jmp". */
const KERNEL_S = `
.section .multiboot, "a"
.align 4
.long 0x1BADB002
.long 0x00000003
.long -(0x1BADB002 + 3)
.text
.globl _start
_start:
  cli
1: hlt
  jmp 1b
.data
marker: .long 0x12345678
.bss
.globl bss_start
bss_start: .space 0x2000
`;

/** The same kernel with the a.out kludge (flag 16): the header carries every address. */
const KLUDGE_S = `
.code32
.globl start
start:
header:
  .long 0x1BADB002
  .long 0x00010003
  .long -(0x1BADB002 + 0x00010003)
  .long header      /* header_addr */
  .long start       /* load_addr */
  .long data_end    /* load_end_addr */
  .long bss_end     /* bss_end_addr */
  .long entry       /* entry_addr */
entry:
  cli
1: hlt
  jmp 1b
  .long 0xcafef00d
data_end:
  .space 0x1000
bss_end:
`;

function build(name: string, source: string, linkerScript: string, as32 = true): string {
  const s = join(dir, `${name}.S`);
  const o = join(dir, `${name}.o`);
  const ld = join(dir, `${name}.ld`);
  const out = join(dir, `${name}.elf`);
  writeFileSync(s, source);
  writeFileSync(ld, linkerScript);
  execFileSync('gcc', [as32 ? '-m32' : '-m64', '-c', s, '-o', o]);
  execFileSync('ld', ['-m', as32 ? 'elf_i386' : 'elf_x86_64', '-T', ld, '-o', out, o]);
  return out;
}

const LINK_AT = (addr: string) => `ENTRY(_start)
SECTIONS { . = ${addr}; .multiboot : { *(.multiboot) } .text : { *(.text) } .data : { *(.data) } .bss : { *(.bss) } }`;

let k32 = '';
let kHigh = '';
let k64 = '';
let kKludge = '';
let kFar = '';

beforeAll(() => {
  if (!haveTools) return;
  dir = mkdtempSync(join(tmpdir(), 'tsemu-mb-'));
  k32 = build('k32', KERNEL_S, LINK_AT('0x100000'));
  // Linked for 0xC0100000 but loaded at 1 MiB (a "higher half" kernel).
  kHigh = build(
    'khigh',
    KERNEL_S,
    `ENTRY(_start)
SECTIONS { . = 0xC0100000; .multiboot : AT(0x100000) { *(.multiboot) } .text : AT(LOADADDR(.multiboot) + SIZEOF(.multiboot)) { *(.text) } }`,
  );
  k64 = build('k64', KERNEL_S.replace('.text', '.text\n.code32'), LINK_AT('0x200000'), false);
  kKludge = build('kkludge', KLUDGE_S, 'SECTIONS { . = 0x180000; .text : { *(.text) } }\nOUTPUT_FORMAT(binary)');
  kFar = build('kfar', KERNEL_S, LINK_AT('0x2000000'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function load(file: string, ramSize = 128 * MiB, extra: Partial<MultibootInput> = {}, fill = 0xaa) {
  const ram = new Uint8Array(ramSize).fill(fill);
  const layout = loadMultiboot(ram, { kernelName: 'k.elf', kernel: readFileSync(file), append: '', modules: [], ...extra });
  return { ram, layout, view: new DataView(ram.buffer) };
}

function cstring(ram: Uint8Array, addr: number): string {
  let end = addr;
  while (ram[end] !== 0) end++;
  return Buffer.from(ram.subarray(addr, end)).toString();
}

function loadError(data: Uint8Array, ramSize = 16 * MiB): string {
  try {
    loadMultiboot(new Uint8Array(ramSize), { kernelName: 'x', kernel: data, append: '', modules: [] });
  } catch (e) {
    expect(e).toBeInstanceOf(KernelLoadError);
    return (e as Error).message;
  }
  throw new Error('loading did not fail');
}

describe.skipIf(!haveTools)('Multiboot loader', () => {
  it('loads an ELF32 kernel: segments, zeroed bss, entry state', () => {
    const { ram, layout, view } = load(k32);
    expect(view.getUint32(0x100000, true)).toBe(0x1badb002);
    expect(layout.entry.eip).toBe(0x10000c);
    expect(ram[layout.entry.eip]).toBe(0xfa); // cli
    expect(layout.kernelStart).toBe(0x100000);
    // .data marker then 0x2000 of bss, zeroed over the 0xaa fill.
    const data = ram.indexOf(0x78, 0x100010);
    expect(view.getUint32(data, true)).toBe(0x12345678);
    expect(ram.subarray(data + 4, layout.kernelEnd).every((b) => b === 0)).toBe(true);
    expect(layout.kernelEnd - layout.kernelStart).toBeGreaterThanOrEqual(0x2000);
    const e = layout.entry;
    expect(e.eax).toBe(0x2badb002);
    expect(e.ebx).toBe(0x9500);
    expect(e.cr0 & 1).toBe(1);
    expect(e.eflags & 0x200).toBe(0); // IF clear
    expect(e.segments[1]).toEqual({ selector: 0x08, base: 0n, limit: 0xffffffff, flags: 0x00cf9a00 });
    for (const s of [0, 2, 3, 4, 5]) expect(e.segments[s]).toEqual({ selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 });
    // The GDT the selectors refer to exists in memory.
    expect(view.getUint32(e.gdt.base + 8 + 4, true)).toBe(0x00cf9a00);
    expect(view.getUint32(e.gdt.base + 16 + 4, true)).toBe(0x00cf9300);
  });

  it('builds the information block the way QEMU 7.2 does', () => {
    const { ram, view } = load(k32, 128 * MiB, { append: 'foo bar', modules: [
      { cmdline: 'm1.txt arg1', data: Buffer.from('hello\n') },
      { cmdline: 'm2.txt', data: Buffer.from('world\n') },
    ] });
    const mbi = 0x9500;
    // Values seen with QEMU 7.2's monitor for this kernel and -m 128 (see the QEMU test below).
    expect(view.getUint32(mbi, true)).toBe(0x24f);
    expect(view.getUint32(mbi + 4, true)).toBe(639);
    expect(view.getUint32(mbi + 8, true)).toBe(0x1fb80);
    expect(view.getUint32(mbi + 12, true)).toBe(0x8000ffff);
    const kernelEndPage = 0x103000; // k32 with its 8 KiB of bss ends in the page before
    expect(view.getUint32(mbi + 20, true)).toBe(2);
    expect(view.getUint32(mbi + 24, true)).toBe(kernelEndPage);
    expect(cstring(ram, view.getUint32(mbi + 16, true))).toBe('k.elf foo bar');
    expect(cstring(ram, view.getUint32(mbi + 64, true))).toBe('qemu');
    const mods = view.getUint32(mbi + 24, true);
    const m1 = view.getUint32(mods, true);
    expect(m1 % 4096).toBe(0);
    expect(view.getUint32(mods + 4, true)).toBe(m1 + 6);
    expect(Buffer.from(ram.subarray(m1, m1 + 6)).toString()).toBe('hello\n');
    expect(cstring(ram, view.getUint32(mods + 8, true))).toBe('m1.txt arg1');
    const m2 = view.getUint32(mods + 16, true);
    expect(m2).toBe(m1 + 4096);
    expect(cstring(ram, view.getUint32(mods + 24, true))).toBe('m2.txt');
    // Memory map: 7 entries of 24 bytes at 0x9000.
    expect(view.getUint32(mbi + 44, true)).toBe(7 * 24);
    expect(view.getUint32(mbi + 48, true)).toBe(0x9000);
    const map = pcMemoryMap(128 * MiB);
    map.forEach((r, i) => {
      const e = 0x9000 + 24 * i;
      expect(view.getUint32(e, true)).toBe(20);
      expect(Number(view.getBigUint64(e + 4, true))).toBe(r.base);
      expect(Number(view.getBigUint64(e + 12, true))).toBe(r.length);
      expect(view.getUint32(e + 20, true)).toBe(r.type);
    });
    expect(map[3]).toEqual({ base: 0x100000, length: 0x7ee0000, type: 1 });
  });

  it('translates a higher-half entry point to its load address (as QEMU does)', () => {
    const { layout } = load(kHigh);
    expect(layout.entry.eip).toBe(0x10000c);
    expect(layout.kernelStart).toBe(0x100000);
  });

  it('loads ELF64 kernels by physical address', () => {
    const { ram, layout, view } = load(k64);
    expect(layout.kernelStart).toBe(0x200000);
    expect(view.getUint32(0x200000, true)).toBe(0x1badb002);
    expect(ram[layout.entry.eip]).toBe(0xfa);
  });

  it('loads a.out-kludge kernels from the header addresses and zeroes their bss', () => {
    const { ram, layout, view } = load(kKludge);
    expect(layout.kernelStart).toBe(0x180000);
    expect(layout.entry.eip).toBe(0x180020);
    expect(ram[0x180020]).toBe(0xfa);
    const marker = 0x180020 + 4; // cli, hlt, jmp -2: 4 bytes
    expect(view.getUint32(marker, true)).toBe(0xcafef00d);
    expect(layout.kernelEnd).toBe(marker + 4 + 0x1000);
    expect(ram.subarray(marker + 4, layout.kernelEnd).every((b) => b === 0)).toBe(true);
  });

  it('refuses a kernel that does not fit in RAM', () => {
    const msg = loadError(readFileSync(kFar), 16 * MiB);
    expect(msg).toMatch(/ELF segment 0 at 0x2000000-0x[0-9a-f]+ does not fit in guest RAM \(16 MiB; use -m for more\)/);
  });

  it('refuses truncated ELF files', () => {
    const whole = readFileSync(k32);
    // Keep the header (it sits in the first page of segment data) but cut the segment short.
    const cut = whole.subarray(0, 0x100c);
    expect(loadError(cut)).toMatch(/file is truncated: ELF segment 0 needs bytes/);
    const elfHeaderOnly = Buffer.concat([whole.subarray(0, 40), whole.subarray(0x1000, 0x100c)]);
    expect(loadError(elfHeaderOnly)).toMatch(/truncated/);
  });

  it('refuses truncated a.out-kludge files', () => {
    const whole = readFileSync(kKludge);
    expect(loadError(whole.subarray(0, 0x24))).toMatch(/file is truncated: the Multiboot header asks for/);
  });
});

describe('Multiboot loader on malformed files', () => {
  it('says when a file is not a Multiboot kernel', () => {
    expect(loadError(Buffer.from('hello, this is not a kernel at all'))).toBe('not a Multiboot kernel (no Multiboot header in the first 8192 bytes)');
    expect(loadError(new Uint8Array(0))).toBe('file is empty');
  });

  it('ignores a header with a bad checksum or beyond 8 KiB', () => {
    const img = new Uint8Array(16384);
    const v = new DataView(img.buffer);
    v.setUint32(0, 0x1badb002, true);
    v.setUint32(4, 0, true);
    v.setUint32(8, 0x12345678, true); // wrong checksum
    v.setUint32(8192, 0x1badb002, true);
    v.setUint32(8200, -0x1badb002 >>> 0, true);
    expect(loadError(img)).toMatch(/not a Multiboot kernel/);
  });

  it('recognises a Linux bzImage and says it is not supported yet', () => {
    const img = new Uint8Array(0x1000);
    img.set(Buffer.from('HdrS'), 0x202);
    expect(loadError(img)).toMatch(/Linux boot protocol is not supported yet/);
  });

  it('needs load addresses or ELF', () => {
    const img = new Uint8Array(64);
    const v = new DataView(img.buffer);
    v.setUint32(0, 0x1badb002, true);
    v.setUint32(4, 3, true);
    v.setUint32(8, -(0x1badb002 + 3) >>> 0, true);
    expect(loadError(img)).toMatch(/no load addresses \(flag bit 16\) and the file is not ELF/);
  });

  it('rejects ELF files for other machines', () => {
    const img = new Uint8Array(128);
    const v = new DataView(img.buffer);
    img.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
    v.setUint16(18, 40, true); // EM_ARM
    v.setUint32(64, 0x1badb002, true);
    v.setUint32(68, 0, true);
    v.setUint32(72, -0x1badb002 >>> 0, true);
    expect(loadError(img)).toMatch(/machine 40, not x86/);
  });
});

/** Run QEMU to the kernel's HLT and dump guest memory words through its monitor. */
async function qemuWords(args: string[], dumps: [number, number][]): Promise<Map<number, number>> {
  const child = spawn('qemu-system-x86_64', ['-display', 'none', '-serial', 'null', '-monitor', 'stdio', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d.toString('latin1')));
  const prompts = () => output.split('(qemu)').length - 1;
  const waitPrompt = async (n: number) => {
    for (let i = 0; i < 200 && prompts() < n; i++) await new Promise((r) => setTimeout(r, 50));
  };
  await waitPrompt(1);
  await new Promise((r) => setTimeout(r, 1500)); // let the option ROM reach the kernel
  let n = 1;
  for (const [addr, count] of dumps) {
    child.stdin.write(`xp /${count}wx 0x${addr.toString(16)}\n`);
    await waitPrompt(++n);
  }
  child.stdin.write('quit\n');
  await new Promise((r) => child.on('exit', r));
  const words = new Map<number, number>();
  for (const m of output.matchAll(/^([0-9a-f]{16}): ((?:0x[0-9a-f]{8} ?)+)/gm)) {
    m[2].trim().split(' ').forEach((w, i) => words.set(parseInt(m[1], 16) + 4 * i, parseInt(w, 16)));
  }
  return words;
}

describe.skipIf(!haveTools || !haveQemu)('Multiboot loader against QEMU 7.2', () => {
  it('writes the same information block, memory map, module list and strings', async () => {
    writeFileSync(join(dir, 'm1.txt'), 'hello\n');
    writeFileSync(join(dir, 'm2.txt'), 'world!!\n');
    const m1 = join(dir, 'm1.txt');
    const m2 = join(dir, 'm2.txt');
    const args = ['-m', '64', '-kernel', k32, '-append', 'a b c', '-initrd', `${m1} x y,${m2}`];
    const ours = load(k32, 64 * MiB, {
      kernelName: k32,
      append: 'a b c',
      modules: [
        { cmdline: `${m1} x y`, data: readFileSync(m1) },
        { cmdline: m2, data: readFileSync(m2) },
      ],
    }, 0);
    const listAddr = ours.view.getUint32(0x9500 + 24, true);
    const dumps: [number, number][] = [
      [0x9500, 18],
      [0x9000, 42],
      [listAddr, 8 + 64],
    ];
    const theirs = await qemuWords(args, dumps);
    expect(theirs.size).toBeGreaterThan(100);
    for (const [addr, count] of dumps) {
      for (let i = 0; i < count; i++) {
        const a = addr + 4 * i;
        expect({ addr: a.toString(16), value: ours.view.getUint32(a, true) }).toEqual({ addr: a.toString(16), value: theirs.get(a) });
      }
    }
  }, 60_000);
});
