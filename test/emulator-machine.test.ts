// The machine loop with a scripted stand-in CPU: wiring, entry state, exits, resets, idling.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Reg, Seg, StopReason, type CpuApi, type CpuHost, type RunResult, type SegmentState } from '../cpu/types.ts';
import { Clock } from '../emulator/clock.ts';
import { Machine, MachineError } from '../emulator/machine.ts';
import { parseArgs, type MachineConfig } from '../emulator/options.ts';

const MiB = 1024 * 1024;

/** A Multiboot a.out-kludge kernel made by hand: header at 1 MiB, entry right after it. */
function tinyKernel(): Uint8Array {
  const img = new Uint8Array(64);
  const v = new DataView(img.buffer);
  const flags = 0x00010000;
  [0x1badb002, flags, (-(0x1badb002 + flags)) >>> 0, 0x100000, 0x100000, 0, 0, 0x100020].forEach((w, i) => v.setUint32(4 * i, w, true));
  img.set([0xfa, 0xf4], 0x20); // cli; hlt
  return img;
}

type Script = (cpu: FakeCpu, host: CpuHost) => RunResult;

class FakeCpu implements CpuApi {
  readonly ram: Uint8Array;
  regs = new Array<bigint>(16).fill(0n);
  rip = 0n;
  rflags = 2n;
  segs: SegmentState[] = [];
  crs = new Map<number, bigint>();
  intr = false;
  a20 = false;
  resets = 0;
  synced = 0;
  stopRequested = false;
  gdtr = { base: 0n, limit: 0 };
  idtr = { base: 0n, limit: 0 };
  readonly instructionCount = 0n;

  constructor(
    readonly ramSize: number,
    readonly host: CpuHost,
    private readonly script: Script,
  ) {
    this.ram = new Uint8Array(ramSize);
  }
  getReg(r: number) {
    return this.regs[r];
  }
  setReg(r: number, v: bigint) {
    this.regs[r] = v;
  }
  getRip() {
    return this.rip;
  }
  setRip(v: bigint) {
    this.rip = v;
  }
  getRflags() {
    return this.rflags;
  }
  setRflags(v: bigint) {
    this.rflags = v;
  }
  getSeg(s: number) {
    return this.segs[s];
  }
  setSeg(s: number, st: SegmentState) {
    this.segs[s] = st;
  }
  getGdtr() {
    return this.gdtr;
  }
  setGdtr(base: bigint, limit: number) {
    this.gdtr = { base, limit };
  }
  getIdtr() {
    return this.idtr;
  }
  setIdtr(base: bigint, limit: number) {
    this.idtr = { base, limit };
  }
  getCr(n: number) {
    return this.crs.get(n) ?? 0n;
  }
  setCr(n: number, v: bigint) {
    this.crs.set(n, v);
  }
  getMsr() {
    return 0n;
  }
  setMsr() {}
  syncMode() {
    this.synced++;
  }
  reset() {
    this.resets++;
  }
  run(): RunResult {
    if (this.stopRequested) {
      this.stopRequested = false;
      return { reason: StopReason.Requested, executed: 0 };
    }
    const r = this.script(this, this.host);
    if (this.stopRequested) {
      this.stopRequested = false;
      return { reason: StopReason.Requested, executed: r.executed };
    }
    return r;
  }
  requestStop() {
    this.stopRequested = true;
  }
  setIntr(level: boolean) {
    this.intr = level;
  }
  setA20(on: boolean) {
    this.a20 = on;
  }
  mapRom() {}
  mapMmio() {}
  loadRom(data: Uint8Array) {
    return { length: data.length, handle: 0 };
  }
  mapRomImage() {}
  mapRam() {}
  written: [number, number][] = [];
  ramWritten(addr: number, length: number) {
    this.written.push([addr, length]);
  }
  nmis = 0;
  nmi() {
    this.nmis++;
  }
  virtualTime = 0n;
  setVirtualTime(ns: bigint) {
    this.virtualTime = ns;
  }
}

function configOf(...argv: string[]): MachineConfig {
  const r = parseArgs(['-kernel', 'tiny.elf', ...argv]);
  if (r.action !== 'run') throw new Error('not a run');
  return r.config;
}

async function machineWith(script: Script, argv: string[] = [], files: Record<string, Uint8Array> = {}, stdin: NodeJS.ReadStream | null = null) {
  let cpu!: FakeCpu;
  const out: number[] = [];
  const m = await Machine.create(
    configOf(...argv),
    async (ramSize, host) => (cpu = new FakeCpu(ramSize, host, script)),
    {
      clock: new Clock({ frozen: true }),
      stdout: (b) => out.push(...b),
      stdin,
      stderr: () => {},
      readFile: (p) => {
        const f = { 'tiny.elf': tinyKernel(), ...files }[p];
        if (!f) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        return f;
      },
    },
  );
  return { m, cpu: () => cpu, out };
}

const budget = (executed = 1000): RunResult => ({ reason: StopReason.Budget, executed });
const dir = mkdtempSync(join(tmpdir(), 'tsemu-machine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pc machine', () => {
  it('enters the kernel in 32-bit protected mode with the Multiboot registers', async () => {
    const { cpu } = await machineWith(() => budget());
    const c = cpu();
    expect(c.resets).toBe(1);
    expect(c.rip).toBe(0x100020n);
    expect(c.regs[Reg.RAX]).toBe(0x2badb002n);
    expect(c.regs[Reg.RBX]).toBe(0x9500n);
    expect(c.segs[Seg.CS]).toEqual({ selector: 8, base: 0n, limit: 0xffffffff, flags: 0x00cf9a00 });
    expect(c.segs[Seg.SS].selector).toBe(0x10);
    expect(c.getCr(0) & 1n).toBe(1n);
    expect(c.rflags & 0x200n).toBe(0n);
    expect(c.a20).toBe(true);
    expect(c.synced).toBe(1);
    expect(c.written).toEqual([[0, c.ramSize]]);
    expect(c.ram[0x100020]).toBe(0xfa);
  });

  it('sends COM1 output to stdout and exits through isa-debug-exit', async () => {
    let step = 0;
    const { m, out } = await machineWith(
      (_cpu, host) => {
        if (step++ === 0) for (const ch of 'ok\n') host.portWrite(0x3f8, 1, ch.charCodeAt(0));
        else host.portWrite(0xf4, 1, 0x10);
        return budget();
      },
      ['-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'],
    );
    expect(await m.run()).toBe(0x21);
    expect(Buffer.from(out).toString()).toBe('ok\n');
  });

  it('-serial file: writes COM1 to the file', async () => {
    const path = join(dir, 'serial.log');
    const { m } = await machineWith(
      (_cpu, host) => {
        host.portWrite(0x3f8, 1, 0x41);
        host.portWrite(0x501, 1, 0);
        return budget();
      },
      ['-serial', `file:${path}`, '-device', 'isa-debug-exit'],
    );
    expect(await m.run()).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe('A');
  });

  it('without -nographic or -serial, COM1 output is discarded but the UART exists', async () => {
    let lsr = 0;
    const { m, out } = await machineWith(
      (_cpu, host) => {
        host.portWrite(0x3f8, 1, 0x41);
        lsr = host.portRead(0x3fd, 1);
        host.portWrite(0x501, 1, 1);
        return budget();
      },
      ['-device', 'isa-debug-exit'],
    );
    expect(await m.run()).toBe(3);
    expect(out).toEqual([]);
    expect(lsr & 0x60).toBe(0x60);
  });

  it('-nodefaults has no COM1: its ports float', async () => {
    let lsr = 0;
    const { m } = await machineWith(
      (_cpu, host) => {
        lsr = host.portRead(0x3fd, 1);
        host.portWrite(0x501, 1, 1);
        return budget();
      },
      ['-nodefaults', '-device', 'isa-debug-exit'],
    );
    await m.run();
    expect(lsr).toBe(0xff);
  });

  it('a triple fault with -no-reboot exits with status 0', async () => {
    const { m, cpu } = await machineWith(() => ({ reason: StopReason.TripleFault, executed: 5 }), ['-no-reboot']);
    expect(await m.run()).toBe(0);
    expect(cpu().resets).toBe(1);
  });

  it('a triple fault without -no-reboot reboots and reloads the kernel', async () => {
    let faults = 0;
    const { m, cpu } = await machineWith(
      (c, host) => {
        if (faults < 2) {
          c.ram[0x100020] = 0; // scribble over the kernel; the reboot must restore it
          faults++;
          return { reason: StopReason.TripleFault, executed: 1 };
        }
        host.portWrite(0x501, 1, c.ram[0x100020] === 0xfa ? 2 : 3);
        return budget();
      },
      ['-device', 'isa-debug-exit'],
    );
    expect(await m.run()).toBe(5);
    expect(cpu().resets).toBe(3);
  });

  it('a fast reset through port 0x92 with -no-reboot exits with status 0', async () => {
    const { m } = await machineWith(
      (_cpu, host) => {
        host.portWrite(0x92, 1, 0x03);
        return budget();
      },
      ['-no-reboot'],
    );
    expect(await m.run()).toBe(0);
  });

  it('-no-reboot -no-shutdown stops the guest instead of exiting', async () => {
    const { m, cpu } = await machineWith(() => ({ reason: StopReason.TripleFault, executed: 1 }), ['-no-reboot', '-no-shutdown']);
    const running = m.run();
    await new Promise((r) => setTimeout(r, 50));
    expect(m.isPaused).toBe(true);
    m.stop(0);
    expect(await running).toBe(0);
    expect(cpu().resets).toBe(1);
  });

  it('HLT idles until the PIT interrupt, which arrives through the PIC', async () => {
    let vector = -1;
    const { m } = await machineWith(
      (c, host) => {
        if (!c.intr) return { reason: StopReason.Halt, executed: 1 };
        vector = host.interruptAcknowledge();
        host.portWrite(0x501, 1, 0x7f);
        return budget();
      },
      ['-device', 'isa-debug-exit'],
    );
    expect(await m.run()).toBe(0xff);
    expect(vector).toBe(0x08); // IRQ0 at the BIOS's vector base
    // The frozen clock jumped to the first timer tick (18.2 Hz) instead of sleeping.
    expect(m.clock.now()).toBeGreaterThan(1e6);
    expect(m.clock.now()).toBeLessThan(60e6);
  });

  it('fills the CMOS memory size bytes', async () => {
    const { m } = await machineWith(() => budget(), ['-m', '64']);
    expect(m.rtc.getCmos(0x15) | (m.rtc.getCmos(0x16) << 8)).toBe(640);
    expect(m.rtc.getCmos(0x17) | (m.rtc.getCmos(0x18) << 8)).toBe(63 * 1024);
    expect(m.rtc.getCmos(0x34) | (m.rtc.getCmos(0x35) << 8)).toBe((48 * MiB) / 65536);
  });

  it('turns file and kernel problems into one-line MachineErrors', async () => {
    await expect(machineWith(() => budget(), ['-kernel', 'missing.elf'])).rejects.toThrow(
      new MachineError("could not load kernel 'missing.elf': no such file"),
    );
    await expect(machineWith(() => budget(), ['-kernel', 'junk'], { junk: Buffer.from('junk') })).rejects.toThrow(
      "could not load kernel 'junk': not a Multiboot kernel (no Multiboot header in the first 8192 bytes)",
    );
    await expect(machineWith(() => budget(), ['-initrd', 'nomod arg'])).rejects.toThrow("could not load module 'nomod': no such file");
    await expect(machineWith(() => budget(), ['-device', 'isa-debug-exit,iobase=0x3f8'])).rejects.toThrow(/collides/);
    await expect(machineWith(() => budget(), ['-serial', 'file:/nonexistent-dir/x.log'])).rejects.toThrow(
      "-serial file:/nonexistent-dir/x.log: Could not open '/nonexistent-dir/x.log': No such file or directory",
    );
  });

  it('passes -append and -initrd to the kernel', async () => {
    const { cpu } = await machineWith(() => budget(), ['-append', 'quiet', '-initrd', 'mod.bin x'], { 'mod.bin': Buffer.from('MOD') });
    const ram = cpu().ram;
    const v = new DataView(ram.buffer);
    const str = (a: number) => Buffer.from(ram.subarray(a, ram.indexOf(0, a))).toString();
    expect(str(v.getUint32(0x9500 + 16, true))).toBe('tiny.elf quiet');
    const mods = v.getUint32(0x9500 + 24, true);
    expect(str(v.getUint32(mods + 8, true))).toBe('mod.bin x');
    expect(Buffer.from(ram.subarray(v.getUint32(mods, true), v.getUint32(mods + 4, true))).toString()).toBe('MOD');
  });

  it('-S holds the CPU until the monitor says cont; stop and cont pause and resume it', async () => {
    let runs = 0;
    const { m } = await machineWith(
      () => {
        runs++;
        return { reason: StopReason.Halt, executed: 1 };
      },
      ['-S', '-chardev', 'ringbuf,id=r', '-mon', 'chardev=r', '-device', 'isa-debug-exit'],
    );
    const monitor = m.monitors[0]!;
    expect(monitor.runCommand('info status')).toBe('VM status: paused (prelaunch)\n');
    const running = m.run();
    await new Promise((r) => setTimeout(r, 30));
    expect(runs).toBe(0);
    expect(monitor.runCommand('cont')).toBe('');
    await new Promise((r) => setTimeout(r, 30));
    expect(runs).toBeGreaterThan(0);
    expect(monitor.runCommand('stop')).toBe('');
    expect(monitor.runCommand('info status')).toBe('VM status: paused\n');
    await new Promise((r) => setTimeout(r, 10));
    const stopped = runs;
    await new Promise((r) => setTimeout(r, 30));
    expect(runs).toBe(stopped);
    expect(monitor.runCommand('info chardev')).toMatch(/^r: filename=ringbuf$/m);
    expect(monitor.runCommand('o 0x501 2')).toBe('');
    expect(await running).toBe(5);
  });

  it('-nographic: stdin reaches COM1, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A x quits', async () => {
    const stdin = new PassThrough() as unknown as NodeJS.ReadStream;
    const got: number[] = [];
    const { m } = await machineWith(
      (_cpu, host) => {
        while (host.portRead(0x3fd, 1) & 1) got.push(host.portRead(0x3f8, 1));
        return { reason: StopReason.Halt, executed: 1 };
      },
      ['-nographic'],
      {},
      stdin,
    );
    const running = m.run();
    (stdin as unknown as PassThrough).write(Buffer.from([0x68, 0x69, 0x01, 0x01]));
    await new Promise((r) => setTimeout(r, 20));
    (stdin as unknown as PassThrough).write(Buffer.from([0x01, 0x78]));
    expect(await running).toBe(0);
    expect(got).toEqual([0x68, 0x69, 0x01]);
  });
});
