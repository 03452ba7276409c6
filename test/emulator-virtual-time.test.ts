// emulator/timing.ts: how the machine's run loop moves its clock with the CPU. A fake CPU stands
// in for cpu/cpu.ts: it "retires" the instructions it is given.
import { describe, expect, it } from 'vitest';
import { Clock } from '../emulator/clock.ts';
import { LEAD_NS, VirtualTime } from '../emulator/timing.ts';
import type { CpuApi } from '../cpu/types.ts';

class FakeCpu {
  instructionCount = 0n;
  synced: [bigint, number | undefined][] = [];
  setVirtualTime(ns: bigint, rate?: number): void {
    this.synced.push([ns, rate]);
  }
}

function setup(shift: number | null) {
  const clock = new Clock({ frozen: true });
  const cpu = new FakeCpu();
  const time = new VirtualTime(clock, cpu as unknown as CpuApi, shift);
  return { clock, cpu, time };
}

describe('VirtualTime', () => {
  it('with -icount: slices end at the next deadline, time is the instruction count times 2^shift', () => {
    const { clock, cpu, time } = setup(2);
    const fired: number[] = [];
    const t = clock.createTimer((now) => fired.push(now));
    t.arm(1000);
    const budget = time.budget(100_000);
    expect(budget).toBe(250);
    time.beginSlice(budget);
    expect(cpu.synced.at(-1)).toEqual([0n, 4 * 65536]);
    // In the middle of the slice a device sees the time of the instructions retired so far.
    cpu.instructionCount += 100n;
    expect(clock.now()).toBe(400);
    cpu.instructionCount += 150n;
    time.endSlice(250);
    expect(fired).toEqual([1000]);
    expect(clock.now()).toBe(1000);
  });

  it('with -icount: an idle CPU moves straight to the next deadline', () => {
    const { clock, time } = setup(0);
    const fired: number[] = [];
    clock.createTimer((now) => fired.push(now)).arm(5_000_000_000);
    expect(time.idle()).toBe(0);
    expect(fired).toEqual([5_000_000_000]);
    expect(time.idle()).toBe(Infinity); // nothing armed: wait for input
  });

  it('asks to be stopped when a timer armed during a slice falls inside it', () => {
    const { clock, cpu, time } = setup(0);
    time.beginSlice(10_000);
    const t = clock.createTimer(() => {});
    cpu.instructionCount += 10n;
    t.arm(clock.now() + 20_000);
    expect(time.deadlineInSlice()).toBe(false);
    t.arm(clock.now() + 500);
    expect(time.deadlineInSlice()).toBe(true);
    time.endSlice(10);
    expect(time.deadlineInSlice()).toBe(false);
  });

  it('following the host: a deadline closer than the lead is reached at once, a far one is slept for', () => {
    const { clock, time } = setup(null);
    const fired: number[] = [];
    const t = clock.createTimer((now) => fired.push(now));
    const near = clock.now() + LEAD_NS / 2;
    t.arm(near);
    expect(time.idle()).toBe(0);
    expect(fired).toEqual([near]);
    // Virtual time may now lead the host by up to LEAD_NS: the sleep is counted from the host's time.
    t.arm(clock.now() + 10e9);
    const ms = time.idle();
    expect(ms).toBeGreaterThan(9000);
    expect(ms).toBeLessThanOrEqual(10_000 + LEAD_NS / 1e6);
    expect(fired.length).toBe(1);
  });

  it('following the host: the TSC rate is what the slice runs at, in whole nanoseconds of time', () => {
    const { clock, cpu, time } = setup(null);
    time.beginSlice(1000);
    const [ns, rate] = cpu.synced.at(-1)!;
    expect(ns).toBe(0n);
    expect(rate).toBeGreaterThan(0);
    cpu.instructionCount += 1000n;
    time.endSlice(1000);
    expect(clock.now()).toBe(Math.floor((1000 * rate!) / 65536));
    expect(Number.isInteger(clock.now())).toBe(true);
  });
});
