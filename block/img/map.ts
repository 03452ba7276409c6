// `tsemu-img map`: the image's block status, run by run, merged and printed as qemu-img 7.2 does
// (JSON: start/length/depth/present/zero/data[/offset]; human: only runs with plain data).
import type { BlockNode } from '../driver.ts';

export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
  filename?: string;
}

/** qemu probes at most 1 GiB per request. */
const MAX_PROBE = 1 << 30;

export async function mapEntryAt(node: BlockNode, offset: number, bytes: number): Promise<MapEntry> {
  const s = await node.blockStatus(offset, bytes);
  const e: MapEntry = { start: offset, length: s.length, depth: s.depth, present: s.allocated, zero: s.zero, data: s.data };
  if (s.offset !== undefined) {
    e.offset = s.offset;
    if (s.file) e.filename = s.file.filename;
  }
  return e;
}

function mergeable(a: MapEntry, b: MapEntry): boolean {
  if (a.length === 0) return false;
  if (a.zero !== b.zero || a.data !== b.data || a.depth !== b.depth || a.present !== b.present) return false;
  if (a.filename !== b.filename || (a.offset === undefined) !== (b.offset === undefined)) return false;
  return a.offset === undefined || a.offset + a.length === b.offset;
}

/** "%#-16x": hex with 0x (none for zero), left-justified in 16 columns. */
function hexCol(n: number): string {
  return (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(16);
}

export class MapError extends Error {}

/** Calls `out` with the text as it goes (qemu prints entries as it finds them). */
export async function mapImage(node: BlockNode, json: boolean, out: (s: string) => void, start = 0, maxLength = Infinity): Promise<void> {
  const end = Math.min(start + maxLength, node.length());
  const dump = (e: MapEntry, more: boolean): void => {
    if (json) {
      let s = `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}`;
      if (e.offset !== undefined) s += `, "offset": ${e.offset}`;
      out(s + '}' + (more ? ',\n' : ''));
      return;
    }
    if (e.data && e.offset === undefined) throw new MapError('File contains external, encrypted or compressed clusters.');
    if (e.data && !e.zero) out(`${hexCol(e.start)}${hexCol(e.length)}${hexCol(e.offset ?? 0)}${e.filename ?? ''}\n`);
  };
  out(json ? '[' : `${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`);
  let cur: MapEntry = { start, length: 0, depth: 0, present: false, zero: false, data: false };
  while (cur.start + cur.length < end) {
    const pos = cur.start + cur.length;
    const next = await mapEntryAt(node, pos, Math.min(MAX_PROBE, end - pos));
    if (mergeable(cur, next)) {
      cur.length += next.length;
      continue;
    }
    if (cur.length > 0) dump(cur, true);
    cur = next;
  }
  dump(cur, false);
  if (json) out(']\n');
}
