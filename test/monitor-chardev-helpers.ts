// Shared pieces of the monitor-chardev tests: a recording frontend, TCP and WebSocket clients,
// waiting helpers and a way to ask qemu-system-x86_64 the same question.

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Chardev, ChardevEvent } from '../monitor/chardev/chardev.ts';

export const QEMU = 'qemu-system-x86_64';

export function haveQemu(): boolean {
  return spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function tempDir(prefix = 'tsemu-chardev-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A frontend that keeps everything it is given. */
export class Recorder {
  readonly chunks: Buffer[] = [];
  readonly events: ChardevEvent[] = [];
  receive(bytes: Uint8Array): void {
    this.chunks.push(Buffer.from(bytes));
  }
  event(e: ChardevEvent): void {
    this.events.push(e);
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
  clear(): void {
    this.chunks.length = 0;
    this.events.length = 0;
  }
  static on(c: Chardev): Recorder {
    const r = new Recorder();
    c.attach(r);
    return r;
  }
}

/** A TCP or Unix client that records what it receives. */
export class Client {
  readonly chunks: Buffer[] = [];
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }
  static async open(target: number | string, host = '127.0.0.1'): Promise<Client> {
    const s = typeof target === 'number' ? connect(target, host) : connect(target);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new Client(s);
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
  async waitFor(n: number, timeoutMs = 5000): Promise<Buffer> {
    await waitUntil(() => this.data.length >= n, `${n} bytes from the chardev`, timeoutMs);
    return this.data;
  }
  write(b: Uint8Array | string): void {
    this.socket.write(b);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** A port that was free a moment ago (for programs that cannot report an ephemeral port). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (!a || typeof a !== 'object') throw new Error('no port');
  return a.port;
}

// --- WebSocket client side (masked frames), enough to talk to the chardev ---

export function wsRequest(extraHeaders = '', key = randomBytes(16).toString('base64')): { request: string; key: string } {
  const request = `GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`;
  return { request, key };
}

/** The Sec-WebSocket-Accept a server owes a client for its key (RFC 6455 §4.2.2). */
export function wsAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

export function clientFrame(opcode: number, payload: Uint8Array | string, options: { fin?: boolean; mask?: boolean } = {}): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
  const fin = options.fin ?? true;
  const masked = options.mask ?? true;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const m = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (p.length < 126) head.push(m | p.length);
  else if (p.length < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(p.length);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(p.length));
  }
  if (!masked) return Buffer.concat([Buffer.from(head), ext, p]);
  const key = randomBytes(4);
  const body = Buffer.from(p.map((b, i) => b ^ key[i & 3]!));
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

export interface ServerFrame {
  opcode: number;
  fin: boolean;
  payload: Buffer;
}

/** Splits server frames out of `buf` (after the HTTP response); the rest is incomplete. */
export function parseServerFrames(buf: Buffer): ServerFrame[] {
  const out: ServerFrame[] = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    if (b1 & 0x80) throw new Error('server frames must not be masked');
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (pos + 4 > buf.length) break;
      len = buf.readUInt16BE(pos + 2);
      hdr = 4;
    } else if (len === 127) {
      if (pos + 10 > buf.length) break;
      len = Number(buf.readBigUInt64BE(pos + 2));
      hdr = 10;
    }
    if (pos + hdr + len > buf.length) break;
    out.push({ opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, payload: buf.subarray(pos + hdr, pos + hdr + len) });
    pos += hdr + len;
  }
  return out;
}

/** The bytes after the HTTP response head, or null while the head is incomplete. */
export function afterHttpHead(buf: Buffer): { head: string; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  return { head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) };
}

// --- QEMU as the oracle ---

export interface QemuOutcome {
  status: number | null;
  /** stderr lines without the "qemu-system-x86_64: " prefix. */
  errors: string[];
  /** `info chardev` lines of the run (without the probe's own chardev), or [] if it failed. */
  info: string[];
}

/**
 * Runs QEMU with `args` plus a monitor on a pipe chardev fed from a file ("info chardev", then
 * "quit"), so an accepted command line exits at once with status 0 and its chardev list.
 * Not for command lines that depend on the default monitor (the probe's -mon replaces it).
 */
export function qemuProbe(args: string[], dir: string): QemuOutcome {
  const base = join(dir, `probe-${randomBytes(4).toString('hex')}`);
  writeFileSync(`${base}.in`, 'info chardev\nquit\n');
  writeFileSync(`${base}.out`, '');
  const r = spawnSync(QEMU, ['-display', 'none', '-S', ...args, '-chardev', `pipe,id=tsemuprobe,path=${base}`, '-mon', 'chardev=tsemuprobe'], {
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errors = r.stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^qemu-system-x86_64: /, ''));
  const out = readFileSync(`${base}.out`, 'latin1');
  const info = r.status === 0 ? infoLines(out).filter((l) => !l.startsWith('tsemuprobe:')) : [];
  return { status: r.status, errors, info };
}

/** The "ID: filename=..." lines in monitor output. */
export function infoLines(monitorOutput: string): string[] {
  return monitorOutput
    .split(/\r?\n/)
    .map((l) => l.replace(/\r/g, ''))
    .filter((l) => /^[A-Za-z][\w.-]*: filename=/.test(l));
}
