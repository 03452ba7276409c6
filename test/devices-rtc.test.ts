import { beforeEach, describe, expect, it } from 'vitest';
import { IoBus } from '../devices/io-bus.ts';
import { Rtc } from '../devices/rtc.ts';
import { Clock } from '../emulator/clock.ts';

let bus: IoBus;
let clock: Clock;
let rtc: Rtc;
let irq: boolean;

// 2024-02-29 23:59:58 UTC, a Thursday.
const START = new Date(Date.UTC(2024, 1, 29, 23, 59, 58));

const read = (i: number) => {
  bus.portWrite(0x70, 1, i);
  return bus.portRead(0x71, 1);
};
const write = (i: number, v: number) => {
  bus.portWrite(0x70, 1, i);
  bus.portWrite(0x71, 1, v);
};

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  irq = false;
  rtc = new Rtc(clock, (level) => (irq = level), START);
  rtc.attach(bus);
});

describe('MC146818 RTC', () => {
  it('reads the date in BCD, 24-hour mode by default', () => {
    expect(read(0x0b)).toBe(0x02);
    expect(read(0x00)).toBe(0x58);
    expect(read(0x02)).toBe(0x59);
    expect(read(0x04)).toBe(0x23);
    expect(read(0x06)).toBe(0x05); // Thursday (Sunday = 1)
    expect(read(0x07)).toBe(0x29);
    expect(read(0x08)).toBe(0x02);
    expect(read(0x09)).toBe(0x24);
    expect(read(0x32)).toBe(0x20);
  });

  it('advances with the virtual clock across midnight', () => {
    clock.advance(3e9);
    expect(read(0x00)).toBe(0x01);
    expect(read(0x04)).toBe(0x00);
    expect(read(0x07)).toBe(0x01);
    expect(read(0x08)).toBe(0x03);
  });

  it('binary mode and 12-hour mode', () => {
    write(0x0b, 0x04 | 0x02);
    expect(read(0x00)).toBe(58);
    expect(read(0x04)).toBe(23);
    write(0x0b, 0x04); // binary, 12h
    expect(read(0x04)).toBe(0x80 | 11); // 11 PM
    write(0x0b, 0x00); // BCD, 12h
    expect(read(0x04)).toBe(0x80 | 0x11);
  });

  it('setting the time with SET freezes the registers and restarts from them', () => {
    write(0x0b, 0x82); // SET, 24h BCD
    write(0x04, 0x08);
    write(0x02, 0x30);
    write(0x00, 0x00);
    clock.advance(5e9);
    expect(read(0x00)).toBe(0x00); // frozen while SET
    write(0x0b, 0x02);
    clock.advance(61e9);
    expect(read(0x04)).toBe(0x08);
    expect(read(0x02)).toBe(0x31);
    expect(read(0x00)).toBe(0x01);
    expect(rtc.currentDate().toISOString()).toBe('2024-02-29T08:31:01.000Z');
  });

  it('sets UIP only in the 244 us before the seconds change', () => {
    expect(read(0x0a)).toBe(0x26);
    clock.set(1e9 - 200_000);
    expect(read(0x0a) & 0x80).toBe(0x80);
    clock.set(1e9 + 1000);
    expect(read(0x0a) & 0x80).toBe(0);
    write(0x0b, 0x82);
    clock.set(2e9 - 100_000);
    expect(read(0x0a) & 0x80).toBe(0); // no updates while SET
  });

  it('update-ended interrupt each second; reading C clears it', () => {
    write(0x0b, 0x12); // UIE
    clock.advance(1e9);
    expect(irq).toBe(true);
    expect(read(0x0c)).toBe(0x90);
    expect(irq).toBe(false);
    expect(read(0x0c)).toBe(0);
  });

  it('UF is visible to a poller even with UIE off', () => {
    read(0x0c);
    clock.advance(1.5e9);
    expect(read(0x0c) & 0x10).toBe(0x10);
    expect(irq).toBe(false);
  });

  it('periodic interrupt at the rate of register A', () => {
    write(0x0a, 0x2f); // rate 15: 2 Hz
    write(0x0b, 0x42); // PIE
    clock.advance(0.4e9);
    expect(irq).toBe(false);
    clock.advance(0.2e9);
    expect(irq).toBe(true);
    expect(read(0x0c)).toBe(0xc0);
    write(0x0a, 0x26); // 1024 Hz
    let count = 0;
    for (let i = 0; i < 1024; i++) {
      clock.advance(1e9 / 1024);
      if (read(0x0c) & 0x40) count++;
    }
    expect(count).toBeGreaterThanOrEqual(1023);
  });

  it('alarm interrupt when the time matches, with don\'t-care bytes', () => {
    write(0x01, 0x00); // second 00
    write(0x03, 0xc0); // any minute
    write(0x05, 0xff); // any hour
    write(0x0b, 0x22); // AIE
    clock.advance(1e9); // 23:59:59
    expect(irq).toBe(false);
    clock.advance(1e9); // 00:00:00
    expect(irq).toBe(true);
    expect(read(0x0c) & 0xa0).toBe(0xa0);
  });

  it('port 0x70 bit 7 is the NMI mask and not part of the index', () => {
    bus.portWrite(0x70, 1, 0x80 | 0x0b);
    expect(rtc.nmiMasked).toBe(true);
    expect(bus.portRead(0x71, 1)).toBe(0x02);
    bus.portWrite(0x70, 1, 0x0b);
    expect(rtc.nmiMasked).toBe(false);
  });

  it('keeps ordinary CMOS bytes and has read-only C and D', () => {
    write(0x40, 0x12);
    expect(read(0x40)).toBe(0x12);
    expect(read(0x0d)).toBe(0x80);
    write(0x0d, 0);
    expect(read(0x0d)).toBe(0x80);
  });
});
