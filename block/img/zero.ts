// Fast all-zero tests for copy and compare loops: native memcmp against a zeroed buffer.
const ZEROES = new Uint8Array(1 << 20);

/** Index of the first non-zero byte in `buf`, or -1. */
export function firstNonZeroByte(buf: Uint8Array): number {
  for (let pos = 0; pos < buf.length; pos += ZEROES.length) {
    const part = buf.subarray(pos, Math.min(buf.length, pos + ZEROES.length));
    if (Buffer.compare(part, ZEROES.subarray(0, part.length)) === 0) continue;
    for (let i = 0; i < part.length; i++) if (part[i] !== 0) return pos + i;
  }
  return -1;
}

export function isAllZero(buf: Uint8Array): boolean {
  return firstNonZeroByte(buf) < 0;
}

const ZERO_BUFFER = Buffer.from(ZEROES.buffer, ZEROES.byteOffset, ZEROES.byteLength);

/** Whether buf[from, to) is all zeroes, without making views (copy loops call this per block). */
export function isZeroRange(buf: Uint8Array, from: number, to: number): boolean {
  for (let pos = from; pos < to; pos += ZEROES.length) {
    const n = Math.min(ZEROES.length, to - pos);
    if (ZERO_BUFFER.compare(buf, pos, pos + n, 0, n) !== 0) return false;
  }
  return true;
}

/** Index of the first byte where `a` and `b` (same length) differ, or -1. */
export function firstDifferentByte(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
