// The pc machine as the human monitor sees it (monitor/hmp/target.ts): run state, registers,
// guest memory as a debugger reads it, port I/O and the chardev list. The monitor only parses and
// formats; everything that touches the machine goes through here.

import pkg from '../package.json' with { type: 'json' };
import {
  readVirtualDebug,
  snapshotFromCpu,
  type ChardevInfo,
  type MonitorTarget,
  type RegisterSnapshot,
  type RunState,
} from '../monitor/hmp/index.ts';
import type { Machine } from './machine.ts';

const FOUR_GIB = 2n ** 32n;

export class MachineMonitorTarget implements MonitorTarget {
  /** QEMU 7.2 is the reference, so the banner says 7.2.0; `info version` adds what this really is. */
  readonly version = { major: 7, minor: 2, micro: 0, package: ` (tsemu ${pkg.version})` };

  constructor(private readonly machine: Machine) {}

  runState(): RunState {
    return this.machine.runState;
  }

  stop(): void {
    this.machine.pause();
  }

  cont(): string | void {
    return this.machine.resume();
  }

  systemReset(): void {
    this.machine.systemReset();
  }

  systemPowerdown(): void {
    this.machine.powerButton();
  }

  quit(): void {
    this.machine.stop(0);
  }

  nmi(): void {
    this.machine.injectNmi();
  }

  cpus(): readonly { index: number; threadId: number }[] {
    // One CPU, run by the process's only thread.
    return [{ index: 0, threadId: process.pid }];
  }

  registers(cpuIndex: number): RegisterSnapshot | null {
    if (cpuIndex !== 0 || !this.machine.cpu) return null;
    return snapshotFromCpu(this.machine.cpu);
  }

  /**
   * RAM, the BIOS image at the top of the 4 GiB space (firmware boots) and the fixed MMIO devices
   * (local APIC, I/O APIC, HPET, read as the CPU would: QEMU's debugger reads reach devices too).
   * The legacy BIOS window below 1 MiB reads as the RAM behind it whatever the PAM registers say.
   */
  readPhysical(addr: bigint, length: number): { bytes: Uint8Array; ok: boolean } {
    const bytes = new Uint8Array(length);
    let ok = true;
    const ram = this.machine.cpu.ram;
    const ramSize = BigInt(ram.length);
    const bios = this.machine.firmwareImage;
    const biosBase = bios ? FOUR_GIB - BigInt(bios.length) : FOUR_GIB;
    const regions = this.machine.bus.mmioRegions();
    let i = 0;
    while (i < length) {
      const a = addr + BigInt(i);
      if (a < ramSize) {
        const n = Math.min(length - i, Number(ramSize - a));
        bytes.set(ram.subarray(Number(a), Number(a) + n), i);
        i += n;
        continue;
      }
      if (bios && a >= biosBase && a < FOUR_GIB) {
        const off = Number(a - biosBase);
        const n = Math.min(length - i, bios.length - off);
        bytes.set(bios.subarray(off, off + n), i);
        i += n;
        continue;
      }
      if (a < FOUR_GIB && regions.some((r) => a >= BigInt(r.base) && a < BigInt(r.base) + BigInt(r.length))) {
        // Aligned dword reads, as the devices expect them.
        const word = Number(a & ~3n);
        const v = this.machine.bus.mmioRead(word, 4);
        bytes[i] = (v >>> (8 * (Number(a) - word))) & 0xff;
        i++;
        continue;
      }
      // Nothing answers here: QEMU's debugger read fails ("Cannot access memory").
      ok = false;
      i++;
    }
    return { bytes, ok };
  }

  readVirtual(cpuIndex: number, addr: bigint, length: number): Uint8Array | null {
    const regs = this.registers(cpuIndex);
    if (!regs) return null;
    return readVirtualDebug(regs, (a, l) => this.readPhysical(a, l), addr, length);
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return this.machine.bus.portRead(port, size);
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.machine.monitorPortWrite(port, size, value);
  }

  chardevs(): readonly ChardevInfo[] {
    return this.machine.chardevInfo();
  }
}
