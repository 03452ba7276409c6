// Sizes on the command line (qemu's k/M/G/T/P/E suffixes, powers of 1024, 'b' ignored) and sizes
// for humans (qemu's size_to_str: three significant digits and a binary unit).
const SUFFIXES = 'BKMGTPE';

/** Parses "64M", "1.5G", "512"; returns null when the text is not a size. */
export function parseSize(text: string, defaultSuffix = 'B'): number | null {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)([bkKmMgGtTpPeE]?)$/.exec(text);
  if (!m) return null;
  const suffix = (m[2] || defaultSuffix).toUpperCase();
  const value = Number(m[1]) * 1024 ** SUFFIXES.indexOf(suffix === 'B' ? 'B' : suffix);
  if (!Number.isFinite(value) || value >= 2 ** 63) return null;
  const whole = Math.floor(value);
  if (!Number.isSafeInteger(whole)) return null;
  return whole;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** The unit switches up once the number would reach 1000, so at most three digits show. */
export function humanSize(bytes: number): string {
  let unit = 0;
  if (bytes > 0) unit = Math.min(6, Math.floor(Math.floor(Math.log2(bytes * 1.024)) / 10));
  return `${formatG3(bytes / 1024 ** unit)} ${UNITS[unit]}`;
}

/** C printf's "%0.3g". */
function formatG3(v: number): string {
  if (v === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(v.toPrecision(3)))));
  if (exp < -4 || exp >= 3) {
    const [mant, e] = v.toExponential(2).split('e');
    const n = Number(e);
    return `${stripZeros(mant!)}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return stripZeros(toFixedHalfEven(v, Math.max(0, 2 - exp)));
}

/**
 * toFixed, but an exact tie rounds to the even digit as glibc's printf does (192.5 -> "192");
 * JavaScript's toFixed rounds ties away from zero.
 */
function toFixedHalfEven(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  if (Number.isInteger(scaled * 2) && !Number.isInteger(scaled)) {
    const down = Math.floor(scaled);
    const even = down % 2 === 0 ? down : down + 1;
    return (even / 10 ** digits).toFixed(digits);
  }
  return v.toFixed(digits);
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}
