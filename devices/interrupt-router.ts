// The CPU's interrupt-acknowledge path on a PC with a local APIC: the 8259 pair's INT output goes
// to the local APIC's LINT0 pin, the local APIC drives the CPU's INTR, and an INTA cycle is answered
// by the local APIC, or by the 8259 when the local APIC says the interrupt is ExtINT
// (SDM Vol. 3A §10.5.1, delivery mode ExtINT: "the processor ... responds as if the interrupt
// originated in an externally connected (8259A-compatible) interrupt controller").

/** The 8259 pair as the router needs it (devices/pic.ts DualPic). */
export interface ExternalPic {
  interruptAcknowledge(): number;
}

/** The local APIC as the router needs it (devices/apic.ts LocalApic). */
export interface RoutedApic {
  /** A vector, or -1 (EXTINT) to ask the 8259. */
  acknowledge(): number;
  setLint0(level: boolean): void;
  hasInterrupt(): boolean;
}

export class InterruptRouter {
  constructor(
    private readonly pic: ExternalPic,
    private readonly apic: RoutedApic,
  ) {}

  /** The 8259's INT output (give this to DualPic as its onIntr callback). */
  picOutput(level: boolean): void {
    this.apic.setLint0(level);
  }

  /** Whether the CPU's INTR is asserted (the local APIC's onIntr reports each change). */
  hasInterrupt(): boolean {
    return this.apic.hasInterrupt();
  }

  /** CpuHost.interruptAcknowledge. */
  interruptAcknowledge(): number {
    const v = this.apic.acknowledge();
    return v < 0 ? this.pic.interruptAcknowledge() : v;
  }
}
