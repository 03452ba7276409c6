// The 8042 keyboard/auxiliary device controller (data port 0x60, status/command port 0x64) with
// its two PS/2 ports, IRQ1 and IRQ12. Register bits, the command byte and the controller commands
// follow the IBM PS/2 Hardware Interface Technical Reference, "Keyboard/Auxiliary Device
// Controller" ("Status Register", "Command Byte", "Commands (I/O Address Hex 64)", "Output
// Port"); the pulse commands 0xF0-0xFF pulse output port bits 0-3 low (bit 0 is the CPU reset).
//
// Guest-visible behaviour is QEMU 7.2's i8042, which simplifies the real part:
// - everything is instantaneous: IBF, the time-out and parity bits never read as set;
// - the A2 bit (0x08, "last write was a command") always reads as set and the inhibit switch
//   bit (0x10) as "not inhibited"; the system flag (0x04) is set by the self test (0xAA) only;
// - the controller's own replies (command byte, test results, ports, 0xD2/0xD3 data) use a
//   one-byte buffer of their own that goes before device data; the keyboard's data comes before
//   the mouse's; a disabled port's data waits in its device (the keyboard interface disable bit
//   also keeps IRQ1 low);
// - the input port (0xC0) reads 0x80; unknown commands are ignored.
// The data byte is fetched from its source when the guest reads port 0x60, not when OBF rises.

import type { IoBus } from './io-bus.ts';

/** What the controller needs from a PS/2 device (devices/ps2-keyboard.ts, ps2-mouse.ts). */
export interface Ps2Device {
  /** The device's "I have data" line; it calls `line` on every change of its queue. */
  connect(line: (level: boolean) => void): void;
  /** Take the next byte (the last one again if nothing waits). */
  read(): number;
  /** A byte from the system. */
  write(value: number): void;
  /** Power-on state. */
  reset(): void;
}

export interface Ps2KeyboardDevice extends Ps2Device {
  /** The controller translates set 2 into set 1 (command byte bit 6). */
  setTranslation(on: boolean): void;
}

// Status register.
const ST_OBF = 0x01;
const ST_SYS = 0x04;
const ST_A2 = 0x08;
const ST_UNINHIBITED = 0x10;
const ST_AUXB = 0x20;

// Command byte.
const CB_KBD_INT = 0x01;
const CB_AUX_INT = 0x02;
const CB_KBD_OFF = 0x10;
const CB_AUX_OFF = 0x20;
const CB_XLATE = 0x40;

// Output port: bit 0 = not in reset, bit 1 = A20 gate, bits 4/5 = output buffer full (keyboard/
// mouse), the rest read as QEMU keeps them (ones).
const OUT_RESET_HIGH = 0x01;
const OUT_A20 = 0x02;
const OUT_KBD_FULL = 0x10;
const OUT_AUX_FULL = 0x20;
const OUT_POWER_ON = 0xcf;

/** Where the byte in the output buffer comes from. */
const enum Source {
  None,
  Controller,
  Keyboard,
  Mouse,
}

export interface I8042Options {
  keyboard: Ps2KeyboardDevice;
  mouse: Ps2Device;
  /** ISA interrupt lines: 1 (keyboard) and 12 (mouse); levels, the PIC sees the edges. */
  irq: (line: number, level: boolean) => void;
  /** Output port bit 1 and commands 0xDD/0xDF. */
  setA20: (enabled: boolean) => void;
  /** Output port bit 0 driven low: reset the CPU (the machine). */
  requestReset: () => void;
}

export class I8042 {
  private status = ST_A2 | ST_UNINHIBITED;
  private commandByte = CB_KBD_INT | CB_AUX_INT;
  private outputPort = OUT_POWER_ON;
  /** The controller command whose parameter the next data-port write is (0x60, 0xD1-0xD4), or 0. */
  private awaiting = 0;
  /** What port 0x60 returns: fetched on a read with OBF set, else the previous byte again. */
  private dataByte = 0;
  private source = Source.None;
  /** A controller reply not yet moved into the output buffer (QEMU keeps one). */
  private own: { byte: number; aux: boolean } | null = null;
  private kbdReady = false;
  private auxReady = false;
  private irq1 = false;
  private irq12 = false;
  /** While replaying the firmware's set-up, no IRQ edges reach the interrupt controllers. */
  private quiet = false;

  constructor(private readonly o: I8042Options) {
    o.keyboard.connect((level) => {
      this.kbdReady = level;
      this.refill();
    });
    o.mouse.connect((level) => {
      this.auxReady = level;
      this.refill();
    });
    this.reset();
  }

  attach(bus: IoBus): void {
    bus.registerPorts(0x60, 1, {
      read: () => this.readData(),
      write: (_port, _size, v) => this.writeData(v),
    });
    bus.registerPorts(0x64, 1, {
      read: () => this.status,
      write: (_port, _size, v) => this.writeCommand(v),
    });
  }

  /** Power-on and system reset (controller and both devices). */
  reset(): void {
    this.commandByte = CB_KBD_INT | CB_AUX_INT;
    this.status = ST_A2 | ST_UNINHIBITED;
    this.outputPort = OUT_POWER_ON;
    this.awaiting = 0;
    this.own = null;
    this.source = Source.None;
    this.kbdReady = this.auxReady = false;
    this.o.keyboard.reset();
    this.o.mouse.reset();
    this.emptyBuffer();
  }

  /**
   * What SeaBIOS leaves behind on QEMU's pc machine, for kernels started without it: it replays
   * the firmware's keyboard set-up (controller self test and keyboard interface test; keyboard
   * reset, disable, scan code set 2 and enable, each with both ports disabled and interrupts off
   * around it) so every register and the devices end as after the real thing: command byte 0x61
   * (translation, keyboard interrupt, mouse port disabled), system flag set, scanning on.
   */
  setBiosState(): void {
    this.reset();
    this.quiet = true;
    const take = () => {
      while (this.status & ST_OBF) this.readData();
    };
    this.writeCommand(0xaa);
    take();
    this.writeCommand(0xab);
    take();
    const deviceCommand = (saved: number, bytes: number[]) => {
      this.writeCommand(0x60);
      this.writeData((saved | CB_KBD_OFF | CB_AUX_OFF) & ~(CB_KBD_INT | CB_AUX_INT));
      this.writeCommand(0x60);
      this.writeData((saved | CB_AUX_OFF) & ~(CB_KBD_INT | CB_AUX_INT));
      for (const b of bytes) {
        this.writeData(b);
        take();
      }
      this.writeCommand(0x60);
      this.writeData(saved);
    };
    const off = CB_KBD_OFF | CB_AUX_OFF;
    deviceCommand(off, [0xff]);
    deviceCommand(off, [0xf5]);
    deviceCommand(off, [0xf0, 0x02]);
    deviceCommand(CB_AUX_OFF | CB_XLATE | CB_KBD_INT, [0xf4]);
    this.quiet = false;
    this.updateLines();
  }

  private readData(): number {
    if (!(this.status & ST_OBF)) return this.dataByte;
    this.emptyBuffer();
    switch (this.source) {
      case Source.Keyboard:
        this.dataByte = this.o.keyboard.read();
        break;
      case Source.Mouse:
        this.dataByte = this.o.mouse.read();
        break;
      case Source.Controller:
        this.dataByte = this.own?.byte ?? this.dataByte;
        this.own = null;
        if (this.next() !== Source.None) this.fill();
        break;
    }
    return this.dataByte;
  }

  private writeData(value: number): void {
    const v = value & 0xff;
    const command = this.awaiting;
    this.awaiting = 0;
    switch (command) {
      case 0:
        this.o.keyboard.write(v);
        // Sending to the keyboard enables its interface again.
        this.commandByte &= ~CB_KBD_OFF;
        this.refill();
        break;
      case 0x60:
        this.commandByte = v;
        this.o.keyboard.setTranslation((v & CB_XLATE) !== 0);
        this.updateLines();
        this.refill();
        break;
      case 0xd1:
        this.writeOutputPort(v);
        break;
      case 0xd2:
        this.reply(v, false);
        break;
      case 0xd3:
        this.reply(v, true);
        break;
      case 0xd4:
        this.o.mouse.write(v);
        this.commandByte &= ~CB_AUX_OFF;
        this.refill();
        break;
    }
  }

  private writeCommand(value: number): void {
    const v = value & 0xff;
    // 0xF0-0xFF pulse output port bits 0-3 where the command has a 0; only bit 0 (reset) matters.
    if ((v & 0xf0) === 0xf0) {
      if (!(v & 0x01)) this.o.requestReset();
      return;
    }
    switch (v) {
      case 0x20:
        this.reply(this.commandByte, false);
        break;
      case 0x60:
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xd4:
        this.awaiting = v;
        break;
      case 0xa7:
        this.commandByte |= CB_AUX_OFF;
        break;
      case 0xa8:
        this.commandByte &= ~CB_AUX_OFF;
        this.refill();
        break;
      case 0xa9: // auxiliary interface test: 0 = no error
      case 0xab: // keyboard interface test
        this.reply(0x00, false);
        break;
      case 0xaa: // self test: 0x55 = passed
        this.status |= ST_SYS;
        this.reply(0x55, false);
        break;
      case 0xad:
        this.commandByte |= CB_KBD_OFF;
        break;
      case 0xae:
        this.commandByte &= ~CB_KBD_OFF;
        this.refill();
        break;
      case 0xc0:
        this.reply(0x80, false);
        break;
      case 0xd0:
        this.reply(this.outputPort, false);
        break;
      case 0xdd: // A20 off / on (commands some chipsets add to the 8042's)
      case 0xdf: {
        const on = v === 0xdf;
        this.outputPort = on ? this.outputPort | OUT_A20 : this.outputPort & ~OUT_A20;
        this.o.setA20(on);
        break;
      }
      default:
        break;
    }
  }

  private writeOutputPort(v: number): void {
    this.outputPort = v;
    this.o.setA20((v & OUT_A20) !== 0);
    if (!(v & OUT_RESET_HIGH)) this.o.requestReset();
  }

  /** A byte produced by the controller itself (replaces one not yet in the output buffer). */
  private reply(byte: number, aux: boolean): void {
    this.own = { byte, aux };
    this.refill();
  }

  /** The source that would fill the output buffer now, in the controller's priority order. */
  private next(): Source {
    if (this.own) return Source.Controller;
    if (this.kbdReady && !(this.commandByte & CB_KBD_OFF)) return Source.Keyboard;
    if (this.auxReady && !(this.commandByte & CB_AUX_OFF)) return Source.Mouse;
    return Source.None;
  }

  /** Fill the output buffer if it is empty and something waits. */
  private refill(): void {
    if (this.status & ST_OBF) return;
    if (this.next() !== Source.None) this.fill();
  }

  private fill(): void {
    this.status &= ~(ST_OBF | ST_AUXB);
    this.outputPort &= ~(OUT_KBD_FULL | OUT_AUX_FULL);
    const src = this.next();
    if (src !== Source.None) {
      this.source = src;
      this.status |= ST_OBF;
      this.outputPort |= OUT_KBD_FULL;
      if (src === Source.Mouse || (src === Source.Controller && this.own?.aux)) {
        this.status |= ST_AUXB;
        this.outputPort |= OUT_AUX_FULL;
      }
    }
    this.updateLines();
  }

  private emptyBuffer(): void {
    this.status &= ~(ST_OBF | ST_AUXB);
    this.outputPort &= ~(OUT_KBD_FULL | OUT_AUX_FULL);
    this.updateLines();
  }

  /** IRQ1 for a keyboard byte, IRQ12 for a mouse byte in the buffer, as the command byte enables. */
  private updateLines(): void {
    const full = (this.status & ST_OBF) !== 0;
    const aux = (this.status & ST_AUXB) !== 0;
    const kbdLevel = full && !aux && (this.commandByte & (CB_KBD_INT | CB_KBD_OFF)) === CB_KBD_INT;
    const auxLevel = full && aux && (this.commandByte & CB_AUX_INT) !== 0;
    if (this.quiet) return;
    if (kbdLevel !== this.irq1) {
      this.irq1 = kbdLevel;
      this.o.irq(1, kbdLevel);
    }
    if (auxLevel !== this.irq12) {
      this.irq12 = auxLevel;
      this.o.irq(12, auxLevel);
    }
  }
}
