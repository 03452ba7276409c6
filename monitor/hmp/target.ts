// What the human monitor needs from the machine. The machine implements MonitorTarget; the monitor
// only formats and parses, so it can be tested against a fake machine.

/** A segment register as `info registers` shows it (cpu/types.ts SegmentState has the same shape). */
export interface SegmentSnapshot {
  selector: number;
  base: bigint;
  limit: number;
  /** The descriptor's second dword (type, S, DPL, P, AVL, L, D/B, G); printed masked with 0x00ffff00. */
  flags: number;
}

/** One x87 register as stored: 64-bit significand and 16-bit sign+exponent. */
export interface FpuRegister {
  mantissa: bigint;
  exponent: number;
}

/**
 * One CPU's state for `info registers` and `$reg` expressions. Fields a CPU cannot report yet may be
 * left out: they print as QEMU shows them after reset.
 */
export interface RegisterSnapshot {
  /** RAX..R15 in encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15). */
  regs: readonly bigint[];
  rip: bigint;
  rflags: bigint;
  /** ES, CS, SS, DS, FS, GS. */
  segs: readonly SegmentSnapshot[];
  ldt: SegmentSnapshot;
  tr: SegmentSnapshot;
  gdt: { base: bigint; limit: number };
  idt: { base: bigint; limit: number };
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  /** DR0-DR3, then DR6 and DR7 (default 0xffff0ff0 and 0x400). */
  dr?: readonly bigint[];
  /** Current privilege level; default: SS.DPL in protected mode, 0 in real mode. */
  cpl?: number;
  /** Interrupts inhibited for one instruction (after STI or MOV SS). */
  interruptShadow?: boolean;
  /** Default true. */
  a20?: boolean;
  smm?: boolean;
  halted?: boolean;
  fpu?: {
    fcw: number;
    /** Status word including TOP (bits 13-11). */
    fsw: number;
    /** Abridged tag word (FXSAVE layout): bit i set = physical register i holds a value. */
    ftw: number;
    /** Physical registers R0-R7. */
    regs: readonly FpuRegister[];
  };
  mxcsr?: number;
  /** XMM0-XMM15 as [low, high] quadwords. */
  xmm?: readonly (readonly [bigint, bigint])[];
}

/** QEMU's run states (qapi RunState) as `info status` names them. */
export type RunState =
  | 'running'
  | 'paused'
  | 'prelaunch'
  | 'debug'
  | 'inmigrate'
  | 'internal-error'
  | 'io-error'
  | 'postmigrate'
  | 'finish-migrate'
  | 'restore-vm'
  | 'save-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'colo';

/** `info chardev` lines, in the order the machine lists its character devices. */
export interface ChardevInfo {
  label: string;
  filename: string;
}

/**
 * The machine as the monitor sees it. Commands that can fail return an error message (printed as
 * "Error: <message>", QEMU's wording); undefined means success.
 */
export interface MonitorTarget {
  /** `info version` prints "major.minor.micro" immediately followed by `package`; the banner uses the triple. */
  readonly version: { major: number; minor: number; micro: number; package: string };
  runState(): RunState;
  /** Single-step mode (`info status` adds " (single step mode)"). */
  singleStep?(): boolean;
  stop(): string | void;
  cont(): string | void;
  systemReset(): string | void;
  systemPowerdown(): string | void;
  /** `quit` (and nothing else): exit with status 0. */
  quit(): void;
  /** Inject an NMI into every CPU. */
  nmi(): string | void;

  /** CPUs in index order; threadId is what `info cpus` prints (QEMU: the vCPU thread's id). */
  cpus(): readonly { index: number; threadId: number }[];
  /** Register state of one CPU, or null if there is no such CPU. */
  registers(cpuIndex: number): RegisterSnapshot | null;

  /**
   * Guest-physical read as a debugger does it. Bytes at addresses nothing answers read as 0 and
   * make ok false (xp then says "Cannot access memory"; pmemsave writes the zeros).
   */
  readPhysical(addr: bigint, length: number): { bytes: Uint8Array; ok: boolean };
  /**
   * Read through CPU `cpuIndex`'s page tables (paging off: linear = physical). null when a page is
   * not mapped or not backed by anything (see readVirtualDebug in paging.ts for a ready-made walk).
   */
  readVirtual(cpuIndex: number, addr: bigint, length: number): Uint8Array | null;

  /** Port I/O as the CPU would do it; size 1, 2 or 4; port already masked to 16 bits. */
  ioRead(port: number, size: 1 | 2 | 4): number;
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;

  chardevs(): readonly ChardevInfo[];
}
