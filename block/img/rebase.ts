// `tsemu-img rebase [-f fmt] [-F backing_fmt] [-u] [-p] [-q] -b backing filename`: gives a qcow2
// image a new backing file (or none with -b ""). Safe mode keeps what the image shows: wherever
// the image holds nothing itself and the old and new backing contents differ (compared in 512-byte
// sectors, as qemu-img does), the old content is written into the image first; the header is
// changed last. -u only rewrites the header (name and backing format extension).
import type { BlockNode } from '../driver.ts';
import { BlockError, errnoText } from '../errors.ts';
import { combineBackingPath, openImage } from '../open.ts';
import { checkBackingChange, setBackingFile } from '../qcow2/header-rewrite.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { openWritable, QEMU_FORMATS, realPath } from './common.ts';
import type { Progress } from './progress.ts';
import type { Output } from './common.ts';

const CHUNK = 2 << 20;
const SECTOR = 512;

export interface RebaseRequest {
  filename: string;
  format?: string;
  /** -b; "" removes the backing file. */
  backing: string;
  backingFormat?: string;
  unsafe: boolean;
  quiet: boolean;
  progress: Progress;
}

/** Length of the run of sectors from `pos` that are all equal (or all different) in a and b. */
function sameRun(a: Buffer, b: Buffer, pos: number): { equal: boolean; length: number } {
  const sectorEqual = (p: number): boolean => {
    const end = Math.min(a.length, p + SECTOR);
    return a.compare(b, p, end, p, end) === 0;
  };
  const equal = sectorEqual(pos);
  let p = pos + SECTOR;
  while (p < a.length && sectorEqual(p) === equal) p += SECTOR;
  return { equal, length: Math.min(p, a.length) - pos };
}

/**
 * The range to zero for [from, to) past the end of the old backing file: widened to whole
 * (sub)clusters when they lie entirely past it and hold nothing in the image (they read as
 * zeroes either way, and a zero cluster is cheaper than a data cluster of zeroes, as in qemu).
 */
async function zeroSpan(image: Qcow2Node, from: number, to: number, oldLen: number): Promise<[number, number]> {
  const cs = image.cs / image.layout.subclusters;
  const a = Math.floor(from / cs) * cs;
  const b = Math.min(image.length(), Math.ceil(to / cs) * cs);
  if (a < oldLen) return [from, to];
  for (let p = a; p < b; ) {
    const s = await image.blockStatus(p, b - p);
    if (s.allocated && s.depth === 0) return [from, to];
    p += s.length;
  }
  return [a, b];
}

/** Writes into `image` what its old backing shows wherever the new backing would differ. */
async function copyDifferences(image: Qcow2Node, newBacking: BlockNode | null, progress: Progress): Promise<void> {
  const oldBacking = image.backing;
  const size = image.length();
  const oldLen = oldBacking ? oldBacking.length() : 0;
  const newLen = newBacking ? newBacking.length() : 0;
  const v3 = image.version >= 3;
  progress.update(0, size);
  // Past the end of both backing files both views read zeroes.
  const end = Math.min(size, Math.max(oldLen, newLen));
  for (let pos = 0; pos < end; ) {
    const s = await image.blockStatus(pos, Math.min(end - pos, CHUNK - (pos % CHUNK)));
    let n = s.length;
    if (s.allocated && s.depth === 0) {
      pos += n;
      continue;
    }
    // Past the end of the old backing file the image reads zeroes.
    const oldZero = pos >= oldLen;
    if (!oldZero) n = Math.min(n, oldLen - pos);
    const oldBuf = new Uint8Array(n);
    if (!oldZero) await image.read(pos, oldBuf);
    const newBuf = new Uint8Array(n);
    if (newBacking && pos < newLen) await newBacking.read(pos, newBuf.subarray(0, Math.min(n, newLen - pos)));
    const oldB = Buffer.from(oldBuf.buffer, oldBuf.byteOffset, n);
    const newB = Buffer.from(newBuf.buffer, newBuf.byteOffset, n);
    for (let k = oldB.equals(newB) ? n : 0; k < n; ) {
      const r = sameRun(oldB, newB, k);
      if (!r.equal) {
        if (oldZero && v3 && newBacking) {
          // Zero clusters (not data) as qemu writes them. With the new backing attached the
          // driver sees these bytes as not reading zero yet; any copy-on-write around them reads
          // sectors that are equal in both backing files or already written.
          const [from, to] = await zeroSpan(image, pos + k, pos + k + r.length, oldLen);
          image.attachBacking(newBacking);
          try {
            await image.writeZeroes(from, to - from);
          } finally {
            image.backing = oldBacking;
          }
        } else {
          await image.write(pos + k, oldBuf.subarray(k, k + r.length));
        }
      }
      k += r.length;
    }
    pos += n;
    progress.update(pos, size);
  }
  await image.flush();
}

export async function runRebase(req: RebaseRequest, io: Output, prog: string): Promise<number> {
  const fail = (msg: string): number => {
    io.err(`${prog}: ${msg}\n`);
    return 1;
  };
  const name = req.backing;
  const changeFailed = (why: string): number => fail(`Could not change the backing file to '${name}': ${why}`);
  let image: BlockNode;
  try {
    image = (await openWritable(req.filename, req.format, io.err, { noBacking: req.unsafe })).node;
  } catch (e) {
    return fail(`Could not open '${req.filename}': ${(e as Error).message}`);
  }
  let newBacking: BlockNode | null = null;
  try {
    if (req.backingFormat !== undefined && !QEMU_FORMATS.has(req.backingFormat)) return fail(`Invalid format name: '${req.backingFormat}'`);
    if (!req.unsafe && name !== '') {
      const path = combineBackingPath(req.filename, name);
      const self = realPath(req.filename);
      if (self !== null && realPath(path) === self) {
        return fail(`Could not open new backing file '${name}': Failed to get shared "write" lock\nIs another process using the image [${name}]?`);
      }
      try {
        newBacking = await openImage(path, { format: req.backingFormat, readOnly: true });
      } catch (e) {
        return fail(`Could not open new backing file '${name}': ${(e as Error).message}`);
      }
    }
    // What the header change would refuse is refused before any data is copied.
    if (name !== '' && req.backingFormat === undefined) return changeFailed('backing format must be specified');
    if (!(image instanceof Qcow2Node)) return changeFailed(errnoText('ENOTSUP'));
    const format = name === '' ? null : req.backingFormat!;
    try {
      await checkBackingChange(image, name === '' ? null : name, format);
    } catch (e) {
      return changeFailed(e instanceof BlockError && e.code === 'ENOSPC' ? e.message : errnoText((e as BlockError).code));
    }
    if (!req.unsafe) {
      try {
        await copyDifferences(image, newBacking, req.progress);
      } catch (e) {
        return fail(`Error while rebasing: ${(e as Error).message}`);
      }
    }
    try {
      await setBackingFile(image, name === '' ? null : name, format);
    } catch (e) {
      return changeFailed(e instanceof BlockError && e.code === 'ENOSPC' ? e.message : errnoText((e as BlockError).code));
    }
    req.progress.finish();
    return 0;
  } finally {
    await image.close().catch(() => {});
    if (newBacking) await newBacking.close().catch(() => {});
  }
}
