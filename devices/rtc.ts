// The Motorola MC146818A real-time clock and its 128 bytes of CMOS RAM (index port 0x70, data
// port 0x71, IRQ8). Register layout and flags follow the MC146818A datasheet ("Address map",
// "Register A".."Register D", "Update cycle"). The date advances with the virtual clock from a base
// taken from the host's UTC time at start, like QEMU's default `-rtc base=utc`.

import type { IoBus } from './io-bus.ts';
import type { DeviceTimer, TimeSource } from './time-source.ts';

const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
/** The IBM PC/AT keeps the century here (QEMU does too). */
export const CMOS_CENTURY = 0x32;

// Register A: UIP (bit 7), divider DV2-0 (bits 6-4), rate RS3-0 (bits 3-0).
const A_UIP = 0x80;
// Register B.
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
// Register C.
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;

/** The update cycle flag rises 244 us before the seconds roll over (datasheet, "UIP"). */
const UIP_LEAD_NS = 244_000;
const NS_PER_S = 1_000_000_000;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | v % 10;
}
function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0xf);
}

export class Rtc {
  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiDisabled = true;
  /** Wall time (ms since the Unix epoch, UTC) that corresponds to virtual time `baseNs`. */
  private baseEpochMs: number;
  private baseNs: number;
  private irqLevel = false;
  private readonly periodicTimer: DeviceTimer;
  private readonly secondTimer: DeviceTimer;

  /** `startTime`: the wall-clock date at virtual time 0 (default: now, UTC). */
  constructor(
    private readonly clock: TimeSource,
    private readonly irq: (level: boolean) => void,
    startTime: Date = new Date(),
  ) {
    this.baseEpochMs = Math.floor(startTime.getTime() / 1000) * 1000;
    this.baseNs = clock.now();
    this.periodicTimer = clock.createTimer((now) => this.periodicTick(now));
    this.secondTimer = clock.createTimer((now) => this.secondTick(now));
    this.reset();
  }

  attach(bus: IoBus): void {
    bus.registerPorts(0x70, 2, {
      read: (port) => (port === 0x70 ? 0xff : this.readData()),
      write: (port, _size, v) => {
        if (port === 0x70) {
          // Bit 7 of the index port is the PC's NMI mask, not part of the RTC address.
          this.nmiDisabled = (v & 0x80) !== 0;
          this.index = v & 0x7f;
        } else {
          this.writeData(v);
        }
      },
    });
  }

  /** Values a PC BIOS leaves in the control registers: 32.768 kHz divider, 1024 Hz rate, 24h BCD. */
  reset(): void {
    this.cmos[REG_A] = 0x26;
    this.cmos[REG_B] = B_24H;
    this.cmos[REG_C] = 0;
    this.cmos[REG_D] = 0x80; // VRT: the battery is fine
    this.setIrq(false);
    this.rearm();
  }

  /** Is NMI masked by port 0x70 bit 7? */
  get nmiMasked(): boolean {
    return this.nmiDisabled;
  }

  /** Firmware-style CMOS contents (memory sizes etc.) set by the machine. */
  setCmos(index: number, value: number): void {
    this.cmos[index & 0x7f] = value;
  }

  getCmos(index: number): number {
    return this.readRegister(index & 0x7f);
  }

  /** The RTC's current date (UTC), as the guest would read it. */
  currentDate(): Date {
    return new Date(this.epochMsAt(this.clock.now()));
  }

  private epochMsAt(now: number): number {
    return this.baseEpochMs + Math.floor((now - this.baseNs) / 1e6);
  }

  private running(): boolean {
    // Updates need the normal divider (DV = 010) and SET clear.
    return ((this.cmos[REG_A] >> 4) & 7) === 2 && !(this.cmos[REG_B] & B_SET);
  }

  private readData(): number {
    if (this.index === REG_C) this.catchUpUpdateFlag();
    const v = this.readRegister(this.index);
    if (this.index === REG_C) {
      // Reading register C clears all flags and releases IRQ8 (datasheet, "Register C").
      this.cmos[REG_C] = 0;
      this.setIrq(false);
    }
    return v;
  }

  private readRegister(i: number): number {
    if (i <= 9 || i === CMOS_CENTURY) {
      if (i === 1 || i === 3 || i === 5 || !this.running()) return this.cmos[i];
      return this.timeField(i, new Date(this.epochMsAt(this.clock.now())));
    }
    if (i === REG_A) {
      let v = this.cmos[REG_A] & 0x7f;
      if (this.running()) {
        const intoSecond = (this.clock.now() - this.baseNs) % NS_PER_S;
        if (intoSecond >= NS_PER_S - UIP_LEAD_NS) v |= A_UIP;
      }
      return v;
    }
    return this.cmos[i];
  }

  private writeData(v: number): void {
    const i = this.index;
    switch (i) {
      case REG_A:
        this.cmos[REG_A] = (this.cmos[REG_A] & A_UIP) | (v & 0x7f);
        this.rearm();
        return;
      case REG_B: {
        const wasSet = (this.cmos[REG_B] & B_SET) !== 0;
        if (!wasSet && v & B_SET) this.freezeIntoRegisters();
        // SET also clears UIE (datasheet, "Register B", UIE).
        if (v & B_SET) v &= ~B_UIE;
        this.cmos[REG_B] = v;
        if (wasSet && !(v & B_SET)) this.takeTimeFromRegisters();
        this.rearm();
        return;
      }
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        if (i <= 9 || i === CMOS_CENTURY) {
          if (i !== 1 && i !== 3 && i !== 5 && this.running()) {
            // Writing a time field while running: latch everything, change it, restart from there.
            this.freezeIntoRegisters();
            this.cmos[i] = v;
            this.takeTimeFromRegisters();
            return;
          }
        }
        this.cmos[i] = v;
    }
  }

  /** Encode one date field per register B's data mode and hour format. */
  private timeField(i: number, d: Date): number {
    const binary = (this.cmos[REG_B] & B_DM_BINARY) !== 0;
    const enc = (n: number) => (binary ? n : toBcd(n));
    switch (i) {
      case 0:
        return enc(d.getUTCSeconds());
      case 2:
        return enc(d.getUTCMinutes());
      case 4: {
        const h = d.getUTCHours();
        if (this.cmos[REG_B] & B_24H) return enc(h);
        // 12-hour mode: 1-12 with bit 7 set for PM.
        return enc(h % 12 === 0 ? 12 : h % 12) | (h >= 12 ? 0x80 : 0);
      }
      case 6:
        return enc(d.getUTCDay() + 1); // 1 = Sunday
      case 7:
        return enc(d.getUTCDate());
      case 8:
        return enc(d.getUTCMonth() + 1);
      case 9:
        return enc(d.getUTCFullYear() % 100);
      default:
        return enc(Math.floor(d.getUTCFullYear() / 100));
    }
  }

  private freezeIntoRegisters(): void {
    const d = new Date(this.epochMsAt(this.clock.now()));
    for (const i of [0, 2, 4, 6, 7, 8, 9, CMOS_CENTURY]) this.cmos[i] = this.timeField(i, d);
  }

  private takeTimeFromRegisters(): void {
    const binary = (this.cmos[REG_B] & B_DM_BINARY) !== 0;
    const dec = (v: number) => (binary ? v : fromBcd(v));
    let hour: number;
    const rawHour = this.cmos[4];
    if (this.cmos[REG_B] & B_24H) hour = dec(rawHour);
    else hour = (dec(rawHour & 0x7f) % 12) + (rawHour & 0x80 ? 12 : 0);
    const year = dec(this.cmos[CMOS_CENTURY]) * 100 + dec(this.cmos[9]);
    const ms = Date.UTC(year, dec(this.cmos[8]) - 1, dec(this.cmos[7]), hour, dec(this.cmos[2]), dec(this.cmos[0]));
    if (!Number.isNaN(ms)) {
      this.baseEpochMs = ms;
      this.baseNs = this.clock.now();
      this.lastPolledSecond = 0;
    }
    this.rearm();
  }

  /** Rate select -> period in ns (datasheet, table "Periodic interrupt rate"); 0 = off. */
  private periodNs(): number {
    const rs = this.cmos[REG_A] & 0x0f;
    if (rs === 0) return 0;
    const shift = rs <= 2 ? rs + 7 : rs - 1; // RS 1 and 2 repeat the 256 Hz and 128 Hz rates
    return (NS_PER_S * (1 << shift)) / 32768;
  }

  private rearm(): void {
    const now = this.clock.now();
    const period = this.periodNs();
    if (this.cmos[REG_B] & B_PIE && period > 0) this.periodicTimer.arm(now + period);
    else this.periodicTimer.disarm();
    if (this.running() && this.cmos[REG_B] & (B_UIE | B_AIE)) this.secondTimer.arm(this.nextSecond(now));
    else this.secondTimer.disarm();
  }

  private nextSecond(now: number): number {
    const into = (((now - this.baseNs) % NS_PER_S) + NS_PER_S) % NS_PER_S;
    return now - into + NS_PER_S;
  }

  /**
   * UF is set by every update cycle even with UIE off; without a timer running we notice the
   * seconds that passed when register C is read (software polls UF this way).
   */
  private catchUpUpdateFlag(): void {
    const now = this.clock.now();
    const second = Math.floor((now - this.baseNs) / NS_PER_S);
    if (this.running() && second > this.lastPolledSecond) this.cmos[REG_C] |= C_UF;
    this.lastPolledSecond = second;
  }

  private lastPolledSecond = 0;

  private periodicTick(now: number): void {
    this.raise(C_PF);
    const period = this.periodNs();
    if (this.cmos[REG_B] & B_PIE && period > 0) this.periodicTimer.arm(now + period);
  }

  private secondTick(now: number): void {
    if (!this.running()) return;
    this.raise(C_UF);
    const d = new Date(this.epochMsAt(now));
    // Alarm bytes with the two high bits set match any value (datasheet, "Alarm").
    const match = (alarm: number, field: number) => (this.cmos[alarm] & 0xc0) === 0xc0 || this.cmos[alarm] === this.timeField(field, d);
    if (match(1, 0) && match(3, 2) && match(5, 4)) this.raise(C_AF);
    this.secondTimer.arm(this.nextSecond(now));
  }

  private raise(flag: number): void {
    this.cmos[REG_C] |= flag;
    const enabled = this.cmos[REG_B] & (B_PIE | B_AIE | B_UIE);
    // Flags map onto enables one to one (PF<->PIE, AF<->AIE, UF<->UIE).
    if (this.cmos[REG_C] & enabled & (C_PF | C_AF | C_UF)) {
      this.cmos[REG_C] |= C_IRQF;
      this.setIrq(true);
    }
  }

  private setIrq(level: boolean): void {
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq(level);
  }
}
