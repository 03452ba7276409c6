// QEMU's option-list syntax ("key=value,key=value", ",," for a comma) and the value types its
// options have, shared by -chardev, the -serial shorthand and -mon. Failures are plain Errors
// carrying QEMU's message; options.ts says which option they belong to.

export type OptType = 'string' | 'bool' | 'number' | 'size';

export interface OptElem {
  key: string;
  value: string;
  bare: boolean;
}

/**
 * QEMU's option-list syntax: "name=value" elements separated by commas, ",," being a comma inside
 * a value. A name ends at the first '=' or ','; an element with no '=' is a bare flag, except the
 * first, which is the value of `implied` when given ("null,,id=x" is the driver "null,id=x").
 */
export function splitOptions(text: string, implied?: string): OptElem[] {
  const out: OptElem[] = [];
  /** The value starting at `p`: up to a single comma. */
  const readValue = (p: number): [string, number] => {
    let v = '';
    while (p < text.length) {
      const c = text[p]!;
      if (c === ',') {
        if (text[p + 1] !== ',') break;
        v += ',';
        p += 2;
      } else {
        v += c;
        p++;
      }
    }
    return [v, p];
  };
  let pos = 0;
  do {
    let nameEnd = pos;
    while (nameEnd < text.length && text[nameEnd] !== '=' && text[nameEnd] !== ',') nameEnd++;
    if (text[nameEnd] === '=') {
      const [value, next] = readValue(nameEnd + 1);
      out.push({ key: text.slice(pos, nameEnd), value, bare: false });
      pos = next;
    } else if (out.length === 0 && implied !== undefined) {
      const [value, next] = readValue(pos);
      out.push({ key: implied, value, bare: false });
      pos = next;
    } else {
      out.push({ key: text.slice(pos, nameEnd), value: '', bare: true });
      pos = nameEnd;
    }
    // The separator; a comma at the very end leaves no empty element behind.
    if (text[pos] === ',') pos++;
  } while (pos < text.length);
  return out;
}

export function isIdentifier(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(id);
}

export function parseBool(key: string, v: string): boolean {
  if (v === 'on' || v === 'yes' || v === 'true' || v === 'y') return true;
  if (v === 'off' || v === 'no' || v === 'false' || v === 'n') return false;
  throw new Error(`Parameter '${key}' expects 'on' or 'off'`);
}

/** An unsigned number as strtoull(base 0) reads it; QEMU wraps negatives, tsemu treats them as 0. */
export function parseNumber(key: string, v: string): number {
  const m = /^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(v);
  if (!m) throw new Error(`Parameter '${key}' expects a number`);
  const digits = m[2]!;
  const n = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : parseInt(digits, 10);
  return m[1] ? 0 : n;
}

/** A size: a number (fractions allowed) with an optional B/K/M/G/T/P/E suffix, in bytes. */
export function parseSize(key: string, v: string): number {
  const m = /^(0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)([bBkKmMgGtTpPeE]?)$/.exec(v);
  if (!m) throw new Error(`Parameter '${key}' expects a non-negative number below 2^64`);
  const units: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };
  const base = /^0[xX]/.test(m[1]!) ? parseInt(m[1]!.slice(2), 16) : parseFloat(m[1]!);
  const n = Math.floor(base * units[m[2]!.toLowerCase()]!);
  if (!(n < 2 ** 64)) throw new Error(`Parameter '${key}' expects a non-negative number below 2^64`);
  return n;
}

/** Validated options: the last value of each key wins, as in QEMU. */
export type Opts = Map<string, string>;

/**
 * Names and types of `elems` against `params`; bare flags become "on" ("nofoo" "foo=off") with
 * QEMU's deprecation notice when `warn` is given. Throws Error(message) for the caller to place.
 */
export function checkParams(elems: OptElem[], params: Map<string, OptType>, warn: ((msg: string) => void) | null): Opts {
  const out: Opts = new Map();
  for (const e of elems) {
    let { key, value } = e;
    if (e.bare) {
      if (!params.has(key) && key.startsWith('no')) {
        warn?.(`warning: short-form boolean option '${key}' deprecated\nPlease use ${key.slice(2)}=off instead`);
        key = key.slice(2);
        value = 'off';
      } else {
        warn?.(`warning: short-form boolean option '${key}' deprecated\nPlease use ${key}=on instead`);
        value = 'on';
      }
    }
    if (key === 'id') continue;
    const type = params.get(key);
    if (type === undefined) throw new Error(`Invalid parameter '${key}'`);
    if (type === 'bool') parseBool(key, value);
    else if (type === 'number') parseNumber(key, value);
    else if (type === 'size') parseSize(key, value);
    out.set(key, value);
  }
  return out;
}

export function boolOpt(o: Opts, key: string, fallback: boolean): boolean {
  const v = o.get(key);
  return v === undefined ? fallback : parseBool(key, v);
}

export function numberOpt(o: Opts, key: string, fallback: number): number {
  const v = o.get(key);
  return v === undefined ? fallback : parseNumber(key, v);
}
