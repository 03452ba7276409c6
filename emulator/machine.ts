// The "pc" machine: a CPU plus the legacy and PCI devices, the firmware (SeaBIOS) or a kernel
// started directly, and the loop that runs it.
// The CPU is made by a factory so the machine can be tested (and typechecked) without cpu/cpu.ts.

import { readFileSync } from 'node:fs';
import { Reg, StopReason, type CpuApi, type CpuHost, type RunResult } from '../cpu/types.ts';
import { LocalApic } from '../devices/apic.ts';
import { DebugExit } from '../devices/debug-exit.ts';
import { InterruptRouter } from '../devices/interrupt-router.ts';
import { IoApic } from '../devices/ioapic.ts';
import { IoBus } from '../devices/io-bus.ts';
import { FwCfg } from '../devices/fw-cfg.ts';
import { Hpet } from '../devices/hpet.ts';
import { acpiFwCfgFiles, buildAcpi, installAcpiTables, type AcpiBuild } from '../devices/acpi/loader.ts';
import { I8042 } from '../devices/i8042.ts';
import { I440fx } from '../devices/pci/i440fx.ts';
import { PciBus } from '../devices/pci/pci.ts';
import { Piix3Ide, Piix3Isa } from '../devices/pci/piix3.ts';
import { Piix4Pm, SCI_IRQ } from '../devices/pci/piix4-pm.ts';
import { DualPic } from '../devices/pic.ts';
import { Pit } from '../devices/pit.ts';
import { Port92 } from '../devices/port92.ts';
import { Ps2Keyboard } from '../devices/ps2-keyboard.ts';
import { Ps2Mouse } from '../devices/ps2-mouse.ts';
import { Rtc } from '../devices/rtc.ts';
import { Uart16550 } from '../devices/uart.ts';
import { Clock } from './clock.ts';
import { VirtualTime } from './timing.ts';
import { FirmwareError, findFirmware, mapFirmware, populateFwCfg, vapicRom } from './firmware.ts';
import { isLinuxKernel, loadLinux, type LinuxLayout } from './linux-boot.ts';
import { KernelLoadError, loadMultiboot, type BootModule, type EntryState, type MultibootLayout } from './multiboot.ts';
import type { MachineConfig } from './options.ts';
import { ChardevError, backendId, openChardevs, processStdioHost, qemuInfoOrder, type ChardevSet, type StdioHost } from '../monitor/chardev/index.ts';
import { HumanMonitor, type RunState } from '../monitor/hmp/index.ts';
import { Mux, type ChardevWriter, type MuxFrontend } from '../monitor/mux.ts';
import { MachineMonitorTarget } from './monitor-target.ts';

/** What cpu/cpu.ts provides as `Cpu.create`. */
export type CpuFactory = (ramSize: number, host: CpuHost) => Promise<CpuApi>;

/** A problem the user must fix (file missing, bad kernel); main prints "tsemu: <message>". */
export class MachineError extends Error {
  override readonly name = 'MachineError';
}

export interface MachineOptions {
  /** Defaults to a clock that follows host time. */
  clock?: Clock;
  /** What the stdio chardev writes (COM1 with -serial stdio, the monitor...; default: process.stdout). */
  stdout?: (bytes: Uint8Array) => void;
  /** What the stdio chardev reads (default: process.stdin; null: no input). */
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
  /** The 8042 keyboard controller (0x60/0x64) and its PS/2 keyboard (host key events: keyboard.keyEvent) and mouse. */
  readonly i8042: I8042;
  readonly keyboard = new Ps2Keyboard();
  readonly mouse = new Ps2Mouse();
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
  /** Moves the clock with the CPU (emulator/timing.ts); null with a clock from MachineOptions (tests). */
  private time: VirtualTime | null = null;
  private readonly ownClock: boolean;
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
  /** Muxes of shared chardevs (`-serial mon:stdio`, -nographic, mux=on) by chardev id. */
  private readonly muxes = new Map<string, Mux>();
  /** The human monitors (-monitor, -mon, mon:), for tests and the record. */
  readonly monitors: HumanMonitor[] = [];
  /** Where COM1's transmitter writes: its chardev, or its port on a mux. */
  private serialOut: ChardevWriter | null = null;
  /** QEMU's run state, as `info status` reports it. */
  private state: RunState = 'running';
  /** The clock was frozen because the VM stopped (and must follow host time again on cont). */
  private clockStopped = false;
  /** The BIOS image of a firmware boot (the monitor reads it at the top of the 4 GiB space). */
  firmwareImage: Uint8Array | null = null;
  private kernelImage: Uint8Array = new Uint8Array(0);
  private modules: BootModule[] = [];
  /** -initrd of a Linux kernel: one file (QEMU takes the whole -initrd string as its name). */
  private linuxInitrd: Uint8Array | null = null;

  private constructor(
    readonly config: MachineConfig,
    private readonly options: MachineOptions,
    /** Every chardev of the command line, opened before the machine was built, as in QEMU. */
    readonly chardevs: ChardevSet,
  ) {
    // The machine's own clock stands still but when the run loop moves it with the instructions
    // the CPU retires and over idle time (emulator/timing.ts), -icount or not.
    this.ownClock = options.clock === undefined;
    this.clock = options.clock ?? new Clock({ frozen: true });
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
    this.i8042 = new I8042({ keyboard: this.keyboard, mouse: this.mouse, irq: (line, level) => this.isaIrq(line, level), setA20: (on) => this.cpu?.setA20(on), requestReset: () => this.requestReset() });
    this.i8042.attach(this.bus);
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
    // ACPI tables for SeaBIOS to install through the table loader (devices/acpi/loader.ts). The
    // DSDT lists the i8042 (PNP0303/PNP0F13): SeaBIOS looks for it before initialising PS/2.
    this.acpi = buildAcpi({ lowRamEnd: config.ramSize, cpus: 1, serial: config.serial !== null, keyboard: true, hpet: true });
    for (const f of acpiFwCfgFiles(this.acpi)) this.fwCfg.addFile(f.name, f.data);
    this.clock.onChange = () => {
      // A timer armed during a slice that ends later: stop the CPU so the interrupt comes on time.
      if (this.time?.deadlineInSlice()) this.cpu.requestStop();
      this.wakeUp();
    };
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
        this.firmwareImage = image;
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
      this.setRunState('shutdown');
      return;
    }
    this.exit(0);
  }

  /** Build the machine, its CPU and load the kernel; throws MachineError on user mistakes. */
  static async create(config: MachineConfig, createCpu: CpuFactory, options: MachineOptions = {}): Promise<Machine> {
    // Chardevs come first, as in QEMU: their errors precede kernel errors, and a server socket
    // with wait=on holds everything up until its client connects.
    const stderr = options.stderr ?? ((t: string) => void process.stderr.write(t));
    let chardevs: ChardevSet;
    try {
      chardevs = await openChardevs(config.chardevs, { notify: (t) => stderr(`tsemu: ${t}\n`), stdio: stdioHostOf(options) });
    } catch (e) {
      if (e instanceof ChardevError) throw new MachineError(e.message);
      throw e;
    }
    let m: Machine;
    try {
      m = new Machine(config, options, chardevs);
    } catch (e) {
      await chardevs.closeAll();
      throw e;
    }
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
      if (config.startPaused) m.setRunState('prelaunch');
      m.connectChardevs();
    } catch (e) {
      await m.close();
      throw e;
    }
    return m;
  }

  /** Run until the guest exits (debug-exit, shutdown) or stop() is called; returns the exit status. */
  async run(): Promise<number> {
    try {
      let lastYield = performance.now();
      while (this.exitStatus === null) {
        this.clock.runDue();
        if (this.resetPending) this.handleReset();
        if (this.exitStatus !== null) break;
        if (this.paused) {
          const stoppedAt = performance.now();
          await this.idle(true);
          this.time?.stopped((performance.now() - stoppedAt) * 1e6);
          continue;
        }
        const r = this.runSlice();
        if (r.reason === StopReason.Halt) {
          // May return without sleeping (deadline reached by moving time): the yield below still counts.
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
      await this.close();
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

  /** One cpu.run() slice; virtual time moves with the instructions it retired. */
  private runSlice(): RunResult {
    if (this.ownClock) {
      this.time ??= new VirtualTime(this.clock, this.cpu, this.config.icountShift);
      const budget = this.time.budget(this.sliceBudget);
      this.time.beginSlice(budget);
      let r: RunResult;
      try {
        r = this.cpu.run(budget);
      } catch (e) {
        this.clock.endSlice();
        throw e;
      }
      this.time.endSlice(r.executed);
      return r;
    }
    // A clock from the options (tests): it follows the host, or stands still but for -icount.
    const shift = this.config.icountShift;
    let budget = this.sliceBudget;
    const next = this.clock.nextDeadline();
    if (shift !== null && next !== null) {
      budget = Math.max(1, Math.min(budget, Math.ceil((next - this.clock.now()) / 2 ** shift)));
    }
    this.cpu.setVirtualTime(BigInt(Math.floor(this.clock.now())));
    const r = this.cpu.run(budget);
    if (shift !== null) this.clock.advance(r.executed * 2 ** shift);
    return r;
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
    this.i8042.reset();
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
    this.i8042.setBiosState();
    this.setPlatformBiosState();
    let entry: EntryState & { esi?: number };
    try {
      // A Linux setup header ("HdrS") wins over anything else, as in QEMU; the rest is Multiboot.
      if (isLinuxKernel(this.kernelImage)) {
        this.linuxLayout = this.loadLinuxWithAcpi();
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

  /**
   * A Linux bzImage has no firmware to install the ACPI tables (QEMU's SeaBIOS does it through the
   * fw_cfg table loader), so the machine runs the loader's commands itself: the tables at the top
   * of RAM, which the e820 map then keeps from the kernel, and the RSDP in the BIOS area, where
   * Linux scans for it. That gives Linux the MADT (local APIC, I/O APIC, IRQ0 on pin 2), the HPET
   * table and the FADT (PM timer, SCI, soft-off through PM1a_CNT).
   */
  private loadLinuxWithAcpi(): LinuxLayout {
    const ram = this.cpu.ram;
    // Page aligned, so the e820 map splits RAM on a page boundary.
    const base = Math.floor((this.config.ramSize - this.acpi.tables.length) / 4096) * 4096;
    const layout = loadLinux(ram, {
      kernel: this.kernelImage,
      cmdline: this.config.append,
      initrd: this.linuxInitrd,
      acpiTables: { base, length: this.config.ramSize - base },
    });
    installAcpiTables(this.acpi, (address, bytes) => ram.set(bytes, address), { tablesAddress: base });
    return layout;
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

  /** COM1's transmitter: whatever connectChardevs() put behind it (nothing yet while booting). */
  private serialSink(_config: MachineConfig): (bytes: Uint8Array) => void {
    return (bytes) => this.serialOut?.write(bytes);
  }

  /**
   * Connects COM1 and the monitors to their chardevs. A chardev with several frontends gets a
   * mux; monitors attach first, so (as in QEMU) the serial port starts with the mux's focus.
   */
  private connectChardevs(): void {
    const cfg = this.config.chardevs;
    for (const spec of cfg.chardevs) {
      if (!spec.mux) continue;
      const base = this.chardevs.get(backendId(spec));
      if (!base) continue;
      const mux = new Mux({
        backend: base,
        escapeChar: cfg.echr,
        onExit: () => this.exit(0),
        // C-a s writes -snapshot overlays back; tsemu has no -snapshot yet, so there is nothing to do.
        onCommit: () => {},
      });
      base.attach(mux);
      this.muxes.set(spec.id, mux);
    }
    const target = new MachineMonitorTarget(this);
    const hostStdout = this.options.stdout;
    for (const spec of cfg.monitors) {
      const monitor = new HumanMonitor({
        target,
        // The few messages QEMU prints with printf() go where the stdio chardev writes.
        stdout: hostStdout ? (text) => hostStdout(Buffer.from(text, 'latin1')) : undefined,
      });
      this.monitors.push(monitor);
      const mux = this.muxes.get(spec.chardev);
      if (mux) {
        monitor.connect(mux.attach(monitor));
        continue;
      }
      const dev = this.chardevs.get(spec.chardev);
      if (!dev) continue;
      dev.attach(monitor);
      monitor.connect(dev);
    }
    const com1 = this.config.serial;
    if (this.uart && com1 !== null) {
      const uart = this.uart;
      const frontend: MuxFrontend = {
        receive: (bytes) => {
          uart.receive(bytes);
          this.wakeUp();
        },
        event: (event) => {
          // A telnet BREAK or C-a b: a break condition on the line (Linux's magic SysRq).
          if (event !== 'break') return;
          uart.sendBreak();
          this.wakeUp();
        },
      };
      const mux = this.muxes.get(com1);
      if (mux) {
        this.serialOut = mux.attach(frontend);
      } else {
        const dev = this.chardevs.get(com1);
        dev?.attach(frontend);
        this.serialOut = dev ?? null;
      }
    }
    // QEMU opens muxes once the machine is built; monitors on them print their banner then.
    for (const mux of this.muxes.values()) mux.open();
  }

  /** `info chardev`: every chardev and mux, in the order QEMU lists them (see info-order.ts). */
  chardevInfo(): { label: string; filename: string }[] {
    const byName = new Map<string, string>();
    for (const c of this.chardevs.list()) {
      byName.set(c.id, c.info());
      // QEMU creates a mux right after the backend it sits on.
      const muxId = c.id.endsWith('-base') ? c.id.slice(0, -5) : null;
      if (muxId !== null && this.muxes.has(muxId)) byName.set(muxId, 'mux');
    }
    return qemuInfoOrder([...byName.keys()]).map((label) => ({ label, filename: byName.get(label)! }));
  }

  // ---- the run state, for the monitor (QEMU's runstate) ----

  get runState(): RunState {
    return this.state;
  }

  /** Moves to `state`; leaving or entering 'running' stops or starts the CPU and the virtual clock. */
  private setRunState(state: RunState): void {
    const wasRunning = this.state === 'running';
    this.state = state;
    if (wasRunning && state !== 'running') {
      this.cpu?.requestStop();
      // QEMU's virtual clock stands still while the VM is stopped (a frozen -icount clock already does).
      if (!this.clock.frozen) {
        this.clock.freeze();
        this.clockStopped = true;
      }
    } else if (!wasRunning && state === 'running') {
      if (this.clockStopped) {
        this.clock.thaw();
        this.clockStopped = false;
      }
      this.wakeUp();
    }
  }

  /** The monitor's `stop`: only a running VM pauses (-S's prelaunch and a shutdown stay as they are). */
  pause(): void {
    if (this.state === 'running') this.setRunState('paused');
  }

  /** The monitor's `cont`; an error text when the VM must be reset first. */
  resume(): string | void {
    if (this.state === 'shutdown' || this.state === 'internal-error') return 'Resetting the Virtual Machine is required';
    if (this.state !== 'running') this.setRunState('running');
  }

  /** `system_reset`: as a guest reset (with -no-reboot it becomes a shutdown, as in QEMU). */
  systemReset(): void {
    this.requestReset();
    this.wakeUp();
  }

  /** `system_powerdown`: press the ACPI power button (the guest decides what to do). */
  powerButton(): void {
    this.pm.pressPowerButton();
    this.wakeUp();
  }

  /** `nmi`: a rising edge on the CPU's NMI pin. */
  injectNmi(): void {
    this.cpu.nmi();
    this.wakeUp();
  }

  /** `o`: a port write as the CPU would make it; devices may raise interrupts, so the loop looks again. */
  monitorPortWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.bus.portWrite(port, size, value);
    this.wakeUp();
  }

  /** HLT with nothing to do: sleep until the next timer, input, or a stop. */
  private async idle(forever = false): Promise<void> {
    let ms: number;
    if (forever) {
      ms = Infinity;
    } else if (this.time) {
      // The machine's clock: virtual time may just move to the deadline (emulator/timing.ts).
      ms = this.time.idle();
      if (ms === 0) return;
    } else {
      const deadline = this.clock.nextDeadline();
      if (this.clock.frozen && deadline !== null) {
        // A frozen clock (tests) jumps straight to the next event instead of sleeping.
        this.clock.set(Math.max(deadline, this.clock.now()));
        return;
      }
      if (deadline !== null && deadline <= this.clock.now()) return;
      ms = deadline === null || this.clock.frozen ? Infinity : (deadline - this.clock.now()) / 1e6;
    }
    await new Promise<void>((resolve) => {
      // Without a deadline the timer just keeps Node's event loop alive (QEMU would wait forever too).
      const t = setTimeout(done, Math.min(2 ** 31 - 1, Math.max(0, ms)));
      this.wake = done;
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      if (this.exitStatus !== null) done();
    });
    this.wake = null;
    if (!forever) this.time?.woke();
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
      // A reset while stopped (the monitor's system_reset) leaves the VM waiting for cont, as QEMU's prelaunch.
      if (this.state !== 'running') this.setRunState('prelaunch');
      return;
    }
    // -no-reboot turns the reset into a shutdown; -no-shutdown then stops the guest instead of exiting.
    if (this.config.noShutdown) {
      this.stderr('tsemu: guest reset with -no-reboot -no-shutdown: emulation stopped\n');
      this.setRunState('shutdown');
      return;
    }
    this.exit(0);
  }

  /** The loop does not run the CPU (stopped by the monitor, -S, or a -no-shutdown shutdown). */
  private get paused(): boolean {
    return this.state !== 'running';
  }

  /** True while the guest is stopped (-no-reboot -no-shutdown, -S, the monitor's stop); run() then waits. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Releases the chardevs (files, sockets) and gives the terminal back; safe to call twice. */
  private async close(): Promise<void> {
    await this.chardevs.closeAll();
  }
}

/** The stdio chardev's host when a caller (a test) replaced stdin or stdout; undefined: the process's own. */
function stdioHostOf(options: MachineOptions): StdioHost | undefined {
  if (options.stdout === undefined && options.stdin === undefined) return undefined;
  const stdin = options.stdin === undefined ? process.stdin : options.stdin;
  if (options.stdout) return { stdin, stdout: options.stdout, process };
  return { ...processStdioHost(), stdin };
}
