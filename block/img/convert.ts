// `tsemu-img convert`: copies one or more source images (concatenated) into a new or existing
// target through the block layer, as qemu-img 7.2 does: runs that read as zeroes are skipped on
// a target that starts out zeroed (sparse output), data runs are scanned for zero blocks of the
// -S size, -c writes every cluster compressed, and with -B the target gets a backing file and
// only what the source's top image holds is copied.
import type { BlockNode } from '../driver.ts';
import { openImage } from '../open.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { createImage, CreateError, splitOptions } from './create.ts';
import type { Progress } from './progress.ts';
import { isAllZero as isZero } from './zero.ts';

/** qemu-img's copy buffer: 2 MiB; -S accepts multiples of 512 up to 16 MiB. */
const BUF = 2 << 20;
export const MAX_SPARSE = 16 << 20;

export interface ConvertRequest {
  sources: string[];
  sourceFormat?: string;
  target: string;
  targetFormat: string;
  compress: boolean;
  options: string[];
  backing?: string;
  backingFormat?: string;
  noCreate: boolean;
  sparseSize: number;
  progress: Progress;
  err: (line: string) => void;
}

/** What a run of the source holds, as the copy loop sees it. */
const enum Run {
  Data,
  Zero,
  /** Left to the target's backing file (only with -B). */
  Backing,
}


class Copier {
  constructor(
    private readonly target: BlockNode,
    private readonly zeroInit: boolean,
    private readonly withBacking: boolean,
    private readonly sparse: number,
  ) {}

  /** Status of the source at `pos`, for at most `max` bytes. */
  async run(src: BlockNode, pos: number, max: number): Promise<{ kind: Run; length: number }> {
    const s = await src.blockStatus(pos, max);
    // With a target backing file only the source's top image is copied; the rest is left to
    // show through (qemu-img assumes -B names the source's backing content).
    if (this.withBacking && s.depth > 0) return { kind: Run.Backing, length: s.length };
    // -S 0 asks for a fully allocated target: zeroes are written as data.
    return { kind: s.zero && this.sparse !== 0 ? Run.Zero : Run.Data, length: s.length };
  }

  async zero(pos: number, length: number): Promise<void> {
    if (this.zeroInit || length === 0) return;
    await this.target.writeZeroes(pos, length, true);
  }

  /** Writes `buf` at `pos`, leaving out (zeroing) aligned blocks of `sparse` zero bytes. */
  async data(pos: number, buf: Uint8Array): Promise<void> {
    if (this.sparse === 0) {
      await this.target.write(pos, buf);
      return;
    }
    // Blocks are aligned to multiples of the sparse size in the target.
    const blockEnd = (k: number): number => Math.min(buf.length, (Math.floor((pos + k) / this.sparse) + 1) * this.sparse - pos);
    const zeroBlock = (k: number): boolean => isZero(buf.subarray(k, blockEnd(k)));
    let i = 0;
    while (i < buf.length) {
      const zero = zeroBlock(i);
      let j = blockEnd(i);
      while (j < buf.length && zeroBlock(j) === zero) j = blockEnd(j);
      if (zero) await this.zero(pos + i, j - i);
      else await this.target.write(pos + i, buf.subarray(i, j));
      i = j;
    }
  }
}

async function copyPlain(src: BlockNode, base: number, c: Copier, done: (n: number) => void): Promise<void> {
  const size = src.length();
  let pos = 0;
  while (pos < size) {
    const r = await c.run(src, pos, size - pos);
    const n = r.kind === Run.Data ? Math.min(r.length, BUF) : r.length;
    if (r.kind === Run.Data) {
      const buf = new Uint8Array(n);
      await src.read(pos, buf);
      await c.data(base + pos, buf);
    } else if (r.kind === Run.Zero) {
      await c.zero(base + pos, n);
    }
    pos += n;
    done(n);
  }
}

/** Compressed output: cluster by cluster (compressed clusters are whole). */
async function copyCompressed(src: BlockNode, base: number, c: Copier, target: Qcow2Node, done: (n: number) => void): Promise<void> {
  const size = src.length();
  const cs = target.cs;
  let pos = 0;
  while (pos < size) {
    // Clusters are those of the target; with several sources they need not line up.
    const n = Math.min(cs - ((base + pos) % cs), size - pos);
    const r = await c.run(src, pos, n);
    if (r.length >= n && r.kind === Run.Zero) {
      await c.zero(base + pos, n);
    } else if (!(r.length >= n && r.kind === Run.Backing)) {
      const buf = new Uint8Array(n);
      await src.read(pos, buf);
      if (isZero(buf)) await c.zero(base + pos, n);
      else if ((base + pos) % cs === 0 && (n === cs || base + pos + n === target.length())) await target.writeCompressed(base + pos, buf);
      else await target.write(base + pos, buf);
    }
    pos += n;
    done(n);
  }
}

export async function runConvert(req: ConvertRequest, prog: string): Promise<number> {
  // A backing file may also come as -o backing_file=...,backing_fmt=...
  for (const [k, v] of splitOptions(req.options)) {
    if (k === 'backing_file' && req.backing === undefined) req = { ...req, backing: v };
    if (k === 'backing_fmt' && req.backingFormat === undefined) req = { ...req, backingFormat: v };
  }
  if (req.compress && req.targetFormat !== 'qcow2') {
    req.err(`${prog}: Compression not supported for this file format`);
    return 1;
  }
  if (req.backing !== undefined && req.backingFormat === undefined) {
    req.err(`${prog}: Use of backing file requires explicit backing format`);
    return 1;
  }
  const sources: BlockNode[] = [];
  const closeAll = async (): Promise<void> => {
    for (const s of sources) await s.close().catch(() => {});
  };
  for (const name of req.sources) {
    try {
      sources.push(await openImage(name, { format: req.sourceFormat, readOnly: true }));
    } catch (e) {
      req.err(`${prog}: Could not open '${name}': ${(e as Error).message}`);
      await closeAll();
      return 1;
    }
  }
  const total = sources.reduce((a, s) => a + s.length(), 0);
  let target: BlockNode | null = null;
  try {
    if (!req.noCreate) {
      try {
        await createImage(
          { format: req.targetFormat, filename: req.target, size: String(total), options: req.options, backingFile: req.backing, backingFormat: req.backingFormat, unsafe: false },
          () => {},
        );
      } catch (e) {
        const msg = (e as Error).message;
        // Option errors are reported alone, failures to create with the file and format.
        req.err(e instanceof CreateError ? `${prog}: ${msg}` : `${prog}: ${req.target}: error while converting ${req.targetFormat}: ${msg}`);
        return 1;
      }
    }
    try {
      target = await openImage(req.target, { format: req.targetFormat });
    } catch (e) {
      req.err(`${prog}: Could not open '${req.target}': ${(e as Error).message}`);
      return 1;
    }
    if (req.noCreate && target.length() < total) {
      req.err(`${prog}: output file is smaller than input file`);
      return 1;
    }
    if (req.compress && !(target instanceof Qcow2Node)) {
      req.err(`${prog}: Compression not supported for this file format`);
      return 1;
    }
    const withBacking = req.backing !== undefined;
    // A new image without a backing file reads as zeroes everywhere until written.
    const copier = new Copier(target, !req.noCreate && !withBacking, withBacking, req.sparseSize);
    let done = 0;
    const step = (n: number): void => {
      done += n;
      req.progress.update(done, total);
    };
    req.progress.update(0, total);
    let base = 0;
    for (const src of sources) {
      if (req.compress) await copyCompressed(src, base, copier, target as Qcow2Node, step);
      else await copyPlain(src, base, copier, step);
      base += src.length();
    }
    await target.flush();
    req.progress.finish();
    return 0;
  } catch (e) {
    req.err(`${prog}: error while converting: ${(e as Error).message}`);
    return 1;
  } finally {
    if (target) await target.close().catch(() => {});
    await closeAll();
  }
}
