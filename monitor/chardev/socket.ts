// The socket backend: a TCP or Unix stream socket, as a server (server=on: one client at a time;
// later ones wait their turn, like clients in QEMU's listen backlog) or as a client (reconnect=N:
// try again every N seconds after a failure or a disconnect). telnet=on and websocket=on put the
// protocols of telnet.ts and websocket.ts between the socket and the frontend.

import type { Server, Socket } from 'node:net';
import { ChardevBase, ChardevError, type ChardevCommon } from './chardev.ts';
import { connectTo, hostPort, listenOn, type SocketAddress } from './socket-address.ts';
import { SocketPeer } from './socket-peer.ts';

/** Clients queued behind the connected one; more than this are disconnected at once. */
export const MAX_WAITING_CLIENTS = 8;

export interface SocketChardevOptions extends ChardevCommon {
  address: SocketAddress;
  server: boolean;
  /** server=on,wait=on: open() returns only once a client has connected. */
  wait: boolean;
  telnet: boolean;
  websocket: boolean;
  /** Seconds between connection attempts of a client; 0: connect once, at open. */
  reconnect: number;
  nodelay: boolean;
  /** Called with info() just before open() starts waiting for the first client (wait=on). */
  onWaiting?: (info: string) => void;
}

export class SocketChardev extends ChardevBase {
  private server: Server | null = null;
  private peer: SocketPeer | null = null;
  private readonly waiting: Socket[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connecting = false;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  private constructor(
    id: string,
    private readonly options: SocketChardevOptions,
  ) {
    super(id, 'socket', options);
  }

  /** Listens or connects; with server=on,wait=on also waits for the first client. */
  static async open(id: string, options: SocketChardevOptions): Promise<SocketChardev> {
    const c = new SocketChardev(id, options);
    try {
      await c.start();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The port a TCP server listens on (useful with port=0). */
  get listenPort(): number | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : null;
  }

  info(): string {
    const o = this.options;
    const a = o.address;
    const srv = o.server ? ',server=on' : '';
    const proto = o.telnet ? 'telnet' : o.websocket ? 'websocket' : 'tcp';
    const s = this.isOpen ? this.peer?.socket : undefined;
    if (a.type === 'unix') {
      // A client's own end of a Unix socket has no name, so QEMU prints nothing after "unix:".
      if (s) return o.server ? `unix:${a.path}${srv}` : 'unix:';
      return `disconnected:unix:${a.path}${srv}`;
    }
    if (s) return `${proto}:${hostPort(s.localAddress, s.localPort)}${srv} <-> ${hostPort(s.remoteAddress, s.remotePort)}`;
    const l = this.server?.address();
    if (l && typeof l === 'object') return `disconnected:${proto}:${l.address}:${l.port}${srv}`;
    return `disconnected:${proto}:${a.host}:${a.port}${srv}`;
  }

  private async start(): Promise<void> {
    const o = this.options;
    if (o.server) {
      this.server = await listenOn(o.address, (s) => this.onClient(s));
      // After listening, failures to accept (out of file descriptors) must not end the process.
      this.server.on('error', () => {});
      if (this.isClosed) return;
      if (o.wait) {
        o.onWaiting?.(this.info());
        await new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
      }
    } else if (o.reconnect > 0) {
      // QEMU does not wait for the first attempt either; failures are reported and retried.
      this.tryConnect();
    } else {
      this.adopt(await connectTo(o.address));
    }
  }

  private onClient(s: Socket): void {
    if (this.isClosed) {
      s.destroy();
      return;
    }
    s.on('error', () => {});
    if (this.peer) {
      if (this.waiting.length >= MAX_WAITING_CLIENTS) {
        s.destroy();
        return;
      }
      this.waiting.push(s);
      s.once('close', () => {
        const i = this.waiting.indexOf(s);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.adopt(s);
  }

  private adopt(s: Socket): void {
    if (this.options.nodelay) s.setNoDelay(true);
    const peer: SocketPeer = new SocketPeer(
      s,
      { telnet: this.options.telnet, websocket: this.options.websocket, nodelay: this.options.nodelay },
      {
        ready: () => {
          if (this.peer !== peer) return;
          this.clearReported('connect');
          this.setOpen(true);
          for (const w of this.readyWaiters.splice(0)) w.resolve();
        },
        data: (bytes) => {
          if (this.peer === peer) this.deliver(bytes);
        },
        break: () => {
          if (this.peer === peer) this.emitEvent('break');
        },
        gone: () => this.peerGone(peer),
      },
    );
    this.peer = peer;
    peer.setPaused(!this.wantsInput);
    peer.start();
  }

  private peerGone(peer: SocketPeer): void {
    if (this.peer !== peer) return;
    this.peer = null;
    this.setOpen(false);
    if (this.isClosed) return;
    if (this.options.server) {
      // The next waiting client gets its turn (ones that gave up meanwhile end at once).
      const next = this.waiting.shift();
      if (next) this.adopt(next);
    } else if (this.options.reconnect > 0) {
      this.scheduleReconnect();
    }
  }

  private tryConnect(): void {
    if (this.isClosed || this.peer || this.connecting) return;
    this.connecting = true;
    connectTo(this.options.address).then(
      (s) => {
        this.connecting = false;
        if (this.isClosed) s.destroy();
        else this.adopt(s);
      },
      (e: unknown) => {
        this.connecting = false;
        const why = e instanceof Error ? e.message : String(e);
        // Said once; quiet until a connection has worked again.
        this.reportOnce('connect', `Unable to connect character device ${this.id}: ${why}`);
        this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    if (this.isClosed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.tryConnect();
    }, this.options.reconnect * 1000);
    this.reconnectTimer.unref();
  }

  protected override frontendChanged(): void {
    this.peer?.setPaused(!this.wantsInput);
  }

  protected output(bytes: Uint8Array): void {
    if (this.isOpen) this.peer?.send(bytes);
  }

  protected async release(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const w of this.readyWaiters.splice(0)) w.reject(new ChardevError(`chardev '${this.id}' was closed while waiting for a connection`));
    for (const s of this.waiting.splice(0)) s.destroy();
    const peer = this.peer;
    this.peer = null;
    peer?.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
