// Rewriting the header cluster of an existing qcow2 image (rebase, amend): the backing file name
// and its format extension, the version, the feature bits. The fixed fields are kept as they are,
// every other extension too (unknown ones included, as the spec asks), in their order after the
// backing format; version 3 images with clusters over 4 KiB carry the feature name table (as
// qemu writes it), version 2 images none. The new cluster replaces the old in one write.
import { BlockError } from '../errors.ts';
import { KNOWN_FEATURE_NAMES } from './features.ts';
import { EXT_BACKING_FORMAT, EXT_FEATURE_TABLE, MAX_BACKING_NAME, parseHeader, V2_HEADER_LENGTH, V3_HEADER_LENGTH, type HeaderExtension, type Qcow2Header } from './header.ts';
import type { Qcow2Internals, Qcow2Node } from './qcow2.ts';
import { setU64 } from './uint64.ts';

/** What changes; fields left out keep their current value. */
export interface HeaderChange {
  version?: 2 | 3;
  backingFile?: string | null;
  backingFormat?: string | null;
  incompatible?: bigint;
  compatible?: bigint;
  autoclear?: bigint;
}

const utf8 = new TextEncoder();

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function featureTable(): Uint8Array {
  const t = new Uint8Array(48 * KNOWN_FEATURE_NAMES.length);
  KNOWN_FEATURE_NAMES.forEach((f, i) => {
    t[i * 48] = f.type;
    t[i * 48 + 1] = f.bit;
    t.set(utf8.encode(f.name), i * 48 + 2);
  });
  return t;
}

/**
 * The new header cluster. `current` holds the start of the file (at least the header). Throws
 * EINVAL for a backing name over 1023 bytes and ENOSPC when the result does not fit the cluster.
 */
export function buildHeader(h: Qcow2Header, current: Uint8Array, c: HeaderChange): Uint8Array {
  const cs = 2 ** h.clusterBits;
  const version = c.version ?? (h.version as 2 | 3);
  // Upgraded images get qemu's 112-byte header (compression type zlib); v3 ones keep theirs.
  const headerLength = version === 2 ? V2_HEADER_LENGTH : h.version >= 3 ? h.headerLength : V3_HEADER_LENGTH + 8;
  const buf = new Uint8Array(cs);
  const dv = new DataView(buf.buffer);
  buf.set(current.subarray(0, Math.min(headerLength, h.version >= 3 ? h.headerLength : V2_HEADER_LENGTH)));
  dv.setUint32(4, version);
  setU64(dv, 8, 0);
  dv.setUint32(16, 0);
  if (version === 3) {
    dv.setBigUint64(72, c.incompatible ?? h.incompatible);
    dv.setBigUint64(80, c.compatible ?? h.compatible);
    dv.setBigUint64(88, c.autoclear ?? h.autoclear);
    dv.setUint32(96, h.refcountOrder);
    dv.setUint32(100, headerLength);
  }

  const name = c.backingFile !== undefined ? c.backingFile : h.backingFile;
  const format = name === null ? null : c.backingFormat !== undefined ? c.backingFormat : h.backingFormat;
  const exts: HeaderExtension[] = [];
  if (format !== null) exts.push({ type: EXT_BACKING_FORMAT, data: utf8.encode(format) });
  const table = h.extensions.find((e) => e.type === EXT_FEATURE_TABLE);
  if (version === 3 && (table || cs > 4096)) exts.push(table ?? { type: EXT_FEATURE_TABLE, data: featureTable() });
  for (const e of h.extensions) if (e.type !== EXT_BACKING_FORMAT && e.type !== EXT_FEATURE_TABLE) exts.push(e);

  const nameBytes = name === null ? null : utf8.encode(name);
  if (nameBytes && nameBytes.length > MAX_BACKING_NAME) throw new BlockError('Backing file name too long', 'EINVAL');
  let pos = headerLength;
  const noSpace = (): BlockError => new BlockError('No space left in the file header', 'ENOSPC');
  for (const e of exts) {
    if (pos + 8 + align8(e.data.length) > cs) throw noSpace();
    dv.setUint32(pos, e.type);
    dv.setUint32(pos + 4, e.data.length);
    buf.set(e.data, pos + 8);
    pos += 8 + align8(e.data.length);
  }
  pos += 8; // end-of-extensions marker (zeroes)
  if (nameBytes) {
    if (pos + nameBytes.length > cs) throw noSpace();
    setU64(dv, 8, pos);
    dv.setUint32(16, nameBytes.length);
    buf.set(nameBytes, pos);
  } else if (pos > cs) {
    throw noSpace();
  }
  return buf;
}

async function readFirstCluster(a: Pick<Qcow2Internals, 'file' | 'cs'>): Promise<Uint8Array> {
  const first = new Uint8Array(Math.min(a.cs, a.file.length()));
  await a.file.read(0, first);
  return first;
}

/** Writes the changed header (under the node's lock) and refreshes the in-memory copy. */
export async function rewriteHeader(a: Qcow2Internals, c: HeaderChange): Promise<void> {
  const buf = buildHeader(a.header, await readFirstCluster(a), c);
  await a.flush();
  await a.file.write(0, buf);
  await a.file.flush();
  Object.assign(a.header, parseHeader(buf, a.file.length()));
}

/** Throws what setting this backing file would throw, without writing anything. */
export async function checkBackingChange(node: Qcow2Node, name: string | null, format: string | null): Promise<void> {
  buildHeader(node.header, await readFirstCluster(node), { backingFile: name, backingFormat: format });
}

/** Records a new backing file name and format (null: none) in the header. */
export function setBackingFile(node: Qcow2Node, name: string | null, format: string | null): Promise<void> {
  return node.exclusive((a) => rewriteHeader(a, { backingFile: name, backingFormat: format }));
}
