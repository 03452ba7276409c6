// The virtual clock: nanoseconds of guest time since the machine started, plus a small timer queue.
// By default time follows the host's monotonic clock; tests freeze it and move it by hand. The
// machine drives a frozen clock with the CPU's instruction count (emulator/machine.ts): between
// beginSlice() and endSlice() now() includes the time of the instructions retired so far, so a
// device read in the middle of a run slice sees the same time as the TSC (cpu/types.ts setVirtualTime).

/** A one-shot timer owned by a device; re-arm it from its own callback for periodic events. */
export class Timer {
  /** Absolute deadline in ns of virtual time, or null while disarmed. */
  deadline: number | null = null;

  constructor(
    private readonly queue: Clock,
    readonly callback: (now: number) => void,
  ) {}

  /** Fire at `deadline` (ns of virtual time); replaces any earlier arming. */
  arm(deadline: number): void {
    this.deadline = deadline;
    this.queue.changed();
  }

  disarm(): void {
    this.deadline = null;
    this.queue.changed();
  }
}

export class Clock {
  private readonly timers: Timer[] = [];
  private origin: bigint;
  private frozenAt: number | null;
  /** While the CPU runs a slice: the virtual time its instructions have taken so far. */
  private sliceElapsed: (() => number) | null = null;
  /** Called when a timer is armed, so a sleeping machine loop can recompute its wake-up time. */
  onChange: (() => void) | null = null;

  /** `frozen`: start stopped at 0 ns; time then moves only through advance()/set(). */
  constructor(options: { frozen?: boolean } = {}) {
    this.origin = process.hrtime.bigint();
    this.frozenAt = options.frozen ? 0 : null;
  }

  /** Nanoseconds of virtual time since start. */
  now(): number {
    if (this.frozenAt !== null) return this.sliceElapsed === null ? this.frozenAt : this.frozenAt + this.sliceElapsed();
    return Number(process.hrtime.bigint() - this.origin);
  }

  get frozen(): boolean {
    return this.frozenAt !== null;
  }

  /** Stop time where it is (tests). */
  freeze(): void {
    this.frozenAt = this.now();
  }

  /**
   * Let a clock stopped by freeze() follow host time again from where it stood: the monitor's
   * `stop` and `cont` (QEMU's virtual clock does not advance while the VM is paused).
   */
  thaw(): void {
    if (this.frozenAt === null) return;
    this.origin = process.hrtime.bigint() - BigInt(Math.round(this.frozenAt));
    this.frozenAt = null;
  }

  /**
   * A frozen clock driven by the CPU: until endSlice(), now() adds `elapsed()`, the time of the
   * instructions retired since the clock last moved. Timers fire only when the driver moves the
   * clock (set/advance) after endSlice().
   */
  beginSlice(elapsed: () => number): void {
    if (this.frozenAt === null) throw new Error('Clock.beginSlice needs a frozen clock');
    this.sliceElapsed = elapsed;
  }

  endSlice(): void {
    this.sliceElapsed = null;
  }

  /** Move a frozen clock forward by `ns` and fire every timer that became due, in deadline order. */
  advance(ns: number): void {
    this.set(this.now() + ns);
  }

  /** Move a frozen clock to `ns` (never backwards) and fire due timers on the way. */
  set(ns: number): void {
    if (this.frozenAt === null) throw new Error('Clock.set/advance needs a frozen clock');
    if (ns < this.frozenAt) throw new Error('the virtual clock cannot go backwards');
    // Step through deadlines so each device sees time as it was when its timer fell due.
    for (;;) {
      const next = this.nextDeadline();
      if (next === null || next > ns) break;
      this.frozenAt = Math.max(this.frozenAt, next);
      this.runDue();
    }
    this.frozenAt = ns;
  }

  createTimer(callback: (now: number) => void): Timer {
    const t = new Timer(this, callback);
    this.timers.push(t);
    return t;
  }

  /** The earliest armed deadline, or null when nothing is armed. */
  nextDeadline(): number | null {
    let best: number | null = null;
    for (const t of this.timers) {
      if (t.deadline !== null && (best === null || t.deadline < best)) best = t.deadline;
    }
    return best;
  }

  /** Fire every timer whose deadline has passed. A callback may re-arm its timer. */
  runDue(): void {
    // Bounded so a timer that keeps re-arming in the past cannot hang the machine.
    for (let guard = 0; guard < 10_000; guard++) {
      const now = this.now();
      let due: Timer | null = null;
      for (const t of this.timers) {
        if (t.deadline !== null && t.deadline <= now && (due === null || t.deadline < (due.deadline as number))) due = t;
      }
      if (due === null) return;
      due.deadline = null;
      due.callback(now);
    }
  }

  /** @internal */
  changed(): void {
    this.onChange?.();
  }
}
