// Changing the virtual size of a qcow2 image (qemu-img resize, amend size=).
//
// Growing: the active L1 table moves to a larger copy when the new size needs more entries (one
// header write switches to it), the new area is optionally preallocated, clusters a longer
// backing file would show through are made zero, and only then is the size field written: a crash
// leaves the old size plus at worst leaked clusters.
// Shrinking: clusters past the new end are discarded, L2 tables past it dropped (the L1 table
// keeps its size, as with qemu), the size field written, and the file trimmed after the last
// cluster still in use.
import type { Preallocation } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { dropL1Entries } from './make-empty.ts';
import { FIELD_SIZE, MAX_L1_BYTES } from './header.ts';
import type { Qcow2Internals, Qcow2Node } from './qcow2.ts';
import { setU64 } from './uint64.ts';

const ZERO_CHUNK = 1 << 20;

export async function resizeQcow2(node: Qcow2Node, size: number, prealloc: Preallocation = 'off'): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 0) throw new BlockError(`Invalid image size ${size}`);
  if (size % 512 !== 0) throw new BlockError('The new size must be a multiple of 512');
  const backing = node.backing;
  await node.exclusive(async (a) => {
    const h = a.header;
    if (h.nbSnapshots > 0 && h.version < 3) throw new BlockError("Can't resize a v2 image which has snapshots", 'ENOTSUP');
    const old = h.size;
    if (size === old) return;
    if (size < old) {
      if (prealloc !== 'off') throw new BlockError("Preallocation can't be used for shrinking an image");
      await shrink(a, size);
      return;
    }
    const span = a.cs * a.l2Entries;
    const entries = Math.ceil(size / span);
    if (entries * 8 > MAX_L1_BYTES) throw new BlockError('Failed to grow the L1 table: File too large', 'EFBIG');
    // A backing file longer than the old size would show through the new area: qemu makes it
    // read as zeroes, which version 2 images cannot express without writing data.
    const backingEnd = backing ? Math.min(size, backing.length()) : 0;
    if (backingEnd > old && h.version < 3) throw new BlockError('Failed to zero out new clusters: Operation not supported', 'ENOTSUP');
    if (entries > a.l1.length) await a.growL1(entries);
    if (prealloc !== 'off') await preallocate(a, Math.ceil(old / a.cs), Math.ceil(size / a.cs), prealloc);
    if (backingEnd > old) {
      // Up to the end of the backing file (rounded to a cluster): past it nothing shows through.
      const end = Math.min(size, Math.ceil(backingEnd / a.cs) * a.cs);
      await a.writeZeroes(old, end - old);
    }
    await a.flush();
    await writeSize(a, size);
  });
}

async function writeSize(a: Qcow2Internals, size: number): Promise<void> {
  const b = new Uint8Array(8);
  setU64(new DataView(b.buffer), 0, size);
  await a.file.write(FIELD_SIZE, b);
  await a.file.flush();
  a.header.size = size;
}

/**
 * Maps guest clusters [first, end) to new host clusters, one L2 table's worth at a time:
 * `metadata` as preallocated zero clusters on version 3 (the host cluster's old bytes never
 * show), otherwise as data clusters holding zeroes (written for falloc/full; for metadata on
 * version 2 only where the cluster lies inside the file, past its end the file reads as zeroes).
 */
async function preallocate(a: Qcow2Internals, first: number, end: number, mode: Preallocation): Promise<void> {
  const cs = a.cs;
  const v3 = a.header.version >= 3;
  for (let g = first; g < end; ) {
    const stop = Math.min(end, (Math.floor(g / a.l2Entries) + 1) * a.l2Entries);
    const n = stop - g;
    const host = await a.rc.allocate(n);
    const hostEnd = host + n * cs;
    if (mode === 'metadata') {
      if (!v3) await zeroHost(a, host, Math.min(hostEnd, a.file.length()));
      // Every cluster an L2 entry names must lie inside the file.
      if (hostEnd > a.file.length()) await a.file.truncate(hostEnd);
    } else {
      await zeroHost(a, host, hostEnd);
    }
    // The zeroes and refcounts are durable before an L2 table names the clusters.
    await a.flush();
    for (let k = 0; k < n; k++) await a.mapCluster(g + k, host + k * cs, mode === 'metadata' && v3);
    g = stop;
  }
}

async function zeroHost(a: Qcow2Internals, from: number, to: number): Promise<void> {
  const zeroes = new Uint8Array(Math.min(ZERO_CHUNK, Math.max(0, to - from)));
  for (let pos = from; pos < to; pos += zeroes.length) await a.file.write(pos, zeroes.subarray(0, Math.min(zeroes.length, to - pos)));
}

async function shrink(a: Qcow2Internals, size: number): Promise<void> {
  const cs = a.cs;
  const keep = Math.ceil(size / (cs * a.l2Entries));
  // Clusters past the end inside the last L2 table that stays; the tables after it go whole.
  if (keep > 0 && keep <= a.l1.length && a.l1[keep - 1] !== 0) {
    await a.discardClusters(Math.ceil(size / cs), keep * a.l2Entries);
  }
  await a.flush();
  await dropL1Entries(a, keep);
  await writeSize(a, size);
  await trimFile(a);
}

/** Truncates the file after the last cluster with a reference (freed tail clusters go). */
async function trimFile(a: Qcow2Internals): Promise<void> {
  const cs = a.cs;
  const rc = a.rc;
  let last = Math.ceil(a.file.length() / cs) - 1;
  while (last > 0 && (await rc.get(last)) === 0) last--;
  const end = (last + 1) * cs;
  if (end < a.file.length()) {
    await a.file.truncate(end);
    await a.file.flush();
  }
}
