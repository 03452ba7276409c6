// Socket chardevs on 127.0.0.1 and Unix sockets: server and client, one client at a time,
// wait=on, reconnect, telnet negotiation (checked against the bytes QEMU sends) and WebSocket
// (handshake and framing, checked against QEMU's answers where it matters).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChardevError } from '../monitor/chardev/chardev.ts';
import { openChardev } from '../monitor/chardev/open.ts';
import { parseCharOptions } from '../monitor/chardev/options.ts';
import { MAX_WAITING_CLIENTS, SocketChardev, type SocketChardevOptions } from '../monitor/chardev/socket.ts';
import { TELNET_GREETING, TelnetFilter } from '../monitor/chardev/telnet.ts';
import {
  Client,
  QEMU,
  Recorder,
  afterHttpHead,
  clientFrame,
  freePort,
  haveQemu,
  parseServerFrames,
  sleep,
  tempDir,
  waitUntil,
  wsAccept,
  wsRequest,
} from './monitor-chardev-helpers.ts';

const tmp = tempDir();
const D = tmp.path;
const open: SocketChardev[] = [];
afterAll(async () => {
  for (const c of open) await c.close();
  tmp.cleanup();
});

function tcp(extra: Partial<SocketChardevOptions> = {}): SocketChardevOptions {
  return {
    address: { type: 'inet', host: '127.0.0.1', port: '0', ipv4: false, ipv6: false },
    server: true,
    wait: false,
    telnet: false,
    websocket: false,
    reconnect: 0,
    nodelay: false,
    ...extra,
  };
}

async function server(extra: Partial<SocketChardevOptions> = {}): Promise<{ c: SocketChardev; port: number; rec: Recorder }> {
  const c = await SocketChardev.open('s', tcp(extra));
  open.push(c);
  const rec = Recorder.on(c);
  return { c, port: c.listenPort!, rec };
}

describe('TCP server', () => {
  it('shows the listening address, then both ends while a client is connected', async () => {
    const { c, port, rec } = await server();
    expect(c.info()).toBe(`disconnected:tcp:127.0.0.1:${port},server=on`);
    const cl = await Client.open(port);
    await waitUntil(() => rec.events.includes('opened'), 'opened');
    expect(c.info()).toBe(`tcp:127.0.0.1:${port},server=on <-> 127.0.0.1:${cl.socket.localPort}`);
    cl.write(Buffer.from([0, 1, 2, 255]));
    await waitUntil(() => rec.data.length === 4, 'input');
    expect(rec.data).toEqual(Buffer.from([0, 1, 2, 255]));
    c.write(Buffer.from('from the guest'));
    expect((await cl.waitFor(14)).toString()).toBe('from the guest');
    cl.destroy();
    await waitUntil(() => rec.events.includes('closed'), 'closed');
    expect(rec.events).toEqual(['opened', 'closed']);
    expect(c.info()).toBe(`disconnected:tcp:127.0.0.1:${port},server=on`);
    // Output with nobody connected is dropped, not kept for the next client.
    c.write(Buffer.from('lost'));
    const next = await Client.open(port);
    await waitUntil(() => rec.events.length === 3, 'second opened');
    c.write(Buffer.from('new'));
    expect((await next.waitFor(3)).toString()).toBe('new');
    next.destroy();
  });

  it('serves one client at a time; the next one waits with its bytes kept', async () => {
    const { c, port, rec } = await server();
    const first = await Client.open(port);
    await waitUntil(() => rec.events.includes('opened'), 'first opened');
    const second = await Client.open(port);
    second.write('queued bytes');
    await sleep(100);
    expect(rec.data.toString()).toBe('');
    c.write(Buffer.from('only first'));
    await first.waitFor(10);
    expect(second.data.length).toBe(0);
    first.destroy();
    await waitUntil(() => rec.data.toString() === 'queued bytes', 'the waiting client to be served');
    expect(rec.events).toEqual(['opened', 'closed', 'opened']);
    expect(c.info()).toContain(`<-> 127.0.0.1:${second.socket.localPort}`);
    second.destroy();
  });

  it(`lets ${MAX_WAITING_CLIENTS} clients wait and turns more away`, async () => {
    const { port, rec } = await server();
    const first = await Client.open(port);
    await waitUntil(() => rec.events.includes('opened'), 'opened');
    const waiting = await Promise.all(Array.from({ length: MAX_WAITING_CLIENTS + 2 }, () => Client.open(port)));
    await waitUntil(() => waiting.filter((w) => w.closed).length === 2, 'the extra clients to be closed');
    for (const w of [first, ...waiting]) w.destroy();
  });

  it('listens on 127.0.0.1 when no host is given', async () => {
    const c = parseCharOptions([['serial', 'tcp::0,server=on,wait=off']], { nodefaults: true });
    const dev = await openChardev(c.chardevs[0]!, { notify: () => {} });
    expect(dev.info()).toMatch(/^disconnected:tcp:127\.0\.0\.1:\d+,server=on$/);
    await dev.close();
  });

  it('with wait=on, opens only once a client came, after saying where it waits', async () => {
    const port = await freePort();
    const notes: string[] = [];
    const c = parseCharOptions([['chardev', `socket,id=w,host=127.0.0.1,port=${port},server=on`]], { nodefaults: true });
    let opened = false;
    const pending = openChardev(c.chardevs[0]!, { notify: (t) => notes.push(t) }).then((d) => {
      opened = true;
      return d;
    });
    await waitUntil(() => notes.length === 1, 'the waiting message');
    expect(notes).toEqual([`-chardev socket,id=w,host=127.0.0.1,port=${port},server=on: info: QEMU waiting for connection on: disconnected:tcp:127.0.0.1:${port},server=on`]);
    await sleep(100);
    expect(opened).toBe(false);
    const cl = await Client.open(port);
    const dev = await pending;
    expect(dev.isOpen).toBe(true);
    const rec = Recorder.on(dev);
    expect(rec.events).toEqual(['opened']);
    cl.destroy();
    await dev.close();
  });

  it.skipIf(!haveQemu())('waits with the message QEMU prints', async () => {
    const port = await freePort();
    const spec = `socket,id=w,host=127.0.0.1,port=${port},server=on,telnet=on`;
    const q = spawn(QEMU, ['-display', 'none', '-nodefaults', '-S', '-chardev', spec], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    q.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitUntil(() => err.includes('\n'), 'QEMU to wait', 10_000);
    const gone = new Promise((r) => q.on('exit', r));
    q.kill();
    await gone;
    const notes: string[] = [];
    const c = parseCharOptions([['chardev', spec]], { nodefaults: true });
    const pending = openChardev(c.chardevs[0]!, { notify: (t) => notes.push(t) });
    await waitUntil(() => notes.length === 1, 'our waiting message');
    expect(`qemu-system-x86_64: ${notes[0]}\n`).toBe(err);
    const cl = await Client.open(port);
    await (await pending).close();
    cl.destroy();
  });
});

describe('Unix socket server', () => {
  it('shows the path, replaces a stale socket file and leaves a regular file alone', async () => {
    const path = join(D, 'u.sock');
    const first = await SocketChardev.open('u', tcp({ address: { type: 'unix', path, abstract: false, tight: true } }));
    await first.close();
    // A socket file left behind (as after a crash) does not stop a new server.
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(D, 'stale.sock'), r));
    stale.close();
    const u = await SocketChardev.open('u', tcp({ address: { type: 'unix', path, abstract: false, tight: true } }));
    open.push(u);
    const rec = Recorder.on(u);
    expect(u.info()).toBe(`disconnected:unix:${path},server=on`);
    const cl = await Client.open(path);
    await waitUntil(() => rec.events.includes('opened'), 'opened');
    expect(u.info()).toBe(`unix:${path},server=on`);
    cl.write('over unix');
    await waitUntil(() => rec.data.toString() === 'over unix', 'input');
    cl.destroy();
    const file = join(D, 'regular');
    writeFileSync(file, 'keep me');
    await expect(SocketChardev.open('u', tcp({ address: { type: 'unix', path: file, abstract: false, tight: true } }))).rejects.toThrow(
      new ChardevError(`Failed to bind socket to ${file}: Address already in use`),
    );
  });
});

describe('client', () => {
  async function listen(onConn: (s: Socket) => void, port = 0): Promise<Server> {
    const s = createServer(onConn);
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    return s;
  }

  it('connects, shows both ends, exchanges bytes', async () => {
    let peer: Socket | null = null;
    const got: Buffer[] = [];
    const srv = await listen((s) => {
      peer = s;
      s.on('data', (d: Buffer) => got.push(d));
    });
    const port = (srv.address() as { port: number }).port;
    const c = await SocketChardev.open('c', tcp({ server: false, address: { type: 'inet', host: '127.0.0.1', port: String(port), ipv4: false, ipv6: false } }));
    const rec = Recorder.on(c);
    expect(rec.events).toEqual(['opened']);
    await waitUntil(() => peer !== null, 'accept');
    expect(c.info()).toBe(`tcp:127.0.0.1:${peer!.remotePort} <-> 127.0.0.1:${port}`);
    c.write(Buffer.from('hello server'));
    await waitUntil(() => Buffer.concat(got).toString() === 'hello server', 'output');
    peer!.write('hello client');
    await waitUntil(() => rec.data.toString() === 'hello client', 'input');
    // Without reconnect a lost server stays lost.
    peer!.destroy();
    await waitUntil(() => rec.events.includes('closed'), 'closed');
    expect(c.info()).toBe(`disconnected:tcp:127.0.0.1:${port}`);
    await c.close();
    srv.close();
  });

  it('prints "unix:" for its own unnamed end of a Unix socket, as QEMU does', async () => {
    const path = join(D, 'client.sock');
    const srv = createServer(() => {});
    await new Promise<void>((r) => srv.listen(path, r));
    const c = await SocketChardev.open('c', tcp({ server: false, address: { type: 'unix', path, abstract: false, tight: true } }));
    expect(c.info()).toBe('unix:');
    await c.close();
    srv.close();
  });

  it('fails like QEMU when nobody listens', async () => {
    const port = await freePort();
    await expect(SocketChardev.open('c', tcp({ server: false, address: { type: 'inet', host: '127.0.0.1', port: String(port), ipv4: false, ipv6: false } }))).rejects.toThrow(
      new ChardevError(`Failed to connect to '127.0.0.1:${port}': Connection refused`),
    );
    await expect(SocketChardev.open('c', tcp({ server: false, address: { type: 'unix', path: join(D, 'none.sock'), abstract: false, tight: true } }))).rejects.toThrow(
      new ChardevError(`Failed to connect to '${join(D, 'none.sock')}': No such file or directory`),
    );
  });

  it('with reconnect=1, says once that it cannot connect, then connects and reconnects', async () => {
    const port = await freePort();
    const notes: string[] = [];
    const c = await SocketChardev.open('rc', tcp({ server: false, reconnect: 1, notify: (t) => notes.push(t), address: { type: 'inet', host: '127.0.0.1', port: String(port), ipv4: false, ipv6: false } }));
    open.push(c);
    const rec = Recorder.on(c);
    await waitUntil(() => notes.length === 1, 'the failure message');
    expect(notes).toEqual([`Unable to connect character device rc: Failed to connect to '127.0.0.1:${port}': Connection refused`]);
    expect(c.info()).toBe(`disconnected:tcp:127.0.0.1:${port}`);
    let conns = 0;
    const peers: Socket[] = [];
    const srv = await listen((s) => {
      conns++;
      peers.push(s);
    }, port);
    await waitUntil(() => rec.events.includes('opened'), 'a connection', 5000);
    peers[0]!.destroy();
    await waitUntil(() => conns === 2 && rec.events.length === 3, 'the reconnection', 5000);
    expect(rec.events).toEqual(['opened', 'closed', 'opened']);
    expect(notes.length).toBe(1);
    await c.close();
    srv.close();
  });
});

describe('telnet', () => {
  it('offers what QEMU offers and strips commands from input', async () => {
    const { c, port, rec } = await server({ telnet: true });
    expect(c.info()).toBe(`disconnected:telnet:127.0.0.1:${port},server=on`);
    const cl = await Client.open(port);
    c.write(Buffer.from('greeting'));
    const got = await cl.waitFor(TELNET_GREETING.length);
    expect(got.subarray(0, 12)).toEqual(Buffer.from('fffb01fffb03fffb00fffd00', 'hex'));
    // A client's answers, an escaped 0xFF, a subnegotiation (window size), a split sequence.
    cl.write(Buffer.from([0xff, 0xfd, 0x01, 0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18]));
    cl.write(Buffer.from([0x61, 0x62, 0xff, 0xff, 0x63]));
    cl.write(Buffer.from([0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0, 0x64]));
    cl.write(Buffer.from([0xff]));
    await sleep(20);
    cl.write(Buffer.from([0xfb]));
    await sleep(20);
    cl.write(Buffer.from([0x01, 0x65]));
    await waitUntil(() => rec.data.length >= 6, 'filtered input');
    expect(rec.data).toEqual(Buffer.from([0x61, 0x62, 0xff, 0x63, 0x64, 0x65]));
    cl.write(Buffer.from([0xff, 0xf3]));
    await waitUntil(() => rec.events.includes('break'), 'break');
    expect(c.info()).toMatch(/^telnet:127\.0\.0\.1:\d+,server=on <-> /);
    cl.destroy();
  });

  it.skipIf(!haveQemu())('sends the same negotiation bytes as QEMU', async () => {
    const port = await freePort();
    const q = spawn(QEMU, ['-display', 'none', '-nodefaults', '-S', '-chardev', `socket,id=t,host=127.0.0.1,port=${port},server=on,wait=off,telnet=on`], { stdio: 'ignore' });
    try {
      let cl: Client | null = null;
      for (let i = 0; i < 200 && !cl; i++) {
        cl = await Client.open(port).catch(() => null);
        if (!cl) await sleep(25);
      }
      const theirs = await cl!.waitFor(12);
      await sleep(100);
      expect(Buffer.from(TELNET_GREETING)).toEqual(cl!.data);
      expect(theirs.length).toBe(12);
      cl!.destroy();
    } finally {
      q.kill();
    }
  });

  it('keeps its state across chunks', () => {
    const f = new TelnetFilter();
    const out = [0xff, 0xff, 0x41, 0xff, 0xfa, 0x01, 0x02, 0xff, 0xff, 0x03, 0xff, 0xf0, 0x42].map((b) => Buffer.from(f.filter(Uint8Array.of(b))));
    expect(Buffer.concat(out)).toEqual(Buffer.from([0xff, 0x41, 0x42]));
  });
});

/** A WebSocket client over a raw socket. */
async function wsConnect(port: number, extraHeaders = '', sampleKey?: string): Promise<{ cl: Client; head: string; frames: () => ReturnType<typeof parseServerFrames> }> {
  const cl = await Client.open(port);
  const { request, key } = wsRequest(extraHeaders, sampleKey);
  cl.write(request);
  await waitUntil(() => afterHttpHead(cl.data) !== null, 'the handshake answer');
  const head = afterHttpHead(cl.data)!.head;
  if (head.startsWith('HTTP/1.1 101')) expect(head).toContain(`Sec-WebSocket-Accept: ${wsAccept(key)}`);
  return { cl, head, frames: () => parseServerFrames(afterHttpHead(cl.data)!.rest) };
}

describe('websocket', () => {
  it('answers the sample key of RFC 6455 with its accept value', async () => {
    const { port } = await server({ websocket: true });
    const { cl, head } = await wsConnect(port, '', 'dGhlIHNhbXBsZSBub25jZQ==');
    expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    cl.destroy();
  });

  it('upgrades, then carries bytes in binary frames both ways', async () => {
    const { c, port, rec } = await server({ websocket: true });
    expect(c.info()).toBe(`disconnected:websocket:127.0.0.1:${port},server=on`);
    const { cl, head, frames } = await wsConnect(port, 'Sec-WebSocket-Protocol: chat, binary\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(head).toContain('Sec-WebSocket-Protocol: binary');
    await waitUntil(() => rec.events.includes('opened'), 'opened');
    expect(c.info()).toMatch(new RegExp(`^websocket:127\\.0\\.0\\.1:${port},server=on <-> 127\\.0\\.0\\.1:\\d+$`));
    c.write(Buffer.from('one'));
    c.write(Buffer.alloc(70_000, 0x42));
    await waitUntil(() => frames().length === 2, 'two frames');
    expect(frames().map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [2, true, 3],
      [2, true, 70_000],
    ]);
    // Input: a small frame, a fragmented message, a 64-bit length frame, a ping.
    cl.write(clientFrame(2, 'abc'));
    cl.write(clientFrame(2, 'de', { fin: false }));
    cl.write(clientFrame(0, 'fg'));
    cl.write(clientFrame(2, Buffer.alloc(70_000, 0x43)));
    cl.write(clientFrame(9, 'ping!'));
    await waitUntil(() => rec.data.length === 7 + 70_000, 'input');
    expect(rec.data.subarray(0, 7).toString()).toBe('abcdefg');
    await waitUntil(() => frames().some((f) => f.opcode === 0xa), 'pong');
    expect(frames().find((f) => f.opcode === 0xa)!.payload.toString()).toBe('ping!');
    // A close frame is answered and ends the connection.
    cl.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
    await waitUntil(() => cl.closed, 'close');
    expect(frames().at(-1)!.opcode).toBe(8);
    await waitUntil(() => rec.events.includes('closed'), 'closed event');
  });

  it('refuses text frames, unmasked frames and requests that are not upgrades', async () => {
    const { port, rec } = await server({ websocket: true });
    const a = await wsConnect(port);
    a.cl.write(clientFrame(1, 'info chardev\n'));
    await waitUntil(() => a.cl.closed, 'close after a text frame');
    expect(a.frames().at(-1)!.payload.readUInt16BE(0)).toBe(1003);
    const b = await wsConnect(port);
    b.cl.write(clientFrame(2, 'AB', { mask: false }));
    await waitUntil(() => b.cl.closed, 'close after an unmasked frame');
    expect(b.frames().at(-1)!.payload.readUInt16BE(0)).toBe(1002);
    const h = await Client.open(port);
    h.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => h.closed, 'close after a plain request');
    expect(h.data.toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(rec.data.length).toBe(0);
  });

  it.skipIf(!haveQemu())('answers the handshake with the headers QEMU sends', async () => {
    const port = await freePort();
    const q = spawn(QEMU, ['-display', 'none', '-nodefaults', '-S', '-chardev', `socket,id=w,host=127.0.0.1,port=${port},server=on,wait=off,websocket=on`], { stdio: 'ignore' });
    const names = (head: string): string[] =>
      head
        .split('\r\n')
        .slice(1)
        .map((l) => l.slice(0, l.indexOf(':')).toLowerCase())
        .filter((n) => n !== 'server' && n !== 'date');
    try {
      let theirs: Awaited<ReturnType<typeof wsConnect>> | null = null;
      for (let i = 0; i < 200 && !theirs; i++) {
        theirs = await wsConnect(port, 'Sec-WebSocket-Protocol: binary\r\n').catch(() => null);
        if (!theirs) await sleep(25);
      }
      const { port: ourPort } = await server({ websocket: true });
      const ours = await wsConnect(ourPort, 'Sec-WebSocket-Protocol: binary\r\n');
      expect(ours.head.split('\r\n')[0]).toBe(theirs!.head.split('\r\n')[0]);
      expect(names(ours.head)).toEqual(names(theirs!.head));
      theirs!.cl.destroy();
      ours.cl.destroy();
    } finally {
      q.kill();
    }
  });
});
