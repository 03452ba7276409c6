// The clusters persistent bitmaps use (spec "Bitmaps extension", "Bitmap directory", "Bitmap
// table"): the directory, each bitmap's table and the data clusters the tables name. Only what a
// consistency check needs; reads are bounded by the extension's sizes and done cluster by cluster.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { readZeroPadded } from './check-disk.ts';
import { AUTOCLEAR_BITMAPS } from './features.ts';
import { EXT_BITMAPS, type Qcow2Header } from './header.ts';

/** qemu's limits: 64 MiB of directory, bitmap tables of at most 2^27 entries. */
const MAX_DIRECTORY = 64 << 20;
const MAX_TABLE_ENTRIES = 1 << 27;

/** A byte range of the image file the bitmaps reference. */
export interface Extent {
  offset: number;
  bytes: number;
}

/**
 * Calls `use` for every range the bitmaps reference. Bitmaps count only while the autoclear bit
 * says the extension is valid ("If this bit is not set, the bitmaps extension data must be
 * considered inconsistent").
 */
export async function bitmapExtents(file: BlockNode, h: Qcow2Header, use: (e: Extent) => void): Promise<void> {
  if ((h.autoclear & AUTOCLEAR_BITMAPS) === 0n) return;
  const ext = h.extensions.find((e) => e.type === EXT_BITMAPS);
  if (!ext || ext.data.length < 24) return;
  const xdv = new DataView(ext.data.buffer, ext.data.byteOffset, ext.data.byteLength);
  // nb_bitmaps (4), reserved (4), bitmap_directory_size (8), bitmap_directory_offset (8)
  const count = xdv.getUint32(0);
  const dirSize = Number(xdv.getBigUint64(8));
  const dirOffset = Number(xdv.getBigUint64(16));
  if (dirSize > MAX_DIRECTORY) throw new BlockError('bitmap directory is too large', 'EIO');
  use({ offset: dirOffset, bytes: dirSize });
  const cs = 2 ** h.clusterBits;
  // Only the part of the directory and tables inside the file is read: the rest reads as zeroes
  // (entries naming nothing), so nothing larger than the file is allocated or scanned.
  const dir = await readZeroPadded(file, dirOffset, Math.max(0, Math.min(dirSize, file.length() - dirOffset + 24)));
  const dv = new DataView(dir.buffer);
  let pos = 0;
  for (let n = 0; n < count; n++) {
    if (pos + 24 > dirSize) throw new BlockError('bitmap directory is truncated', 'EIO');
    if (pos + 24 > dir.length) {
      pos += 24; // past the end of the file: an all-zero entry (no table, name or extra data)
      continue;
    }
    const tableOffset = Number(dv.getBigUint64(pos));
    const tableSize = dv.getUint32(pos + 8);
    const nameSize = dv.getUint16(pos + 18);
    const extra = dv.getUint32(pos + 20);
    if (tableSize > MAX_TABLE_ENTRIES) throw new BlockError('bitmap table is too large', 'EIO');
    use({ offset: tableOffset, bytes: tableSize * 8 });
    // Entries: bits 9-55 name a data cluster (0: none).
    const inFile = Math.max(0, Math.min(tableSize, Math.ceil((file.length() - tableOffset) / 8)));
    for (let i = 0; i < inFile; i += cs / 8) {
      const n8 = Math.min(cs / 8, inFile - i);
      const chunk = await readZeroPadded(file, tableOffset + i * 8, n8 * 8);
      const cdv = new DataView(chunk.buffer);
      for (let k = 0; k < n8; k++) {
        const off = (cdv.getUint32(k * 8) & 0x00ffffff) * 0x100000000 + ((cdv.getUint32(k * 8 + 4) & ~0x1ff) >>> 0);
        if (off !== 0) use({ offset: off, bytes: cs });
      }
    }
    // Entry size rounded up to a multiple of 8 (name and extra data included).
    pos += Math.ceil((24 + extra + nameSize) / 8) * 8;
  }
}
