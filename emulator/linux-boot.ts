// Loads a Linux bzImage into guest RAM and describes the CPU state for the kernel's 32-bit entry.
// Facts come from the kernel's Documentation/arch/x86/boot.rst ("The Linux/x86 Boot Protocol"),
// cited by section below, and Documentation/arch/x86/zero-page.rst for the boot_params layout.
// The addresses of our own boot data (GDT, boot_params, command line) are tsemu's choices.

import type { SegmentState } from '../cpu/types.ts';
import { KernelLoadError, type EntryState } from './multiboot.ts';

export { KernelLoadError };

export interface LinuxBootInput {
  kernel: Uint8Array;
  /** The -append string ('' when absent). */
  cmdline: string;
  /** The -initrd file's contents, or null without -initrd. */
  initrd: Uint8Array | null;
  /**
   * RAM at the top of memory that holds the ACPI tables (the machine installs them there, as
   * firmware would): the initrd goes below it and the e820 map gives it type 3, ACPI data.
   */
  acpiTables?: { base: number; length: number };
}

/** The entry state plus ESI, which holds the boot_params address (boot.rst "32-bit Boot Protocol"). */
export interface LinuxEntryState extends EntryState {
  esi: number;
}

/** Where things went (for tests, the monitor and error messages). */
export interface LinuxLayout {
  entry: LinuxEntryState;
  /** Boot protocol version, e.g. 0x020f. */
  protocol: number;
  bootParams: number;
  cmdlineAddr: number;
  kernelStart: number;
  /** End of the protected-mode code as loaded from the file. */
  kernelEnd: number;
  /** End of the memory the kernel needs while it decompresses itself (init_size). */
  kernelNeedEnd: number;
  initrd: { start: number; end: number } | null;
  /** The e820 map handed to the kernel. */
  e820: { base: number; length: number; type: number }[];
}

/** "HdrS" at 0x202 (boot.rst "The Real-Mode Kernel Header"). */
export function isLinuxKernel(image: Uint8Array): boolean {
  return image.length >= 0x206 && image[0x202] === 0x48 && image[0x203] === 0x64 && image[0x204] === 0x72 && image[0x205] === 0x53;
}

// Setup header field offsets, from the start of the file and of boot_params alike
// (boot.rst "The Real-Mode Kernel Header").
const HDR_START = 0x1f1;
const SETUP_SECTS = 0x1f1;
const SYSSIZE = 0x1f4;
const VID_MODE = 0x1fa;
const BOOT_FLAG = 0x1fe;
const JUMP = 0x200;
const VERSION = 0x206;
const TYPE_OF_LOADER = 0x210;
const LOADFLAGS = 0x211;
const CODE32_START = 0x214;
const RAMDISK_IMAGE = 0x218;
const RAMDISK_SIZE = 0x21c;
const HEAP_END_PTR = 0x224;
const CMD_LINE_PTR = 0x228;
const INITRD_ADDR_MAX = 0x22c;
const RELOCATABLE_KERNEL = 0x234;
const CMDLINE_SIZE = 0x238;
const PREF_ADDRESS = 0x258;
const INIT_SIZE = 0x260;

// boot_params fields outside the setup header (zero-page.rst).
const BP_EXT_MEM_K = 0x002; // screen_info.ext_mem_k
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX_ENTRIES = 128;

// loadflags bits (boot.rst "Details of Header Fields", loadflags).
const LOADED_HIGH = 1 << 0;
const KEEP_SEGMENTS = 1 << 6;
const CAN_USE_HEAP = 1 << 7;

/** The protected-mode kernel goes to 1 MiB (boot.rst "Loading the Rest of the Kernel"). */
export const KERNEL_LOAD_ADDR = 0x100000;
/** tsemu's layout of the boot data in low memory, all below the 640 KiB of conventional RAM. */
export const LINUX_GDT_ADDR = 0x5000;
export const BOOT_PARAMS_ADDR = 0x7000;
export const CMDLINE_ADDR = 0x8000;
/** The command line gets at most this much room (a NUL included) at CMDLINE_ADDR. */
const CMDLINE_AREA = 0x1000;
/** Selectors the 32-bit protocol asks for: __BOOT_CS and __BOOT_DS (boot.rst "32-bit Boot Protocol"). */
const BOOT_CS = 0x10;
const BOOT_DS = 0x18;
const MIN_PROTOCOL = 0x0206;
/** Before protocol 2.03 initrd_addr_max did not exist and was implicitly this (boot.rst, initrd_addr_max). */
const OLD_INITRD_ADDR_MAX = 0x37ffffff;
const PAGE = 4096;

// The PC memory map we describe (e820 types: 1 usable RAM, 2 reserved).
const LOW_RAM_END = 0x9fc00;
const EBDA_END = 0xa0000;
const BIOS_START = 0xf0000;
const E820_RAM = 1;
const E820_RESERVED = 2;
/** ACPI tables the OS may reclaim once it has read them (ACPI 6.4 §15, Table 15.1, AddressRangeACPI). */
const E820_ACPI = 3;

const hex = (v: number) => `0x${v.toString(16)}`;
const MiB = 1024 * 1024;

/**
 * The e820 map for `ramSize` bytes of RAM (all of it below the 4 GiB PCI hole), as SeaBIOS
 * reports it on QEMU's pc machine: the BIOS area 0xF0000-0xFFFFF (where the machine puts the RSDP)
 * is reserved; `acpi`, when given, is the ACPI tables' range at the top of RAM.
 */
export function linuxE820(ramSize: number, acpi?: { base: number; length: number }): LinuxLayout['e820'] {
  const top = acpi ? acpi.base : ramSize;
  const map = [
    { base: 0, length: LOW_RAM_END, type: E820_RAM },
    { base: LOW_RAM_END, length: EBDA_END - LOW_RAM_END, type: E820_RESERVED },
    { base: BIOS_START, length: KERNEL_LOAD_ADDR - BIOS_START, type: E820_RESERVED },
    { base: KERNEL_LOAD_ADDR, length: top - KERNEL_LOAD_ADDR, type: E820_RAM },
  ];
  if (acpi) map.push({ base: acpi.base, length: acpi.length, type: E820_ACPI });
  return map;
}

/**
 * Load `input.kernel` (a bzImage) into `ram`, put the initrd and the command line in place, fill
 * boot_params and return the state to enter the kernel with. Throws KernelLoadError for images
 * this loader cannot boot; `ram` may then be partly written.
 */
export function loadLinux(ram: Uint8Array, input: LinuxBootInput): LinuxLayout {
  const image = input.kernel;
  const ramSize = ram.length;
  const acpi = input.acpiTables;
  if (acpi && (acpi.base % PAGE !== 0 || acpi.base + acpi.length !== ramSize || acpi.base < KERNEL_LOAD_ADDR)) {
    throw new KernelLoadError(`ACPI tables at ${hex(acpi.base)}+${hex(acpi.length)} are not a page-aligned range ending at the top of RAM`);
  }
  /** End of the RAM the kernel may use freely. */
  const usableEnd = acpi ? acpi.base : ramSize;
  if (image.length < 0x264) throw new KernelLoadError(`file is truncated: ${image.length} bytes is less than a Linux setup header`);
  const img = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (!isLinuxKernel(image)) throw new KernelLoadError('not a Linux bzImage (no "HdrS" signature at offset 0x202)');
  if (img.getUint16(BOOT_FLAG, true) !== 0xaa55) {
    throw new KernelLoadError(`not a Linux bzImage (boot flag at 0x1fe is ${hex(img.getUint16(BOOT_FLAG, true))}, not 0xaa55)`);
  }
  const protocol = img.getUint16(VERSION, true);
  const protoText = `${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, '0')}`;
  if (protocol < MIN_PROTOCOL) {
    throw new KernelLoadError(`Linux boot protocol ${protoText} is too old (2.06 or newer is needed, kernel 2.6.22 and later)`);
  }
  const loadflags = image[LOADFLAGS];
  if (!(loadflags & LOADED_HIGH)) throw new KernelLoadError('zImage kernels (loaded at 0x10000) are not supported; build a bzImage');

  // boot.rst "The Real-Mode Kernel Header": setup_sects 0 means 4; the real-mode code is
  // (setup_sects + 1) sectors, and the protected-mode kernel follows it in the file.
  const setupSects = image[SETUP_SECTS] === 0 ? 4 : image[SETUP_SECTS];
  const setupBytes = (setupSects + 1) * 512;
  // The setup header ends at 0x202 plus the byte at 0x201 (the jump's displacement).
  const hdrEnd = 0x202 + image[JUMP + 1];
  if (image.length < hdrEnd) throw new KernelLoadError(`file is truncated inside the setup header (it ends at ${hex(hdrEnd)})`);
  const sysBytes = img.getUint32(SYSSIZE, true) * 16;
  if (image.length <= setupBytes) {
    throw new KernelLoadError(`file is truncated: ${image.length} bytes, but the real-mode part alone is ${setupBytes}`);
  }
  if (sysBytes > 0 && setupBytes + sysBytes > image.length) {
    throw new KernelLoadError(`file is truncated: the header promises ${sysBytes} bytes of protected-mode code after ${setupBytes}, the file has ${image.length} in all`);
  }
  const kernelBytes = image.length - setupBytes;
  const kernelEnd = KERNEL_LOAD_ADDR + kernelBytes;
  // The 32-bit entry point; every bzImage loaded at 1 MiB says 0x100000 here.
  const code32 = img.getUint32(CODE32_START, true);
  if (code32 < KERNEL_LOAD_ADDR || code32 >= kernelEnd) {
    throw new KernelLoadError(`code32_start ${hex(code32)} is outside the kernel loaded at ${hex(KERNEL_LOAD_ADDR)}-${hex(kernelEnd)}`);
  }

  // Protocol 2.10+: init_size is the memory the kernel needs from its (possibly relocated) start
  // while it decompresses; a relocatable kernel moves up to pref_address first.
  let needEnd = kernelEnd;
  if (protocol >= 0x020a) {
    const initSize = img.getUint32(INIT_SIZE, true);
    let start = KERNEL_LOAD_ADDR;
    if (image[RELOCATABLE_KERNEL]) start = Math.max(start, Number(img.getBigUint64(PREF_ADDRESS, true)));
    needEnd = Math.max(needEnd, start + initSize);
  }
  if (needEnd > usableEnd) {
    throw new KernelLoadError(
      `kernel needs RAM up to ${hex(needEnd)} (${Math.ceil(needEnd / MiB)} MiB) to unpack itself, the guest has ${ramSize / MiB} MiB (use -m for more)`,
    );
  }

  // Command line (boot.rst "The Kernel Command Line"): NUL-terminated, at most cmdline_size bytes
  // without the NUL (protocol 2.06+).
  const cmdBytes = new TextEncoder().encode(input.cmdline);
  const cmdMax = Math.min(img.getUint32(CMDLINE_SIZE, true), CMDLINE_AREA - 1);
  if (cmdBytes.length > cmdMax) throw new KernelLoadError(`command line is ${cmdBytes.length} bytes, the kernel takes at most ${cmdMax}`);

  // Initrd (boot.rst "Details of Header Fields", initrd_addr_max): as high as possible, wholly below
  // initrd_addr_max and the end of RAM, page aligned, and clear of the unpacking kernel.
  let initrd: LinuxLayout['initrd'] = null;
  if (input.initrd) {
    const size = input.initrd.length;
    const addrMax = protocol >= 0x0203 ? img.getUint32(INITRD_ADDR_MAX, true) : OLD_INITRD_ADDR_MAX;
    const top = Math.min(addrMax + 1, usableEnd);
    const start = Math.floor((top - size) / PAGE) * PAGE;
    if (start < needEnd) {
      throw new KernelLoadError(
        `initrd of ${size} bytes does not fit between the kernel (up to ${hex(needEnd)}) and ${hex(top)} (use -m for more RAM)`,
      );
    }
    initrd = { start, end: start + size };
  }

  // Everything checked: write RAM.
  const mem = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  ram.set(image.subarray(setupBytes), KERNEL_LOAD_ADDR);
  if (initrd && input.initrd) ram.set(input.initrd, initrd.start);
  ram.fill(0, CMDLINE_ADDR, CMDLINE_ADDR + CMDLINE_AREA);
  ram.set(cmdBytes, CMDLINE_ADDR);

  // boot_params (boot.rst "64-bit/32-bit Boot Protocol"): all zero, then the setup header from
  // offset 0x1f1 of the image, then the loader's fields.
  const bp = BOOT_PARAMS_ADDR;
  ram.fill(0, bp, bp + PAGE);
  ram.set(image.subarray(HDR_START, hdrEnd), bp + HDR_START);
  mem.setUint16(bp + VID_MODE, 0xffff, true); // "normal" VGA mode
  ram[bp + TYPE_OF_LOADER] = 0xff; // undefined loader (boot.rst, type_of_loader)
  // Only the 16-bit entry uses the setup heap; give the value of boot.rst's "Sample Boot
  // Configuration" (heap end 0xe000 past the real-mode start, minus 0x200) so CAN_USE_HEAP is honest.
  mem.setUint16(bp + HEAP_END_PTR, 0xe000 - 0x200, true);
  ram[bp + LOADFLAGS] = (loadflags | CAN_USE_HEAP | LOADED_HIGH) & ~KEEP_SEGMENTS;
  mem.setUint32(bp + CMD_LINE_PTR, CMDLINE_ADDR, true);
  mem.setUint32(bp + RAMDISK_IMAGE, initrd ? initrd.start : 0, true);
  mem.setUint32(bp + RAMDISK_SIZE, initrd ? initrd.end - initrd.start : 0, true);

  // Memory sizes: KiB above 1 MiB (ext_mem_k saturates at 16 bits), then the e820 table.
  const extKb = (ramSize - KERNEL_LOAD_ADDR) / 1024;
  mem.setUint16(bp + BP_EXT_MEM_K, Math.min(extKb, 0xffff), true);
  mem.setUint32(bp + BP_ALT_MEM_K, extKb, true);
  const e820 = linuxE820(ramSize, acpi);
  if (e820.length > E820_MAX_ENTRIES) throw new KernelLoadError('too many e820 entries');
  e820.forEach((r, i) => {
    const e = bp + BP_E820_TABLE + 20 * i;
    mem.setBigUint64(e, BigInt(r.base), true);
    mem.setBigUint64(e + 8, BigInt(r.length), true);
    mem.setUint32(e + 16, r.type, true);
  });
  ram[bp + BP_E820_ENTRIES] = e820.length;

  writeScreenInfo(ram, mem, bp);
  writeBiosDataArea(mem);
  writeGdt(mem);

  return {
    entry: entryState(code32, bp),
    protocol,
    bootParams: bp,
    cmdlineAddr: CMDLINE_ADDR,
    kernelStart: KERNEL_LOAD_ADDR,
    kernelEnd,
    kernelNeedEnd: needEnd,
    initrd,
    e820,
  };
}

/** screen_info (bootparam.h, zero-page.rst offset 0): an 80x25 colour VGA text console. */
function writeScreenInfo(ram: Uint8Array, mem: DataView, bp: number): void {
  ram[bp + 0x00] = 0; // orig_x: cursor column
  ram[bp + 0x01] = 0; // orig_y: cursor row
  mem.setUint16(bp + 0x04, 0, true); // orig_video_page
  ram[bp + 0x06] = 3; // orig_video_mode: 80x25 colour text
  ram[bp + 0x07] = 80; // orig_video_cols
  mem.setUint16(bp + 0x0a, 0, true); // orig_video_ega_bx: low byte not 0x10, so EGA/VGA rather than CGA
  ram[bp + 0x0e] = 25; // orig_video_lines
  ram[bp + 0x0f] = 1; // orig_video_isVGA
  mem.setUint16(bp + 0x10, 16, true); // orig_video_points: character height
}

/**
 * The BIOS data area words Linux reads early to find the extended BIOS data area: 0x40e holds
 * its segment and 0x413 the KiB of conventional memory below it. They match the e820 map.
 */
function writeBiosDataArea(mem: DataView): void {
  mem.setUint16(0x40e, LOW_RAM_END >> 4, true);
  mem.setUint16(0x413, LOW_RAM_END / 1024, true);
}

/** Second dwords of the flat 4 GiB descriptors: base 0, limit 0xfffff pages, G=1, D/B=1, P=1. */
const CODE32_HI = 0x00cf9b00; // execute/read, accessed
const DATA32_HI = 0x00cf9300; // read/write, accessed
/** The same as SegmentState flags (cpu/types.ts: the second dword & 0x00f0ff00). */
const CODE32_FLAGS = CODE32_HI & 0x00f0ff00;
const DATA32_FLAGS = DATA32_HI & 0x00f0ff00;

/** GDT: null, unused, __BOOT_CS (0x10), __BOOT_DS (0x18). */
function writeGdt(mem: DataView): void {
  const entries: [number, number][] = [
    [0, 0],
    [0, 0],
    [0x0000ffff, CODE32_HI],
    [0x0000ffff, DATA32_HI],
  ];
  entries.forEach(([lo, hi], i) => {
    mem.setUint32(LINUX_GDT_ADDR + 8 * i, lo, true);
    mem.setUint32(LINUX_GDT_ADDR + 8 * i + 4, hi, true);
  });
}

/**
 * boot.rst "32-bit Boot Protocol": protected mode with paging off, CS = __BOOT_CS and DS, ES, SS =
 * __BOOT_DS (flat 4 GiB), interrupts disabled, ESI = boot_params, EBP, EDI and EBX zero.
 */
function entryState(eip: number, bootParams: number): LinuxEntryState {
  const flat = (selector: number, flags: number): SegmentState => ({ selector, base: 0n, limit: 0xffffffff, flags });
  const data = () => flat(BOOT_DS, DATA32_FLAGS);
  return {
    eip,
    eax: 0,
    ebx: 0,
    esi: bootParams,
    // The kernel brings its own stack; this one (below the GDT) only has to be harmless.
    esp: LINUX_GDT_ADDR,
    eflags: 0x2,
    cr0: 0x11, // PE, ET
    segments: [
      data(), // ES
      flat(BOOT_CS, CODE32_FLAGS), // CS
      data(), // SS
      data(), // DS
      data(), // FS
      data(), // GS
      { selector: 0, base: 0n, limit: 0xffff, flags: 0x00008200 }, // LDTR
      { selector: 0, base: 0n, limit: 0xffff, flags: 0x00008b00 }, // TR: busy 32-bit TSS
    ],
    gdt: { base: LINUX_GDT_ADDR, limit: 4 * 8 - 1 },
    idt: { base: 0, limit: 0 },
  };
}
