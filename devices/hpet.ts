// The High Precision Event Timer (IA-PC HPET Specification 1.0a, "HPET spec" below) as QEMU 7.2's pc
// machine has it: one timer block at 0xFED00000 with a 64-bit main counter at 100 MHz (period
// 10,000,000 fs) and three comparators, all capable of periodic mode and 32-bit mode, none of FSB
// (MSI) delivery, interrupt routing capability "I/O APIC input 2 only".
//
// Register map (HPET spec §2.3.1, Table 2): capabilities/ID 0x000, configuration 0x010, interrupt
// status 0x020, main counter 0x0F0, then per timer n at 0x100 + 0x20*n: configuration/capabilities,
// comparator, FSB route.
//
// Interrupts leave through `setIrq(line, level)` where `line` is the interrupt the timer is routed
// to, numbered as QEMU numbers the HPET's outputs on the pc machine (its global system interrupts):
// 0-15 are the ISA IRQs (the machine sends line 0 to 8259 IRQ0 and I/O APIC input 2, line n to 8259
// IRQ n and I/O APIC input n), 16-23 are I/O APIC inputs only. Edge-triggered timers send a pulse
// (true then false), level-triggered ones hold the line until the status bit is cleared.
//
// Legacy replacement (HPET spec §2.3.9.2.2, LEG_RT_CNF): timer 0 drives line 0 (IRQ0) and timer 1
// line 8 (IRQ8), and the 8254's and the RTC's own interrupts are cut off. As on QEMU's pc, the PIT
// and RTC outputs therefore reach their IRQ lines through this device: the machine wires them to
// `pitInput` / `rtcInput`, which pass them on while legacy replacement is off.
//
// QEMU 7.2 behaviour kept (observed with a test kernel, images/test-kernels/hpet.c):
// - only aligned 32-bit accesses work: narrower ones read 0 and writes are dropped;
// - the configuration write mask 0x7F4E (FSB_EN and the route field are writable even though FSB
//   is not offered and only route 2 is advertised), Tn_VAL_SET_CNF reads back 1 until the next
//   comparator write; setting Tn_32MODE_CNF truncates the comparator and the period to 32 bits;
// - the main counter can only be written while halted (writes while running are lost);
// - level-triggered status bits are only set while Tn_INT_ENB_CNF and ENABLE_CNF are set, and
//   halting the counter or clearing Tn_INT_ENB_CNF clears the status bit and lowers the line;
// - a comparator that is already behind the counter when armed (by up to half the counter range)
//   fires at the next tick;
// - a timer whose comparator still holds the reset value (all ones) is not armed when the counter
//   is started.
// A 32-bit one-shot timer also interrupts when the counter's low 32 bits wrap (HPET spec §2.3.9.2.1;
// Intel's PCH datasheets: "generate another interrupt when the main counter wraps").

import type { IoBus } from './io-bus.ts';
import type { DeviceTimer, TimeSource } from './time-source.ts';

export const HPET_DEFAULT_BASE = 0xfed00000;
/** Size of the register block QEMU decodes (the spec reserves 1 KiB per timer block). */
export const HPET_MMIO_SIZE = 0x400;
/** Main counter tick in femtoseconds (COUNTER_CLK_PERIOD): 10 ns, 100 MHz, as QEMU. */
export const HPET_PERIOD_FS = 10_000_000;
const NS_PER_TICK = HPET_PERIOD_FS / 1_000_000;
/** Event timer block ID (capabilities low dword, also the ACPI HPET table's hardware ID). */
export const HPET_VENDOR_INTEL = 0x8086;
/** Route capability QEMU's pc (i440FX) machine advertises: I/O APIC input 2 only. */
export const HPET_DEFAULT_INT_ROUTE_CAP = 0x00000004;

// General capabilities (HPET spec §2.3.4): REV_ID 7:0, NUM_TIM_CAP 12:8, COUNT_SIZE_CAP 13,
// LEG_RT_CAP 15, VENDOR_ID 31:16.
const CAP_REV_ID = 0x01;
const CAP_COUNT_SIZE_64 = 1 << 13;
const CAP_LEG_RT = 1 << 15;

// General configuration (§2.3.5).
const CFG_ENABLE = 1 << 0;
const CFG_LEGACY = 1 << 1;
const CFG_WRITABLE = CFG_ENABLE | CFG_LEGACY;

// Timer n configuration and capabilities (§2.3.8).
const TN_INT_TYPE_LEVEL = 1 << 1;
const TN_INT_ENB = 1 << 2;
const TN_TYPE_PERIODIC = 1 << 3;
const TN_PERIODIC_CAP = 1 << 4;
const TN_SIZE_CAP_64 = 1 << 5;
const TN_VAL_SET = 1 << 6;
const TN_32MODE = 1 << 8;
const TN_INT_ROUTE_SHIFT = 9;
const TN_INT_ROUTE_MASK = 0x1f << TN_INT_ROUTE_SHIFT;
const TN_FSB_EN = 1 << 14;
/** Bits software may write (what QEMU 7.2 keeps; see the header). */
const TN_WRITABLE = TN_INT_TYPE_LEVEL | TN_INT_ENB | TN_TYPE_PERIODIC | TN_VAL_SET | TN_32MODE | TN_INT_ROUTE_MASK | TN_FSB_EN;

// Register offsets (§2.3.1).
const REG_CAP = 0x000;
const REG_PERIOD = 0x004;
const REG_CONFIG = 0x010;
const REG_STATUS = 0x020;
const REG_COUNTER = 0x0f0;
const REG_COUNTER_HI = 0x0f4;
const TIMER_BASE = 0x100;
const TIMER_STRIDE = 0x20;
const TN_CONFIG = 0x00;
const TN_CAPS = 0x04;
const TN_CMP = 0x08;
const TN_CMP_HI = 0x0c;
const TN_FSB = 0x10;
const TN_FSB_HI = 0x14;

const MASK32 = 0xffffffffn;
const MASK64 = 0xffff_ffff_ffff_ffffn;
const HALF32 = 0x8000_0000n;
const HALF64 = 0x8000_0000_0000_0000n;

/** ISA IRQ used by the legacy replacement route of timer 1 (and by the RTC). */
const RTC_IRQ = 8;

export interface HpetOptions {
  clock: TimeSource;
  /** An output line changed (see the header for the numbering). */
  setIrq: (line: number, level: boolean) => void;
  /** Number of comparators, 3..32 (default 3, as QEMU). */
  timers?: number;
  /** Tn_INT_ROUTE_CAP of every timer (default 0x4: I/O APIC input 2, as QEMU's pc machine). */
  intRouteCap?: number;
  /**
   * FSB delivery (Tn_FSB_EN_CNF): write the FSB route's value dword to its address. Not offered in
   * the capabilities (as QEMU's default), but QEMU honours the bit; without this callback such
   * interrupts are dropped.
   */
  fsbWrite?: (address: number, value: number) => void;
}

class Comparator {
  /** Configuration low dword (writable bits and the capability bits 4, 5, 15). */
  config = 0;
  cmp = MASK64;
  /** The last value written to the comparator in periodic mode (the period added at each match). */
  period = 0n;
  fsb = 0n;
  /** A 32-bit one-shot timer is armed for the counter's wrap before its match. */
  wrapPending = false;

  constructor(
    readonly index: number,
    readonly timer: DeviceTimer,
  ) {}

  get periodic(): boolean {
    return (this.config & TN_TYPE_PERIODIC) !== 0;
  }

  get is32(): boolean {
    return (this.config & TN_32MODE) !== 0;
  }
}

export class Hpet {
  private readonly clock: TimeSource;
  private readonly options: HpetOptions;
  private readonly comparators: Comparator[] = [];
  private readonly intRouteCap: number;
  private config = 0;
  private isr = 0;
  /** The counter while halted; while running, its value at virtual time `startedAt`. */
  private counterBase = 0n;
  private startedAt = 0;
  /** Levels of the 8254 OUT0 and RTC IRQ inputs (passed through outside legacy mode). */
  private pitLevel = false;
  private rtcLevel = false;

  constructor(options: HpetOptions) {
    this.options = options;
    this.clock = options.clock;
    const n = options.timers ?? 3;
    if (!Number.isInteger(n) || n < 3 || n > 32) throw new Error(`HPET: ${n} timers (3..32 allowed)`);
    this.intRouteCap = (options.intRouteCap ?? HPET_DEFAULT_INT_ROUTE_CAP) >>> 0;
    for (let i = 0; i < n; i++) {
      const c: Comparator = new Comparator(i, this.clock.createTimer((now) => this.fire(c, now)));
      this.comparators.push(c);
    }
    this.reset();
  }

  /** Claim the register block (the machine must also map it into the CPU as MMIO). */
  attach(bus: IoBus, base = HPET_DEFAULT_BASE): void {
    // 1 KiB as QEMU decodes, or more when over 24 timers would not fit.
    const size = Math.max(HPET_MMIO_SIZE, TIMER_BASE + TIMER_STRIDE * this.comparators.length);
    bus.registerMmio(base, size, {
      read: (offset, size) => (size === 4 && (offset & 3) === 0 ? this.readRegister(offset) : 0),
      write: (offset, size, value) => {
        if (size === 4 && (offset & 3) === 0) this.writeRegister(offset, value >>> 0);
      },
    });
  }

  /** Power-on state (HPET spec §2.3: every register 0 except capabilities and comparators). */
  reset(): void {
    for (const c of this.comparators) {
      this.stopComparator(c);
      c.cmp = MASK64;
      c.config = TN_PERIODIC_CAP | TN_SIZE_CAP_64;
      c.period = 0n;
      c.fsb = 0n;
      c.wrapPending = false;
    }
    this.config = 0;
    this.isr = 0;
    this.counterBase = 0n;
    this.startedAt = this.clock.now();
    // Out of legacy mode again: the PIT and RTC reach their lines.
    this.options.setIrq(0, this.pitLevel);
    this.options.setIrq(RTC_IRQ, this.rtcLevel);
  }

  /** The 8254's channel 0 output (IRQ0), cut off while legacy replacement is on. */
  pitInput(level: boolean): void {
    this.pitLevel = level;
    if (!this.legacyMode) this.options.setIrq(0, level);
  }

  /** The RTC's interrupt output (IRQ8), cut off while legacy replacement is on. */
  rtcInput(level: boolean): void {
    this.rtcLevel = level;
    if (!this.legacyMode) this.options.setIrq(RTC_IRQ, level);
  }

  /** LEG_RT_CNF: timers 0 and 1 own IRQ0 and IRQ8. */
  get legacyMode(): boolean {
    return (this.config & CFG_LEGACY) !== 0;
  }

  get enabled(): boolean {
    return (this.config & CFG_ENABLE) !== 0;
  }

  /** Capabilities and ID (64 bits), as the ACPI HPET table's event timer block ID repeats it. */
  get capabilities(): bigint {
    const low =
      CAP_REV_ID | ((this.comparators.length - 1) << 8) | CAP_COUNT_SIZE_64 | CAP_LEG_RT | (HPET_VENDOR_INTEL << 16);
    return (BigInt(HPET_PERIOD_FS) << 32n) | BigInt(low >>> 0);
  }

  /** The main counter now (tests and the monitor). */
  counter(now = this.clock.now()): bigint {
    return this.ticksAt(now) & MASK64;
  }

  /** The counter at `now` without the 64-bit wrap (used to compute deadlines). */
  private ticksAt(now: number): bigint {
    if (!this.enabled) return this.counterBase;
    return this.counterBase + BigInt(Math.floor(Math.max(0, now - this.startedAt) / NS_PER_TICK));
  }

  /** The virtual time at which the (unwrapped) counter reaches `ticks`. */
  private nsOfTicks(ticks: bigint): number {
    return this.startedAt + Number(ticks - this.counterBase) * NS_PER_TICK;
  }

  private readRegister(offset: number): number {
    if (offset >= TIMER_BASE) {
      const n = (offset - TIMER_BASE) / TIMER_STRIDE | 0;
      const c = this.comparators[n];
      if (!c) return 0;
      switch ((offset - TIMER_BASE) % TIMER_STRIDE) {
        case TN_CONFIG:
          return c.config >>> 0;
        case TN_CAPS:
          return this.intRouteCap;
        case TN_CMP:
          return Number(c.cmp & MASK32);
        case TN_CMP_HI:
          return Number(c.cmp >> 32n);
        case TN_FSB:
          return Number(c.fsb & MASK32);
        case TN_FSB_HI:
          return Number(c.fsb >> 32n);
      }
      return 0;
    }
    switch (offset) {
      case REG_CAP:
        return Number(this.capabilities & MASK32);
      case REG_PERIOD:
        return HPET_PERIOD_FS;
      case REG_CONFIG:
        return this.config;
      case REG_STATUS:
        return this.isr >>> 0;
      case REG_COUNTER:
        return Number(this.counter() & MASK32);
      case REG_COUNTER_HI:
        return Number(this.counter() >> 32n);
    }
    return 0;
  }

  private writeRegister(offset: number, value: number): void {
    if (offset >= TIMER_BASE) {
      const n = (offset - TIMER_BASE) / TIMER_STRIDE | 0;
      const c = this.comparators[n];
      if (c) this.writeTimerRegister(c, (offset - TIMER_BASE) % TIMER_STRIDE, value);
      return;
    }
    switch (offset) {
      case REG_CONFIG:
        this.writeConfig(value);
        break;
      case REG_STATUS:
        // Write 1 to clear a level-triggered status bit (§2.3.6); the line drops with it.
        for (const c of this.comparators) if (value & this.isr & (1 << c.index)) this.updateIrq(c, false);
        break;
      case REG_COUNTER:
        // §2.3.7: software should write the counter only while halted; a running counter ignores it.
        if (!this.enabled) this.counterBase = (this.counterBase & ~MASK32) | BigInt(value);
        break;
      case REG_COUNTER_HI:
        if (!this.enabled) this.counterBase = (this.counterBase & MASK32) | (BigInt(value) << 32n);
        break;
    }
  }

  private writeConfig(value: number): void {
    const old = this.config;
    const now = this.clock.now();
    if ((value & CFG_ENABLE) && !(old & CFG_ENABLE)) {
      // Start counting from the held value; arm every comparator that was programmed.
      this.counterBase &= MASK64;
      this.startedAt = now;
      this.config = (old & ~CFG_WRITABLE) | (value & CFG_WRITABLE);
      for (const c of this.comparators) if (c.cmp !== MASK64) this.arm(c, now);
    } else if (!(value & CFG_ENABLE) && (old & CFG_ENABLE)) {
      // Halt: keep the count reached; no comparator fires while halted.
      this.counterBase = this.ticksAt(now) & MASK64;
      this.config = (old & ~CFG_WRITABLE) | (value & CFG_WRITABLE);
      for (const c of this.comparators) this.stopComparator(c);
    } else {
      this.config = (old & ~CFG_WRITABLE) | (value & CFG_WRITABLE);
    }
    if ((value & CFG_LEGACY) && !(old & CFG_LEGACY)) {
      // §2.3.9.2.2: the 8254 and the RTC lose their interrupts to timers 0 and 1.
      this.options.setIrq(0, false);
      this.options.setIrq(RTC_IRQ, false);
    } else if (!(value & CFG_LEGACY) && (old & CFG_LEGACY)) {
      this.options.setIrq(0, this.pitLevel);
      this.options.setIrq(RTC_IRQ, this.rtcLevel);
    }
  }

  private writeTimerRegister(c: Comparator, reg: number, value: number): void {
    const now = this.clock.now();
    switch (reg) {
      case TN_CONFIG: {
        const old = c.config;
        // Switching to FSB delivery drops whatever the timer was driving on its I/O APIC line.
        if ((value & TN_FSB_EN) && !(old & TN_FSB_EN)) this.updateIrq(c, false);
        c.config = ((old & ~TN_WRITABLE) | (value & TN_WRITABLE)) >>> 0;
        if (value & TN_32MODE) {
          // §2.3.8: a 64-bit comparator forced into 32-bit mode keeps its low half only.
          c.cmp &= MASK32;
          c.period &= MASK32;
        }
        if ((value & TN_INT_ENB) && !(old & TN_INT_ENB)) {
          if (this.enabled) this.arm(c, now);
        } else if (!(value & TN_INT_ENB) && (old & TN_INT_ENB)) {
          this.stopComparator(c);
        }
        break;
      }
      case TN_CMP:
      case TN_CMP_HI: {
        const high = reg === TN_CMP_HI;
        let v = BigInt(value);
        if (!high && c.is32) v &= MASK32;
        // §2.3.9.2.2 (periodic mode): a write sets the period (the value added at each match); the
        // comparator itself is only written when Tn_VAL_SET_CNF is set, or in one-shot mode.
        if (!c.periodic || (c.config & TN_VAL_SET)) {
          c.cmp = high ? (c.cmp & MASK32) | (v << 32n) : (c.cmp & ~MASK32) | v;
        }
        if (c.periodic) {
          // Keep the period below half the counter range (as QEMU) so a match is never ambiguous.
          if (high) c.period = (c.period & MASK32) | ((c.is32 ? 0n : v & 0x7fffffffn) << 32n);
          else c.period = (c.period & ~MASK32) | (c.is32 ? v & 0x7fffffffn : v);
        }
        c.config &= ~TN_VAL_SET; // the bit clears itself once the value is written
        if (this.enabled) this.arm(c, now);
        break;
      }
      case TN_FSB:
        c.fsb = (c.fsb & ~MASK32) | BigInt(value);
        break;
      case TN_FSB_HI:
        c.fsb = (c.fsb & MASK32) | (BigInt(value) << 32n);
        break;
    }
  }

  /** Ticks from `cur` until the comparator matches (at least 1: a comparator behind fires next tick). */
  private ticksToMatch(c: Comparator, cur: bigint): bigint {
    if (c.is32) {
      const d = ((c.cmp & MASK32) - (cur & MASK32)) & MASK32;
      return d === 0n || d >= HALF32 ? 1n : d;
    }
    const d = (c.cmp - cur) & MASK64;
    return d === 0n || d >= HALF64 ? 1n : d;
  }

  /** Schedule the comparator's next event from virtual time `now` (counter running). */
  private arm(c: Comparator, now: number, atLeast = 0n): void {
    // `atLeast`: a tick the counter is known to have reached (the wrap just signalled), which
    // rounding of virtual time to ticks may still put one tick ahead of `now`.
    const at = this.ticksAt(now);
    const cur = at < atLeast ? atLeast : at;
    let diff = this.ticksToMatch(c, cur);
    c.wrapPending = false;
    if (c.is32 && !c.periodic) {
      // A 32-bit one-shot timer also interrupts when the low 32 bits wrap to 0 (§2.3.9.2.1).
      const toWrap = 0x1_0000_0000n - (cur & MASK32);
      if (toWrap < diff) {
        diff = toWrap;
        c.wrapPending = true;
      }
    }
    c.timer.arm(this.nsOfTicks(cur + diff));
  }

  /** The comparator's deadline came: advance a periodic comparator, re-arm, raise the interrupt. */
  private fire(c: Comparator, now: number): void {
    if (!this.enabled) return;
    const cur = this.ticksAt(now);
    if (c.periodic && c.period !== 0n) {
      // §2.3.9.2.2: each match adds the period to the comparator; skip periods slept through.
      const width = c.is32 ? MASK32 : MASK64;
      const half = c.is32 ? HALF32 : HALF64;
      const behind = ((cur & width) - (c.cmp & width)) & width; // how far the counter is past cmp
      // A deadline rounded to nanoseconds can come a tick before the match: that is the match.
      const steps = behind < half ? behind / c.period + 1n : 1n;
      c.cmp = (c.cmp + steps * c.period) & width;
      this.arm(c, now);
    } else if (c.wrapPending) {
      // The wrap event: now wait for the match itself, counting from the wrap at the earliest (a
      // deadline rounded to nanoseconds can land a tick early, and must not signal the wrap twice).
      const wrap = (cur & MASK32) >= HALF32 ? (cur | MASK32) + 1n : cur;
      this.arm(c, now, wrap);
    }
    this.updateIrq(c, true);
  }

  /** Stop a comparator's events and drop its interrupt (status bit and line). */
  private stopComparator(c: Comparator): void {
    c.timer.disarm();
    c.wrapPending = false;
    this.updateIrq(c, false);
  }

  /** The line timer `c` drives: its route, or IRQ0/IRQ8 for timers 0/1 in legacy mode. */
  private route(c: Comparator): number {
    if (this.legacyMode && c.index <= 1) return c.index === 0 ? 0 : RTC_IRQ;
    return (c.config & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
  }

  /** Raise (a match) or withdraw (`set` false) the timer's interrupt (§2.3.6, §2.3.8). */
  private updateIrq(c: Comparator, set: boolean): void {
    const bit = 1 << c.index;
    const line = this.route(c);
    if (!set || !(c.config & TN_INT_ENB) || !this.enabled) {
      this.isr &= ~bit;
      if (!(c.config & TN_FSB_EN)) this.options.setIrq(line, false);
    } else if (c.config & TN_FSB_EN) {
      this.options.fsbWrite?.(Number(c.fsb >> 32n), Number(c.fsb & MASK32));
    } else if (c.config & TN_INT_TYPE_LEVEL) {
      this.isr |= bit;
      this.options.setIrq(line, true);
    } else {
      // Edge: the status bit is not used (§2.3.6); one pulse on the line.
      this.isr &= ~bit;
      this.options.setIrq(line, true);
      this.options.setIrq(line, false);
    }
  }
}
