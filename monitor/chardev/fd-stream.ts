// Reading and writing a file descriptor that may be a FIFO, a terminal, a socket or a plain file,
// without blocking the event loop on the first three: FIFOs and sockets go through net.Socket
// (libuv polls them), terminals through tty streams, everything else through the fs module.

import { closeSync, createReadStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { isatty, ReadStream as TtyReadStream, WriteStream as TtyWriteStream } from 'node:tty';
import { writeAll } from './chardev.ts';

/** Output queued in user space beyond this is dropped: a reader that stopped must not eat our memory. */
export const OUTPUT_QUEUE_LIMIT = 4 * 1024 * 1024;

export class OutputDropped extends Error {
  override readonly name = 'OutputDropped';
}

export interface FdReader {
  readonly stream: Readable;
  /** Terminal only: raw mode for a serial device node. */
  setRawMode?(raw: boolean): void;
  close(): void;
}

export interface FdWriter {
  /** Throws OutputDropped when the reader fell too far behind, or the system error of a plain write. */
  write(bytes: Uint8Array): void;
  close(): void;
}

function kind(fd: number): 'poll' | 'tty' | 'file' {
  if (isatty(fd)) return 'tty';
  const st = fstatSync(fd);
  return st.isFIFO() || st.isSocket() ? 'poll' : 'file';
}

/** A readable stream over `fd`, which it owns (closed by close()). Starts paused. */
export function openFdReader(fd: number): FdReader {
  const k = kind(fd);
  if (k === 'tty') {
    const s = new TtyReadStream(fd);
    s.pause();
    s.on('error', () => {});
    return { stream: s, setRawMode: (raw) => s.setRawMode(raw), close: () => s.destroy() };
  }
  if (k === 'poll') {
    const s = new Socket({ fd, readable: true, writable: false });
    s.pause();
    s.on('error', () => {});
    return { stream: s, close: () => s.destroy() };
  }
  // destroy() closes the descriptor itself, after any read in flight on the thread pool: closing
  // it here as well could close a descriptor that has been reused meanwhile.
  const s = createReadStream('', { fd, autoClose: false, highWaterMark: 64 * 1024 });
  s.pause();
  s.on('error', () => {});
  return { stream: s, close: () => s.destroy() };
}

/** A writer for `fd`, which it owns. */
export function openFdWriter(fd: number): FdWriter {
  const k = kind(fd);
  if (k === 'file') {
    let open = true;
    return {
      write: (bytes) => {
        if (open) writeAll(fd, bytes);
      },
      close: () => {
        if (!open) return;
        open = false;
        try {
          closeSync(fd);
        } catch {
          // Already closed.
        }
      },
    };
  }
  const s = k === 'tty' ? new TtyWriteStream(fd) : new Socket({ fd, readable: false, writable: true });
  let failed: Error | null = null;
  s.on('error', (e: Error) => {
    failed = e;
  });
  return {
    write: (bytes) => {
      if (failed) throw failed;
      if (s.writableLength > OUTPUT_QUEUE_LIMIT) throw new OutputDropped('the reader is not keeping up');
      // A copy: the caller may reuse its buffer before libuv has written it out.
      s.write(Buffer.from(bytes));
    },
    close: () => s.destroy(),
  };
}
