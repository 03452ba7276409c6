// The "pc" machine: a CPU plus the legacy and PCI devices, the firmware (SeaBIOS) or a kernel
// started directly, and the loop that runs it.
// The CPU is made by a factory so the machine can be tested (and typechecked) without cpu/cpu.ts.

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { Reg, StopReason, type CpuApi, type CpuHost } from '../cpu/types.ts';
import { LocalApic } from '../devices/apic.ts';
import { DebugExit } from '../devices/debug-exit.ts';
import { InterruptRouter } from '../devices/interrupt-router.ts';
import { IoApic } from '../devices/ioapic.ts';
import { IoBus } from '../devices/io-bus.ts';
import { FwCfg } from '../devices/fw-cfg.ts';
import { Hpet } from '../devices/hpet.ts';
import { acpiFwCfgFiles, buildAcpi, type AcpiBuild } from '../devices/acpi/loader.ts';
import { I440fx } from '../devices/pci/i440fx.ts';
import { PciBus } from '../devices/pci/pci.ts';
import { Piix3Ide, Piix3Isa } from '../devices/pci/piix3.ts';
import { Piix4Pm, SCI_IRQ } from '../devices/pci/piix4-pm.ts';
import { DualPic } from '../devices/pic.ts';
import { Pit } from '../devices/pit.ts';
import { Port92 } from '../devices/port92.ts';
import { Rtc } from '../devices/rtc.ts';
import { Uart16550 } from '../devices/uart.ts';
import { Clock } from './clock.ts';
import { FirmwareError, findFirmware, mapFirmware, populateFwCfg, vapicRom } from './firmware.ts';
import { isLinuxKernel, loadLinux, type LinuxLayout } from './linux-boot.ts';
import { KernelLoadError, loadMultiboot, type BootModule, type EntryState, type MultibootLayout } from './multiboot.ts';
import type { MachineConfig } from './options.ts';

/** What cpu/cpu.ts provides as `Cpu.create`. */
export type CpuFactory = (ramSize: number, host: CpuHost) => Promise<CpuApi>;

/** A problem the user must fix (file missing, bad kernel); main prints "tsemu: <message>". */
export class MachineError extends Error {
  override readonly name = 'MachineError';
}

export interface MachineOptions {
  /** Defaults to a clock that follows host time. */
  clock?: Clock;
  /** Where COM1 output goes when -serial stdio (default: process.stdout). */
  stdout?: (bytes: Uint8Array) => void;
  /** Serial input for -serial stdio (default: process.stdin when serial is on stdio). */
  stdin?: NodeJS.ReadStream | null;
  /** Messages for the user (default: process.stderr). */
  stderr?: (text: string) => void;
  readFile?: (path: string) => Uint8Array;
  /** Instructions per cpu.run() slice; timers are serviced between slices. */
  sliceBudget?: number;
}

const EFER = 0xc0000080;
const DEFAULT_SLICE = 100_000;
/** How long the loop may keep Node's event loop waiting while the guest computes. */
const YIELD_EVERY_MS = 10;
/** Ctrl-A, the escape key of QEMU's -nographic character multiplexer. */
const ESCAPE = 0x01;

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

export class Machine {
  readonly bus = new IoBus();
  readonly pic: DualPic;
  /** The local APIC drives the CPU's INTR; the 8259 reaches it through LINT0 (ExtINT). */
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  private readonly router: InterruptRouter;
  readonly pit: Pit;
  readonly rtc: Rtc;
  readonly port92: Port92;
  readonly uart: Uart16550 | null = null;
  readonly debugExit: DebugExit | null = null;
  /** PCI bus 0: i440FX host bridge 00.0, PIIX3 ISA 01.0 and IDE 01.1, PIIX4 power management 01.3. */
  readonly pci: PciBus;
  readonly i440fx: I440fx;
  readonly piix3: Piix3Isa;
  readonly ide: Piix3Ide;
  readonly pm: Piix4Pm;
  readonly fwCfg: FwCfg;
  readonly hpet: Hpet;
  /** The ACPI tables offered to the firmware (and installed directly for -kernel boots). */
  readonly acpi: AcpiBuild;
  readonly clock: Clock;
  /** Set once create() has built the CPU. */
  cpu!: CpuApi;
  /** Where the last boot put the kernel and its data. */
  layout: MultibootLayout | null = null;
  /** The same for a Linux bzImage (then `layout` stays null). */
  linuxLayout: LinuxLayout | null = null;

  private intr = false;
  private exitStatus: number | null = null;
  private resetPending = false;
  private wake: (() => void) | null = null;
  private readonly sliceBudget: number;
  private readonly stderr: (text: string) => void;
  private serialFd: number | null = null;
  private stdin: NodeJS.ReadStream | null = null;
  private rawMode = false;
  private escapePending = false;
  private kernelImage: Uint8Array = new Uint8Array(0);
  private modules: BootModule[] = [];
  /** -initrd of a Linux kernel: one file (QEMU takes the whole -initrd string as its name). */
  private linuxInitrd: Uint8Array | null = null;

  private constructor(
    readonly config: MachineConfig,
    private readonly options: MachineOptions,
  ) {
    // -icount: time moves only with executed instructions (and jumps over idle periods).
    this.clock = options.clock ?? new Clock({ frozen: config.icountShift !== null });
    this.sliceBudget = options.sliceBudget ?? DEFAULT_SLICE;
    this.stderr = options.stderr ?? ((t) => process.stderr.write(t));
    // The 8259's INT output goes to LINT0 of the local APIC, which drives the CPU's INTR pin
    // (SDM Vol. 3A §10.1); the I/O APIC sends its messages to the local APIC.
    this.pic = new DualPic((level) => this.router.picOutput(level));
    this.pic.attach(this.bus);
    this.lapic = new LocalApic({
      clock: this.clock,
      onIntr: (level) => {
        this.intr = level;
        this.cpu?.setIntr(level);
      },
      onEoi: (vector) => this.ioapic.eoi(vector),
      onNmi: () => this.cpu?.nmi(),
      tsc: () => this.cpu.getMsr(0x10),
      tscHz: 1_000_000_000, // cpu/types.ts setVirtualTime: 1 GHz of virtual time
      // x2APIC and the TSC-deadline timer are offered in CPUID (CpuHost.apicFeatures below).
      x2apic: true,
    });
    this.lapic.attach(this.bus);
    this.ioapic = new IoApic(this.lapic);
    this.ioapic.attach(this.bus);
    this.router = new InterruptRouter(this.pic, this.lapic);
    // The HPET's legacy replacement route takes IRQ0 and IRQ8 away from the PIT and the RTC
    // (IA-PC HPET 1.0a §2.4), so their outputs pass through it.
    this.hpet = new Hpet({ clock: this.clock, setIrq: (line, level) => this.gsi(line, level) });
    this.hpet.attach(this.bus);
    this.pit = new Pit(this.clock, (level) => this.hpet.pitInput(level));
    this.pit.attach(this.bus);
    this.rtc = new Rtc(this.clock, (level) => this.hpet.rtcInput(level));
    this.rtc.attach(this.bus);
    this.port92 = new Port92(
      (on) => this.cpu?.setA20(on),
      () => this.requestReset(),
      true,
    );
    this.port92.attach(this.bus);
    if (config.serial) {
      this.uart = new Uart16550(this.serialSink(config), (level) => this.isaIrq(4, level), this.clock);
      this.uart.attach(this.bus);
    }
    if (config.debugExit) {
      this.debugExit = new DebugExit((status) => this.exit(status), config.debugExit.iobase, config.debugExit.iosize);
      try {
        this.debugExit.attach(this.bus);
      } catch {
        throw new MachineError(`isa-debug-exit at port 0x${config.debugExit.iobase.toString(16)} collides with another device`);
      }
    }
    // The PCI platform of QEMU's pc machine and the firmware configuration device.
    this.pci = new PciBus();
    this.pci.attach(this.bus);
    this.i440fx = new I440fx(config.ramSize);
    this.pci.add(0, 0, this.i440fx);
    this.piix3 = new Piix3Isa(
      (irq, level) => this.isaIrq(irq, level),
      () => this.requestReset(),
      (pirq) => this.pci.pirqLevel(pirq),
    );
    this.pci.add(1, 0, this.piix3);
    this.pci.router = this.piix3;
    this.piix3.attach(this.bus);
    this.ide = new Piix3Ide();
    this.pci.add(1, 1, this.ide);
    this.pm = new Piix4Pm({
      clock: this.clock,
      sci: (level) => this.isaIrq(SCI_IRQ, level),
      powerOff: () => this.powerOff(),
      serial: config.serial !== null,
    });
    this.pci.add(1, 3, this.pm);
    this.pm.attach(this.bus);
    this.fwCfg = new FwCfg(() => (this.cpu ? { ram: this.cpu.ram, written: (a, l) => this.cpu.ramWritten(a, l) } : null));
    this.fwCfg.attach(this.bus);
    populateFwCfg(this.fwCfg, { ramSize: config.ramSize, nographic: config.nographic });
    this.fwCfg.addFile('genroms/kvmvapic.bin', vapicRom(options.readFile ?? ((p: string) => readFileSync(p))));
    // ACPI tables for SeaBIOS to install through the table loader (devices/acpi/loader.ts). No
    // i8042 yet: SeaBIOS looks for its PNP0303 entry before probing PS/2.
    this.acpi = buildAcpi({ lowRamEnd: config.ramSize, cpus: 1, serial: config.serial !== null, keyboard: false, hpet: true });
    for (const f of acpiFwCfgFiles(this.acpi)) this.fwCfg.addFile(f.name, f.data);
    this.clock.onChange = () => this.wakeUp();
  }

  /** True when there is no -kernel: the CPU starts in the BIOS at the reset vector. */
  get bootsFirmware(): boolean {
    return this.config.kernel === '';
  }

  /**
   * Load the BIOS image (no -kernel only) and connect the i440FX to the CPU, which maps the BIOS
   * area per the PAM registers. Kernels started directly get no BIOS image: the firmware state they
   * see (setPlatformBiosState) has the whole area shadowed in RAM.
   */
  private loadFirmware(): void {
    let roms: ReturnType<typeof mapFirmware> = [];
    if (this.bootsFirmware) {
      const read = this.options.readFile ?? ((p: string) => readFileSync(p));
      try {
        const path = findFirmware(this.config.bios);
        let image: Uint8Array;
        try {
          image = read(path);
        } catch (e) {
          throw new MachineError(`could not load PC BIOS '${this.config.bios ?? path}': ${describeFsError(e)}`);
        }
        roms = mapFirmware(this.cpu, image, this.config.bios ?? path);
      } catch (e) {
        if (e instanceof FirmwareError) throw new MachineError(e.message);
        throw e;
      }
    }
    this.i440fx.connect(this.cpu, roms);
  }

  /** Power-on state of the PCI functions and fw_cfg (also on every reset). */
  private resetPlatform(): void {
    this.pci.reset();
    this.hpet.reset();
    this.fwCfg.reset();
  }

  /** What SeaBIOS leaves in the chipset on QEMU's pc machine, for kernels started without it. */
  private setPlatformBiosState(): void {
    this.i440fx.setBiosState();
    this.piix3.setBiosState();
    this.ide.setBiosState();
    this.pm.setBiosState();
    for (const f of [this.i440fx, this.piix3]) f.set16(0x04, f.command | 0x0103);
  }

  /** The guest turned the machine off (ACPI S5): QEMU exits with status 0, or stops with -no-shutdown. */
  private powerOff(): void {
    if (this.config.noShutdown) {
      this.paused = true;
      this.cpu?.requestStop();
      return;
    }
    this.exit(0);
  }

  /** Build the machine, its CPU and load the kernel; throws MachineError on user mistakes. */
  static async create(config: MachineConfig, createCpu: CpuFactory, options: MachineOptions = {}): Promise<Machine> {
    const m = new Machine(config, options);
    try {
      if (!m.bootsFirmware) m.readFiles();
      const host: CpuHost = {
        portRead: (port, size) => m.bus.portRead(port, size),
        portWrite: (port, size, value) => m.bus.portWrite(port, size, value),
        mmioRead: (addr, size) => m.bus.mmioRead(addr, size),
        mmioWrite: (addr, size, value) => m.bus.mmioWrite(addr, size, value),
        interruptAcknowledge: () => m.router.interruptAcknowledge(),
        msrRead: (index) => (m.lapic.ownsMsr(index) ? m.lapic.readMsr(index) : undefined),
        msrWrite: (index, value) => m.lapic.ownsMsr(index) && m.lapic.writeMsr(index, value),
        readCr8: () => m.lapic.readCr8(),
        writeCr8: (value) => m.lapic.writeCr8(value),
        apicFeatures: { x2apic: true, tscDeadline: true },
      };
      m.cpu = await createCpu(config.ramSize, host);
      for (const r of m.bus.mmioRegions()) m.cpu.mapMmio(r.base, r.length);
      m.loadFirmware();
      m.fillCmos();
      m.boot();
    } catch (e) {
      m.close();
      throw e;
    }
    return m;
  }

  /** Run until the guest exits (debug-exit, shutdown) or stop() is called; returns the exit status. */
  async run(): Promise<number> {
    this.attachInput();
    try {
      let lastYield = performance.now();
      while (this.exitStatus === null) {
        this.clock.runDue();
        if (this.resetPending) this.handleReset();
        if (this.exitStatus !== null) break;
        if (this.paused) {
          await this.idle(true);
          continue;
        }
        this.cpu.setVirtualTime(BigInt(Math.floor(this.clock.now())));
        const r = this.cpu.run(this.sliceBudgetNow());
        if (this.config.icountShift !== null) this.clock.advance(r.executed * 2 ** this.config.icountShift);
        if (r.reason === StopReason.Halt) {
          // May return without sleeping (deadline passed, frozen clock): the yield below still counts.
          await this.idle();
        } else if (r.reason === StopReason.TripleFault) {
          this.resetPending = true;
        }
        if (performance.now() - lastYield >= YIELD_EVERY_MS) {
          // Let stdin, signals and timers of the host get a turn.
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
      return this.exitStatus;
    } finally {
      this.close();
    }
  }

  /** An ISA interrupt line: to the 8259 pair and to the I/O APIC (IRQ0 arrives on pin 2, as the pc machine's MADT says). */
  private isaIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioapic.setIrq(irq === 0 ? 2 : irq, level);
  }

  /** An interrupt line in QEMU's GSI numbering (the HPET's): ISA IRQs below 16, I/O APIC inputs up to 23. */
  private gsi(line: number, level: boolean): void {
    if (line < 16) this.isaIrq(line, level);
    else if (line < 24) this.ioapic.setIrq(line, level);
  }

  /**
   * Instructions for the next slice. With -icount a slice ends exactly at the next timer deadline,
   * so device events land on the same instruction in every run.
   */
  private sliceBudgetNow(): number {
    const shift = this.config.icountShift;
    if (shift === null) return this.sliceBudget;
    const next = this.clock.nextDeadline();
    if (next === null) return this.sliceBudget;
    const left = Math.ceil((next - this.clock.now()) / 2 ** shift);
    return Math.max(1, Math.min(this.sliceBudget, left));
  }

  /** End the run with `status` (signals, the Ctrl-A x key, tests). */
  stop(status: number): void {
    this.exit(status);
  }

  /** Power-on: reset the CPU and devices, load the kernel, enter it as a Multiboot loader would. */
  private boot(): void {
    this.cpu.reset();
    this.pic.reset();
    this.lapic.reset();
    this.ioapic.reset();
    this.pit.reset();
    this.rtc.reset();
    this.uart?.reset();
    this.resetPlatform();
    if (this.bootsFirmware) {
      // Power-on: the CPU fetches its first instruction at 0xFFFFFFF0, in the BIOS.
      this.cpu.setA20(true);
      this.cpu.setIntr(this.intr);
      return;
    }
    this.pic.setBiosState();
    // SeaBIOS leaves LINT0 in ExtINT mode, so the 8259 keeps working for Multiboot kernels.
    this.lapic.setBiosState();
    this.pit.setBiosState();
    this.setPlatformBiosState();
    let entry: EntryState & { esi?: number };
    try {
      // A Linux setup header ("HdrS") wins over anything else, as in QEMU; the rest is Multiboot.
      if (isLinuxKernel(this.kernelImage)) {
        this.linuxLayout = loadLinux(this.cpu.ram, { kernel: this.kernelImage, cmdline: this.config.append, initrd: this.linuxInitrd });
        entry = this.linuxLayout.entry;
      } else {
        this.layout = loadMultiboot(this.cpu.ram, {
          kernelName: this.config.kernel,
          kernel: this.kernelImage,
          append: this.config.append,
          modules: this.modules,
        });
        entry = this.layout.entry;
      }
    } catch (e) {
      if (e instanceof KernelLoadError) throw new MachineError(`could not load kernel '${this.config.kernel}': ${e.message}`);
      throw e;
    }
    // The loader wrote RAM behind the CPU's back: drop anything decoded from the old contents.
    this.cpu.ramWritten(0, this.cpu.ramSize);
    this.cpu.setA20(true);
    this.port92.noteA20(true);
    this.enter(entry);
    this.cpu.setIntr(this.intr);
  }

  private enter(s: EntryState & { esi?: number }): void {
    const cpu = this.cpu;
    s.segments.forEach((seg, i) => cpu.setSeg(i, seg));
    cpu.setGdtr(BigInt(s.gdt.base), s.gdt.limit);
    cpu.setIdtr(BigInt(s.idt.base), s.idt.limit);
    cpu.setCr(0, BigInt(s.cr0));
    cpu.setCr(3, 0n);
    cpu.setCr(4, 0n);
    cpu.setMsr(EFER, 0n);
    for (let r = Reg.RAX; r <= Reg.R15; r++) cpu.setReg(r, 0n);
    cpu.setReg(Reg.RAX, BigInt(s.eax));
    cpu.setReg(Reg.RBX, BigInt(s.ebx));
    cpu.setReg(Reg.RSP, BigInt(s.esp));
    if (s.esi !== undefined) cpu.setReg(Reg.RSI, BigInt(s.esi));
    cpu.setRflags(BigInt(s.eflags));
    cpu.setRip(BigInt(s.eip));
    cpu.syncMode();
  }

  private readFiles(): void {
    const read = this.options.readFile ?? ((p: string) => readFileSync(p));
    try {
      this.kernelImage = read(this.config.kernel);
    } catch (e) {
      throw new MachineError(`could not load kernel '${this.config.kernel}': ${describeFsError(e)}`);
    }
    if (isLinuxKernel(this.kernelImage)) {
      if (this.config.initrd.length === 0) return;
      const file = this.config.initrd.join(',');
      try {
        this.linuxInitrd = read(file);
      } catch (e) {
        throw new MachineError(`could not load initrd '${file}': ${describeFsError(e)}`);
      }
      return;
    }
    this.modules = this.config.initrd.map((item) => {
      const file = item.split(' ')[0];
      try {
        return { cmdline: item, data: read(file) };
      } catch (e) {
        throw new MachineError(`could not load module '${file}': ${describeFsError(e)}`);
      }
    });
  }

  /**
   * The CMOS bytes QEMU's pc machine fills in (IBM PC/AT layout plus the Bochs/QEMU BIOS extensions
   * SeaBIOS reads): memory sizes, equipment, drives, boot order, CPU count.
   */
  private fillCmos(): void {
    const set16 = (lo: number, v: number) => {
      this.rtc.setCmos(lo, v & 0xff);
      this.rtc.setCmos(lo + 1, (v >> 8) & 0xff);
    };
    const ram = this.config.ramSize;
    set16(0x15, 640); // base memory in KiB
    const extKb = Math.min(Math.max(0, ram / 1024 - 1024), 0xffff); // KiB above 1 MiB
    set16(0x17, extKb);
    set16(0x30, extKb);
    const above16M = Math.min(Math.max(0, (ram - 16 * 1024 * 1024) / 65536), 0xffff); // 64 KiB units
    set16(0x34, above16M);
    // RAM above 4 GiB in 64 KiB units (0x5B-0x5D): none, all RAM fits below the PCI hole.
    for (const i of [0x5b, 0x5c, 0x5d]) this.rtc.setCmos(i, 0);
    this.rtc.setCmos(0x5f, 0); // CPUs - 1
    this.rtc.setCmos(0x10, 0x00); // floppy drive types: no drives
    this.rtc.setCmos(0x12, 0x00); // hard disk types: none
    this.rtc.setCmos(0x14, 0x06); // equipment: math coprocessor, PS/2 mouse; no floppies
    // Boot order "cad" (QEMU's default): hard disk, floppy, CD-ROM, as nibbles 1=floppy 2=hd 3=cd;
    // 0x38 bit 0 clear = check the floppy boot signature.
    this.rtc.setCmos(0x3d, 0x12);
    this.rtc.setCmos(0x38, 0x30);
    // The IBM PS/2 copy of the century byte (0x32 is kept by the RTC itself).
    this.rtc.setCmos(0x37, this.rtc.getCmos(0x32));
  }

  private serialSink(config: MachineConfig): (bytes: Uint8Array) => void {
    const backend = config.serial;
    if (!backend || backend.kind === 'null' || backend.kind === 'none') return () => {};
    if (backend.kind === 'file') {
      try {
        this.serialFd = openSync(backend.path, 'w');
      } catch (e) {
        throw new MachineError(`could not open serial output file '${backend.path}': ${describeFsError(e)}`);
      }
      const fd = this.serialFd;
      return (bytes) => {
        writeSync(fd, bytes);
      };
    }
    if (this.options.stdout) return this.options.stdout;
    // A reader that went away (`tsemu ... | head`) must not crash us: QEMU carries on without output.
    let broken = false;
    process.stdout.on('error', () => {
      broken = true;
    });
    return (bytes) => {
      if (!broken) process.stdout.write(bytes);
    };
  }

  private attachInput(): void {
    if (this.config.serial?.kind !== 'stdio' || !this.uart) return;
    const stdin = this.options.stdin === undefined ? process.stdin : this.options.stdin;
    if (!stdin) return;
    this.stdin = stdin;
    if (stdin.isTTY) {
      // The guest sees keys as typed, like QEMU's stdio backend puts the terminal in raw mode.
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', this.onInput);
    stdin.resume();
  }

  private readonly onInput = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const forward: number[] = [];
    for (const b of bytes) {
      if (this.config.nographic) {
        // -nographic: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h lists the keys.
        if (this.escapePending) {
          this.escapePending = false;
          if (b === 0x78 /* x */) {
            this.stderr('tsemu: terminated by Ctrl-A x\r\n');
            this.exit(0);
            return;
          }
          if (b === ESCAPE) forward.push(b);
          else if (b === 0x68 /* h */) this.stderr('\r\nCtrl-A x  quit tsemu\r\nCtrl-A h  this help\r\nCtrl-A Ctrl-A  send Ctrl-A to the guest\r\n');
          continue;
        }
        if (b === ESCAPE) {
          this.escapePending = true;
          continue;
        }
      } else if (this.rawMode && b === 0x03) {
        // Raw mode swallowed the terminal's SIGINT; keep Ctrl-C meaning "quit" as it does for QEMU.
        this.stderr('tsemu: terminated by Ctrl-C\r\n');
        this.exit(0);
        return;
      }
      forward.push(b);
    }
    if (forward.length) this.uart?.receive(forward);
    this.wakeUp();
  };

  /** HLT with nothing to do: sleep until the next timer, input, or a stop. */
  private async idle(forever = false): Promise<void> {
    const deadline = forever ? null : this.clock.nextDeadline();
    if (this.clock.frozen && !forever) {
      // A frozen clock (tests) jumps straight to the next event instead of sleeping.
      if (deadline !== null) {
        this.clock.set(Math.max(deadline, this.clock.now()));
        return;
      }
    } else if (deadline !== null && deadline <= this.clock.now()) {
      return;
    }
    await new Promise<void>((resolve) => {
      // Without a deadline the timer just keeps Node's event loop alive (QEMU would wait forever too).
      const ms = deadline === null || this.clock.frozen ? 2 ** 31 - 1 : Math.max(0, (deadline - this.clock.now()) / 1e6);
      const t = setTimeout(done, ms);
      this.wake = done;
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      if (this.exitStatus !== null) done();
    });
    this.wake = null;
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private exit(status: number): void {
    if (this.exitStatus === null) this.exitStatus = status;
    this.cpu?.requestStop();
    this.wakeUp();
  }

  private requestReset(): void {
    this.resetPending = true;
    this.cpu?.requestStop();
  }

  /** A triple fault or a reset through port 0x92. */
  private handleReset(): void {
    this.resetPending = false;
    if (!this.config.noReboot) {
      this.boot();
      return;
    }
    // -no-reboot turns the reset into a shutdown; -no-shutdown then stops the guest instead of exiting.
    if (this.config.noShutdown) {
      this.stderr('tsemu: guest reset with -no-reboot -no-shutdown: emulation stopped\n');
      this.paused = true;
      return;
    }
    this.exit(0);
  }

  private paused = false;

  /** True once the guest was stopped by -no-reboot -no-shutdown; run() then waits for stop(). */
  get isPaused(): boolean {
    return this.paused;
  }

  private close(): void {
    if (this.stdin) {
      this.stdin.off('data', this.onInput);
      if (this.rawMode) this.stdin.setRawMode(false);
      this.stdin.pause();
      this.stdin = null;
      this.rawMode = false;
    }
    if (this.serialFd !== null) {
      closeSync(this.serialFd);
      this.serialFd = null;
    }
  }
}
