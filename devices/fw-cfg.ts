// QEMU's firmware configuration device (fw_cfg) in its x86 I/O-port form: selector 0x510
// (16-bit), data 0x511 (8-bit) and the DMA address register 0x514-0x51B (64-bit, big-endian).
// Firmware (SeaBIOS) reads the RAM size, the CPU count, the boot order, the e820 map, ACPI and
// SMBIOS tables and more from it. Facts: QEMU docs/specs/fw_cfg.txt ("Selector (Control)
// Register", "Data Register", "File Directory", "Guest-side DMA Interface"); the behaviour of odd
// accesses (wide reads of the selector/data pair read 0 and consume nothing, data writes are
// ignored, the write bit 0x4000 of a selector is ignored for reads) is QEMU 7.2's.
//
// The DMA engine only ever touches guest RAM through bounds-checked copies: a descriptor or a
// buffer that is not wholly inside RAM ends the operation with the error bit, never an access
// outside the array.

import type { IoBus } from './io-bus.ts';

export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;
export const FW_CFG_PORT_DMA = 0x514;

/** Well-known keys (fw_cfg spec and QEMU's include/standard-headers/linux/qemu_fw_cfg.h). */
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MACHINE_ID = 0x06;
export const FW_CFG_KERNEL_ADDR = 0x07;
export const FW_CFG_KERNEL_SIZE = 0x08;
export const FW_CFG_KERNEL_CMDLINE = 0x09;
export const FW_CFG_INITRD_ADDR = 0x0a;
export const FW_CFG_INITRD_SIZE = 0x0b;
export const FW_CFG_BOOT_DEVICE = 0x0c;
export const FW_CFG_NUMA = 0x0d;
export const FW_CFG_BOOT_MENU = 0x0e;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_KERNEL_ENTRY = 0x10;
export const FW_CFG_KERNEL_DATA = 0x11;
export const FW_CFG_INITRD_DATA = 0x12;
export const FW_CFG_CMDLINE_ADDR = 0x13;
export const FW_CFG_CMDLINE_SIZE = 0x14;
export const FW_CFG_CMDLINE_DATA = 0x15;
export const FW_CFG_SETUP_ADDR = 0x16;
export const FW_CFG_SETUP_SIZE = 0x17;
export const FW_CFG_SETUP_DATA = 0x18;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
/** x86-specific keys (selector bit 15). */
export const FW_CFG_ARCH_LOCAL = 0x8000;
export const FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0;
export const FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1;
export const FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2;
export const FW_CFG_E820_TABLE = FW_CFG_ARCH_LOCAL + 3;
export const FW_CFG_HPET = FW_CFG_ARCH_LOCAL + 4;

const WRITE_CHANNEL = 0x4000;
const ENTRY_MASK = 0x3fff;
/** QEMU 7.2's pc machine has 32 file slots: keys 0x20-0x3F; anything above selects nothing. */
export const FW_CFG_FILE_SLOTS = 0x20;
const MAX_ENTRY = FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS;
/** A directory entry's name field, NUL included. */
export const FW_CFG_MAX_FILE_PATH = 56;

/** FW_CFG_ID bits: the traditional interface, and the DMA interface. */
const ID_TRADITIONAL = 0x01;
const ID_DMA = 0x02;

/** DMA control bits (spec, "Guest-side DMA Interface"; WRITE arrived with QEMU 2.9). */
export const DMA_CTL_ERROR = 0x01;
export const DMA_CTL_READ = 0x02;
export const DMA_CTL_SKIP = 0x04;
export const DMA_CTL_SELECT = 0x08;
export const DMA_CTL_WRITE = 0x10;
/** What the DMA address register reads as: "QEMU CFG", big-endian. */
const DMA_SIGNATURE = new TextEncoder().encode('QEMU CFG');

/** Guest RAM as DMA sees it. */
export interface DmaMemory {
  readonly ram: Uint8Array;
  /** The device wrote RAM (the CPU drops instructions it decoded from there). */
  written(addr: number, length: number): void;
}

export interface FileOptions {
  /** The guest may overwrite the file through DMA WRITE (the size never changes). */
  writable?: boolean;
  /** Called after a DMA write into the file, with the range written. */
  onWrite?: (offset: number, length: number) => void;
}

interface Item {
  data: Uint8Array;
  writable: boolean;
  onWrite?: (offset: number, length: number) => void;
}

interface FileEntry extends Item {
  name: string;
}

export const le16 = (v: number): Uint8Array => Uint8Array.of(v & 0xff, (v >> 8) & 0xff);
export const le32 = (v: number): Uint8Array => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
export function le64(v: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  return out;
}

export class FwCfg {
  /** Fixed keys: [generic, arch-local], indexed by key & 0x3fff. */
  private readonly items: Map<number, Item>[] = [new Map(), new Map()];
  /** Files sorted by name; file i has key FW_CFG_FILE_FIRST + i, as QEMU assigns them. */
  private files: FileEntry[] = [];
  private selector = 0;
  private offset = 0;
  private dmaHigh = 0;

  /** `memory` gives guest RAM once the CPU exists (null before: DMA then fails with the error bit). */
  constructor(private readonly memory: () => DmaMemory | null) {
    this.setItem(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.setItem(FW_CFG_ID, le32(ID_TRADITIONAL | ID_DMA));
    this.rebuildDirectory();
  }

  attach(bus: IoBus): void {
    bus.registerPorts(FW_CFG_PORT_SEL, 2, {
      maxSize: 4,
      read: (_port, size) => (size === 1 ? this.readData() : 0),
      write: (port, size, v) => {
        // Only a 16-bit write to the selector port selects; byte writes are data writes, which
        // QEMU has ignored since 2.4.
        if (size === 2 && port === FW_CFG_PORT_SEL) this.select(v);
      },
    });
    bus.registerPorts(FW_CFG_PORT_DMA, 8, {
      maxSize: 4,
      read: (port, size) => {
        let v = 0;
        for (let i = size - 1; i >= 0; i--) {
          const o = port - FW_CFG_PORT_DMA + i;
          v = v * 256 + (o < 8 ? DMA_SIGNATURE[o] : 0xff);
        }
        return v >>> 0;
      },
      write: (port, size, v) => {
        if (size !== 4) return;
        // The register is big-endian: the byte at the lowest port is the most significant.
        const be = (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
        if (port === FW_CFG_PORT_DMA) this.dmaHigh = be;
        else if (port === FW_CFG_PORT_DMA + 4) {
          const high = this.dmaHigh;
          this.dmaHigh = 0; // the register reads 0 again after an operation
          this.dma(high, be);
        }
      },
    });
  }

  /** Set a fixed (non-file) item; keys with bit 15 set are the arch-local (x86) ones. */
  setItem(key: number, data: Uint8Array): void {
    const k = key & ENTRY_MASK;
    if (k >= FW_CFG_FILE_FIRST || k === FW_CFG_FILE_DIR) throw new Error(`fw_cfg key 0x${key.toString(16)} is not a fixed item`);
    this.items[key & FW_CFG_ARCH_LOCAL ? 1 : 0].set(k, { data, writable: false });
  }

  /**
   * Add a named file (at most 55 characters), keeping the directory sorted by name; returns its
   * selector key. Adding a name twice is a wiring bug.
   */
  addFile(name: string, data: Uint8Array, options: FileOptions = {}): number {
    if (name.length === 0 || new TextEncoder().encode(name).length >= FW_CFG_MAX_FILE_PATH) throw new Error(`fw_cfg file name '${name}' is empty or too long`);
    if (this.files.some((f) => f.name === name)) throw new Error(`fw_cfg file '${name}' exists already`);
    if (this.files.length >= FW_CFG_FILE_SLOTS) throw new Error(`fw_cfg has no slot left for '${name}'`);
    this.files.push({ name, data, writable: options.writable ?? false, onWrite: options.onWrite });
    this.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.rebuildDirectory();
    return this.fileKey(name)!;
  }

  /** Replace a file's contents (the directory's size follows); adds it if missing. */
  setFile(name: string, data: Uint8Array, options?: FileOptions): number {
    const f = this.files.find((e) => e.name === name);
    if (!f) return this.addFile(name, data, options);
    f.data = data;
    if (options) {
      f.writable = options.writable ?? false;
      f.onWrite = options.onWrite;
    }
    this.rebuildDirectory();
    return this.fileKey(name)!;
  }

  /** A file's current contents (including guest writes), or undefined. */
  file(name: string): Uint8Array | undefined {
    return this.files.find((e) => e.name === name)?.data;
  }

  fileKey(name: string): number | undefined {
    const i = this.files.findIndex((e) => e.name === name);
    return i < 0 ? undefined : FW_CFG_FILE_FIRST + i;
  }

  fileNames(): string[] {
    return this.files.map((f) => f.name);
  }

  /** Machine reset: selector 0, offset 0, DMA address register 0. */
  reset(): void {
    this.selector = 0;
    this.offset = 0;
    this.dmaHigh = 0;
  }

  private rebuildDirectory(): void {
    const dir = new Uint8Array(4 + 64 * this.files.length);
    const v = new DataView(dir.buffer);
    v.setUint32(0, this.files.length, false);
    this.files.forEach((f, i) => {
      const o = 4 + 64 * i;
      v.setUint32(o, f.data.length, false);
      v.setUint16(o + 4, FW_CFG_FILE_FIRST + i, false);
      dir.set(new TextEncoder().encode(f.name), o + 8);
    });
    this.items[0].set(FW_CFG_FILE_DIR, { data: dir, writable: false });
  }

  /** The item the current selector names, or undefined (nothing there, key out of range). */
  private current(): Item | undefined {
    const k = this.selector & ENTRY_MASK;
    if (k >= MAX_ENTRY) return undefined;
    if (this.selector & FW_CFG_ARCH_LOCAL) return this.items[1].get(k);
    if (k >= FW_CFG_FILE_FIRST) return this.files[k - FW_CFG_FILE_FIRST];
    return this.items[0].get(k);
  }

  private select(key: number): void {
    this.selector = key & 0xffff;
    this.offset = 0;
  }

  /** One byte from the data register; past the end of the item (or with none) it reads 0. */
  private readData(): number {
    const item = this.current();
    if (!item || this.offset >= item.data.length) return 0;
    return item.data[this.offset++];
  }

  /** Is [addr, addr+len) guest RAM? Anything else (holes, MMIO, above RAM) fails the transfer. */
  private ramRange(mem: DmaMemory, addr: number, len: number): boolean {
    return Number.isSafeInteger(addr) && addr >= 0 && len >= 0 && addr + len <= mem.ram.length;
  }

  /** One DMA operation on the FWCfgDmaAccess structure at guest-physical high:low. */
  private dma(high: number, low: number): void {
    const mem = this.memory();
    if (!mem) return;
    const desc = high * 2 ** 32 + low;
    if (!this.ramRange(mem, desc, 16)) {
      // Cannot even read the descriptor: report the error where the control word is, if anywhere.
      if (this.ramRange(mem, desc, 4)) this.writeControl(mem, desc, DMA_CTL_ERROR);
      return;
    }
    const view = new DataView(mem.ram.buffer, mem.ram.byteOffset + desc, 16);
    const control = view.getUint32(0, false);
    let length = view.getUint32(4, false);
    let address = Number(view.getBigUint64(8, false));
    if (control & DMA_CTL_SELECT) this.select(control >>> 16);
    let op: 'read' | 'write' | 'skip' | 'none';
    if (control & DMA_CTL_READ) op = 'read';
    else if (control & DMA_CTL_WRITE) op = 'write';
    else if (control & DMA_CTL_SKIP) op = 'skip';
    else op = 'none';
    let error = false;
    const item = this.current();
    if (op !== 'none' && length > 0) {
      const avail = item ? Math.max(0, item.data.length - this.offset) : 0;
      const n = Math.min(length, avail);
      if (op === 'read') {
        // The item's bytes, then zeros for whatever was asked beyond its end.
        if (!this.ramRange(mem, address, length)) error = true;
        else {
          if (n > 0) mem.ram.set(item!.data.subarray(this.offset, this.offset + n), address);
          mem.ram.fill(0, address + n, address + length);
          mem.written(address, length);
          this.offset += n;
        }
      } else if (op === 'write') {
        // Only into writable items, and never past their end: the item cannot grow.
        if (!item || !item.writable || n !== length || !this.ramRange(mem, address, length)) error = true;
        else {
          item.data.set(mem.ram.subarray(address, address + length), this.offset);
          const at = this.offset;
          this.offset += length;
          item.onWrite?.(at, length);
        }
      } else {
        this.offset += n;
      }
      address += length;
      length = 0;
    }
    this.writeControl(mem, desc, error ? DMA_CTL_ERROR : 0);
  }

  private writeControl(mem: DmaMemory, desc: number, value: number): void {
    new DataView(mem.ram.buffer, mem.ram.byteOffset + desc, 4).setUint32(0, value, false);
    mem.written(desc, 4);
  }
}
