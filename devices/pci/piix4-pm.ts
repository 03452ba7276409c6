// The power-management function of the Intel 82371AB PIIX4 (PCI 00:01.3, 8086:7113), which QEMU's
// pc machine pairs with the PIIX3: the ACPI fixed hardware of the machine.
// Facts: 82371AB PIIX4 datasheet §3.4 (function 3 configuration: PMBA at 0x40, DEVACTB at 0x58,
// PMREGMISC at 0x80, SMBBA at 0x90, SMBHSTCFG at 0xD2) and §7.2 "Power Management I/O Registers"
// (PMSTS, PMEN, PMCNTRL, PMTMR); ACPI 6.4 §4.8.3 (PM1 event/control registers and bit meanings,
// PM timer at 3.579545 MHz, SCI) and §4.8.4 (GPE blocks).
// QEMU 7.2 specifics kept here: the SCI is ISA IRQ 9, GPE0 is a 4-byte block at I/O 0xAFE0, the
// APM control port 0xB2 takes 0xF1/0xF0 to set/clear SCI_EN (the FADT's ACPI_ENABLE/DISABLE), and
// SLP_TYP 0 (the \_S5 value of QEMU's DSDT) or 2 (\_S4) with SLP_EN powers the machine off.
// tsemu has no System Management Mode: DEVACTB's APMC_EN reads as already set, as QEMU does with
// SMM disabled, which tells SeaBIOS not to try to relocate SMBASE.

import type { IoBus } from '../io-bus.ts';
import type { DeviceTimer, TimeSource } from '../time-source.ts';
import { PciFunction } from './pci.ts';

const PMBA = 0x40;
const DEVACTB_APMC_EN_BYTE = 0x5b; // bit 25 of DEVACTB (0x58) is bit 1 of this byte
const PMREGMISC = 0x80;
const SMBBA = 0x90;
const SMBHSTCFG = 0xd2;

/** PM1 status/enable bits (ACPI §4.8.3.1, PIIX4 PMSTS/PMEN). */
export const PM1_TMR = 0x0001;
export const PM1_GBL = 0x0020;
export const PM1_PWRBTN = 0x0100;
export const PM1_RTC = 0x0400;
export const PM1_WAK = 0x8000;
/** Status bits that can raise the SCI (with the matching enable bit). */
const PM1_SCI_SOURCES = PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_RTC;
/** PM1 control (ACPI §4.8.3.2.1): SCI_EN, SLP_TYP (bits 12:10), SLP_EN (write-only). */
export const PM1_SCI_EN = 0x0001;
const PM1_SLP_EN = 0x2000;

/** ACPI PM timer frequency (ACPI §4.8.3.3). */
export const PM_TIMER_HZ = 3_579_545;
/** The timer is 24 bits wide (the FADT leaves TMR_VAL_EXT clear); TMR_STS rises when bit 23 flips. */
const TMR_MASK = 0xffffff;
const TMR_HALF = 0x800000;

export const APM_CONTROL_PORT = 0xb2;
export const ACPI_ENABLE = 0xf1;
export const ACPI_DISABLE = 0xf0;
export const GPE0_BASE = 0xafe0;
/** The SCI's ISA interrupt on QEMU's pc machine. */
export const SCI_IRQ = 9;

export interface Piix4PmOptions {
  clock: TimeSource;
  /** The SCI line (ISA IRQ 9). */
  sci: (level: boolean) => void;
  /** The guest asked for soft-off (S5) or S4. */
  powerOff: () => void;
  /** Whether COM1 exists (QEMU reflects it in a decode-enable byte at 0x67). */
  serial?: boolean;
}

export class Piix4Pm extends PciFunction {
  private sts = 0;
  private en = 0;
  private cnt = 0;
  private gpeSts = 0;
  private gpeEn = 0;
  private apmc = 0;
  private apms = 0;
  private sciLevel = false;
  /** PM timer count (not masked to 24 bits) at which TMR_STS must next be set. */
  private nextOverflow = TMR_HALF;
  private readonly overflowTimer: DeviceTimer;
  private ioBus: IoBus | null = null;
  private mappedBase: number | null = null;
  private readonly pmPorts = {
    maxSize: 4,
    read: (port: number, size: number) => this.pmRead(port - (this.mappedBase ?? 0), size),
    write: (port: number, size: number, v: number) => this.pmWrite(port - (this.mappedBase ?? 0), size, v),
  };

  constructor(private readonly opts: Piix4PmOptions) {
    super('PIIX4 PM', {
      vendorId: 0x8086,
      deviceId: 0x7113,
      revision: 0x03,
      classCode: 0x068000,
      status: 0x0280, // fast back-to-back capable, DEVSEL# medium
      interruptPin: 1,
    });
    this.config[PMBA] = 0x01; // I/O space indicator
    this.config[DEVACTB_APMC_EN_BYTE] = 0x02; // no SMM: see the header comment
    this.config[0x5f] = 0x10;
    this.config[0x63] = 0x60;
    this.config[0x67] = opts.serial ? 0x08 : 0x00;
    this.set32(SMBBA, 0xb101);
    this.config[SMBHSTCFG] = 0x09;
    this.sealInitialState();
    this.overflowTimer = opts.clock.createTimer(() => this.timerTick());
  }

  /** Ports that do not move: the APM control/status pair and the GPE0 block. */
  attach(bus: IoBus): void {
    this.ioBus = bus;
    bus.registerPorts(APM_CONTROL_PORT, 2, {
      read: (port) => (port === APM_CONTROL_PORT ? this.apmc : this.apms),
      write: (port, _size, v) => {
        if (port !== APM_CONTROL_PORT) {
          this.apms = v;
          return;
        }
        this.apmc = v;
        if (v === ACPI_ENABLE) this.cnt |= PM1_SCI_EN;
        else if (v === ACPI_DISABLE) this.cnt &= ~PM1_SCI_EN;
      },
    });
    bus.registerPorts(GPE0_BASE, 4, {
      read: (port) => this.gpeByte(port - GPE0_BASE),
      write: (port, _size, v) => this.gpeWrite(port - GPE0_BASE, v),
    });
    this.updatePmMapping();
  }

  /** PM timer count now (24 bits), 3.579545 MHz of virtual time. */
  timerValue(): number {
    return this.ticks() & TMR_MASK;
  }

  /** Latch a GPE0 status bit (devices that raise general-purpose events); SCI if enabled. */
  raiseGpe(bit: number): void {
    this.gpeSts |= 1 << bit;
    this.updateSci();
  }

  /** Press the power button: PWRBTN_STS, and an SCI if PWRBTN_EN (ACPI §4.8.2.2.1.1). */
  pressPowerButton(): void {
    this.sts |= PM1_PWRBTN;
    this.updateSci();
  }

  /** What SeaBIOS programs: PM I/O at 0x600 (enabled), SMBus at 0x700 (enabled), SCI line 9. */
  setBiosState(): void {
    this.set32(PMBA, 0x601);
    this.config[PMREGMISC] = 0x01;
    this.set32(SMBBA, 0x701);
    this.config[SMBHSTCFG] = 0x09;
    this.config[0x3c] = SCI_IRQ;
    this.set16(0x04, this.command | 0x0103);
    this.updatePmMapping();
  }

  override reset(): void {
    super.reset();
    this.sts = 0;
    this.en = 0;
    this.cnt = 0;
    this.gpeSts = 0;
    this.gpeEn = 0;
    this.apmc = 0;
    this.apms = 0;
    this.nextOverflow = (Math.floor(this.ticks() / TMR_HALF) + 1) * TMR_HALF;
    this.overflowTimer.disarm();
    this.updateSci();
    this.updatePmMapping();
  }

  /** Where the PM registers decode now (null: PMREGMISC.PMIOSE clear). */
  get pmBase(): number | null {
    return this.mappedBase;
  }

  protected override configWritten(offset: number, size: number, old: Uint8Array): void {
    super.configWritten(offset, size, old);
    const end = offset + size;
    if ((offset < PMBA + 4 && end > PMBA) || (offset <= PMREGMISC && end > PMREGMISC)) this.updatePmMapping();
  }

  /** PMBA bits 15:6 give the 64-byte block; PMREGMISC bit 0 enables it (PIIX4 §3.4.2.x). */
  private updatePmMapping(): void {
    const want = this.config[PMREGMISC] & 1 ? this.get32(PMBA) & 0xffc0 : null;
    if (want === this.mappedBase || !this.ioBus) return;
    this.ioBus.unmapPorts(this.pmPorts);
    this.mappedBase = want;
    if (want !== null) this.ioBus.mapPorts(want, 64, this.pmPorts);
  }

  private ticks(): number {
    // Exact for any realistic run: 2^53 ns is 104 days.
    return Math.floor((this.opts.clock.now() * PM_TIMER_HZ) / 1e9);
  }

  /** Catch up on TMR_STS: the timer's bit 23 changed since we last looked. */
  private checkOverflow(): void {
    const t = this.ticks();
    if (t >= this.nextOverflow) {
      this.sts |= PM1_TMR;
      this.nextOverflow = (Math.floor(t / TMR_HALF) + 1) * TMR_HALF;
    }
  }

  private timerTick(): void {
    this.checkOverflow();
    this.updateSci();
  }

  /** Keep a timer armed for the next bit-23 flip while TMR_EN is set, so the SCI comes on time. */
  private armOverflow(): void {
    if (this.en & PM1_TMR) this.overflowTimer.arm(Math.ceil((this.nextOverflow * 1e9) / PM_TIMER_HZ));
    else this.overflowTimer.disarm();
  }

  private updateSci(): void {
    this.checkOverflow();
    const level = (this.sts & this.en & PM1_SCI_SOURCES) !== 0 || (this.gpeSts & this.gpeEn) !== 0;
    this.armOverflow();
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.opts.sci(level);
    }
  }

  private pmRegByte(off: number): number {
    switch (off) {
      case 0:
      case 1:
        this.checkOverflow();
        return (this.sts >> (8 * off)) & 0xff;
      case 2:
      case 3:
        return (this.en >> (8 * (off - 2))) & 0xff;
      case 4:
      case 5:
        return (this.cnt >> (8 * (off - 4))) & 0xff;
      case 8:
      case 9:
      case 10:
      case 11:
        return (this.timerValue() >>> (8 * (off - 8))) & 0xff;
      default:
        return 0xff; // not decoded by QEMU's PIIX4 PM block
    }
  }

  private pmRead(off: number, size: number): number {
    // The timer is read as one value so its bytes belong together.
    if (off === 8 && size === 4) return this.timerValue();
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.pmRegByte(off + i);
    return v >>> 0;
  }

  private pmWrite(off: number, size: number, value: number): void {
    // Gather the write per 16-bit register, then apply each register once.
    let stsClear = 0;
    let enMask = 0;
    let enBits = 0;
    let cntMask = 0;
    let cntBits = 0;
    for (let i = 0; i < size; i++) {
      const o = off + i;
      const b = (value >>> (8 * i)) & 0xff;
      if (o === 0 || o === 1) stsClear |= b << (8 * o);
      else if (o === 2 || o === 3) {
        enMask |= 0xff << (8 * (o - 2));
        enBits |= b << (8 * (o - 2));
      } else if (o === 4 || o === 5) {
        cntMask |= 0xff << (8 * (o - 4));
        cntBits |= b << (8 * (o - 4));
      }
    }
    if (stsClear) {
      // Status bits are cleared by writing 1 (ACPI §4.8.3.1.1); a timer overflow that already
      // happened must be seen before it can be cleared.
      this.checkOverflow();
      this.sts &= ~stsClear;
    }
    if (enMask) this.en = (this.en & ~enMask) | (enBits & enMask);
    if (cntMask) {
      const v = (this.cnt & ~cntMask) | (cntBits & cntMask);
      this.cnt = v & ~PM1_SLP_EN; // SLP_EN is write-only and reads as 0
      if (v & PM1_SLP_EN) this.sleep((v >> 10) & 7);
    }
    this.updateSci();
  }

  private sleep(type: number): void {
    // QEMU's DSDT: \_S5 = 0 (soft off), \_S4 = 2 (treated as power off), \_S3 = 1 (suspend to RAM,
    // not implemented: the write is ignored and the guest keeps running).
    if (type === 0 || type === 2) this.opts.powerOff();
  }

  private gpeByte(off: number): number {
    return off < 2 ? (this.gpeSts >> (8 * off)) & 0xff : (this.gpeEn >> (8 * (off - 2))) & 0xff;
  }

  private gpeWrite(off: number, v: number): void {
    if (off < 2) this.gpeSts &= ~(v << (8 * off));
    else {
      const shift = 8 * (off - 2);
      this.gpeEn = (this.gpeEn & ~(0xff << shift)) | (v << shift);
    }
    this.updateSci();
  }
}
