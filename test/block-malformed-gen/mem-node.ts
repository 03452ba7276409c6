// An in-memory `file` protocol node for the malformed-image generator: the image bytes live in a
// Uint8Array, reads past the end give zeroes and writes extend it, like block/file.ts. Every
// operation is counted and checked against a deadline and an I/O budget, so that a driver loop
// that never ends (all its awaits resolve at once here, starving timers) is stopped with a
// GuardError instead of hanging the run; reads larger than any table the file can hold are
// refused the same way (what the driver asks for must stay bounded by the file).
import type { BlockNode, BlockStatus } from '../../block/driver.ts';
import { BlockError } from '../../block/errors.ts';

/** Not a BlockError on purpose: raised only when the code under test misbehaves. */
/** The constructor as it was before run-case.ts bounded allocations (growing the node is ours). */
const PlainUint8Array = Uint8Array;

export class GuardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuardError';
  }
}

export interface Guard {
  /** Date.now() after which any operation fails. */
  deadline: number;
  /** Operations allowed in total. */
  maxOps: number;
  /** Bytes that may be read in total. */
  maxBytesRead: number;
  /** Largest single request. */
  maxRequest: number;
  /** The node may not grow past this (writes and truncation fail with ENOSPC). */
  maxSize: number;
}

export class MemNode implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  ops = 0;
  bytesRead = 0;
  largestRead = 0;
  private closed = false;
  private data: Uint8Array;
  private size: number;

  constructor(
    readonly filename: string,
    bytes: Uint8Array,
    readonly readOnly: boolean,
    readonly guard: Guard,
  ) {
    this.data = bytes;
    this.size = bytes.length;
  }

  /** The current content (a view). */
  bytes(): Uint8Array {
    return this.data.subarray(0, this.size);
  }

  length(): number {
    return this.size;
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    this.enter('read', offset, buf.length, false);
    this.bytesRead += buf.length;
    if (buf.length > this.largestRead) this.largestRead = buf.length;
    if (this.bytesRead > this.guard.maxBytesRead) throw new GuardError(`read more than ${this.guard.maxBytesRead} bytes in total`);
    const inside = Math.max(0, Math.min(buf.length, this.size - offset));
    if (inside > 0) buf.set(this.data.subarray(offset, offset + inside));
    buf.fill(0, inside);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.enter('write', offset, data.length, true);
    this.ensure(offset + data.length);
    this.data.set(data, offset);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.enter('writeZeroes', offset, length, true);
    this.ensure(offset + length);
    this.data.fill(0, offset, offset + length);
  }

  async discard(): Promise<void> {
    this.enter('discard', 0, 0, false);
  }

  async flush(): Promise<void> {
    this.enter('flush', 0, 0, false);
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.enter('blockStatus', offset, 0, false);
    return { length, allocated: true, data: true, zero: false, depth: 0, offset, file: this };
  }

  async truncate(length: number): Promise<void> {
    this.enter('truncate', 0, 0, true);
    if (!Number.isSafeInteger(length) || length < 0) throw new BlockError(`invalid file size ${length}`);
    if (length > this.guard.maxSize) throw new BlockError('No space left on device', 'ENOSPC');
    if (length > this.data.length) this.ensure(length);
    else if (length < this.size) this.data.fill(0, length, this.size);
    this.size = length;
  }

  async allocatedSize(): Promise<number> {
    return this.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private enter(what: string, offset: number, length: number, write: boolean): void {
    if (this.closed) throw new BlockError(`${this.filename}: ${what} on a closed node`, 'EIO');
    if (++this.ops > this.guard.maxOps) throw new GuardError(`more than ${this.guard.maxOps} I/O operations`);
    if (Date.now() > this.guard.deadline) throw new GuardError('deadline passed');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlockError(`invalid request: offset ${offset}, length ${length}`);
    }
    if (length > this.guard.maxRequest) throw new GuardError(`${what} of ${length} bytes at ${offset} exceeds ${this.guard.maxRequest}`);
    if (write && this.readOnly) throw new BlockError('node is read-only', 'EROFS');
  }

  /** Grows the backing array to hold `end` bytes. */
  private ensure(end: number): void {
    if (end > this.guard.maxSize) throw new BlockError('No space left on device', 'ENOSPC');
    if (end > this.data.length) {
      const grown = new PlainUint8Array(Math.max(end, Math.min(this.guard.maxSize, this.data.length * 2)));
      grown.set(this.data.subarray(0, this.size));
      this.data = grown;
    }
    if (end > this.size) this.size = end;
  }
}
