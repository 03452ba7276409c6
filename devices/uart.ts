// A National Semiconductor 16550A UART (COM1 is 0x3F8, IRQ4). Register meanings follow the
// PC16550D datasheet ("Register Description", table II). Transmission is instantaneous, as in
// QEMU: a byte written to THR goes straight to the output sink and THR is empty again at once.

import type { IoBus } from './io-bus.ts';
import type { DeviceTimer, TimeSource } from './time-source.ts';

const FIFO_SIZE = 16;

// LSR bits (datasheet, "Line Status Register").
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_ERRORS = 0x1e;

// IER bits.
const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MS = 0x08;

// MCR bits.
const MCR_LOOP = 0x10;

/** The UART's reference clock divided by 16: divisor 1 is 115200 baud on the PC. */
const BASE_BAUD = 115200;

export class Uart16550 {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msr = 0;
  private scr = 0;
  private divisor = 12; // 9600 baud until the guest programs it
  private fifoEnabled = false;
  private triggerLevel = 1;
  private readonly rx: number[] = [];
  /** Host input not yet accepted by the receiver (the host side waits; nothing is overrun). */
  private readonly pendingInput: number[] = [];
  private thrInterrupt = false;
  private timeoutInterrupt = false;
  private irqLevel = false;
  private readonly timeoutTimer: DeviceTimer | null;

  /**
   * `output` receives transmitted bytes; `irq` drives the interrupt line (IRQ4 for COM1).
   * With a clock, the FIFO character-timeout interrupt waits 4 character times as on the chip;
   * without one it is reported immediately.
   */
  constructor(
    private readonly output: (bytes: Uint8Array) => void,
    private readonly irq: (level: boolean) => void,
    private readonly clock: TimeSource | null = null,
  ) {
    this.timeoutTimer = clock ? clock.createTimer(() => this.characterTimeout()) : null;
    this.reset();
  }

  attach(bus: IoBus, base = 0x3f8): void {
    bus.registerPorts(base, 8, {
      read: (port) => this.read(port - base),
      write: (port, _size, v) => this.write(port - base, v),
    });
  }

  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsr = LSR_THRE | LSR_TEMT;
    // With nothing modelled on the modem lines, a connected host reports CD, DSR and CTS (as QEMU does).
    this.msr = 0xb0;
    this.scr = 0;
    this.divisor = 12;
    this.fifoEnabled = false;
    this.triggerLevel = 1;
    this.rx.length = 0;
    this.thrInterrupt = false;
    this.timeoutInterrupt = false;
    this.timeoutTimer?.disarm();
    this.updateIrq();
  }

  /** Bytes from the host (terminal, file) for the guest to read. */
  receive(bytes: Uint8Array | number[]): void {
    for (const b of bytes) this.pendingInput.push(b & 0xff);
    this.fillReceiver();
  }

  /** Host bytes still waiting for room in the receiver. */
  get inputBacklog(): number {
    return this.pendingInput.length;
  }

  /** The baud rate the guest programmed (for tests and the monitor). */
  get baudRate(): number {
    return this.divisor === 0 ? 0 : BASE_BAUD / this.divisor;
  }

  read(reg: number): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (reg) {
      case 0:
        if (dlab) return this.divisor & 0xff;
        return this.readRbr();
      case 1:
        if (dlab) return this.divisor >> 8;
        return this.ier;
      case 2:
        return this.readIir();
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.lsr;
        // Reading LSR clears the error bits and the line-status interrupt (datasheet, LSR).
        this.lsr &= ~LSR_ERRORS;
        this.updateIrq();
        return v;
      }
      case 6: {
        const v = this.modemStatus();
        this.msr &= 0xf0; // reading MSR clears the delta bits
        this.updateIrq();
        return v;
      }
      default:
        return this.scr;
    }
  }

  write(reg: number, v: number): void {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (reg) {
      case 0:
        if (dlab) this.divisor = (this.divisor & 0xff00) | v;
        else this.transmit(v);
        break;
      case 1:
        if (dlab) {
          this.divisor = (this.divisor & 0xff) | (v << 8);
        } else {
          const enablingThre = !(this.ier & IER_THRE) && (v & IER_THRE);
          this.ier = v & 0x0f;
          // Enabling the THRE interrupt while THR is empty raises it at once (QEMU and real
          // 16550s agree; Linux's autoconfig relies on it).
          if (enablingThre && this.lsr & LSR_THRE) this.thrInterrupt = true;
          if (!(this.ier & IER_THRE)) this.thrInterrupt = false;
        }
        break;
      case 2:
        this.writeFcr(v);
        break;
      case 3:
        this.lcr = v;
        break;
      case 4: {
        const wasLoop = (this.mcr & MCR_LOOP) !== 0;
        const before = this.modemStatus() & 0xf0;
        this.mcr = v & 0x1f;
        if (wasLoop || (this.mcr & MCR_LOOP)) this.noteModemChange(before);
        break;
      }
      case 5:
        break; // LSR is read-only (the factory test writes are not modelled)
      case 6:
        break;
      default:
        this.scr = v;
    }
    this.updateIrq();
  }

  private transmit(v: number): void {
    if (this.mcr & MCR_LOOP) {
      // Loopback: the transmitter feeds the receiver directly (datasheet, MCR bit 4).
      this.pushRx(v);
    } else {
      this.output(Uint8Array.of(v));
    }
    this.thrInterrupt = (this.ier & IER_THRE) !== 0;
    this.lsr |= LSR_THRE | LSR_TEMT;
  }

  private readRbr(): number {
    let v = 0;
    if (this.rx.length > 0) v = this.rx.shift() as number;
    if (this.rx.length === 0) this.lsr &= ~LSR_DR;
    this.timeoutInterrupt = false;
    this.fillReceiver();
    this.restartTimeout();
    this.updateIrq();
    return v;
  }

  private readIir(): number {
    const id = this.interruptId();
    // Reading IIR while THRE is the reported source acknowledges it.
    if (id === 0x02) {
      this.thrInterrupt = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? 0xc0 : 0);
  }

  /** IIR bits 3-0: highest-priority pending source, or 1 for none (datasheet, table IV). */
  private interruptId(): number {
    if (this.ier & IER_RLS && this.lsr & (LSR_OE | LSR_ERRORS)) return 0x06;
    if (this.ier & IER_RDA) {
      if (this.timeoutInterrupt) return 0x0c;
      const level = this.fifoEnabled ? this.triggerLevel : 1;
      if (this.rx.length >= level) return 0x04;
    }
    if (this.ier & IER_THRE && this.thrInterrupt) return 0x02;
    if (this.ier & IER_MS && this.modemStatus() & 0x0f) return 0x00;
    return 0x01;
  }

  private writeFcr(v: number): void {
    const enable = (v & 1) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing the FIFO enable bit clears both FIFOs.
      this.rx.length = 0;
      this.lsr &= ~LSR_DR;
    }
    this.fifoEnabled = enable;
    if (v & 0x02) {
      this.rx.length = 0;
      this.lsr &= ~LSR_DR;
      this.timeoutInterrupt = false;
    }
    // Bit 2 clears the transmit FIFO: ours is always empty.
    this.triggerLevel = [1, 4, 8, 14][v >> 6];
    this.fillReceiver();
  }

  private modemStatus(): number {
    if (this.mcr & MCR_LOOP) {
      // Loopback wiring: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD (datasheet, MCR bit 4).
      const m = this.mcr;
      return (this.msr & 0x0f) | ((m & 2) << 3) | ((m & 1) << 5) | ((m & 4) << 4) | ((m & 8) << 4);
    }
    return this.msr;
  }

  private noteModemChange(before: number): void {
    const after = this.modemStatus() & 0xf0;
    const changed = before ^ after;
    let delta = 0;
    if (changed & 0x10) delta |= 0x01; // DCTS
    if (changed & 0x20) delta |= 0x02; // DDSR
    if (before & 0x40 && !(after & 0x40)) delta |= 0x04; // TERI: RI trailing edge only
    if (changed & 0x80) delta |= 0x08; // DDCD
    this.msr |= delta;
    if (this.mcr & MCR_LOOP) return;
    this.msr = (this.msr & 0x0f) | 0xb0;
  }

  private capacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private pushRx(v: number): void {
    if (this.rx.length >= this.capacity()) {
      // The shift register overwrites nothing in the FIFO; the new byte is lost (datasheet, OE).
      this.lsr |= LSR_OE;
    } else {
      this.rx.push(v);
      this.lsr |= LSR_DR;
    }
    this.restartTimeout();
    this.updateIrq();
  }

  private fillReceiver(): void {
    let moved = false;
    while (this.pendingInput.length > 0 && this.rx.length < this.capacity() && !(this.mcr & MCR_LOOP)) {
      this.rx.push(this.pendingInput.shift() as number);
      this.lsr |= LSR_DR;
      moved = true;
    }
    if (moved) this.restartTimeout();
    this.updateIrq();
  }

  /** FIFO mode: data below the trigger level is reported after 4 character times of silence. */
  private restartTimeout(): void {
    this.timeoutInterrupt = false;
    if (!this.fifoEnabled || this.rx.length === 0) {
      this.timeoutTimer?.disarm();
      return;
    }
    if (!this.timeoutTimer || !this.clock) {
      this.timeoutInterrupt = this.rx.length < this.triggerLevel;
      return;
    }
    const baud = this.baudRate || BASE_BAUD;
    const charNs = (10 * 1e9) / baud;
    this.timeoutTimer.arm(this.clock.now() + 4 * charNs);
  }

  private characterTimeout(): void {
    if (this.fifoEnabled && this.rx.length > 0) {
      this.timeoutInterrupt = true;
      this.updateIrq();
    }
  }

  private updateIrq(): void {
    // QEMU raises the line whatever MCR OUT2 says, so we do not gate it either.
    const level = this.interruptId() !== 0x01;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  /** Break condition from the host (e.g. a terminal break). */
  sendBreak(): void {
    this.pushRx(0);
    this.lsr |= LSR_BI;
    this.updateIrq();
  }
}
