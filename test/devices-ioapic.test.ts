import { beforeEach, describe, expect, it } from 'vitest';
import { APIC_DEFAULT_BASE, LocalApic } from '../devices/apic.ts';
import { InterruptRouter } from '../devices/interrupt-router.ts';
import { IoBus } from '../devices/io-bus.ts';
import { IOAPIC_DEFAULT_BASE, IoApic } from '../devices/ioapic.ts';
import { DualPic } from '../devices/pic.ts';
import { Clock } from '../emulator/clock.ts';

let bus: IoBus;
let apic: LocalApic;
let ioapic: IoApic;
let nmis: number;

const sel = (index: number) => bus.mmioWrite(IOAPIC_DEFAULT_BASE, 4, index);
const readReg = (index: number) => {
  sel(index);
  return bus.mmioRead(IOAPIC_DEFAULT_BASE + 0x10, 4);
};
const writeReg = (index: number, v: number) => {
  sel(index);
  bus.mmioWrite(IOAPIC_DEFAULT_BASE + 0x10, 4, v >>> 0);
};
/** Program redirection entry `pin`: low dword flags, destination byte. */
const route = (pin: number, low: number, dest = 0) => {
  writeReg(0x11 + 2 * pin, dest << 24);
  writeReg(0x10 + 2 * pin, low);
};
const lapic = (offset: number) => bus.mmioRead(APIC_DEFAULT_BASE + offset, 4);
const irr = (v: number) => ((lapic(0x200 + (v >> 5) * 0x10) >>> (v & 31)) & 1) === 1;
const eoi = () => bus.mmioWrite(APIC_DEFAULT_BASE + 0xb0, 4, 0);
const remoteIrr = (pin: number) => (readReg(0x10 + 2 * pin) & 0x4000) !== 0;

const LEVEL = 0x8000;
const MASKED = 0x10000;
const LOGICAL = 0x800;

beforeEach(() => {
  bus = new IoBus();
  nmis = 0;
  const clock = new Clock({ frozen: true });
  apic = new LocalApic({
    clock,
    onIntr: () => {},
    onEoi: (v) => ioapic.eoi(v),
    onNmi: () => nmis++,
  });
  apic.attach(bus);
  ioapic = new IoApic(apic);
  ioapic.attach(bus);
  apic.setBiosState();
});

describe('I/O APIC registers', () => {
  it('has the reset state QEMU 7.2 shows: version 0x20, 24 entries, all masked', () => {
    expect(readReg(0x00)).toBe(0);
    expect(readReg(0x01)).toBe(0x00170020);
    expect(readReg(0x02)).toBe(0);
    for (let pin = 0; pin < 24; pin++) {
      expect(readReg(0x10 + 2 * pin)).toBe(0x10000);
      expect(readReg(0x11 + 2 * pin)).toBe(0);
    }
    expect(readReg(0x40)).toBe(0); // beyond the table
  });

  it('reads back IOREGSEL and keeps only the writable bits', () => {
    sel(0x23);
    expect(bus.mmioRead(IOAPIC_DEFAULT_BASE, 4)).toBe(0x23);
    writeReg(0x00, 0xffffffff);
    expect(readReg(0x00)).toBe(0x0f000000);
    expect(readReg(0x02)).toBe(0x0f000000); // arbitration ID follows the ID
    writeReg(0x01, 0);
    expect(readReg(0x01)).toBe(0x00170020);
    writeReg(0x12, 0xffffffff);
    expect(readReg(0x12)).toBe(0x0001afff); // delivery status and remote IRR are read-only
    writeReg(0x13, 0xffffffff);
    expect(readReg(0x13)).toBe(0xff000000);
    expect(ioapic.entry(1)).toBe(0xff000000_0001afffn);
  });
});

describe('I/O APIC delivery', () => {
  it('edge: one message per rising edge; masked edges are lost', () => {
    route(1, 0x31);
    ioapic.setIrq(1, true);
    expect(irr(0x31)).toBe(true);
    expect(apic.acknowledge()).toBe(0x31);
    eoi();
    ioapic.setIrq(1, true); // still high: no new edge
    expect(irr(0x31)).toBe(false);
    ioapic.setIrq(1, false);
    route(1, 0x31 | MASKED);
    ioapic.setIrq(1, true);
    ioapic.setIrq(1, false);
    route(1, 0x31);
    expect(irr(0x31)).toBe(false);
    ioapic.setIrq(1, true);
    expect(irr(0x31)).toBe(true);
    expect(remoteIrr(1)).toBe(false); // edge entries never set remote IRR
  });

  it('level: remote IRR holds the line until the EOI broadcast', () => {
    route(10, 0x40 | LEVEL);
    ioapic.setIrq(10, true);
    expect(irr(0x40)).toBe(true);
    expect(remoteIrr(10)).toBe(true);
    expect(apic.acknowledge()).toBe(0x40);
    ioapic.setIrq(10, false);
    ioapic.setIrq(10, true); // re-asserted while remote IRR is set: nothing sent
    expect(irr(0x40)).toBe(false);
    eoi(); // the local APIC's TMR bit makes this an EOI broadcast
    expect(remoteIrr(10)).toBe(true); // still asserted: sent again at once
    expect(irr(0x40)).toBe(true);
    expect(apic.acknowledge()).toBe(0x40);
    ioapic.setIrq(10, false);
    eoi();
    expect(remoteIrr(10)).toBe(false);
    expect(irr(0x40)).toBe(false);
  });

  it('level: an EOI for another vector leaves remote IRR alone', () => {
    route(11, 0x41 | LEVEL);
    ioapic.setIrq(11, true);
    ioapic.eoi(0x42);
    expect(remoteIrr(11)).toBe(true);
    ioapic.setIrq(11, false);
    ioapic.eoi(0x41);
    expect(remoteIrr(11)).toBe(false);
  });

  it('level: a line asserted while masked is delivered when unmasked', () => {
    route(9, 0x49 | LEVEL | MASKED);
    ioapic.setIrq(9, true);
    expect(irr(0x49)).toBe(false);
    expect(remoteIrr(9)).toBe(false);
    route(9, 0x49 | LEVEL);
    expect(irr(0x49)).toBe(true);
    expect(remoteIrr(9)).toBe(true);
  });

  it('switching an entry to edge clears a stale remote IRR', () => {
    route(12, 0x4c | LEVEL);
    ioapic.setIrq(12, true);
    ioapic.setIrq(12, false);
    expect(remoteIrr(12)).toBe(true);
    route(12, 0x4c);
    expect(remoteIrr(12)).toBe(false);
  });

  it('the EOI register at +0x40 clears remote IRR like a broadcast', () => {
    route(5, 0x45 | LEVEL);
    ioapic.setIrq(5, true);
    ioapic.setIrq(5, false);
    bus.mmioWrite(IOAPIC_DEFAULT_BASE + 0x40, 4, 0x45);
    expect(remoteIrr(5)).toBe(false);
  });

  it('sends only to a destination that includes the local APIC', () => {
    route(3, 0x33, 1); // physical APIC 1: does not exist
    ioapic.setIrq(3, true);
    expect(irr(0x33)).toBe(false);
    route(4, 0x34, 0xff); // physical broadcast
    ioapic.setIrq(4, true);
    expect(irr(0x34)).toBe(true);
    bus.mmioWrite(APIC_DEFAULT_BASE + 0xd0, 4, 0x01000000); // logical ID 1, flat model
    route(6, 0x36 | LOGICAL, 0x01);
    ioapic.setIrq(6, true);
    expect(irr(0x36)).toBe(true);
    route(7, 0x37 | LOGICAL, 0x02);
    ioapic.setIrq(7, true);
    expect(irr(0x37)).toBe(false);
    route(8, 0x138 | LOGICAL, 0x01); // lowest priority behaves as fixed
    ioapic.setIrq(8, true);
    expect(irr(0x38)).toBe(true);
  });

  it('NMI entries send an NMI; SMI and INIT are dropped', () => {
    route(13, 0x400);
    ioapic.setIrq(13, true);
    expect(nmis).toBe(1);
    route(14, 0x230);
    route(15, 0x530);
    ioapic.setIrq(14, true);
    ioapic.setIrq(15, true);
    expect(irr(0x30)).toBe(false);
  });

  it('keeps the polarity bit without inverting the (logical) input', () => {
    route(16, 0x50 | LEVEL | 0x2000);
    expect(readReg(0x10 + 32) & 0x2000).toBe(0x2000);
    ioapic.setIrq(16, true);
    expect(irr(0x50)).toBe(true);
  });

  it('rejects pins that do not exist', () => {
    expect(() => ioapic.setIrq(24, true)).toThrow();
  });
});

describe('I/O APIC ExtINT entries and the 8259', () => {
  it('an ExtINT entry makes the CPU fetch the vector from the 8259', () => {
    let router: InterruptRouter | null = null;
    const pic = new DualPic((level) => router?.picOutput(level));
    router = new InterruptRouter(pic, apic);
    pic.setBiosState();
    bus.mmioWrite(APIC_DEFAULT_BASE + 0x350, 4, 0x10700); // LINT0 masked: only the I/O APIC path
    route(0, 0x700);
    // The pc machine does not wire the 8259's output to pin 0; the test does it by hand.
    pic.setIrq(1, true);
    expect(router.hasInterrupt()).toBe(false);
    ioapic.setIrq(0, true);
    expect(router.hasInterrupt()).toBe(true);
    expect(router.interruptAcknowledge()).toBe(0x09);
    ioapic.setIrq(0, false);
    expect(router.hasInterrupt()).toBe(false);
  });

  it('ISA IRQ0 on pin 2 reaches the CPU through the I/O APIC alone', () => {
    let router: InterruptRouter | null = null;
    const pic = new DualPic((level) => router?.picOutput(level));
    router = new InterruptRouter(pic, apic);
    pic.setBiosState();
    const isaIrq = (n: number, level: boolean) => {
      pic.setIrq(n, level);
      ioapic.setIrq(n === 0 ? 2 : n, level);
    };
    // A guest in APIC mode masks the 8259 and masks LINT0.
    bus.mmioWrite(APIC_DEFAULT_BASE + 0x350, 4, 0x10700);
    route(2, 0x30);
    isaIrq(0, true);
    expect(router.interruptAcknowledge()).toBe(0x30);
    eoi();
    isaIrq(0, false);
    // The 8259 still holds IRQ0 in IRR, but with LINT0 masked it cannot reach the CPU.
    expect(pic.state().master.irr & 1).toBe(1);
    expect(router.hasInterrupt()).toBe(false);
  });
});
