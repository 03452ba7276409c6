// The snapshot table (spec "Snapshots"): only what a consistency check needs, the L1 table of each
// snapshot and the table's own extent. Every read is bounded by the file and by qemu's limits.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { getU64 } from './uint64.ts';

/** Fixed part of an entry: L1 offset/size, id/name lengths, dates, VM state size, extra size. */
const ENTRY_FIXED = 40;
/** qemu's limits: 1 KiB of extra data per entry, 64 MiB for the whole table. */
export const MAX_SNAPSHOT_EXTRA = 1024;
export const MAX_SNAPSHOT_TABLE = 64 << 20;

export interface SnapshotEntry {
  id: string;
  name: string;
  l1TableOffset: number;
  l1Size: number;
}

export interface SnapshotTable {
  entries: SnapshotEntry[];
  /** Bytes from the table's offset to the end of its last entry (8-byte aligned). */
  bytes: number;
}

const utf8 = new TextDecoder('utf-8');

export async function readSnapshotTable(file: BlockNode, offset: number, count: number): Promise<SnapshotTable> {
  const entries: SnapshotEntry[] = [];
  let pos = offset;
  const fileSize = file.length();
  for (let n = 0; n < count; n++) {
    if (pos + ENTRY_FIXED > fileSize) throw new BlockError(`snapshot entry ${n} lies past the end of the file`, 'EIO');
    const fixed = new Uint8Array(ENTRY_FIXED);
    await file.read(pos, fixed);
    const dv = new DataView(fixed.buffer);
    const l1TableOffset = getU64(dv, 0, `snapshot ${n} L1 table offset`);
    const l1Size = dv.getUint32(8);
    const idSize = dv.getUint16(12);
    const nameSize = dv.getUint16(14);
    const extra = dv.getUint32(36);
    if (extra > MAX_SNAPSHOT_EXTRA) throw new BlockError(`snapshot ${n} has too much extra data (${extra} bytes)`, 'EIO');
    // "Padding to round up the snapshot table entry size to the next multiple of 8."
    const size = Math.ceil((ENTRY_FIXED + extra + idSize + nameSize) / 8) * 8;
    if (pos + size - offset > MAX_SNAPSHOT_TABLE) throw new BlockError('snapshot table is too large', 'EIO');
    const strings = new Uint8Array(idSize + nameSize);
    await file.read(pos + ENTRY_FIXED + extra, strings);
    entries.push({
      id: utf8.decode(strings.subarray(0, idSize)),
      name: utf8.decode(strings.subarray(idSize)),
      l1TableOffset,
      l1Size,
    });
    pos += size;
  }
  return { entries, bytes: pos - offset };
}
