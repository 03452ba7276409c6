// The ringbuf (alias memory) backend: output goes into a fixed-size circular buffer whose oldest
// bytes are overwritten; the monitor's ringbuf_read takes bytes out, ringbuf_write puts bytes in
// (into the same buffer: a ringbuf never sends input to its frontend).

import { ChardevBase, ChardevError, type ChardevCommon } from './chardev.ts';

export const RINGBUF_DEFAULT_SIZE = 65536;

export class RingbufChardev extends ChardevBase {
  private readonly buf: Uint8Array;
  /** Total bytes ever written and read; their difference is the fill level. */
  private produced = 0;
  private consumed = 0;

  constructor(id: string, size = RINGBUF_DEFAULT_SIZE, driver: 'ringbuf' | 'memory' = 'ringbuf', common: ChardevCommon = {}) {
    super(id, driver, common);
    if (!Number.isSafeInteger(size) || size <= 0 || !Number.isInteger(Math.log2(size))) {
      throw new ChardevError('size of ringbuf chardev must be power of two');
    }
    this.buf = new Uint8Array(size);
    this.setOpen(true);
  }

  get size(): number {
    return this.buf.length;
  }

  /** Bytes waiting to be read. */
  get count(): number {
    return this.produced - this.consumed;
  }

  info(): string {
    return this.driver;
  }

  /** ringbuf_write: the same as output from the frontend. */
  writeData(bytes: Uint8Array): void {
    this.output(bytes);
  }

  /** ringbuf_read: up to `max` of the oldest bytes, removed from the buffer. */
  read(max: number): Uint8Array {
    const n = Math.max(0, Math.min(Math.floor(max), this.count));
    const out = new Uint8Array(n);
    const mask = this.buf.length - 1;
    for (let i = 0; i < n; i++) out[i] = this.buf[(this.consumed + i) & mask]!;
    this.consumed += n;
    return out;
  }

  protected output(bytes: Uint8Array): void {
    const size = this.buf.length;
    const mask = size - 1;
    // Only the last `size` bytes of a long write can survive.
    const skip = Math.max(0, bytes.length - size);
    for (let i = skip; i < bytes.length; i++) this.buf[(this.produced + i) & mask] = bytes[i]!;
    this.produced += bytes.length;
    if (this.produced - this.consumed > size) this.consumed = this.produced - size;
    // Keep the counters small; only their difference and their value modulo size matter.
    if (this.consumed >= size * 1024) {
      const base = this.consumed - (this.consumed & mask);
      this.consumed -= base;
      this.produced -= base;
    }
  }

  protected release(): void {}
}
