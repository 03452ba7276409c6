// Dropping whole L2 tables from the active L1 table: emptying an overlay after `commit` (every
// entry) and the tail of a shrunk image (entries past the new end). The entries are cleared on
// disk first, then the references they held are released, so a crash leaks at worst.
//
// References are counted per path, as qemu counts them: the active table holds one reference to
// each L2 table it names and one to every cluster those tables name, whether or not a snapshot
// shares the table.
import { BlockError } from '../errors.ts';
import { decodeL2Entry } from './l2-entry.ts';
import type { Qcow2Internals, Qcow2Node } from './qcow2.ts';

/** Adds -1 for every host cluster an L2 table names (data, preallocated zero, compressed). */
async function releaseL2(a: Qcow2Internals, l2: number, deltas: Map<number, number>): Promise<void> {
  const cs = a.cs;
  const drop = (c: number): void => void deltas.set(c, (deltas.get(c) ?? 0) - 1);
  drop(l2 / cs);
  if (l2 % cs !== 0 || l2 + cs > a.file.length()) throw new BlockError(`L2 table at 0x${l2.toString(16)} is invalid`, 'EIO');
  const t = new Uint8Array(cs);
  await a.file.read(l2, t);
  const dv = new DataView(t.buffer);
  for (let i = 0; i < a.l2Entries; i++) {
    const e = decodeL2Entry(dv, i, a.layout, `L2 table 0x${l2.toString(16)}, index ${i}`);
    if (e.compressed) {
      const last = Math.floor((e.offset + e.compressedBytes - 1) / cs);
      for (let c = Math.floor(e.offset / cs); c <= last; c++) drop(c);
    } else if (e.offset !== 0) {
      drop(e.offset / cs);
    }
  }
}

/**
 * Clears active L1 entries [from, l1_size) and releases what they referenced. The table keeps
 * its size (as qemu's shrink does). Runs under the node's lock with everything flushed.
 */
export async function dropL1Entries(a: Qcow2Internals, from: number): Promise<void> {
  const l1 = a.l1;
  if (from >= l1.length) return;
  const deltas = new Map<number, number>();
  let any = false;
  for (let i = from; i < l1.length; i++) {
    if (l1[i] === 0) continue;
    any = true;
    await releaseL2(a, l1[i]!, deltas);
  }
  if (!any) return;
  await a.flush();
  await a.file.write(a.header.l1TableOffset + from * 8, new Uint8Array((l1.length - from) * 8));
  await a.file.flush();
  // Re-read the (now shorter) active mapping; caches of the dropped tables go with it.
  await a.reload();
  const rc = a.rc;
  for (const [idx, d] of [...deltas.entries()].sort((x, y) => x[0] - y[0])) await rc.adjust(idx, d);
  await a.flush();
}

/** Makes every guest cluster of the active table unallocated (qemu's bdrv_make_empty). */
export function makeEmptyQcow2(node: Qcow2Node): Promise<void> {
  return node.exclusive((a) => dropL1Entries(a, 0));
}
