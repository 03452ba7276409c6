// The pipe backend (input from PATH.in, output to PATH.out, or both through PATH when those two
// do not exist) and the serial backend (alias tty: a host device node such as /dev/ttyS0, read
// and written through one path). Both are opened read-write as QEMU opens them, so a FIFO never
// reports end of input when an outside writer goes away and never blocks the open.

import { closeSync, constants, openSync } from 'node:fs';
import { ChardevBase, ChardevError, type ChardevCommon } from './chardev.ts';
import { describeErrno } from './errno-text.ts';
import { openFdReader, openFdWriter, type FdReader, type FdWriter } from './fd-stream.ts';

const OPEN_FLAGS = constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY;

function tryOpen(path: string): number | Error {
  try {
    return openSync(path, OPEN_FLAGS);
  } catch (e) {
    return e as Error;
  }
}

function closeQuietly(fd: number | Error): void {
  if (typeof fd !== 'number') return;
  try {
    closeSync(fd);
  } catch {
    // Nothing was done with it.
  }
}

export class PipeChardev extends ChardevBase {
  private reader: FdReader | null = null;
  private writer: FdWriter | null = null;

  /** `driver` "pipe" tries PATH.in/PATH.out first; "serial" uses PATH alone and makes a terminal raw. */
  constructor(id: string, path: string, driver: 'pipe' | 'serial' = 'pipe', common: ChardevCommon = {}) {
    super(id, driver, common);
    let fdIn: number | Error = new Error('unused');
    let fdOut: number | Error = new Error('unused');
    if (driver === 'pipe') {
      fdIn = tryOpen(`${path}.in`);
      fdOut = tryOpen(`${path}.out`);
      if (typeof fdIn !== 'number' || typeof fdOut !== 'number') {
        closeQuietly(fdIn);
        closeQuietly(fdOut);
        fdIn = fdOut = new Error('unused');
      }
    }
    if (typeof fdIn !== 'number') {
      // One path for both directions: two descriptors so reader and writer can be closed apart.
      fdIn = tryOpen(path);
      fdOut = typeof fdIn === 'number' ? tryOpen(path) : fdIn;
      if (typeof fdIn !== 'number' || typeof fdOut !== 'number') {
        closeQuietly(fdIn);
        closeQuietly(fdOut);
        this.discardLog();
        const err = typeof fdIn !== 'number' ? fdIn : fdOut;
        throw new ChardevError(`Could not open '${path}': ${describeErrno(err)}`);
      }
    }
    try {
      this.reader = openFdReader(fdIn);
      this.writer = openFdWriter(fdOut as number);
    } catch (e) {
      this.reader?.close();
      if (!this.reader) closeQuietly(fdIn);
      closeQuietly(fdOut);
      this.discardLog();
      throw new ChardevError(`Could not open '${path}': ${describeErrno(e)}`);
    }
    // A serial device node: bytes as they come, no line editing or echo by the host's tty layer.
    if (driver === 'serial') this.reader.setRawMode?.(true);
    const stream = this.reader.stream;
    stream.on('data', (chunk: Buffer) => this.deliver(chunk));
    stream.on('end', () => this.setOpen(false));
    this.setOpen(true);
  }

  info(): string {
    return this.driver;
  }

  protected override frontendChanged(): void {
    const s = this.reader?.stream;
    if (!s) return;
    if (this.wantsInput) s.resume();
    else s.pause();
  }

  protected output(bytes: Uint8Array): void {
    this.writer?.write(bytes);
  }

  protected release(): void {
    this.reader?.close();
    this.writer?.close();
    this.reader = null;
    this.writer = null;
  }
}
