import { beforeEach, describe, expect, it } from 'vitest';
import { HPET_DEFAULT_BASE, HPET_PERIOD_FS, Hpet } from '../devices/hpet.ts';
import { IoBus } from '../devices/io-bus.ts';
import { Clock } from '../emulator/clock.ts';

const B = HPET_DEFAULT_BASE;
const CONF = 0x10;
const STATUS = 0x20;
const COUNTER = 0xf0;
const TCFG = (n: number) => 0x100 + 0x20 * n;
const TCMP = (n: number) => 0x108 + 0x20 * n;
const ENABLE = 1;
const LEGACY = 2;
const LEVEL = 0x2;
const ENB = 0x4;
const PERIODIC = 0x8;
const VALSET = 0x40;
const MODE32 = 0x100;
const ROUTE = (r: number) => r << 9;
/** ns per main-counter tick. */
const TICK = HPET_PERIOD_FS / 1e6;

let bus: IoBus;
let clock: Clock;
let hpet: Hpet;
/** Every setIrq call, in order. */
let events: { line: number; level: boolean; at: number }[];
let levels: Map<number, boolean>;

const rd = (reg: number) => bus.mmioRead(B + reg, 4);
const wr = (reg: number, v: number) => bus.mmioWrite(B + reg, 4, v);
const counter = () => BigInt(rd(COUNTER + 4)) * 2n ** 32n + BigInt(rd(COUNTER));
const setCounter = (v: bigint) => {
  wr(COUNTER, Number(v & 0xffffffffn));
  wr(COUNTER + 4, Number(v >> 32n));
};
/** Rising edges on `line` so far. */
const rises = (line: number) => {
  let n = 0;
  let prev = false;
  for (const e of events.filter((x) => x.line === line)) {
    if (e.level && !prev) n++;
    prev = e.level;
  }
  return n;
};

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  events = [];
  levels = new Map();
  hpet = new Hpet({
    clock,
    setIrq: (line, level) => {
      events.push({ line, level, at: clock.now() });
      levels.set(line, level);
    },
  });
  hpet.attach(bus);
  events = [];
});

describe('registers after reset', () => {
  it('announces QEMU pc HPET capabilities', () => {
    expect(rd(0x0)).toBe(0x8086a201); // vendor 8086, legacy capable, 64-bit, 3 timers, rev 1
    expect(rd(0x4)).toBe(10_000_000); // 10 ns: 100 MHz
    expect(hpet.capabilities).toBe(0x00989680_8086a201n);
    expect(rd(CONF)).toBe(0);
    expect(rd(STATUS)).toBe(0);
    expect(counter()).toBe(0n);
    for (let n = 0; n < 3; n++) {
      expect(rd(TCFG(n))).toBe(0x30); // periodic and 64-bit capable
      expect(rd(TCFG(n) + 4)).toBe(0x4); // route capability: I/O APIC input 2
      expect(rd(TCMP(n))).toBe(0xffffffff);
      expect(rd(TCMP(n) + 4)).toBe(0xffffffff);
    }
    expect(rd(TCFG(3))).toBe(0);
  });

  it('keeps only the writable bits, and ignores narrow accesses', () => {
    wr(TCFG(1), 0xffffffff);
    expect(rd(TCFG(1))).toBe(0x7f7e);
    expect(rd(TCMP(1) + 4)).toBe(0); // 32-bit mode truncated the comparator
    wr(TCFG(1) + 4, 0xffffffff);
    expect(rd(TCFG(1) + 4)).toBe(4);
    wr(CONF, 0xffffffff);
    expect(rd(CONF)).toBe(3);
    wr(CONF, 0);
    wr(0, 0);
    expect(rd(0)).toBe(0x8086a201);
    expect(bus.mmioRead(B, 1)).toBe(0);
    expect(bus.mmioRead(B, 2)).toBe(0);
    expect(bus.mmioRead(B + 1, 4)).toBe(0);
    bus.mmioWrite(B + CONF, 1, 1);
    expect(rd(CONF)).toBe(0);
  });

  it('handles comparator writes in periodic mode with and without Tn_VAL_SET', () => {
    wr(TCMP(0), 0x11111111);
    wr(TCMP(0) + 4, 0x22222222);
    expect(rd(TCMP(0))).toBe(0x11111111);
    expect(rd(TCMP(0) + 4)).toBe(0x22222222);
    wr(TCFG(0), PERIODIC | VALSET);
    expect(rd(TCFG(0))).toBe(0x78);
    wr(TCMP(0), 100);
    expect(rd(TCFG(0))).toBe(0x38); // VAL_SET clears itself
    expect(rd(TCMP(0))).toBe(100);
    wr(TCMP(0), 300); // only the period changes
    expect(rd(TCMP(0))).toBe(100);
    wr(TCFG(0), MODE32);
    expect(rd(TCMP(0) + 4)).toBe(0);
  });
});

describe('main counter', () => {
  it('counts at 100 MHz only while enabled', () => {
    clock.advance(1000);
    expect(counter()).toBe(0n);
    wr(CONF, ENABLE);
    clock.advance(1_000_000); // 1 ms
    expect(counter()).toBe(100_000n);
    wr(CONF, 0);
    clock.advance(1_000_000);
    expect(counter()).toBe(100_000n);
  });

  it('is writable while halted, ignores writes while running', () => {
    setCounter(0x1_2345_6789n);
    expect(counter()).toBe(0x1_2345_6789n);
    wr(CONF, ENABLE);
    clock.advance(25);
    expect(counter()).toBe(0x1_2345_678bn);
    setCounter(0n);
    expect(counter()).toBe(0x1_2345_678bn);
    wr(CONF, 0);
    expect(counter()).toBe(0x1_2345_678bn);
  });

  it('wraps at 64 bits', () => {
    setCounter(0xffff_ffff_ffff_fffen);
    wr(CONF, ENABLE);
    clock.advance(50);
    expect(counter()).toBe(3n);
  });
});

describe('comparators', () => {
  it('one-shot edge interrupt on the routed line, once', () => {
    wr(TCMP(2), 1000);
    wr(TCMP(2) + 4, 0);
    wr(TCFG(2), ENB | ROUTE(2));
    wr(CONF, ENABLE);
    clock.advance(1000 * TICK - 1);
    expect(rises(2)).toBe(0);
    clock.advance(1);
    expect(rises(2)).toBe(1);
    expect(events.at(-1)).toEqual({ line: 2, level: false, at: 1000 * TICK });
    expect(rd(STATUS)).toBe(0); // edge mode does not use the status bit
    clock.advance(10_000_000);
    expect(rises(2)).toBe(1);
    expect(rd(TCMP(2))).toBe(1000); // one-shot comparators are never changed by hardware
  });

  it('level interrupt holds the line until the status bit is written with 1', () => {
    wr(TCMP(1), 500);
    wr(TCMP(1) + 4, 0);
    wr(TCFG(1), LEVEL | ENB | ROUTE(20));
    wr(CONF, ENABLE);
    clock.advance(500 * TICK);
    expect(levels.get(20)).toBe(true);
    expect(rd(STATUS)).toBe(2);
    wr(STATUS, 1); // other bits: no effect
    expect(rd(STATUS)).toBe(2);
    wr(STATUS, 2);
    expect(rd(STATUS)).toBe(0);
    expect(levels.get(20)).toBe(false);
  });

  it('a level match with Tn_INT_ENB clear sets no status; disabling drops a pending one', () => {
    wr(TCMP(0), 10);
    wr(TCMP(0) + 4, 0);
    wr(TCFG(0), LEVEL | ROUTE(2));
    wr(CONF, ENABLE);
    clock.advance(100 * TICK);
    expect(rd(STATUS)).toBe(0);
    wr(CONF, 0);
    setCounter(0n);
    wr(TCFG(0), LEVEL | ENB | ROUTE(2));
    wr(CONF, ENABLE);
    clock.advance(100 * TICK);
    expect(rd(STATUS)).toBe(1);
    wr(CONF, 0); // halting clears status and lowers the line
    expect(rd(STATUS)).toBe(0);
    expect(levels.get(2)).toBe(false);
  });

  it('periodic mode adds the period at each match', () => {
    wr(TCFG(0), ENB | PERIODIC | VALSET | ROUTE(2));
    wr(TCMP(0) + 4, 0);
    wr(TCFG(0), ENB | PERIODIC | VALSET | ROUTE(2));
    wr(TCMP(0), 200);
    wr(CONF, ENABLE);
    const at: number[] = [];
    for (let i = 0; i < 10; i++) {
      clock.advance(100 * TICK);
      if (rises(2) > at.length) at.push(clock.now() / TICK);
    }
    expect(at).toEqual([200, 400, 600, 800, 1000]);
    expect(rd(TCMP(0))).toBe(1200);
  });

  it('periodic mode skips periods slept through, firing once', () => {
    // A time source whose timers fire late, as when the host fell behind.
    let now = 0;
    const timers: { deadline: number | null; cb: (t: number) => void }[] = [];
    const late = {
      now: () => now,
      createTimer: (cb: (t: number) => void) => {
        const t = { deadline: null as number | null, cb };
        timers.push(t);
        return { arm: (d: number) => { t.deadline = d; }, disarm: () => { t.deadline = null; } };
      },
    };
    const seen: boolean[] = [];
    hpet = new Hpet({ clock: late, setIrq: (line, level) => { if (line === 2) seen.push(level); } });
    bus = new IoBus();
    hpet.attach(bus);
    wr(TCFG(0), ENB | PERIODIC | VALSET | ROUTE(2));
    wr(TCMP(0) + 4, 0);
    wr(TCFG(0), ENB | PERIODIC | VALSET | ROUTE(2));
    wr(TCMP(0), 100);
    wr(CONF, ENABLE);
    seen.length = 0;
    now = 1050 * TICK;
    for (const t of timers) if (t.deadline !== null && t.deadline <= now) { t.deadline = null; t.cb(now); }
    expect(seen).toEqual([true, false]);
    expect(rd(TCMP(0))).toBe(1100);
    expect(timers.find((t) => t.deadline !== null)?.deadline).toBe(1100 * TICK);
  });

  it('a comparator already passed fires at the next tick', () => {
    setCounter(5000n);
    wr(TCMP(2), 1000);
    wr(TCMP(2) + 4, 0);
    wr(TCFG(2), ENB | ROUTE(2));
    wr(CONF, ENABLE);
    clock.advance(TICK);
    expect(rises(2)).toBe(1);
  });

  it('32-bit one-shot: an interrupt at the wrap of the low 32 bits, then at the match', () => {
    setCounter(0xffff_ff00n);
    wr(TCFG(2), ENB | MODE32 | ROUTE(2));
    wr(TCMP(2), 0x100);
    wr(CONF, ENABLE);
    clock.advance(0xff * TICK);
    expect(rises(2)).toBe(0);
    clock.advance(TICK); // counter 0x1_0000_0000
    expect(rises(2)).toBe(1);
    clock.advance(0xff * TICK);
    expect(rises(2)).toBe(1);
    clock.advance(TICK); // low 32 bits = 0x100
    expect(rises(2)).toBe(2);
    clock.advance(0x1000 * TICK);
    expect(rises(2)).toBe(2);
  });

  it('32-bit periodic mode compares and advances the low 32 bits across the wrap', () => {
    setCounter(0xffff_ff00n);
    wr(TCFG(0), ENB | PERIODIC | VALSET | MODE32 | ROUTE(2));
    wr(TCMP(0), 0x80); // comparator and period 0x80: the match is 0x180 ticks away
    wr(CONF, ENABLE);
    clock.advance(0x17f * TICK);
    expect(rises(2)).toBe(0);
    clock.advance(TICK);
    expect(rises(2)).toBe(1);
    expect(rd(TCMP(0))).toBe(0x100);
    clock.advance(0x80 * TICK);
    expect(rises(2)).toBe(2);
    expect(rd(TCMP(0))).toBe(0x180);
    expect(rd(TCMP(0) + 4)).toBe(0);
  });

  it('64-bit comparators ignore the 32-bit wrap', () => {
    setCounter(0xffff_ff00n);
    wr(TCMP(2), 0x100);
    wr(TCMP(2) + 4, 1);
    wr(TCFG(2), ENB | ROUTE(2));
    wr(CONF, ENABLE);
    clock.advance(0x1ff * TICK);
    expect(rises(2)).toBe(0);
    clock.advance(TICK);
    expect(rises(2)).toBe(1);
  });
});

describe('legacy replacement', () => {
  it('routes timer 0 to IRQ0 and timer 1 to IRQ8 and cuts off the PIT and RTC', () => {
    hpet.pitInput(true);
    hpet.rtcInput(true);
    expect(levels.get(0)).toBe(true);
    expect(levels.get(8)).toBe(true);
    wr(CONF, LEGACY);
    expect(levels.get(0)).toBe(false);
    expect(levels.get(8)).toBe(false);
    hpet.pitInput(false);
    hpet.pitInput(true);
    expect(levels.get(0)).toBe(false);
    events = [];
    wr(TCMP(0), 100);
    wr(TCMP(0) + 4, 0);
    wr(TCFG(0), ENB | ROUTE(2)); // the route field does not matter in legacy mode
    wr(TCMP(1), 200);
    wr(TCMP(1) + 4, 0);
    wr(TCFG(1), ENB);
    wr(CONF, LEGACY | ENABLE);
    clock.advance(300 * TICK);
    expect(rises(0)).toBe(1);
    expect(rises(8)).toBe(1);
    expect(rises(2)).toBe(0);
    // Leaving legacy mode gives the lines back at the levels the PIT and RTC hold.
    wr(CONF, ENABLE);
    expect(levels.get(0)).toBe(true);
    expect(levels.get(8)).toBe(true);
  });
});

it('FSB delivery writes the message when a callback is given', () => {
  const writes: [number, number][] = [];
  hpet = new Hpet({ clock, setIrq: () => {}, fsbWrite: (a, v) => writes.push([a, v]) });
  bus = new IoBus();
  hpet.attach(bus);
  wr(0x110 + 0x20 * 2, 0x41);
  wr(0x114 + 0x20 * 2, 0xfee00000);
  wr(TCMP(2), 10);
  wr(TCMP(2) + 4, 0);
  wr(TCFG(2), ENB | 0x4000);
  wr(CONF, ENABLE);
  clock.advance(10 * TICK);
  expect(writes).toEqual([[0xfee00000, 0x41]]);
});

it('reset returns to the power-on state', () => {
  wr(TCFG(0), ENB | LEVEL);
  wr(TCMP(0), 5);
  wr(CONF, ENABLE | LEGACY);
  clock.advance(10 * TICK);
  hpet.reset();
  expect(rd(CONF)).toBe(0);
  expect(rd(STATUS)).toBe(0);
  expect(rd(TCFG(0))).toBe(0x30);
  expect(rd(TCMP(0))).toBe(0xffffffff);
  expect(counter()).toBe(0n);
});
