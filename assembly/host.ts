// Functions the CPU imports from the TypeScript host (cpu/cpu.ts). Each call leaves WebAssembly,
// so they are used only for port I/O, MMIO, interrupt acknowledge, and to unwind a faulting
// instruction.

@external("host", "portRead")
export declare function hostPortRead(port: u32, size: u32): u32;
@external("host", "portWrite")
export declare function hostPortWrite(port: u32, size: u32, value: u32): void;
@external("host", "mmioRead")
export declare function hostMmioRead(addr: u64, size: u32): u32;
@external("host", "mmioWrite")
export declare function hostMmioWrite(addr: u64, size: u32, value: u32): void;
@external("host", "interruptAcknowledge")
export declare function hostInterruptAcknowledge(): u32;
/** RDMSR of an MSR the host owns (local APIC, ...): 1 and the value at MSR_SCRATCH, or 0 for #GP. */
@external("host", "msrRead")
export declare function hostMsrRead(index: u32): u32;
/** WRMSR of an MSR the host owns: 1 if accepted, 0 for #GP. */
@external("host", "msrWrite")
export declare function hostMsrWrite(index: u32, value: u64): u32;
/** MOV from CR8: the local APIC's TPR[7:4], or -1 when the host has no APIC (CR8 is then a plain register). */
@external("host", "cr8Read")
export declare function hostCr8Read(): i32;
/** MOV to CR8: sets TPR to value << 4 (SDM Vol. 3A §10.8.6.1). */
@external("host", "cr8Write")
export declare function hostCr8Write(value: u32): void;
/** Throws a JS exception that unwinds the current run() call; the host then delivers the fault. */
@external("host", "abortInstruction")
export declare function hostAbortInstruction(): void;
