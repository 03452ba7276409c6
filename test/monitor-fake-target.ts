// A pretend machine for the monitor tests: RAM in an array, ports in a map, registers as given.

import { readVirtualDebug } from '../monitor/hmp/paging.ts';
import type { ChardevInfo, MonitorTarget, RegisterSnapshot, RunState, SegmentSnapshot } from '../monitor/hmp/target.ts';

const seg = (selector: number, base: bigint, limit: number, flags: number): SegmentSnapshot => ({ selector, base, limit, flags });

/** The x86 reset state QEMU 7.2 shows under -S (hmp_info_session.txt). */
export function resetSnapshot(): RegisterSnapshot {
  const regs = new Array<bigint>(16).fill(0n);
  regs[2] = 0x60fb1n; // EDX: the CPUID signature of QEMU's default CPU model
  return {
    regs,
    rip: 0xfff0n,
    rflags: 0x2n,
    segs: [
      seg(0, 0n, 0xffff, 0x9300),
      seg(0xf000, 0xffff0000n, 0xffff, 0x9b00),
      seg(0, 0n, 0xffff, 0x9300),
      seg(0, 0n, 0xffff, 0x9300),
      seg(0, 0n, 0xffff, 0x9300),
      seg(0, 0n, 0xffff, 0x9300),
    ],
    ldt: seg(0, 0n, 0xffff, 0x8200),
    tr: seg(0, 0n, 0xffff, 0x8b00),
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    efer: 0n,
  };
}

export interface FakeTargetOptions {
  ramSize?: number;
  runState?: RunState;
  version?: MonitorTarget['version'];
  chardevs?: ChardevInfo[];
  registers?: RegisterSnapshot;
  threadId?: number;
  /** More CPUs get copies of the first one's registers. */
  cpuCount?: number;
}

export class FakeTarget implements MonitorTarget {
  readonly version: MonitorTarget['version'];
  readonly ram: Uint8Array;
  /** Read-only regions above RAM (the BIOS at 4 GiB - 256 KiB, say). */
  readonly roms: { base: bigint; data: Uint8Array }[] = [];
  state: RunState;
  regs: RegisterSnapshot;
  /** CPUs 1 and up. */
  readonly otherCpus: RegisterSnapshot[];
  readonly calls: string[] = [];
  readonly ports = new Map<number, number>();
  readonly portWrites: [number, number, number][] = [];
  private readonly chardevList: ChardevInfo[];
  private readonly threadId: number;

  constructor(o: FakeTargetOptions = {}) {
    this.ram = new Uint8Array(o.ramSize ?? 128 * 1024 * 1024);
    this.state = o.runState ?? 'prelaunch';
    this.version = o.version ?? { major: 7, minor: 2, micro: 22, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' };
    this.chardevList = o.chardevs ?? [];
    this.regs = o.registers ?? resetSnapshot();
    this.threadId = o.threadId ?? 4242;
    this.otherCpus = Array.from({ length: (o.cpuCount ?? 1) - 1 }, () => ({ ...this.regs }));
  }

  runState(): RunState {
    return this.state;
  }
  stop(): void {
    this.calls.push('stop');
    if (this.state === 'running') this.state = 'paused';
  }
  cont(): string | void {
    this.calls.push('cont');
    if (this.state === 'shutdown' || this.state === 'internal-error' || this.state === 'guest-panicked') {
      return 'Resetting the Virtual Machine is required';
    }
    this.state = 'running';
  }
  systemReset(): void {
    this.calls.push('system_reset');
  }
  systemPowerdown(): void {
    this.calls.push('system_powerdown');
  }
  quit(): void {
    this.calls.push('quit');
  }
  nmi(): void {
    this.calls.push('nmi');
  }
  cpus() {
    return Array.from({ length: 1 + this.otherCpus.length }, (_, index) => ({ index, threadId: this.threadId + index }));
  }
  registers(i: number): RegisterSnapshot | null {
    return i === 0 ? this.regs : (this.otherCpus[i - 1] ?? null);
  }
  readPhysical(addr: bigint, length: number): { bytes: Uint8Array; ok: boolean } {
    const bytes = new Uint8Array(length);
    let ok = true;
    for (let i = 0; i < length; i++) {
      const a = addr + BigInt(i);
      if (a < BigInt(this.ram.length)) {
        bytes[i] = this.ram[Number(a)];
        continue;
      }
      const rom = this.roms.find((r) => a >= r.base && a < r.base + BigInt(r.data.length));
      if (rom) bytes[i] = rom.data[Number(a - rom.base)];
      else ok = false;
    }
    return { bytes, ok };
  }
  readVirtual(_cpu: number, addr: bigint, length: number): Uint8Array | null {
    return readVirtualDebug(this.regs, (a, l) => this.readPhysical(a, l), addr, length);
  }
  ioRead(port: number, size: 1 | 2 | 4): number {
    const v = this.ports.get(port) ?? 0xffffffff;
    return size === 4 ? v >>> 0 : v & (size === 2 ? 0xffff : 0xff);
  }
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.portWrites.push([port, size, value]);
  }
  chardevs(): readonly ChardevInfo[] {
    return this.chardevList;
  }
}
