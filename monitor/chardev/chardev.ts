// The contract between a character device backend (stdio, a file, a socket...) and the one
// frontend that uses it (a serial port, a monitor, a mux). Backends never throw from write():
// output with nobody to receive it is dropped, as QEMU drops it.

import { closeSync, openSync, writeSync } from 'node:fs';
import { describeErrno } from './errno-text.ts';

/**
 * - `opened`: there is a peer now (a socket client connected; a file is open from the start).
 *   Monitors print their greeting on it.
 * - `closed`: the peer went away (socket disconnect, end of input on stdin or a pipe).
 * - `break`: a serial line break (telnet IAC BREAK).
 */
export type ChardevEvent = 'opened' | 'closed' | 'break';

export interface ChardevFrontend {
  /** Bytes from the backend for the frontend. */
  receive(bytes: Uint8Array): void;
  event?(event: ChardevEvent): void;
}

export interface Chardev {
  /** The name `info chardev` shows (for the backend of a mux: "ID-base"). */
  readonly id: string;
  /** QEMU's driver name: "socket", "file", "ringbuf"... */
  readonly driver: string;
  /** True while output reaches someone (files always; sockets only while a peer is connected). */
  readonly isOpen: boolean;
  /** Output from the frontend. Never throws; dropped while no peer is connected. */
  write(bytes: Uint8Array): void;
  /**
   * Connects the frontend; a second one is refused with QEMU's "Device 'ID' is in use". If the
   * backend is open already the frontend gets `opened` at once (from inside this call).
   */
  attach(frontend: ChardevFrontend): void;
  detach(): void;
  /** Backpressure: while paused the backend stops reading (the peer's data waits in the kernel). */
  setInputPaused(paused: boolean): void;
  /** The text after "filename=" in `info chardev`. */
  info(): string;
  /** Releases files, sockets and the terminal. Safe to call twice. */
  close(): Promise<void>;
}

/** A problem the user must fix; the message is one line in QEMU's words, without a location. */
export class ChardevError extends Error {
  override readonly name = 'ChardevError';
}

/** The error for a backend QEMU has and tsemu does not. */
export function unsupportedDriver(driver: string): string {
  return `char device '${driver}' is not supported on this build`;
}

/** Things a backend may need to say while running (reconnect failures, write errors). */
export type Notify = (text: string) => void;

export interface ChardevCommon {
  /** logfile=: a copy of all output. */
  logfile?: string | null;
  /** logappend=on: append to the log file instead of truncating it. */
  logappend?: boolean;
  notify?: Notify;
}

/** The frontend bookkeeping, the log file and the "report a failure once" rule every backend shares. */
export abstract class ChardevBase implements Chardev {
  private frontend: ChardevFrontend | null = null;
  private opened = false;
  private closed = false;
  private logFd: number | null = null;
  private readonly reported = new Set<string>();
  protected inputPaused = false;
  protected readonly notify: Notify;

  constructor(
    readonly id: string,
    readonly driver: string,
    common: ChardevCommon = {},
  ) {
    this.notify = common.notify ?? (() => {});
    if (common.logfile) {
      try {
        this.logFd = openSync(common.logfile, common.logappend ? 'a' : 'w');
      } catch (e) {
        throw new ChardevError(`Could not create '${common.logfile}': ${describeErrno(e)}`);
      }
    }
  }

  abstract info(): string;

  /** Sends output to the backend's peer; may throw (the caller reports it once). */
  protected abstract output(bytes: Uint8Array): void;

  /** Releases what the subclass holds. */
  protected abstract release(): Promise<void> | void;

  get isOpen(): boolean {
    return this.opened;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get hasFrontend(): boolean {
    return this.frontend !== null;
  }

  write(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    if (this.logFd !== null) {
      try {
        writeAll(this.logFd, bytes);
      } catch (e) {
        this.reportOnce('log', `chardev '${this.id}': could not write the log file: ${describeErrno(e)}`);
      }
    }
    try {
      this.output(bytes);
    } catch (e) {
      this.reportOnce('write', `chardev '${this.id}': output dropped: ${describeErrno(e)}`);
    }
  }

  attach(frontend: ChardevFrontend): void {
    if (this.frontend !== null && this.frontend !== frontend) throw new ChardevError(`Device '${this.id}' is in use`);
    this.frontend = frontend;
    this.inputPaused = false;
    this.frontendChanged();
    if (this.opened) this.safeEvent(frontend, 'opened');
  }

  detach(): void {
    this.frontend = null;
    this.frontendChanged();
  }

  setInputPaused(paused: boolean): void {
    if (this.inputPaused === paused) return;
    this.inputPaused = paused;
    this.frontendChanged();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.frontend = null;
    this.opened = false;
    if (this.logFd !== null) {
      try {
        closeSync(this.logFd);
      } catch {
        // Nothing useful to do about a failing close of a log file.
      }
      this.logFd = null;
    }
    await this.release();
  }

  /** Closes the log file of a backend whose own open failed (the constructor is about to throw). */
  protected discardLog(): void {
    if (this.logFd === null) return;
    try {
      closeSync(this.logFd);
    } catch {
      // Nothing was written to it yet.
    }
    this.logFd = null;
  }

  /** True when input should flow: a frontend is attached and did not ask for a pause. */
  protected get wantsInput(): boolean {
    return this.frontend !== null && !this.inputPaused && !this.closed;
  }

  /** Called when the frontend or the pause state changes: start or stop reading. */
  protected frontendChanged(): void {}

  /** Bytes from the peer for the frontend (dropped without one, which only happens after detach). */
  protected deliver(bytes: Uint8Array): void {
    const fe = this.frontend;
    if (!fe || bytes.length === 0) return;
    try {
      fe.receive(bytes);
    } catch (e) {
      // A frontend bug must not take the backend (and its socket or terminal) down with it.
      this.reportOnce('frontend', `chardev '${this.id}': the frontend failed on input: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  protected setOpen(open: boolean): void {
    if (this.opened === open || this.closed) return;
    this.opened = open;
    const fe = this.frontend;
    if (fe) this.safeEvent(fe, open ? 'opened' : 'closed');
  }

  protected emitEvent(event: ChardevEvent): void {
    const fe = this.frontend;
    if (fe) this.safeEvent(fe, event);
  }

  /** Says `text` the first time `key` goes wrong, and never again until clearReported(key). */
  protected reportOnce(key: string, text: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.notify(text);
  }

  protected clearReported(key: string): void {
    this.reported.delete(key);
  }

  private safeEvent(fe: ChardevFrontend, event: ChardevEvent): void {
    try {
      fe.event?.(event);
    } catch (e) {
      this.reportOnce('frontend-event', `chardev '${this.id}': the frontend failed on '${event}': ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** writeSync until every byte is out (regular files may take a partial write). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
