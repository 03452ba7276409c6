// The local APIC of one CPU (Intel SDM Vol. 3A chapter 10, "Advanced Programmable Interrupt
// Controller (APIC)"; section numbers are those of the editions where it is chapter 10): the xAPIC
// registers in the 4 KiB page at 0xFEE00000, the same registers as x2APIC MSRs 0x800-0x8FF,
// IA32_APIC_BASE (MSR 0x1B) and IA32_TSC_DEADLINE (MSR 0x6E0).
//
// The APIC owns the CPU's INTR decision: it raises `onIntr` when a vector in IRR beats the
// processor priority, or when an ExtINT source (LINT0 in ExtINT mode, or an I/O APIC ExtINT entry)
// is asserted. `acknowledge()` returns the vector, or EXTINT meaning "run an INTA cycle on the 8259"
// (devices/interrupt-router.ts does that). With the APIC globally disabled, LINT0 is the INTR pin.
//
// Timer: the APIC bus clock is 1 GHz (one tick per ns of virtual time), the base QEMU's APIC timer
// counts from; the divide configuration divides it by 1..128.
//
// Simplifications (one CPU, no other bus agents):
// - Delivery is instantaneous: the delivery-status bits of the ICR and the LVTs always read 0 (idle).
// - IPIs: only destinations that include this APIC matter; INIT, SIPI and SMI are dropped, NMI goes
//   to `onNmi`. Lowest-priority delivery behaves as fixed.
// - Relocating the APIC with IA32_APIC_BASE is stored and read back, but the registers stay at
//   0xFEE00000 (the IoBus has no way to move a region); see `baseAddress`.
// - There is no thermal sensor, performance counter or CMCI: those LVTs never fire, and the
//   version register announces 6 LVT entries (no CMCI), as QEMU's does.
// - APR is computed as the SDM describes for one CPU; EOI-broadcast suppression is not offered.
// - Periodic timer events are spaced at least MIN_PERIODIC_NS apart (the count itself is exact).

import type { IoBus } from './io-bus.ts';
import type { DeviceTimer, TimeSource } from './time-source.ts';

export const APIC_DEFAULT_BASE = 0xfee00000;
/** The APIC timer's input clock before the divider (QEMU's too: 1 tick = 1 ns). */
export const APIC_BUS_HZ = 1_000_000_000;
/** What acknowledge() returns when the vector must come from the 8259 (an INTA cycle). */
export const EXTINT = -1;

export const MSR_APIC_BASE = 0x1b;
export const MSR_TSC_DEADLINE = 0x6e0;
export const MSR_X2APIC_FIRST = 0x800;
export const MSR_X2APIC_LAST = 0x8ff;

/** Version register: version 0x14 (integrated APIC), max LVT entry 5 (SDM §10.4.8). */
export const APIC_VERSION = 0x00050014;

/** Periodic timer events closer than this are merged (the IRR holds one request anyway). */
export const MIN_PERIODIC_NS = 1000;

// IA32_APIC_BASE bits (SDM §10.4.4, §10.12.1).
const BASE_BSP = 0x100n;
const BASE_EXTD = 0x400n;
const BASE_EN = 0x800n;
/** Address bits 12-51 (a 52-bit physical address width). */
const BASE_ADDR_MASK = 0x000f_ffff_ffff_f000n;

// Register numbers: xAPIC offset >> 4, which is also the x2APIC MSR index - 0x800 (SDM Table 10-6).
const R_ID = 0x02;
const R_VERSION = 0x03;
const R_TPR = 0x08;
const R_APR = 0x09;
const R_PPR = 0x0a;
const R_EOI = 0x0b;
const R_RRD = 0x0c;
const R_LDR = 0x0d;
const R_DFR = 0x0e;
const R_SVR = 0x0f;
const R_ISR = 0x10;
const R_TMR = 0x18;
const R_IRR = 0x20;
const R_ESR = 0x28;
const R_ICR = 0x30;
const R_ICR2 = 0x31;
const R_LVT_TIMER = 0x32;
const R_LVT_ERROR = 0x37;
const R_TIMER_INITIAL = 0x38;
const R_TIMER_CURRENT = 0x39;
const R_TIMER_DIVIDE = 0x3e;
const R_SELF_IPI = 0x3f;

// LVT entries in register order (SDM §10.5.1, Figure 10-8).
const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_LINT1 = 4;
const LVT_ERROR = 5;
const LVT_COUNT = 6;

const LVT_MASKED = 0x10000;
const LVT_REMOTE_IRR = 0x4000;
const LVT_LEVEL = 0x8000;
/** Bits software may write, per LVT (timer, thermal, perf, LINT0, LINT1, error). */
const LVT_WRITABLE = [0x000700ff, 0x000107ff, 0x000107ff, 0x0001a7ff, 0x0001a7ff, 0x000100ff];
/** Read-only bits that may appear in a written value without making an x2APIC WRMSR fault. */
const LVT_READ_ONLY = 0x5000;

// Delivery modes (LVT bits 10-8, ICR bits 10-8).
const DM_FIXED = 0;
const DM_LOWEST = 1;
const DM_NMI = 4;
const DM_EXTINT = 7;

// Timer modes (LVT timer bits 18-17, SDM §10.5.4).
const TIMER_ONE_SHOT = 0;
const TIMER_PERIODIC = 1;
const TIMER_TSC_DEADLINE = 2;

const SVR_ENABLE = 0x100;
const SVR_WRITABLE = 0x3ff;
/** ICR bits kept: vector, delivery mode, destination mode, level, trigger mode, shorthand (SDM §10.6.1). */
const ICR_WRITABLE = 0x000ccfff;

// ESR bits (SDM §10.5.3).
const ESR_SEND_ILLEGAL_VECTOR = 0x20;
const ESR_RECEIVE_ILLEGAL_VECTOR = 0x40;
const ESR_ILLEGAL_REGISTER = 0x80;

export interface LocalApicOptions {
  clock: TimeSource;
  /** The CPU's INTR input: true while acknowledge() has something to hand over. */
  onIntr: (level: boolean) => void;
  /** EOI of a level-triggered vector: the I/O APIC clears its remote IRR (SDM §10.8.5). */
  onEoi?: (vector: number) => void;
  /** An NMI for the CPU (LINT1 in its usual NMI mode, an NMI IPI). */
  onNmi?: () => void;
  /** The CPU's time-stamp counter, for the TSC-deadline timer. */
  tsc?: () => bigint;
  /** TSC ticks per second of virtual time (to estimate when a deadline falls due). */
  tscHz?: number;
  /** Initial APIC ID (default 0). */
  apicId?: number;
  /** Bootstrap processor (default true): IA32_APIC_BASE bit 8. */
  bsp?: boolean;
  /** Whether x2APIC mode may be entered (CPUID.1:ECX[21] must say the same). Default true. */
  x2apic?: boolean;
}

/** Index of the highest set bit in a 256-bit register, or -1. */
function highest(bits: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    if (bits[w] !== 0) return w * 32 + 31 - Math.clz32(bits[w]);
  }
  return -1;
}

function testBit(bits: Uint32Array, v: number): boolean {
  return ((bits[v >> 5] >>> (v & 31)) & 1) === 1;
}

function setBit(bits: Uint32Array, v: number, on: boolean): void {
  if (on) bits[v >> 5] |= 1 << (v & 31);
  else bits[v >> 5] &= ~(1 << (v & 31));
}

export class LocalApic {
  private readonly clock: TimeSource;
  private readonly options: LocalApicOptions;
  private readonly timer: DeviceTimer;
  private readonly initialId: number;

  private apicBase = 0n;
  private id = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  /** ESR as last latched by a write, and the errors seen since (SDM §10.5.3). */
  private esr = 0;
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Uint32Array(LVT_COUNT);
  private divideConfig = 0;

  // Timer state: the count was `timerBase` at time `timerBaseTime` and falls one per divisor ns.
  private timerInitial = 0;
  private timerBase = 0;
  private timerBaseTime = 0;
  private tscDeadline = 0n;

  /** Pin levels of LINT0 (the 8259's INT output on a PC) and LINT1. */
  private readonly lint = [false, false];
  /** An I/O APIC entry in ExtINT mode is asserted. */
  private ioapicExtInt = false;
  private intr = false;

  constructor(options: LocalApicOptions) {
    this.options = options;
    this.clock = options.clock;
    this.initialId = options.apicId ?? 0;
    this.timer = this.clock.createTimer((now) => this.timerFired(now));
    this.reset();
  }

  /** Claim the xAPIC page (the machine must also map it into the CPU as MMIO). */
  attach(bus: IoBus, base = APIC_DEFAULT_BASE): void {
    bus.registerMmio(base, 0x1000, {
      read: (offset, size) => this.mmioRead(offset, size),
      write: (offset, size, value) => this.mmioWrite(offset, size, value),
    });
  }

  /** Power-on/RESET state (SDM §10.4.7.1). */
  reset(): void {
    this.apicBase = BigInt(APIC_DEFAULT_BASE) | BASE_EN | ((this.options.bsp ?? true) ? BASE_BSP : 0n);
    this.id = this.xapicId();
    this.resetRegisters();
  }

  /**
   * What SeaBIOS leaves before it boots a kernel (QEMU 7.2 `info lapic`): the APIC software-enabled
   * with spurious vector 0xFF, LINT0 in ExtINT mode (virtual wire to the 8259), LINT1 NMI.
   */
  setBiosState(): void {
    this.svr = SVR_ENABLE | 0xff;
    this.lvt[LVT_LINT0] = (DM_EXTINT << 8) | LVT_LEVEL;
    this.lvt[LVT_LINT1] = (DM_NMI << 8) | LVT_LEVEL;
    // The INIT-SIPI-SIPI broadcast SeaBIOS sent to find the other CPUs is still in the ICR.
    this.icrLow = 0x000c4610;
    this.lintChanged(LVT_LINT0);
    this.update();
  }

  // --- state for the CPU, the router and the tests ---

  /** True while acknowledge() has an interrupt to hand over (the CPU's INTR line). */
  hasInterrupt(): boolean {
    return this.intr;
  }

  /**
   * The interrupt-acknowledge cycle: the highest IRR vector above the processor priority moves to
   * ISR and is returned (SDM §10.8.3.1); EXTINT means the 8259 supplies the vector; with nothing
   * left to deliver (TPR raised since INTR was signalled), the spurious vector (SDM §10.9).
   */
  acknowledge(): number {
    if (!this.globallyEnabled()) return EXTINT;
    const v = this.deliverable();
    if (v >= 0) {
      setBit(this.irr, v, false);
      setBit(this.isr, v, true);
      this.update();
      return v;
    }
    if (this.extIntAsserted()) return EXTINT;
    return this.svr & 0xff;
  }

  /** LINT0 pin level (the 8259 pair's INT output on a PC). */
  setLint0(level: boolean): void {
    this.setLint(LVT_LINT0, level);
  }

  /** LINT1 pin level (NMI on a PC). */
  setLint1(level: boolean): void {
    this.setLint(LVT_LINT1, level);
  }

  /** A fixed or lowest-priority interrupt message (from the I/O APIC, an IPI, an LVT). */
  deliver(vector: number, levelTriggered: boolean): void {
    if (!this.globallyEnabled() || !(this.svr & SVR_ENABLE)) return; // SDM §10.4.7.2
    if (vector < 16) {
      this.error(ESR_RECEIVE_ILLEGAL_VECTOR); // SDM §10.5.2: vectors 0-15 are illegal
      return;
    }
    setBit(this.irr, vector, true);
    setBit(this.tmr, vector, levelTriggered);
    this.update();
  }

  /** The level of the I/O APIC's ExtINT-mode entries: the 8259 is asked for the vector. */
  setExtInt(level: boolean): void {
    this.ioapicExtInt = level;
    this.update();
  }

  /** An NMI message. */
  deliverNmi(): void {
    if (this.globallyEnabled()) this.options.onNmi?.();
  }

  /**
   * Whether an interrupt message's destination includes this APIC (SDM §10.6.2): physical mode
   * compares the APIC ID (0xFF broadcasts); logical mode uses LDR with the flat or cluster model of DFR.
   */
  matchesDestination(dest: number, logical: boolean): boolean {
    if (this.x2apicMode()) {
      if (!logical) return dest === this.id || dest === 0xffffffff;
      // x2APIC logical: cluster in bits 31-16, a 16-bit member mask below (SDM §10.12.10.2).
      if (dest === 0xffffffff) return true;
      return dest >>> 16 === this.ldr >>> 16 && (dest & this.ldr & 0xffff) !== 0;
    }
    dest &= 0xff;
    if (!logical) return dest === 0xff || dest === this.id >>> 24;
    if (dest === 0xff) return true;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (dest & logicalId) !== 0; // flat model
    // Cluster model: cluster in the high nibble (15 broadcasts), member bits in the low one.
    return ((dest >> 4 === 0xf || dest >> 4 === logicalId >> 4) && (dest & logicalId & 0xf) !== 0);
  }

  /** CR8 reads TPR[7:4] (SDM §10.8.6.1). */
  readCr8(): number {
    return this.tpr >> 4;
  }

  writeCr8(value: number): void {
    this.tpr = (value & 0xf) << 4;
    this.update();
  }

  /** Where IA32_APIC_BASE puts the register page (the registers stay decoded at 0xFEE00000). */
  get baseAddress(): number {
    return Number(this.apicBase & BASE_ADDR_MASK);
  }

  /** Snapshot for tests and the monitor. */
  state(): ApicState {
    return {
      apicBase: this.apicBase,
      id: this.id,
      tpr: this.tpr,
      ppr: this.ppr(),
      svr: this.svr,
      isr: Array.from(this.isr),
      irr: Array.from(this.irr),
      tmr: Array.from(this.tmr),
      lvt: Array.from(this.lvt),
      esr: this.esr,
      timerInitial: this.timerInitial,
      timerCurrent: this.currentCount(this.clock.now()),
      tscDeadline: this.tscDeadline,
    };
  }

  // --- MSR interface (the CPU forwards RDMSR/WRMSR of 0x1B, 0x6E0, 0x800-0x8FF) ---

  /** Whether `index` is an MSR this device implements. */
  ownsMsr(index: number): boolean {
    return index === MSR_APIC_BASE || index === MSR_TSC_DEADLINE || (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST);
  }

  /** RDMSR: the value, or undefined for #GP (SDM §10.12.1.2). */
  readMsr(index: number): bigint | undefined {
    if (index === MSR_APIC_BASE) return this.apicBase;
    if (index === MSR_TSC_DEADLINE) {
      // SDM §10.5.4.1: reads as 0 outside TSC-deadline mode.
      return this.timerMode() === TIMER_TSC_DEADLINE ? this.tscDeadline : 0n;
    }
    if (index < MSR_X2APIC_FIRST || index > MSR_X2APIC_LAST || !this.x2apicMode()) return undefined;
    const reg = index - MSR_X2APIC_FIRST;
    if (reg === R_ICR) return (BigInt(this.icrHigh >>> 0) << 32n) | BigInt(this.icrLow >>> 0);
    const v = this.readRegister(reg, true);
    return v === undefined ? undefined : BigInt(v >>> 0);
  }

  /** WRMSR: false for #GP (a missing register, reserved bits set, an invalid APIC mode change). */
  writeMsr(index: number, value: bigint): boolean {
    value = BigInt.asUintN(64, value);
    if (index === MSR_APIC_BASE) return this.writeApicBase(value);
    if (index === MSR_TSC_DEADLINE) {
      this.writeTscDeadline(value);
      return true;
    }
    if (index < MSR_X2APIC_FIRST || index > MSR_X2APIC_LAST || !this.x2apicMode()) return false;
    const reg = index - MSR_X2APIC_FIRST;
    if (reg === R_ICR) {
      // SDM §10.12.9: one 64-bit ICR, destination in bits 63-32; no delivery-status bit.
      if (Number(value & 0xffffffffn) & ~ICR_WRITABLE) return false;
      this.icrHigh = Number(value >> 32n);
      this.icrLow = Number(value & 0xffffffffn);
      this.sendIpi();
      return true;
    }
    if (value >> 32n !== 0n) return false;
    return this.writeRegister(reg, Number(value), true);
  }

  // --- xAPIC MMIO (SDM §10.4.1: 32-bit registers on 16-byte boundaries) ---

  private mmioRead(offset: number, size: number): number {
    if (!this.xapicMode()) return 0xffffffff; // disabled or x2APIC: the page is not decoded
    const within = offset & 0xf;
    if (within >= 4) return 0;
    const v = this.readRegister(offset >> 4, false) ?? 0;
    return size === 4 && within === 0 ? v >>> 0 : (v >>> (8 * within)) >>> 0;
  }

  private mmioWrite(offset: number, size: number, value: number): void {
    if (!this.xapicMode()) return;
    const within = offset & 0xf;
    if (within >= 4) return;
    const reg = offset >> 4;
    if (size < 4 || within !== 0) {
      // Narrower than the register: merge into its current value (model-specific on hardware).
      const mask = (size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff) << (8 * within);
      const old = this.readRegister(reg, false) ?? 0;
      value = ((old & ~mask) | ((value << (8 * within)) & mask)) >>> 0;
    }
    this.writeRegister(reg, value >>> 0, false);
  }

  // --- registers shared by both interfaces ---

  /** A register's value, or undefined if it does not exist (xAPIC: ESR illegal register). */
  private readRegister(reg: number, x2: boolean): number | undefined {
    switch (reg) {
      case R_ID:
        return this.id;
      case R_VERSION:
        return APIC_VERSION;
      case R_TPR:
        return this.tpr;
      case R_APR:
        return x2 ? undefined : this.apr();
      case R_PPR:
        return this.ppr();
      case R_EOI:
        return x2 ? undefined : 0; // write-only
      case R_RRD:
        return x2 ? undefined : 0;
      case R_LDR:
        return this.ldr;
      case R_DFR:
        return x2 ? undefined : this.dfr;
      case R_SVR:
        return this.svr;
      case R_ESR:
        return this.esr;
      case R_ICR:
        return this.icrLow;
      case R_ICR2:
        return x2 ? undefined : this.icrHigh;
      case R_TIMER_INITIAL:
        return this.timerInitial;
      case R_TIMER_CURRENT:
        return this.currentCount(this.clock.now());
      case R_TIMER_DIVIDE:
        return this.divideConfig;
      case R_SELF_IPI:
        return undefined; // x2APIC write-only; not an xAPIC register
    }
    if (reg >= R_ISR && reg < R_ISR + 8) return this.isr[reg - R_ISR];
    if (reg >= R_TMR && reg < R_TMR + 8) return this.tmr[reg - R_TMR];
    if (reg >= R_IRR && reg < R_IRR + 8) return this.irr[reg - R_IRR];
    if (reg >= R_LVT_TIMER && reg <= R_LVT_ERROR) return this.lvt[reg - R_LVT_TIMER];
    if (!x2) this.error(ESR_ILLEGAL_REGISTER);
    return undefined;
  }

  /**
   * Write a register. In xAPIC mode read-only registers ignore writes and reserved bits are dropped;
   * in x2APIC mode both fault (returns false), as do nonzero writes to EOI and ESR (SDM §10.12.1.2).
   */
  private writeRegister(reg: number, v: number, x2: boolean): boolean {
    const only = (mask: number): boolean => !x2 || (v & ~mask) === 0;
    switch (reg) {
      case R_ID:
        if (x2) return false; // read-only in x2APIC mode
        this.id = (v & 0xff000000) >>> 0;
        return true;
      case R_TPR:
        if (!only(0xff)) return false;
        this.tpr = v & 0xff;
        this.update();
        return true;
      case R_EOI:
        if (x2 && v !== 0) return false;
        this.eoi();
        return true;
      case R_LDR:
        if (x2) return false; // derived from the x2APIC ID
        this.ldr = (v & 0xff000000) >>> 0;
        return true;
      case R_DFR:
        if (x2) return false;
        this.dfr = (v | 0x0fffffff) >>> 0;
        return true;
      case R_SVR:
        if (!only(SVR_WRITABLE)) return false;
        this.writeSvr(v & SVR_WRITABLE);
        return true;
      case R_ESR:
        if (x2 && v !== 0) return false;
        this.esr = this.esrPending;
        this.esrPending = 0;
        return true;
      case R_ICR:
        if (x2) return false; // handled as a 64-bit MSR by writeMsr
        this.icrLow = v & ICR_WRITABLE;
        this.sendIpi();
        return true;
      case R_ICR2:
        if (x2) return false;
        this.icrHigh = (v & 0xff000000) >>> 0;
        return true;
      case R_TIMER_INITIAL:
        this.writeInitialCount(v >>> 0);
        return true;
      case R_TIMER_DIVIDE:
        if (!only(0xb)) return false;
        this.writeDivide(v & 0xb);
        return true;
      case R_SELF_IPI:
        if (!x2) break;
        if (!only(0xff)) return false;
        this.deliver(v & 0xff, false); // SDM §10.12.11: fixed, edge, to self
        return true;
      case R_VERSION:
      case R_PPR:
      case R_APR:
      case R_RRD:
      case R_TIMER_CURRENT:
        return !x2; // read-only: ignored by xAPIC, #GP in x2APIC mode (APR and RRD do not exist there)
    }
    if (reg >= R_ISR && reg < R_IRR + 8) return !x2; // ISR/TMR/IRR are read-only
    if (reg >= R_LVT_TIMER && reg <= R_LVT_ERROR) {
      const i = reg - R_LVT_TIMER;
      if (!only(LVT_WRITABLE[i] | LVT_READ_ONLY)) return false;
      this.writeLvt(i, v);
      return true;
    }
    if (!x2) this.error(ESR_ILLEGAL_REGISTER);
    return false;
  }

  private writeSvr(v: number): void {
    this.svr = v;
    if (!(v & SVR_ENABLE)) {
      // SDM §10.4.7.2: software disable masks every LVT entry.
      for (let i = 0; i < LVT_COUNT; i++) this.lvt[i] |= LVT_MASKED;
      this.scheduleTimer();
    }
    this.update();
  }

  private writeLvt(i: number, v: number): void {
    const old = this.lvt[i];
    const keep = old & LVT_READ_ONLY & ~LVT_WRITABLE[i];
    let next = (v & LVT_WRITABLE[i]) | keep;
    if (!(this.svr & SVR_ENABLE)) next |= LVT_MASKED; // cannot be unmasked while disabled
    this.lvt[i] = next;
    if (i === LVT_TIMER) {
      const oldMode = (old >> 17) & 3;
      const newMode = (next >> 17) & 3;
      if ((oldMode === TIMER_TSC_DEADLINE) !== (newMode === TIMER_TSC_DEADLINE)) {
        // SDM §10.5.4.1: switching into or out of TSC-deadline mode disarms the timer.
        this.timerInitial = 0;
        this.timerBase = 0;
        this.tscDeadline = 0n;
      } else if (oldMode !== newMode && this.timerInitial !== 0) {
        // One-shot <-> periodic: continue from the current count.
        this.rebaseTimer(this.clock.now());
      }
      this.scheduleTimer();
    } else if (i === LVT_LINT0 || i === LVT_LINT1) {
      if (!(next & LVT_LEVEL)) this.lvt[i] &= ~LVT_REMOTE_IRR; // remote IRR is for level only
      this.lintChanged(i);
    }
    this.update();
  }

  // --- IA32_APIC_BASE (SDM §10.4.4, §10.12.5.1 state transitions) ---

  private writeApicBase(v: bigint): boolean {
    const allowed = BASE_ADDR_MASK | BASE_EN | BASE_BSP | (this.options.x2apic === false ? 0n : BASE_EXTD);
    if (v & ~allowed) return false;
    const en = (v & BASE_EN) !== 0n;
    const extd = (v & BASE_EXTD) !== 0n;
    const wasEnabled = this.globallyEnabled();
    const wasX2 = this.x2apicMode();
    if (extd && !en) return false; // EXTD without EN is invalid
    if (wasX2 && en && !extd) return false; // x2APIC -> xAPIC must go through disabled
    if (!wasEnabled && en && extd) return false; // disabled -> x2APIC must go through xAPIC
    // BSP is read-only; the address is kept (see `baseAddress`).
    this.apicBase = (v & (BASE_ADDR_MASK | BASE_EN | BASE_EXTD)) | (this.apicBase & BASE_BSP);
    if (wasEnabled && !en) {
      // Disabling resets the APIC's registers (SDM §10.4.3); the ID survives (in its xAPIC form).
      if (wasX2) this.id = this.xapicId();
      this.resetRegisters();
    } else if (!wasX2 && extd) {
      // Entering x2APIC mode: the ID becomes the 32-bit x2APIC ID and LDR is derived from it
      // (SDM §10.12.5.1, §10.12.10.2).
      this.id = this.initialId;
      this.ldr = (((this.initialId >>> 4) << 16) | (1 << (this.initialId & 0xf))) >>> 0;
    }
    this.update();
    return true;
  }

  private globallyEnabled(): boolean {
    return (this.apicBase & BASE_EN) !== 0n;
  }

  private x2apicMode(): boolean {
    return (this.apicBase & BASE_EXTD) !== 0n;
  }

  private xapicMode(): boolean {
    return this.globallyEnabled() && !this.x2apicMode();
  }

  /** The initial APIC ID as the xAPIC ID register holds it (bits 31-24). */
  private xapicId(): number {
    return ((this.initialId & 0xff) << 24) >>> 0;
  }

  /** Everything but IA32_APIC_BASE and the ID: the state after reset, INIT or a global disable. */
  private resetRegisters(): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.icrLow = 0;
    this.icrHigh = 0;
    this.lvt.fill(LVT_MASKED);
    this.divideConfig = 0;
    this.timerInitial = 0;
    this.timerBase = 0;
    this.timerBaseTime = this.clock.now();
    this.tscDeadline = 0n;
    this.timer.disarm();
    this.update();
  }

  // --- priorities (SDM §10.8.3.1) ---

  /** PPR: TPR, or the class of the highest in-service vector if that is higher. */
  private ppr(): number {
    const isrv = highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr >> 4) >= isrClass >> 4 ? this.tpr : isrClass;
  }

  /** APR for a single processor: TPR unless a pending or in-service class is higher. */
  private apr(): number {
    const irrv = Math.max(highest(this.irr), 0) >> 4;
    const isrv = Math.max(highest(this.isr), 0) >> 4;
    const tprClass = this.tpr >> 4;
    if (tprClass >= irrv && tprClass > isrv) return this.tpr;
    return Math.max(tprClass, irrv, isrv) << 4;
  }

  /** The IRR vector the CPU would take now, or -1. */
  private deliverable(): number {
    if (!(this.svr & SVR_ENABLE)) return -1;
    const v = highest(this.irr);
    if (v < 0 || v >> 4 <= this.ppr() >> 4) return -1;
    return v;
  }

  private extIntAsserted(): boolean {
    const l0 = this.lvt[LVT_LINT0];
    const viaLint0 = this.lint[0] && !(l0 & LVT_MASKED) && ((l0 >> 8) & 7) === DM_EXTINT;
    return viaLint0 || this.ioapicExtInt;
  }

  /** Recompute the INTR output. */
  private update(): void {
    let level: boolean;
    if (!this.globallyEnabled()) level = this.lint[0]; // SDM §10.4.3: LINT0 becomes INTR
    else level = this.deliverable() >= 0 || this.extIntAsserted();
    if (level !== this.intr) {
      this.intr = level;
      this.options.onIntr(level);
    }
  }

  // --- EOI (SDM §10.8.5) ---

  private eoi(): void {
    const v = highest(this.isr);
    if (v < 0) return;
    setBit(this.isr, v, false);
    if (testBit(this.tmr, v)) {
      setBit(this.tmr, v, false);
      // A level-triggered LINT input waits for this EOI (remote IRR); the I/O APIC too.
      for (const i of [LVT_LINT0, LVT_LINT1]) {
        if ((this.lvt[i] & LVT_REMOTE_IRR) && (this.lvt[i] & 0xff) === v) {
          this.lvt[i] &= ~LVT_REMOTE_IRR;
          this.lintChanged(i);
        }
      }
      this.options.onEoi?.(v);
    }
    this.update();
  }

  // --- LINT0/LINT1 (SDM §10.5.1) ---

  private setLint(i: number, level: boolean): void {
    const was = this.lint[i - LVT_LINT0];
    this.lint[i - LVT_LINT0] = level;
    if (level && !was) this.lintEdge(i);
    this.lintChanged(i);
    this.update();
  }

  /** Rising edge: NMI and edge-triggered fixed entries fire once. */
  private lintEdge(i: number): void {
    const e = this.lvt[i];
    if (!this.globallyEnabled() || (e & LVT_MASKED)) return;
    const mode = (e >> 8) & 7;
    if (mode === DM_NMI) this.options.onNmi?.();
    else if (mode === DM_FIXED && !(e & LVT_LEVEL)) this.deliver(e & 0xff, false);
  }

  /** A level-triggered fixed entry delivers while its pin is asserted and remote IRR is clear. */
  private lintChanged(i: number): void {
    const e = this.lvt[i];
    if (!this.globallyEnabled() || (e & LVT_MASKED) || !(e & LVT_LEVEL)) return;
    if (((e >> 8) & 7) !== DM_FIXED || !this.lint[i - LVT_LINT0] || (e & LVT_REMOTE_IRR)) return;
    this.lvt[i] |= LVT_REMOTE_IRR;
    this.deliver(e & 0xff, true);
  }

  // --- ICR (SDM §10.6.1) ---

  private sendIpi(): void {
    const vector = this.icrLow & 0xff;
    const mode = (this.icrLow >> 8) & 7;
    const logical = (this.icrLow & 0x800) !== 0;
    const shorthand = (this.icrLow >> 18) & 3;
    let toSelf: boolean;
    if (shorthand === 1 || shorthand === 2) toSelf = true; // self, all including self
    else if (shorthand === 3) toSelf = false; // all excluding self: nobody else exists
    else {
      const dest = this.x2apicMode() ? this.icrHigh >>> 0 : this.icrHigh >>> 24;
      toSelf = this.matchesDestination(dest, logical);
    }
    if (mode === DM_FIXED || mode === DM_LOWEST) {
      if (vector < 16) {
        this.error(ESR_SEND_ILLEGAL_VECTOR);
        return;
      }
      if (toSelf) this.deliver(vector, false);
    } else if (mode === DM_NMI && toSelf) {
      this.options.onNmi?.();
    }
    // INIT, SIPI, SMI: no other processors to start; dropped.
  }

  // --- errors (SDM §10.5.3) ---

  private error(bits: number): void {
    this.esrPending |= bits;
    const e = this.lvt[LVT_ERROR];
    // An illegal error vector is only recorded, not reported again through itself.
    if (!(e & LVT_MASKED) && (e & 0xff) >= 16) this.deliver(e & 0xff, false);
  }

  // --- timer (SDM §10.5.4) ---

  private timerMode(): number {
    return (this.lvt[LVT_TIMER] >> 17) & 3;
  }

  /** ns per count: the divide configuration (bits 0, 1, 3) selects 2, 4, ... 128 or 1. */
  private divisor(): number {
    const code = (this.divideConfig & 3) | ((this.divideConfig >> 1) & 4);
    return 2 ** ((code + 1) & 7) * (1_000_000_000 / APIC_BUS_HZ);
  }

  private writeDivide(v: number): void {
    const now = this.clock.now();
    if (this.timerInitial !== 0) this.rebaseTimer(now);
    this.divideConfig = v;
    this.scheduleTimer();
  }

  private writeInitialCount(v: number): void {
    if (this.timerMode() === TIMER_TSC_DEADLINE) return; // SDM §10.5.4.1: ignored
    this.timerInitial = v;
    this.timerBase = v;
    this.timerBaseTime = this.clock.now();
    this.scheduleTimer();
  }

  /** Continue counting from the current value with the present time as the new base. */
  private rebaseTimer(now: number): void {
    this.timerBase = this.currentCount(now);
    this.timerBaseTime = now;
  }

  private currentCount(now: number): number {
    if (this.timerInitial === 0 || this.timerMode() === TIMER_TSC_DEADLINE) return 0;
    const elapsed = Math.floor((now - this.timerBaseTime) / this.divisor());
    if (elapsed < this.timerBase) return this.timerBase - elapsed;
    if (this.timerMode() !== TIMER_PERIODIC) return 0;
    // Periodic: at zero the count reloads from the initial count.
    return this.timerInitial - ((elapsed - this.timerBase) % this.timerInitial);
  }

  /** The first expiry strictly after `now`, or null. */
  private nextExpiry(now: number): number | null {
    if (this.timerInitial === 0 || this.timerBase === 0) return null;
    const div = this.divisor();
    const first = this.timerBaseTime + this.timerBase * div;
    if (now < first) return first;
    if (this.timerMode() !== TIMER_PERIODIC) return null;
    const period = this.timerInitial * div;
    return first + (Math.floor((now - first) / period) + 1) * period;
  }

  private scheduleTimer(): void {
    const now = this.clock.now();
    if (this.lvt[LVT_TIMER] & LVT_MASKED) {
      this.timer.disarm();
      return;
    }
    const mode = this.timerMode();
    if (mode === TIMER_TSC_DEADLINE) {
      this.scheduleDeadline(now);
      return;
    }
    const at = mode === TIMER_ONE_SHOT || mode === TIMER_PERIODIC ? this.nextExpiry(now) : null;
    if (at === null) this.timer.disarm();
    else this.timer.arm(at);
  }

  private timerFired(now: number): void {
    const e = this.lvt[LVT_TIMER];
    if (e & LVT_MASKED) return;
    if (this.timerMode() === TIMER_TSC_DEADLINE) {
      this.scheduleDeadline(now);
      return;
    }
    this.deliver(e & 0xff, false);
    if (this.timerMode() === TIMER_PERIODIC) {
      const at = this.nextExpiry(now);
      if (at !== null) this.timer.arm(Math.max(at, now + MIN_PERIODIC_NS));
    }
  }

  // --- TSC-deadline mode (SDM §10.5.4.1) ---

  private writeTscDeadline(v: bigint): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return; // ignored in the other modes
    this.tscDeadline = v;
    this.scheduleTimer();
  }

  /** Fire if the TSC reached the deadline, else arm for the estimated time it will. */
  private scheduleDeadline(now: number): void {
    if (this.tscDeadline === 0n || !this.options.tsc) {
      this.timer.disarm();
      return;
    }
    const tsc = this.options.tsc();
    if (tsc >= this.tscDeadline) {
      this.tscDeadline = 0n; // the timer disarms itself
      this.timer.disarm();
      const e = this.lvt[LVT_TIMER];
      if (!(e & LVT_MASKED)) this.deliver(e & 0xff, false);
      return;
    }
    const hz = this.options.tscHz ?? 1_000_000_000;
    const ns = Math.ceil((Number(this.tscDeadline - tsc) * 1e9) / hz);
    this.timer.arm(now + Math.max(1, ns));
  }
}

export interface ApicState {
  apicBase: bigint;
  id: number;
  tpr: number;
  ppr: number;
  svr: number;
  isr: number[];
  irr: number[];
  tmr: number[];
  lvt: number[];
  esr: number;
  timerInitial: number;
  timerCurrent: number;
  tscDeadline: bigint;
}
