// `tsemu-img convert`: copies one or more source images (concatenated) into a new or existing
// target through the block layer, as qemu-img 7.2 does: runs that read as zeroes are skipped on
// a target that starts out zeroed (sparse output), data runs are scanned for zero blocks of the
// -S size, -c writes every cluster compressed, and with -B the target gets a backing file and
// only what the source's top image holds is copied.
import { readPieces, writePieces, type BlockNode, type BlockStatus, type Piece } from '../driver.ts';
import { BlockError, errnoText } from '../errors.ts';
import { openImage } from '../open.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { createImage, CreateError, splitOptions } from './create.ts';
import type { Progress } from './progress.ts';
import { isAllZero as isZero, isZeroRange } from './zero.ts';

/** qemu-img's copy buffer: 2 MiB; -S accepts multiples of 512 up to 16 MiB. */
const BUF = 2 << 20;
/** Copy jobs in flight, as qemu-img's default -m 8: reads overlap, writes are issued in order. */
const JOBS = 8;
/** At most this many data runs go into one copy job (one scattered read, one scattered write). */
const MAX_PIECES = 256;
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
  /** Target cache mode (-t): 'unsafe', qemu-img's default, never syncs; the others flush at the end. */
  cache?: string;
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
    /** The target reads as zeroes where nothing is written. */
    readonly zeroInit: boolean,
    private readonly withBacking: boolean,
    private readonly sparse: number,
  ) {}

  /** Status of the source at `pos`, for at most `max` bytes. */
  async run(src: BlockNode, pos: number, max: number): Promise<{ kind: Run; length: number }> {
    const s = await src.blockStatus(pos, max);
    return { kind: this.kindOf(s), length: s.length };
  }

  kindOf(s: BlockStatus): Run {
    // With a target backing file only the source's top image is copied; the rest is left to
    // show through (qemu-img assumes -B names the source's backing content).
    if (this.withBacking && s.depth > 0) return Run.Backing;
    // -S 0 asks for a fully allocated target: zeroes are written as data.
    return s.zero && this.sparse !== 0 ? Run.Zero : Run.Data;
  }

  async zero(pos: number, length: number): Promise<void> {
    if (this.zeroInit || length === 0) return;
    await this.target.writeZeroes(pos, length, true);
  }

  /**
   * Writes the pieces (target offsets), leaving out (zeroing) aligned blocks of `sparse` zero
   * bytes; what remains goes to the target as one scattered write. Every request is issued before
   * this returns its promise, so callers control the issue order.
   */
  data(pieces: readonly Piece[]): Promise<void> {
    if (this.sparse === 0) return writePieces(this.target, pieces);
    const out: Piece[] = [];
    const parts: Promise<void>[] = [];
    const sparse = this.sparse;
    for (const { offset: pos, data: buf } of pieces) {
      // Blocks are aligned to multiples of the sparse size in the target; most data blocks start
      // with a non-zero byte, which settles them without a native call.
      let i = 0;
      while (i < buf.length) {
        let j = Math.min(buf.length, (Math.floor((pos + i) / sparse) + 1) * sparse - pos);
        const zero = buf[i] === 0 && isZeroRange(buf, i, j);
        while (j < buf.length) {
          const next = Math.min(buf.length, j + sparse);
          if ((buf[j] === 0 && isZeroRange(buf, j, next)) !== zero) break;
          j = next;
        }
        if (zero) parts.push(this.zero(pos + i, j - i));
        else out.push({ offset: pos + i, data: buf.subarray(i, j) });
        i = j;
      }
    }
    if (out.length > 0) parts.push(writePieces(this.target, out));
    return Promise.all(parts).then(() => undefined);
  }
}

/** An I/O error reading a source, reported as qemu-img does: where the failed read started. */
class SourceReadError extends Error {}

async function readSource(src: BlockNode, pos: number, buf: Uint8Array, base: number): Promise<void> {
  try {
    await src.read(pos, buf);
  } catch (e) {
    // Damaged compressed data and the like are EIO, which qemu-img words as strerror(EIO).
    if (e instanceof BlockError && e.code === 'EIO') throw new SourceReadError(`error while reading at byte ${base + pos}: ${errnoText(e.code)}`);
    throw e;
  }
}

/**
 * Copies in jobs of up to BUF data bytes each, gathered from consecutive runs (the zero and
 * backing runs between them are skipped): one scattered read of the source, one scattered write
 * of the target, so that data adjacent on the host moves in one system call. Up to JOBS jobs are
 * in flight: their reads overlap, and their writes are issued in guest order (a qcow2 target
 * then lays clusters out in order, as qemu-img does without -W). The first failure in guest
 * order is the one reported.
 */
async function copyPlain(src: BlockNode, base: number, c: Copier, done: (n: number) => void): Promise<void> {
  const size = src.length();
  // Copy buffers are reused: fresh ones cost zeroing, page faults and GC on every job.
  const pool: Uint8Array[] = [];
  let active = 0;
  let wake: (() => void) | null = null;
  const finished = (): void => {
    active--;
    if (wake) {
      const w = wake;
      wake = null;
      w();
    }
  };
  /** Settles once the previous job has issued its writes. */
  let turn: Promise<void> = Promise.resolve();
  let failedAt = Infinity;
  let failure: unknown = null;
  const job = async (start: number, span: number, whole: Uint8Array, pieces: Piece[], zeroes: number[], prev: Promise<void>, issued: () => void): Promise<void> => {
    try {
      try {
        await readPieces(src, pieces);
      } catch {
        // Piece by piece, to name the first one that fails as qemu-img would.
        for (const p of pieces) await readSource(src, p.offset, p.data, base);
      }
      await prev;
      const parts = [c.data(pieces.map((p) => ({ offset: base + p.offset, data: p.data })))];
      for (let i = 0; i < zeroes.length; i += 2) parts.push(c.zero(base + zeroes[i]!, zeroes[i + 1]!));
      issued();
      await Promise.all(parts);
      done(span);
    } catch (e) {
      issued();
      if (start < failedAt) {
        failedAt = start;
        failure = e;
      }
    } finally {
      pool.push(whole);
      finished();
    }
  };
  let pos = 0;
  while (pos < size && failure === null) {
    const start = pos;
    const whole = pool.pop() ?? new Uint8Array(BUF);
    const pieces: Piece[] = [];
    /** Zero runs for a target that does not read as zeroes by itself: offset, length pairs. */
    const zeroes: number[] = [];
    let used = 0;
    while (pos < size && used < BUF && pieces.length < MAX_PIECES) {
      const r = await src.blockStatus(pos, size - pos);
      const kind = c.kindOf(r);
      if (kind === Run.Data) {
        const n = Math.min(r.length, BUF - used);
        pieces.push({ offset: pos, data: whole.subarray(used, used + n) });
        used += n;
        pos += n;
      } else {
        // Zero runs cost nothing on a zero-initialised target; backing runs are left as they are.
        if (kind === Run.Zero && !c.zeroInit) zeroes.push(pos, r.length);
        pos += r.length;
      }
    }
    if (pieces.length === 0 && zeroes.length === 0) {
      pool.push(whole);
      done(pos - start);
      continue;
    }
    const prev = turn;
    let issued!: () => void;
    turn = new Promise<void>((resolve) => (issued = resolve));
    active++;
    void job(start, pos - start, whole, pieces, zeroes, prev, issued);
    while (active >= JOBS) await new Promise<void>((resolve) => (wake = resolve));
  }
  while (active > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failure !== null) throw failure;
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
      await readSource(src, pos, buf, base);
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
      target = await openImage(req.target, { format: req.targetFormat, noFlush: (req.cache ?? 'unsafe') === 'unsafe' });
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
    req.err(e instanceof SourceReadError ? `${prog}: ${e.message}` : `${prog}: error while converting: ${(e as Error).message}`);
    return 1;
  } finally {
    if (target) await target.close().catch(() => {});
    await closeAll();
  }
}
