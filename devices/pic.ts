// The two cascaded Intel 8259A programmable interrupt controllers of the PC (master 0x20/0x21,
// slave 0xA0/0xA1 on the master's IR2) plus the ELCR edge/level registers at 0x4D0/0x4D1.
// Register semantics follow the 8259A datasheet ("ICW1".."ICW4", "OCW1".."OCW3", "Poll command");
// the ELCR is the PIIX/PIIX3 datasheet's "ELCR1/ELCR2" register.

import type { IoBus } from './io-bus.ts';

/** One 8259A. */
class Chip {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Input levels as last seen, for edge detection. */
  lines = 0;
  /** ELCR: per-input level-triggered bits. */
  elcr = 0;
  vectorBase = 0;
  /** Input whose priority is highest (the "lowest priority" register + 1). */
  priorityBase = 0;
  /** 0 = not initialising, else the number of the ICW expected next. */
  icwStep = 0;
  needIcw4 = false;
  single = false;
  /** ICW1 LTIM: every input level-triggered. */
  levelAll = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  specialMask = false;
  readIsr = false;
  poll = false;
  /** ICW3 as written (master: slave bitmap; slave: its cascade identity). */
  icw3 = 0;

  constructor(readonly elcrMask: number) {}

  reset(): void {
    // 8259A datasheet, ICW1: "the interrupt mask register is cleared, IR7 input is assigned
    // priority 7, the slave mode address is set to 7, special mask mode is cleared and status
    // read is set to IRR"; the edge-sense latches are cleared too.
    this.irr = 0;
    this.isr = 0;
    this.imr = 0;
    this.lines = 0;
    this.priorityBase = 0;
    this.specialMask = false;
    this.readIsr = false;
    this.poll = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
  }

  isLevel(irq: number): boolean {
    return this.levelAll || ((this.elcr >> irq) & 1) === 1;
  }

  setLine(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (this.isLevel(irq)) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !(this.lines & bit)) {
      // Edge mode latches a rising edge; the request stays in IRR after the line drops.
      this.irr |= bit;
    }
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
  }

  /** Priority rank of an input: 0 is the highest. */
  rank(irq: number): number {
    return (irq - this.priorityBase) & 7;
  }

  /** The input with the best rank among the set bits of `mask`, or -1. */
  best(mask: number): number {
    for (let r = 0; r < 8; r++) {
      const irq = (r + this.priorityBase) & 7;
      if (mask & (1 << irq)) return irq;
    }
    return -1;
  }

  /** The input that would be acknowledged now, or -1. */
  pending(isMaster: boolean): number {
    const req = this.best(this.irr & ~this.imr);
    if (req < 0) return -1;
    let inService = this.isr;
    // Special mask mode: a masked in-service level no longer blocks lower priorities (OCW3 SMM).
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode: the master lets more requests through from an in-service slave.
    if (isMaster && this.specialFullyNested) inService &= ~this.icw3;
    const cur = this.best(inService);
    if (cur >= 0 && this.rank(cur) <= this.rank(req)) return -1;
    return req;
  }

  /** INTA bookkeeping for `irq` (8259A datasheet, "Interrupt sequence"). */
  acknowledge(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityBase = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if (!this.isLevel(irq)) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if (v & 0x10) {
      this.reset();
      this.icwStep = 2;
      this.needIcw4 = (v & 0x01) !== 0;
      this.single = (v & 0x02) !== 0;
      this.levelAll = (v & 0x08) !== 0;
      return;
    }
    if (v & 0x08) {
      // OCW3
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2: R (bit 7), SL (bit 6), EOI (bit 5), level L in bits 2-0.
    const level = v & 7;
    switch (v >> 5) {
      case 1: // non-specific EOI
      case 5: {
        // ... with rotation
        const irq = this.best(this.isr);
        if (irq >= 0) {
          this.isr &= ~(1 << irq);
          if (v >> 5 === 5) this.priorityBase = (irq + 1) & 7;
        }
        break;
      }
      case 3: // specific EOI
        this.isr &= ~(1 << level);
        break;
      case 7: // rotate on specific EOI
        this.isr &= ~(1 << level);
        this.priorityBase = (level + 1) & 7;
        break;
      case 6: // set priority: L becomes the lowest
        this.priorityBase = (level + 1) & 7;
        break;
      case 4:
        this.rotateOnAutoEoi = true;
        break;
      case 0:
        this.rotateOnAutoEoi = false;
        break;
      default: // 2: no operation
        break;
    }
  }

  writeData(v: number): void {
    switch (this.icwStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.icwStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        return;
      case 3:
        this.icw3 = v;
        this.icwStep = this.needIcw4 ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (v & 0x02) !== 0;
        this.specialFullyNested = (v & 0x10) !== 0;
        this.icwStep = 0;
        return;
      default:
        this.imr = v; // OCW1
    }
  }
}

export class DualPic {
  private readonly master = new Chip(0xf8);
  private readonly slave = new Chip(0xde);
  private intr = false;

  /** `onIntr` drives the CPU's INTR pin. */
  constructor(private readonly onIntr: (level: boolean) => void) {}

  attach(bus: IoBus): void {
    bus.registerPorts(0x20, 2, {
      read: (port) => this.readPort(this.master, port & 1, true),
      write: (port, _size, v) => this.writePort(this.master, port & 1, v),
    });
    bus.registerPorts(0xa0, 2, {
      read: (port) => this.readPort(this.slave, port & 1, false),
      write: (port, _size, v) => this.writePort(this.slave, port & 1, v),
    });
    bus.registerPorts(0x4d0, 2, {
      read: (port) => (port === 0x4d0 ? this.master.elcr : this.slave.elcr),
      write: (port, _size, v) => {
        const chip = port === 0x4d0 ? this.master : this.slave;
        chip.elcr = v & chip.elcrMask;
        this.update();
      },
    });
  }

  /** Drive interrupt request line `irq` (0-15) to `level`. */
  setIrq(irq: number, level: boolean): void {
    if (irq < 0 || irq > 15) throw new Error(`IRQ ${irq} does not exist on the 8259 pair`);
    if (irq === 2) irq = 9; // On the AT, the ISA IRQ2 pin is wired to IR1 of the slave (IRQ9).
    if (irq < 8) this.master.setLine(irq, level);
    else this.slave.setLine(irq - 8, level);
    this.update();
  }

  /** The INTA cycle: vector of the highest-priority request, spurious IRQ7/15 if it went away. */
  interruptAcknowledge(): number {
    let vector: number;
    const irq = this.master.pending(true);
    if (irq < 0) {
      vector = this.master.vectorBase + 7;
    } else {
      this.master.acknowledge(irq);
      if (irq === 2) {
        const sirq = this.slave.pending(false);
        if (sirq < 0) {
          vector = this.slave.vectorBase + 7;
        } else {
          this.slave.acknowledge(sirq);
          vector = this.slave.vectorBase + sirq;
        }
      } else {
        vector = this.master.vectorBase + irq;
      }
    }
    this.update();
    return vector;
  }

  /**
   * The state a PC BIOS leaves (what QEMU 7.2 + SeaBIOS shows with `info pic` at a Multiboot
   * kernel's entry): vectors 0x08/0x70, only timer, keyboard, cascade and floppy unmasked on the
   * master, PCI INTx lines 10/11 level-triggered.
   */
  setBiosState(): void {
    for (const [chip, base, imr, elcr] of [
      [this.master, 0x08, 0xb8, 0x00],
      [this.slave, 0x70, 0x8e, 0x0c],
    ] as const) {
      chip.reset();
      chip.icwStep = 0;
      chip.vectorBase = base;
      chip.imr = imr;
      chip.elcr = elcr;
      chip.levelAll = false;
    }
    this.master.icw3 = 0x04;
    this.slave.icw3 = 0x02;
    this.update();
  }

  reset(): void {
    for (const chip of [this.master, this.slave]) {
      chip.reset();
      chip.elcr = 0;
      chip.icwStep = 0;
      chip.vectorBase = 0;
      chip.levelAll = false;
    }
    this.update();
  }

  /** For tests and the monitor. */
  state(): { master: ChipState; slave: ChipState } {
    const s = (c: Chip): ChipState => ({ irr: c.irr, isr: c.isr, imr: c.imr, vectorBase: c.vectorBase, elcr: c.elcr });
    return { master: s(this.master), slave: s(this.slave) };
  }

  private readPort(chip: Chip, a0: number, isMaster: boolean): number {
    if (chip.poll) {
      // Poll command: the read itself is the acknowledge (8259A datasheet, "The poll command").
      chip.poll = false;
      const irq = chip.pending(isMaster);
      if (irq < 0) return 0;
      chip.acknowledge(irq);
      this.update();
      return 0x80 | irq;
    }
    if (a0 === 1) return chip.imr;
    return chip.readIsr ? chip.isr : chip.irr;
  }

  private writePort(chip: Chip, a0: number, v: number): void {
    if (a0 === 0) chip.writeCommand(v);
    else chip.writeData(v);
    this.update();
  }

  private update(): void {
    // The slave's INT output is the master's IR2 input.
    this.master.setLine(2, this.slave.pending(false) >= 0);
    const level = this.master.pending(true) >= 0;
    if (level !== this.intr) {
      this.intr = level;
      this.onIntr(level);
    }
  }
}

export interface ChipState {
  irr: number;
  isr: number;
  imr: number;
  vectorBase: number;
  elcr: number;
}
