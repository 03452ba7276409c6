// The Intel 8254 programmable interval timer (ports 0x40-0x43) and the speaker/gate bits of
// port 0x61 (System Control Port B). Counter behaviour follows the 8254 datasheet ("Mode 0".."Mode 5",
// "Read operations", "Counter latch command", "Read-back command").
// Counters are computed from virtual time instead of being decremented tick by tick, so the device
// costs nothing between accesses; a timer fires only at channel 0's output transitions (IRQ0).

import type { IoBus } from './io-bus.ts';
import type { DeviceTimer, TimeSource } from './time-source.ts';

/** The PC's PIT input clock: 14.31818 MHz / 12. */
export const PIT_HZ = 1_193_182;

/** Virtual ns -> whole PIT ticks since start (BigInt: a double loses ticks after a few days). */
function ticksAt(ns: number): number {
  return Number((BigInt(Math.floor(ns)) * BigInt(PIT_HZ)) / 1_000_000_000n);
}

/** The first virtual ns at which tick `t` has begun. */
function nsOfTick(t: number): number {
  return Number((BigInt(t) * 1_000_000_000n + BigInt(PIT_HZ - 1)) / BigInt(PIT_HZ));
}

function toBcd(v: number): number {
  return (v % 10) | (Math.floor(v / 10) % 10) << 4 | (Math.floor(v / 100) % 10) << 8 | (Math.floor(v / 1000) % 10) << 12;
}

function fromBcd(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

class Channel {
  mode = 3;
  /** 1 = low byte only, 2 = high byte only, 3 = low then high. */
  access = 3;
  bcd = false;
  gate: boolean;
  /** The count register as loaded; 0 stands for 65536 (binary) or 10000 (BCD). */
  reload = 0x10000;
  /** A count has been written since the last control word (cleared by "null count"). */
  loaded = false;
  /** Modes 1 and 5 wait for a gate trigger before counting. */
  triggered = false;
  /** Tick at which the current count started. */
  start = 0;
  /** While the gate holds the counter (modes 0, 2, 3, 4), the tick it stopped at. */
  heldAt: number | null = null;
  /** Mode 0 output once terminal count was reached before a hold. */
  reachedBeforeHold = false;
  writeLow = true;
  readLow = true;
  pendingLow = 0;
  latchedCount: number | null = null;
  latchedLowRead = false;
  latchedStatus: number | null = null;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Ticks elapsed in the current count, or null when the counter is not running. */
  elapsed(tick: number): number | null {
    if (!this.loaded) return null;
    if ((this.mode === 1 || this.mode === 5) && !this.triggered) return null;
    const t = this.heldAt ?? tick;
    return Math.max(0, t - this.start);
  }

  out(tick: number): boolean {
    const d = this.elapsed(tick);
    const n = this.reload;
    switch (this.mode) {
      case 0:
        if (!this.loaded) return false;
        return this.reachedBeforeHold || (d !== null && d >= n);
      case 1:
        return d === null || d >= n;
      case 2:
        if (d === null || this.heldAt !== null) return true;
        return d % n !== n - 1;
      case 3:
        if (d === null || this.heldAt !== null) return true;
        return d % n < (n + 1) >> 1;
      default: // 4, 5: one-tick low strobe at terminal count
        return d === null || d !== n;
    }
  }

  /** The first tick after `tick` at which OUT changes, or null if it never will on its own. */
  nextTransition(tick: number): number | null {
    const d = this.elapsed(tick);
    if (d === null || this.heldAt !== null) return null;
    const n = this.reload;
    switch (this.mode) {
      case 0:
      case 1:
        return d < n ? this.start + n : null;
      case 2: {
        if (n < 2) return null;
        const p = d % n;
        return tick + (p < n - 1 ? n - 1 - p : 1);
      }
      case 3: {
        const high = (n + 1) >> 1;
        if (high >= n) return null;
        const p = d % n;
        return tick + (p < high ? high - p : n - p);
      }
      default:
        if (d < n) return this.start + n;
        if (d === n) return this.start + n + 1;
        return null;
    }
  }

  count(tick: number): number {
    const d = this.elapsed(tick);
    const n = this.reload;
    let v: number;
    if (d === null) v = n;
    else if (this.mode === 2) v = n - (d % n);
    else if (this.mode === 3) v = n - ((2 * d) % n);
    else v = (((n - d) % this.modulus) + this.modulus) % this.modulus;
    v %= this.modulus; // 65536 reads as 0 (10000 as 0 in BCD)
    return this.bcd ? toBcd(v) : v;
  }

  status(tick: number): number {
    // 8254 datasheet, "Status byte": OUTPUT, NULL COUNT, RW1 RW0, M2 M1 M0, BCD.
    return (this.out(tick) ? 0x80 : 0) | (this.loaded ? 0 : 0x40) | (this.access << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  load(value: number, tick: number): void {
    let n = this.bcd ? fromBcd(value) : value;
    if (n === 0) n = this.modulus;
    this.reload = n;
    this.loaded = true;
    this.start = tick;
    this.reachedBeforeHold = false;
    this.heldAt = !this.gate && this.mode !== 1 && this.mode !== 5 ? tick : null;
    // Writing a count does not trigger modes 1 and 5; only a gate rising edge does.
  }

  control(mode: number, access: number, bcd: boolean): void {
    this.mode = mode > 5 ? mode - 4 : mode; // modes 6 and 7 are aliases of 2 and 3
    this.access = access;
    this.bcd = bcd;
    this.loaded = false;
    this.triggered = false;
    this.heldAt = null;
    this.reachedBeforeHold = false;
    this.writeLow = true;
    this.readLow = true;
    this.latchedCount = null;
    this.latchedStatus = null;
  }

  setGate(level: boolean, tick: number): void {
    if (level === this.gate) return;
    this.gate = level;
    const holds = this.mode === 0 || this.mode === 2 || this.mode === 3 || this.mode === 4;
    if (level) {
      if (this.mode === 1 || this.mode === 5 || this.mode === 2 || this.mode === 3) {
        // Rising edge (re)triggers: counting starts again from the full count.
        this.triggered = true;
        this.start = tick;
        this.heldAt = null;
      } else if (this.heldAt !== null) {
        // Modes 0 and 4 resume where they stopped.
        this.start += tick - this.heldAt;
        this.heldAt = null;
      }
    } else if (holds && this.loaded) {
      if (this.mode === 0) this.reachedBeforeHold = this.out(tick);
      this.heldAt = tick;
    }
  }
}

export class Pit {
  private readonly channels = [new Channel(true), new Channel(true), new Channel(false)];
  private speakerData = false;
  private irqLevel = false;
  /** The tick up to which channel 0's output has been delivered to IRQ0. */
  private lastSeen = 0;
  private readonly timer: DeviceTimer;

  /** `irq0` receives channel 0's OUT line, which is wired to IRQ0 of the PIC. */
  constructor(
    private readonly clock: TimeSource,
    private readonly irq0: (level: boolean) => void,
  ) {
    this.timer = clock.createTimer((now) => this.update(now));
    this.reset();
  }

  attach(bus: IoBus): void {
    bus.registerPorts(0x40, 4, {
      read: (port) => this.readPort(port - 0x40),
      write: (port, _size, v) => this.writePort(port - 0x40, v),
    });
    bus.registerPorts(0x61, 1, {
      read: () => this.readPortB(),
      write: (_port, _size, v) => this.writePortB(v),
    });
  }

  /** Power-on state as QEMU models it: every channel in mode 3 with count 65536. */
  reset(): void {
    const tick = ticksAt(this.clock.now());
    this.channels.forEach((c, i) => {
      c.gate = i !== 2;
      c.control(3, 3, false);
      c.load(0, tick);
    });
    this.speakerData = false;
    this.update(this.clock.now());
  }

  /**
   * What a PC BIOS leaves: channel 0 in mode 2 with count 65536 (18.2 Hz), the rate
   * DOS-era code and SeaBIOS use for the BIOS tick.
   */
  setBiosState(): void {
    const tick = ticksAt(this.clock.now());
    this.channels[0].control(2, 3, false);
    this.channels[0].load(0, tick);
    this.update(this.clock.now());
  }

  /** The virtual time (ns) of channel 0's next output change, or null if none is coming. */
  nextDeadline(): number | null {
    const now = this.clock.now();
    const t = this.channels[0].nextTransition(ticksAt(now));
    return t === null ? null : nsOfTick(t);
  }

  /** Bring IRQ0 up to date with virtual time `now` and re-arm for the next transition. */
  update(now: number): void {
    const c = this.channels[0];
    const tick = ticksAt(now);
    // Replay transitions we slept through so a one-tick pulse (mode 2) still makes an edge.
    // Only the last couple matter: the PIC's IRR holds one request per line anyway.
    let from = this.lastSeen;
    if (from < c.start) from = c.start;
    if (tick - from > 2 * c.reload) from = tick - 2 * c.reload;
    for (let guard = 0; guard < 8; guard++) {
      const next = c.nextTransition(from);
      if (next === null || next > tick) break;
      this.drive(c.out(next));
      from = next;
    }
    this.drive(c.out(tick));
    this.lastSeen = tick;
    const deadline = this.nextDeadline();
    if (deadline === null) this.timer.disarm();
    else this.timer.arm(deadline);
  }

  private drive(level: boolean): void {
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq0(level);
  }

  private tick(): number {
    return ticksAt(this.clock.now());
  }

  private readPort(index: number): number {
    if (index === 3) return 0xff; // the control word register cannot be read
    const c = this.channels[index];
    if (c.latchedStatus !== null) {
      const s = c.latchedStatus;
      c.latchedStatus = null;
      return s;
    }
    const value = c.latchedCount ?? c.count(this.tick());
    let byte: number;
    if (c.access === 1) byte = value & 0xff;
    else if (c.access === 2) byte = value >> 8;
    else {
      byte = c.readLow ? value & 0xff : value >> 8;
      c.readLow = !c.readLow;
    }
    // A latched count is held until it has been read completely.
    if (c.latchedCount !== null && (c.access !== 3 || c.readLow)) c.latchedCount = null;
    return byte;
  }

  private writePort(index: number, v: number): void {
    const tick = this.tick();
    if (index === 3) {
      this.writeControl(v, tick);
    } else {
      const c = this.channels[index];
      if (c.access === 1) c.load(v, tick);
      else if (c.access === 2) c.load(v << 8, tick);
      else if (c.writeLow) {
        c.pendingLow = v;
        c.writeLow = false;
        return;
      } else {
        c.writeLow = true;
        c.load(c.pendingLow | (v << 8), tick);
      }
    }
    this.update(this.clock.now());
  }

  private writeControl(v: number, tick: number): void {
    const sel = v >> 6;
    if (sel === 3) {
      // Read-back: bit 5 clear = latch counts, bit 4 clear = latch status, bits 3-1 select channels.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.channels[i];
        if (!(v & 0x20) && c.latchedCount === null) c.latchedCount = c.count(tick);
        if (!(v & 0x10) && c.latchedStatus === null) c.latchedStatus = c.status(tick);
      }
      return;
    }
    const c = this.channels[sel];
    const access = (v >> 4) & 3;
    if (access === 0) {
      // Counter latch command; a second latch before the first is read is ignored.
      if (c.latchedCount === null) c.latchedCount = c.count(tick);
      return;
    }
    c.control((v >> 1) & 7, access, (v & 1) !== 0);
  }

  private readPortB(): number {
    const c2 = this.channels[2];
    const now = this.clock.now();
    // Bit 4 toggles with DRAM refresh every 15.085 us; code uses it for short delays.
    const refresh = Math.floor(now / 15085) & 1;
    return (c2.gate ? 1 : 0) | (this.speakerData ? 2 : 0) | (refresh << 4) | (c2.out(ticksAt(now)) ? 0x20 : 0);
  }

  private writePortB(v: number): void {
    this.speakerData = (v & 2) !== 0;
    this.channels[2].setGate((v & 1) !== 0, this.tick());
  }

  /** Channel state for tests and the monitor. */
  channelState(i: number): { mode: number; count: number; out: boolean; reload: number } {
    const c = this.channels[i];
    const tick = this.tick();
    return { mode: c.mode, count: c.count(tick), out: c.out(tick), reload: c.reload };
  }

  /** Gate input of a channel (channel 2 is normally driven through port 0x61). */
  setGate(channel: number, level: boolean): void {
    this.channels[channel].setGate(level, this.tick());
    if (channel === 0) this.update(this.clock.now());
  }
}
