// Garbage on every backend: binary noise, a megabyte without a newline, peers that vanish in the
// middle of a write, clients that connect and leave over and over, malformed option strings. The
// process must keep running (vitest reports any stray exception) and the chardev must stay usable.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileChardev } from '../monitor/chardev/file.ts';
import { CharOptionError, parseCharOptions } from '../monitor/chardev/options.ts';
import { PipeChardev } from '../monitor/chardev/pipe.ts';
import { RingbufChardev } from '../monitor/chardev/ringbuf.ts';
import { SocketChardev, type SocketChardevOptions } from '../monitor/chardev/socket.ts';
import { StdioChardev } from '../monitor/chardev/stdio.ts';
import { TelnetFilter } from '../monitor/chardev/telnet.ts';
import { HANDSHAKE_LIMIT } from '../monitor/chardev/websocket.ts';
import { Client, Recorder, afterHttpHead, clientFrame, parseServerFrames, sleep, tempDir, waitUntil, wsRequest } from './monitor-chardev-helpers.ts';

const tmp = tempDir();
const D = tmp.path;
const toClose: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const c of toClose) await c.close();
  tmp.cleanup();
});

const NOISE = randomBytes(1024 * 1024);
const LONG_LINE = Buffer.alloc(1024 * 1024, 0x78);

async function server(extra: Partial<SocketChardevOptions> = {}): Promise<{ c: SocketChardev; port: number; rec: Recorder; notes: string[] }> {
  const notes: string[] = [];
  const c = await SocketChardev.open('g', {
    address: { type: 'inet', host: '127.0.0.1', port: '0', ipv4: false, ipv6: false },
    server: true,
    wait: false,
    telnet: false,
    websocket: false,
    reconnect: 0,
    nodelay: false,
    notify: (t) => notes.push(t),
    ...extra,
  });
  toClose.push(c);
  return { c, port: c.listenPort!, rec: Recorder.on(c), notes };
}

/** A client past the WebSocket handshake. */
async function wsClient(port: number): Promise<Client> {
  const cl = await Client.open(port);
  cl.write(wsRequest().request);
  await waitUntil(() => afterHttpHead(cl.data) !== null, 'the handshake answer');
  return cl;
}

/** The chardev still works: a fresh client is served both ways. */
async function stillWorks(c: SocketChardev, port: number, rec: Recorder): Promise<void> {
  const opened = rec.events.filter((e) => e === 'opened').length;
  const cl = await Client.open(port);
  await waitUntil(() => rec.events.filter((e) => e === 'opened').length === opened + 1, 'a fresh client to be served');
  const before = rec.data.length;
  cl.write('still alive');
  await waitUntil(() => rec.data.length === before + 11, 'input from the fresh client');
  c.write(Buffer.from('yes'));
  // (A telnet client gets the negotiation first.)
  await waitUntil(() => cl.data.subarray(-3).toString() === 'yes', 'output to the fresh client');
  cl.destroy();
  await waitUntil(() => rec.events.at(-1) === 'closed', 'the fresh client to leave');
}

describe('noise and long lines', () => {
  it('TCP: a megabyte of noise and a megabyte without newline arrive intact', async () => {
    const { c, port, rec } = await server();
    const cl = await Client.open(port);
    cl.write(NOISE);
    cl.write(LONG_LINE);
    await waitUntil(() => rec.data.length === 2 * 1024 * 1024, 'two megabytes', 20_000);
    expect(rec.data.equals(Buffer.concat([NOISE, LONG_LINE]))).toBe(true);
    c.write(NOISE);
    await cl.waitFor(NOISE.length, 20_000);
    expect(cl.data.equals(NOISE)).toBe(true);
    cl.destroy();
    await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    await stillWorks(c, port, rec);
  });

  it('telnet: noise is filtered without harm', async () => {
    const { c, port, rec } = await server({ telnet: true });
    const cl = await Client.open(port);
    cl.write(NOISE);
    cl.write(LONG_LINE);
    await sleep(200);
    expect(rec.data.length).toBeLessThanOrEqual(2 * 1024 * 1024);
    cl.destroy();
    await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    // A new connection starts with a fresh filter.
    const before = rec.data.length;
    const fresh = await Client.open(port);
    fresh.write('clean');
    await waitUntil(() => rec.data.length === before + 5, 'clean input');
    fresh.destroy();
    await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    await stillWorks(c, port, rec);
  });

  it('websocket: a megabyte frame arrives intact; noise in place of frames or of the request ends only that client', async () => {
    const { c, port, rec } = await server({ websocket: true });
    const up = async (): Promise<Client> => {
      const cl = await Client.open(port);
      cl.write(wsRequest().request);
      await waitUntil(() => afterHttpHead(cl.data) !== null, 'handshake');
      return cl;
    };
    const a = await up();
    a.write(clientFrame(2, NOISE));
    await waitUntil(() => rec.data.length === NOISE.length, 'one megabyte frame', 20_000);
    expect(rec.data.equals(NOISE)).toBe(true);
    a.write(NOISE);
    await waitUntil(() => a.closed, 'a protocol error to end the client', 10_000);
    // Noise instead of an HTTP request, and a megabyte request line: refused, and none of it is input.
    const beforeJunk = rec.data.length;
    for (const junk of [NOISE, LONG_LINE, Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), NOISE])]) {
      const h = await Client.open(port);
      h.write(junk);
      await waitUntil(() => h.closed, 'the junk request to be refused', 10_000);
      expect(h.data.toString('latin1')).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    }
    const beforeFresh = rec.data.length;
    expect(beforeFresh).toBe(beforeJunk);
    const b = await up();
    b.write(clientFrame(2, 'fine'));
    await waitUntil(() => rec.data.length === beforeFresh + 4, 'input after the junk');
    c.write(Buffer.from('ok'));
    await waitUntil(() => afterHttpHead(b.data)!.rest.length === 4, 'a frame back');
    b.destroy();
    expect(HANDSHAKE_LIMIT).toBeLessThan(LONG_LINE.length);
  });

  it('pipe: noise and a long line through a FIFO arrive intact', async () => {
    const base = join(D, 'g');
    spawnSync('mkfifo', [`${base}.in`, `${base}.out`]);
    const p = new PipeChardev('p', base);
    toClose.push(p);
    const rec = Recorder.on(p);
    const w = createWriteStream(`${base}.in`);
    w.write(NOISE);
    w.write(LONG_LINE);
    await waitUntil(() => rec.data.length === 2 * 1024 * 1024, 'two megabytes', 20_000);
    expect(rec.data.equals(Buffer.concat([NOISE, LONG_LINE]))).toBe(true);
    await new Promise<void>((r) => w.end(() => r()));
    p.write(NOISE);
  });

  it('stdio, file and ringbuf take noise as it is', async () => {
    const stdin = Object.assign(new EventEmitter(), { isTTY: false, pause() {}, resume() {} });
    const out: Buffer[] = [];
    const s = new StdioChardev('s', { host: { stdin, stdout: (b) => out.push(Buffer.from(b)), process: Object.assign(new EventEmitter(), { pid: 1, kill: () => true }) } });
    const rec = Recorder.on(s);
    stdin.emit('data', NOISE);
    stdin.emit('data', LONG_LINE);
    expect(rec.data.equals(Buffer.concat([NOISE, LONG_LINE]))).toBe(true);
    s.write(NOISE);
    expect(Buffer.concat(out).equals(NOISE)).toBe(true);
    await s.close();

    const path = join(D, 'noise.out');
    const f = new FileChardev('f', path);
    f.write(NOISE);
    f.write(LONG_LINE);
    await f.close();
    expect(readFileSync(path).equals(Buffer.concat([NOISE, LONG_LINE]))).toBe(true);

    const r = new RingbufChardev('r', 4096);
    r.write(NOISE);
    expect(Buffer.from(r.read(1e9)).equals(NOISE.subarray(NOISE.length - 4096))).toBe(true);
  });
});

describe('peers that vanish', () => {
  it('a client reset in the middle of a large write', async () => {
    const { c, port, rec } = await server();
    const cl = await Client.open(port);
    await waitUntil(() => rec.events.includes('opened'), 'opened');
    const chunk = randomBytes(64 * 1024);
    let writes = 0;
    const writer = (async () => {
      // Keeps writing while the client goes away; every write must return normally.
      for (let i = 0; i < 256; i++) {
        c.write(chunk);
        writes++;
        if (i % 8 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    await cl.waitFor(100_000, 10_000);
    cl.socket.resetAndDestroy();
    await writer;
    expect(writes).toBe(256);
    await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    await stillWorks(c, port, rec);
  });

  it('a websocket client gone halfway through a frame and a handshake', async () => {
    const { c, port, rec } = await server({ websocket: true });
    const a = await Client.open(port);
    a.write(wsRequest().request);
    await waitUntil(() => afterHttpHead(a.data) !== null, 'handshake');
    a.write(clientFrame(2, NOISE).subarray(0, 5000));
    await sleep(20);
    a.socket.resetAndDestroy();
    const b = await Client.open(port);
    b.write(wsRequest().request.slice(0, 30));
    await sleep(20);
    b.destroy();
    await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    const cl = await Client.open(port);
    cl.write(wsRequest().request);
    await waitUntil(() => afterHttpHead(cl.data) !== null, 'handshake of a new client');
    const before = rec.data.length;
    cl.write(clientFrame(2, 'after'));
    await waitUntil(() => rec.data.length === before + 5, 'input after the vanished clients');
    cl.destroy();
    expect(c.info()).toContain('websocket:127.0.0.1:');
  });

  it('clients connecting and leaving over and over', async () => {
    const { c, port, rec } = await server();
    for (let i = 0; i < 60; i++) {
      const cl = await Client.open(port);
      if (i % 3 === 0) cl.write(randomBytes(1000));
      if (i % 2 === 0) cl.socket.resetAndDestroy();
      else cl.destroy();
      if (i % 5 === 0) c.write(randomBytes(10_000));
    }
    // A burst at once, some of them waiting behind others.
    const burst = await Promise.all(Array.from({ length: 20 }, () => Client.open(port)));
    for (const cl of burst) cl.socket.resetAndDestroy();
    await sleep(200);
    await waitUntil(() => rec.events.at(-1) === 'closed', 'every client gone');
    expect(c.info()).toMatch(/^disconnected:tcp:127\.0\.0\.1:\d+,server=on$/);
    await stillWorks(c, port, rec);
  });
});

describe('malformed input to the parsers', () => {
  const ALPHABET = ['socket', 'null', 'file', 'pipe', 'ringbuf', 'stdio', 'tcp:', 'unix:', 'mon:', 'chardev:', 'id=', 'path=', 'host=', 'port=', 'server', 'wait', 'telnet', 'websocket', 'size=', ',', ',,', '=', ':', 'on', 'off', 'no', 'x', '1', '0x', '\u00e9', ' ', '\0', '[', ']'];

  function randomSpec(): string {
    const n = 1 + Math.floor(Math.random() * 10);
    let s = '';
    for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
    return s;
  }

  it('answers every option string with data or one line of error', () => {
    const options = ['chardev', 'serial', 'monitor', 'mon', 'parallel', 'qmp', 'echr'];
    for (let i = 0; i < 3000; i++) {
      const opts: [string, string][] = [[options[i % options.length]!, randomSpec()]];
      if (i % 4 === 0) opts.push(['serial', randomSpec()]);
      try {
        parseCharOptions(opts, { nographic: i % 2 === 0, nodefaults: i % 3 === 0 });
      } catch (e) {
        if (!(e instanceof CharOptionError)) throw new Error(`${JSON.stringify(opts)}: ${String(e)}`);
        expect(e.message).not.toContain('\n');
      }
    }
  });

  it('websocket: frames split at any point arrive intact; short noise after the handshake harms nothing', async () => {
    const { c, port, rec } = await server({ websocket: true });
    const payloads = [Buffer.from('a'), randomBytes(200), Buffer.alloc(0), randomBytes(70_000)];
    for (const step of [1, 2, 3, 7, 100, 4096]) {
      // The 70 000-byte frame only in larger pieces (one write per byte would take long).
      const sent = step < 100 ? payloads.slice(0, 3) : payloads;
      const stream = Buffer.concat([...sent.map((p) => clientFrame(2, p)), clientFrame(9, 'p')]);
      const cl = await wsClient(port);
      cl.socket.setNoDelay(true);
      const before = rec.data.length;
      for (let i = 0; i < stream.length; i += step) {
        cl.write(stream.subarray(i, i + step));
        await new Promise((r) => setImmediate(r));
      }
      const want = Buffer.concat(sent);
      await waitUntil(() => rec.data.length === before + want.length, `the payloads in pieces of ${step}`);
      expect(rec.data.subarray(before).equals(want)).toBe(true);
      await waitUntil(() => parseServerFrames(afterHttpHead(cl.data)!.rest).some((f) => f.opcode === 0xa), 'the pong');
      cl.destroy();
      await waitUntil(() => rec.events.at(-1) === 'closed', 'closed');
    }
    for (let i = 0; i < 40; i++) {
      const cl = await wsClient(port);
      cl.write(randomBytes(1 + Math.floor(Math.random() * 300)));
      await sleep(2);
      cl.destroy();
      await waitUntil(() => rec.events.at(-1) === 'closed', 'closed after noise');
    }
    const cl = await wsClient(port);
    const before = rec.data.length;
    cl.write(clientFrame(2, 'fine'));
    await waitUntil(() => rec.data.length === before + 4, 'input after the noise');
    c.write(Buffer.from('ok'));
    await waitUntil(() => parseServerFrames(afterHttpHead(cl.data)!.rest).length === 1, 'a frame back');
    cl.destroy();
  });

  it('filters any byte sequence through telnet without growing it', () => {
    const f = new TelnetFilter();
    for (let i = 0; i < 200; i++) {
      const input = randomBytes(1 + Math.floor(Math.random() * 2000));
      expect(f.filter(input).length).toBeLessThanOrEqual(input.length);
    }
  });
});
