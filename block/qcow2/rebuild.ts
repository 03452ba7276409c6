// Rebuilding the refcount structure from the references a check counted (what `qemu-img check
// -r all` does when a refcount is too small to repair in place). New refcount blocks and a new
// refcount table go to clusters nobody references; they are durable before the header
// names them, so a crash leaves the old structure in charge. The old one is leaked afterwards.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import type { ReferenceCounts } from './check-counts.ts';
import { FIELD_REFTABLE, MAX_REFTABLE_BYTES, type Qcow2Header } from './header.ts';
import { setRefcountEntry } from './refcount.ts';
import { setU64 } from './uint64.ts';

function blockUsed(counts: ReferenceCounts, t: number, perBlock: number): boolean {
  const end = Math.min(counts.size, (t + 1) * perBlock);
  for (let i = t * perBlock; i < end; i++) if (counts.get(i) !== 0) return true;
  return false;
}

export async function rebuildRefcountStructure(file: BlockNode, h: Qcow2Header, counts: ReferenceCounts): Promise<void> {
  const cs = 2 ** h.clusterBits;
  const bits = 2 ** h.refcountOrder;
  const perBlock = (cs * 8) / bits;
  const max = bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
  const blocks = new Map<number, number>(); // refcount table index -> cluster of its block
  let tableStart = 0;
  let tableClusters = 0;
  // Blocks go, in table order, to the first free cluster not covered by an earlier block (as
  // qemu places them); the table to the first free run. Placing them references more clusters,
  // which may need more blocks or a larger table: repeat until nothing changes.
  for (;;) {
    let changed = false;
    let firstFree = 0;
    for (let t = 0; t < Math.ceil(counts.size / perBlock); t++) {
      if (blocks.has(t) || !blockUsed(counts, t, perBlock)) continue;
      const c = counts.findFree(Math.max(firstFree, t * perBlock), 1);
      counts.set(c, 1);
      blocks.set(t, c);
      firstFree = c + 1;
      changed = true;
    }
    const entries = Math.max(...blocks.keys()) + 1;
    const need = Math.ceil((entries * 8) / cs);
    if (need * cs > MAX_REFTABLE_BYTES) throw new BlockError('Refcount table would grow past 8 MiB', 'EFBIG');
    if (need !== tableClusters) {
      for (let k = 0; k < tableClusters; k++) counts.set(tableStart + k, 0);
      tableStart = counts.findFree(0, need);
      for (let k = 0; k < need; k++) counts.set(tableStart + k, 1);
      tableClusters = need;
      changed = true;
    }
    if (!changed) break;
  }

  const table = new Uint8Array(tableClusters * cs);
  const tdv = new DataView(table.buffer);
  for (const [t, c] of [...blocks.entries()].sort((a, b) => a[1] - b[1])) {
    const buf = new Uint8Array(cs);
    const dv = new DataView(buf.buffer);
    const end = Math.min(counts.size, (t + 1) * perBlock);
    for (let i = t * perBlock; i < end; i++) {
      const v = counts.get(i);
      if (v !== 0) setRefcountEntry(buf, dv, i - t * perBlock, bits, Math.min(v, max));
    }
    await file.write(c * cs, buf);
    setU64(tdv, t * 8, c * cs);
  }
  await file.write(tableStart * cs, table);
  await file.flush();
  const hdr = new Uint8Array(12);
  const hdv = new DataView(hdr.buffer);
  setU64(hdv, 0, tableStart * cs);
  hdv.setUint32(8, tableClusters);
  await file.write(FIELD_REFTABLE, hdr);
  await file.flush();
  h.refcountTableOffset = tableStart * cs;
  h.refcountTableClusters = tableClusters;
}
