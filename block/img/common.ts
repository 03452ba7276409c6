// Pieces the image-changing commands (resize, commit, rebase, amend, measure) share: qemu's size
// syntax with 64-bit range, its cache-mode and option-list checks, and opening an image for
// writing with qemu-img's warning for probed raw images.
import { realpathSync } from 'node:fs';
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { FileNode } from '../file.ts';
import { openImage } from '../open.ts';
import { probeFormat } from '../probe.ts';
import { probedRawWarning } from '../probed-raw.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';

export const SIZE_HELP =
  'expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.';

export const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
const SHIFT: Record<string, bigint> = { b: 0n, k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };

export type SizeParse = { value: bigint } | { error: 'invalid' | 'range' };

/**
 * A size as qemu reads one: decimal or 0x hex, an optional fraction when a unit follows, one
 * unit letter (b k M G T P E, either case), leading blanks and '+' allowed. Up to 2^64 - 1.
 */
export function parseQemuSize(text: string): SizeParse {
  const m = /^[ \t\n\r\f\v]*\+?(?:0[xX]([0-9a-fA-F]+)|(\d+)(\.\d*)?)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!m) return { error: 'invalid' };
  const unit = (m[4] ?? '').toLowerCase();
  const fraction = m[3];
  // A fraction needs a unit that multiplies (qemu refuses "1.5" and "1.5b").
  if (fraction !== undefined && fraction.length > 1 && (unit === '' || unit === 'b')) return { error: 'invalid' };
  if (fraction !== undefined && fraction.length === 1 && unit === '') return { error: 'invalid' };
  const whole = m[1] !== undefined ? BigInt('0x' + m[1]) : BigInt(m[2]!);
  const shift = SHIFT[unit] ?? 0n;
  let value = whole << shift;
  if (fraction !== undefined && fraction.length > 1) value += BigInt(Math.floor(Number('0' + fraction) * 2 ** Number(shift)));
  if (value > UINT64_MAX) return { error: 'range' };
  return { value };
}

/** Value types of -o options, as qemu checks them. */
export type OptType = 'string' | 'bool' | 'number' | 'size';

const BOOL_VALUES = ['on', 'off', 'yes', 'no', 'true', 'false', 'y', 'n'];

/** Checks one option value against its type; returns qemu's message when it does not fit. */
export function optionTypeError(name: string, type: OptType, v: string): string | null {
  switch (type) {
    case 'bool':
      return BOOL_VALUES.includes(v) ? null : `Parameter '${name}' expects 'on' or 'off'`;
    case 'number':
      return /^\s*(0[xX][0-9a-fA-F]+|\d+)$/.test(v) ? null : `Parameter '${name}' expects a number`;
    case 'size': {
      const p = parseQemuSize(v);
      if (!('error' in p)) return null;
      return p.error === 'range' ? `Value '${v}' is out of range for parameter '${name}'` : `Parameter '${name}' ${SIZE_HELP}`;
    }
    default:
      return null;
  }
}

export function boolValue(v: string): boolean {
  return v === 'on' || v === 'yes' || v === 'true' || v === 'y';
}

const CACHE_MODES = ['none', 'writeback', 'writethrough', 'directsync', 'unsafe', 'off'];

/** qemu-img's -t/-T values. */
export function validCacheMode(mode: string): boolean {
  return CACHE_MODES.includes(mode);
}

/** qemu-img refuses empty -o lists, a leading comma and a trailing unescaped comma. */
export function validOptionList(list: string): boolean {
  if (list === '' || list.startsWith(',')) return false;
  const trailing = list.length - list.replace(/,+$/, '').length;
  return trailing % 2 === 0;
}

/** qemu-img's format list, for names that are only recorded (rebase -u -F). */
export const QEMU_FORMATS = new Set(
  (
    'blkdebug blklogwrites blkverify bochs cloop compress copy-before-write copy-on-read dmg file ftp ftps gluster ' +
    'host_cdrom host_device http https iscsi iser luks nbd nfs null-aio null-co nvme parallels preallocate qcow qcow2 ' +
    'qed quorum raw rbd replication snapshot-access ssh throttle vdi vhdx vmdk vpc vvfat'
  ).split(' '),
);

/** Where a command writes: standard output and standard error (captured by the tests). */
export interface Output {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** The canonical path of an existing file, or null (to tell whether two names are one file). */
export function realPath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

export interface WritableOpen {
  node: BlockNode;
  /** The format in use (given or probed). */
  format: string;
}

/**
 * Opens `name` read-write (backing files read-only, or none with `noBacking`). A probed raw
 * image gets qemu-img's warning on stderr. qcow2 images with persistent bitmaps are refused:
 * writing them here would leave the bitmaps inconsistent and their clusters leaked.
 */
export async function openWritable(
  name: string,
  format: string | undefined,
  err: (s: string) => void,
  opts: { noBacking?: boolean } = {},
): Promise<WritableOpen> {
  let fmt = format;
  if (fmt === undefined) {
    const f = await FileNode.open(name, true);
    try {
      fmt = await probeFormat(f);
    } finally {
      await f.close();
    }
    if (fmt === 'raw') err(probedRawWarning(name));
  }
  if (fmt === 'qcow2') {
    const ro = await openImage(name, { format: fmt, readOnly: true, noBacking: true });
    const bitmaps = ro instanceof Qcow2Node && ro.hasBitmaps;
    await ro.close();
    if (bitmaps) throw new BlockError('Images with persistent bitmaps cannot be changed by tsemu-img yet', 'ENOTSUP');
  }
  const node = await openImage(name, { format: fmt, readOnly: false, noBacking: opts.noBacking });
  return { node, format: fmt };
}
