// The mux (`-serial mon:stdio`) against the bytes real QEMU 7.2 wrote in a recorded session
// (/work/shared/reference/qemu-7.2/mux_session_raw.bin), plus its escape keys one by one.

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HMP_COMMANDS, HMP_INFO_COMMANDS, type HmpCommand } from '../monitor/hmp/commands.ts';
import { muxedMonitor } from '../monitor/hmp/index.ts';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { Mux, type ChardevEvent, type MuxFrontend } from '../monitor/mux.ts';
import { FakeTarget } from './monitor-fake-target.ts';
import type { Chardev, ChardevFrontend } from '../monitor/chardev/chardev.ts';

// The chardevs of monitor/chardev/ fit the mux and the monitor as they are (checked by tsc).
type ChardevWriterLike = ConstructorParameters<typeof Mux>[0]['backend'];
const fitsChardevs: [(m: Mux) => ChardevFrontend, (m: HumanMonitor) => ChardevFrontend, (c: Chardev) => ChardevWriterLike] = [
  (m) => m,
  (m) => m,
  (c) => c,
];
void fitsChardevs;

const REF = '/work/shared/reference/qemu-7.2';
const hasRef = existsSync(`${REF}/mux_session_raw.bin`);

const bytes = (s: string) => Buffer.from(s, 'latin1');
const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString('latin1');
const maskTimes = (s: string) => s.replace(/\[\d{2}:\d{2}:\d{2}\.\d{3}\] /g, '[TS] ');

/** A serial port stand-in that records what it gets. */
class FakeSerial implements MuxFrontend {
  readonly input: number[] = [];
  readonly events: ChardevEvent[] = [];
  room = Infinity;
  receive(b: Uint8Array): void {
    this.input.push(...b);
    this.room -= b.length;
  }
  canReceive(): number {
    return this.room;
  }
  event(e: ChardevEvent): void {
    this.events.push(e);
  }
}

interface Setup {
  mux: Mux;
  out: Uint8Array[];
  serial: FakeSerial;
  monitor: HumanMonitor;
  target: FakeTarget;
  exits: number;
  commits: number;
  clock: { ms: number };
}

function setup(opts: { escapeChar?: number; commands?: readonly HmpCommand[] } = {}): Setup {
  const out: Uint8Array[] = [];
  const clock = { ms: 1_000_000 };
  const s = { exits: 0, commits: 0 } as Setup;
  const mux = new Mux({
    backend: { write: (b) => out.push(Uint8Array.from(b)) },
    escapeChar: opts.escapeChar,
    onExit: () => s.exits++,
    onCommit: () => s.commits++,
    now: () => clock.ms,
  });
  const target = new FakeTarget({
    chardevs: [
      { label: 'serial0', filename: 'mux' },
      { label: 'serial0-base', filename: 'stdio' },
    ],
  });
  const monitor = new HumanMonitor({ target, commands: opts.commands, stdout: () => {} });
  // QEMU's order for -serial mon:stdio: the monitor attaches first, the serial port takes the focus.
  monitor.connect(mux.attach(monitor));
  const serial = new FakeSerial();
  mux.attach(serial);
  mux.open();
  return Object.assign(s, { mux, out, serial, monitor, target, clock });
}

/**
 * `help info` in the capture lists every info command of QEMU; tsemu lists its own. For the replay
 * the monitor gets the capture's entries as stubs around the real ones (whose text must be QEMU's).
 */
function tableWithCapturedInfo(raw: string): HmpCommand[] {
  const lines = [...raw.matchAll(/\] info (\S+) (.*?) -- (.*?)\r\n/g)];
  const info: HmpCommand[] = lines.map(([, name, params, help]) => {
    const ours = HMP_INFO_COMMANDS.find((c) => c.name === name);
    if (ours) {
      expect({ params: ours.params, help: ours.help }).toEqual({ params, help });
      return ours;
    }
    return { name, argsType: '', params, help };
  });
  for (const c of HMP_INFO_COMMANDS) expect(info).toContain(c);
  return HMP_COMMANDS.map((c) => (c.name === 'info' ? { ...c, subTable: info } : c));
}

describe.skipIf(!hasRef)('mux session replay (mux_session_raw.bin)', () => {
  it('produces the captured bytes, timestamps masked', () => {
    const raw = readFileSync(`${REF}/mux_session_raw.bin`).toString('latin1');
    const s = setup({ commands: tableWithCapturedInfo(raw) });
    s.target.state = 'prelaunch';
    const type = (keys: string, advanceMs = 0) => {
      s.mux.receive(bytes(keys));
      s.clock.ms += advanceMs;
    };
    type('\x01h', 100);
    type('\x01c', 100);
    for (const c of 'info status\r') type(c, 10);
    for (const c of 'info status') type(c, 10);
    type('\x01t');
    type('\r', 500);
    type('\x01c', 1008);
    type('\x01c', 300);
    for (const c of 'info chardev\r') type(c, 10);
    for (const c of 'help info\r') type(c, 50);
    type('\x01x');
    expect(s.exits).toBe(1);
    expect(maskTimes(text(s.out))).toBe(maskTimes(raw));
  });
});

describe('mux escape keys', () => {
  it('keeps the monitor banner until the monitor gets the focus, then prints banner and prompt', () => {
    const s = setup();
    expect(text(s.out)).toBe('');
    expect(s.mux.focusIndex).toBe(1);
    s.mux.receive(bytes('\x01c'));
    expect(text(s.out)).toBe("QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ");
  });

  it('C-a h and C-a ? print the key list with \\n\\r line ends', () => {
    const s = setup();
    s.mux.receive(bytes('\x01h'));
    const help =
      '\n\rC-a h    print this help\n\rC-a x    exit emulator\n\r' +
      'C-a s    save disk data back to file (if -snapshot)\n\rC-a t    toggle console timestamps\n\r' +
      'C-a b    send break (magic sysrq)\n\rC-a c    switch between console and monitor\n\r' +
      'C-a C-a  sends C-a\n\r';
    expect(text(s.out)).toBe(help);
    s.out.length = 0;
    s.mux.receive(bytes('\x01?'));
    expect(text(s.out)).toBe(help);
  });

  it('names other escape characters as QEMU does (-echr 20 and -echr 28)', () => {
    const t = setup({ escapeChar: 20 });
    t.mux.receive(bytes('\x14h'));
    expect(text(t.out)).toMatch(/^\n\rC-t h    print this help\n\r[^]*C-t C-t  sends C-t\n\r$/);
    const e = setup({ escapeChar: 28 });
    e.mux.receive(bytes('\x1ch'));
    // Recorded from qemu-system-x86_64 -echr 28.
    expect(text(e.out)).toBe(
      '\n\rEscape-Char set to Ascii: 0x1c\n\r\n\rEscape-Char h    print this help\n\rEscape-Char x    exit emulator\n\r' +
        'Escape-Char s    save disk data back to file (if -snapshot)\n\rEscape-Char t    toggle console timestamps\n\r' +
        'Escape-Char b    send break (magic sysrq)\n\rEscape-Char c    switch between console and monitor\n\r' +
        'Escape-Char Escape-Char  sends Escape-Char\n\r',
    );
  });

  it('C-a x prints QEMU: Terminated and exits; later input is ignored', () => {
    const s = setup();
    s.mux.receive(bytes('ab\x01xcd'));
    expect(text(s.out)).toBe('QEMU: Terminated\n\r');
    expect(s.exits).toBe(1);
    expect(bytes(String.fromCharCode(...s.serial.input)).toString()).toBe('ab');
    s.mux.receive(bytes('ef'));
    expect(s.serial.input.length).toBe(2);
  });

  it('C-a C-a sends one C-a; unknown keys after C-a are dropped; C-a s commits; C-a b breaks the focus', () => {
    const s = setup();
    s.mux.receive(bytes('1\x01\x012\x01z3\x01'));
    s.mux.receive(bytes('s4\x01b'));
    expect(s.serial.input).toEqual([0x31, 0x01, 0x32, 0x33, 0x34]);
    expect(s.commits).toBe(1);
    expect(s.serial.events.filter((e) => e === 'break')).toHaveLength(1);
  });

  it('C-a c moves input between the frontends and the monitor drops a half-typed line', () => {
    const s = setup();
    s.mux.receive(bytes('\x01cinf\x01c'));
    expect(s.serial.input).toEqual([]);
    s.mux.receive(bytes('serial'));
    expect(String.fromCharCode(...s.serial.input)).toBe('serial');
    s.out.length = 0;
    s.mux.receive(bytes('\x01co status\r'));
    // Recorded from QEMU: focus back gives a fresh prompt; "inf" is gone, so "o status" fails.
    expect(text(s.out)).toBe(
      '(qemu) o\x1b[K\x1b[Do \x1b[K\x1b[D\x1b[Do s\x1b[K\x1b[D\x1b[D\x1b[Do st\x1b[K\x1b[D\x1b[D\x1b[D\x1b[Do sta\x1b[K' +
        '\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Do stat\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Do statu\x1b[K' +
        '\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Do status\x1b[K\r\n' +
        "invalid char 's' in expression\r\nTry \"help o\" for more information\r\n(qemu) ",
    );
  });

  it('holds monitor output while the serial port has the focus and writes it before the prompt', () => {
    const s = setup();
    s.mux.receive(bytes('\x01c'));
    s.mux.receive(bytes('\x01c')); // back to the serial port: the monitor ends its line
    s.out.length = 0;
    s.monitor.print('late news\n');
    expect(text(s.out)).toBe('');
    s.mux.receive(bytes('\x01c'));
    expect(text(s.out)).toBe('late news\r\n(qemu) ');
  });

  it('writes serial output whatever has the focus', () => {
    const out: Uint8Array[] = [];
    const mux = new Mux({ backend: { write: (b) => out.push(b) }, onExit: () => {} });
    const first = mux.attach(new FakeSerial());
    mux.attach(new FakeSerial());
    mux.open();
    first.write(bytes('guest\n'));
    expect(mux.focusIndex).toBe(1);
    expect(text(out)).toBe('guest\n');
  });

  it('C-a t stamps each output line with the time since it was turned on', () => {
    const s = setup();
    const serialPort = s.mux.attach(new FakeSerial());
    s.mux.receive(bytes('\x01t'));
    s.out.length = 0;
    // Timestamps start at the first line start after the toggle, not with the current line.
    serialPort.write(bytes('one\ntwo'));
    s.clock.ms += 3_723_456; // 1 h 2 min 3.456 s
    serialPort.write(bytes('\nthree\n'));
    expect(text(s.out)).toBe('one\n[00:00:00.000] two\n[01:02:03.456] three\n');
    s.mux.receive(bytes('\x01t'));
    s.out.length = 0;
    serialPort.write(bytes('plain\n'));
    expect(text(s.out)).toBe('plain\n');
  });

  it('keeps input for a frontend that has no room and asks the host to pause', () => {
    const paused: boolean[] = [];
    const out: Uint8Array[] = [];
    const mux = new Mux({
      backend: { write: (b) => out.push(b), setInputPaused: (p) => paused.push(p) },
      onExit: () => {},
    });
    const serial = new FakeSerial();
    serial.room = 4;
    const port = mux.attach(serial);
    mux.open();
    mux.receive(bytes('0123456789'));
    expect(String.fromCharCode(...serial.input)).toBe('0123');
    mux.receive(bytes('abcdefghijklmnopqrstuvwxyzABCDEFGH'));
    expect(paused).toEqual([true]);
    serial.room = Infinity;
    port.acceptInput();
    expect(String.fromCharCode(...serial.input)).toBe('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH');
    expect(paused).toEqual([true, false]);
  });

  it('muxedMonitor wires -serial mon:stdio in QEMU\'s order', () => {
    const out: Uint8Array[] = [];
    const serial = new FakeSerial();
    let exited = false;
    const { mux, serialPort } = muxedMonitor({
      backend: { write: (b) => out.push(b) },
      target: new FakeTarget(),
      serial,
      onExit: () => (exited = true),
      stdout: () => {},
    });
    mux.open();
    serialPort.write(bytes('boot\r\n'));
    mux.receive(bytes('key'));
    expect(String.fromCharCode(...serial.input)).toBe('key');
    mux.receive(bytes('\x01cp 1\r\x01x'));
    expect(text(out)).toBe(
      "boot\r\nQEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) " +
        'p\x1b[K\x1b[Dp \x1b[K\x1b[D\x1b[Dp 1\x1b[K\r\n0x1\r\n(qemu) QEMU: Terminated\n\r',
    );
    expect(exited).toBe(true);
  });

  it('survives binary noise: every byte value, many times, in both focus states', () => {
    const s = setup();
    let seed = 12345;
    const noise = new Uint8Array(200_000);
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      // No C-a x: the session has to go on to the end.
      const b = (seed >> 16) & 0xff;
      // No 'm' either: memsave/pmemsave would write files.
      noise[i] = b === 0x01 ? 0x02 : b === 0x6d ? 0x6e : b;
    }
    noise[1000] = 0x01;
    noise[1001] = 0x63; // C-a c: half of the noise goes to the monitor
    expect(() => s.mux.receive(noise)).not.toThrow();
    s.mux.receive(bytes('\x15\r'));
    expect(s.exits).toBe(0);
  });
});
