// `tsemu-img compare`: content equality through the block layer, with qemu-img 7.2's messages and
// exit codes (0 identical, 1 different, 2 cannot open, 3 block status failed, 4 read failed).
// Runs that read as zeroes in both images are not read; a longer image must read as zeroes
// beyond the shorter one. Strict mode (-s) also wants equal sizes and equal allocation.
import type { BlockNode, BlockStatus } from '../driver.ts';
import { firstDifferentByte, firstNonZeroByte } from './zero.ts';

/** qemu-img compares in 2 MiB buffers and reports mismatches per 512-byte sector. */
const BUF = 2 << 20;
const SECTOR = 512;

export interface CompareRequest {
  a: BlockNode;
  b: BlockNode;
  nameA: string;
  nameB: string;
  strict: boolean;
  say: (line: string) => void;
  err: (line: string) => void;
  progress?: (done: number, total: number) => void;
}

class Stop {
  constructor(readonly code: number) {}
}

async function status(node: BlockNode, name: string, offset: number, length: number, err: (l: string) => void): Promise<BlockStatus> {
  try {
    return await node.blockStatus(offset, length);
  } catch {
    err(`Sector allocation test failed for ${name}`);
    throw new Stop(3);
  }
}

async function read(node: BlockNode, name: string, offset: number, buf: Uint8Array, err: (l: string) => void): Promise<void> {
  try {
    await node.read(offset, buf);
  } catch (e) {
    err(`Error while reading offset ${offset} of ${name}: ${(e as Error).message}`);
    throw new Stop(4);
  }
}

/** Offset of the first 512-byte sector holding a non-zero byte, or -1. */
function firstNonZero(buf: Uint8Array): number {
  const i = firstNonZeroByte(buf);
  return i < 0 ? -1 : i - (i % SECTOR);
}

/** Offset of the first 512-byte sector that differs, or -1. */
function firstDifference(x: Uint8Array, y: Uint8Array): number {
  const i = firstDifferentByte(x, y);
  return i < 0 ? -1 : i - (i % SECTOR);
}

/** Reads the run and fails at its first non-zero byte. */
async function expectZeroes(node: BlockNode, name: string, offset: number, length: number, r: CompareRequest): Promise<void> {
  const buf = new Uint8Array(length);
  await read(node, name, offset, buf, r.err);
  const i = firstNonZero(buf);
  if (i >= 0) {
    r.say(`Content mismatch at offset ${offset + i}!`);
    throw new Stop(1);
  }
}

const sameStatus = (s: BlockStatus, t: BlockStatus): boolean =>
  s.allocated === t.allocated && s.data === t.data && s.zero === t.zero && (s.offset === undefined) === (t.offset === undefined);

export async function compareImages(r: CompareRequest): Promise<number> {
  try {
    const { a, b } = r;
    const sizeA = a.length();
    const sizeB = b.length();
    if (r.strict && sizeA !== sizeB) {
      r.say('Strict mode: Image size mismatch!');
      return 1;
    }
    const common = Math.min(sizeA, sizeB);
    const total = Math.max(sizeA, sizeB);
    let offset = 0;
    while (offset < common) {
      const s1 = await status(a, r.nameA, offset, sizeA - offset, r.err);
      const s2 = await status(b, r.nameB, offset, sizeB - offset, r.err);
      let chunk = Math.min(s1.length, s2.length, common - offset);
      if (r.strict && !sameStatus(s1, s2)) {
        r.say(`Strict mode: Offset ${offset} block status mismatch!`);
        return 1;
      }
      if (s1.zero && s2.zero) {
        // both read as zeroes
      } else if (s1.allocated === s2.allocated) {
        if (s1.allocated) {
          chunk = Math.min(chunk, BUF);
          const x = new Uint8Array(chunk);
          const y = new Uint8Array(chunk);
          await read(a, r.nameA, offset, x, r.err);
          await read(b, r.nameB, offset, y, r.err);
          const d = firstDifference(x, y);
          if (d >= 0) {
            r.say(`Content mismatch at offset ${offset + d}!`);
            return 1;
          }
        }
      } else {
        chunk = Math.min(chunk, BUF);
        if (s1.allocated) await expectZeroes(a, r.nameA, offset, chunk, r);
        else await expectZeroes(b, r.nameB, offset, chunk, r);
      }
      offset += chunk;
      r.progress?.(offset, total);
    }
    if (sizeA !== sizeB) {
      r.say('Warning: Image size mismatch!');
      const [over, name] = sizeA > sizeB ? [a, r.nameA] : [b, r.nameB];
      while (offset < total) {
        const s = await status(over, name, offset, total - offset, r.err);
        let chunk = s.length;
        if (s.allocated) {
          chunk = Math.min(chunk, BUF);
          await expectZeroes(over, name, offset, chunk, r);
        }
        offset += chunk;
        r.progress?.(offset, total);
      }
    }
    r.say('Images are identical.');
    return 0;
  } catch (e) {
    if (e instanceof Stop) return e.code;
    throw e;
  }
}
