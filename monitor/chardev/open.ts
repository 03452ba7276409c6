// From parsed options (options.ts) to live chardevs: one backend per spec, opened in QEMU's order,
// and the set of them that the monitor's `info chardev` lists.

import { ChardevError, unsupportedDriver, type Chardev, type ChardevCommon } from './chardev.ts';
import { FileChardev } from './file.ts';
import { NullChardev } from './null.ts';
import type { CharConfig, ChardevSpec } from './options.ts';
import { PipeChardev } from './pipe.ts';
import { openPty } from './pty.ts';
import { RingbufChardev } from './ringbuf.ts';
import { SocketChardev } from './socket.ts';
import { StdioChardev, type StdioHost } from './stdio.ts';

export interface OpenEnv {
  /**
   * Messages for the user, one each without the program name: "… info: QEMU waiting for
   * connection on: …" before a server=on,wait=on socket blocks, reconnect failures, write errors.
   */
  notify(text: string): void;
  /** stdin/stdout for the stdio backend (default: the process's own). */
  stdio?: StdioHost;
}

/** The name a spec's backend gets: a mux takes the spec's id and its backend is "ID-base". */
export function backendId(spec: ChardevSpec): string {
  return spec.mux ? `${spec.id}-base` : spec.id;
}

/**
 * Opens the backend of `spec`. Resolves once it is usable; for a server with wait=on that is
 * after the first client connected. Errors are ChardevErrors placed at the spec's option.
 */
export async function openChardev(spec: ChardevSpec, env: OpenEnv): Promise<Chardev> {
  const id = backendId(spec);
  const where = spec.origin ? `${spec.origin}: ` : '';
  const common: ChardevCommon = { logfile: spec.logfile, logappend: spec.logappend, notify: (t) => env.notify(t) };
  const b = spec.backend;
  try {
    switch (b.driver) {
      case 'null':
      case 'vc':
        return new NullChardev(id, b.driver, common);
      case 'stdio':
        return new StdioChardev(id, { ...common, signal: b.signal, host: env.stdio });
      case 'file':
        return new FileChardev(id, b.path, b.append, common);
      case 'pipe':
        return new PipeChardev(id, b.path, 'pipe', common);
      case 'serial':
        return new PipeChardev(id, b.path, 'serial', common);
      case 'ringbuf':
        return new RingbufChardev(id, b.size, b.name, common);
      case 'socket':
        return await SocketChardev.open(id, {
          ...common,
          address: b.address,
          server: b.server,
          wait: b.wait,
          telnet: b.telnet,
          websocket: b.websocket,
          reconnect: b.reconnect,
          nodelay: b.nodelay,
          onWaiting: (info) => env.notify(`${where}info: QEMU waiting for connection on: ${info}`),
        });
      case 'pty':
        return openPty();
      case 'unsupported':
        throw new ChardevError(b.detail ? `${unsupportedDriver(b.name)} (${b.detail})` : unsupportedDriver(b.name));
    }
  } catch (e) {
    if (e instanceof ChardevError) throw new ChardevError(`${where}${e.message}`);
    throw e;
  }
}

/** The live chardevs by name, in creation order (the order `info chardev` prints them in). */
export class ChardevSet {
  private readonly devs = new Map<string, Chardev>();

  /** Adds a chardev (a mux made by its frontend's code goes here too, under the spec's id). */
  add(c: Chardev): void {
    if (this.devs.has(c.id)) throw new ChardevError(`Duplicate ID '${c.id}' for chardev`);
    this.devs.set(c.id, c);
  }

  get(id: string): Chardev | undefined {
    return this.devs.get(id);
  }

  list(): Chardev[] {
    return [...this.devs.values()];
  }

  /** `info chardev`: "ID: filename=TEXT" per chardev. */
  infoLines(): string[] {
    return this.list().map((c) => `${c.id}: filename=${c.info()}`);
  }

  /** Closes every chardev (last opened first); never throws. */
  async closeAll(): Promise<void> {
    const all = this.list().reverse();
    this.devs.clear();
    for (const c of all) {
      try {
        await c.close();
      } catch {
        // Shutting down: one failing close must not keep the others (the terminal) unrestored.
      }
    }
  }
}

/**
 * Opens every chardev of `config` in order. If one fails, those opened so far are closed again
 * and the error (one line, QEMU's words) is thrown.
 */
export async function openChardevs(config: CharConfig, env: OpenEnv): Promise<ChardevSet> {
  const set = new ChardevSet();
  try {
    for (const spec of config.chardevs) set.add(await openChardev(spec, env));
  } catch (e) {
    await set.closeAll();
    throw e;
  }
  return set;
}
