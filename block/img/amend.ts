// `tsemu-img amend [-f fmt] [-p] [-q] [-t cache] [--force] -o options filename`: changes options
// of an existing qcow2 image (compat, lazy_refcounts, refcount_bits, size; backing_file and
// backing_fmt only to their current values, as qemu-img). Options are checked like qemu-img
// checks them: first against the amend options, and a failure names creation-only options.
import type { BlockNode } from '../driver.ts';
import { amendQcow2, type AmendOptions } from '../qcow2/amend.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { boolValue, openWritable, optionTypeError, parseQemuSize, type OptType } from './common.ts';
import { splitOptions } from './create.ts';
import type { Output } from './common.ts';

export interface AmendRequest {
  filename?: string;
  format?: string;
  /** -o lists, already checked by validOptionList. */
  options: string[];
}

/** qcow2's amend options, in the order `-o help` lists them, with their help text. */
const AMEND: [string, OptType, string][] = [
  ['backing_file', 'string', 'File name of a base image'],
  ['backing_fmt', 'string', 'Image format of the base image'],
  ['compat', 'string', 'Compatibility level (v2 [0.10] or v3 [1.1])'],
  ['data_file', 'string', 'File name of an external data file'],
  ['data_file_raw', 'bool', 'The external data file must stay valid as a raw image'],
  ['encrypt.iter-time', 'number', 'Time to spend in PBKDF in milliseconds'],
  ['encrypt.keyslot', 'number', 'Select a single keyslot to modify explicitly'],
  ['encrypt.new-secret', 'string', 'New secret to set in the matching keyslots. Empty string to erase'],
  ['encrypt.old-secret', 'string', 'Select all keyslots that match this password'],
  ['encrypt.state', 'string', 'Select new state of affected keyslots (active/inactive)'],
  ['lazy_refcounts', 'bool', 'Postpone refcount updates'],
  ['refcount_bits', 'number', 'Width of a reference count entry in bits'],
  ['size', 'size', 'Virtual disk size'],
];

/** qcow2 options that only `create` takes. */
const CREATE_ONLY: Record<string, OptType> = {
  cluster_size: 'size',
  extended_l2: 'bool',
  preallocation: 'string',
  compression_type: 'string',
  encryption: 'bool',
  'encrypt.format': 'string',
  'encrypt.key-secret': 'string',
  'encrypt.cipher-alg': 'string',
  'encrypt.cipher-mode': 'string',
  'encrypt.ivgen-alg': 'string',
  'encrypt.ivgen-hash-alg': 'string',
  'encrypt.hash-alg': 'string',
};

const TYPE_NAMES: Record<OptType, string> = { string: 'str', bool: 'bool (on/off)', number: 'num', size: 'size' };

export function amendHelp(): string {
  const lines = AMEND.map(([name, type, text]) => `  ${`${name}=<${TYPE_NAMES[type]}>`.padEnd(22)} - ${text}`);
  return `Amend options for 'qcow2':\n${lines.join('\n')}\n`;
}

export function hasHelpOption(options: string[]): boolean {
  return splitOptions(options).some(([k]) => k === 'help' || k === '?');
}

/** The first problem with the list against `types`, as qemu words it, or null. */
function firstProblem(list: [string, string][], types: Map<string, OptType>): string | null {
  for (const [k, v] of list) {
    const t = types.get(k);
    if (t === undefined) return `Invalid parameter '${k}'`;
    const e = optionTypeError(k, t, v);
    if (e !== null) return e;
  }
  return null;
}

export async function runAmend(req: AmendRequest, io: Output, prog: string): Promise<number> {
  const fail = (msg: string): number => {
    io.err(`${prog}: ${msg}\n`);
    return 1;
  };
  const filename = req.filename!;
  let node: BlockNode;
  try {
    // With the backing chain, as qemu-img: a longer backing file matters when the size grows.
    node = (await openWritable(filename, req.format, io.err)).node;
  } catch (e) {
    return fail(`Could not open '${filename}': ${(e as Error).message}`);
  }
  try {
    if (!(node instanceof Qcow2Node)) return fail(`Format driver '${node.driver}' does not support option amendment`);
    if (hasHelpOption(req.options)) {
      io.out(amendHelp());
      return 0;
    }
    const list = splitOptions(req.options);
    const amendTypes = new Map(AMEND.map(([n, t]) => [n, t]));
    const problem = firstProblem(list, amendTypes);
    if (problem !== null) {
      const all = new Map([...amendTypes, ...Object.entries(CREATE_ONLY)]);
      const hint = firstProblem(list, all) === null ? '\nThis option is only supported for image creation' : '';
      return fail(problem + hint);
    }
    const given = new Map(list);
    const o: AmendOptions = {};
    const compat = given.get('compat');
    if (compat !== undefined) {
      if (compat === '0.10' || compat === 'v2') o.version = 2;
      else if (compat === '1.1' || compat === 'v3') o.version = 3;
      else return fail(`Unknown compatibility level ${compat}`);
    }
    if (given.has('data_file')) return fail('data-file can only be set for images that use an external data file');
    if (given.has('data_file_raw')) return fail('data-file-raw cannot be set on existing images');
    if ([...given.keys()].some((k) => k.startsWith('encrypt.'))) return fail("Can't amend encryption options - encryption not present");
    if (given.has('lazy_refcounts')) o.lazyRefcounts = boolValue(given.get('lazy_refcounts')!);
    if (given.has('refcount_bits')) {
      const bits = Number(given.get('refcount_bits'));
      if (!(bits >= 1 && bits <= 64 && (bits & (bits - 1)) === 0)) return fail('Refcount width must be a power of two and may not exceed 64 bits');
      o.refcountBits = bits;
    }
    if (given.has('size')) {
      const v = (parseQemuSize(given.get('size')!) as { value: bigint }).value;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) return fail('Failed to grow the L1 table: File too large');
      o.size = Number(v);
    }
    if (given.has('backing_file') || given.has('backing_fmt')) {
      // Only the current values may be given: changing them is rebase's job.
      const h = node.header;
      if ((given.get('backing_file') ?? null) !== h.backingFile || (given.get('backing_fmt') ?? null) !== h.backingFormat) {
        return fail(`Cannot amend the backing file\nYou can use '${prog} rebase' instead.`);
      }
    }
    try {
      await amendQcow2(node, o);
    } catch (e) {
      return fail((e as Error).message);
    }
    return 0;
  } finally {
    await node.close().catch(() => {});
  }
}
