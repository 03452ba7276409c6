// Changing the refcount width (qemu-img amend -o refcount_bits=N, spec header field
// refcount_order). A complete new refcount structure (table and the blocks that hold a non-zero
// count) is written past everything in use, describing the same counts in the new width plus its
// own clusters and minus the old structure; one header write (bytes 48-99: table offset and size,
// refcount_order, the fields between unchanged) puts it in charge. A crash before that write
// leaves the old structure and leaked clusters, after it the new one with the old one free.
import { BlockError } from '../errors.ts';
import { FIELD_REFTABLE, MAX_REFTABLE_BYTES } from './header.ts';
import type { Qcow2Internals } from './qcow2.ts';
import { getRefcountEntry, setRefcountEntry } from './refcount.ts';
import { setU64 } from './uint64.ts';

export async function changeRefcountOrder(a: Qcow2Internals, order: number): Promise<void> {
  const h = a.header;
  if (order === h.refcountOrder) return;
  if (!Number.isInteger(order) || order < 0 || order > 6) throw new BlockError('Refcount width must be a power of two and may not exceed 64 bits');
  const cs = a.cs;
  const rc = a.rc;
  const newBits = 2 ** order;
  const newMax = newBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** newBits - 1;

  // Every non-zero count of the current structure.
  const counts = new Map<number, number>();
  const blocks = rc.blockOffsets;
  for (let t = 0; t < blocks.length; t++) {
    if (blocks[t] === 0) continue;
    const buf = await rc.blockContent(t);
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < rc.perBlock; i++) {
      const v = getRefcountEntry(buf, dv, i, rc.bits);
      if (v === 0) continue;
      const idx = t * rc.perBlock + i;
      if (v > newMax) {
        throw new BlockError(`Cannot decrease refcount entry width to ${newBits} bits: Cluster at offset 0x${(idx * cs).toString(16)} has a refcount of ${v}`);
      }
      counts.set(idx, v);
    }
  }
  // The old structure is unreferenced once the new one is in charge.
  const oldTable = rc.tableInfo;
  for (let k = 0; k < oldTable.clusters; k++) counts.delete(oldTable.offset / cs + k);
  for (const b of blocks) if (b !== 0) counts.delete(b / cs);

  // The new structure goes after the last cluster in use and after the end of the file.
  let start = Math.ceil(a.file.length() / cs);
  for (const idx of counts.keys()) start = Math.max(start, idx + 1);
  const perBlock = (cs * 8) / newBits;
  const used = new Set<number>();
  for (const idx of counts.keys()) used.add(Math.floor(idx / perBlock));
  // Table clusters, then blocks; placing them may need more blocks or a larger table.
  let tableClusters = 1;
  let blockList: number[] = [];
  for (;;) {
    const need = new Set(used);
    const end = start + tableClusters + blockList.length;
    for (let c = start; c < end; c++) need.add(Math.floor(c / perBlock));
    const list = [...need].sort((x, y) => x - y);
    const tc = Math.max(tableClusters, Math.ceil(((list.at(-1)! + 1) * 8) / cs));
    if (list.length === blockList.length && tc === tableClusters) break;
    blockList = list.length > blockList.length ? list : blockList;
    tableClusters = tc;
  }
  if (tableClusters * cs > MAX_REFTABLE_BYTES) throw new BlockError('Refcount table would grow past 8 MiB', 'EFBIG');
  const structureEnd = start + tableClusters + blockList.length;
  for (let c = start; c < structureEnd; c++) counts.set(c, 1);

  const table = new Uint8Array(tableClusters * cs);
  const tdv = new DataView(table.buffer);
  const blockData = new Uint8Array(blockList.length * cs);
  blockList.forEach((t, k) => {
    const off = (start + tableClusters + k) * cs;
    setU64(tdv, t * 8, off);
  });
  const slot = new Map(blockList.map((t, k) => [t, k]));
  for (const [idx, v] of counts) {
    const k = slot.get(Math.floor(idx / perBlock))!;
    const buf = blockData.subarray(k * cs, (k + 1) * cs);
    setRefcountEntry(buf, new DataView(buf.buffer, buf.byteOffset, cs), idx % perBlock, newBits, v);
  }
  await a.flush();
  await a.file.write((start + tableClusters) * cs, blockData);
  await a.file.write(start * cs, table);
  await a.file.flush();

  // Bytes 48-99 in one write: the table fields and refcount_order, the rest as they are.
  const hdr = new Uint8Array(52);
  await a.file.read(FIELD_REFTABLE, hdr);
  const hdv = new DataView(hdr.buffer);
  setU64(hdv, 0, start * cs);
  hdv.setUint32(8, tableClusters);
  hdv.setUint32(48, order);
  await a.file.write(FIELD_REFTABLE, hdr);
  await a.file.flush();
  h.refcountTableOffset = start * cs;
  h.refcountTableClusters = tableClusters;
  h.refcountOrder = order;
  await a.reload();
}
