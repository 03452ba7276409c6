import { describe, expect, it } from 'vitest';
import { Clock } from '../emulator/clock.ts';

describe('virtual clock', () => {
  it('follows host time by default', async () => {
    const c = new Clock();
    const a = c.now();
    await new Promise((r) => setTimeout(r, 20));
    expect(c.now() - a).toBeGreaterThanOrEqual(15e6);
    expect(() => c.advance(1)).toThrow(/frozen/);
  });

  it('can be frozen and moved by hand, firing timers in deadline order', () => {
    const c = new Clock({ frozen: true });
    const fired: [string, number][] = [];
    const a = c.createTimer((now) => fired.push(['a', now]));
    const b = c.createTimer((now) => {
      fired.push(['b', now]);
      if (now < 300) b.arm(now + 100); // periodic by re-arming
    });
    a.arm(150);
    b.arm(100);
    expect(c.nextDeadline()).toBe(100);
    c.advance(350);
    expect(fired).toEqual([
      ['b', 100],
      ['a', 150],
      ['b', 200],
      ['b', 300],
    ]);
    expect(c.now()).toBe(350);
    expect(c.nextDeadline()).toBeNull();
    expect(() => c.set(10)).toThrow(/backwards/);
  });

  it('disarmed timers do not fire; freeze() stops a running clock', () => {
    const c = new Clock();
    let n = 0;
    const t = c.createTimer(() => n++);
    t.arm(0);
    t.disarm();
    c.runDue();
    expect(n).toBe(0);
    c.freeze();
    const f = c.now();
    expect(c.now()).toBe(f);
  });

  it('thaw() goes on from where freeze() stopped, without the time in between', async () => {
    const c = new Clock();
    c.freeze();
    const stoppedAt = c.now();
    await new Promise((r) => setTimeout(r, 30));
    expect(c.now()).toBe(stoppedAt);
    c.thaw();
    expect(c.frozen).toBe(false);
    const after = c.now();
    expect(after).toBeGreaterThanOrEqual(stoppedAt);
    expect(after - stoppedAt).toBeLessThan(20e6);
    await new Promise((r) => setTimeout(r, 5));
    expect(c.now()).toBeGreaterThan(after);
  });
});
