// Compressed clusters (spec "Compressed Clusters Descriptor", header field compression_type).
// zlib (type 0) means raw deflate without a zlib header; writers use a 4 KiB window
// (windowBits 12), the window qemu inflates with, so qemu can read what we write.
// zstd (type 1) means zstd frames (RFC 8878), done by the @bokuweb/zstd-wasm package: Node 20's
// zlib has no zstd. Its WebAssembly is loaded on first need (prepareCompression, awaited when an
// image is opened), so images without zstd never load it.
// Output is bounded to one cluster for both types: "decompression stops when it has produced a
// cluster of data", and the bytes after that (the rest of the last sector) may belong to another
// compressed cluster.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BlockError } from '../errors.ts';

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

/** Level qemu uses (libzstd's default, ZSTD_CLEVEL_DEFAULT). */
const ZSTD_LEVEL = 3;

export function compressionName(type: number): string {
  return type === COMPRESSION_ZLIB ? 'zlib' : type === COMPRESSION_ZSTD ? 'zstd' : `unknown (${type})`;
}

type Zstd = typeof import('@bokuweb/zstd-wasm');
let zstd: Zstd | null = null;
let zstdLoading: Promise<void> | null = null;

/**
 * Makes `compressCluster`/`decompressCluster` usable for `type`. Only zstd needs it: its
 * WebAssembly is instantiated once per process (the package keeps one global instance, so
 * concurrent opens share one load).
 */
export function prepareCompression(type: number): Promise<void> {
  if (type !== COMPRESSION_ZSTD || zstd) return Promise.resolve();
  zstdLoading ??= (async () => {
    try {
      const m = await import('@bokuweb/zstd-wasm');
      await m.init();
      zstd = m;
    } catch (e) {
      zstdLoading = null;
      throw new BlockError(`zstd compression is not available: ${(e as Error).message}`, 'ENOTSUP');
    }
  })();
  return zstdLoading;
}

function loadedZstd(): Zstd {
  if (!zstd) throw new BlockError('zstd compression is used before it was loaded', 'EIO');
  return zstd;
}

/** Decompresses `input` into exactly `clusterSize` bytes; anything else is a corrupt cluster. */
export function decompressCluster(type: number, input: Uint8Array, clusterSize: number): Uint8Array {
  if (type === COMPRESSION_ZSTD) return zstdDecompress(input, clusterSize);
  if (type !== COMPRESSION_ZLIB) {
    throw new BlockError(`compression type ${compressionName(type)} is not supported`, 'ENOTSUP');
  }
  let out: Buffer;
  try {
    // Trailing bytes are ignored: sync flush returns what inflated without needing the end.
    out = inflateRawSync(input, { maxOutputLength: clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH */ });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BlockError('compressed cluster inflates to more than one cluster', 'EIO');
    }
    throw new BlockError(`compressed cluster is corrupt: ${(e as Error).message}`, 'EIO');
  }
  if (out.length !== clusterSize) {
    throw new BlockError(`compressed cluster inflates to ${out.length} bytes, not ${clusterSize}`, 'EIO');
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Compressed form of one cluster, or null when it would not be smaller (store it plainly). */
export function compressCluster(type: number, cluster: Uint8Array): Uint8Array | null {
  let out: Uint8Array;
  if (type === COMPRESSION_ZSTD) {
    // One frame, as qemu writes it; the frame records the content size.
    out = loadedZstd().compress(cluster, ZSTD_LEVEL);
  } else if (type === COMPRESSION_ZLIB) {
    const b = deflateRawSync(cluster, { windowBits: 12, memLevel: 9 });
    out = new Uint8Array(b.buffer, b.byteOffset, b.length);
  } else {
    throw new BlockError(`writing ${compressionName(type)} compressed clusters is not supported`, 'ENOTSUP');
  }
  // qemu too stores a cluster plainly unless it compresses to less than a cluster.
  return out.length >= cluster.length ? null : out;
}

// ---- zstd ----

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50; // low 4 bits free (RFC 8878 3.1.2)

/** libzstd's error codes (zstd_errors.h) that bad data produces, for readable messages. */
const ZSTD_ERRORS: Record<number, string> = {
  1: 'error',
  10: 'unknown frame descriptor',
  12: 'unsupported version',
  14: 'unsupported frame parameter',
  16: 'frame requires too much memory',
  20: 'data corruption detected',
  22: 'checksum mismatch',
  24: 'bad literals header',
  32: 'dictionary mismatch',
  70: 'content larger than the space left in the cluster',
  72: 'wrong source size',
};

/**
 * Decodes the frames at the start of `input` until they give one cluster. The package's
 * decompressor wants whole frames and nothing after them, so each frame's extent is found from
 * its headers first; that also bounds the output before libzstd allocates it.
 */
function zstdDecompress(input: Uint8Array, clusterSize: number): Uint8Array {
  const z = loadedZstd();
  const out = new Uint8Array(clusterSize);
  let produced = 0;
  let at = 0;
  while (produced < clusterSize) {
    if (at >= input.length) {
      throw new BlockError(`zstd compressed cluster ends after ${produced} of ${clusterSize} bytes`, 'EIO');
    }
    const f = zstdFrameExtent(input, at);
    const room = clusterSize - produced;
    if (!f.skippable) {
      if (f.contentSize !== null && f.contentSize > room) {
        throw new BlockError('zstd compressed cluster decompresses to more than one cluster', 'EIO');
      }
      let part: Uint8Array;
      try {
        part = z.decompress(input.subarray(at, at + f.length), { defaultHeapSize: room });
      } catch (e) {
        throw new BlockError(`zstd compressed cluster is corrupt: ${zstdErrorText(e)}`, 'EIO');
      }
      if (part.length > room) throw new BlockError('zstd compressed cluster decompresses to more than one cluster', 'EIO');
      out.set(part, produced);
      produced += part.length;
    }
    at += f.length; // every frame is at least a few bytes long: the loop always advances
  }
  return out;
}

function zstdErrorText(e: unknown): string {
  const m = /code (-?\d+)/.exec((e as Error).message ?? '');
  const code = m ? Math.abs(Number(m[1])) : NaN;
  return ZSTD_ERRORS[code] ?? (e as Error).message;
}

interface FrameExtent {
  /** Bytes the frame takes in `input`, headers and checksum included. */
  length: number;
  /** Frame_Content_Size when the header records it. */
  contentSize: number | null;
  skippable: boolean;
}

/**
 * Where the frame starting at `at` ends (RFC 8878 3.1.1 "Zstandard Frames": magic, frame
 * header, blocks up to the one with Last_Block set, optional 4-byte checksum; 3.1.2 "Skippable
 * Frames": magic and a 4-byte size). The blocks' contents are libzstd's business.
 */
function zstdFrameExtent(input: Uint8Array, at: number): FrameExtent {
  const corrupt = (what: string): BlockError => new BlockError(`zstd compressed cluster is corrupt: ${what}`, 'EIO');
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const need = (n: number, pos: number): void => {
    if (pos + n > input.length) throw corrupt('frame is truncated');
  };
  need(4, at);
  const magic = dv.getUint32(at, true);
  if ((magic & 0xfffffff0) === SKIPPABLE_MAGIC) {
    need(8, at);
    const length = 8 + dv.getUint32(at + 4, true);
    need(length, at);
    return { length, contentSize: null, skippable: true };
  }
  if (magic !== ZSTD_MAGIC) throw corrupt('unknown frame descriptor');
  let pos = at + 4;
  need(1, pos);
  const fhd = input[pos++]!; // Frame_Header_Descriptor (3.1.1.1.1)
  if (fhd & 0x08) throw corrupt('reserved frame header bit is set');
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
  const didBytes = [0, 1, 2, 4][fhd & 3]!;
  const headerRest = (singleSegment ? 0 : 1) + didBytes + fcsBytes; // window descriptor, dictionary ID, FCS
  need(headerRest, pos);
  pos += headerRest - fcsBytes;
  let contentSize: number | null = null;
  if (fcsBytes === 1) contentSize = input[pos]!;
  else if (fcsBytes === 2) contentSize = dv.getUint16(pos, true) + 256; // 2-byte sizes are offset by 256
  else if (fcsBytes === 4) contentSize = dv.getUint32(pos, true);
  else if (fcsBytes === 8) contentSize = dv.getUint32(pos + 4, true) * 2 ** 32 + dv.getUint32(pos, true);
  pos += fcsBytes;
  for (;;) {
    need(3, pos); // Block_Header (3.1.1.2): Last_Block, Block_Type, Block_Size, little-endian
    const bh = input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16);
    pos += 3;
    const type = (bh >> 1) & 3;
    if (type === 3) throw corrupt('reserved block type');
    const size = type === 1 ? 1 : bh >>> 3; // an RLE block stores its one byte
    need(size, pos);
    pos += size;
    if (bh & 1) break;
  }
  if (fhd & 0x04) {
    need(4, pos); // Content_Checksum
    pos += 4;
  }
  return { length: pos - at, contentSize, skippable: false };
}
