// The null backend: output disappears, input never comes. QEMU's "vc" (a text console on a
// display tsemu does not have) behaves the same here but keeps its own name in `info chardev`.

import { ChardevBase, type ChardevCommon } from './chardev.ts';

export class NullChardev extends ChardevBase {
  /** `driver` is "null" or "vc". */
  constructor(id: string, driver: 'null' | 'vc' = 'null', common: ChardevCommon = {}) {
    super(id, driver, common);
    // QEMU never reports a null device as opened (a monitor on it prints no greeting); a vc is.
    if (driver === 'vc') this.setOpen(true);
  }

  info(): string {
    return this.driver;
  }

  protected output(): void {}

  protected release(): void {}
}
