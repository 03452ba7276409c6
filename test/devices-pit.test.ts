import { beforeEach, describe, expect, it } from 'vitest';
import { IoBus } from '../devices/io-bus.ts';
import { PIT_HZ, Pit } from '../devices/pit.ts';
import { Clock } from '../emulator/clock.ts';

let bus: IoBus;
let clock: Clock;
let pit: Pit;
let irq: boolean[];

const out = (port: number, v: number) => bus.portWrite(port, 1, v);
const inb = (port: number) => bus.portRead(port, 1);
/** The ns at which PIT tick t begins (relative to time 0, where the tests start). */
const ns = (ticks: number) => Math.ceil((ticks * 1e9) / PIT_HZ);
const toTick = (t: number) => clock.set(ns(t));
const risingEdges = () => irq.filter((l, i) => l && i > 0 && !irq[i - 1]).length;

function program(channel: number, mode: number, count: number, bcd = false): void {
  out(0x43, (channel << 6) | 0x30 | (mode << 1) | (bcd ? 1 : 0));
  out(0x40 + channel, count & 0xff);
  out(0x40 + channel, count >> 8);
}

function latchedCount(channel: number): number {
  out(0x43, channel << 6); // counter latch command
  return inb(0x40 + channel) | (inb(0x40 + channel) << 8);
}

function status(channel: number): number {
  out(0x43, 0xe0 | (2 << channel)); // read-back: status only
  return inb(0x40 + channel);
}

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  irq = [false];
  pit = new Pit(clock, (level) => irq.push(level));
  pit.attach(bus);
});

describe('8254 PIT', () => {
  it('mode 2 counts down, reloads and pulses IRQ0 once per period', () => {
    program(0, 2, 1000);
    toTick(100);
    expect(latchedCount(0)).toBe(900);
    toTick(999);
    expect(latchedCount(0)).toBe(1);
    expect(pit.channelState(0).out).toBe(false); // the one-tick low pulse at count 1
    toTick(1000);
    expect(latchedCount(0)).toBe(1000);
    expect(pit.channelState(0).out).toBe(true);
    const before = risingEdges();
    toTick(11_000);
    expect(risingEdges() - before).toBe(10);
  });

  it('replays a missed mode 2 pulse when the clock jumps', () => {
    program(0, 2, 100);
    const before = risingEdges();
    // Jump without stepping: the timer fires late but the edge must still happen.
    clock.set(ns(150));
    expect(risingEdges() - before).toBeGreaterThanOrEqual(1);
  });

  it('mode 3 is a square wave counting by two', () => {
    program(0, 3, 1000);
    toTick(1);
    expect(latchedCount(0)).toBe(998);
    toTick(499);
    expect(pit.channelState(0).out).toBe(true);
    toTick(500);
    expect(pit.channelState(0).out).toBe(false);
    toTick(1000);
    expect(pit.channelState(0).out).toBe(true);
    const before = risingEdges();
    toTick(6000);
    expect(risingEdges() - before).toBe(5);
  });

  it('mode 0 raises OUT at terminal count and keeps counting through zero', () => {
    program(0, 0, 300);
    const before = risingEdges();
    expect(pit.channelState(0).out).toBe(false);
    toTick(299);
    expect(pit.channelState(0).out).toBe(false);
    toTick(300);
    expect(pit.channelState(0).out).toBe(true);
    expect(irq.at(-1)).toBe(true);
    toTick(301);
    expect(latchedCount(0)).toBe(0xffff);
    toTick(400_000);
    expect(pit.channelState(0).out).toBe(true); // no second edge until reprogrammed
    expect(risingEdges() - before).toBe(1);
  });

  it('mode 0 holds its count while the gate is low', () => {
    out(0x61, 0x00); // gate 2 low
    program(2, 0, 500);
    toTick(100);
    expect(latchedCount(2)).toBe(500);
    out(0x61, 0x01);
    toTick(200);
    expect(latchedCount(2)).toBe(400);
    out(0x61, 0x00);
    toTick(300);
    expect(latchedCount(2)).toBe(400);
    out(0x61, 0x01);
    toTick(700);
    expect(inb(0x61) & 0x20).toBe(0x20); // OUT2 high after 500 counted ticks
  });

  it('mode 1 waits for a gate trigger (channel 2 via port 0x61)', () => {
    out(0x61, 0x00);
    program(2, 1, 200);
    toTick(50);
    expect(inb(0x61) & 0x20).toBe(0x20); // not triggered: OUT stays high
    out(0x61, 0x01); // rising edge triggers
    toTick(51);
    expect(inb(0x61) & 0x20).toBe(0);
    toTick(250);
    expect(inb(0x61) & 0x20).toBe(0x20);
    // Retrigger.
    out(0x61, 0x00);
    out(0x61, 0x01);
    toTick(260);
    expect(inb(0x61) & 0x20).toBe(0);
  });

  it('mode 4 strobes OUT low for one tick at terminal count', () => {
    program(0, 4, 100);
    toTick(99);
    expect(pit.channelState(0).out).toBe(true);
    toTick(100);
    expect(pit.channelState(0).out).toBe(false);
    toTick(101);
    expect(pit.channelState(0).out).toBe(true);
  });

  it('mode 5 strobes after a gate trigger', () => {
    out(0x61, 0x00);
    program(2, 5, 100);
    toTick(200);
    expect(inb(0x61) & 0x20).toBe(0x20);
    out(0x61, 0x01);
    toTick(300);
    expect(inb(0x61) & 0x20).toBe(0); // 200 + 100
    toTick(301);
    expect(inb(0x61) & 0x20).toBe(0x20);
  });

  it('supports low-byte-only and high-byte-only access', () => {
    out(0x43, 0x14); // channel 0, LSB only, mode 2
    out(0x40, 0x80);
    expect(pit.channelState(0).reload).toBe(0x80);
    toTick(16);
    out(0x43, 0x00);
    expect(inb(0x40)).toBe(0x70);
    out(0x43, 0x24); // MSB only, mode 2
    out(0x40, 0x02);
    expect(pit.channelState(0).reload).toBe(0x200);
  });

  it('a latched count is held until read, and a second latch is ignored', () => {
    program(0, 2, 5000);
    toTick(10);
    out(0x43, 0x00);
    toTick(2000);
    out(0x43, 0x00); // ignored: the first latch is still unread
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(4990);
    expect(latchedCount(0)).toBe(3000);
  });

  it('read-back reports status (OUT, null count, mode) before the count', () => {
    out(0x43, 0x34); // ch0 mode 2 both bytes
    expect(status(0) & 0x40).toBe(0x40); // null count until a count is written
    out(0x40, 0x10);
    out(0x40, 0x00);
    const s = status(0);
    expect(s & 0x40).toBe(0);
    expect(s & 0x3f).toBe(0x34);
    expect(s & 0x80).toBe(0x80);
    toTick(3);
    out(0x43, 0xc2); // latch count and status of channel 0
    expect(inb(0x40) & 0x3f).toBe(0x34);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(13);
  });

  it('counts in BCD', () => {
    program(0, 0, 0x1000, true); // 1000 decimal
    toTick(1);
    expect(latchedCount(0)).toBe(0x0999);
    toTick(1000);
    expect(latchedCount(0)).toBe(0);
    expect(pit.channelState(0).out).toBe(true);
  });

  it('a count of 0 means 65536', () => {
    program(0, 2, 0);
    toTick(1);
    expect(latchedCount(0)).toBe(0xffff);
  });

  it('nextDeadline points at the next OUT change of channel 0', () => {
    program(0, 2, 1000);
    expect(pit.nextDeadline()).toBe(ns(999));
    toTick(999);
    expect(pit.nextDeadline()).toBe(ns(1000));
    program(0, 0, 50);
    program(0, 0, 50);
    toTick(2000);
    expect(pit.nextDeadline()).toBeNull(); // mode 0 after terminal count: nothing more
  });

  it('port 0x61 reads gate, speaker enable and the refresh toggle', () => {
    out(0x61, 0x03);
    expect(inb(0x61) & 0x03).toBe(0x03);
    const a = inb(0x61) & 0x10;
    clock.advance(15_085);
    expect(inb(0x61) & 0x10).not.toBe(a);
  });

  it('BIOS state runs channel 0 at 18.2 Hz in mode 2', () => {
    pit.setBiosState();
    expect(pit.channelState(0)).toMatchObject({ mode: 2, reload: 0x10000 });
    const before = risingEdges();
    clock.advance(1e9);
    expect(risingEdges() - before).toBe(18);
  });
});
