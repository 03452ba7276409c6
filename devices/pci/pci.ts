// Conventional PCI: configuration mechanism #1 (ports 0xCF8/0xCFC), the functions on bus 0 with
// their type-0 configuration headers, and Base Address Registers that put a function's I/O and
// memory windows on the IoBus when the guest programs them.
// Facts: PCI Local Bus Specification 3.0, §3.2.2.3.2 (configuration mechanism #1), §6.1-6.2
// (configuration header, command and status registers), §6.2.5 (base address registers).
// The write masks follow QEMU 7.2's generic device: command bits IO/MEM/MASTER/SERR/INTx-disable,
// cache line size and interrupt line writable, 0x40-0xFF plain read/write storage unless a
// function says otherwise.

import type { IoBus, MmioHandler, PortHandler } from '../io-bus.ts';

/** Configuration header offsets (PCI 3.0 §6.1, figure 6-1). */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CACHE_LINE = 0x0c;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

/** Command register bits (PCI 3.0 §6.2.2). */
export const CMD_IO = 0x0001;
export const CMD_MEMORY = 0x0002;
export const CMD_MASTER = 0x0004;
export const CMD_SERR = 0x0100;
export const CMD_INTX_DISABLE = 0x0400;
/** Status register bits that software clears by writing 1 (PCI 3.0 §6.2.3): parity, aborts, SERR. */
const STATUS_W1C = 0xf900;
/** Status bit 3: the function's INTx# is asserted (PCI 3.0 §6.2.3). */
export const STATUS_INTERRUPT = 0x0008;

/** Subsystem IDs QEMU 7.2 gives every device it emulates (Red Hat / QEMU). */
export const QEMU_SUBSYSTEM_VENDOR = 0x1af4;
export const QEMU_SUBSYSTEM_ID = 0x1100;

/** A port window relative to its BAR: offset 0 is the BAR's base. */
export interface BarIoHandler {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
  maxSize?: number;
}

export interface BarDefinition {
  kind: 'io' | 'mem32';
  /** Window size in bytes: a power of two, at least 4 (I/O) or 16 (memory). */
  size: number;
  prefetchable?: boolean;
  /** What answers once the BAR is mapped; without one the BAR only exists in config space. */
  io?: BarIoHandler;
  mmio?: MmioHandler;
}

export interface FunctionIdentity {
  vendorId: number;
  deviceId: number;
  revision: number;
  /** Base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  /** Bit 7 set on function 0 of a multi-function device (PCI 3.0 §6.2.1). */
  headerType?: number;
  /** Interrupt pin: 0 none, 1-4 INTA#-INTD#. */
  interruptPin?: number;
  /** Status register at reset (DEVSEL timing, fast back-to-back...). */
  status?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** One PCI function: its 256-byte configuration space and, optionally, up to six BARs. */
export class PciFunction {
  readonly config = new Uint8Array(256);
  /** Bits software may change. */
  readonly wmask = new Uint8Array(256);
  /** Bits software clears by writing 1. */
  readonly w1cmask = new Uint8Array(256);
  readonly bars: (BarDefinition | undefined)[] = new Array(6).fill(undefined);
  /** Set by PciBus.add. */
  bus: PciBus | null = null;
  devfn = -1;
  /** Config contents at power-on (restored by reset). */
  private initial = new Uint8Array(256);

  constructor(readonly name: string, id: FunctionIdentity, bars: (BarDefinition | undefined)[] = []) {
    const c = this.config;
    this.set16(PCI_VENDOR_ID, id.vendorId);
    this.set16(PCI_DEVICE_ID, id.deviceId);
    c[PCI_REVISION] = id.revision;
    c[PCI_CLASS_PROG] = id.classCode & 0xff;
    c[PCI_CLASS_PROG + 1] = (id.classCode >> 8) & 0xff;
    c[PCI_CLASS_PROG + 2] = (id.classCode >> 16) & 0xff;
    c[PCI_HEADER_TYPE] = id.headerType ?? 0;
    c[PCI_INTERRUPT_PIN] = id.interruptPin ?? 0;
    this.set16(PCI_STATUS, id.status ?? 0);
    this.set16(PCI_SUBSYSTEM_VENDOR, id.subsystemVendorId ?? QEMU_SUBSYSTEM_VENDOR);
    this.set16(PCI_SUBSYSTEM_ID, id.subsystemId ?? QEMU_SUBSYSTEM_ID);
    this.setMask16(this.wmask, PCI_COMMAND, CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_SERR | CMD_INTX_DISABLE);
    this.setMask16(this.w1cmask, PCI_STATUS, STATUS_W1C);
    this.wmask[PCI_CACHE_LINE] = 0xff;
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
    // Device-specific space: plain storage unless the function narrows it.
    this.wmask.fill(0xff, 0x40, 0x100);
    bars.forEach((bar, i) => {
      if (!bar) return;
      if (i > 5) throw new Error(`${name}: BAR ${i} does not exist`);
      if (!isPowerOfTwo(bar.size) || bar.size < (bar.kind === 'io' ? 4 : 16) || bar.size > 0x80000000) {
        throw new Error(`${name}: BAR ${i} size ${bar.size} is not a valid BAR size`);
      }
      this.bars[i] = bar;
      // The low bits say what the BAR is and are read-only; the address bits above the size are
      // writable, so writing all ones reads back the size (PCI 3.0 §6.2.5.1).
      const flags = bar.kind === 'io' ? 0x1 : bar.prefetchable ? 0x8 : 0x0;
      this.set32(PCI_BAR0 + 4 * i, flags);
      this.setMask32(this.wmask, PCI_BAR0 + 4 * i, ~(bar.size - 1) >>> 0);
    });
    this.sealInitialState();
  }

  /** Freeze the current contents as the power-on state (subclasses that set more call it again). */
  protected sealInitialState(): void {
    this.initial = this.config.slice();
  }

  get16(off: number): number {
    return this.config[off] | (this.config[off + 1] << 8);
  }
  get32(off: number): number {
    return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0;
  }
  set16(off: number, v: number): void {
    this.config[off] = v & 0xff;
    this.config[off + 1] = (v >> 8) & 0xff;
  }
  set32(off: number, v: number): void {
    this.set16(off, v & 0xffff);
    this.set16(off + 2, (v >>> 16) & 0xffff);
  }
  protected setMask16(mask: Uint8Array, off: number, v: number): void {
    mask[off] = v & 0xff;
    mask[off + 1] = (v >> 8) & 0xff;
  }
  protected setMask32(mask: Uint8Array, off: number, v: number): void {
    this.setMask16(mask, off, v & 0xffff);
    this.setMask16(mask, off + 2, (v >>> 16) & 0xffff);
  }

  get command(): number {
    return this.get16(PCI_COMMAND);
  }

  /** A configuration read of `size` bytes (1, 2, 4) at `offset`, little-endian; past 0xFF reads ones. */
  readConfig(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      const o = offset + i;
      v = v * 256 + (o >= 0 && o < 256 ? this.readByte(o) : 0xff);
    }
    return v >>> 0;
  }

  /** A configuration write: masked byte by byte, then the function reacts (BARs, device registers). */
  writeConfig(offset: number, size: number, value: number): void {
    const old = this.config.slice(offset, offset + size);
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o < 0 || o > 0xff) continue;
      const b = (value >>> (8 * i)) & 0xff;
      const w = this.wmask[o];
      const c = this.w1cmask[o];
      this.config[o] = ((this.config[o] & ~w) | (b & w)) & ~(b & c) & 0xff;
    }
    this.configWritten(offset, size, old);
  }

  /** Device-specific read view; the default is the stored byte. */
  protected readByte(offset: number): number {
    return this.config[offset];
  }

  /**
   * Called after every configuration write with the bytes as they were before. The default keeps
   * BAR mappings in step with the command register and BARs; overrides should call it.
   */
  protected configWritten(offset: number, size: number, _old: Uint8Array): void {
    const end = offset + size;
    if ((offset < PCI_COMMAND + 2 && end > PCI_COMMAND) || (offset < PCI_BAR0 + 24 && end > PCI_BAR0)) {
      this.bus?.updateMappings(this);
    }
  }

  /** Back to the power-on configuration; BAR windows disappear. */
  reset(): void {
    this.config.set(this.initial);
    this.bus?.updateMappings(this);
  }

  /** Assert or release this function's INTx# pin (no-op without a pin or with INTx disabled). */
  setIntx(level: boolean): void {
    const pin = this.config[PCI_INTERRUPT_PIN];
    if (pin < 1 || pin > 4) return;
    const status = this.get16(PCI_STATUS);
    this.set16(PCI_STATUS, level ? status | STATUS_INTERRUPT : status & ~STATUS_INTERRUPT);
    const asserted = level && !(this.command & CMD_INTX_DISABLE);
    this.bus?.intx(this, pin - 1, asserted);
  }

  /** The address a BAR decodes at, or null while it is unmapped (see PciBus.barAddress). */
  barAddress(i: number): number | null {
    return this.bus?.barAddress(this, i) ?? null;
  }
}

/** Where a function's INTx# pins go: the PIIX3 routes bus 0's four PIRQ lines to ISA IRQs. */
export interface PciIrqRouter {
  /** pirq 0-3 = PIRQA-D; level is the OR of every pin wired to it. */
  setPirq(pirq: number, level: boolean): void;
}

interface LiveMapping {
  base: number;
  io?: PortHandler;
  mmio?: MmioHandler;
}

/** Bus 0 behind the host bridge, reached through configuration mechanism #1. */
export class PciBus {
  private readonly functions: (PciFunction | undefined)[] = new Array(256).fill(undefined);
  private address = 0;
  private ioBus: IoBus | null = null;
  private readonly mappings = new Map<PciFunction, (LiveMapping | null)[]>();
  /** Pins asserted per PIRQ line, as a set of "devfn:pin" keys. */
  private readonly pirqSources: Set<string>[] = [new Set(), new Set(), new Set(), new Set()];
  router: PciIrqRouter | null = null;

  /** Put a function at device `dev`, function `fn`. */
  add(dev: number, fn: number, f: PciFunction): void {
    const devfn = (dev << 3) | fn;
    if (dev < 0 || dev > 31 || fn < 0 || fn > 7 || this.functions[devfn]) throw new Error(`PCI slot ${dev}.${fn} is taken or invalid`);
    this.functions[devfn] = f;
    f.bus = this;
    f.devfn = devfn;
    this.mappings.set(f, new Array(6).fill(null));
  }

  function(dev: number, fn: number): PciFunction | undefined {
    return this.functions[((dev & 31) << 3) | (fn & 7)];
  }

  /** All functions, in devfn order. */
  all(): PciFunction[] {
    return this.functions.filter((f): f is PciFunction => f !== undefined);
  }

  /**
   * CONFIG_ADDRESS at 0xCF8 (32-bit accesses only; narrower ones fall through to whatever else
   * decodes those ports, e.g. the PIIX3 reset control register at 0xCF9) and CONFIG_DATA at
   * 0xCFC-0xCFF (PCI 3.0 §3.2.2.3.2).
   */
  attach(bus: IoBus): void {
    this.ioBus = bus;
    bus.registerPorts(0xcf8, 1, {
      maxSize: 4,
      read: (_port, size) => (size === 4 ? this.address : 0xffffffff),
      write: (_port, size, v) => {
        if (size === 4) this.address = v >>> 0;
      },
    });
    bus.registerPorts(0xcfc, 4, {
      maxSize: 4,
      read: (port, size) => this.dataRead(port - 0xcfc, size),
      write: (port, size, v) => this.dataWrite(port - 0xcfc, size, v),
    });
  }

  /** Power-on state of every function (and of CONFIG_ADDRESS). */
  reset(): void {
    this.address = 0;
    for (const f of this.all()) f.reset();
  }

  /** The function CONFIG_ADDRESS points at, or undefined (enable bit clear, other bus, empty slot). */
  private target(): PciFunction | undefined {
    const a = this.address;
    if (!(a & 0x80000000)) return undefined;
    if (((a >>> 16) & 0xff) !== 0) return undefined; // only bus 0 exists
    return this.functions[(a >>> 8) & 0xff];
  }

  private dataRead(offset: number, size: number): number {
    // An access running past 0xCFF takes the rest from the ports beyond, like any I/O cycle.
    const inside = Math.min(size, 4 - offset);
    const f = this.target();
    let v = f ? f.readConfig((this.address & 0xfc) + offset, inside) : 2 ** (8 * inside) - 1;
    if (inside < size && this.ioBus) v += this.ioBus.portRead(0xd00, size - inside) * 2 ** (8 * inside);
    return v >>> 0;
  }

  private dataWrite(offset: number, size: number, value: number): void {
    const inside = Math.min(size, 4 - offset);
    const f = this.target();
    if (f) f.writeConfig((this.address & 0xfc) + offset, inside, value & (2 ** (8 * inside) - 1));
    if (inside < size && this.ioBus) this.ioBus.portWrite(0xd00, size - inside, value >>> (8 * inside));
  }

  /**
   * Where BAR i of f decodes, or null when it does not (PCI 3.0 §6.2.2 and §6.2.5): the matching
   * command enable must be set, and a base of 0 or a window that would run past the end of the
   * address space (e.g. while software sizes the BAR with all ones) counts as unmapped, as in QEMU.
   */
  barAddress(f: PciFunction, i: number): number | null {
    const bar = f.bars[i];
    if (!bar) return null;
    const raw = f.get32(PCI_BAR0 + 4 * i);
    if (bar.kind === 'io') {
      if (!(f.command & CMD_IO)) return null;
      const base = (raw & ~(bar.size - 1)) >>> 0;
      if (base === 0 || base + bar.size > 0x10000) return null;
      return base;
    }
    if (!(f.command & CMD_MEMORY)) return null;
    const base = (raw & ~(bar.size - 1)) >>> 0;
    if (base === 0 || base + bar.size >= 2 ** 32) return null;
    return base;
  }

  /** Bring the IoBus in line with f's BARs and command register. */
  updateMappings(f: PciFunction): void {
    const live = this.mappings.get(f);
    if (!live) return;
    for (let i = 0; i < 6; i++) {
      const bar = f.bars[i];
      const want = this.barAddress(f, i);
      const cur = live[i];
      if (cur && cur.base === want) continue;
      if (cur) {
        if (cur.io) this.ioBus?.unmapPorts(cur.io);
        if (cur.mmio) this.ioBus?.unmapMmioWindow(cur.mmio);
        live[i] = null;
      }
      if (want === null || !bar) continue;
      const m: LiveMapping = { base: want };
      if (bar.kind === 'io' && bar.io) {
        const h = bar.io;
        const handler: PortHandler = {
          maxSize: h.maxSize ?? 1,
          read: (port, size) => h.read(port - want, size),
          write: (port, size, v) => h.write(port - want, size, v),
        };
        m.io = handler;
        this.ioBus?.mapPorts(want, bar.size, handler);
      } else if (bar.kind === 'mem32' && bar.mmio) {
        const h = bar.mmio;
        m.mmio = { read: (o, s) => h.read(o, s), write: (o, s, v) => h.write(o, s, v) };
        this.ioBus?.mapMmioWindow(want, bar.size, m.mmio);
      }
      live[i] = m;
    }
  }

  /**
   * A function's INTx# changed. On the pc machine, slot s pin p drives PIRQ (s + p - 1) mod 4
   * (the usual PCI interrupt swizzle of the i440FX boards; QEMU routes the same way).
   */
  intx(f: PciFunction, pin: number, level: boolean): void {
    const slot = f.devfn >> 3;
    const pirq = (slot + pin + 3) & 3;
    const key = `${f.devfn}:${pin}`;
    const set = this.pirqSources[pirq];
    const before = set.size > 0;
    if (level) set.add(key);
    else set.delete(key);
    const after = set.size > 0;
    if (before !== after) this.router?.setPirq(pirq, after);
  }

  /** Current level of PIRQ line n (0-3). */
  pirqLevel(n: number): boolean {
    return this.pirqSources[n & 3].size > 0;
  }
}
