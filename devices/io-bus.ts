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

export class IoBus implements Omit<CpuHost, 'interruptAcknowledge'> {
  private readonly ports: (PortHandler | undefined)[] = new Array(0x10000);
  private readonly regions: MmioRegion[] = [];

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

  /** Regions registered so far (the machine maps them into the CPU). */
  mmioRegions(): readonly { base: number; length: number }[] {
    return this.regions;
  }

  portRead(port: number, size: number): number {
    const h = this.ports[port];
    if (h && size <= (h.maxSize ?? 1)) return (h.read(port, size) & ALL_ONES[size]) >>> 0;
    if (size === 1) return 0xff;
    // Wider than the device decodes (or unclaimed): assemble it from single bytes.
    let v = 0;
    for (let i = 0; i < size; i++) v += this.portRead((port + i) & 0xffff, 1) * 2 ** (8 * i);
    return v >>> 0;
  }

  portWrite(port: number, size: number, value: number): void {
    const h = this.ports[port];
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
    return undefined;
  }
}
