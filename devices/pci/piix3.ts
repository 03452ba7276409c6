// The Intel 82371SB PIIX3 PCI-to-ISA bridge (PCI 00:01.0) and its IDE function (00:01.1).
// Facts: 82371FB/SB (PIIX/PIIX3) datasheet §2.2 (function 0 configuration registers: PIRQRC[A:D]
// at 0x60-0x63, "PIRQx Route Control"), §4.1.1 "RC - Reset Control Register" (I/O 0xCF9) and §2.3
// (IDE configuration, BMIBA at 0x20). Reset values and IDs are what QEMU 7.2's pc machine shows.
// The edge/level control registers (ELCR, 0x4D0/0x4D1) live in devices/pic.ts.

import type { IoBus } from '../io-bus.ts';
import { PciFunction, type PciIrqRouter } from './pci.ts';

const PIRQRC = 0x60;
/** PIRQRC bit 7: the line is not routed to any ISA IRQ. */
const PIRQ_DISABLE = 0x80;

/** Reset control register bits (datasheet §4.1.1). */
const RC_SYSTEM_RESET = 0x02;
const RC_RESET_CPU = 0x04;

export class Piix3Isa extends PciFunction implements PciIrqRouter {
  /** ISA IRQ currently driven by each PIRQ line (-1: not routed or low). */
  private readonly driving = [-1, -1, -1, -1];
  private rc = 0;

  /**
   * `setIsaIrq` drives an ISA interrupt line (the 8259 input and the I/O APIC pin of the same
   * number); `reset` asks for a system reset.
   */
  constructor(
    private readonly setIsaIrq: (irq: number, level: boolean) => void,
    private readonly requestReset: () => void,
    private readonly pirqLevel: (pirq: number) => boolean = () => false,
  ) {
    super('PIIX3', {
      vendorId: 0x8086,
      deviceId: 0x7000,
      revision: 0x00,
      classCode: 0x060100,
      headerType: 0x80, // multi-function: the IDE (and on real boards USB) functions follow
      status: 0x0200, // DEVSEL# medium timing
    });
    // QEMU 7.2's reset values (PIIX3 datasheet defaults for most of them): ISA I/O recovery
    // timer, X-bus chip select, PIRQs unrouted, top of memory, motherboard IRQ/DMA routing off,
    // programmable chip select control, SMI enable and SMI request.
    this.config[0x4c] = 0x4d;
    this.config[0x4e] = 0x03;
    this.config.fill(PIRQ_DISABLE, PIRQRC, PIRQRC + 4);
    this.config[0x69] = 0x02;
    this.config[0x70] = 0x80;
    this.config[0x76] = 0x0c;
    this.config[0x77] = 0x0c;
    this.config[0x78] = 0x02;
    this.config[0xa0] = 0x08;
    this.config[0xa8] = 0x0f;
    this.sealInitialState();
  }

  /** The reset control register shares port 0xCF9 with nothing: CONFIG_ADDRESS only takes dwords. */
  attach(bus: IoBus): void {
    bus.registerPorts(0xcf9, 1, {
      read: () => this.rc,
      write: (_port, _size, v) => {
        // Writing RCPU = 1 starts the reset; SRST picks hard or soft reset, both are a full reset here.
        if (v & RC_RESET_CPU) {
          this.rc = 0;
          this.requestReset();
          return;
        }
        this.rc = v & RC_SYSTEM_RESET;
      },
    });
  }

  /**
   * The ISA IRQ a PIRQ line is routed to, or -1 (datasheet §2.2.12: IRQ number in bits 3:0, bit 7
   * disables the route). Like QEMU, any value of 16 or more counts as unrouted and the values the
   * datasheet calls reserved (0-2, 8, 13) are routed anyway.
   */
  routeOf(pirq: number): number {
    const v = this.config[PIRQRC + (pirq & 3)];
    return v < 16 ? v : -1;
  }

  setPirq(pirq: number, level: boolean): void {
    this.drive(pirq & 3, level);
  }

  /** The values SeaBIOS programs on QEMU's pc machine: PIRQA/B to IRQ 10, PIRQC/D to IRQ 11. */
  setBiosState(): void {
    this.config[PIRQRC] = 10;
    this.config[PIRQRC + 1] = 10;
    this.config[PIRQRC + 2] = 11;
    this.config[PIRQRC + 3] = 11;
    this.reroute();
  }

  override reset(): void {
    super.reset();
    this.rc = 0;
    this.reroute();
  }

  protected override configWritten(offset: number, size: number, old: Uint8Array): void {
    super.configWritten(offset, size, old);
    if (offset < PIRQRC + 4 && offset + size > PIRQRC) this.reroute();
  }

  /** Routing changed: move every asserted PIRQ to its new IRQ. */
  private reroute(): void {
    for (let p = 0; p < 4; p++) this.drive(p, this.pirqLevel(p));
  }

  private drive(pirq: number, level: boolean): void {
    const want = level ? this.routeOf(pirq) : -1;
    const cur = this.driving[pirq];
    if (cur === want) return;
    this.driving[pirq] = want;
    // Several PIRQs may share an IRQ: the line stays high while any of them drives it.
    if (cur >= 0 && !this.driving.includes(cur)) this.setIsaIrq(cur, false);
    if (want >= 0) this.setIsaIrq(want, true);
  }
}

/**
 * PIIX3 IDE (82371SB function 1, 8086:7010): configuration space only for now. Legacy-mode
 * channels (programming interface 0x80: bus-master capable, both channels in compatibility mode,
 * so no BARs 0-3 and no interrupt pin); BAR 4 is the 16-byte bus-master I/O block.
 */
export class Piix3Ide extends PciFunction {
  constructor() {
    super('PIIX3 IDE', { vendorId: 0x8086, deviceId: 0x7010, revision: 0x00, classCode: 0x010180, status: 0x0280 }, [
      undefined,
      undefined,
      undefined,
      undefined,
      { kind: 'io', size: 16 },
    ]);
    this.sealInitialState();
  }

  /** SeaBIOS enables both channels' decode (IDETIM bit 15) and puts the bus-master block at 0xC000. */
  setBiosState(): void {
    this.set32(0x20, 0xc001);
    this.set16(0x40, 0x8000);
    this.set16(0x42, 0x8000);
    this.set16(0x04, this.command | 0x0103);
    this.bus?.updateMappings(this);
  }
}
