// `tsemu-img resize [-f fmt] [--preallocation=mode] [-q] [--shrink] filename [+|-]size`: qemu-img
// 7.2's checks, messages and exit codes. Raw images change their file's length; qcow2 images go
// through block/qcow2/resize.ts (L1 growth, preallocation, shrinking).
import type { BlockNode, Preallocation } from '../driver.ts';
import { BlockError, errnoText } from '../errors.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { INT64_MAX, openWritable, parseQemuSize, SIZE_HELP } from './common.ts';
import type { Output } from './common.ts';

export interface ResizeRequest {
  filename: string;
  format?: string;
  /** The size argument as given: absolute, or relative with a leading '+' or '-'. */
  size: string;
  prealloc?: string;
  shrink: boolean;
  quiet: boolean;
}

const PREALLOC_MODES = ['off', 'metadata', 'falloc', 'full'];

export async function runResize(req: ResizeRequest, io: Output, prog: string): Promise<number> {
  const fail = (msg: string): number => {
    io.err(`${prog}: ${msg}\n`);
    return 1;
  };
  const prealloc = (req.prealloc ?? 'off') as Preallocation;
  if (!PREALLOC_MODES.includes(prealloc)) return fail(`Invalid preallocation mode '${req.prealloc}'`);
  let text = req.size;
  const sign = text.startsWith('+') ? 1n : text.startsWith('-') ? -1n : 0n;
  if (sign !== 0n) text = text.slice(1);
  const parsed = parseQemuSize(text);
  if ('error' in parsed) {
    return fail(parsed.error === 'range' ? `Value '${text}' is out of range for parameter 'size'` : `Parameter 'size' ${SIZE_HELP}`);
  }

  let node: BlockNode;
  try {
    node = (await openWritable(req.filename, req.format, io.err)).node;
  } catch (e) {
    return fail(`Could not open '${req.filename}': ${(e as Error).message}`);
  }
  try {
    const current = BigInt(node.length());
    // qemu reads the value as a signed 64-bit number: 8E and up are negative.
    const n = parsed.value > INT64_MAX ? parsed.value - (1n << 64n) : parsed.value;
    const total = sign === 0n ? n : current + sign * n;
    if (total <= 0n) return fail('New image size must be positive');
    if (total <= current && prealloc !== 'off') return fail('Preallocation can only be used for growing images');
    if (total < current && !req.shrink) {
      io.err(
        `${prog}: Use the --shrink option to perform a shrink operation.\n` +
          `${prog}: warning: Shrinking an image will delete all data beyond the shrunken image's end. ` +
          'Before performing such an operation, make sure there is no important data there.\n',
      );
      return 1;
    }
    const qcow2 = node instanceof Qcow2Node;
    if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
      return fail(qcow2 ? 'Failed to grow the L1 table: File too large' : 'Could not resize file: File too large');
    }
    if (!qcow2 && prealloc === 'metadata') return fail('Unsupported preallocation mode: metadata');
    try {
      await node.truncate(Number(total), prealloc);
      await node.flush();
    } catch (e) {
      if (qcow2 || !(e instanceof BlockError)) return fail((e as Error).message);
      return fail(`Could not resize file: ${errnoText(e.code)}`);
    }
    if (!req.quiet) io.out('Image resized.\n');
    return 0;
  } finally {
    await node.close().catch(() => {});
  }
}
