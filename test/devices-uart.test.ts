import { beforeEach, describe, expect, it } from 'vitest';
import { IoBus } from '../devices/io-bus.ts';
import { Uart16550 } from '../devices/uart.ts';
import { Clock } from '../emulator/clock.ts';

const COM1 = 0x3f8;
let bus: IoBus;
let clock: Clock;
let uart: Uart16550;
let sent: number[];
let irq: boolean;

const out = (reg: number, v: number) => bus.portWrite(COM1 + reg, 1, v);
const inb = (reg: number) => bus.portRead(COM1 + reg, 1);

beforeEach(() => {
  bus = new IoBus();
  clock = new Clock({ frozen: true });
  sent = [];
  irq = false;
  uart = new Uart16550((b) => sent.push(...b), (level) => (irq = level), clock);
  uart.attach(bus);
});

describe('16550A UART', () => {
  it('transmits THR writes to the sink and reports THR empty', () => {
    for (const c of 'hi\n') out(0, c.charCodeAt(0));
    expect(Buffer.from(sent).toString()).toBe('hi\n');
    expect(inb(5) & 0x60).toBe(0x60);
  });

  it('programs the divisor latch through DLAB', () => {
    out(3, 0x80);
    out(0, 0x01);
    out(1, 0x00);
    expect(inb(0)).toBe(1);
    out(3, 0x03); // 8N1, DLAB off
    expect(uart.baudRate).toBe(115200);
    out(0, 0x41); // now THR again
    expect(sent).toEqual([0x41]);
    expect(inb(3)).toBe(0x03);
  });

  it('receives bytes with DR and the RDA interrupt', () => {
    out(1, 0x01); // IER: received data
    expect(inb(2) & 0x0f).toBe(0x01); // nothing pending
    uart.receive(Buffer.from('A'));
    expect(irq).toBe(true);
    expect(inb(5) & 0x01).toBe(1);
    expect(inb(2) & 0x0f).toBe(0x04);
    expect(inb(0)).toBe(0x41);
    expect(inb(5) & 0x01).toBe(0);
    expect(irq).toBe(false);
  });

  it('without FIFOs holds one byte and keeps the rest of the host input waiting', () => {
    uart.receive(Buffer.from('xyz'));
    expect(uart.inputBacklog).toBe(2);
    expect(inb(0)).toBe(0x78);
    expect(inb(0)).toBe(0x79);
    expect(inb(0)).toBe(0x7a);
    expect(inb(5) & 0x03).toBe(0); // no data, no overrun
  });

  it('FIFO mode: IIR bits 7-6, trigger level, character timeout', () => {
    out(2, 0x81); // enable FIFOs, trigger level 8
    expect(inb(2) & 0xc0).toBe(0xc0);
    out(1, 0x01);
    uart.receive(Buffer.from('abc'));
    expect(irq).toBe(false); // below the trigger level, timeout not yet expired
    clock.advance(5e6); // > 4 character times at 9600 baud
    expect(irq).toBe(true);
    expect(inb(2) & 0x0f).toBe(0x0c);
    expect(inb(0)).toBe(0x61);
    uart.receive(Buffer.from('defghij'));
    expect(inb(2) & 0x0f).toBe(0x04); // 9 bytes >= 8
  });

  it('FCR bit 1 clears the receive FIFO', () => {
    out(2, 0x01);
    uart.receive(Buffer.from('abcd'));
    out(2, 0x03);
    expect(inb(5) & 0x01).toBe(0);
  });

  it('THRE interrupt: raised when enabled, cleared by reading IIR, raised again by a write', () => {
    out(1, 0x02);
    expect(irq).toBe(true);
    expect(inb(2) & 0x0f).toBe(0x02);
    expect(irq).toBe(false);
    expect(inb(2) & 0x0f).toBe(0x01);
    out(0, 0x20);
    expect(irq).toBe(true);
    out(1, 0x00);
    expect(irq).toBe(false);
  });

  it('loopback mode returns transmitted bytes and wires MCR to MSR', () => {
    out(4, 0x10 | 0x0b); // loop, OUT2, RTS, DTR
    out(0, 0x55);
    expect(sent).toEqual([]);
    expect(inb(5) & 0x01).toBe(1);
    expect(inb(0)).toBe(0x55);
    // CTS<-RTS, DSR<-DTR, RI<-OUT1 (0), DCD<-OUT2
    expect(inb(6) & 0xf0).toBe(0xb0);
    out(4, 0x10 | 0x04); // only OUT1
    expect(inb(6) & 0xf0).toBe(0x40);
  });

  it('overrun sets OE and reading LSR clears it; line status interrupt', () => {
    out(4, 0x10);
    out(1, 0x04); // IER: line status
    out(0, 1);
    out(0, 2); // no FIFO: the second byte overruns
    expect(irq).toBe(true);
    expect(inb(2) & 0x0f).toBe(0x06);
    expect(inb(5) & 0x02).toBe(0x02);
    expect(inb(5) & 0x02).toBe(0);
    expect(irq).toBe(false);
  });

  it('scratch register and MSR defaults', () => {
    out(7, 0x5a);
    expect(inb(7)).toBe(0x5a);
    expect(inb(6)).toBe(0xb0);
  });

  it('modem status interrupt on MSR delta in loopback', () => {
    out(1, 0x08);
    out(4, 0x10);
    out(4, 0x12); // RTS -> CTS changes: DCTS
    expect(inb(2) & 0x0f).toBe(0x00);
    expect(inb(6) & 0x01).toBe(0x01);
    expect(inb(2) & 0x0f).toBe(0x01);
  });
});
