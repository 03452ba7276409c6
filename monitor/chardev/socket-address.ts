// Listening on and connecting to the addresses of socket chardevs (TCP host:port, Unix paths),
// with QEMU's words when it fails ("Failed to connect to '127.0.0.1:1': Connection refused").

import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { lookup } from 'node:dns/promises';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { ChardevError } from './chardev.ts';
import { describeErrno } from './errno-text.ts';

export interface InetAddress {
  type: 'inet';
  /** A name or a numeric address; the parser fills in 127.0.0.1 when none was given. */
  host: string;
  /** As written: QEMU resolves it like a service name, tsemu wants a number. */
  port: string;
  /** to=: the last port to try when the first is taken (servers). */
  to?: number;
  ipv4: boolean;
  ipv6: boolean;
}

export interface UnixAddress {
  type: 'unix';
  path: string;
  /** Linux abstract namespace (no file). */
  abstract: boolean;
  /** tight=off pads abstract names to the full sun_path length, which Node cannot do. */
  tight: boolean;
}

export type SocketAddress = InetAddress | UnixAddress;

/** Longest sun_path Linux takes, without the terminating NUL. */
const UNIX_PATH_MAX = 107;

function portNumber(a: InetAddress): number {
  const p = /^\d{1,5}$/.test(a.port) ? Number(a.port) : NaN;
  if (!(p <= 65535)) throw new ChardevError(`address resolution failed for ${a.host}:${a.port}: Servname not supported for ai_socktype`);
  return p;
}

/** The numeric address to use for `a` (the first one the resolver returns, as QEMU takes for a client). */
export async function resolveInet(a: InetAddress): Promise<{ address: string; port: number }> {
  const port = portNumber(a);
  const family = a.ipv4 && !a.ipv6 ? 4 : a.ipv6 && !a.ipv4 ? 6 : 0;
  const literal = isIP(a.host);
  if (literal !== 0) {
    if (family !== 0 && family !== literal) {
      throw new ChardevError(`address resolution failed for ${a.host}:${a.port}: Address family for hostname not supported`);
    }
    return { address: a.host, port };
  }
  try {
    const r = await lookup(a.host, { family });
    return { address: r.address, port };
  } catch (e) {
    throw new ChardevError(`address resolution failed for ${a.host}:${a.port}: ${describeErrno(e)}`);
  }
}

/** What Node's listen/connect want for a Unix address. */
function unixPath(a: UnixAddress): string {
  if (Buffer.byteLength(a.path) > UNIX_PATH_MAX) throw new ChardevError(`UNIX socket path '${a.path}' is too long`);
  if (!a.abstract) return a.path;
  if (!a.tight) throw new ChardevError('abstract Unix sockets with tight=off are not supported on this build');
  return `\0${a.path}`;
}

function listenOnce(server: Server, options: { host?: string; port?: number; path?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ ...options, exclusive: true });
  });
}

/**
 * A listening server for `a`. Clients arrive paused (pauseOnConnect) so one that has to wait
 * for an earlier one to leave does not have its bytes read yet.
 */
export async function listenOn(a: SocketAddress, onConnection: (s: Socket) => void): Promise<Server> {
  const make = (): Server => createServer({ pauseOnConnect: true }, onConnection);
  if (a.type === 'unix') {
    const path = unixPath(a);
    if (!a.abstract) removeStaleSocket(a.path);
    const server = make();
    try {
      await listenOnce(server, { path });
    } catch (e) {
      throw new ChardevError(`Failed to bind socket to ${a.path}: ${describeErrno(bindError(e, a.path))}`);
    }
    return server;
  }
  const { address, port } = await resolveInet(a);
  const last = Math.max(port, a.to ?? port);
  let lastError: unknown = null;
  for (let p = port; p <= last && p <= 65535; p++) {
    const server = make();
    try {
      await listenOnce(server, { host: address, port: p });
      return server;
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw new ChardevError(`Failed to find an available port: ${describeErrno(lastError)}`);
}

/** libuv reports a missing directory as EACCES (for Windows' sake); bind(2) and QEMU say ENOENT. */
function bindError(e: unknown, path: string): unknown {
  if ((e as NodeJS.ErrnoException).code !== 'EACCES' || dirExists(dirname(path))) return e;
  return Object.assign(new Error('no such directory'), { code: 'ENOENT' });
}

function dirExists(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * QEMU unlinks whatever is at a Unix server's path before binding. tsemu only removes a leftover
 * socket: a regular file there is more likely a mistake in the command line than litter.
 */
function removeStaleSocket(path: string): void {
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) {
      const e = Object.assign(new Error('exists'), { code: 'EADDRINUSE' });
      throw new ChardevError(`Failed to bind socket to ${path}: ${describeErrno(e)}`);
    }
    unlinkSync(path);
  } catch (e) {
    if (e instanceof ChardevError) throw e;
    // ENOENT: nothing there. Anything else shows up again in bind's own error.
  }
}

/** A connected socket to `a` (an error in QEMU's words when that fails). */
export async function connectTo(a: SocketAddress): Promise<Socket> {
  let options: { host: string; port: number } | { path: string };
  let shown: string;
  if (a.type === 'unix') {
    options = { path: unixPath(a) };
    shown = a.path;
  } else {
    const r = await resolveInet(a);
    options = { host: r.address, port: r.port };
    shown = `${a.host}:${a.port}`;
  }
  return new Promise((resolve, reject) => {
    const s = connect(options);
    const onError = (e: Error): void => {
      s.destroy();
      reject(new ChardevError(`Failed to connect to '${shown}': ${describeErrno(e)}`));
    };
    s.once('error', onError);
    s.once('connect', () => {
      s.off('error', onError);
      s.pause();
      resolve(s);
    });
  });
}

/** "HOST:PORT" as QEMU prints a connected peer: IPv6 addresses in brackets. */
export function hostPort(address: string | undefined, port: number | undefined): string {
  const a = address ?? '';
  return `${a.includes(':') ? `[${a}]` : a}:${port ?? 0}`;
}
