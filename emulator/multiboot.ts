// Loads a Multiboot (version 1) kernel into guest RAM the way `qemu-system-x86_64 -kernel` does,
// and describes the CPU state the kernel must be entered with.
// Format facts: Multiboot Specification 0.6.96 (§3.1 header, §3.2 machine state, §3.3 boot
// information); ELF: System V ABI, "ELF Header" and "Program Header". The placement of the
// information block, strings and modules copies what QEMU 7.2 visibly does (checked with its
// monitor's `xp`): info block at 0x9500, memory map at 0x9000, module list and strings on the
// first page boundary after the kernel, each module on a page boundary after that.

import type { SegmentState } from '../cpu/types.ts';

export class KernelLoadError extends Error {
  override readonly name = 'KernelLoadError';
}

export interface BootModule {
  /** The module's string as given to -initrd: file name, then its arguments. */
  cmdline: string;
  data: Uint8Array;
}

export interface MultibootInput {
  /** Kernel file name as given on the command line (QEMU puts it first in the kernel's cmdline). */
  kernelName: string;
  kernel: Uint8Array;
  /** The -append string ('' when absent). */
  append: string;
  modules: BootModule[];
}

/** Register and segment state at the kernel's entry point (Multiboot 0.6.96 §3.2). */
export interface EntryState {
  eip: number;
  eax: number;
  ebx: number;
  esp: number;
  eflags: number;
  cr0: number;
  /** ES, CS, SS, DS, FS, GS, LDTR, TR, in cpu/types.ts Seg order. */
  segments: SegmentState[];
  gdt: { base: number; limit: number };
  idt: { base: number; limit: number };
}

/** Where a loaded kernel and its boot data ended up (for tests and the monitor). */
export interface MultibootLayout {
  entry: EntryState;
  infoAddr: number;
  kernelStart: number;
  kernelEnd: number;
  modules: { start: number; end: number; cmdline: string }[];
}

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** §3.1.1: the header lies 32-bit aligned within the first 8192 bytes. */
const HEADER_SEARCH_BYTES = 8192;
const HEADER_FLAG_ADDRESSES = 1 << 16;

const INFO_ADDR = 0x9500;
const MMAP_ADDR = 0x9000;
/** Our stand-in for the GDT QEMU's option ROM leaves behind: null, code32, data32, code16, data16. */
const GDT_ADDR = 0x8fd8;
const GDT_LIMIT = 0x27;
/** QEMU's option ROM runs on a stack here; the kernel sees it in ESP. */
const ENTRY_ESP = 0x6f08;
/** Bytes the boot data occupies in low memory; the kernel must not be loaded over them. */
const LOW_AREA_START = GDT_ADDR;
const LOW_AREA_END = INFO_ADDR + 0x58;

// §3.3 "flags" bits of the information structure.
const INFO_MEMORY = 1 << 0;
const INFO_BOOTDEV = 1 << 1;
const INFO_CMDLINE = 1 << 2;
const INFO_MODS = 1 << 3;
const INFO_MMAP = 1 << 6;
const INFO_LOADER_NAME = 1 << 9;

const PAGE = 4096;
const alignUp = (v: number, a: number) => Math.ceil(v / a) * a;
const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/** An e820-style entry: [base, base+length) of `type` (1 usable, 2 reserved). */
export interface MemoryRange {
  base: number;
  length: number;
  type: number;
}

/**
 * The BIOS memory map of a QEMU 7.2 "pc" machine with `ramSize` bytes below 4 GiB, as SeaBIOS
 * reports it: conventional memory up to the EBDA, the BIOS area, RAM from 1 MiB less the 128 KiB
 * SeaBIOS keeps at the top, the flash at 4 GiB - 256 KiB, and the AMD HyperTransport hole QEMU
 * reserves at 1012 GiB.
 */
export function pcMemoryMap(ramSize: number): MemoryRange[] {
  const topReserve = 0x20000;
  return [
    { base: 0, length: 0x9fc00, type: 1 },
    { base: 0x9fc00, length: 0x400, type: 2 },
    { base: 0xf0000, length: 0x10000, type: 2 },
    { base: 0x100000, length: ramSize - 0x100000 - topReserve, type: 1 },
    { base: ramSize - topReserve, length: topReserve, type: 2 },
    { base: 0xfffc0000, length: 0x40000, type: 2 },
    { base: 0xfd_0000_0000, length: 0x3_0000_0000, type: 2 },
  ];
}

interface Header {
  offset: number;
  flags: number;
}

function findHeader(image: Uint8Array, view: DataView): Header | null {
  const end = Math.min(image.length, HEADER_SEARCH_BYTES);
  for (let off = 0; off + 12 <= end; off += 4) {
    if (view.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = view.getUint32(off + 4, true);
    const checksum = view.getUint32(off + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) & 0xffffffff) === 0) return { offset: off, flags };
  }
  return null;
}

interface LoadedImage {
  start: number;
  end: number;
  entry: number;
}

/** Place `len` bytes at guest physical `addr`, checking that they fit in RAM and miss the boot data. */
function checkRange(what: string, addr: number, len: number, ramSize: number): void {
  if (addr < 0 || addr + len > ramSize) {
    throw new KernelLoadError(
      `${what} at ${hex(addr)}-${hex(addr + len)} does not fit in guest RAM (${ramSize / (1024 * 1024)} MiB; use -m for more)`,
    );
  }
  if (len > 0 && addr < LOW_AREA_END && addr + len > LOW_AREA_START) {
    throw new KernelLoadError(`${what} at ${hex(addr)} overlaps the boot information at ${hex(LOW_AREA_START)}-${hex(LOW_AREA_END)}`);
  }
}

function loadWithAddresses(image: Uint8Array, view: DataView, h: Header, ram: Uint8Array): LoadedImage {
  if (h.offset + 32 > image.length) throw new KernelLoadError('file is truncated inside the Multiboot header');
  const headerAddr = view.getUint32(h.offset + 12, true);
  const loadAddr = view.getUint32(h.offset + 16, true);
  const loadEndAddr = view.getUint32(h.offset + 20, true);
  const bssEndAddr = view.getUint32(h.offset + 24, true);
  const entry = view.getUint32(h.offset + 28, true);
  // §3.1.3: the file offset of load_addr is the header's offset minus (header_addr - load_addr).
  const fileStart = h.offset - (headerAddr - loadAddr);
  if (loadAddr > headerAddr || fileStart < 0) {
    throw new KernelLoadError(`Multiboot header says load_addr ${hex(loadAddr)} but header_addr ${hex(headerAddr)}: inconsistent`);
  }
  const size = loadEndAddr === 0 ? image.length - fileStart : loadEndAddr - loadAddr;
  if (loadEndAddr !== 0 && loadEndAddr < loadAddr) {
    throw new KernelLoadError(`Multiboot header has load_end_addr ${hex(loadEndAddr)} below load_addr ${hex(loadAddr)}`);
  }
  if (fileStart + size > image.length) {
    throw new KernelLoadError(`file is truncated: the Multiboot header asks for ${size} bytes from offset ${fileStart}, the file has ${image.length}`);
  }
  const end = Math.max(loadAddr + size, bssEndAddr);
  checkRange('kernel image', loadAddr, end - loadAddr, ram.length);
  ram.set(image.subarray(fileStart, fileStart + size), loadAddr);
  ram.fill(0, loadAddr + size, end);
  return { start: loadAddr, end, entry };
}

function loadElf(image: Uint8Array, view: DataView, ram: Uint8Array): LoadedImage {
  if (image.length < 52) throw new KernelLoadError('file is truncated inside the ELF header');
  const cls = image[4];
  if (cls !== 1 && cls !== 2) throw new KernelLoadError(`unknown ELF class ${cls}`);
  if (image[5] !== 1) throw new KernelLoadError('big-endian ELF files are not x86 kernels');
  const is64 = cls === 2;
  if (is64 && image.length < 64) throw new KernelLoadError('file is truncated inside the ELF header');
  const machine = view.getUint16(18, true);
  if (machine !== 3 && machine !== 62) throw new KernelLoadError(`ELF file is for machine ${machine}, not x86 (3) or x86-64 (62)`);
  const entryBig = is64 ? view.getBigUint64(24, true) : BigInt(view.getUint32(24, true));
  const phoff = is64 ? Number(view.getBigUint64(32, true)) : view.getUint32(28, true);
  const phentsize = view.getUint16(is64 ? 54 : 42, true);
  const phnum = view.getUint16(is64 ? 56 : 44, true);
  if (phnum === 0) throw new KernelLoadError('ELF file has no program headers');
  if (phentsize < (is64 ? 56 : 32)) throw new KernelLoadError(`ELF program header size ${phentsize} is too small`);
  if (phoff + phnum * phentsize > image.length) throw new KernelLoadError('file is truncated inside the ELF program headers');

  let start = Infinity;
  let end = 0;
  let entry: number | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (view.getUint32(ph, true) !== 1) continue; // PT_LOAD only
    let offset: number, vaddr: bigint, paddr: bigint, filesz: number, memsz: number;
    if (is64) {
      offset = Number(view.getBigUint64(ph + 8, true));
      vaddr = view.getBigUint64(ph + 16, true);
      paddr = view.getBigUint64(ph + 24, true);
      filesz = Number(view.getBigUint64(ph + 32, true));
      memsz = Number(view.getBigUint64(ph + 40, true));
    } else {
      offset = view.getUint32(ph + 4, true);
      vaddr = BigInt(view.getUint32(ph + 8, true));
      paddr = BigInt(view.getUint32(ph + 12, true));
      filesz = view.getUint32(ph + 16, true);
      memsz = view.getUint32(ph + 20, true);
    }
    if (memsz === 0) continue;
    if (filesz > memsz) throw new KernelLoadError(`ELF segment ${i} has a file size larger than its memory size`);
    if (offset + filesz > image.length) {
      throw new KernelLoadError(`file is truncated: ELF segment ${i} needs bytes ${offset}-${offset + filesz}, the file has ${image.length}`);
    }
    if (paddr + BigInt(memsz) > BigInt(ram.length)) {
      throw new KernelLoadError(
        `ELF segment ${i} at ${hex(paddr)}-${hex(paddr + BigInt(memsz))} does not fit in guest RAM (${ram.length / (1024 * 1024)} MiB; use -m for more)`,
      );
    }
    const p = Number(paddr);
    checkRange(`ELF segment ${i}`, p, memsz, ram.length);
    ram.set(image.subarray(offset, offset + filesz), p);
    ram.fill(0, p + filesz, p + memsz);
    start = Math.min(start, p);
    end = Math.max(end, p + memsz);
    // A kernel linked to run at a different virtual address names its entry virtually;
    // translate it into the segment's physical load address (paging is off at entry).
    if (entry === null && entryBig >= vaddr && entryBig < vaddr + BigInt(memsz)) entry = Number(entryBig - vaddr + paddr);
  }
  if (start === Infinity) throw new KernelLoadError('ELF file has no loadable segments');
  if (entry === null) {
    if (entryBig > 0xffffffffn) throw new KernelLoadError(`ELF entry point ${hex(entryBig)} is above 4 GiB`);
    entry = Number(entryBig);
  }
  return { start, end, entry };
}

function isLinuxBzImage(image: Uint8Array): boolean {
  // Linux/x86 boot protocol: "HdrS" at offset 0x202 of the setup header.
  return image.length >= 0x206 && image[0x202] === 0x48 && image[0x203] === 0x64 && image[0x204] === 0x72 && image[0x205] === 0x53;
}

function writeString(ram: Uint8Array, addr: number, s: string): number {
  const bytes = new TextEncoder().encode(s);
  ram.set(bytes, addr);
  ram[addr + bytes.length] = 0;
  return addr + bytes.length + 1;
}

/** Load kernel and modules into `ram`, build the information block; returns where things went. */
export function loadMultiboot(ram: Uint8Array, input: MultibootInput): MultibootLayout {
  const image = input.kernel;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length === 0) throw new KernelLoadError('file is empty');
  const header = findHeader(image, view);
  if (!header) {
    if (isLinuxBzImage(image)) throw new KernelLoadError('Linux boot protocol is not supported yet (only Multiboot kernels)');
    throw new KernelLoadError('not a Multiboot kernel (no Multiboot header in the first 8192 bytes)');
  }
  if (ram.length < 2 * 1024 * 1024) throw new KernelLoadError('guest RAM is too small for a Multiboot kernel (at least 2 MiB)');

  let loaded: LoadedImage;
  if (header.flags & HEADER_FLAG_ADDRESSES) {
    loaded = loadWithAddresses(image, view, header, ram);
  } else if (image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46) {
    loaded = loadElf(image, view, ram);
  } else {
    throw new KernelLoadError('Multiboot header has no load addresses (flag bit 16) and the file is not ELF');
  }

  // Module list, then strings, on the first page after the kernel; modules page-aligned after.
  const listAddr = alignUp(loaded.end, PAGE);
  let cursor = listAddr + 16 * input.modules.length;
  const moduleStrings: number[] = [];
  for (const m of input.modules) {
    moduleStrings.push(cursor);
    cursor += new TextEncoder().encode(m.cmdline).length + 1;
  }
  const cmdline = `${input.kernelName} ${input.append}`;
  const cmdlineAddr = cursor;
  cursor += new TextEncoder().encode(cmdline).length + 1;
  const loaderNameAddr = cursor;
  cursor += 5;
  checkRange('boot information', listAddr, cursor - listAddr, ram.length);
  const mem = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  input.modules.forEach((m, i) => writeString(ram, moduleStrings[i], m.cmdline));
  writeString(ram, cmdlineAddr, cmdline);
  writeString(ram, loaderNameAddr, 'qemu');

  const modules: MultibootLayout['modules'] = [];
  let modAddr = alignUp(cursor, PAGE);
  input.modules.forEach((m, i) => {
    const name = m.cmdline.split(' ')[0];
    checkRange(`module '${name}'`, modAddr, m.data.length, ram.length);
    ram.set(m.data, modAddr);
    const e = listAddr + 16 * i;
    // §3.3 module structure: mod_start, mod_end, string, reserved.
    mem.setUint32(e, modAddr, true);
    mem.setUint32(e + 4, modAddr + m.data.length, true);
    mem.setUint32(e + 8, moduleStrings[i], true);
    mem.setUint32(e + 12, 0, true);
    modules.push({ start: modAddr, end: modAddr + m.data.length, cmdline: m.cmdline });
    modAddr = alignUp(modAddr + m.data.length, PAGE);
  });

  // §3.3 memory map: each entry is size (20), base_addr (64), length (64), type.
  const map = pcMemoryMap(ram.length);
  map.forEach((r, i) => {
    const e = MMAP_ADDR + 24 * i;
    mem.setUint32(e, 20, true);
    mem.setBigUint64(e + 4, BigInt(r.base), true);
    mem.setBigUint64(e + 12, BigInt(r.length), true);
    mem.setUint32(e + 20, r.type, true);
  });

  ram.fill(0, INFO_ADDR, INFO_ADDR + 0x58);
  mem.setUint32(INFO_ADDR, INFO_MEMORY | INFO_BOOTDEV | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER_NAME, true);
  // mem_lower/mem_upper in KiB: conventional memory, and contiguous memory from 1 MiB.
  mem.setUint32(INFO_ADDR + 4, map[0].length / 1024, true);
  mem.setUint32(INFO_ADDR + 8, map[3].length / 1024, true);
  mem.setUint32(INFO_ADDR + 12, 0x8000ffff, true); // boot_device: first hard disk, no partition
  mem.setUint32(INFO_ADDR + 16, cmdlineAddr, true);
  mem.setUint32(INFO_ADDR + 20, input.modules.length, true);
  mem.setUint32(INFO_ADDR + 24, listAddr, true);
  mem.setUint32(INFO_ADDR + 44, 24 * map.length, true);
  mem.setUint32(INFO_ADDR + 48, MMAP_ADDR, true);
  mem.setUint32(INFO_ADDR + 64, loaderNameAddr, true);

  writeGdt(mem);

  return {
    entry: entryState(loaded.entry, INFO_ADDR),
    infoAddr: INFO_ADDR,
    kernelStart: loaded.start,
    kernelEnd: loaded.end,
    modules,
  };
}

/** Descriptor flag words (second dword & 0x00f0ff00) for the flat segments; G=1, D/B=1. */
const CODE32_FLAGS = 0x00cf9a00;
const DATA32_FLAGS = 0x00cf9300;

function writeGdt(mem: DataView): void {
  const entries: [number, number][] = [
    [0, 0],
    [0x0000ffff, CODE32_FLAGS],
    [0x0000ffff, DATA32_FLAGS],
    [0x0000ffff, 0x00009a00], // 16-bit code, 64 KiB
    [0x0000ffff, 0x00009200], // 16-bit data, 64 KiB
  ];
  entries.forEach(([lo, hi], i) => {
    mem.setUint32(GDT_ADDR + 8 * i, lo, true);
    mem.setUint32(GDT_ADDR + 8 * i + 4, hi, true);
  });
}

/**
 * §3.2 machine state, with QEMU 7.2's concrete choices (seen in `info registers` at the entry):
 * CS = 0x08 and data segments 0x10, flat 4 GiB; CR0 = PE|ET; EFLAGS with IF clear.
 */
function entryState(eip: number, infoAddr: number): EntryState {
  const flat = (selector: number, flags: number): SegmentState => ({ selector, base: 0n, limit: 0xffffffff, flags });
  const data = flat(0x10, DATA32_FLAGS);
  return {
    eip,
    eax: MULTIBOOT_BOOTLOADER_MAGIC,
    ebx: infoAddr,
    esp: ENTRY_ESP,
    eflags: 0x2,
    cr0: 0x11,
    segments: [
      data, // ES
      flat(0x08, CODE32_FLAGS), // CS
      { ...data }, // SS
      { ...data }, // DS
      { ...data }, // FS
      { ...data }, // GS
      { selector: 0, base: 0n, limit: 0xffff, flags: 0x00008200 }, // LDTR
      { selector: 0, base: 0n, limit: 0xffff, flags: 0x00008b00 }, // TR: busy 32-bit TSS
    ],
    gdt: { base: GDT_ADDR, limit: GDT_LIMIT },
    idt: { base: 0, limit: 0x3ff },
  };
}
