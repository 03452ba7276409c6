// The monitor and the chardev options of the real `tsemu` command (dist/tsemu.js run as a process)
// with a test kernel: `-monitor stdio` fed through a pipe, `-serial mon:stdio` with its Ctrl-A keys,
// a monitor on a TCP socket that clients abuse, COM1 on a socket, a file and null. Where the output
// does not depend on timing it is compared byte for byte with qemu-system-x86_64 given the same
// options and keys (only the version in the banner differs: tsemu says 7.2.0).
//
// hello.elf without isa-debug-exit prints its lines, writes to the (absent) exit port and then
// idles in `cli; hlt` forever, which gives the monitor a machine in a known state.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './monitor-chardev-helpers.ts';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/tsemu.js');
const hello = join(root, 'build/test-kernels/hello.elf');
const QEMU = 'qemu-system-x86_64';
const haveQemu = spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'tsemu-monitor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TSEMU = [process.execPath, cli];
const QEMU_CMD = [QEMU];
/** A machine both emulators build the same way; the caller adds the chardev options. */
const BASE = ['-nodefaults', '-display', 'none', '-m', '64', '-kernel', hello];
const KERNEL_OUTPUT_END = 'DONE\n';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, what: string | (() => string), ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(10);
  }
}

/** An emulator process with its stdin, stdout and stderr as pipes. */
class Emu {
  readonly child: ChildProcess;
  private outChunks: Buffer[] = [];
  err = '';
  status: number | null | undefined = undefined;
  readonly exited: Promise<number | null>;

  constructor(cmd: string[], args: string[]) {
    this.child = spawn(cmd[0]!, [...cmd.slice(1), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => this.outChunks.push(d));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString('utf8')));
    // A process that already quit must not turn our late writes into an unhandled error.
    this.child.stdin!.on('error', () => {});
    this.exited = new Promise((r) =>
      this.child.on('close', (code, signal) => {
        this.status = code ?? (signal ? -1 : null);
        r(this.status);
      }),
    );
  }

  get out(): string {
    return Buffer.concat(this.outChunks).toString('latin1');
  }

  write(text: string | Buffer): void {
    this.child.stdin!.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  waitOut(text: string, what = JSON.stringify(text), ms?: number): Promise<void> {
    return waitFor(() => this.out.includes(text), () => `${what} on stdout (got ${JSON.stringify(this.out.slice(-300))}, stderr ${JSON.stringify(this.err)})`, ms);
  }

  /** Status, or a kill and a failure after `ms`. */
  async finish(ms = 20_000): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}

function fileText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'latin1') : '';
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** Only the version in the banner differs between QEMU 7.2.x and tsemu. */
function normalize(transcript: string): string {
  return transcript.replace(/QEMU \d+\.\d+\.\d+ monitor/g, 'QEMU 7.2.x monitor');
}

/** What the monitor printed, without readline's redrawing: the text a user reads. */
function screen(transcript: string): string {
  return transcript.replace(/\x1b\[[KD]/g, '').replace(/\r/g, '');
}

/** The bytes the ELF file puts at physical address `addr` (from its PT_LOAD segments). */
function elfBytes(file: string, addr: number, length: number): Buffer {
  const elf = readFileSync(file);
  const phoff = elf.readUInt32LE(28);
  const phentsize = elf.readUInt16LE(42);
  const phnum = elf.readUInt16LE(44);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (elf.readUInt32LE(o) !== 1) continue;
    const offset = elf.readUInt32LE(o + 4);
    const paddr = elf.readUInt32LE(o + 12);
    const filesz = elf.readUInt32LE(o + 16);
    if (addr >= paddr && addr + length <= paddr + filesz) return elf.subarray(offset + addr - paddr, offset + addr - paddr + length);
  }
  throw new Error(`no loaded bytes at 0x${addr.toString(16)} in ${file}`);
}

/**
 * -monitor stdio with COM1 in a file: wait until the kernel finished printing (or for the prompt
 * with -S), then type each chunk of `script`, with a pause after each (requests such as a reset
 * take effect between commands in both emulators), and wait for the exit (the script ends with quit).
 */
async function stdioSession(
  cmd: string[],
  name: string,
  script: string | string[],
  extra: string[] = [],
): Promise<{ out: string; err: string; status: number | null; serial: string }> {
  const serial = join(dir, `${name}.serial`);
  const e = new Emu(cmd, [...BASE, '-serial', `file:${serial}`, '-monitor', 'stdio', ...extra]);
  if (!extra.includes('-S')) await waitFor(() => fileText(serial).endsWith(KERNEL_OUTPUT_END), `the kernel's output in ${serial}`);
  else await e.waitOut('(qemu) ', 'the prompt');
  // Each command but `quit` is answered before the next chunk goes: QEMU's monitor writes to a
  // non-blocking stdout and loses what it still holds when `quit` exits (seen on a loaded host).
  const chunks = typeof script === 'string' ? [script] : script;
  let prompts = count(e.out, '(qemu) ');
  for (const chunk of chunks) {
    e.write(chunk);
    const lines = chunk.split('\n').slice(0, -1);
    if (lines.some((l) => l.trim() === 'quit')) break;
    prompts += lines.length;
    await waitFor(() => count(e.out, '(qemu) ') >= prompts || e.child.exitCode !== null, `the answers to ${JSON.stringify(chunk.slice(0, 40))}`);
    await sleep(100);
  }
  const status = await e.finish();
  return { out: e.out, err: e.err, status, serial: fileText(serial) };
}

/** The lines a command printed: what follows the line that echoes it, up to the next prompt. */
function answerTo(transcript: string, command: string): string[] {
  const lines = screen(transcript).split('\n');
  const at = lines.findIndex((l) => l.startsWith('(qemu) ') && l.endsWith(command));
  if (at < 0) throw new Error(`no echo of ${command} in ${JSON.stringify(screen(transcript))}`);
  const out: string[] = [];
  for (let i = at + 1; i < lines.length && !lines[i]!.startsWith('(qemu) '); i++) out.push(lines[i]!);
  return out;
}

beforeAll(() => {
  expect(existsSync(cli), 'dist/tsemu.js is built by `npm test` (npm run build)').toBe(true);
  const r = spawnSync(process.execPath, [join(root, 'scripts/build-test-kernels.mjs'), 'hello'], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});

describe('tsemu -monitor stdio', () => {
  it('answers the commands of a session and quits with status 0', async () => {
    const serial = join(dir, 'session.serial');
    const e = new Emu(TSEMU, [...BASE, '-serial', `file:${serial}`, '-monitor', 'stdio']);
    await waitFor(() => fileText(serial).endsWith(KERNEL_OUTPUT_END), 'the kernel output');
    await e.waitOut('(qemu) ', 'the prompt');
    e.write(
      [
        'info status', 'stop', 'info status', 'cont', 'info status', 'x /4xb 0x100000', 'xp /8xb 0x100000', 'print $eax',
        'print $eip', 'info registers', 'info cpus', 'info chardev', 'o 0x3ff 0x5a', 'i 0x3ff', 'i 0x3fd', 'o /w 0x80 0x1234',
        'xp /4xb 0xf0000000', 'system_powerdown', 'info version', 'frobnicate', 'system_reset', '',
      ].join('\n'),
    );
    // The reset boots the kernel again: its lines appear a second time.
    await waitFor(() => count(fileText(serial), KERNEL_OUTPUT_END) === 2, 'the kernel output after system_reset');
    e.write('info status\nquit\n');
    expect(await e.finish()).toBe(0);
    expect(e.err).toBe('');
    const s = screen(e.out);
    expect(s).toMatch(/^QEMU 7\.2\.0 monitor - type 'help' for more information\n\(qemu\) /);
    const statuses = s.match(/VM status: .*/g);
    expect(statuses).toEqual(['VM status: running', 'VM status: paused', 'VM status: running', 'VM status: running']);
    const first = elfBytes(hello, 0x100000, 8);
    const hexBytes = (b: Buffer) => [...b].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(' ');
    expect(answerTo(e.out, 'x /4xb 0x100000')).toEqual([`0000000000100000: ${hexBytes(first.subarray(0, 4))}`]);
    expect(answerTo(e.out, 'xp /8xb 0x100000')).toEqual([`0000000000100000: ${hexBytes(first)}`]);
    // The kernel idles after its last output; `print` and `info registers` agree on where.
    const registers = answerTo(e.out, 'info registers').join('\n');
    const reg = (name: string) => Number(`0x${new RegExp(`${name}=([0-9a-f]{8})`).exec(registers)![1]}`);
    // print uses C's %#x: zero has no 0x.
    const cHex = (v: number) => (v === 0 ? '0' : `0x${v.toString(16)}`);
    expect(answerTo(e.out, 'print $eax')).toEqual([cHex(reg('EAX'))]);
    expect(answerTo(e.out, 'print $eip')).toEqual([cHex(reg('EIP'))]);
    expect(reg('EIP')).toBeGreaterThan(0x100000);
    expect(reg('EIP')).toBeLessThan(0x100000 + readFileSync(hello).length);
    expect(registers).toMatch(/^\nCPU#0\nEAX=[0-9a-f]{8} EBX=[0-9a-f]{8} ECX=[0-9a-f]{8} EDX=[0-9a-f]{8}\n/);
    expect(registers).toMatch(/\nEIP=[0-9a-f]{8} EFL=[0-9a-f]{8} \[[-DOSZAPC]{7}\] CPL=0 /);
    expect(registers).toMatch(/\nCS =0008 00000000 ffffffff 00c09b00 DPL=0 CS32 \[-RA\]\n/);
    expect(registers).toMatch(/\nCR0=00000011 /);
    expect(answerTo(e.out, 'info cpus')).toEqual([`* CPU #0: thread_id=${e.child.pid}`]);
    expect(answerTo(e.out, 'info chardev')).toEqual(['compat_monitor0: filename=stdio', 'serial0: filename=file']);
    // The UART's scratch register keeps what `o` wrote; LSR says the transmitter is empty.
    expect(answerTo(e.out, 'i 0x3ff')).toEqual(['portb[0x03ff] = 0x5a']);
    expect(answerTo(e.out, 'i 0x3fd')).toEqual(['portb[0x03fd] = 0x60']);
    expect(answerTo(e.out, 'o /w 0x80 0x1234')).toEqual([]);
    expect(answerTo(e.out, 'xp /4xb 0xf0000000')).toEqual(['00000000f0000000: Cannot access memory']);
    expect(answerTo(e.out, 'system_powerdown')).toEqual([]);
    expect(answerTo(e.out, 'info version')).toEqual(['7.2.0 (tsemu 0.1.0)']);
    expect(answerTo(e.out, 'frobnicate')).toEqual(["unknown command: 'frobnicate'"]);
  });

  it('survives nmi (the kernel reports the exception on COM1)', async () => {
    const r = await stdioSession(TSEMU, 'nmi', ['nmi\n', 'info status\nquit\n']);
    expect(r.status).toBe(0);
    expect(r.serial).toMatch(/#NMI vec=02/);
    expect(screen(r.out)).toMatch(/VM status: running\n/);
  });

  it('starts paused with -S and runs the kernel on cont', async () => {
    const serial = join(dir, 'prelaunch.serial');
    const e = new Emu(TSEMU, [...BASE, '-S', '-serial', `file:${serial}`, '-monitor', 'stdio']);
    await e.waitOut('(qemu) ', 'the prompt');
    e.write('info status\nstop\ninfo status\n');
    await e.waitOut('VM status: paused (prelaunch)\r\n(qemu) ', 'the second status');
    await sleep(300);
    expect(fileText(serial)).toBe('');
    e.write('cont\ninfo status\n');
    await waitFor(() => fileText(serial).endsWith(KERNEL_OUTPUT_END), 'the kernel output after cont');
    e.write('quit\n');
    expect(await e.finish()).toBe(0);
    expect(screen(e.out).match(/VM status: .*/g)).toEqual(['VM status: paused (prelaunch)', 'VM status: paused (prelaunch)', 'VM status: running']);
  });

  it('turns system_reset into an exit with -no-reboot', async () => {
    const r = await stdioSession(TSEMU, 'noreboot', 'system_reset\n', ['-no-reboot']);
    expect(r.status).toBe(0);
  });
});

describe.skipIf(!haveQemu)('tsemu and QEMU type for type', () => {
  const SESSION = [
    'info status', 'stop', 'info status', 'cont', 'info status', 'info chardev', 'x /4xb 0x100000', 'xp /16xb 0x100000',
    'x /2wx 0x100000', 'print $eip', 'i 0x3fd', 'xp /4xb 0xf0000000', 'foo', 'info foo', 'x', 'print 1/0', 'stop x',
    'info status extra', 'p $nosuch', 'o 0x3ff', 'help info status', '',
  ].join('\n');

  it('-monitor stdio prints the same bytes', async () => {
    const [ours, qemu] = await Promise.all([stdioSession(TSEMU, 'diff-ours', [SESSION, 'quit\n']), stdioSession(QEMU_CMD, 'diff-qemu', [SESSION, 'quit\n'])]);
    expect(qemu.status).toBe(0);
    expect(ours.status).toBe(0);
    expect(ours.serial).toBe(qemu.serial);
    expect(normalize(ours.out)).toBe(normalize(qemu.out));
  });

  it('-no-reboot -no-shutdown: system_reset stops the VM and cont refuses to go on', async () => {
    const script = ['system_reset\n', 'info status\ncont\ninfo status\nquit\n'];
    const extra = ['-no-reboot', '-no-shutdown'];
    const [ours, qemu] = await Promise.all([stdioSession(TSEMU, 'ns-ours', script, extra), stdioSession(QEMU_CMD, 'ns-qemu', script, extra)]);
    expect(ours.status).toBe(0);
    expect(normalize(ours.out)).toBe(normalize(qemu.out));
    expect(screen(ours.out)).toContain('VM status: paused (shutdown)\n');
    expect(screen(ours.out)).toContain('Error: Resetting the Virtual Machine is required\n');
  });

  it('-S: prelaunch, stop and cont print the same bytes', async () => {
    const script = 'info status\nstop\ninfo status\ncont\ninfo status\nquit\n';
    const [ours, qemu] = await Promise.all([stdioSession(TSEMU, 's-ours', script, ['-S']), stdioSession(QEMU_CMD, 's-qemu', script, ['-S'])]);
    expect(ours.status).toBe(qemu.status);
    expect(normalize(ours.out)).toBe(normalize(qemu.out));
  });

  /** `-serial mon:stdio`: the kernel's output, then the keys, all on one pipe. */
  async function muxSession(cmd: string[], keys: string[], extra: string[] = []): Promise<{ out: string; status: number | null; err: string }> {
    const e = new Emu(cmd, [...BASE, '-serial', 'mon:stdio', ...extra]);
    await e.waitOut(KERNEL_OUTPUT_END, "the kernel's output");
    for (const k of keys) {
      e.write(k);
      // Separate writes, so the mux sees the keys the way a typist would send them.
      await sleep(50);
    }
    const status = await e.finish();
    return { out: e.out, status, err: e.err };
  }

  it('-serial mon:stdio: C-a h, C-a c, commands, C-a b, C-a C-a, C-a x', async () => {
    const keys = [
      '\x01h',
      '\x01c',
      'info status\r',
      'info chardev\r',
      '\x01c',
      '\x01b',
      '\x01c',
      // The break left BI and DR in the line status register and a 0 byte in the receiver.
      'i 0x3fd\r',
      'i 0x3f8\r',
      'i 0x3fd\r',
      '\x01c',
      'typed for the guest',
      '\x01\x01',
      '\x01s',
      '\x01cabc\x01cdef\r',
      '\x01x',
    ];
    const [ours, qemu] = await Promise.all([muxSession(TSEMU, keys), muxSession(QEMU_CMD, keys)]);
    expect(qemu.status).toBe(0);
    expect(ours.status).toBe(0);
    expect(normalize(ours.out)).toBe(normalize(qemu.out));
    expect(ours.out).toMatch(/QEMU: Terminated\n\r$/);
    expect(ours.err).toBe('');
  });

  it('-echr moves the escape key', async () => {
    const keys = ['\x14h', '\x14c', 'info status\r', '\x01x', '\x14x'];
    const [ours, qemu] = await Promise.all([muxSession(TSEMU, keys, ['-echr', '20']), muxSession(QEMU_CMD, keys, ['-echr', '20'])]);
    expect(ours.status).toBe(0);
    expect(normalize(ours.out)).toBe(normalize(qemu.out));
  });

  it('-nographic: the same chardevs, and the monitor after C-a c', async () => {
    const keys = ['\x01c', 'info chardev\r', 'info status\r', '\x01x'];
    const ngArgs = ['-nographic', '-m', '64', '-kernel', hello];
    const run = async (cmd: string[]) => {
      const e = new Emu(cmd, ngArgs);
      await e.waitOut(KERNEL_OUTPUT_END, "the kernel's output");
      for (const k of keys) {
        e.write(k);
        await sleep(50);
      }
      const status = await e.finish();
      // With -nographic SeaBIOS (QEMU only: tsemu starts -kernel directly) prints before the kernel.
      return { status, monitor: e.out.slice(e.out.indexOf(KERNEL_OUTPUT_END)) };
    };
    const [ours, qemu] = await Promise.all([run(TSEMU), run(QEMU_CMD)]);
    expect(ours.status).toBe(0);
    expect(normalize(ours.monitor)).toBe(normalize(qemu.monitor));
  });

  it('says it waits for a wait=on server, then sends the kernel output to the client', async () => {
    const run = async (cmd: string[]) => {
      const port = await freePort();
      const e = new Emu(cmd, [...BASE, '-serial', `tcp:127.0.0.1:${port},server=on`]);
      await waitFor(() => e.err.includes('\n'), 'the waiting message');
      const c = await tcpClient(port);
      await waitFor(() => c.text.endsWith(KERNEL_OUTPUT_END), 'the kernel output on the socket');
      e.child.kill('SIGTERM');
      await e.finish();
      c.socket.destroy();
      return { message: e.err.split('\n')[0]!.replace(/^[^:]+: /, '').replaceAll(String(port), 'PORT'), text: c.text };
    };
    const [ours, qemu] = await Promise.all([run(TSEMU), run(QEMU_CMD)]);
    expect(ours.message).toBe(qemu.message);
    expect(ours.message).toBe('-serial tcp:127.0.0.1:PORT,server=on: info: QEMU waiting for connection on: disconnected:tcp:127.0.0.1:PORT,server=on');
    expect(ours.text).toBe(qemu.text);
  });
});

/** A TCP client that keeps what it receives. */
async function tcpClient(port: number): Promise<{ socket: Socket; readonly text: string; clear(): void }> {
  const socket = connect(port, '127.0.0.1');
  let chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  await new Promise<void>((resolvePromise, reject) => {
    socket.once('connect', () => resolvePromise());
    socket.once('error', reject);
  });
  return {
    socket,
    get text() {
      return Buffer.concat(chunks).toString('latin1');
    },
    clear() {
      chunks = [];
    },
  };
}

describe('tsemu monitor and serial port on sockets', () => {
  it('keeps a TCP monitor working through disconnects, garbage and a 1 MB line', async () => {
    const port = await freePort();
    const e = new Emu(TSEMU, [...BASE, '-serial', 'null', '-chardev', `socket,id=m,host=127.0.0.1,port=${port},server=on,wait=off`, '-mon', 'chardev=m']);
    const banner = "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) ";
    let c = await connectWhenListening(port);
    await waitFor(() => c.text === banner, 'the banner');
    c.socket.write('info status\r');
    await waitFor(() => c.text.endsWith('VM status: running\r\n(qemu) '), 'the first answer');

    // Abrupt disconnect in the middle of a line; the next client gets a fresh banner.
    c.socket.write('info sta');
    c.socket.resetAndDestroy();
    c = await tcpClient(port);
    await waitFor(() => c.text === banner, 'the banner for the second client');

    // Binary garbage (no line ends, so nothing of it runs), then a line of 1 MiB. Each key redraws
    // the line, megabytes of echo that the chardev partly drops (it queues at most 4 MiB for a
    // slow reader; QEMU would stall instead), so the checks wait for quiet and ask afterwards.
    let seed = 12345;
    const garbage = Buffer.alloc(16 * 1024);
    for (let i = 0; i < garbage.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const b = seed >>> 24;
      garbage[i] = b === 0x0d || b === 0x0a ? 0x20 : b;
    }
    c.socket.write(garbage);
    await quiet(c);
    // ^W erases a word at a time: enough of them leave an empty line.
    await ask(c, '\x05' + '\x17'.repeat(1000), /\(qemu\) $|\x1b\[K$/);
    await quiet(c);
    await ask(c, 'info status\r', /VM status: running\r\n\(qemu\) $/);
    c.socket.write('a'.repeat(1 << 20) + '\r');
    await quiet(c);
    // The line was cut at QEMU's 4095 characters and rejected; it is the newest history entry.
    await ask(c, 'info history\r', /\d+: 'a{4095}'\r\n\d+: 'info history'\r\n\(qemu\) $/);
    await ask(c, 'info chardev\r', /serial0: filename=null\r\n\(qemu\) $/);
    expect(screen(c.text)).toMatch(new RegExp(`\\nm: filename=tcp:127\\.0\\.0\\.1:${port},server=on <-> 127\\.0\\.0\\.1:\\d+\\n`));
    c.socket.end();

    // Two clients at once: the second waits until the first leaves.
    const a = await tcpClient(port);
    await waitFor(() => a.text === banner, 'the banner for client a');
    const b = await tcpClient(port);
    await sleep(200);
    expect(b.text).toBe('');
    a.socket.destroy();
    await waitFor(() => b.text === banner, 'the banner for client b');
    b.socket.write('quit\r');
    expect(await e.finish()).toBe(0);
    expect(e.status).toBe(0);
  }, 180_000);

  it('-serial tcp:...,server=on,wait=off runs at once; a client gets what the kernel prints later', async () => {
    const port = await freePort();
    const e = new Emu(TSEMU, [...BASE, '-serial', `tcp:127.0.0.1:${port},server=on,wait=off`, '-monitor', 'stdio']);
    await e.waitOut('(qemu) ', 'the prompt');
    const c = await connectWhenListening(port);
    await sleep(100);
    // The first boot printed while nobody listened: that output is gone, as in QEMU.
    expect(c.text).toBe('');
    e.write('system_reset\n');
    await waitFor(() => c.text.endsWith(KERNEL_OUTPUT_END), 'the kernel output after the reset');
    expect(c.text.startsWith('hello from a test kernel\n')).toBe(true);
    // Input from the socket reaches the UART's receiver.
    c.socket.write('Z');
    await sleep(200);
    e.write('i /b 0x3fd\ni /b 0x3f8\nquit\n');
    expect(await e.finish()).toBe(0);
    expect(screen(e.out)).toContain('portb[0x03fd] = 0x61\n');
    expect(screen(e.out)).toContain('portb[0x03f8] = 0x5a\n');
    c.socket.destroy();
  });

  it('reports a client socket nobody listens on, in one line', async () => {
    const port = await freePort();
    const e = new Emu(TSEMU, [...BASE, '-serial', `tcp:127.0.0.1:${port}`]);
    expect(await e.finish()).toBe(1);
    expect(e.err).toBe(`tsemu: -serial tcp:127.0.0.1:${port}: Failed to connect to '127.0.0.1:${port}': Connection refused\n`);
  });
});

type Client = Awaited<ReturnType<typeof tcpClient>>;

/** Waits until `c` received nothing for `ms`. */
async function quiet(c: Client, ms = 500): Promise<void> {
  const end = Date.now() + 60_000;
  let last = -1;
  let since = Date.now();
  while (Date.now() - since < ms) {
    if (Date.now() > end) throw new Error('the monitor never stopped talking');
    const n = c.text.length;
    if (n !== last) {
      last = n;
      since = Date.now();
    }
    await sleep(20);
  }
}

/** Sends `keys` and waits for the reply to match `reply` (what came before is forgotten). */
async function ask(c: Client, keys: string, reply: RegExp): Promise<void> {
  c.clear();
  c.socket.write(Buffer.from(keys, 'latin1'));
  await waitFor(() => reply.test(c.text), () => `${JSON.stringify(keys.slice(0, 40))} to give ${reply} (got ${JSON.stringify(c.text.slice(-200))})`, 30_000);
}

async function connectWhenListening(port: number): Promise<Awaited<ReturnType<typeof tcpClient>>> {
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      return await tcpClient(port);
    } catch (err) {
      if (Date.now() > end) throw err;
      await sleep(50);
    }
  }
}

describe('tsemu gives the terminal back', () => {
  const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

  /**
   * Runs `args` under a pseudo-terminal (util-linux `script`), sampling `stty -a` before, during
   * and after, and sends `keys` after `delayMs`.
   */
  function underTty(args: string, keys: string, delayMs = 1500): { before: string; during: string; after: string; log: string } {
    const f = (n: string) => join(dir, `stty-${n}`);
    for (const n of ['before', 'during', 'after', 'out']) rmSync(f(n), { force: true });
    const inner = f('script.sh');
    writeFileSync(
      inner,
      [
        `stty -a > ${f('before')}`,
        `(sleep 1; stty -a < /dev/tty > ${f('during')}) &`,
        `${process.execPath} ${cli} ${args} > ${f('out')} 2>&1; echo "status=$?" >> ${f('out')}`,
        `stty -a > ${f('after')}`,
        '',
      ].join('\n'),
    );
    const feeder = `sleep ${delayMs / 1000}; printf '${keys}'; sleep 1`;
    const r = spawnSync('sh', ['-c', `(${feeder}) | script -qec "sh ${inner}" /dev/null`], { cwd: root, encoding: 'latin1', timeout: 30_000 });
    const flags = (n: string) => (fileText(f(n)).match(/-?\b(icanon|echo|isig)\b(?=\s)/g) ?? []).join(' ');
    return { before: flags('before'), during: flags('during'), after: flags('after'), log: fileText(f('out')) + r.stderr };
  }

  it.skipIf(!haveScript)('-nographic: raw while running, restored after C-a x', () => {
    const r = underTty(`-nographic -m 64 -kernel ${hello}`, '\\001x');
    expect(r.before).toBe('isig icanon echo');
    expect(r.during).toBe('-isig -icanon -echo');
    expect(r.after).toBe('isig icanon echo');
    expect(r.log).toMatch(/QEMU: Terminated\n\r?status=0\n$/);
  });

  it.skipIf(!haveScript)('-monitor stdio: restored after quit, and after a failed start', () => {
    const r = underTty(`${BASE.join(' ')} -serial null -monitor stdio`, 'quit\\r');
    expect(r.during).toBe('-isig -icanon -echo');
    expect(r.after).toBe('isig icanon echo');
    expect(r.log).toMatch(/status=0\n$/);
    const bad = underTty(`-nodefaults -monitor stdio -kernel ${join(dir, 'missing.elf')}`, '');
    expect(bad.after).toBe('isig icanon echo');
    expect(bad.log).toMatch(/^tsemu: could not load kernel .*missing\.elf.*\nstatus=1\n$/);
  });
});
