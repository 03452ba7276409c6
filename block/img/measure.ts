// `tsemu-img measure [--output=ofmt] [-O fmt] [-o options] (--size N | [-f fmt] filename)`: the
// file size a new image would need ("required size": metadata of a full image plus the clusters
// the source holds data in; "fully allocated size"), and for qcow2 version 3 targets measured
// from an image the space its persistent bitmaps would take. qemu-img 7.2's numbers, messages,
// human and JSON output.
import type { BlockNode } from '../driver.ts';
import { openImage } from '../open.ts';
import { bitmapsBytes, fullyAllocatedBytes, l1Bytes } from '../qcow2/measure.ts';
import { MAX_L1_BYTES } from '../qcow2/header.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { boolValue, optionTypeError, parseQemuSize, QEMU_FORMATS, type OptType } from './common.ts';
import { splitOptions } from './create.ts';
import { prettyJson, type Json } from './json.ts';
import type { Output } from './common.ts';

export interface MeasureRequest {
  /** --size, as given. */
  size?: string;
  filename?: string;
  format?: string;
  targetFormat: string;
  /** -o lists, already checked by validOptionList. */
  options: string[];
  json: boolean;
}

/** Creation options qemu accepts here: the format's and the file protocol's. */
const FILE_OPTIONS: Record<string, OptType> = { size: 'size', preallocation: 'string', nocow: 'bool', extent_size_hint: 'size' };
const QCOW2_OPTIONS: Record<string, OptType> = {
  ...FILE_OPTIONS,
  compat: 'string',
  backing_file: 'string',
  backing_fmt: 'string',
  data_file: 'string',
  data_file_raw: 'bool',
  encryption: 'bool',
  'encrypt.format': 'string',
  'encrypt.key-secret': 'string',
  'encrypt.cipher-alg': 'string',
  'encrypt.cipher-mode': 'string',
  'encrypt.ivgen-alg': 'string',
  'encrypt.ivgen-hash-alg': 'string',
  'encrypt.hash-alg': 'string',
  'encrypt.iter-time': 'number',
  cluster_size: 'size',
  extended_l2: 'bool',
  lazy_refcounts: 'bool',
  refcount_bits: 'number',
  compression_type: 'string',
};

class MeasureError extends Error {}

function ceilTo(a: bigint, b: bigint): bigint {
  return ((a + b - 1n) / b) * b;
}

/** Bytes the source holds data in, counted in whole target clusters (zero runs skipped). */
async function dataBytes(src: BlockNode, cs: bigint): Promise<bigint> {
  const size = src.length();
  const c = Number(cs);
  let total = 0n;
  for (let pos = 0; pos < size; ) {
    const s = await src.blockStatus(pos, size - pos);
    if (!s.zero && s.data && s.allocated) {
      // Every cluster the run touches; the next look starts after the last one.
      const end = Math.ceil((pos + s.length) / c) * c;
      total += BigInt(end - Math.floor(pos / c) * c);
      pos = Math.min(end, size);
    } else {
      pos += s.length;
    }
  }
  return total;
}

interface Measured {
  required: bigint;
  fully: bigint;
  bitmaps?: bigint;
}

async function measureQcow2(opts: Map<string, string>, size: bigint, src: BlockNode | null): Promise<Measured> {
  const extendedL2 = opts.has('extended_l2') ? boolValue(opts.get('extended_l2')!) : false;
  let cs = 65536n;
  if (opts.has('cluster_size')) {
    const p = parseQemuSize(opts.get('cluster_size')!);
    cs = 'error' in p ? 0n : p.value;
  }
  if (cs < 512n || cs > 2n << 20n || (cs & (cs - 1n)) !== 0n) throw new MeasureError('Cluster size must be a power of two between 512 and 2048k');
  if (extendedL2 && cs < 16384n) throw new MeasureError('Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  let version = 3;
  const compat = opts.get('compat');
  if (compat !== undefined) {
    if (compat === '0.10') version = 2;
    else if (compat !== '1.1') throw new MeasureError(`Invalid compatibility level: '${compat}'`);
  }
  let refcountBits = 16;
  if (opts.has('refcount_bits')) {
    refcountBits = Number(opts.get('refcount_bits'));
    if (!(refcountBits >= 1 && refcountBits <= 64 && (refcountBits & (refcountBits - 1)) === 0)) {
      throw new MeasureError('Refcount width must be a power of two and may not exceed 64 bits');
    }
    if (version < 3 && refcountBits !== 16) {
      throw new MeasureError('Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)');
    }
  }
  const prealloc = opts.get('preallocation') ?? 'off';
  if (!['off', 'metadata', 'falloc', 'full'].includes(prealloc)) throw new MeasureError(`invalid parameter value: ${prealloc}`);
  if (opts.get('encrypt.format') === 'luks') throw new MeasureError('Measuring encrypted images is not supported yet');

  let virtual = ceilTo(size, cs);
  if (src) virtual = ceilTo(BigInt(src.length()), cs);
  if (l1Bytes(virtual, cs, extendedL2) > BigInt(MAX_L1_BYTES)) throw new MeasureError('The image size is too large (try using a larger cluster size)');
  let required = 0n;
  if (src) {
    // With a backing file nothing is known to be shared with it: count everything.
    required = opts.has('backing_file') ? virtual : await dataBytes(src, cs);
  }
  if (prealloc === 'full' || prealloc === 'falloc') required = virtual;
  const order = Math.log2(refcountBits);
  const fully = fullyAllocatedBytes(virtual, cs, order, extendedL2);
  const m: Measured = { required: fully - virtual + required, fully };
  // Bitmaps count when both the target (version 3) and the source (qcow2 version 3) can hold them.
  if (version >= 3 && src instanceof Qcow2Node && src.version >= 3) {
    m.bitmaps = await bitmapsBytes(src.file, src.header, BigInt(src.length()), cs);
  }
  return m;
}

export async function runMeasure(req: MeasureRequest, io: Output, prog: string): Promise<number> {
  const fail = (msg: string): number => {
    io.err(`${prog}: ${msg}\n`);
    return 1;
  };
  let size: bigint | null = null;
  if (req.size !== undefined) {
    const p = parseQemuSize(req.size);
    if ('error' in p && p.error === 'invalid') {
      return fail('Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n' + `${prog}: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.`);
    }
    if ('error' in p || p.value > (1n << 63n) - 1n) return fail('Invalid image size specified. Must be between 0 and 9223372036854775807.');
    size = p.value;
  }
  if (req.filename === undefined && req.format !== undefined) return fail('--image-opts, -f, and -l require a filename argument.');
  if (req.filename !== undefined && size !== null) return fail('--size N cannot be used together with a filename.');
  if (req.filename === undefined && size === null) return fail('Either --size N or one filename must be specified.');

  let src: BlockNode | null = null;
  if (req.filename !== undefined) {
    try {
      src = await openImage(req.filename, { format: req.format, readOnly: true });
    } catch (e) {
      return fail(`Could not open '${req.filename}': ${(e as Error).message}`);
    }
  }
  try {
    const fmt = req.targetFormat;
    if (!QEMU_FORMATS.has(fmt)) return fail(`Unknown file format '${fmt}'`);
    const allowed: Record<string, OptType> | null = fmt === 'qcow2' ? QCOW2_OPTIONS : fmt === 'raw' ? FILE_OPTIONS : null;
    const opts = new Map<string, string>();
    if (allowed) {
      for (const [k, v] of splitOptions(req.options)) {
        const type = allowed[k];
        const problem = type === undefined ? `Invalid parameter '${k}'` : optionTypeError(k, type, v);
        if (problem !== null) return fail(`${problem}\n${prog}: Invalid options for file format '${fmt}'`);
        opts.set(k, v);
      }
    }
    if (fmt !== 'qcow2' && fmt !== 'raw') return fail(`Block driver '${fmt}' does not support size measurement`);
    // --size wins over -o size; a source's own size over both.
    if (size === null && opts.has('size')) size = (parseQemuSize(opts.get('size')!) as { value: bigint }).value;
    size ??= 0n;
    let m: Measured;
    if (fmt === 'raw') {
      const bytes = src ? BigInt(src.length()) : ceilTo(size, 512n);
      m = { required: bytes, fully: bytes };
    } else {
      try {
        m = await measureQcow2(opts, size, src);
      } catch (e) {
        if (e instanceof MeasureError) return fail(e.message);
        throw e;
      }
    }
    if (req.json) {
      const o: { [k: string]: Json } = {};
      if (m.bitmaps !== undefined) o['bitmaps'] = Number(m.bitmaps);
      o['required'] = Number(m.required);
      o['fully-allocated'] = Number(m.fully);
      // Numbers past 2^53 are printed exactly, not as the nearest double.
      let text = prettyJson(o);
      for (const [k, v] of [['required', m.required], ['fully-allocated', m.fully]] as const) {
        text = text.replace(new RegExp(`("${k}": )[0-9e+.]+`), `$1${v}`);
      }
      io.out(text + '\n');
    } else {
      let text = `required size: ${m.required}\nfully allocated size: ${m.fully}\n`;
      if (m.bitmaps !== undefined) text += `bitmaps size: ${m.bitmaps}\n`;
      io.out(text);
    }
    return 0;
  } catch (e) {
    return fail((e as Error).message);
  } finally {
    if (src) await src.close().catch(() => {});
  }
}
