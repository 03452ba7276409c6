// QEMU's isa-debug-exit device: a write of any value v to its ports ends the emulator with exit
// status (v << 1) | 1, so a test kernel can report pass/fail. Status 0 cannot be produced on purpose:
// that keeps "the guest said so" apart from a normal QEMU exit.

import type { IoBus } from './io-bus.ts';

/** QEMU's defaults for -device isa-debug-exit without properties. */
export const DEBUG_EXIT_DEFAULT_IOBASE = 0x501;
export const DEBUG_EXIT_DEFAULT_IOSIZE = 0x02;

export class DebugExit {
  constructor(
    private readonly onExit: (status: number) => void,
    readonly iobase = DEBUG_EXIT_DEFAULT_IOBASE,
    readonly iosize = DEBUG_EXIT_DEFAULT_IOSIZE,
  ) {}

  attach(bus: IoBus): void {
    bus.registerPorts(this.iobase, this.iosize, {
      maxSize: 4,
      read: () => 0xffffffff,
      // A process exit status is 8 bits, so only the low 7 bits of v survive.
      write: (_port, _size, v) => this.onExit(((v << 1) | 1) & 0xff),
    });
  }
}
