import { beforeEach, describe, expect, it } from 'vitest';
import { IoBus } from '../devices/io-bus.ts';
import { DualPic } from '../devices/pic.ts';

let bus: IoBus;
let pic: DualPic;
let intr: boolean[];

const out = (port: number, v: number) => bus.portWrite(port, 1, v);
const inb = (port: number) => bus.portRead(port, 1);

/** The classic PC initialisation: edge, cascade, vectors 0x20/0x28, 8086 mode. */
function initPc(icw4 = 0x01): void {
  out(0x20, 0x11);
  out(0x21, 0x20);
  out(0x21, 0x04);
  out(0x21, icw4);
  out(0xa0, 0x11);
  out(0xa1, 0x28);
  out(0xa1, 0x02);
  out(0xa1, icw4);
  out(0x21, 0x00);
  out(0xa1, 0x00);
}

const eoi = () => out(0x20, 0x20);

beforeEach(() => {
  bus = new IoBus();
  intr = [];
  pic = new DualPic((level) => intr.push(level));
  pic.attach(bus);
  initPc();
});

describe('8259A pair', () => {
  it('delivers a master IRQ with the programmed vector and raises INTR', () => {
    pic.setIrq(1, true);
    expect(intr.at(-1)).toBe(true);
    expect(pic.interruptAcknowledge()).toBe(0x21);
    expect(intr.at(-1)).toBe(false); // in service now, nothing else pending
    expect(pic.state().master.isr).toBe(0x02);
    eoi();
    expect(pic.state().master.isr).toBe(0);
  });

  it('delivers slave IRQs through the cascade', () => {
    pic.setIrq(12, true);
    expect(intr.at(-1)).toBe(true);
    expect(pic.interruptAcknowledge()).toBe(0x2c);
    expect(pic.state().master.isr).toBe(0x04);
    expect(pic.state().slave.isr).toBe(0x10);
  });

  it('honours fixed priority and nesting', () => {
    pic.setIrq(5, true);
    pic.setIrq(3, true);
    expect(pic.interruptAcknowledge()).toBe(0x23);
    // IRQ5 has lower priority than in-service IRQ3: INTR stays low.
    expect(intr.at(-1)).toBe(false);
    // IRQ1 has higher priority: it nests.
    pic.setIrq(1, true);
    expect(intr.at(-1)).toBe(true);
    expect(pic.interruptAcknowledge()).toBe(0x21);
    eoi(); // non-specific EOI ends IRQ1 (highest in service)
    expect(pic.state().master.isr).toBe(0x08);
    eoi();
    expect(pic.interruptAcknowledge()).toBe(0x25);
  });

  it('masks through OCW1 and reads IMR back', () => {
    out(0x21, 0xfe);
    expect(inb(0x21)).toBe(0xfe);
    pic.setIrq(3, true);
    expect(intr).not.toContain(true);
    out(0x21, 0x00);
    expect(intr.at(-1)).toBe(true);
  });

  it('reads IRR and ISR through OCW3', () => {
    pic.setIrq(4, true);
    pic.setIrq(6, true);
    out(0x20, 0x0a); // read IRR
    expect(inb(0x20)).toBe(0x50);
    pic.interruptAcknowledge();
    expect(inb(0x20)).toBe(0x40);
    out(0x20, 0x0b); // read ISR
    expect(inb(0x20)).toBe(0x10);
  });

  it('specific EOI clears the named level only', () => {
    pic.setIrq(3, true);
    pic.interruptAcknowledge();
    pic.setIrq(1, true);
    pic.interruptAcknowledge();
    out(0x20, 0x63); // specific EOI for IRQ3
    expect(pic.state().master.isr).toBe(0x02);
  });

  it('edge mode needs a new rising edge, level mode follows the line', () => {
    pic.setIrq(3, true);
    pic.interruptAcknowledge();
    eoi();
    // Line still high, but no new edge: nothing pending.
    expect(pic.state().master.irr & 0x08).toBe(0);
    pic.setIrq(3, false);
    pic.setIrq(3, true);
    expect(pic.state().master.irr & 0x08).toBe(0x08);

    // ELCR bit 10 makes IRQ10 level-triggered: IRR stays while the line is high.
    out(0x4d1, 0x04);
    expect(inb(0x4d1)).toBe(0x04);
    pic.setIrq(10, true);
    // The cascade input IR2 outranks the pending IRQ3.
    expect(pic.interruptAcknowledge()).toBe(0x2a);
    expect(pic.state().slave.irr & 0x04).toBe(0x04);
    pic.setIrq(10, false);
    expect(pic.state().slave.irr & 0x04).toBe(0);
  });

  it('ELCR ignores the bits of IRQs that are always edge-triggered', () => {
    out(0x4d0, 0xff);
    out(0x4d1, 0xff);
    expect(inb(0x4d0)).toBe(0xf8);
    expect(inb(0x4d1)).toBe(0xde);
  });

  it('level mode from ICW1 LTIM', () => {
    out(0x20, 0x19);
    out(0x21, 0x20);
    out(0x21, 0x04);
    out(0x21, 0x01);
    out(0x21, 0x00);
    pic.setIrq(5, true);
    expect(pic.interruptAcknowledge()).toBe(0x25);
    expect(pic.state().master.irr & 0x20).toBe(0x20);
  });

  it('gives a spurious IRQ7 when the request vanished before INTA', () => {
    out(0x4d0, 0x20); // IRQ5 level
    pic.setIrq(5, true);
    pic.setIrq(5, false);
    expect(pic.interruptAcknowledge()).toBe(0x27);
    expect(pic.state().master.isr).toBe(0); // spurious IRQ7 is not put in service
  });

  it('gives a spurious IRQ15 from the slave', () => {
    out(0x4d1, 0x08); // IRQ11 level
    pic.setIrq(11, true);
    expect(intr.at(-1)).toBe(true);
    // The slave's request drops but the master already latched IR2.
    pic.setIrq(11, false);
    expect(pic.interruptAcknowledge()).toBe(0x2f);
    expect(pic.state().slave.isr).toBe(0);
  });

  it('auto-EOI does not leave the level in service', () => {
    initPc(0x03);
    pic.setIrq(1, true);
    expect(pic.interruptAcknowledge()).toBe(0x21);
    expect(pic.state().master.isr).toBe(0);
  });

  it('rotate on non-specific EOI makes the served level the lowest', () => {
    pic.setIrq(1, true);
    pic.interruptAcknowledge();
    out(0x20, 0xa0); // rotate on non-specific EOI: IRQ1 now lowest, IRQ2 highest
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    pic.setIrq(4, true);
    expect(pic.interruptAcknowledge()).toBe(0x24);
  });

  it('set priority command (OCW2 SL+R) picks the lowest level', () => {
    out(0x20, 0xc4); // IRQ4 lowest -> IRQ5 highest
    pic.setIrq(0, true);
    pic.setIrq(6, true);
    expect(pic.interruptAcknowledge()).toBe(0x26);
  });

  it('poll mode acknowledges through a read', () => {
    pic.setIrq(6, true);
    out(0x20, 0x0c); // OCW3 poll
    expect(inb(0x20)).toBe(0x86);
    expect(pic.state().master.isr).toBe(0x40);
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0x00); // nothing pending above the in-service level
  });

  it('special mask mode lets lower priorities through a masked in-service level', () => {
    pic.setIrq(2 + 1, true); // IRQ3
    pic.interruptAcknowledge();
    pic.setIrq(5, true);
    expect(intr.at(-1)).toBe(false);
    out(0x21, 0x08); // mask IRQ3
    out(0x20, 0x68); // OCW3: set special mask
    expect(intr.at(-1)).toBe(true);
    expect(pic.interruptAcknowledge()).toBe(0x25);
  });

  it('ICW1 resets the mask and in-service state', () => {
    out(0x21, 0xff);
    pic.setIrq(1, true);
    out(0x21, 0x00);
    pic.interruptAcknowledge();
    out(0x20, 0x11);
    out(0x21, 0x40);
    out(0x21, 0x04);
    out(0x21, 0x01);
    expect(inb(0x21)).toBe(0);
    expect(pic.state().master.isr).toBe(0);
    expect(pic.state().master.vectorBase).toBe(0x40);
  });

  it('BIOS state matches what QEMU shows after SeaBIOS', () => {
    pic.setBiosState();
    const s = pic.state();
    expect(s.master).toMatchObject({ vectorBase: 0x08, imr: 0xb8, elcr: 0 });
    expect(s.slave).toMatchObject({ vectorBase: 0x70, imr: 0x8e, elcr: 0x0c });
    pic.setIrq(0, true);
    expect(pic.interruptAcknowledge()).toBe(0x08);
  });
});
