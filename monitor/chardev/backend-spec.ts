// What a chardev's options say about its backend: the parameters -chardev knows, the drivers
// tsemu has, and the checks QEMU makes before it opens anything (socket option clashes, missing
// paths, ringbuf sizes). Failures are plain Errors with QEMU's message.

import { RINGBUF_DEFAULT_SIZE } from './ringbuf.ts';
import type { SocketAddress } from './socket-address.ts';
import { boolOpt, numberOpt, parseSize, type Opts, type OptType } from './opt-syntax.ts';

export interface SocketBackend {
  driver: 'socket';
  address: SocketAddress;
  server: boolean;
  wait: boolean;
  telnet: boolean;
  websocket: boolean;
  /** Seconds; 0 for none. */
  reconnect: number;
  nodelay: boolean;
}

export type ChardevBackend =
  | { driver: 'null' }
  | { driver: 'vc' }
  | { driver: 'stdio'; signal: boolean }
  | { driver: 'file'; path: string; append: boolean }
  | { driver: 'pipe'; path: string }
  /** A host serial device node (QEMU's "serial", alias "tty"). */
  | { driver: 'serial'; path: string }
  | { driver: 'ringbuf'; size: number; name: 'ringbuf' | 'memory' }
  | SocketBackend
  | { driver: 'pty' }
  /** A driver QEMU has and tsemu does not (udp, msmouse...): opening it fails with a clear message. */
  | { driver: 'unsupported'; name: string; detail?: string };

/** Every parameter -chardev knows (QEMU checks names and types before it looks at the driver). */
export const CHARDEV_PARAMS = new Map<string, OptType>([
  ['backend', 'string'], ['path', 'string'], ['host', 'string'], ['port', 'string'], ['fd', 'string'],
  ['localaddr', 'string'], ['localport', 'string'], ['to', 'number'], ['ipv4', 'bool'], ['ipv6', 'bool'],
  ['wait', 'bool'], ['server', 'bool'], ['delay', 'bool'], ['nodelay', 'bool'], ['reconnect', 'number'],
  ['telnet', 'bool'], ['tn3270', 'bool'], ['tls-creds', 'string'], ['tls-authz', 'string'], ['websocket', 'bool'],
  ['width', 'number'], ['height', 'number'], ['cols', 'number'], ['rows', 'number'], ['mux', 'bool'],
  ['signal', 'bool'], ['name', 'string'], ['debug', 'number'], ['size', 'size'], ['chardev', 'string'],
  ['append', 'bool'], ['logfile', 'string'], ['logappend', 'bool'], ['mouse', 'bool'], ['clipboard', 'bool'],
  ['tight', 'bool'], ['abstract', 'bool'],
]);

/** Drivers tsemu implements, as `-chardev help` lists them. */
export const SUPPORTED_DRIVERS = ['file', 'memory', 'null', 'pipe', 'ringbuf', 'serial', 'socket', 'stdio', 'tty', 'vc'];
/** Drivers QEMU 7.2 has that tsemu refuses when opened. */
const UNSUPPORTED_DRIVERS = new Set(['udp', 'msmouse', 'wctablet', 'braille', 'testdev', 'parallel', 'qemu-vdagent', 'mux', 'spicevmc', 'spiceport']);

export const CHARDEV_HELP = `Available chardev backend types: \n${SUPPORTED_DRIVERS.map((d) => `  ${d}\n`).join('')}`;

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

/** The largest ringbuf tsemu allocates (QEMU takes anything memory allows). */
export const RINGBUF_MAX = 2 ** 30;

/** Socket options in QEMU's order of checks. */
export function socketBackend(o: Opts): ChardevBackend {
  const path = o.get('path');
  const host = o.get('host');
  const fd = o.get('fd');
  const server = boolOpt(o, 'server', false);
  if ((path !== undefined ? 1 : 0) + (host !== undefined ? 1 : 0) + (fd !== undefined ? 1 : 0) > 1) {
    throw new Error("None or one of 'path', 'fd' or 'host' option required.");
  }
  if (!server && o.has('wait')) throw new Error("'wait' option is incompatible with socket in client connect mode");
  if (server && o.has('reconnect')) throw new Error("'reconnect' option is incompatible with socket in server listen mode");
  if (o.has('delay') && o.has('nodelay')) throw new Error("'delay' and 'nodelay' are mutually exclusive");
  const websocket = boolOpt(o, 'websocket', false);
  if (websocket && !server) throw new Error('Websocket client is not implemented');
  if (o.has('tls-creds')) throw new Error(`No TLS credentials with id '${o.get('tls-creds')}'`);
  if (o.has('tls-authz')) throw new Error("'tls-authz' option requires 'tls-creds' option");
  if (fd !== undefined) return { driver: 'unsupported', name: 'socket', detail: 'fd=' };
  if (boolOpt(o, 'tn3270', false)) return { driver: 'unsupported', name: 'socket', detail: 'tn3270=on' };
  let address: SocketAddress;
  if (path !== undefined) {
    address = { type: 'unix', path, abstract: boolOpt(o, 'abstract', false), tight: boolOpt(o, 'tight', true) };
  } else {
    const port = o.get('port');
    if (port === undefined) {
      if (host !== undefined) throw new Error('chardev: socket: no port given');
      throw new Error('chardev: socket: no host, path or fd given');
    }
    // Unlike QEMU (all interfaces for an empty host), tsemu listens and connects on loopback
    // unless an address is given.
    address = {
      type: 'inet',
      host: host === undefined || host === '' ? '127.0.0.1' : host,
      port,
      ipv4: boolOpt(o, 'ipv4', false),
      ipv6: boolOpt(o, 'ipv6', false),
    };
    if (o.has('to')) address.to = numberOpt(o, 'to', 0);
  }
  return {
    driver: 'socket',
    address,
    server,
    wait: server && boolOpt(o, 'wait', true),
    telnet: boolOpt(o, 'telnet', false),
    websocket,
    reconnect: server ? 0 : numberOpt(o, 'reconnect', 0),
    nodelay: boolOpt(o, 'nodelay', false) || !boolOpt(o, 'delay', true),
  };
}

/** The backend part of validated options. `compat`: named in -serial/-monitor shorthand (QEMU words it differently). */
export function backendOf(id: string, o: Opts, compat: boolean): ChardevBackend {
  const driver = o.get('backend');
  if (driver === undefined) throw new Error(`chardev: "${id}" missing backend`);
  const needPath = (what: string): string => {
    const p = o.get('path');
    if (p === undefined) throw new Error(`chardev: ${driver}: ${what}`);
    return p;
  };
  switch (driver) {
    case 'null':
      return { driver: 'null' };
    case 'vc':
      return { driver: 'vc' };
    case 'stdio':
      return { driver: 'stdio', signal: boolOpt(o, 'signal', true) };
    case 'file':
      return { driver: 'file', path: needPath('no filename given'), append: boolOpt(o, 'append', false) };
    case 'pipe':
      return { driver: 'pipe', path: needPath('no device path given') };
    case 'serial':
    case 'tty':
      return { driver: 'serial', path: needPath('no device path given') };
    case 'ringbuf':
    case 'memory': {
      const v = o.get('size');
      const size = v === undefined ? RINGBUF_DEFAULT_SIZE : parseSize('size', v);
      if (!isPowerOfTwo(size)) throw new Error('size of ringbuf chardev must be power of two');
      if (size > RINGBUF_MAX) throw new Error(`size of ringbuf chardev is too large (tsemu allows up to ${RINGBUF_MAX / 2 ** 30} GiB)`);
      return { driver: 'ringbuf', size, name: driver };
    }
    case 'socket':
      return socketBackend(o);
    case 'pty':
      return { driver: 'pty' };
    default:
      if (UNSUPPORTED_DRIVERS.has(driver)) return { driver: 'unsupported', name: driver };
      throw new Error(compat ? `'${driver}' is not a valid char driver` : `'${driver}' is not a valid char driver name`);
  }
}
