// The contract between the CPU (WebAssembly, assembly/) and the rest of tsemu (TypeScript).
// Devices and the machine only ever see these types; the class that implements them is cpu/cpu.ts.

/** Called by the CPU for everything that is not guest RAM. Calls are synchronous. */
export interface CpuHost {
  /** IN from an I/O port; size in bytes (1, 2 or 4). Unclaimed ports read as all ones. */
  portRead(port: number, size: number): number;
  /** OUT to an I/O port; value is already truncated to size bytes. */
  portWrite(port: number, size: number, value: number): void;
  /** Read from a physical address that is not RAM (MMIO or unassigned); size 1, 2 or 4. */
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
  /** INTA cycle: the interrupt controller hands over the vector of the highest pending interrupt. */
  interruptAcknowledge(): number;
  /**
   * RDMSR of an MSR the CPU does not implement itself (the local APIC's x2APIC registers, the
   * TSC deadline): the value, or undefined to make the instruction fault #GP. Absent: #GP.
   */
  msrRead?(index: number): bigint | undefined;
  /** WRMSR of such an MSR: false (or absent) makes the instruction fault #GP. */
  msrWrite?(index: number, value: bigint): boolean;
  /** MOV from CR8: the local APIC's TPR[7:4]. Absent: CR8 is a plain 4-bit register. */
  readCr8?(): number;
  /** MOV to CR8 (0-15): the APIC's TPR becomes value << 4 (SDM Vol. 3A §10.8.6.1). */
  writeCr8?(value: number): void;
  /** Local APIC features the host's device implements, advertised in CPUID leaf 1 ECX. */
  readonly apicFeatures?: { x2apic: boolean; tscDeadline: boolean };
}

/** Why `run` returned. */
export const enum StopReason {
  /** The instruction budget ran out. */
  Budget = 0,
  /** HLT with no interrupt to take: the machine should advance time and wait for one. */
  Halt = 1,
  /** Somebody called requestStop() (isa-debug-exit, the monitor, a timer that needs servicing). */
  Requested = 2,
  /** A triple fault (shutdown): QEMU resets the machine, or exits with -no-reboot. */
  TripleFault = 3,
}

/** General-purpose register numbers, in x86 encoding order. */
export const enum Reg { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 }

/** Segment register numbers, in x86 encoding order; LDTR and TR follow. */
export const enum Seg { ES, CS, SS, DS, FS, GS, LDTR, TR }

/**
 * A segment register's visible selector and hidden descriptor cache.
 * `flags` is the descriptor's second dword masked with 0x00f0ff00 (type, S, DPL, P, AVL, L, D/B, G),
 * the same number QEMU's `info registers` prints.
 */
export interface SegmentState {
  selector: number;
  base: bigint;
  limit: number;
  flags: number;
}

export interface RunResult {
  reason: StopReason;
  /** Instructions retired by this call. */
  executed: number;
}

/** A firmware image held by the CPU (CpuApi.loadRom). */
export interface RomImage {
  readonly length: number;
  /** The CPU's own reference to the copy; meaningless elsewhere. */
  readonly handle: number;
}

/** What the machine, the loaders and the tests can do with a CPU. */
export interface CpuApi {
  /** Guest physical RAM (0 .. ramSize-1). DMA-capable devices read and write it directly. */
  readonly ram: Uint8Array;
  readonly ramSize: number;

  getReg(r: number): bigint;
  setReg(r: number, value: bigint): void;
  getRip(): bigint;
  setRip(value: bigint): void;
  /** RFLAGS with all lazily computed arithmetic flags materialised. */
  getRflags(): bigint;
  setRflags(value: bigint): void;
  getSeg(s: number): SegmentState;
  setSeg(s: number, state: SegmentState): void;
  getGdtr(): { base: bigint; limit: number };
  setGdtr(base: bigint, limit: number): void;
  getIdtr(): { base: bigint; limit: number };
  setIdtr(base: bigint, limit: number): void;
  /** Control registers 0, 2, 3, 4, 8. Writing flushes the TLB as the hardware would. */
  getCr(n: number): bigint;
  setCr(n: number, value: bigint): void;
  /** Model-specific registers (EFER is 0xC0000080). */
  getMsr(index: number): bigint;
  setMsr(index: number, value: bigint): void;
  /** Recompute the CPU mode (real/protected/long, CPL, default sizes) after setting state by hand. */
  syncMode(): void;

  /** Power-on/reset state: real mode, CS:IP = F000:FFF0 with CS base FFFF0000. */
  reset(): void;
  /** Run up to `budget` instructions. */
  run(budget: number): RunResult;
  /** Make the current or next `run` return with StopReason.Requested as soon as possible. */
  requestStop(): void;
  /** A rising edge on the NMI pin: vector 2, not maskable by IF, one at a time until IRET. */
  nmi(): void;
  /** Level of the INTR pin (from the 8259 PIC). */
  setIntr(level: boolean): void;
  /** The A20 gate (port 0x92 / keyboard controller). */
  setA20(enabled: boolean): void;
  /** Map a read-only region (firmware) at a physical address; data length a multiple of 4096. */
  mapRom(physAddr: number, data: Uint8Array): void;
  /** Mark a physical range as MMIO (handled by CpuHost.mmioRead/mmioWrite). Page granular. */
  mapMmio(physAddr: number, length: number): void;
  /**
   * Copy a firmware image (length a multiple of 4096) into the CPU's ROM area without mapping it;
   * mapRomImage then maps pages of it, as often as needed (the BIOS at 4 GiB and its ISA alias).
   */
  loadRom(data: Uint8Array): RomImage;
  /** Map `length` bytes of `image` from `offset` read-only at `physAddr` (page granular). */
  mapRomImage(physAddr: number, image: RomImage, offset: number, length: number): void;
  /**
   * Back a physical range inside guest RAM with that RAM again, writable or read-only (writes are
   * dropped): chipset shadowing of the BIOS area (i440FX PAM registers). Page granular.
   */
  mapRam(physAddr: number, length: number, writable: boolean): void;
  /**
   * Tell the CPU that the host wrote guest RAM (DMA, loaders, tests): instructions it decoded
   * earlier from that range are dropped. Writes by the guest itself need no notice.
   */
  ramWritten(physAddr: number, length: number): void;
  /**
   * Virtual time in nanoseconds, for the time-stamp counter (1 GHz of virtual time). Until the next
   * call the TSC advances `nsPerInstructionFx` / 65536 ticks per retired instruction (default 1, the
   * host's clock interpolates the same way: emulator/clock.ts); it never goes backwards. Never
   * called: the TSC is the instruction count (repeatable runs).
   */
  setVirtualTime(ns: bigint, nsPerInstructionFx?: number): void;
  /** Instructions retired since creation. */
  readonly instructionCount: bigint;
}
