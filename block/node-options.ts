// Block node options as QEMU users write them: "json:{...}" filenames (nested objects or dotted
// keys, e.g. {"driver":"qcow2","file":{"driver":"file","filename":"a.qcow2"}} or
// {"driver":"qcow2","file.filename":"a.qcow2"}) and option strings (driver=qcow2,file.filename=a,
// with ",," standing for a literal comma). Both become one flat map with dotted keys, from which
// openNodeOptions (open.ts) builds the node tree.
import { BlockError } from './errors.ts';

export type OptionValue = string | number | boolean | null;
/** Dotted keys ("file.filename") to scalar values. */
export type FlatOptions = Map<string, OptionValue>;

export const JSON_PREFIX = 'json:';

/** Flattens nested objects into dotted keys; arrays have no meaning for block nodes. */
function flatten(prefix: string, value: unknown, out: FlatOptions): void {
  if (value !== null && typeof value === 'object') {
    if (Array.isArray(value)) throw new BlockError(`Invalid JSON value for option '${prefix}': arrays are not accepted`);
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) throw new BlockError(`Option '${prefix}' is an empty object`);
    for (const [k, v] of entries) {
      if (k === '' || k.includes('.') && typeof v === 'object' && v !== null) {
        throw new BlockError(`Invalid option name '${k}'`);
      }
      flatten(prefix ? `${prefix}.${k}` : k, v, out);
    }
    return;
  }
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' || value === null) {
    if (out.has(prefix)) throw new BlockError(`Duplicate option '${prefix}'`);
    out.set(prefix, value);
    return;
  }
  throw new BlockError(`Invalid JSON value for option '${prefix}'`);
}

/** The options of a "json:{...}" filename. */
export function parseJsonFilename(filename: string): FlatOptions {
  const text = filename.slice(JSON_PREFIX.length);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // JSON.parse's own wording names the position of the problem.
    throw new BlockError(`Could not parse the JSON options: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BlockError('Invalid JSON object given');
  const out: FlatOptions = new Map();
  flatten('', value, out);
  return out;
}

/**
 * A QEMU option string: comma-separated key=value pairs; ",," is a comma inside a value. When
 * `impliedKey` is given, a first element without "=" is that key's value (-drive's "file").
 * A bare key without "=" elsewhere means "on", as QEMU reads flags.
 */
export function parseOptionString(text: string, impliedKey?: string): FlatOptions {
  const elems: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== ',') cur += c;
    else if (text[i + 1] === ',') {
      cur += ',';
      i++;
    } else {
      elems.push(cur);
      cur = '';
    }
  }
  if (cur !== '' || elems.length > 0) elems.push(cur);
  // A trailing comma leaves an empty last element: nothing to set.
  if (elems.length > 1 && elems[elems.length - 1] === '') elems.pop();
  const out: FlatOptions = new Map();
  elems.forEach((elem, index) => {
    const eq = elem.indexOf('=');
    let key: string;
    let value: string;
    if (eq >= 0) {
      key = elem.slice(0, eq);
      value = elem.slice(eq + 1);
    } else if (index === 0 && impliedKey !== undefined) {
      key = impliedKey;
      value = elem;
    } else {
      key = elem;
      value = 'on';
    }
    if (key === '') throw new BlockError(`Invalid parameter '${elem}'`);
    if (out.has(key)) throw new BlockError(`Parameter '${key}' given more than once`);
    out.set(key, value);
  });
  return out;
}

/** The options under `prefix.` with the prefix removed. */
export function subOptions(opts: FlatOptions, prefix: string): FlatOptions {
  const out: FlatOptions = new Map();
  const p = `${prefix}.`;
  for (const [k, v] of opts) if (k.startsWith(p)) out.set(k.slice(p.length), v);
  return out;
}

/** A boolean option: JSON true/false or QEMU's on/off (also yes/no, true/false). */
export function boolOption(opts: FlatOptions, key: string, fallback: boolean): boolean {
  const v = opts.get(key);
  if (v === undefined) return fallback;
  if (typeof v === 'boolean') return v;
  if (v === 'on' || v === 'yes' || v === 'true') return true;
  if (v === 'off' || v === 'no' || v === 'false') return false;
  throw new BlockError(`Parameter '${key}' expects 'on' or 'off'`);
}

/** A string option; numbers are accepted as their decimal text, null and booleans are not. */
export function stringOption(opts: FlatOptions, key: string): string | undefined {
  const v = opts.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new BlockError(`Invalid parameter type for '${key}', expected: string`);
}
