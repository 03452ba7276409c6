// The 8042 keyboard controller (devices/i8042.ts) with its PS/2 keyboard and mouse
// (devices/ps2-keyboard.ts, devices/ps2-mouse.ts), driven through ports 0x60/0x64 as a guest
// does; values are those QEMU 7.2 gives (images/test-kernels/i8042.c checks them against QEMU).
// The last test boots SeaBIOS on the real CPU and checks that the firmware leaves the controller
// as I8042.setBiosState() does for kernels started directly.

import { existsSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { I8042 } from '../devices/i8042.ts';
import { IoBus } from '../devices/io-bus.ts';
import { KEY_NAMES, KEYBOARD_QUEUE_BYTES, Ps2Keyboard, SET2_TO_SET1, keyNameForNumber } from '../devices/ps2-keyboard.ts';
import { MOUSE_LEFT, MOUSE_QUEUE_BYTES, Ps2Mouse } from '../devices/ps2-mouse.ts';

let bus: IoBus;
let kc: I8042;
let keyboard: Ps2Keyboard;
let mouse: Ps2Mouse;
let irq: Record<number, boolean>;
let edges: Record<number, number>;
let a20: boolean[];
let resets: number;

const status = () => bus.portRead(0x64, 1);
const cmd = (v: number) => bus.portWrite(0x64, 1, v);
const data = (v: number) => bus.portWrite(0x60, 1, v);
const readData = () => bus.portRead(0x60, 1);
/** Every byte waiting in the output buffer, in order. */
function drain(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64 && status() & 1; i++) out.push(readData());
  return out;
}
/** The bytes with the status seen before each: AUXB tells mouse bytes apart. */
function drainWithStatus(): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < 64 && status() & 1; i++) {
    const st = status();
    out.push([readData(), st]);
  }
  return out;
}
const commandByte = () => {
  cmd(0x20);
  return readData();
};
const setCommandByte = (v: number) => {
  cmd(0x60);
  data(v);
};
const toMouse = (...bytes: number[]) => bytes.forEach((b) => (cmd(0xd4), data(b)));

beforeEach(() => {
  bus = new IoBus();
  keyboard = new Ps2Keyboard();
  mouse = new Ps2Mouse();
  irq = { 1: false, 12: false };
  edges = { 1: 0, 12: 0 };
  a20 = [];
  resets = 0;
  kc = new I8042({
    keyboard,
    mouse,
    irq: (line, level) => {
      if (level && !irq[line]) edges[line]++;
      irq[line] = level;
    },
    setA20: (on) => a20.push(on),
    requestReset: () => resets++,
  });
  kc.attach(bus);
});

describe('8042 controller', () => {
  it('powers on with status 0x18 and command byte 0x03 (both interrupts, no translation)', () => {
    expect(status()).toBe(0x18);
    expect(readData()).toBe(0x00);
    expect(commandByte()).toBe(0x03);
    expect(status()).toBe(0x18);
  });

  it('self test answers 0x55 and sets the system flag; interface tests answer 0', () => {
    cmd(0xaa);
    expect(status()).toBe(0x1d);
    expect(readData()).toBe(0x55);
    expect(status()).toBe(0x1c);
    cmd(0xab);
    expect(drain()).toEqual([0x00]);
    cmd(0xa9);
    expect(drainWithStatus()).toEqual([[0x00, 0x1d]]); // a controller reply, not mouse data
    cmd(0xc0);
    expect(drain()).toEqual([0x80]);
  });

  it('reading with the buffer empty repeats the last byte', () => {
    cmd(0xab);
    drain();
    cmd(0xc0);
    expect(drain()).toEqual([0x80]);
    expect(readData()).toBe(0x80);
    expect(readData()).toBe(0x80);
  });

  it('reads and writes the command byte; 0xA7/0xA8/0xAD/0xAE change its disable bits', () => {
    setCommandByte(0x00);
    expect(commandByte()).toBe(0x00);
    setCommandByte(0x61);
    cmd(0xad);
    expect(commandByte()).toBe(0x71);
    cmd(0xa8);
    expect(commandByte()).toBe(0x51);
    cmd(0xa7);
    expect(commandByte()).toBe(0x71);
    cmd(0xae);
    expect(commandByte()).toBe(0x61);
  });

  it('a byte to the keyboard or to the mouse enables its interface again', () => {
    setCommandByte(0x31);
    data(0xee);
    expect(drain()).toEqual([0xee]);
    expect(commandByte()).toBe(0x21);
    cmd(0xa7);
    toMouse(0xf2);
    expect(drain()).toEqual([0xfa, 0x00]);
    expect(commandByte()).toBe(0x01);
  });

  it('output port: 0xCF at power-on, 0xD1 writes it and A20, the buffer-full bits follow the status', () => {
    cmd(0xd0);
    expect(drain()).toEqual([0xcf]);
    cmd(0xd1);
    data(0xdd);
    expect(a20).toEqual([false]);
    expect(resets).toBe(0);
    cmd(0xd0);
    expect(drain()).toEqual([0xdd]); // bit 4: the buffer is full while this very byte waits
    cmd(0xd0);
    expect(drain()).toEqual([0xcd]);
    cmd(0xdf);
    cmd(0xd0);
    expect(drain()).toEqual([0xcf]);
    cmd(0xdd);
    expect(a20).toEqual([false, true, false]);
    cmd(0xd1);
    data(0xcf);
    expect(a20.at(-1)).toBe(true);
  });

  it('output port bit 0 low resets the CPU', () => {
    cmd(0xd1);
    data(0xce);
    expect(resets).toBe(1);
  });

  it('pulse commands 0xF0-0xFF reset the CPU when they pulse bit 0', () => {
    for (const c of [0xff, 0xfd, 0xf1, 0xf3, 0xfb]) cmd(c);
    expect(resets).toBe(0);
    cmd(0xfe);
    expect(resets).toBe(1);
    cmd(0xf0);
    cmd(0xfa);
    expect(resets).toBe(3);
    expect(drain()).toEqual([]);
  });

  it('0xD2 and 0xD3 put a byte in the buffer as if from the keyboard or the mouse', () => {
    cmd(0xd2);
    data(0x5a);
    expect(drainWithStatus()).toEqual([[0x5a, 0x19]]);
    cmd(0xd3);
    data(0xa5);
    expect(drainWithStatus()).toEqual([[0xa5, 0x39]]);
    // One controller byte at a time: a second one replaces the first.
    cmd(0xd2);
    data(0x11);
    cmd(0xd2);
    data(0x22);
    expect(drain()).toEqual([0x22]);
  });

  it('ignores unknown commands', () => {
    for (const c of [0x00, 0x21, 0x7f, 0xa1, 0xa4, 0xa5, 0xac, 0xc1, 0xe0]) cmd(c);
    expect(drain()).toEqual([]);
    expect(status()).toBe(0x18);
  });

  it('a controller reply goes before keyboard data, keyboard data before mouse data', () => {
    setCommandByte(0x00);
    mouse.write(0xf2); // reply FA 00 waits in the mouse
    keyboard.write(0xee); // EE waits in the keyboard: the buffer already holds the mouse's FA
    cmd(0xab);
    expect(drainWithStatus()).toEqual([
      [0xfa, 0x39], // the mouse had filled the empty buffer first
      [0x00, 0x19], // then the controller's own reply
      [0xee, 0x19],
      [0x00, 0x39],
    ]);
  });
});

describe('8042 interrupts', () => {
  it('IRQ1 rises for each keyboard byte, falls when it is read', () => {
    setCommandByte(0x01);
    data(0xf2);
    expect(irq[1]).toBe(true);
    expect(readData()).toBe(0xfa);
    expect(readData()).toBe(0xab);
    expect(readData()).toBe(0x83);
    expect(irq[1]).toBe(false);
    expect(edges[1]).toBe(3);
    expect(edges[12]).toBe(0);
  });

  it('IRQ12 for mouse bytes when enabled; none when the command byte disables it', () => {
    setCommandByte(0x00);
    toMouse(0xf2);
    expect(irq[12]).toBe(false);
    expect(drain()).toEqual([0xfa, 0x00]);
    setCommandByte(0x02);
    toMouse(0xf2);
    expect(irq[12]).toBe(true);
    expect(drain()).toEqual([0xfa, 0x00]);
    expect(edges[12]).toBe(2);
    cmd(0xd3);
    data(0x44);
    expect(irq[12]).toBe(true);
    expect(irq[1]).toBe(false);
    readData();
    expect(irq[12]).toBe(false);
  });

  it('setting the interrupt enable with a byte waiting raises the line', () => {
    setCommandByte(0x40);
    data(0xee);
    expect(irq[1]).toBe(false);
    setCommandByte(0x41);
    expect(irq[1]).toBe(true);
    expect(readData()).toBe(0xee);
    expect(irq[1]).toBe(false);
  });

  it('the keyboard disable bit holds keyboard data back and keeps IRQ1 low', () => {
    setCommandByte(0x11);
    keyboard.keyEvent('a', true);
    expect(status() & 1).toBe(0);
    cmd(0xd2);
    data(0x66); // controller data still gets through, without an interrupt
    expect(irq[1]).toBe(false);
    expect(drain()).toEqual([0x66]);
    cmd(0xae);
    expect(irq[1]).toBe(true);
    expect(drain()).toEqual([0x1c]);
  });

  it('the mouse disable bit holds mouse data back', () => {
    setCommandByte(0x02);
    toMouse(0xf4); // enables the port again, ACK comes through
    expect(drain()).toEqual([0xfa]);
    cmd(0xa7);
    mouse.move(3, -4);
    mouse.sync();
    expect(status() & 1).toBe(0);
    cmd(0xa8);
    expect(irq[12]).toBe(true);
    expect(drain()).toEqual([0x08, 0x03, 0x04]);
  });
});

describe('PS/2 keyboard', () => {
  it('reset answers FA AA; identify FA AB 83, or FA AB 41 when the controller translates', () => {
    data(0xff);
    expect(drain()).toEqual([0xfa, 0xaa]);
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
    setCommandByte(0x43);
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x41]);
  });

  it('echo, LEDs, typematic, enable, disable, defaults, resend and unknown bytes', () => {
    data(0xee);
    expect(drain()).toEqual([0xee]);
    data(0xed);
    expect(drain()).toEqual([0xfa]);
    data(0x07);
    expect(drain()).toEqual([0xfa]);
    expect(keyboard.leds).toBe(7);
    data(0xf3);
    data(0x20); // the ACK of 0xF3, unread, is dropped
    expect(drain()).toEqual([0xfa]);
    expect(keyboard.typematic).toBe(0x20);
    for (const c of [0xf5, 0xf4, 0xf6, 0xfa, 0x00]) {
      data(c);
      expect(drain()).toEqual([0xfa]);
    }
    expect(keyboard.leds).toBe(0);
    for (const c of [0xfe, 0x05, 0xf7, 0xf8, 0x12]) {
      data(c);
      expect(drain()).toEqual([0xfe]);
    }
    data(0xfc);
    expect(drain()).toEqual([0xfa]);
    data(0x1c);
    expect(drain()).toEqual([0xfa]);
  });

  it('scan code set: get, set 1-3, FE for others; translated answers when translating', () => {
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0x02]);
    data(0xf0);
    data(0x01);
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0x01]);
    // Each byte to the keyboard drops the unread reply to the one before.
    data(0xf0);
    data(0x04);
    expect(drain()).toEqual([0xfe]);
    data(0xf0);
    data(0x03);
    setCommandByte(0x40);
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0x3f]);
  });

  it('a new command drops replies the host has not read', () => {
    setCommandByte(0x00);
    data(0xf2);
    expect(readData()).toBe(0xfa);
    data(0xee);
    expect(drain()).toEqual([0xee]);
  });

  it('key events: set 2 make/break codes with E0 prefixes', () => {
    for (const [k, down] of [['a', true], ['a', false], ['delete', true], ['delete', false], ['ctrl_r', true]] as const) {
      expect(keyboard.keyEvent(k, down)).toBe(true);
    }
    expect(drain()).toEqual([0x1c, 0xf0, 0x1c, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xe0, 0x14]);
    expect(keyboard.keyEvent('nosuchkey', true)).toBe(false);
    expect(keyboard.keyEvent('toString', true)).toBe(false);
    expect(drain()).toEqual([]);
  });

  it('translation gives set 1 codes, the break code with bit 7', () => {
    setCommandByte(0x40);
    for (const k of ['ctrl', 'alt', 'delete']) keyboard.keyEvent(k, true);
    for (const k of ['delete', 'alt', 'ctrl']) keyboard.keyEvent(k, false);
    keyboard.keyEvent('f7', true);
    keyboard.keyEvent('f7', false);
    expect(drain()).toEqual([0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d, 0x41, 0xc1]);
  });

  it('scan code set 1 without translation', () => {
    data(0xf0);
    data(0x01);
    drain();
    keyboard.keyEvent('ret', true);
    keyboard.keyEvent('kp_enter', false);
    expect(drain()).toEqual([0x1c, 0xe0, 0x9c]);
  });

  it('Print and Pause send their special sequences', () => {
    keyboard.keyEvent('print', true);
    keyboard.keyEvent('print', false);
    expect(drain()).toEqual([0xe0, 0x12, 0xe0, 0x7c, 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12]);
    keyboard.keyEvent('pause', true);
    keyboard.keyEvent('pause', false);
    expect(drain()).toEqual([0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]);
    keyboard.keyEvent('ctrl', true);
    keyboard.keyEvent('pause', true);
    keyboard.keyEvent('print', true);
    expect(drain()).toEqual([0x14, 0xe0, 0x7e, 0xe0, 0xf0, 0x7e, 0xe0, 0x7c]);
    keyboard.keyEvent('ctrl', false);
    keyboard.keyEvent('alt', true);
    keyboard.keyEvent('print', true);
    expect(drain()).toEqual([0xf0, 0x14, 0x11, 0x84]);
    setCommandByte(0x40);
    keyboard.keyEvent('alt', false);
    keyboard.keyEvent('pause', true);
    expect(drain()).toEqual([0xb8, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]);
  });

  it('drops key events while scanning is disabled', () => {
    data(0xf5);
    drain();
    expect(keyboard.keyEvent('a', true)).toBe(true);
    expect(drain()).toEqual([]);
    data(0xf4);
    keyboard.keyEvent('a', false);
    expect(drain()).toEqual([0xfa, 0xf0, 0x1c]);
  });

  it('buffers 16 scan code bytes; replies still get through a full buffer', () => {
    setCommandByte(0x10); // keyboard port disabled: everything stays in the keyboard
    for (let i = 0; i < 12; i++) {
      keyboard.keyEvent('b', true);
      keyboard.keyEvent('b', false);
    }
    cmd(0xae);
    const got = drain();
    expect(got.length).toBe(KEYBOARD_QUEUE_BYTES);
    expect(got.slice(0, 3)).toEqual([0x32, 0xf0, 0x32]);
    setCommandByte(0x10);
    for (let i = 0; i < 20; i++) keyboard.keyEvent('c', true);
    data(0xee); // enables the port; the reply is read first
    expect(drain()).toEqual([0xee, ...new Array(KEYBOARD_QUEUE_BYTES).fill(0x21)]);
  });

  it('reset empties the buffer', () => {
    setCommandByte(0x10);
    keyboard.keyEvent('a', true);
    data(0xff);
    expect(drain()).toEqual([0xfa, 0xaa]);
  });

  it('every key name produces bytes; key numbers name keys', () => {
    for (const k of KEY_NAMES) {
      expect(keyboard.keyEvent(k, true), k).toBe(true);
      drain();
    }
    expect(keyNameForNumber(0x1d)).toBe('ctrl');
    expect(keyNameForNumber(0x9d)).toBe('ctrl_r');
    expect(keyNameForNumber(0x38)).toBe('alt');
    expect(keyNameForNumber(0xd3)).toBe('delete');
    expect(keyNameForNumber(0x1e)).toBe('a');
    expect(keyNameForNumber(0x3b)).toBe('f1');
    expect(keyNameForNumber(0x00)).toBeUndefined();
    expect(SET2_TO_SET1[0x1c]).toBe(0x1e);
  });
});

describe('PS/2 mouse', () => {
  it('reset FA AA 00, identify FA 00, status FA 00 02 64 after reset', () => {
    toMouse(0xe9);
    expect(drain()).toEqual([0xfa, 0x00, 0x00, 0x00]); // power-on: rate and resolution 0
    toMouse(0xff);
    expect(drainWithStatus()).toEqual([[0xfa, 0x39], [0xaa, 0x39], [0x00, 0x39]]);
    toMouse(0xf2);
    expect(drain()).toEqual([0xfa, 0x00]);
    toMouse(0xe9);
    expect(drain()).toEqual([0xfa, 0x00, 0x02, 0x64]);
  });

  it('IntelliMouse knock: 200 100 80 gives ID 3, 200 200 80 ID 4', () => {
    toMouse(0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf2);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x03]);
    toMouse(0xf3, 200, 0xf3, 200, 0xf3, 80, 0xf2);
    expect(drain().slice(-1)).toEqual([0x04]);
    toMouse(0xff);
    toMouse(0xf3, 200, 0xf3, 50, 0xf3, 80, 0xf2);
    expect(drain().slice(-1)).toEqual([0x00]);
  });

  it('resolution, scaling, remote mode and poll; stream packets after enable', () => {
    toMouse(0xff, 0xe8, 0x03, 0xe7, 0xf0, 0xe9);
    expect(drain().slice(-4)).toEqual([0xfa, 0x50, 0x03, 0x64]);
    toMouse(0xeb);
    expect(drain()).toEqual([0xfa, 0x08, 0x00, 0x00]);
    toMouse(0xe6, 0xea, 0xf4, 0xe9);
    expect(drain().slice(-4)).toEqual([0xfa, 0x20, 0x03, 0x64]);
    mouse.setButtons(MOUSE_LEFT);
    mouse.move(-5, 300);
    mouse.sync();
    // y is clipped to -127 per packet (QEMU): three packets carry the 300 counts down.
    expect(drain()).toEqual([0x39, 0xfb, 0x81, 0x29, 0x00, 0x81, 0x29, 0x00, 0xd2]);
    toMouse(0xf5, 0xf6, 0xe9);
    expect(drain().slice(-4)).toEqual([0xfa, 0x00, 0x02, 0x64]);
    mouse.move(1, 1); // disabled: not counted
    mouse.sync();
    expect(drain()).toEqual([]);
  });

  it('wheel byte for ID 3', () => {
    toMouse(0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf4);
    drain();
    mouse.move(1, 0, -2);
    mouse.sync();
    expect(drain()).toEqual([0x08, 0x01, 0x00, 0xfe]);
  });

  it('wrap mode echoes until EC; unknown commands get no reply', () => {
    toMouse(0xee, 0x12, 0xf2, 0xec, 0xf2);
    expect(drain()).toEqual([0xfa, 0x12, 0xf2, 0xfa, 0xfa, 0x00]);
    toMouse(0x42, 0x00, 0xe1);
    expect(drain()).toEqual([]);
  });

  it('keeps at most 16 bytes; a reply that does not fit is dropped whole', () => {
    setCommandByte(0x20);
    for (let i = 0; i < 5; i++) mouse.write(0xe9);
    cmd(0xa8);
    expect(drain().length).toBe(MOUSE_QUEUE_BYTES);
  });
});

describe('8042 reset and firmware state', () => {
  it('reset() restores the power-on state of controller and devices', () => {
    cmd(0xaa);
    setCommandByte(0x45);
    data(0xf5);
    toMouse(0xf3, 200, 0xf3, 100, 0xf3, 80);
    kc.reset();
    expect(status()).toBe(0x18);
    expect(commandByte()).toBe(0x03);
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
    toMouse(0xf2);
    expect(drain()).toEqual([0xfa, 0x00]);
    keyboard.keyEvent('a', true); // scanning is on again
    expect(drain()).toEqual([0x1c]);
  });

  it('setBiosState(): as SeaBIOS leaves it on QEMU, without IRQ edges', () => {
    kc.setBiosState();
    expect(edges).toEqual({ 1: 0, 12: 0 });
    expect(status()).toBe(0x1c);
    expect(readData()).toBe(0xfa);
    expect(commandByte()).toBe(0x61);
    keyboard.keyEvent('a', true);
    expect(drain()).toEqual([0x1e]);
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0x41]);
  });

  it('garbage never throws and keeps the status register sane', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 20000; i++) {
      const v = rnd(256);
      switch (rnd(7)) {
        case 0:
          // Never a reset pulse here: it would only count resets.
          cmd(v);
          break;
        case 1:
        case 2:
          data(v);
          break;
        case 3:
          expect(readData()).toBeLessThan(256);
          break;
        case 4:
          keyboard.keyEvent(KEY_NAMES[rnd(KEY_NAMES.length)], rnd(2) === 0);
          break;
        case 5:
          mouse.move(rnd(600) - 300, rnd(600) - 300, rnd(5) - 2);
          mouse.sync();
          break;
        default: {
          const st = status();
          expect(st & 0xc2).toBe(0); // IBF, time-out, parity: never
          expect(st & 0x18).toBe(0x18);
          if (st & 0x20) expect(st & 1).toBe(1);
        }
      }
    }
    bus.portWrite(0x60, 4, 0xdeadbeef);
    bus.portRead(0x64, 2);
    expect(() => kc.reset()).not.toThrow();
    expect(status()).toBe(0x18);
  });
});

const seabios = '/usr/share/seabios/bios-256k.bin';
const cpuWasm = new URL('../build/cpu.wasm', import.meta.url);

describe.skipIf(!existsSync(seabios) || !existsSync(cpuWasm))('8042 after SeaBIOS (real CPU)', () => {
  it('SeaBIOS initialises the keyboard and leaves the state setBiosState() reproduces', async () => {
    const { Cpu } = await import('../cpu/cpu.ts');
    const { Machine } = await import('../emulator/machine.ts');
    const { parseArgs } = await import('../emulator/options.ts');
    const parsed = parseArgs(['-nographic', '-nodefaults', '-serial', 'stdio']);
    if (parsed.action !== 'run') throw new Error('bad test arguments');
    let out = '';
    const m = await Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host), {
      stdout: (b) => {
        out += new TextDecoder().decode(b);
        if (out.includes('No bootable device.')) m.stop(0);
      },
      stdin: null,
      stderr: () => {},
    });
    await m.run();
    expect(out).toContain('No bootable device.');
    const probe = (b: IoBus) => {
      const st = b.portRead(0x64, 1);
      const last = b.portRead(0x60, 1);
      b.portWrite(0x64, 1, 0x20);
      const cb = b.portRead(0x60, 1);
      b.portWrite(0x60, 1, 0xf2);
      const id = [b.portRead(0x60, 1), b.portRead(0x60, 1), b.portRead(0x60, 1)];
      return { st, last, cb, id };
    };
    const firmware = probe(m.bus);
    expect(firmware).toEqual({ st: 0x1c, last: 0xfa, cb: 0x61, id: [0xfa, 0xab, 0x41] });
    kc.setBiosState();
    expect(probe(bus)).toEqual(firmware);
  }, 60_000);
});
