// The I/O APIC (Intel 82093AA datasheet): IOREGSEL at +0x00 and IOWIN at +0x10 of 0xFEC00000,
// registers IOAPICID (0x00), IOAPICVER (0x01), IOAPICARB (0x02) and 24 64-bit redirection
// entries (0x10-0x3F). Each entry sends its pin's interrupt as a message to the local APIC.
//
// Simplifications, as on QEMU's pc machine with one CPU:
// - The version register reads 0x00170020 like QEMU 7.2's default I/O APIC (the 82093AA itself
//   reports 0x11); version 0x20 parts also have the EOI register at +0x40, which is provided.
// - `setIrq` receives the logical "asserted" state of a line, as QEMU's IRQ lines carry it; the
//   polarity bit (13) is stored and read back but does not invert the input.
// - Destinations are matched by the target APIC (physical ID or logical LDR/DFR); with one CPU,
//   lowest-priority delivery is fixed delivery to that CPU when it is addressed, else dropped.
// - Delivery is instantaneous: delivery status (bit 12) always reads 0. SMI and INIT entries are
//   dropped. ExtINT entries pass their pin's level to the local APIC, which then runs the INTA cycle
//   on the 8259; NMI entries send an NMI on each assertion.

import type { IoBus } from './io-bus.ts';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
/** IOAPICVER: maximum redirection entry 23 in bits 23-16, version 0x20 (QEMU's default). */
export const IOAPIC_VERSION = ((IOAPIC_PINS - 1) << 16) | 0x20;

/** The local APIC as the I/O APIC sees it (devices/apic.ts LocalApic provides this). */
export interface IoApicTarget {
  /** A fixed (or lowest-priority) message; levelTriggered sets the APIC's TMR bit for an EOI broadcast. */
  deliver(vector: number, levelTriggered: boolean): void;
  /** Combined level of the ExtINT entries: the CPU should fetch a vector from the 8259. */
  setExtInt(level: boolean): void;
  deliverNmi(): void;
  /** Whether a message to `dest` (physical APIC ID or logical mask) reaches this APIC. */
  matchesDestination(dest: number, logical: boolean): boolean;
}

// Redirection entry bits (82093AA datasheet §3.2.4, "IOREDTBL").
const RTE_DELIVERY_MODE_SHIFT = 8;
const RTE_LOGICAL = 1 << 11;
const RTE_REMOTE_IRR = 1 << 14;
const RTE_LEVEL = 1 << 15;
const RTE_MASKED = 1 << 16;
/** Low dword bits software may write: vector, delivery mode, destination mode, polarity, trigger, mask. */
const RTE_LOW_WRITABLE = 0x0001afff;

const DM_FIXED = 0;
const DM_LOWEST = 1;
const DM_NMI = 4;
const DM_EXTINT = 7;

const REG_ID = 0x00;
const REG_VERSION = 0x01;
const REG_ARB = 0x02;
const REG_TABLE = 0x10;

export class IoApic {
  private select = 0;
  private id = 0;
  private arbitration = 0;
  /** Redirection entries: low dword (flags) and high dword (destination in bits 31-24). */
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Input levels (asserted = true). */
  private readonly pins: boolean[] = new Array<boolean>(IOAPIC_PINS).fill(false);
  private extInt = false;

  constructor(private readonly target: IoApicTarget) {
    this.reset();
  }

  attach(bus: IoBus, base = IOAPIC_DEFAULT_BASE): void {
    bus.registerMmio(base, 0x1000, {
      read: (offset, size) => this.mmioRead(offset, size),
      write: (offset, size, value) => this.mmioWrite(offset, size, value),
    });
  }

  /** Reset: every entry masked, ID 0 (datasheet §3.2.4: "Mask ... after reset ... 1"). */
  reset(): void {
    this.select = 0;
    this.id = 0;
    this.arbitration = 0;
    this.low.fill(RTE_MASKED);
    this.high.fill(0);
    this.updateExtInt();
  }

  /** Drive input pin `pin` (0-23); on the pc machine ISA IRQ n is pin n, except IRQ0 on pin 2. */
  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) throw new Error(`I/O APIC pin ${pin} does not exist`);
    const was = this.pins[pin];
    this.pins[pin] = level;
    const e = this.low[pin];
    if (level && !was && !(e & RTE_MASKED) && !(e & RTE_LEVEL)) {
      // Edge: a rising edge on an unmasked pin sends one message; on a masked pin it is lost.
      this.send(pin);
    }
    this.serviceLevel(pin);
    this.updateExtInt();
  }

  /**
   * EOI broadcast from the local APIC (or a write to the EOI register at +0x40): level-triggered
   * entries with this vector clear remote IRR and, if still asserted, send again.
   */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.low[pin];
      if ((e & RTE_REMOTE_IRR) && (e & 0xff) === vector) {
        this.low[pin] = e & ~RTE_REMOTE_IRR;
        this.serviceLevel(pin);
      }
    }
  }

  /** A redirection entry as a 64-bit value (tests and the monitor). */
  entry(pin: number): bigint {
    return (BigInt(this.high[pin]) << 32n) | BigInt(this.low[pin]);
  }

  private mmioRead(offset: number, size: number): number {
    const reg = offset & ~3;
    const shift = 8 * (offset & 3);
    let v = 0;
    if (reg === 0x00) v = this.select;
    else if (reg === 0x10) v = this.readRegister(this.select);
    return size === 4 && shift === 0 ? v >>> 0 : (v >>> shift) >>> 0;
  }

  private mmioWrite(offset: number, size: number, value: number): void {
    const reg = offset & ~3;
    const shift = 8 * (offset & 3);
    if (size < 4 || shift !== 0) {
      // Narrow writes merge into the addressed register.
      const mask = ((size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff) << shift) >>> 0;
      const old = reg === 0x00 ? this.select : reg === 0x10 ? this.readRegister(this.select) : 0;
      value = ((old & ~mask) | ((value << shift) & mask)) >>> 0;
    }
    if (reg === 0x00) this.select = value & 0xff;
    else if (reg === 0x10) this.writeRegister(this.select, value);
    else if (reg === 0x40) this.eoi(value & 0xff); // EOI register of version 0x20 I/O APICs
  }

  private readRegister(index: number): number {
    switch (index) {
      case REG_ID:
        return (this.id << 24) >>> 0;
      case REG_VERSION:
        return IOAPIC_VERSION;
      case REG_ARB:
        return (this.arbitration << 24) >>> 0;
    }
    if (index >= REG_TABLE && index < REG_TABLE + 2 * IOAPIC_PINS) {
      const pin = (index - REG_TABLE) >> 1;
      return index & 1 ? this.high[pin] : this.low[pin];
    }
    return 0;
  }

  private writeRegister(index: number, v: number): void {
    if (index === REG_ID) {
      this.id = (v >>> 24) & 0xf;
      this.arbitration = this.id; // datasheet §3.2.3: IOAPICARB is loaded from the ID
      return;
    }
    if (index < REG_TABLE || index >= REG_TABLE + 2 * IOAPIC_PINS) return; // read-only or absent
    const pin = (index - REG_TABLE) >> 1;
    if (index & 1) {
      this.high[pin] = v & 0xff000000;
      return;
    }
    const old = this.low[pin];
    let next = (v & RTE_LOW_WRITABLE) | (old & RTE_REMOTE_IRR);
    // Switching an entry to edge clears a stale remote IRR (what QEMU and the chipsets Linux
    // relies on do; remote IRR only means something for level-triggered entries).
    if (!(next & RTE_LEVEL)) next &= ~RTE_REMOTE_IRR;
    this.low[pin] = next >>> 0;
    this.serviceLevel(pin);
    this.updateExtInt();
  }

  /** A level-triggered, unmasked, asserted pin without remote IRR sends its message. */
  private serviceLevel(pin: number): void {
    const e = this.low[pin];
    if (!(e & RTE_LEVEL) || (e & RTE_MASKED) || (e & RTE_REMOTE_IRR) || !this.pins[pin]) return;
    const mode = (e >> RTE_DELIVERY_MODE_SHIFT) & 7;
    if (mode !== DM_FIXED && mode !== DM_LOWEST) return; // ExtINT follows the level; others: edges only
    if (!this.addressed(pin)) return;
    this.low[pin] = e | RTE_REMOTE_IRR; // accepted: wait for the EOI
    this.target.deliver(e & 0xff, true);
  }

  /** Send the message of an edge-triggered entry (or NMI) once. */
  private send(pin: number): void {
    const e = this.low[pin];
    const mode = (e >> RTE_DELIVERY_MODE_SHIFT) & 7;
    if (mode === DM_EXTINT) return; // handled as a level by updateExtInt
    if (!this.addressed(pin)) return;
    if (mode === DM_FIXED || mode === DM_LOWEST) this.target.deliver(e & 0xff, false);
    else if (mode === DM_NMI) this.target.deliverNmi();
    // SMI, INIT and the reserved modes are dropped.
  }

  private addressed(pin: number): boolean {
    return this.target.matchesDestination(this.high[pin] >>> 24, (this.low[pin] & RTE_LOGICAL) !== 0);
  }

  /** Level of the unmasked ExtINT entries towards the local APIC. */
  private updateExtInt(): void {
    let level = false;
    for (let pin = 0; pin < IOAPIC_PINS && !level; pin++) {
      const e = this.low[pin];
      level = this.pins[pin] && !(e & RTE_MASKED) && ((e >> RTE_DELIVERY_MODE_SHIFT) & 7) === DM_EXTINT && this.addressed(pin);
    }
    if (level !== this.extInt) {
      this.extInt = level;
      this.target.setExtInt(level);
    }
  }
}
