// The mux against a live qemu-system-x86_64 -serial mon:stdio on a pseudo-terminal: the same keys,
// one write at a time, must produce the same bytes (timestamps masked). python3's pty module runs
// QEMU here; tsemu itself never needs it.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { Mux } from '../monitor/mux.ts';
import { FakeTarget } from './monitor-fake-target.ts';

const QEMU = 'qemu-system-x86_64';
const version = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
const python = spawnSync('python3', ['-c', 'import pty'], { encoding: 'utf8' });
const available = version.status === 0 && python.status === 0;

// Runs argv on a pty (no \n -> \r\n translation), writes each step after a pause, prints the output.
const DRIVER = `
import os, pty, sys, time, select, json, termios
steps = json.loads(sys.stdin.read())
pid, fd = pty.fork()
if pid == 0:
    a = termios.tcgetattr(0); a[1] &= ~termios.ONLCR; termios.tcsetattr(0, termios.TCSANOW, a)
    os.execvp(sys.argv[1], sys.argv[1:])
out = bytearray()
def drain(t):
    end = time.time() + t
    while True:
        left = end - time.time()
        if left <= 0: return True
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try: d = os.read(fd, 65536)
            except OSError: return False
            if not d: return False
            out.extend(d)
drain(1.0)
for s in steps:
    os.write(fd, bytes.fromhex(s))
    if not drain(0.15): break
drain(0.5)
try: os.kill(pid, 9)
except OSError: pass
sys.stdout.write(out.hex())
`;

const STEPS = [
  '\x01h',
  '\x01?',
  '\x01z',
  '\x01c',
  'ab\x01zcd',
  '\x01\x01', // reaches the monitor's readline as ^A: start of line
  'X',
  '\x01b',
  '\r',
  'info status\r',
  '\x01t',
  'p 1\r',
  '\x01t',
  'p 2\r',
  'inf',
  '\x01c',
  'xyz',
  '\x01c',
  'o status\r',
  '\x01t',
  'info chardev\r',
  '\x01s',
  '\x01x',
];

const mask = (s: string) => s.replace(/\[\d{2}:\d{2}:\d{2}\.\d{3}\] /g, '[TS] ');

describe.skipIf(!available)('mux vs qemu-system-x86_64 -serial mon:stdio on a pty', () => {
  it('gives the same bytes for the same keys', () => {
    const hexSteps = STEPS.map((s) => Buffer.from(s, 'latin1').toString('hex'));
    const r = spawnSync('python3', ['-c', DRIVER, QEMU, '-display', 'none', '-nodefaults', '-S', '-serial', 'mon:stdio'], {
      input: JSON.stringify(hexSteps),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    const qemuOut = Buffer.from(r.stdout, 'hex').toString('latin1');
    expect(qemuOut).toContain('serial0-base: filename=stdio');
    expect(qemuOut).toMatch(/QEMU: Terminated\n\[\d\d:\d\d:\d\d\.\d\d\d\] \r$/);

    const m = /version (\d+)\.(\d+)\.(\d+)(?: \((.*)\))?/.exec(version.stdout)!;
    const out: Buffer[] = [];
    let exits = 0;
    const mux = new Mux({ backend: { write: (b) => out.push(Buffer.from(b)) }, onExit: () => exits++ });
    const target = new FakeTarget({
      chardevs: [
        { label: 'serial0', filename: 'mux' },
        { label: 'serial0-base', filename: 'stdio' },
      ],
      version: { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]), package: m[4] ?? '' },
    });
    const monitor = new HumanMonitor({ target, stdout: () => {} });
    monitor.connect(mux.attach(monitor));
    const serialInput: number[] = [];
    mux.attach({ receive: (b) => serialInput.push(...b) });
    mux.open();
    for (const s of STEPS) mux.receive(Buffer.from(s, 'latin1'));

    expect(mask(Buffer.concat(out).toString('latin1'))).toBe(mask(qemuOut));
    expect(exits).toBe(1);
    expect(Buffer.from(serialInput).toString('latin1')).toBe('xyz');
  });
});
