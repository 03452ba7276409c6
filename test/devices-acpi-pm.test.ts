// The PIIX4 power-management function: the PM I/O block at PMBA, the ACPI PM timer, PM1
// status/enable/control with the SCI, GPE0, the APM port, and soft-off.

import { beforeEach, describe, expect, it } from 'vitest';
import { IoBus } from '../devices/io-bus.ts';
import { PciBus } from '../devices/pci/pci.ts';
import { PM_TIMER_HZ, Piix4Pm } from '../devices/pci/piix4-pm.ts';
import { Clock } from '../emulator/clock.ts';

let bus: IoBus;
let clock: Clock;
let pm: Piix4Pm;
let sci: boolean[];
let powerOffs: number;

function cfgWrite(reg: number, value: number, size = 4) {
  bus.portWrite(0xcf8, 4, (0x80000000 | (1 << 11) | (3 << 8) | (reg & 0xfc)) >>> 0);
  bus.portWrite(0xcfc + (reg & 3), size, value);
}
function cfgRead(reg: number, size = 4): number {
  bus.portWrite(0xcf8, 4, (0x80000000 | (1 << 11) | (3 << 8) | (reg & 0xfc)) >>> 0);
  return bus.portRead(0xcfc + (reg & 3), size);
}
const sciLevel = () => sci.at(-1) ?? false;

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  sci = [];
  powerOffs = 0;
  pm = new Piix4Pm({ clock, sci: (l) => sci.push(l), powerOff: () => powerOffs++ });
  const pci = new PciBus();
  pci.attach(bus);
  pci.add(1, 3, pm);
  pm.attach(bus);
});

/** Put the PM block at `base` the way SeaBIOS does. */
function enable(base = 0x600) {
  cfgWrite(0x40, base | 1);
  cfgWrite(0x80, 1, 1);
}

describe('PIIX4 PM', () => {
  it('decodes the PM block only with PMREGMISC set, at PMBA bits 15:6', () => {
    expect(bus.portRead(0x608, 4)).toBe(0xffffffff);
    cfgWrite(0x40, 0x601);
    expect(pm.pmBase).toBeNull();
    cfgWrite(0x80, 1, 1);
    expect(pm.pmBase).toBe(0x600);
    expect(bus.portRead(0x608, 4)).toBe(0);
    cfgWrite(0x40, 0xb03f); // low bits ignored
    expect(pm.pmBase).toBe(0xb000);
    expect(bus.portRead(0x608, 4)).toBe(0xffffffff);
    cfgWrite(0x80, 0, 1);
    expect(bus.portRead(0xb008, 4)).toBe(0xffffffff);
    expect(cfgRead(0x40)).toBe(0xb03f);
  });

  it('counts the PM timer at 3.579545 MHz in 24 bits', () => {
    enable();
    clock.advance(1e9);
    expect(bus.portRead(0x608, 4)).toBe(PM_TIMER_HZ);
    clock.advance(4e9); // 5 s = 17897725 ticks, wraps at 2^24
    expect(bus.portRead(0x608, 4)).toBe((PM_TIMER_HZ * 5) % 2 ** 24);
    expect(bus.portRead(0x608, 2)).toBe(((PM_TIMER_HZ * 5) % 2 ** 24) & 0xffff);
    expect(bus.portRead(0x60a, 1)).toBe((((PM_TIMER_HZ * 5) % 2 ** 24) >> 16) & 0xff);
    expect(bus.portRead(0x60b, 1)).toBe(0);
    bus.portWrite(0x608, 4, 0); // read-only
    expect(bus.portRead(0x608, 4)).toBe((PM_TIMER_HZ * 5) % 2 ** 24);
  });

  it('sets TMR_STS when bit 23 flips and raises the SCI with TMR_EN, cleared by writing 1', () => {
    enable();
    const half = (0x800000 / PM_TIMER_HZ) * 1e9;
    clock.advance(half - 1000);
    expect(bus.portRead(0x600, 2) & 1).toBe(0);
    clock.advance(2000);
    expect(bus.portRead(0x600, 2) & 1).toBe(1);
    expect(sciLevel()).toBe(false);
    bus.portWrite(0x602, 2, 0x0001); // TMR_EN: the pending status raises the SCI
    expect(sciLevel()).toBe(true);
    bus.portWrite(0x600, 2, 0x0001);
    expect(bus.portRead(0x600, 2) & 1).toBe(0);
    expect(sciLevel()).toBe(false);
    // The next overflow comes from a timer, without anybody polling.
    clock.set(2 * half + 1000);
    clock.runDue();
    expect(sciLevel()).toBe(true);
  });

  it('keeps enables and control as written; SLP_EN reads 0', () => {
    enable();
    bus.portWrite(0x602, 2, 0x0521);
    expect(bus.portRead(0x602, 2)).toBe(0x0521);
    bus.portWrite(0x603, 1, 0x00);
    expect(bus.portRead(0x602, 2)).toBe(0x0021);
    bus.portWrite(0x604, 2, 0x0c01); // SLP_TYP 3 without SLP_EN
    expect(bus.portRead(0x604, 2)).toBe(0x0c01);
    expect(powerOffs).toBe(0);
    expect(bus.portRead(0x620, 1)).toBe(0xff); // not decoded
  });

  it('powers off on SLP_EN with SLP_TYP 0 (S5) or 2 (S4), not with 1 (S3)', () => {
    enable();
    bus.portWrite(0x604, 2, 0x2000 | (1 << 10));
    expect(powerOffs).toBe(0);
    expect(bus.portRead(0x604, 2)).toBe(1 << 10);
    bus.portWrite(0x604, 2, 0x2000 | (2 << 10));
    expect(powerOffs).toBe(1);
    bus.portWrite(0x605, 1, 0x20); // a byte write to the high half works too
    expect(powerOffs).toBe(2);
  });

  it('sets and clears SCI_EN through the APM control port', () => {
    enable();
    bus.portWrite(0xb2, 1, 0xf1);
    expect(bus.portRead(0x604, 2) & 1).toBe(1);
    expect(bus.portRead(0xb2, 1)).toBe(0xf1);
    bus.portWrite(0xb2, 1, 0xf0);
    expect(bus.portRead(0x604, 2) & 1).toBe(0);
    bus.portWrite(0xb3, 1, 0x5a);
    expect(bus.portRead(0xb3, 1)).toBe(0x5a);
  });

  it('raises the SCI for power button and GPE events when enabled', () => {
    enable();
    pm.pressPowerButton();
    expect(sciLevel()).toBe(false);
    bus.portWrite(0x602, 2, 0x0100);
    expect(sciLevel()).toBe(true);
    bus.portWrite(0x600, 2, 0x0100);
    expect(sciLevel()).toBe(false);
    pm.raiseGpe(3);
    expect(bus.portRead(0xafe0, 1)).toBe(0x08);
    expect(sciLevel()).toBe(false);
    bus.portWrite(0xafe2, 1, 0x08);
    expect(sciLevel()).toBe(true);
    bus.portWrite(0xafe0, 1, 0x08);
    expect(sciLevel()).toBe(false);
    expect(bus.portRead(0xafe0, 4)).toBe(0x00080000);
  });

  it('resets registers and the mapping', () => {
    enable();
    bus.portWrite(0x602, 2, 0x0100);
    pm.pressPowerButton();
    expect(sciLevel()).toBe(true);
    pm.reset();
    expect(sciLevel()).toBe(false);
    expect(pm.pmBase).toBeNull();
    expect(cfgRead(0x40)).toBe(1);
    expect(cfgRead(0x58)).toBe(0x02000000);
  });

  it('sets what SeaBIOS leaves for directly booted kernels', () => {
    pm.setBiosState();
    expect(pm.pmBase).toBe(0x600);
    expect(cfgRead(0x40)).toBe(0x601);
    expect(cfgRead(0x90)).toBe(0x701);
    expect(cfgRead(0x3c, 1)).toBe(9);
  });
});
