import { describe, expect, it } from 'vitest';
import { DebugExit } from '../devices/debug-exit.ts';
import { IoBus } from '../devices/io-bus.ts';
import { Port92 } from '../devices/port92.ts';

describe('I/O bus', () => {
  it('unclaimed ports and addresses read all ones and ignore writes', () => {
    const bus = new IoBus();
    expect(bus.portRead(0x1234, 1)).toBe(0xff);
    expect(bus.portRead(0x1234, 2)).toBe(0xffff);
    expect(bus.portRead(0x1234, 4)).toBe(0xffffffff);
    bus.portWrite(0x1234, 4, 0xdeadbeef);
    expect(bus.mmioRead(0xfee00000, 4)).toBe(0xffffffff);
  });

  it('splits wide accesses into bytes for byte-wide devices', () => {
    const bus = new IoBus();
    const regs = [0x11, 0x22, 0x33, 0x44];
    const writes: [number, number][] = [];
    bus.registerPorts(0x300, 4, {
      read: (p) => regs[p - 0x300],
      write: (p, size, v) => writes.push([p, v]),
    });
    expect(bus.portRead(0x300, 2)).toBe(0x2211);
    expect(bus.portRead(0x300, 4)).toBe(0x44332211);
    bus.portWrite(0x302, 2, 0xbeef);
    expect(writes).toEqual([
      [0x302, 0xef],
      [0x303, 0xbe],
    ]);
    // Half claimed, half floating.
    expect(bus.portRead(0x303, 2)).toBe(0xff44);
  });

  it('passes wide accesses whole to devices that decode them', () => {
    const bus = new IoBus();
    let seen: [number, number] | null = null;
    bus.registerPorts(0xcfc, 4, { maxSize: 4, read: (_p, size) => size, write: (_p, size, v) => (seen = [size, v]) });
    expect(bus.portRead(0xcfc, 4)).toBe(4);
    bus.portWrite(0xcfc, 4, 0x80000000);
    expect(seen).toEqual([4, 0x80000000]);
  });

  it('refuses double claims', () => {
    const bus = new IoBus();
    const h = { read: () => 0, write: () => {} };
    bus.registerPorts(0x60, 1, h);
    expect(() => bus.registerPorts(0x60, 1, h)).toThrow(/claimed twice/);
  });

  it('dispatches MMIO by physical address with region-relative offsets', () => {
    const bus = new IoBus();
    const log: number[] = [];
    bus.registerMmio(0xfec00000, 0x1000, { read: (off) => off, write: (off, _s, v) => log.push(off, v) });
    expect(bus.mmioRead(0xfec00010, 4)).toBe(0x10);
    bus.mmioWrite(0xfec00020, 4, 7);
    expect(log).toEqual([0x20, 7]);
    expect(bus.mmioRegions()).toEqual([{ base: 0xfec00000, length: 0x1000, handler: expect.anything() }]);
    expect(() => bus.registerMmio(0xfec00800, 0x1000, { read: () => 0, write: () => {} })).toThrow(/overlaps/);
  });
});

describe('port 0x92', () => {
  it('drives A20 from bit 1 and resets on a 0->1 change of bit 0', () => {
    const bus = new IoBus();
    const a20: boolean[] = [];
    let resets = 0;
    new Port92((on) => a20.push(on), () => resets++).attach(bus);
    expect(bus.portRead(0x92, 1)).toBe(0);
    bus.portWrite(0x92, 1, 0x02);
    expect(a20).toEqual([true]);
    expect(bus.portRead(0x92, 1)).toBe(0x02);
    bus.portWrite(0x92, 1, 0x03);
    bus.portWrite(0x92, 1, 0x03); // still 1: no second reset
    expect(resets).toBe(1);
    bus.portWrite(0x92, 1, 0x00);
    expect(a20.at(-1)).toBe(false);
  });
});

describe('isa-debug-exit', () => {
  it('exits with (v << 1) | 1 at the configured ports', () => {
    const bus = new IoBus();
    const codes: number[] = [];
    new DebugExit((s) => codes.push(s), 0xf4, 4).attach(bus);
    bus.portWrite(0xf4, 1, 0x10);
    bus.portWrite(0xf7, 1, 0);
    bus.portWrite(0xf4, 4, 0x31);
    expect(codes).toEqual([0x21, 1, 0x63]);
  });

  it('defaults to QEMU\'s iobase 0x501, iosize 2', () => {
    const bus = new IoBus();
    const codes: number[] = [];
    new DebugExit((s) => codes.push(s)).attach(bus);
    bus.portWrite(0x502, 1, 1);
    bus.portWrite(0x503, 1, 1);
    expect(codes).toEqual([3]);
  });
});
