// Port I/O and MMIO dispatch: the device side of CpuHost (everything except interruptAcknowledge).
// Like an ISA bus, an unclaimed port or address floats high: reads give all ones, writes vanish.

import type { CpuHost } from '../cpu/types.ts';

export interface PortHandler {
  /** size is 1, 2 or 4 but never more than maxSize; returns the value (only the low size bytes count). */
  read(port: number, size: number): number;
  write(port: number, size: number, value: number): void;
  /**
   * Widest access the device decodes itself (default 1). Wider accesses are split into
   * byte accesses on consecutive ports, low byte first, as an 8-bit ISA device sees them.
   */
  maxSize?: number;
}

export interface MmioHandler {
  /** offset is relative to the region's base. */
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

interface MmioRegion {
  base: number;
  length: number;
  handler: MmioHandler;
}

const ALL_ONES = [0, 0xff, 0xffff, 0xffffff, 0xffffffff];

/** A port range a guest placed with a PCI BAR (or a similar base register); see mapPorts. */
interface PortWindow {
  start: number;
  count: number;
  handler: PortHandler;
}

export class IoBus implements Omit<CpuHost, 'interruptAcknowledge'> {
  private readonly ports: (PortHandler | undefined)[] = new Array(0x10000);
  private readonly regions: MmioRegion[] = [];
  /**
   * Ranges the guest moves around (PCI BARs, the PIIX4 PM base). They may overlap each other and
   * fixed claims without error: fixed claims win, then the window mapped last. `windowPorts` is
   * the resulting per-port table, rebuilt on every change (rare) so lookups stay one index.
   */
  private readonly windows: PortWindow[] = [];
  private readonly windowPorts: (PortHandler | undefined)[] = new Array(0x10000);
  private readonly mmioWindows: MmioRegion[] = [];

  /** Claim ports start .. start+count-1. Overlapping an existing claim is a wiring bug. */
  registerPorts(start: number, count: number, handler: PortHandler): void {
    if (start < 0 || count < 1 || start + count > 0x10000) {
      throw new Error(`port range 0x${start.toString(16)}+${count} is outside 0..0xffff`);
    }
    for (let p = start; p < start + count; p++) {
      if (this.ports[p]) throw new Error(`port 0x${p.toString(16)} is claimed twice`);
    }
    for (let p = start; p < start + count; p++) this.ports[p] = handler;
  }

  /** Claim a physical address range; the CPU must also be told (CpuApi.mapMmio). */
  registerMmio(base: number, length: number, handler: MmioHandler): void {
    for (const r of this.regions) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new Error(`MMIO range 0x${base.toString(16)} overlaps 0x${r.base.toString(16)}`);
      }
    }
    this.regions.push({ base, length, handler });
  }

  /**
   * Map a guest-placed port window (start..start+count-1, clipped to the 64 KiB I/O space).
   * Never throws on overlaps: see `windows`. Unmap with the same handler object.
   */
  mapPorts(start: number, count: number, handler: PortHandler): void {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start >= 0x10000) return;
    this.windows.push({ start, count: Math.min(count, 0x10000 - start), handler });
    this.rebuildWindows();
  }

  unmapPorts(handler: PortHandler): void {
    const before = this.windows.length;
    for (let i = this.windows.length - 1; i >= 0; i--) if (this.windows[i].handler === handler) this.windows.splice(i, 1);
    if (this.windows.length !== before) this.rebuildWindows();
  }

  /** A guest-placed MMIO window (PCI memory BAR): below fixed regions in priority, never throws. */
  mapMmioWindow(base: number, length: number, handler: MmioHandler): void {
    if (length < 1) return;
    this.mmioWindows.push({ base, length, handler });
  }

  unmapMmioWindow(handler: MmioHandler): void {
    for (let i = this.mmioWindows.length - 1; i >= 0; i--) if (this.mmioWindows[i].handler === handler) this.mmioWindows.splice(i, 1);
  }

  private rebuildWindows(): void {
    this.windowPorts.fill(undefined);
    for (const w of this.windows) for (let p = w.start; p < w.start + w.count; p++) this.windowPorts[p] = w.handler;
  }

  /** Regions registered so far (the machine maps them into the CPU). */
  mmioRegions(): readonly { base: number; length: number }[] {
    return this.regions;
  }

  portRead(port: number, size: number): number {
    const h = this.ports[port] ?? this.windowPorts[port];
    if (h && size <= (h.maxSize ?? 1)) return (h.read(port, size) & ALL_ONES[size]) >>> 0;
    if (size === 1) return 0xff;
    // Wider than the device decodes (or unclaimed): assemble it from single bytes.
    let v = 0;
    for (let i = 0; i < size; i++) v += this.portRead((port + i) & 0xffff, 1) * 2 ** (8 * i);
    return v >>> 0;
  }

  portWrite(port: number, size: number, value: number): void {
    const h = this.ports[port] ?? this.windowPorts[port];
    if (h && size <= (h.maxSize ?? 1)) {
      h.write(port, size, (value & ALL_ONES[size]) >>> 0);
      return;
    }
    if (size === 1) return;
    for (let i = 0; i < size; i++) this.portWrite((port + i) & 0xffff, 1, (value >>> (8 * i)) & 0xff);
  }

  mmioRead(addr: number, size: number): number {
    const r = this.findRegion(addr);
    if (!r) return ALL_ONES[size];
    return (r.handler.read(addr - r.base, size) & ALL_ONES[size]) >>> 0;
  }

  mmioWrite(addr: number, size: number, value: number): void {
    const r = this.findRegion(addr);
    if (r) r.handler.write(addr - r.base, size, (value & ALL_ONES[size]) >>> 0);
  }

  private findRegion(addr: number): MmioRegion | undefined {
    for (const r of this.regions) {
      if (addr >= r.base && addr < r.base + r.length) return r;
    }
    for (let i = this.mmioWindows.length - 1; i >= 0; i--) {
      const r = this.mmioWindows[i];
      if (addr >= r.base && addr < r.base + r.length) return r;
    }
    return undefined;
  }
}
