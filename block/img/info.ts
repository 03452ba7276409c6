// `tsemu-img info`: the same fields, order and wording as qemu-img 7.2's human and JSON output.
import type { BlockNode } from '../driver.ts';
import { combineBackingPath, openImage } from '../open.ts';
import { compressionName } from '../qcow2/compression.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { readSnapshots, type Snapshot } from '../qcow2/snapshot.ts';
import { prettyJson, type Json } from './json.ts';
import { snapshotHeader, snapshotRow } from './snapshot.ts';
import { humanSize } from './size.ts';

export interface ImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  actualSize: number;
  clusterSize?: number;
  backingFilename?: string;
  fullBackingFilename?: string;
  backingFormat?: string;
  dirty: boolean;
  snapshots: Snapshot[];
  qcow2?: {
    compat: string;
    compressionType: string;
    lazyRefcounts?: boolean;
    refcountBits: number;
    corrupt?: boolean;
    extendedL2?: boolean;
  };
}

export async function collectInfo(node: BlockNode, filename: string): Promise<ImageInfo> {
  const info: ImageInfo = {
    filename,
    format: node.driver,
    virtualSize: node.length(),
    actualSize: await node.allocatedSize(),
    dirty: false,
    snapshots: [],
  };
  if (node instanceof Qcow2Node) {
    const h = node.header;
    info.clusterSize = node.cs;
    info.snapshots = await readSnapshots(node);
    info.dirty = node.dirty;
    if (h.backingFile !== null) {
      info.backingFilename = h.backingFile;
      info.fullBackingFilename = combineBackingPath(filename, h.backingFile);
      if (h.backingFormat !== null) info.backingFormat = h.backingFormat;
    }
    info.qcow2 = {
      compat: h.version >= 3 ? '1.1' : '0.10',
      compressionType: compressionName(h.compressionType),
      refcountBits: 2 ** h.refcountOrder,
    };
    if (h.version >= 3) {
      info.qcow2.lazyRefcounts = node.lazyRefcounts;
      info.qcow2.corrupt = node.corrupt;
      info.qcow2.extendedL2 = node.layout.extended;
    }
  }
  return info;
}

export function infoHuman(i: ImageInfo): string {
  const lines = [
    `image: ${i.filename}`,
    `file format: ${i.format}`,
    `virtual size: ${humanSize(i.virtualSize)} (${i.virtualSize} bytes)`,
    `disk size: ${i.actualSize < 0 ? 'unavailable' : humanSize(i.actualSize)}`,
  ];
  if (i.clusterSize !== undefined) lines.push(`cluster_size: ${i.clusterSize}`);
  if (i.dirty) lines.push('cleanly shut down: no');
  if (i.backingFilename !== undefined) {
    const actual = i.fullBackingFilename !== i.backingFilename ? ` (actual path: ${i.fullBackingFilename})` : '';
    lines.push(`backing file: ${i.backingFilename}${actual}`);
  }
  if (i.backingFormat !== undefined) lines.push(`backing file format: ${i.backingFormat}`);
  if (i.snapshots.length > 0) lines.push('Snapshot list:', snapshotHeader(), ...i.snapshots.map(snapshotRow));
  const q = i.qcow2;
  if (q) {
    lines.push('Format specific information:', `    compat: ${q.compat}`, `    compression type: ${q.compressionType}`);
    if (q.lazyRefcounts !== undefined) lines.push(`    lazy refcounts: ${q.lazyRefcounts}`);
    lines.push(`    refcount bits: ${q.refcountBits}`);
    if (q.corrupt !== undefined) lines.push(`    corrupt: ${q.corrupt}`);
    if (q.extendedL2 !== undefined) lines.push(`    extended l2: ${q.extendedL2}`);
  }
  return lines.join('\n') + '\n';
}

/** The object qemu-img prints; key order follows qemu's (hash-ordered) dictionary output. */
export function infoObject(i: ImageInfo): { [k: string]: Json } {
  const o: { [k: string]: Json } = {};
  if (i.backingFormat !== undefined) o['backing-filename-format'] = i.backingFormat;
  if (i.snapshots.length > 0) o['snapshots'] = i.snapshots.map(snapshotObject);
  o['virtual-size'] = i.virtualSize;
  o['filename'] = i.filename;
  if (i.clusterSize !== undefined) o['cluster-size'] = i.clusterSize;
  o['format'] = i.format;
  if (i.actualSize >= 0) o['actual-size'] = i.actualSize;
  const q = i.qcow2;
  if (q) {
    const data: { [k: string]: Json } = { compat: q.compat, 'compression-type': q.compressionType };
    if (q.lazyRefcounts !== undefined) data['lazy-refcounts'] = q.lazyRefcounts;
    data['refcount-bits'] = q.refcountBits;
    if (q.corrupt !== undefined) data['corrupt'] = q.corrupt;
    if (q.extendedL2 !== undefined) data['extended-l2'] = q.extendedL2;
    o['format-specific'] = { type: 'qcow2', data };
  }
  if (i.fullBackingFilename !== undefined) o['full-backing-filename'] = i.fullBackingFilename;
  if (i.backingFilename !== undefined) o['backing-filename'] = i.backingFilename;
  o['dirty-flag'] = i.dirty;
  return o;
}

/** One snapshot as qemu's SnapshotInfo (icount only when recorded). */
function snapshotObject(sn: Snapshot): { [k: string]: Json } {
  const o: { [k: string]: Json } = {};
  if (sn.icount !== -1n) o['icount'] = Number(sn.icount);
  o['vm-clock-nsec'] = Number(sn.vmClockNsec % 1_000_000_000n);
  o['name'] = sn.name;
  o['date-sec'] = sn.dateSec;
  o['date-nsec'] = sn.dateNsec;
  o['vm-clock-sec'] = Number(sn.vmClockNsec / 1_000_000_000n);
  o['id'] = sn.id;
  o['vm-state-size'] = sn.vmStateSize;
  return o;
}

/** Opens each image of the chain without its backing (as qemu-img info does) and describes it. */
export async function infoChain(filename: string, format: string | undefined, chain: boolean): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  let name: string | undefined = filename;
  let fmt = format;
  const seen = new Set<string>();
  while (name !== undefined) {
    if (seen.has(name)) throw new Error(`Backing file '${name}' creates an infinite loop.`);
    seen.add(name);
    let node: BlockNode;
    try {
      node = await openImage(name, { format: fmt, readOnly: true, noBacking: true });
    } catch (e) {
      throw new Error(`Could not open '${name}': ${(e as Error).message}`);
    }
    try {
      // A json: name is shown as the file it resolved to, as qemu-img shows it.
      const info = await collectInfo(node, name.startsWith('json:') ? node.filename : name);
      out.push(info);
      name = chain ? info.fullBackingFilename : undefined;
      fmt = info.backingFormat;
    } finally {
      await node.close();
    }
  }
  return out;
}

export function formatInfo(infos: ImageInfo[], json: boolean, chain: boolean): string {
  if (json) {
    const objs = infos.map(infoObject);
    return prettyJson(chain ? objs : objs[0]!) + '\n';
  }
  return infos.map(infoHuman).join('\n');
}
