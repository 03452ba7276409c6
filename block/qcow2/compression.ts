// Compressed clusters (spec "Compressed Clusters Descriptor", header field compression_type):
// zlib means raw deflate without a zlib header. Output is bounded to one cluster. Writers use a
// 4 KiB window (windowBits 12), the window qemu inflates with, so qemu can read what we write.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BlockError } from '../errors.ts';

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

export function compressionName(type: number): string {
  return type === COMPRESSION_ZLIB ? 'zlib' : type === COMPRESSION_ZSTD ? 'zstd' : `unknown (${type})`;
}

/** Inflates `input` into exactly `clusterSize` bytes; anything else is a corrupt cluster. */
export function decompressCluster(type: number, input: Uint8Array, clusterSize: number): Uint8Array {
  if (type !== COMPRESSION_ZLIB) {
    throw new BlockError(`compression type ${compressionName(type)} is not supported yet`, 'ENOTSUP');
  }
  let out: Buffer;
  try {
    // "decompression stops when it has produced a cluster of data": trailing bytes are ignored.
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
  if (type !== COMPRESSION_ZLIB) {
    throw new BlockError(`writing ${compressionName(type)} compressed clusters is not supported yet`, 'ENOTSUP');
  }
  const out = deflateRawSync(cluster, { windowBits: 12, memLevel: 9 });
  if (out.length >= cluster.length) return null;
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
