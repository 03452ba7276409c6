// The server side of the WebSocket protocol (RFC 6455) for socket chardevs with websocket=on, on
// the `ws` package: Node's HTTP parser reads the upgrade request from the accepted socket, `ws`
// checks it, answers it and does the framing (pings are answered, close frames echoed).
// As in QEMU: every chardev write is one binary frame, text frames end the connection (1003), a
// client that names subprotocols must offer "binary", and a refused request gets QEMU's
// "400 Bad Request" (with "Server: tsemu").

import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** The longest request head taken; a longer one is refused before it is read to its end. */
export const HANDSHAKE_LIMIT = 8192;
/** The close code for a text frame: the chardev carries bytes, not text. */
export const CLOSE_UNSUPPORTED_DATA = 1003;

const PROTOCOL = 'binary';

export interface WebSocketEvents {
  /** The upgrade is done: data may flow both ways. */
  open(): void;
  /** The payload of one binary message. */
  data(bytes: Buffer): void;
}

function refusal(): string {
  return (
    'HTTP/1.1 400 Bad Request\r\n' +
    `Server: tsemu\r\nDate: ${new Date().toUTCString()}\r\n` +
    'Connection: close\r\nSec-WebSocket-Version: 13\r\n\r\n'
  );
}

/** Answers 400 once; later calls (the same client still talking) change nothing. */
function refuse(socket: Duplex): void {
  if (socket.writableEnded) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(refusal());
}

/** True unless the client named subprotocols without "binary" among them. */
function offersBinary(req: IncomingMessage): boolean {
  const offered = req.headers['sec-websocket-protocol'];
  if (offered === undefined) return true;
  return offered.split(',').some((p) => p.trim().toLowerCase() === PROTOCOL);
}

let shared: WebSocketServer | null = null;

/** One `ws` server for every chardev: it keeps no state about the connections it upgrades. */
function upgrader(): WebSocketServer {
  if (shared) return shared;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    // Text frames are refused whatever they hold, so their UTF-8 is not worth checking.
    skipUTF8Validation: true,
    // Called only when the client named protocols, and then "binary" is one (see offersBinary).
    handleProtocols: () => PROTOCOL,
  });
  // QEMU's 101 answer has these two before the others.
  wss.on('headers', (headers: string[]) => headers.splice(1, 0, 'Server: tsemu', `Date: ${new Date().toUTCString()}`));
  // A request `ws` will not upgrade (bad key, version, method): QEMU's 400 instead of ws's own.
  wss.on('wsClientError', (_err: Error, socket: Duplex) => refuse(socket));
  shared = wss;
  return wss;
}

/** One accepted socket on a websocket=on chardev: the handshake, then binary messages. */
export class WebSocketConnection {
  private ws: WebSocket | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly noDelay: boolean,
    private readonly events: WebSocketEvents,
  ) {
    // Whatever ends our side (a refusal, the close handshake, a protocol error, a text frame)
    // ends the connection once the last bytes are out, without waiting for the client.
    socket.on('finish', () => socket.destroy());
  }

  /** Hands the socket to an HTTP parser of its own; call once, then let the socket flow. */
  start(): void {
    const http = createServer({ maxHeaderSize: HANDSHAKE_LIMIT, requireHostHeader: false });
    const refuseRequest = (req: IncomingMessage): void => refuse(req.socket);
    // Plain requests (also with Expect:) and CONNECT are not upgrades.
    http.on('request', refuseRequest);
    http.on('checkContinue', refuseRequest);
    http.on('checkExpectation', refuseRequest);
    http.on('connect', (_req: IncomingMessage, socket: Duplex) => refuse(socket));
    // Junk instead of HTTP, a head over the limit, or a reset while reading it.
    http.on('clientError', (_err: Error, socket: Duplex) => refuse(socket));
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    http.emit('connection', this.socket);
  }

  /** Sends one binary frame; dropped unless the connection is open. */
  send(bytes: Uint8Array): void {
    // Copied: the frontend may reuse its buffer once write() returns, and ws keeps a reference.
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(Buffer.from(bytes));
  }

  setPaused(paused: boolean): void {
    if (!this.ws) return;
    if (paused) this.ws.pause();
    else this.ws.resume();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!offersBinary(req)) {
      refuse(socket);
      return;
    }
    upgrader().handleUpgrade(req, socket, head, (ws) => {
      this.ws = ws;
      // ws turns Nagle's algorithm off on every socket it takes; nodelay=off means it stays on.
      if (!this.noDelay) this.socket.setNoDelay(false);
      // Protocol errors: ws has sent its close frame and ends the socket; nothing more to do.
      ws.on('error', () => {});
      ws.on('message', (data: RawData, isBinary: boolean) => this.message(ws, data, isBinary));
      this.events.open();
    });
  }

  private message(ws: WebSocket, data: RawData, isBinary: boolean): void {
    // Messages already read when the connection began to close are not input.
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!isBinary) {
      ws.close(CLOSE_UNSUPPORTED_DATA, 'binary frames only');
      // Ended now, as before ws: not waiting (up to 30 s) for the client's own close frame.
      this.socket.end();
      return;
    }
    this.events.data(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
  }
}
