// `tsemu-img create`: -f raw|qcow2, -o options, -b/-F, -u, -q, size with suffixes.
import { BlockError } from '../errors.ts';
import { FileNode } from '../file.ts';
import { combineBackingPath, openImage } from '../open.ts';
import { probeFormat } from '../probe.ts';
import { COMPRESSION_ZLIB, COMPRESSION_ZSTD } from '../qcow2/compression.ts';
import { createQcow2, QCOW2_DEFAULTS, validateQcow2Options, type Qcow2CreateOptions } from '../qcow2/create.ts';
import type { Preallocation } from '../driver.ts';
import { parseSize } from './size.ts';

export class CreateError extends Error {
  /** qemu-img ends a few messages without a newline; scripts may compare stderr exactly. */
  constructor(message: string, readonly noNewline = false) {
    super(message);
  }
}

const QCOW2_OPTIONS = ['size', 'compat', 'backing_file', 'backing_fmt', 'cluster_size', 'preallocation', 'lazy_refcounts', 'refcount_bits', 'compression_type', 'extended_l2'];
const RAW_OPTIONS = ['size', 'preallocation'];
const SIZE_HELP = "expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.";

export interface CreateRequest {
  format: string;
  filename: string;
  size: string | undefined;
  options: string[];
  backingFile?: string;
  backingFormat?: string;
  unsafe: boolean;
}

/** Splits "-o a=1,b=2" lists; ",," is a literal comma as in qemu's option syntax. */
export function splitOptions(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const text of list) {
    const parts = text.replace(/,,/g, '\0').split(',').map((p) => p.replace(/\0/g, ','));
    for (const p of parts) {
      if (p === '') continue;
      const eq = p.indexOf('=');
      out.push(eq < 0 ? [p, 'on'] : [p.slice(0, eq), p.slice(eq + 1)]);
    }
  }
  return out;
}

function onOff(name: string, v: string): boolean {
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new CreateError(`Parameter '${name}' expects 'on' or 'off'`);
}

/** Creates the image; returns the "Formatting ..." line (without newline). */
export async function createImage(req: CreateRequest, print: (line: string) => void): Promise<void> {
  const fmt = req.format;
  if (fmt !== 'raw' && fmt !== 'qcow2') throw new CreateError(`Unknown file format '${fmt}'`);
  const allowed = fmt === 'qcow2' ? QCOW2_OPTIONS : RAW_OPTIONS;
  const given = new Map<string, string>();
  for (const [k, v] of splitOptions(req.options)) {
    if (!allowed.includes(k)) throw new CreateError(`Invalid parameter '${k}'`);
    given.set(k, v);
  }
  if (req.backingFile !== undefined) given.set('backing_file', req.backingFile);
  if (req.backingFormat !== undefined) given.set('backing_fmt', req.backingFormat);
  if (req.size !== undefined) given.set('size', req.size);

  const sizeOpt = (name: string): number | undefined => {
    const v = given.get(name);
    if (v === undefined) return undefined;
    const n = parseSize(v);
    if (n === null) throw new CreateError(`Parameter '${name}' ${SIZE_HELP}`);
    return n;
  };
  const clusterSize = sizeOpt('cluster_size') ?? QCOW2_DEFAULTS.clusterSize;
  let refcountBits = QCOW2_DEFAULTS.refcountBits;
  if (given.has('refcount_bits')) {
    const v = given.get('refcount_bits')!;
    if (!/^\d+$/.test(v)) throw new CreateError(`Parameter 'refcount_bits' expects a non-negative number`);
    refcountBits = Number(v);
  }
  const lazy = given.has('lazy_refcounts') ? onOff('lazy_refcounts', given.get('lazy_refcounts')!) : false;
  const extl2 = given.has('extended_l2') ? onOff('extended_l2', given.get('extended_l2')!) : false;
  // compat, preallocation and compression_type are checked after "Formatting" is printed, as qemu
  // checks them when the driver takes its options.
  const compression = given.get('compression_type') ?? 'zlib';
  const compat = given.get('compat');
  let version: 2 | 3 = 3;
  if (compat === '0.10' || compat === 'v2') version = 2;
  const prealloc = given.get('preallocation');

  let size = sizeOpt('size');
  const backing = given.get('backing_file');
  const backingFmt = given.get('backing_fmt');
  if (backing !== undefined) {
    if (fmt === 'raw') throw new CreateError(`Invalid parameter 'backing_file'`);
    if (backingFmt === undefined) {
      let detected: string;
      try {
        const f = await FileNode.open(combineBackingPath(req.filename, backing), true);
        detected = await probeFormat(f);
        await f.close();
      } catch (e) {
        throw new CreateError(`${(e as Error).message}\nCould not open backing image.`);
      }
      throw new CreateError(`Backing file specified without backing format\nDetected format of ${detected}.`, true);
    }
    if (!req.unsafe || size === undefined) {
      const path = combineBackingPath(req.filename, backing);
      try {
        const node = await openImage(path, { format: backingFmt, readOnly: true });
        size ??= node.length();
        await node.close();
      } catch (e) {
        throw new CreateError(`${(e as Error).message}\nCould not open backing image.`);
      }
    }
  }
  if (size === undefined) throw new CreateError('Image creation needs a size parameter');

  // "Formatting" lists the options qemu-img lists, in its order; defaults included.
  const parts: string[] = [`fmt=${fmt}`];
  if (fmt === 'qcow2') {
    parts.push(`cluster_size=${clusterSize}`, `extended_l2=${given.get('extended_l2') ?? 'off'}`);
    if (prealloc !== undefined) parts.push(`preallocation=${prealloc}`);
    parts.push(`compression_type=${compression}`, `size=${size}`);
    if (compat !== undefined) parts.push(`compat=${compat}`);
    if (backing !== undefined) parts.push(`backing_file=${backing}`);
    if (backingFmt !== undefined) parts.push(`backing_fmt=${backingFmt}`);
    parts.push(`lazy_refcounts=${given.get('lazy_refcounts') ?? 'off'}`, `refcount_bits=${refcountBits}`);
  } else {
    parts.push(`size=${size}`);
    if (prealloc !== undefined) parts.push(`preallocation=${prealloc}`);
  }
  print(`Formatting '${req.filename}', ${parts.join(' ')}`);
  const preallocOk = prealloc === undefined || ['off', 'metadata', 'falloc', 'full'].includes(prealloc);
  if (fmt === 'qcow2') {
    // In the order of qemu's option structure: version, preallocation, compression-type.
    if (compat !== undefined && !['0.10', 'v2', '1.1', 'v3'].includes(compat)) {
      throw new BlockError(`Parameter 'version' does not accept value '${compat}'`);
    }
    if (!preallocOk) throw new BlockError(`Parameter 'preallocation' does not accept value '${prealloc}'`);
    if (compression !== 'zlib' && compression !== 'zstd') {
      throw new BlockError(`Parameter 'compression-type' does not accept value '${compression}'`);
    }
  }

  if (fmt === 'raw') {
    // The file protocol's wording.
    if (!preallocOk) throw new BlockError(`invalid parameter value: ${prealloc}`);
    if (prealloc === 'metadata') throw new BlockError('Unsupported preallocation mode: metadata');
    const f = await FileNode.create(req.filename, size, (prealloc ?? 'off') as Preallocation);
    await f.flush();
    await f.close();
    return;
  }
  const o: Qcow2CreateOptions = {
    size,
    version,
    clusterSize,
    refcountBits,
    lazyRefcounts: lazy,
    extendedL2: extl2,
    compressionType: compression === 'zstd' ? COMPRESSION_ZSTD : COMPRESSION_ZLIB,
    backingFile: backing ?? null,
    backingFormat: backingFmt ?? null,
  };
  validateQcow2Options(o);
  if (prealloc !== undefined && prealloc !== 'off') {
    throw new BlockError(`qcow2 preallocation=${prealloc} is not supported yet`, 'ENOTSUP');
  }
  await createQcow2(req.filename, o);
}
