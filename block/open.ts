// Opening an image by file name: the file protocol node, the format driver on top (given or
// probed) and, unless asked not to, the backing chain (read-only, names resolved like qemu's
// path_combine: relative to the directory part of the image's name).
import type { BlockNode } from './driver.ts';
import { BlockError } from './errors.ts';
import { FileNode } from './file.ts';
import {
  boolOption, JSON_PREFIX, parseJsonFilename, stringOption, subOptions, type FlatOptions,
} from './node-options.ts';
import { probeFormat } from './probe.ts';
import { ProbedRawNode, probedRawWarning } from './probed-raw.ts';
import { Qcow2Node } from './qcow2/qcow2.ts';
import { RawNode } from './raw.ts';

export const MAX_BACKING_DEPTH = 64;

export interface OpenOptions {
  format?: string;
  readOnly?: boolean;
  /** Do not open backing files (qemu-img info does this). */
  noBacking?: boolean;
  /**
   * Where to say that probing guessed raw. When given, such a node also refuses writes that would
   * make block 0 probe as another format (probed-raw.ts), as QEMU's system emulator does.
   */
  warn?: (text: string) => void;
  /** Flushes of the image file do nothing (qemu's cache=unsafe, qemu-img convert's default). */
  noFlush?: boolean;
}

export function combineBackingPath(image: string, backing: string): string {
  if (backing.startsWith('/') || backing.includes(':')) return backing;
  const slash = image.lastIndexOf('/');
  return slash < 0 ? backing : image.slice(0, slash + 1) + backing;
}

/** Options every node accepts that change nothing here (caching and naming are the host's business). */
const IGNORED_KEYS = new Set([
  'node-name', 'cache.direct', 'cache.no-flush', 'discard', 'detect-zeroes', 'auto-read-only', 'force-share',
  'locking', 'aio',
]);
/** Options of the qcow2 driver that tune caches and discards; accepted, sizes chosen by the driver. */
const QCOW2_TUNING_KEYS = new Set([
  'l2-cache-size', 'l2-cache-entry-size', 'refcount-cache-size', 'cache-size', 'cache-clean-interval',
  'lazy-refcounts', 'pass-discard-request', 'pass-discard-snapshot', 'pass-discard-other', 'overlap-check',
]);

const noSuchNode = (ref: string) => `Cannot find device='${ref}' nor node-name='${ref}'`;

function checkKeys(driver: string, o: FlatOptions, own: (key: string) => boolean): void {
  for (const key of o.keys()) {
    if (key === 'driver' || key === 'read-only' || IGNORED_KEYS.has(key) || own(key)) continue;
    const kind = driver === 'file' ? 'protocol' : 'format';
    throw new BlockError(`Block ${kind} '${driver}' does not support the option '${key}'`);
  }
}

/**
 * Opens the node tree a flat option map describes (node-options.ts): the format driver named by
 * "driver" (probed when absent), its "file" child (a filename, or options with "file.filename"),
 * and for qcow2 "backing" (null for none, a filename, or options; default: the header's).
 */
export async function openNodeOptions(o: FlatOptions, opts: OpenOptions = {}, depth = 0): Promise<BlockNode> {
  if (depth > MAX_BACKING_DEPTH) throw new BlockError('Backing chain is too deep (or loops)');
  const driver = stringOption(o, 'driver') ?? opts.format;
  const readOnly = boolOption(o, 'read-only', opts.readOnly ?? false);
  if (driver === 'file') {
    checkKeys('file', o, (k) => k === 'filename');
    const filename = stringOption(o, 'filename');
    if (filename === undefined) throw new BlockError("The 'file' block driver requires a file name");
    return FileNode.open(filename, readOnly);
  }
  if (driver !== undefined && driver !== 'raw' && driver !== 'qcow2') throw new BlockError(`Unknown driver '${driver}'`);
  let fileOpts: FlatOptions;
  const fileValue = o.get('file');
  // A string names an existing node in QEMU; qemu-img and tsemu have none to refer to.
  if (typeof fileValue === 'string') throw new BlockError(noSuchNode(fileValue));
  {
    fileOpts = subOptions(o, 'file');
    if (fileOpts.size === 0) throw new BlockError('A block device must be specified for "file"');
    if (!fileOpts.has('driver')) fileOpts.set('driver', 'file');
  }
  checkKeys(driver ?? 'raw', o, (k) =>
    k === 'file' || k.startsWith('file.') ||
    (driver !== 'raw' && (k === 'backing' || k.startsWith('backing.') || QCOW2_TUNING_KEYS.has(k) || k.startsWith('overlap-check.'))));
  if (opts.noBacking) {
    // Opened without its backing file (qemu-img info): backing options then have no taker.
    const unused = [...o.keys()].find((k) => (k === 'backing' && o.get(k) !== null) || k.startsWith('backing.'));
    if (unused !== undefined) throw new BlockError(`Block format '${driver ?? 'qcow2'}' does not support the option '${unused}'`);
  }
  if (!fileOpts.has('read-only')) fileOpts.set('read-only', readOnly);
  const file = await openNodeOptions(fileOpts, { readOnly }, depth);
  const backing = o.has('backing') && o.get('backing') !== null && typeof o.get('backing') !== 'string'
    ? subOptions(o, 'backing')
    : o.get('backing');
  return openFormat(file, file.filename, { ...opts, format: driver, readOnly }, depth, backing);
}

/** Opens an image by name, or by the options of a "json:{...}" name. */
export async function openImage(filename: string, opts: OpenOptions = {}, depth = 0): Promise<BlockNode> {
  if (filename.startsWith(JSON_PREFIX)) return openNodeOptions(parseJsonFilename(filename), opts, depth);
  if (depth > MAX_BACKING_DEPTH) throw new BlockError('Backing chain is too deep (or loops)');
  const file = await FileNode.open(filename, opts.readOnly ?? false, { noFlush: opts.noFlush });
  return openFormat(file, filename, opts, depth, undefined);
}

/**
 * Puts the format driver on an open protocol node (closing it on failure). `backing` overrides
 * the image's own backing file: null for none, a filename, or the options of a node.
 */
async function openFormat(
  file: BlockNode, filename: string, opts: OpenOptions, depth: number,
  backing: FlatOptions | string | number | boolean | null | undefined,
): Promise<BlockNode> {
  const readOnly = opts.readOnly ?? false;
  try {
    let format = opts.format;
    if (format === undefined) {
      format = await probeFormat(file);
      if (format === 'raw' && opts.warn) {
        opts.warn(probedRawWarning(filename));
        return new ProbedRawNode(file);
      }
    }
    if (format === 'raw') return new RawNode(file);
    if (format === 'file') return file;
    if (format !== 'qcow2') throw new BlockError(`Unknown driver '${format}'`);
    const node = await Qcow2Node.open(file, { readOnly });
    if (backing instanceof Map) {
      if (!opts.noBacking) node.attachBacking(await openNodeOptions(backing, { readOnly: true }, depth + 1));
      return node;
    }
    if (backing === null) return node;
    if (typeof backing === 'number' || typeof backing === 'boolean') throw new BlockError("Invalid value for option 'backing'");
    if (typeof backing === 'string') throw new BlockError(`Could not open backing file: ${noSuchNode(backing)}`);
    const name = node.header.backingFile;
    if (name !== null && !opts.noBacking) {
      const path = combineBackingPath(filename, name);
      try {
        node.attachBacking(await openImage(path, { format: node.header.backingFormat ?? undefined, readOnly: true }, depth + 1));
      } catch (e) {
        throw new BlockError(`Could not open backing file: ${(e as Error).message}`, (e as BlockError).code ?? 'EIO');
      }
    }
    return node;
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}
