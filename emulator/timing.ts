// How virtual time moves while the machine runs its CPU (emulator/machine.ts run loop).
//
// One clock for everything the guest can read: the TSC (inside the CPU), the PIT, the HPET, the
// ACPI PM timer, the local APIC timer, the RTC and the UART's timeouts all follow the machine's
// Clock, which is frozen and moved only from here. While the CPU runs a slice, time is a function
// of the instructions retired: vt = vt0 + executed * rate (ns per instruction, 16.16 fixed point),
// computed the same way by the CPU for RDTSC (cpu/types.ts setVirtualTime) and by the clock for
// device reads in the middle of the slice (Clock.beginSlice), so a guest that calibrates one timer
// against another sees them agree. A slice ends exactly at the next timer deadline, so timer
// interrupts arrive on time and not at the next 100,000-instruction boundary.
//
// -icount shift=N: the rate is 2^N ns and idle time is skipped (QEMU's sleep=off): runs repeat.
// Otherwise virtual time keeps pace with the host: the rate follows the host time the CPU takes
// per instruction, a little faster while the guest is behind the host and slower while ahead, so
// a busy guest's clock still keeps real time. HLT sleeps on a host timer only for what lies
// beyond the host's time; a deadline closer than LEAD_NS (below a host timer's granularity), or
// one the guest is still behind on, is reached at once by moving virtual time forward.

import type { CpuApi } from '../cpu/types.ts';
import type { Clock } from './clock.ts';

/** 16.16 fixed point for the time per instruction. */
const FX = 65536;
/** How far virtual time may run ahead of the host instead of sleeping for a timer. */
export const LEAD_NS = 2_000_000;
/** Host time over which a gap between virtual and host time is closed while the guest computes. */
const CATCH_UP_NS = 50_000_000;
/** Before the first measurement: 10 ns per instruction (100 MIPS). */
const INITIAL_NS_PER_INSTRUCTION = 10;

export class VirtualTime {
  /** ns per instruction, 16.16 fixed point, for the slice that runs next. */
  private rateFx: number;
  /** Measured host ns per instruction (moving average). */
  private hostPerInstruction = INITIAL_NS_PER_INSTRUCTION;
  /** Host time (ns, performance.now() scale) that corresponds to virtual time 0 (paused time excluded). */
  private hostZero: number;
  private inSlice = false;
  private sliceIcount = 0n;
  private sliceEnd = 0;
  private sliceHostStart = 0;

  constructor(
    private readonly clock: Clock,
    private readonly cpu: CpuApi,
    /** -icount shift, or null to follow the host. */
    private readonly icountShift: number | null,
  ) {
    if (!clock.frozen) throw new Error('VirtualTime drives a frozen clock');
    this.rateFx = icountShift === null ? INITIAL_NS_PER_INSTRUCTION * FX : 2 ** icountShift * FX;
    this.hostZero = hostNs() - clock.now();
  }

  /** Virtual ns taken by `n` instructions at the current rate (the CPU's TSC computes the same). */
  private elapsed(n: number): number {
    return Math.floor((n * this.rateFx) / FX);
  }

  /** Host ns since virtual time 0, the time the machine was stopped excluded (whole ns). */
  private host(): number {
    return Math.floor(hostNs() - this.hostZero);
  }

  /** Instructions for the next slice: at most `max`, and none past the next timer deadline. */
  budget(max: number): number {
    const next = this.clock.nextDeadline();
    if (next === null) return max;
    const left = Math.ceil(((Math.ceil(next) - this.clock.now()) * FX) / this.rateFx);
    return Math.max(1, Math.min(max, left));
  }

  /** Before cpu.run(budget). */
  beginSlice(budget: number): void {
    // Whole ns (timers may be armed at fractions; the clock moves to them in idle()).
    const now = this.clock.now();
    this.cpu.setVirtualTime(BigInt(Math.floor(now)), this.rateFx);
    this.sliceIcount = this.cpu.instructionCount;
    this.sliceEnd = now + this.elapsed(budget);
    this.sliceHostStart = hostNs();
    this.inSlice = true;
    this.clock.beginSlice(() => this.elapsed(Number(this.cpu.instructionCount - this.sliceIcount)));
  }

  /** After cpu.run(): time moves on by the instructions retired, due timers fire. */
  endSlice(executed: number): void {
    this.inSlice = false;
    this.clock.endSlice();
    this.clock.advance(this.elapsed(executed));
    if (this.icountShift !== null) return;
    if (executed >= 1000) {
      const perInstruction = (hostNs() - this.sliceHostStart) / executed;
      this.hostPerInstruction += (perInstruction - this.hostPerInstruction) / 16;
    }
    // Close a gap to the host's time over CATCH_UP_NS of computing.
    const lag = this.host() - this.clock.now();
    const factor = Math.min(4, Math.max(0.25, 1 + lag / CATCH_UP_NS));
    const ns = Math.min(100_000, Math.max(0.01, this.hostPerInstruction * factor));
    this.rateFx = Math.max(1, Math.round(ns * FX));
  }

  /** A timer was armed during a slice: must the CPU stop early to deliver it on time? */
  deadlineInSlice(): boolean {
    if (!this.inSlice) return false;
    const next = this.clock.nextDeadline();
    return next !== null && next < this.sliceEnd;
  }

  /**
   * The CPU halted. Either moves virtual time to the next deadline and returns 0, or returns the
   * host ms to sleep for it (Infinity: no timer is armed, wait for input or a stop).
   */
  idle(): number {
    const deadline = this.clock.nextDeadline();
    if (deadline === null) return Infinity;
    const now = this.clock.now();
    if (this.icountShift !== null || deadline - this.host() <= LEAD_NS) {
      this.clock.set(Math.max(Math.ceil(deadline), now));
      return 0;
    }
    // Catch up with the host, then sleep for the rest.
    const host = this.host();
    if (host > now) this.clock.set(host);
    return (deadline - host) / 1e6;
  }

  /** After a sleep: virtual time catches up with the host, up to the deadline it slept for. */
  woke(): void {
    if (this.icountShift !== null) return;
    const deadline = this.clock.nextDeadline();
    let to = this.host();
    if (deadline !== null && to > deadline) to = Math.ceil(deadline);
    if (to > this.clock.now()) this.clock.set(to);
  }

  /** The machine was stopped for `ns` of host time (monitor, -S): virtual time did not move. */
  stopped(ns: number): void {
    this.hostZero += ns;
  }
}

function hostNs(): number {
  return performance.now() * 1e6;
}
