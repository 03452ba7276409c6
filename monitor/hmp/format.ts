// Small printf equivalents for the monitor's output, which copies C's formatting rules exactly.

const U64 = (1n << 64n) - 1n;

/** Unsigned 64-bit view of a value. */
export function u64(v: bigint): bigint {
  return v & U64;
}

/** "%0<width>x" of an unsigned value (numbers are taken as unsigned 32-bit). */
export function hex(v: bigint | number, width: number): string {
  const n = typeof v === 'bigint' ? u64(v) : BigInt(v >>> 0);
  return n.toString(16).padStart(width, '0');
}

/** C's "%#x": "0x" prefix except for zero, which prints as "0". */
export function altHex(v: bigint): string {
  const n = u64(v);
  return n === 0n ? '0' : '0x' + n.toString(16);
}

/** C's "%#o": a leading 0 except for zero itself. */
export function altOctal(v: bigint): string {
  const n = u64(v);
  return n === 0n ? '0' : '0' + n.toString(8);
}

/** "%d" of a signed 64-bit value. */
export function signed64(v: bigint): string {
  return BigInt.asIntN(64, v).toString();
}

/**
 * A character in quotes the way the monitor shows `print/c` and `x/c` values: printable ASCII as is,
 * a few escapes, the rest as \x plus the hex of the C int (so -1 shows as \xffffffff).
 */
export function quoteChar(c: number): string {
  const v = c | 0;
  let body: string;
  if (v === 0x27) body = "\\'";
  else if (v === 0x5c) body = '\\\\';
  else if (v === 0x0a) body = '\\n';
  else if (v === 0x0d) body = '\\r';
  else if (v >= 32 && v <= 126) body = String.fromCharCode(v);
  else body = '\\x' + (v >>> 0).toString(16).padStart(2, '0');
  return `'${body}'`;
}

/** glibc's strerror() text for the errno codes file creation can produce. */
export function strerror(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EPERM':
      return 'Operation not permitted';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'EROFS':
      return 'Read-only file system';
    case 'ENOSPC':
      return 'No space left on device';
    case 'ENAMETOOLONG':
      return 'File name too long';
    case 'ELOOP':
      return 'Too many levels of symbolic links';
    case 'EEXIST':
      return 'File exists';
    case 'EMFILE':
      return 'Too many open files';
    case 'ENFILE':
      return 'Too many open files in system';
    case 'ETXTBSY':
      return 'Text file busy';
    case 'EFBIG':
      return 'File too large';
    case 'EDQUOT':
      return 'Disk quota exceeded';
    case 'EINVAL':
      return 'Invalid argument';
    case 'EIO':
      return 'Input/output error';
    case 'ENXIO':
      return 'No such device or address';
    case 'EBUSY':
      return 'Device or resource busy';
    default:
      return code ? `Unknown error (${code})` : 'Unknown error';
  }
}

/** C's isspace() in the "C" locale. */
export function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\v' || ch === '\f' || ch === '\r';
}

export function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}
