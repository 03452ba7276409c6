// System Control Port A (port 0x92), the "fast A20 and fast reset" port of PS/2-era chipsets
// (Intel 82371 PIIX3 datasheet, "Port 92h"): bit 1 gates address line 20, a 0->1 change of
// bit 0 pulses the CPU reset line. Reads return the last value written, as QEMU does.

import type { IoBus } from './io-bus.ts';

export class Port92 {
  private value: number;

  constructor(
    private readonly setA20: (enabled: boolean) => void,
    private readonly requestReset: () => void,
    a20Enabled = false,
  ) {
    this.value = a20Enabled ? 0x02 : 0x00;
  }

  attach(bus: IoBus): void {
    bus.registerPorts(0x92, 1, {
      read: () => this.value,
      write: (_port, _size, v) => this.write(v),
    });
  }

  /** Keep bit 1 in step when A20 is switched elsewhere (keyboard controller, loader). */
  noteA20(enabled: boolean): void {
    this.value = (this.value & ~0x02) | (enabled ? 0x02 : 0);
  }

  private write(v: number): void {
    const old = this.value;
    this.value = v & 0xff;
    this.setA20((v & 0x02) !== 0);
    if (v & 0x01 && !(old & 0x01)) this.requestReset();
  }
}
