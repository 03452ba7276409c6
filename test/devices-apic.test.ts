import { beforeEach, describe, expect, it } from 'vitest';
import { APIC_DEFAULT_BASE, EXTINT, LocalApic } from '../devices/apic.ts';
import { InterruptRouter } from '../devices/interrupt-router.ts';
import { IoBus } from '../devices/io-bus.ts';
import { DualPic } from '../devices/pic.ts';
import { Clock } from '../emulator/clock.ts';

const TSC_HZ = 3_000_000_000;

let bus: IoBus;
let clock: Clock;
let apic: LocalApic;
let intr: boolean[];
let eois: number[];
let nmis: number;

const rd = (offset: number) => bus.mmioRead(APIC_DEFAULT_BASE + offset, 4);
const wr = (offset: number, v: number) => bus.mmioWrite(APIC_DEFAULT_BASE + offset, 4, v >>> 0);
const tsc = () => (BigInt(clock.now()) * BigInt(TSC_HZ)) / 1_000_000_000n;
/** Is `v` set in the 256-bit register starting at `offset` (ISR 0x100, TMR 0x180, IRR 0x200)? */
const bit = (offset: number, v: number) => ((rd(offset + (v >> 5) * 0x10) >>> (v & 31)) & 1) === 1;
const irr = (v: number) => bit(0x200, v);
const isr = (v: number) => bit(0x100, v);
const tmr = (v: number) => bit(0x180, v);
const eoi = () => wr(0xb0, 0);
const enable = () => wr(0xf0, 0x1ff);
/** Latch and read the ESR (write, then read, as SDM §10.5.3 prescribes). */
const esr = () => {
  wr(0x280, 0);
  return rd(0x280);
};
const selfIpi = (vector: number) => wr(0x300, 0x40000 | vector); // fixed, shorthand "self"

function makeApic(extra: Partial<ConstructorParameters<typeof LocalApic>[0]> = {}): LocalApic {
  const a = new LocalApic({
    clock,
    onIntr: (level) => intr.push(level),
    onEoi: (v) => eois.push(v),
    onNmi: () => nmis++,
    tsc,
    tscHz: TSC_HZ,
    ...extra,
  });
  a.attach(bus);
  return a;
}

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  intr = [];
  eois = [];
  nmis = 0;
  apic = makeApic();
});

describe('local APIC registers', () => {
  it('has the SDM §10.4.7.1 power-on state', () => {
    expect(apic.readMsr(0x1b)).toBe(0xfee00900n);
    expect(rd(0x20)).toBe(0);
    expect(rd(0x30)).toBe(0x00050014);
    expect(rd(0x80)).toBe(0);
    expect(rd(0xa0)).toBe(0);
    expect(rd(0xd0)).toBe(0);
    expect(rd(0xe0)).toBe(0xffffffff);
    expect(rd(0xf0)).toBe(0xff);
    for (let off = 0x320; off <= 0x370; off += 0x10) expect(rd(off)).toBe(0x10000);
    expect(rd(0x300)).toBe(0);
    expect(rd(0x310)).toBe(0);
    expect(rd(0x380)).toBe(0);
    expect(rd(0x390)).toBe(0);
    expect(rd(0x3e0)).toBe(0);
    expect(apic.hasInterrupt()).toBe(false);
  });

  it('reports the APIC ID given at creation', () => {
    bus = new IoBus();
    apic = makeApic({ apicId: 3, bsp: false });
    expect(rd(0x20)).toBe(0x03000000);
    expect(apic.readMsr(0x1b)).toBe(0xfee00800n);
  });

  it('leaves the SeaBIOS state on request', () => {
    apic.setBiosState();
    expect(rd(0xf0)).toBe(0x1ff);
    expect(rd(0x350)).toBe(0x8700);
    expect(rd(0x360)).toBe(0x8400);
    expect(rd(0x370)).toBe(0x10000);
  });

  it('keeps only the writable bits', () => {
    enable();
    wr(0x20, 0x12345678);
    expect(rd(0x20)).toBe(0x12000000);
    wr(0xd0, 0xffffffff);
    expect(rd(0xd0)).toBe(0xff000000);
    wr(0xe0, 0x00000000);
    expect(rd(0xe0)).toBe(0x0fffffff); // cluster model; bits 27-0 read as ones
    wr(0x80, 0x1ff);
    expect(rd(0x80)).toBe(0xff);
    wr(0x320, 0xffffffff);
    expect(rd(0x320)).toBe(0x000700ff); // vector, mask, timer mode
    wr(0x350, 0xffffffff);
    expect(rd(0x350)).toBe(0x0001a7ff); // no remote IRR or delivery status from software
    wr(0x370, 0xffffffff);
    expect(rd(0x370)).toBe(0x000100ff);
    wr(0x3e0, 0xff);
    expect(rd(0x3e0)).toBe(0xb);
    wr(0x310, 0xffffffff);
    expect(rd(0x310)).toBe(0xff000000);
    // Read-only registers ignore writes.
    wr(0x30, 0);
    expect(rd(0x30)).toBe(0x00050014);
    wr(0x100, 0xffffffff);
    expect(rd(0x100)).toBe(0);
  });

  it('reads narrow accesses from the register and treats bytes 4-15 as zero', () => {
    wr(0x20, 0x0a000000);
    expect(bus.mmioRead(APIC_DEFAULT_BASE + 0x23, 1)).toBe(0x0a);
    expect(bus.mmioRead(APIC_DEFAULT_BASE + 0x24, 4)).toBe(0);
    bus.mmioWrite(APIC_DEFAULT_BASE + 0x80, 1, 0x30);
    expect(rd(0x80)).toBe(0x30);
  });

  it('masks every LVT while software-disabled and refuses to unmask (SDM §10.4.7.2)', () => {
    enable();
    wr(0x350, 0x700);
    expect(rd(0x350)).toBe(0x700);
    wr(0xf0, 0xff); // software disable
    expect(rd(0x350)).toBe(0x10700);
    wr(0x350, 0x700);
    expect(rd(0x350)).toBe(0x10700);
    // Fixed interrupts are not accepted either.
    apic.deliver(0x40, false);
    expect(irr(0x40)).toBe(false);
  });

  it('latches errors into the ESR on write and reports illegal registers and vectors', () => {
    enable();
    expect(esr()).toBe(0);
    rd(0x2f0); // CMCI LVT: not present on this APIC
    expect(esr()).toBe(0x80);
    expect(esr()).toBe(0); // the write cleared it
    selfIpi(0x05);
    apic.deliver(0x07, false);
    expect(esr()).toBe(0x60);
    expect(irr(0x05) || irr(0x07)).toBe(false);
  });

  it('raises the error LVT when an error is detected', () => {
    enable();
    wr(0x370, 0xee);
    rd(0x400);
    expect(irr(0xee)).toBe(true);
  });

  it('maps CR8 to TPR[7:4] (SDM §10.8.6.1)', () => {
    apic.writeCr8(0x9);
    expect(rd(0x80)).toBe(0x90);
    wr(0x80, 0x5f);
    expect(apic.readCr8()).toBe(5);
  });
});

describe('local APIC priorities, acknowledge and EOI', () => {
  beforeEach(enable);

  it('delivers the highest vector first and nests by priority class', () => {
    apic.deliver(0x31, false);
    apic.deliver(0x52, false);
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x52);
    expect(isr(0x52)).toBe(true);
    expect(irr(0x52)).toBe(false);
    expect(rd(0xa0)).toBe(0x50); // PPR = class of the in-service vector
    expect(apic.hasInterrupt()).toBe(false); // 0x31 is below PPR
    apic.deliver(0x5f, false);
    expect(apic.hasInterrupt()).toBe(false); // same class as the one in service
    apic.deliver(0x61, false);
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x61);
    expect(rd(0xa0)).toBe(0x60);
    eoi(); // clears 0x61, the highest in service
    expect(isr(0x61)).toBe(false);
    expect(isr(0x52)).toBe(true);
    expect(apic.hasInterrupt()).toBe(false); // 0x5f still blocked by 0x52
    eoi();
    expect(apic.acknowledge()).toBe(0x5f);
    eoi();
    expect(apic.acknowledge()).toBe(0x31);
    eoi();
    expect(apic.hasInterrupt()).toBe(false);
    expect(intr.at(-1)).toBe(false);
  });

  it('blocks vectors at or below TPR and computes PPR from TPR and ISR', () => {
    wr(0x80, 0x4f);
    apic.deliver(0x41, false);
    expect(apic.hasInterrupt()).toBe(false);
    expect(rd(0xa0)).toBe(0x4f); // PPR = TPR when TPR's class is at least the ISR's
    expect(rd(0x90)).toBe(0x4f); // APR = TPR: its class covers the pending and in-service ones
    wr(0x80, 0x30);
    expect(rd(0x90)).toBe(0x40); // APR = class of the pending 0x41
    expect(apic.hasInterrupt()).toBe(true);
    expect(apic.acknowledge()).toBe(0x41);
    expect(rd(0xa0)).toBe(0x40);
    wr(0x80, 0x50);
    expect(rd(0xa0)).toBe(0x50);
  });

  it('hands out the spurious vector when TPR rose after INTR was signalled (SDM §10.9)', () => {
    wr(0xf0, 0x1e7);
    apic.deliver(0x45, false);
    expect(apic.hasInterrupt()).toBe(true);
    wr(0x80, 0x80);
    expect(apic.acknowledge()).toBe(0xe7);
    expect(irr(0x45)).toBe(true);
    expect(isr(0xe7)).toBe(false);
  });

  it('broadcasts EOI only for level-triggered vectors', () => {
    apic.deliver(0x40, true);
    apic.deliver(0x30, false);
    expect(tmr(0x40)).toBe(true);
    expect(apic.acknowledge()).toBe(0x40);
    eoi();
    expect(eois).toEqual([0x40]);
    expect(tmr(0x40)).toBe(false);
    expect(apic.acknowledge()).toBe(0x30);
    eoi();
    expect(eois).toEqual([0x40]);
    eoi(); // nothing in service: no effect
    expect(eois).toEqual([0x40]);
  });

  it('collapses repeated requests of one vector into one IRR bit', () => {
    apic.deliver(0x40, false);
    apic.deliver(0x40, false);
    expect(apic.acknowledge()).toBe(0x40);
    expect(apic.hasInterrupt()).toBe(false);
  });
});

describe('local APIC ICR', () => {
  beforeEach(enable);

  it('sends a fixed IPI to itself by shorthand, physical ID and logical destination', () => {
    selfIpi(0x40);
    expect(irr(0x40)).toBe(true);
    wr(0x310, 0x00000000);
    wr(0x300, 0x41); // no shorthand, physical destination 0 = us
    expect(irr(0x41)).toBe(true);
    wr(0x310, 0x05000000);
    wr(0x300, 0x42); // APIC 5 does not exist
    expect(irr(0x42)).toBe(false);
    wr(0xd0, 0x02000000); // logical ID bit 1, flat model
    wr(0x310, 0x06000000);
    wr(0x300, 0x843); // logical destination 0x06 includes bit 1
    expect(irr(0x43)).toBe(true);
    wr(0x310, 0x01000000);
    wr(0x300, 0x844);
    expect(irr(0x44)).toBe(false);
    wr(0x300, 0x80045); // all including self
    expect(irr(0x45)).toBe(true);
    wr(0x300, 0xc0046); // all excluding self
    expect(irr(0x46)).toBe(false);
    expect(rd(0x300) & 0x1000).toBe(0); // delivery status idle
  });

  it('sends NMIs to the CPU and drops INIT and SIPI', () => {
    wr(0x300, 0x40400);
    expect(nmis).toBe(1);
    wr(0x300, 0xc4500);
    wr(0x300, 0xc4610);
    expect(apic.hasInterrupt()).toBe(false);
    expect(esr()).toBe(0);
  });
});

describe('local APIC timer', () => {
  beforeEach(enable);

  it('one-shot: counts down at bus clock / divisor and interrupts once', () => {
    wr(0x3e0, 0xb); // divide by 1: one count per ns
    wr(0x320, 0x30); // one-shot, vector 0x30
    wr(0x380, 1000);
    expect(rd(0x390)).toBe(1000);
    clock.set(400);
    expect(rd(0x390)).toBe(600);
    clock.set(999);
    expect(irr(0x30)).toBe(false);
    clock.set(1000);
    expect(irr(0x30)).toBe(true);
    expect(rd(0x390)).toBe(0);
    expect(apic.acknowledge()).toBe(0x30);
    eoi();
    clock.set(10_000);
    expect(irr(0x30)).toBe(false);
    expect(rd(0x390)).toBe(0);
    expect(rd(0x380)).toBe(1000);
  });

  it('applies the divide configuration (SDM Figure 10-10)', () => {
    const divisors: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
    for (const [code, div] of divisors) {
      wr(0x3e0, code);
      wr(0x380, 100_000);
      const start = clock.now();
      clock.set(start + 10 * div);
      expect(rd(0x390)).toBe(100_000 - 10);
    }
  });

  it('one-shot: a masked expiry is lost, and the count still reaches zero', () => {
    wr(0x3e0, 0xb);
    wr(0x320, 0x10030);
    wr(0x380, 100);
    clock.set(200);
    expect(rd(0x390)).toBe(0);
    wr(0x320, 0x30);
    clock.set(1000);
    expect(irr(0x30)).toBe(false);
  });

  it('writing 0 to the initial count stops the timer', () => {
    wr(0x3e0, 0xb);
    wr(0x320, 0x30);
    wr(0x380, 100);
    wr(0x380, 0);
    clock.set(500);
    expect(irr(0x30)).toBe(false);
    expect(rd(0x390)).toBe(0);
  });

  it('periodic: reloads from the initial count and interrupts every period', () => {
    wr(0x3e0, 0x0); // divide by 2
    wr(0x320, 0x20031); // periodic
    wr(0x380, 500); // period 1000 ns
    clock.set(998);
    expect(rd(0x390)).toBe(1);
    let fired = 0;
    for (let t = 1000; t <= 10_000; t += 1000) {
      clock.set(t);
      expect(rd(0x390)).toBe(500);
      if (irr(0x31)) {
        fired++;
        expect(apic.acknowledge()).toBe(0x31);
        eoi();
      }
    }
    expect(fired).toBe(10);
    clock.set(10_500);
    expect(rd(0x390)).toBe(250);
  });

  it('keeps counting across a change of the divide configuration', () => {
    wr(0x3e0, 0xb);
    wr(0x320, 0x30);
    wr(0x380, 1000);
    clock.set(400);
    wr(0x3e0, 0x0); // now 2 ns per count, 600 counts left
    clock.set(400 + 1198);
    expect(rd(0x390)).toBe(1);
    expect(irr(0x30)).toBe(false);
    clock.set(400 + 1200);
    expect(irr(0x30)).toBe(true);
  });

  it('TSC-deadline: fires when the TSC reaches IA32_TSC_DEADLINE, then disarms', () => {
    expect(apic.writeMsr(0x6e0, 1000n)).toBe(true); // ignored outside TSC-deadline mode
    expect(apic.readMsr(0x6e0)).toBe(0n);
    wr(0x320, 0x40032);
    wr(0x380, 1234); // ignored in TSC-deadline mode
    expect(rd(0x380)).toBe(0);
    expect(rd(0x390)).toBe(0);
    expect(apic.writeMsr(0x6e0, tsc() + 3000n)).toBe(true); // 1 us at 3 GHz
    expect(apic.readMsr(0x6e0)).toBe(3000n);
    clock.set(999);
    expect(irr(0x32)).toBe(false);
    clock.set(1000);
    expect(irr(0x32)).toBe(true);
    expect(apic.readMsr(0x6e0)).toBe(0n);
    expect(apic.acknowledge()).toBe(0x32);
    eoi();
    clock.set(5000);
    expect(irr(0x32)).toBe(false);
  });

  it('TSC-deadline: a deadline in the past fires at once, writing 0 disarms', () => {
    wr(0x320, 0x40032);
    clock.set(100);
    apic.writeMsr(0x6e0, 1n);
    expect(irr(0x32)).toBe(true);
    apic.acknowledge();
    eoi();
    apic.writeMsr(0x6e0, tsc() + 300n);
    apic.writeMsr(0x6e0, 0n);
    clock.set(10_000);
    expect(irr(0x32)).toBe(false);
  });

  it('TSC-deadline: re-arms when the TSC is behind the estimate', () => {
    let lag = 0n;
    bus = new IoBus();
    apic = makeApic({ tsc: () => tsc() - lag });
    enable();
    wr(0x320, 0x40032);
    apic.writeMsr(0x6e0, 3000n);
    lag = 300n;
    clock.set(1000);
    expect(irr(0x32)).toBe(false);
    lag = 0n;
    clock.set(1100);
    expect(irr(0x32)).toBe(true);
  });

  it('leaving TSC-deadline mode disarms the deadline', () => {
    wr(0x320, 0x40032);
    apic.writeMsr(0x6e0, 3000n);
    wr(0x320, 0x32);
    expect(apic.readMsr(0x6e0)).toBe(0n);
    wr(0x320, 0x40032);
    expect(apic.readMsr(0x6e0)).toBe(0n);
    clock.set(10_000);
    expect(irr(0x32)).toBe(false);
  });
});

describe('LINT0/LINT1 and the 8259 pass-through', () => {
  let pic: DualPic;
  let router: InterruptRouter;

  beforeEach(() => {
    pic = new DualPic((level) => router.picOutput(level));
    router = new InterruptRouter(pic, apic);
    pic.setBiosState();
  });

  it('passes the 8259 through LINT0 in ExtINT mode', () => {
    apic.setBiosState();
    pic.setIrq(1, true);
    expect(router.hasInterrupt()).toBe(true);
    expect(intr.at(-1)).toBe(true);
    expect(apic.acknowledge()).toBe(EXTINT);
    expect(router.interruptAcknowledge()).toBe(0x09);
    expect(intr.at(-1)).toBe(false); // the 8259 dropped INT, so did the APIC
  });

  it('blocks the 8259 while LVT LINT0 is masked (the reset state)', () => {
    pic.setIrq(1, true);
    expect(router.hasInterrupt()).toBe(false);
    enable();
    wr(0x350, 0x700);
    expect(router.hasInterrupt()).toBe(true);
    expect(router.interruptAcknowledge()).toBe(0x09);
  });

  it('makes LINT0 the INTR pin when the APIC is globally disabled (SDM §10.4.3)', () => {
    expect(apic.writeMsr(0x1b, 0xfee00000n)).toBe(true);
    pic.setIrq(1, true);
    expect(router.hasInterrupt()).toBe(true);
    expect(router.interruptAcknowledge()).toBe(0x09);
    expect(bus.mmioRead(APIC_DEFAULT_BASE + 0x30, 4)).toBe(0xffffffff); // page not decoded
  });

  it('prefers a deliverable APIC vector to the 8259', () => {
    apic.setBiosState();
    pic.setIrq(1, true);
    apic.deliver(0x40, false);
    expect(router.interruptAcknowledge()).toBe(0x40);
    expect(router.interruptAcknowledge()).toBe(0x09);
  });

  it('ExtINT from the I/O APIC also asks the 8259', () => {
    enable();
    pic.setIrq(1, true);
    expect(router.hasInterrupt()).toBe(false);
    apic.setExtInt(true);
    expect(router.hasInterrupt()).toBe(true);
    expect(router.interruptAcknowledge()).toBe(0x09);
  });

  it('LINT1 in NMI mode signals an NMI on each rising edge', () => {
    apic.setBiosState();
    apic.setLint1(true);
    apic.setLint1(true);
    apic.setLint1(false);
    apic.setLint1(true);
    expect(nmis).toBe(2);
  });

  it('LINT0 in fixed level mode uses remote IRR until EOI', () => {
    enable();
    wr(0x350, 0x8055); // fixed, level, vector 0x55
    apic.setLint0(true);
    expect(rd(0x350) & 0x4000).toBe(0x4000);
    expect(apic.acknowledge()).toBe(0x55);
    expect(tmr(0x55)).toBe(true);
    eoi(); // pin still asserted: delivered again
    expect(irr(0x55)).toBe(true);
    expect(apic.acknowledge()).toBe(0x55);
    apic.setLint0(false);
    eoi();
    expect(rd(0x350) & 0x4000).toBe(0);
    expect(irr(0x55)).toBe(false);
    expect(eois).toEqual([0x55, 0x55]);
  });
});

describe('IA32_APIC_BASE and x2APIC', () => {
  const x2 = () => apic.writeMsr(0x1b, 0xfee00c00n);

  it('refuses reserved bits and invalid mode transitions (SDM §10.12.5.1)', () => {
    expect(apic.writeMsr(0x1b, 0xfee00901n | 1n)).toBe(false); // reserved bit 0
    expect(apic.writeMsr(0x1b, 0xfee00400n)).toBe(false); // EXTD without EN
    expect(x2()).toBe(true);
    expect(apic.writeMsr(0x1b, 0xfee00800n)).toBe(false); // x2APIC -> xAPIC directly
    expect(apic.writeMsr(0x1b, 0xfee00000n)).toBe(true); // -> disabled
    expect(apic.writeMsr(0x1b, 0xfee00c00n)).toBe(false); // disabled -> x2APIC directly
    expect(apic.writeMsr(0x1b, 0xfee00800n)).toBe(true);
    expect(apic.readMsr(0x1b)).toBe(0xfee00900n); // BSP is read-only and kept
  });

  it('refuses x2APIC when the CPU does not offer it', () => {
    bus = new IoBus();
    apic = makeApic({ x2apic: false });
    expect(x2()).toBe(false);
  });

  it('resets the registers when globally disabled', () => {
    enable();
    wr(0x80, 0x20);
    apic.deliver(0x40, false);
    apic.writeMsr(0x1b, 0xfee00000n);
    apic.writeMsr(0x1b, 0xfee00900n);
    expect(rd(0x80)).toBe(0);
    expect(rd(0xf0)).toBe(0xff);
    expect(irr(0x40)).toBe(false);
  });

  it('stores a relocated base address but keeps decoding 0xFEE00000', () => {
    expect(apic.writeMsr(0x1b, 0xfed00900n)).toBe(true);
    expect(apic.readMsr(0x1b)).toBe(0xfed00900n);
    expect(apic.baseAddress).toBe(0xfed00000);
    expect(rd(0x30)).toBe(0x00050014);
  });

  it('exposes the registers as MSRs 0x800-0x8FF only in x2APIC mode', () => {
    expect(apic.readMsr(0x803)).toBeUndefined();
    expect(apic.writeMsr(0x808, 0n)).toBe(false);
    bus = new IoBus();
    apic = makeApic({ apicId: 0x23 });
    expect(x2()).toBe(true);
    expect(rd(0x30)).toBe(0xffffffff); // the MMIO page is gone
    expect(apic.readMsr(0x802)).toBe(0x23n);
    expect(apic.readMsr(0x803)).toBe(0x00050014n);
    expect(apic.readMsr(0x80d)).toBe(0x00020008n); // cluster 2, bit 3
    expect(apic.readMsr(0x80e)).toBeUndefined(); // no DFR
    expect(apic.readMsr(0x809)).toBeUndefined(); // no APR
    expect(apic.readMsr(0x80b)).toBeUndefined(); // EOI is write-only
    expect(apic.readMsr(0x831)).toBeUndefined(); // no ICR2
    expect(apic.readMsr(0x83f)).toBeUndefined(); // SELF IPI is write-only
    expect(apic.readMsr(0x82f)).toBeUndefined(); // no CMCI LVT
    expect(apic.writeMsr(0x802, 0n)).toBe(false); // ID is read-only
    expect(apic.writeMsr(0x80d, 0n)).toBe(false); // LDR is read-only
    expect(apic.writeMsr(0x80a, 0n)).toBe(false); // PPR
    expect(apic.writeMsr(0x839, 0n)).toBe(false); // current count
    expect(apic.writeMsr(0x808, 0x100n)).toBe(false); // reserved TPR bits
    expect(apic.writeMsr(0x808, 1n << 32n)).toBe(false);
    expect(apic.writeMsr(0x80f, 0x1ffn)).toBe(true);
    expect(apic.readMsr(0x80f)).toBe(0x1ffn);
    expect(apic.writeMsr(0x808, 0x20n)).toBe(true);
    expect(apic.readMsr(0x80a)).toBe(0x20n);
    expect(apic.writeMsr(0x828, 1n)).toBe(false); // ESR takes only 0
    expect(apic.writeMsr(0x828, 0n)).toBe(true);
  });

  it('x2APIC: self IPI, 64-bit ICR, EOI', () => {
    x2();
    apic.writeMsr(0x80f, 0x1ffn);
    expect(apic.writeMsr(0x83f, 0x40n)).toBe(true);
    expect(apic.readMsr(0x820 + 2)).toBe(1n); // IRR bits 64-95: vector 0x40
    expect(apic.writeMsr(0x830, 0x0000_0000_0000_0041n)).toBe(true); // physical destination 0
    expect(apic.readMsr(0x830)).toBe(0x41n);
    expect(apic.writeMsr(0x830, 0x0000_0001_0000_0042n)).toBe(true); // APIC 1: nobody
    expect(apic.writeMsr(0x830, 0x1000n)).toBe(false); // delivery status is reserved here
    expect(apic.acknowledge()).toBe(0x41);
    expect(apic.writeMsr(0x80b, 1n)).toBe(false); // EOI takes only 0
    expect(apic.writeMsr(0x80b, 0n)).toBe(true);
    expect(apic.acknowledge()).toBe(0x40);
    expect(apic.hasInterrupt()).toBe(false);
  });

  it('x2APIC: the timer registers work through MSRs', () => {
    x2();
    apic.writeMsr(0x80f, 0x1ffn);
    apic.writeMsr(0x83e, 0xbn);
    apic.writeMsr(0x832, 0x33n);
    apic.writeMsr(0x838, 500n);
    clock.set(100);
    expect(apic.readMsr(0x839)).toBe(400n);
    clock.set(500);
    expect(apic.readMsr(0x820 + 1)).toBe(1n << 19n); // IRR vector 0x33
  });
});
