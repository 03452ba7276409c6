// The simple backends with real files and FIFOs: null/vc, file, pipe, serial (tty), ringbuf
// (compared with QEMU's ringbuf_read/ringbuf_write), stdio on a fake terminal, pty and the
// drivers tsemu does not have; and the rules every backend shares (one frontend, never throwing).

import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChardevError } from '../monitor/chardev/chardev.ts';
import { FileChardev } from '../monitor/chardev/file.ts';
import { NullChardev } from '../monitor/chardev/null.ts';
import { ChardevSet, openChardev, openChardevs } from '../monitor/chardev/open.ts';
import { parseCharOptions } from '../monitor/chardev/options.ts';
import { PipeChardev } from '../monitor/chardev/pipe.ts';
import { RingbufChardev } from '../monitor/chardev/ringbuf.ts';
import { StdioChardev, type StdioHost } from '../monitor/chardev/stdio.ts';
import { OUTPUT_QUEUE_LIMIT } from '../monitor/chardev/fd-stream.ts';
import { QEMU, Recorder, haveQemu, sleep, tempDir, waitUntil } from './monitor-chardev-helpers.ts';

const tmp = tempDir();
const D = tmp.path;
afterAll(() => tmp.cleanup());

function mkfifo(...paths: string[]): void {
  const r = spawnSync('mkfifo', paths);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

/** Reads whatever a FIFO holds now, without blocking. */
function drainFifo(fd: number): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      parts.push(Buffer.from(buf.subarray(0, n)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw e;
    }
  }
  return Buffer.concat(parts);
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('null and vc', () => {
  it('drop output; null is never opened, vc is', () => {
    const n = new NullChardev('n');
    const r = Recorder.on(n);
    n.write(ALL_BYTES);
    expect(r.events).toEqual([]);
    expect(n.info()).toBe('null');
    const v = new NullChardev('v', 'vc');
    const rv = Recorder.on(v);
    expect(rv.events).toEqual(['opened']);
    expect(v.info()).toBe('vc');
  });
});

describe('file', () => {
  it('truncates, then writes every byte value as is', async () => {
    const path = join(D, 'out.bin');
    writeFileSync(path, 'old content that must go');
    const f = new FileChardev('f', path);
    const r = Recorder.on(f);
    expect(r.events).toEqual(['opened']);
    f.write(ALL_BYTES);
    f.write(Buffer.from('\r\nend'));
    await f.close();
    expect(readFileSync(path)).toEqual(Buffer.concat([ALL_BYTES, Buffer.from('\r\nend')]));
    // After close, writes are dropped quietly.
    f.write(Buffer.from('late'));
    expect(readFileSync(path).length).toBe(261);
  });

  it('appends with append=on and keeps a log copy with logfile=', async () => {
    const path = join(D, 'app.txt');
    const log = join(D, 'app.log');
    writeFileSync(path, 'first\n');
    writeFileSync(log, 'old log\n');
    const f = new FileChardev('f', path, true, { logfile: log, logappend: true });
    f.write(Buffer.from('second\n'));
    await f.close();
    expect(readFileSync(path, 'utf8')).toBe('first\nsecond\n');
    expect(readFileSync(log, 'utf8')).toBe('old log\nsecond\n');
  });

  it('says why it cannot open, in QEMU words', () => {
    expect(() => new FileChardev('f', join(D, 'no/such/dir/f'))).toThrow(new ChardevError(`Could not open '${join(D, 'no/such/dir/f')}': No such file or directory`));
    mkdirSync(join(D, 'adir'), { recursive: true });
    expect(() => new FileChardev('f', join(D, 'adir'))).toThrow(/Is a directory$/);
    expect(() => new NullChardev('n', 'null', { logfile: join(D, 'no/log') })).toThrow(new ChardevError(`Could not create '${join(D, 'no/log')}': No such file or directory`));
  });
});

describe('pipe', () => {
  it('reads PATH.in and writes PATH.out when both exist', async () => {
    const base = join(D, 'p1');
    mkfifo(`${base}.in`, `${base}.out`);
    const p = new PipeChardev('p', base);
    const r = Recorder.on(p);
    expect(r.events).toEqual(['opened']);
    // An outside writer and reader, as a user's script would be.
    const w = openSync(`${base}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
    const rd = openSync(`${base}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
    writeSync(w, ALL_BYTES);
    await waitUntil(() => r.data.length === 256, 'pipe input');
    expect(r.data).toEqual(ALL_BYTES);
    p.write(Buffer.from('to the reader'));
    let got = Buffer.alloc(0);
    await waitUntil(() => {
      got = Buffer.concat([got, drainFifo(rd)]);
      return got.toString() === 'to the reader';
    }, 'pipe output');
    closeSync(w); // the writer going away is not end of input: the chardev holds the FIFO open
    await sleep(50);
    expect(r.events).toEqual(['opened']);
    await p.close();
    closeSync(rd);
    expect(p.info()).toBe('pipe');
  });

  it('uses PATH itself when PATH.in or PATH.out is missing', async () => {
    const path = join(D, 'p2');
    mkfifo(path);
    const p = new PipeChardev('p', path);
    const r = Recorder.on(p);
    const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, 'one fifo');
    await waitUntil(() => r.data.toString() === 'one fifo', 'input through the single FIFO');
    closeSync(w);
    await p.close();
  });

  it('holds input back while the frontend asks it to', async () => {
    const base = join(D, 'p3');
    mkfifo(`${base}.in`, `${base}.out`);
    const p = new PipeChardev('p', base);
    const r = Recorder.on(p);
    p.setInputPaused(true);
    const w = openSync(`${base}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, 'held');
    await sleep(100);
    expect(r.data.length).toBe(0);
    p.setInputPaused(false);
    await waitUntil(() => r.data.toString() === 'held', 'input after resume');
    closeSync(w);
    await p.close();
  });

  it('drops output a stopped reader cannot take, and says so once', async () => {
    const base = join(D, 'p4');
    mkfifo(`${base}.in`, `${base}.out`);
    const notes: string[] = [];
    const p = new PipeChardev('p', base, 'pipe', { notify: (t) => notes.push(t) });
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    // Nobody reads PATH.out: the kernel buffer fills, then Node's queue, then output is dropped.
    for (let i = 0; i < (OUTPUT_QUEUE_LIMIT * 2) / chunk.length; i++) p.write(chunk);
    expect(notes).toEqual(["chardev 'p': output dropped: the reader is not keeping up"]);
    await p.close();
  });

  it('reads a plain file once and reports the end of input', async () => {
    const path = join(D, 'plain-input');
    writeFileSync(path, 'file input');
    const p = new PipeChardev('p', path);
    const r = Recorder.on(p);
    await waitUntil(() => r.events.includes('closed'), 'end of input');
    expect(r.data.toString()).toBe('file input');
    await p.close();
  });

  it('fails like QEMU when nothing is there', () => {
    expect(() => new PipeChardev('p', join(D, 'nothing'))).toThrow(new ChardevError(`Could not open '${join(D, 'nothing')}': No such file or directory`));
  });

  it('opens a device node for serial (alias tty)', async () => {
    const s = new PipeChardev('s', '/dev/null', 'serial');
    s.write(Buffer.from('into the void'));
    expect(s.info()).toBe('serial');
    await s.close();
  });
});

/** The monitor output of QEMU fed `commands` on a pipe chardev (escape sequences removed). */
function qemuMonitor(args: string[], commands: string): string {
  const base = join(D, `mon-${Math.random().toString(36).slice(2)}`);
  writeFileSync(`${base}.in`, `${commands}quit\n`);
  writeFileSync(`${base}.out`, '');
  spawnSync(QEMU, ['-display', 'none', '-nodefaults', '-S', ...args, '-chardev', `pipe,id=m,path=${base}`, '-mon', 'chardev=m'], { timeout: 10_000 });
  return readFileSync(`${base}.out`, 'latin1').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}

describe('ringbuf', () => {
  /** Replays QEMU's commands on our ringbuf; each read gives one line, as ringbuf_read prints it. */
  function ours(size: number, ops: [string, string | number][]): string[] {
    const r = new RingbufChardev('r', size);
    const out: string[] = [];
    for (const [op, arg] of ops) {
      if (op === 'write') r.writeData(Buffer.from(String(arg)));
      else out.push(Buffer.from(r.read(Number(arg))).toString('latin1'));
    }
    return out;
  }

  const ops: [string, string | number][] = [
    ['write', 'hello'],
    ['write', 'world12'],
    ['read', 300],
    ['read', 300],
    ['write', 'abc'],
    ['read', 2],
    ['read', 2],
    ['write', '0123456789abcdefXY'],
    ['read', 5],
  ];

  it('keeps the newest bytes and hands them out oldest first', () => {
    expect(ours(8, ops)).toEqual(['oworld12', '', 'ab', 'c', 'abcde']);
  });

  it.skipIf(!haveQemu())('answers ringbuf_read as QEMU does after the same ringbuf_write calls', () => {
    const commands = ops.map(([op, arg]) => (op === 'write' ? `ringbuf_write r ${arg}\n` : `ringbuf_read r ${arg}\n`)).join('');
    const out = qemuMonitor(['-chardev', 'ringbuf,id=r,size=8'], commands).split('\r\n');
    // Each ringbuf_read prints its data on the line after the command line.
    const reads = out.flatMap((line, i) => (/ringbuf_read r \d+$/.test(line) ? [out[i + 1]!.replace(/^\(qemu\) .*/, '')] : []));
    expect(reads).toEqual(ours(8, ops));
  });

  it('takes frontend output, is opened at once, sends no input', () => {
    const r = new RingbufChardev('r', 16, 'memory');
    const rec = Recorder.on(r);
    expect(rec.events).toEqual(['opened']);
    r.write(Buffer.from('guest says hi'));
    expect(r.count).toBe(13);
    expect(Buffer.from(r.read(100)).toString()).toBe('guest says hi');
    expect(r.info()).toBe('memory');
    // A write longer than the ring keeps its tail.
    r.write(Buffer.alloc(100, 0x61));
    r.write(Buffer.from('tail'));
    expect(Buffer.from(r.read(100)).toString()).toBe('aaaaaaaaaaaatail');
    expect(rec.data.length).toBe(0);
  });

  it('insists on a power of two', () => {
    expect(() => new RingbufChardev('r', 1000)).toThrow('size of ringbuf chardev must be power of two');
    expect(new RingbufChardev('r', 1).size).toBe(1);
  });
});

/** A terminal-like stdin, stdout collector and process for the stdio backend. */
class FakeStdin extends EventEmitter {
  isTTY: boolean;
  raw = false;
  flowing = false;
  rawCalls: boolean[] = [];
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  setRawMode(raw: boolean): this {
    this.raw = raw;
    this.rawCalls.push(raw);
    return this;
  }
  pause(): this {
    this.flowing = false;
    return this;
  }
  resume(): this {
    this.flowing = true;
    return this;
  }
  type(text: string | Buffer): void {
    if (this.flowing) this.emit('data', typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }
}

class FakeProcess extends EventEmitter {
  readonly pid = 4242;
  readonly kills: [number, string | number | undefined][] = [];
  kill(pid: number, signal?: string | number): boolean {
    this.kills.push([pid, signal]);
    return true;
  }
}

function fakeHost(tty: boolean): { host: StdioHost; stdin: FakeStdin; out: Buffer[]; proc: FakeProcess } {
  const stdin = new FakeStdin(tty);
  const out: Buffer[] = [];
  const proc = new FakeProcess();
  return { host: { stdin, stdout: (b) => out.push(Buffer.from(b)), process: proc }, stdin, out, proc };
}

describe('stdio', () => {
  it('makes a terminal raw, reads only with a frontend, writes to stdout', async () => {
    const f = fakeHost(true);
    const s = new StdioChardev('s', { host: f.host });
    expect(f.stdin.raw).toBe(true);
    expect(f.stdin.flowing).toBe(false);
    const r = Recorder.on(s);
    expect(r.events).toEqual(['opened']);
    expect(f.stdin.flowing).toBe(true);
    f.stdin.type('abc');
    expect(r.data.toString()).toBe('abc');
    s.write(Buffer.from('out'));
    expect(Buffer.concat(f.out).toString()).toBe('out');
    await s.close();
    expect(f.stdin.raw).toBe(false);
    expect(f.stdin.listenerCount('data')).toBe(0);
    expect(f.proc.listenerCount('exit')).toBe(0);
  });

  it('turns Ctrl-C into SIGINT with signal=on and passes it with signal=off', async () => {
    const on = fakeHost(true);
    const s = new StdioChardev('s', { host: on.host, signal: true });
    const r = Recorder.on(s);
    on.stdin.type('a\x03b');
    expect(r.data.toString('latin1')).toBe('ab');
    expect(on.proc.kills).toEqual([[4242, 'SIGINT']]);
    await s.close();

    const off = fakeHost(true);
    const s2 = new StdioChardev('s', { host: off.host, signal: false });
    const r2 = Recorder.on(s2);
    off.stdin.type('a\x03b');
    expect(r2.data.toString('latin1')).toBe('a\x03b');
    expect(off.proc.kills).toEqual([]);
    await s2.close();
  });

  it('leaves a non-terminal stdin alone (no raw mode, Ctrl-C is data)', async () => {
    const f = fakeHost(false);
    const s = new StdioChardev('s', { host: f.host });
    const r = Recorder.on(s);
    expect(f.stdin.rawCalls).toEqual([]);
    f.stdin.type('x\x03y');
    expect(r.data.toString('latin1')).toBe('x\x03y');
    f.stdin.emit('end');
    expect(r.events).toEqual(['opened', 'closed']);
    await s.close();
  });

  it('stops reading while paused and when the frontend goes', async () => {
    const f = fakeHost(false);
    const s = new StdioChardev('s', { host: f.host });
    Recorder.on(s);
    s.setInputPaused(true);
    expect(f.stdin.flowing).toBe(false);
    s.setInputPaused(false);
    expect(f.stdin.flowing).toBe(true);
    s.detach();
    expect(f.stdin.flowing).toBe(false);
    await s.close();
  });
});

describe('shared rules', () => {
  it('allows one frontend only', () => {
    const n = new NullChardev('x');
    n.attach(new Recorder());
    expect(() => n.attach(new Recorder())).toThrow(new ChardevError("Device 'x' is in use"));
    n.detach();
    n.attach(new Recorder());
  });

  it('survives a frontend that throws, and says so once', async () => {
    const f = fakeHost(false);
    const notes: string[] = [];
    const s = new StdioChardev('s', { host: f.host, notify: (t) => notes.push(t) });
    let calls = 0;
    s.attach({
      receive: () => {
        calls++;
        throw new Error('frontend bug');
      },
    });
    f.stdin.type('1');
    f.stdin.type('2');
    expect(calls).toBe(2);
    expect(notes).toEqual(["chardev 's': the frontend failed on input: frontend bug"]);
    await s.close();
  });

  it('refuses pty and drivers tsemu lacks with one clear line', async () => {
    const c = parseCharOptions(
      [
        ['chardev', 'pty,id=p'],
        ['chardev', 'msmouse,id=m'],
      ],
      { nodefaults: true },
    );
    await expect(openChardev(c.chardevs[0]!, { notify: () => {} })).rejects.toThrow(new ChardevError("-chardev pty,id=p: char device 'pty' is not supported on this build"));
    await expect(openChardev(c.chardevs[1]!, { notify: () => {} })).rejects.toThrow("-chardev msmouse,id=m: char device 'msmouse' is not supported on this build");
    await expect(openChardevs(c, { notify: () => {} })).rejects.toThrow(/pty/);
  });

  it('names a mux backend ID-base and lists chardevs for info chardev', async () => {
    const f = fakeHost(false);
    const c = parseCharOptions(
      [
        ['chardev', 'ringbuf,id=r'],
        ['serial', 'mon:stdio'],
      ],
      { nodefaults: true },
    );
    const set = await openChardevs(c, { notify: () => {}, stdio: f.host });
    expect(set.infoLines()).toEqual(['r: filename=ringbuf', 'serial0-base: filename=stdio']);
    expect(() => set.add(new NullChardev('r'))).toThrow("Duplicate ID 'r' for chardev");
    await set.closeAll();
    await set.closeAll();
    expect(set.list()).toEqual([]);
    expect(new ChardevSet().infoLines()).toEqual([]);
  });
});
