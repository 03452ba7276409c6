// The time-stamp counter (SDM Vol. 3B §17.17) runs at 1 GHz of virtual time: after
// setVirtualTime(ns, rate) it reads ns plus the instructions retired since, times the rate (ns per
// instruction, 16.16 fixed point), the same function of the instruction count the host's clock
// uses (emulator/timing.ts). It never goes backwards; WRMSR to IA32_TIME_STAMP_COUNTER offsets it.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../cpu/types.ts';

const host: CpuHost = {
  portRead: () => 0xffffffff,
  portWrite: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  interruptAcknowledge: () => 0,
};

const NOP = 0x90, RDTSC = [0x0f, 0x31], HLT = 0xf4;

/** Real mode at 0:0; returns a CPU about to run `code`. */
async function realCpu(code: number[]): Promise<Cpu> {
  const cpu = await Cpu.create(1 << 20, host);
  cpu.ram.set(code, 0);
  cpu.ramWritten(0, code.length);
  cpu.setSeg(1, { selector: 0, base: 0n, limit: 0xffff, flags: 0x9b00 });
  cpu.setRip(0n);
  cpu.syncMode();
  return cpu;
}

const tsc = (cpu: Cpu) => (cpu.getReg(2) << 32n) | (cpu.getReg(0) & 0xffffffffn);

describe('time-stamp counter', () => {
  it('advances by the rate per retired instruction after setVirtualTime', async () => {
    const cpu = await realCpu([...Array(100).fill(NOP), ...RDTSC, HLT]);
    cpu.setVirtualTime(1_000_000n, 3 * 65536);
    expect(cpu.run(1000).reason).toBe(StopReason.Halt);
    expect(tsc(cpu)).toBe(1_000_000n + 300n); // 100 NOPs retired before RDTSC, 3 ns each
  });

  it('keeps fractions of a nanosecond per instruction', async () => {
    const cpu = await realCpu([...Array(101).fill(NOP), ...RDTSC, HLT]);
    cpu.setVirtualTime(5000n, 0x18000); // 1.5 ns
    cpu.run(1000);
    expect(tsc(cpu)).toBe(5000n + 151n); // floor(101 * 1.5)
  });

  it('never goes backwards, and follows a new rate from where it stands', async () => {
    const cpu = await realCpu([...Array(10).fill(NOP), ...RDTSC, HLT, ...Array(10).fill(NOP), ...RDTSC, HLT]);
    cpu.setVirtualTime(10_000n, 100 * 65536);
    cpu.run(1000); // 10 NOPs, RDTSC: 11 retired when HLT stops the slice
    expect(tsc(cpu)).toBe(11_000n);
    // Told an earlier time (and 1 ns per instruction): the TSC goes on from 10000 + 12 * 100.
    cpu.setVirtualTime(5_000n, 65536);
    cpu.setRip(BigInt(10 + 2 + 1));
    cpu.run(1000);
    expect(tsc(cpu)).toBe(11_200n + 10n);
  });

  it('counts one tick per instruction when nobody sets the time', async () => {
    const cpu = await realCpu([...Array(50).fill(NOP), ...RDTSC, HLT]);
    const before = cpu.getMsr(0x10);
    cpu.run(1000);
    expect(tsc(cpu) - before).toBe(50n);
  });
});
