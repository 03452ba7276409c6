// One connected client (or, for client chardevs, the server we connected to): the WebSocket
// connection (websocket.ts) and the telnet filter sit between the raw socket and the chardev.

import type { Socket } from 'node:net';
import { OUTPUT_QUEUE_LIMIT, OutputDropped } from './fd-stream.ts';
import { TELNET_GREETING, TelnetFilter } from './telnet.ts';
import { WebSocketConnection } from './websocket.ts';

/** A client that opens a WebSocket port and never completes the handshake is let go after this. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface PeerOptions {
  telnet: boolean;
  websocket: boolean;
  /** nodelay=on (set on the socket by the chardev; kept as it is through the WebSocket upgrade). */
  nodelay: boolean;
}

export interface PeerEvents {
  /** The connection carries data now (at once, or after the WebSocket handshake). */
  ready(): void;
  data(bytes: Uint8Array): void;
  break(): void;
  /** The connection is gone; called once, also when it never became ready. */
  gone(): void;
}

export class SocketPeer {
  private ready = false;
  private ended = false;
  private paused = false;
  private readonly webSocket: WebSocketConnection | null;
  private readonly telnet: TelnetFilter | null;
  private handshakeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    private readonly options: PeerOptions,
    private readonly events: PeerEvents,
  ) {
    this.telnet = options.telnet ? new TelnetFilter(() => this.events.break()) : null;
    // Paused before the 'data' listener goes on, or adding it would start reading at once.
    socket.pause();
    socket.on('error', () => {
      // Resets and broken pipes end the connection; 'close' follows.
    });
    socket.on('close', () => this.finish());
    if (options.websocket) {
      // Reads the socket itself (an HTTP parser, then ws), from start() on.
      this.webSocket = new WebSocketConnection(socket, options.nodelay, {
        open: () => this.upgraded(),
        data: (bytes) => this.input(bytes),
      });
    } else {
      this.webSocket = null;
      socket.on('data', (chunk: Buffer) => this.input(chunk));
    }
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Starts reading; a plain connection is ready at once. */
  start(): void {
    if (this.ended) return;
    if (this.webSocket) {
      this.webSocket.start();
      this.handshakeTimer = setTimeout(() => this.destroy(), HANDSHAKE_TIMEOUT_MS);
      this.handshakeTimer.unref();
      this.socket.resume();
      return;
    }
    this.becomeReady();
    this.applyPause();
  }

  /** Output for the peer; dropped before the handshake is done. Throws OutputDropped when it stops reading. */
  send(bytes: Uint8Array): void {
    if (!this.ready || this.ended) return;
    if (this.socket.writableLength > OUTPUT_QUEUE_LIMIT) throw new OutputDropped('the peer is not reading');
    if (this.webSocket) this.webSocket.send(bytes);
    // Copies: the frontend may reuse its buffer once write() returns.
    else this.socket.write(Buffer.from(bytes));
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.applyPause();
  }

  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  private applyPause(): void {
    if (this.ended || !this.ready) return;
    if (this.webSocket) this.webSocket.setPaused(this.paused);
    else if (this.paused) this.socket.pause();
    else this.socket.resume();
  }

  private becomeReady(): void {
    this.ready = true;
    // The negotiation goes out before anything the frontend says on `opened` (QEMU's order).
    if (this.telnet) this.send(TELNET_GREETING);
    this.events.ready();
  }

  /** The WebSocket handshake is done. */
  private upgraded(): void {
    if (this.ended) return;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.becomeReady();
    this.applyPause();
  }

  private input(bytes: Uint8Array): void {
    if (this.ended) return;
    const data = this.telnet ? this.telnet.filter(bytes) : bytes;
    if (data.length) this.events.data(data);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.events.gone();
  }
}
