// The mutations: each takes a private copy of a base image and damages one thing (or several, for
// `multi`). `detect` says the damage is certain to be visible: opening fails or the check reports
// corruptions, leaks or errors.
import type { Layout, L2Slot } from './bases.ts';
import type { Rng } from './prng.ts';

export interface Mutant {
  bytes: Uint8Array;
  detect: boolean;
  /** A short description for failure messages. */
  what: string;
}

type Mutator = (rng: Rng, l: Layout, b: Uint8Array) => Mutant;

const MAX_U64 = (1n << 64n) - 1n;

function dvOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
function put32(b: Uint8Array, pos: number, v: number): void {
  if (pos + 4 <= b.length) dvOf(b).setUint32(pos, v >>> 0);
}
function put64(b: Uint8Array, pos: number, v: bigint | number): void {
  if (pos + 8 <= b.length) dvOf(b).setBigUint64(pos, BigInt.asUintN(64, BigInt(v)));
}
function get64(b: Uint8Array, pos: number): bigint {
  return dvOf(b).getBigUint64(pos);
}
/** Bits 9-55 of a table entry. */
function offsetOf(e: bigint): number {
  return Number(e & 0x00fffffffffffe00n);
}
function hex(v: bigint | number): string {
  return '0x' + BigInt(v).toString(16);
}

/** Cluster-aligned offsets at or past the end of the file (some absurd). */
function pastEof(rng: Rng, l: Layout, len: number): number {
  const end = Math.ceil(len / l.cs) * l.cs;
  return rng.pick([end, end + l.cs, end + rng.range(1, 1000) * l.cs, 2 ** 40, 2 ** 55 - l.cs, Math.floor(2 ** rng.range(20, 55) / l.cs) * l.cs]);
}

/** A 64-bit value from a list of edge cases, or random. */
function interesting64(rng: Rng, l: Layout, len: number): bigint {
  const c = l.cs;
  const vals: (number | bigint)[] = [0, 1, 8, 512, c - 8, c, c + 512, 2 * c, len - c, len, len + c, 2 ** 31, 2 ** 32, 2 ** 32 - 512, 2 ** 47, 2 ** 53 - c, 2 ** 53, 2n ** 56n - BigInt(c), 2n ** 63n, MAX_U64, rng.pick(l.metadata), rng.pick(l.dataClusters.length ? l.dataClusters : [c])];
  if (rng.chance(0.25)) return rng.u64() >> BigInt(rng.int(64));
  return BigInt.asUintN(64, BigInt(rng.pick(vals)));
}

function interesting32(rng: Rng, l: Layout, len: number): number {
  const vals = [0, 1, 2, 3, 7, 8, 9, 16, 21, 22, 31, 32, 63, 64, 65, 255, 256, 4096, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xffffffff, Math.floor(len / 8), Math.floor(len / l.cs), Math.floor(len / 8) + 1, (32 << 20) / 8, (32 << 20) / 8 + 1, (8 << 20) / l.cs, (8 << 20) / l.cs + 1];
  if (rng.chance(0.25)) return rng.u32() >>> rng.int(32);
  return rng.pick(vals) >>> 0;
}

function same(b: Uint8Array, what: string, detect = false): Mutant {
  return { bytes: b, detect, what };
}

// ---- truncation ----

const truncate: Mutator = (rng, l, b) => {
  const cut = rng.pick([rng.int(200), rng.int(b.length), Math.floor(rng.int(b.length) / l.cs) * l.cs, b.length - 1, rng.int(l.cs + 512)]);
  // Certain when a cluster with references starts at least a cluster past the new end.
  const detect = l.refcounts.some((r, c) => r > 0 && c * l.cs >= cut + l.cs) || cut < 104;
  return same(b.subarray(0, cut), `truncate at ${cut}`, detect);
};

// ---- header fields ----

const headerVersion: Mutator = (rng, _l, b) => {
  const v = rng.pick([0, 1, 2, 3, 4, 0xffffffff, rng.u32()]);
  put32(b, 4, v);
  return same(b, `version ${v}`);
};

const headerClusterBits: Mutator = (rng, _l, b) => {
  const v = rng.chance(0.8) ? rng.range(0, 32) : rng.u32();
  put32(b, 20, v);
  return same(b, `cluster_bits ${v}`);
};

const headerSize: Mutator = (rng, l, b) => {
  const dv = dvOf(b);
  const span = l.cs * (l.cs / l.entrySize);
  if (rng.chance(0.3)) {
    // Largest size the L1 table allowed to grow inside the file covers: absurd but accepted.
    const room = Math.floor((b.length - l.header.l1TableOffset) / 8);
    // Mostly a modest table: every entry the file happens to hold is followed by the check.
    const n = rng.range(1, Math.max(1, Math.min(room, rng.chance(0.1) ? (32 << 20) / 8 : 256)));
    dv.setUint32(36, n);
    const size = n * span - rng.int(span);
    put64(b, 24, size);
    return same(b, `size ${size} with l1_size ${n}`);
  }
  const v = rng.pick([0n, 1n, 511n, BigInt(l.header.size - 1), BigInt(l.header.size + 1), BigInt(l.header.l1Size * span), BigInt(l.header.l1Size * span + 1), 2n ** 53n, 2n ** 62n, MAX_U64, interesting64(rng, l, b.length)]);
  put64(b, 24, v);
  return same(b, `size ${hex(v)}`);
};

const headerL1: Mutator = (rng, l, b) => {
  const what: string[] = [];
  if (rng.chance(0.6)) {
    const v = interesting32(rng, l, b.length);
    put32(b, 36, v);
    what.push(`l1_size ${v}`);
  }
  if (what.length === 0 || rng.chance(0.6)) {
    const v = rng.chance(0.3) ? BigInt(rng.pick(l.metadata)) + BigInt(rng.pick([0, 8, 512, l.cs / 2])) : interesting64(rng, l, b.length);
    put64(b, 40, v);
    what.push(`l1_table_offset ${hex(v)}`);
  }
  return same(b, what.join(', '));
};

const headerRefcountTable: Mutator = (rng, l, b) => {
  const what: string[] = [];
  if (rng.chance(0.6)) {
    const v = rng.chance(0.5) ? rng.range(0, 4) : interesting32(rng, l, b.length);
    put32(b, 56, v);
    what.push(`refcount_table_clusters ${v}`);
  }
  if (what.length === 0 || rng.chance(0.6)) {
    const v = rng.chance(0.4) ? BigInt(rng.pick(l.metadata)) : interesting64(rng, l, b.length);
    put64(b, 48, v);
    what.push(`refcount_table_offset ${hex(v)}`);
  }
  return same(b, what.join(', '));
};

const headerSnapshots: Mutator = (rng, l, b) => {
  const what: string[] = [];
  if (rng.chance(0.7)) {
    const v = rng.chance(0.5) ? rng.range(0, 40) : interesting32(rng, l, b.length);
    put32(b, 60, v);
    what.push(`nb_snapshots ${v}`);
  }
  if (what.length === 0 || rng.chance(0.6)) {
    const v = rng.chance(0.5) ? BigInt(rng.pick(l.metadata.concat(l.dataClusters))) : interesting64(rng, l, b.length);
    put64(b, 64, v);
    what.push(`snapshots_offset ${hex(v)}`);
  }
  return same(b, what.join(', '));
};

const headerLength: Mutator = (rng, l, b) => {
  const v = rng.pick([0, 72, 100, 103, 104, 105, 108, 112, 120, l.cs - 8, l.cs, l.cs + 8, 0xffffffff, rng.u32() & 0xfff8]);
  put32(b, 100, v);
  if (rng.chance(0.2)) put32(b, 4, 3);
  return same(b, `header_length ${v}`);
};

const headerFeatures: Mutator = (rng, _l, b) => {
  const field = rng.pick([72, 80, 88]);
  const dv = dvOf(b);
  const old = dv.getBigUint64(field);
  let v: bigint;
  switch (rng.int(4)) {
    case 0:
      v = old | (1n << BigInt(rng.int(64)));
      break;
    case 1:
      v = old ^ (1n << BigInt(rng.int(5)));
      break;
    case 2:
      v = rng.u64();
      break;
    default:
      v = BigInt(rng.int(32));
  }
  dv.setBigUint64(field, v);
  if (rng.chance(0.2)) put32(b, 4, 3);
  return same(b, `${field === 72 ? 'incompatible' : field === 80 ? 'compatible' : 'autoclear'} ${hex(v)}`);
};

const headerBacking: Mutator = (rng, l, b) => {
  const what: string[] = [];
  if (rng.chance(0.7)) {
    const v = rng.pick([0n, 1n, 72n, 104n, 112n, BigInt(l.cs - 4), BigInt(l.cs), BigInt(l.cs + 8), 2n ** 40n, MAX_U64, BigInt(rng.int(l.cs + 64))]);
    put64(b, 8, v);
    what.push(`backing_file_offset ${hex(v)}`);
  }
  if (what.length === 0 || rng.chance(0.6)) {
    const v = rng.pick([0, 1, 11, 1023, 1024, 4096, 0xffffffff, rng.int(l.cs * 2)]);
    put32(b, 16, v);
    what.push(`backing_file_size ${v}`);
  }
  if (rng.chance(0.3)) {
    // Garbage name bytes (invalid UTF-8 included).
    const off = Number(get64(b, 8) & 0xffffn);
    for (let i = 0; i < 16 && off + i < Math.min(b.length, l.cs); i++) b[off + i] = rng.int(256);
    what.push('name garbage');
  }
  return same(b, what.join(', '));
};

const headerCompression: Mutator = (rng, l, b) => {
  const v = rng.pick([0, 1, 2, 3, 255, rng.int(256)]);
  if (l.header.version >= 3 && l.header.headerLength > 104) b[104] = v;
  else {
    put32(b, 100, 112);
    b[104] = v;
  }
  const dv = dvOf(b);
  if (rng.chance(0.5)) dv.setBigUint64(72, dv.getBigUint64(72) ^ 8n);
  return same(b, `compression_type ${v}`);
};

const headerRefcountOrder: Mutator = (rng, _l, b) => {
  const v = rng.chance(0.8) ? rng.range(0, 8) : rng.u32();
  put32(b, 96, v);
  if (rng.chance(0.2)) put32(b, 4, rng.pick([2, 3]));
  return same(b, `refcount_order ${v}`);
};

const EXT_TYPES = [0xe2792aca, 0x6803f857, 0x23852875, 0x0537be77, 0x44415441, 0x12345678];

const headerExtensions: Mutator = (rng, l, b) => {
  const start = l.header.version >= 3 ? l.header.headerLength : 72;
  let pos = start;
  const what: string[] = [];
  const n = rng.range(1, 3);
  const end = Math.min(l.cs, b.length);
  for (let i = 0; i < n && pos + 8 <= end; i++) {
    const type = rng.pick(EXT_TYPES);
    const len = rng.chance(0.7) ? rng.int(Math.min(200, end - pos)) : rng.pick([0xffffffff, 0x7ffffff8, end - pos - 7, end]);
    put32(b, pos, type);
    put32(b, pos + 4, len);
    const body = Math.min(len, end - pos - 8);
    for (let k = 0; k < body; k++) b[pos + 8 + k] = rng.chance(0.5) ? 0 : rng.int(256);
    if (type === 0x23852875 && body >= 24) {
      // Bitmaps: nb_bitmaps, directory size and offset from the edge cases, bitmaps bit set.
      put32(b, pos + 8, rng.pick([0, 1, 2, 65535, rng.u32()]));
      put64(b, pos + 16, rng.pick([0n, 24n, 64n << 20n, (64n << 20n) + 1n, BigInt(b.length), interesting64(rng, l, b.length)]));
      put64(b, pos + 24, rng.chance(0.5) ? BigInt(rng.pick(l.metadata)) : interesting64(rng, l, b.length));
      put64(b, 88, 1n);
      if (l.header.version < 3) put32(b, 4, 3);
    }
    what.push(`ext ${type.toString(16)} len ${len}`);
    pos += 8 + Math.ceil(Math.min(len, 1 << 20) / 8) * 8;
  }
  return same(b, what.join(', '));
};

// ---- L1 entries ----

const l1Entry: Mutator = (rng, l, b) => {
  const t = rng.pick(l.l1Tables.filter((x) => x.size > 0));
  const i = rng.int(t.size);
  const pos = t.offset + i * 8;
  const old = get64(b, pos);
  const oldOff = offsetOf(old);
  let v: bigint;
  let detect = true;
  let how: string;
  switch (rng.int(8)) {
    case 0:
      how = 'unaligned';
      v = BigInt((oldOff || l.cs) + 512 * rng.range(1, Math.max(1, l.cs / 512 - 1)));
      if (l.cs === 512) v = old | 0x100n; // no room for an unaligned offset: a reserved bit
      break;
    case 1:
      how = 'past EOF';
      v = BigInt(pastEof(rng, l, b.length)) | (old & (1n << 63n));
      break;
    case 2: {
      how = 'overlapping metadata';
      const target = rng.pick(l.metadata.filter((m) => m !== 0 && m !== oldOff));
      v = BigInt(target);
      break;
    }
    case 3:
      how = 'reserved bits';
      v = old | (1n << BigInt(rng.pick([0, 1, 5, 8, 56, 60, 62])));
      detect = old !== 0n;
      break;
    case 4:
      how = 'copied flag flipped';
      v = old ^ (1n << 63n);
      detect = t.active && old !== 0n;
      break;
    case 5:
      how = 'cleared';
      v = 0n;
      detect = old !== 0n;
      break;
    case 6: {
      how = 'another L2 table';
      const other = l.l2Tables.filter((x) => x !== oldOff);
      v = BigInt(other.length ? rng.pick(other) : l.l2Tables[0]!);
      detect = Number(v) !== oldOff;
      break;
    }
    default:
      how = 'random';
      v = interesting64(rng, l, b.length);
      detect = false;
  }
  put64(b, pos, v);
  if (v === old) detect = false;
  return same(b, `L1 ${t.active ? 'active' : 'snapshot'} [${i}] ${hex(old)} -> ${hex(v)} (${how})`, detect);
};

// ---- L2 entries ----

function pickSlot(rng: Rng, l: Layout, kinds: L2Slot['kind'][]): L2Slot {
  const pool = l.l2Slots.filter((s) => kinds.includes(s.kind));
  return pool.length ? rng.pick(pool) : rng.pick(l.l2Slots);
}

const l2Entry: Mutator = (rng, l, b) => {
  const s = rng.chance(0.85) ? pickSlot(rng, l, ['data', 'compressed', 'zero']) : rng.pick(l.l2Slots);
  const old = get64(b, s.pos);
  const oldOff = s.kind === 'compressed' ? -1 : offsetOf(old);
  const zeroWordOld = l.extended ? dvOf(b).getUint32(s.pos + 8) : 0;
  let v: bigint;
  let detect = true;
  let how: string;
  // A host cluster offset keeps (extended) a data bitmap so the entry still maps data.
  const dataBitmap = (): void => {
    if (l.extended) {
      put32(b, s.pos + 8, 0);
      put32(b, s.pos + 12, rng.chance(0.5) ? 0xffffffff : (rng.u32() | 1) >>> 0);
    }
  };
  switch (rng.int(8)) {
    case 0:
      how = 'unaligned';
      v = (1n << 63n) | BigInt((oldOff > 0 ? oldOff : l.cs) + 512 * rng.range(1, Math.max(1, l.cs / 512 - 1)));
      if (l.cs === 512) v = (1n << 63n) | BigInt(oldOff > 0 ? oldOff : l.cs) | 0x2n; // a reserved bit instead
      dataBitmap();
      break;
    case 1:
      how = 'past EOF';
      v = (1n << 63n) | BigInt(pastEof(rng, l, b.length));
      dataBitmap();
      break;
    case 2: {
      how = 'overlapping metadata';
      v = (1n << 63n) | BigInt(rng.pick(l.metadata.filter((m) => m !== 0)));
      dataBitmap();
      break;
    }
    case 3: {
      how = 'duplicate data cluster';
      // Not the cluster the entry already names (nor, for a compressed one, those its data touches).
      const x = BigInt(62 - (l.header.clusterBits - 8));
      const cOff = Number(old & ((1n << x) - 1n));
      const cEnd = cOff + Number((old & ((1n << 62n) - 1n)) >> x) * 512 + 512;
      const touched = (d: number): boolean => s.kind === 'compressed' && d + l.cs > cOff && d < cEnd;
      const others = l.dataClusters.filter((d) => d % l.cs === 0 && d !== oldOff && !touched(d));
      v = (1n << 63n) | BigInt(others.length ? rng.pick(others) : l.cs);
      dataBitmap();
      break;
    }
    case 4:
      how = 'reserved bits';
      v = old | (1n << BigInt(rng.pick([1, 2, 8, 56, 58, 61])));
      detect = s.kind !== 'compressed' && (old & 0x3f000000000001fen) === 0n && !(l.extended && old === 0n && zeroWordOld !== 0);
      break;
    case 5:
      how = 'copied flag flipped';
      v = old ^ (1n << 63n);
      detect = s.active && s.kind === 'data';
      break;
    case 6:
      how = 'cleared';
      v = 0n;
      if (l.extended) {
        put32(b, s.pos + 8, 0);
        put32(b, s.pos + 12, 0);
      }
      detect = s.kind === 'data' || s.kind === 'compressed' || (s.kind === 'zero' && oldOff !== 0);
      break;
    default:
      how = 'random';
      v = interesting64(rng, l, b.length);
      detect = false;
  }
  put64(b, s.pos, v);
  if (v === old) detect = false;
  return same(b, `L2 ${s.kind} at ${s.pos}: ${hex(old)} -> ${hex(v)} (${how})`, detect);
};

// ---- compressed descriptors ----

const compressed: Mutator = (rng, l, b) => {
  const s = rng.chance(0.5) ? pickSlot(rng, l, ['compressed']) : rng.pick(l.l2Slots);
  const x = 62 - (l.header.clusterBits - 8);
  const maxSectors = 2 ** (l.header.clusterBits - 8);
  const compressedOffsets = l.dataClusters.filter((d) => d % 512 !== 0 || l.l2Slots.some((t) => t.kind === 'compressed'));
  const host = rng.pick([
    rng.int(b.length),
    rng.int(l.cs),
    b.length - rng.int(600),
    b.length + rng.int(3 * l.cs),
    rng.pick(l.metadata) + rng.int(l.cs),
    rng.pick(compressedOffsets.length ? compressedOffsets : [l.cs]),
    Math.min(Number(2n ** BigInt(x) - 1n), 2 ** rng.range(20, 52)),
  ]);
  const sectors = rng.pick([0, 1, 2, maxSectors - 1, rng.int(maxSectors)]);
  let v = (1n << 62n) | (BigInt(sectors) << BigInt(x)) | (BigInt(host) & ((1n << BigInt(x)) - 1n));
  let detect = host >= Math.ceil(b.length / l.cs) * l.cs + l.cs;
  let what = `compressed at ${s.pos}: host ${host}, ${sectors + 1} sectors`;
  if (rng.chance(0.15)) {
    v |= 1n << 63n;
    detect = true;
    what += ', copied flag';
  }
  if (l.extended) {
    const bitmap = rng.chance(0.5) ? 0n : rng.u64();
    put64(b, s.pos + 8, bitmap);
    if (bitmap !== 0n) detect = true;
  }
  put64(b, s.pos, v);
  return same(b, what, detect);
};

/** Garbage inside the compressed data a descriptor names (zlib or zstd): decoding must fail cleanly. */
const compressedData: Mutator = (rng, l, b) => {
  const pool = l.l2Slots.filter((t) => t.kind === 'compressed');
  if (!pool.length) return compressed(rng, l, b);
  const s = rng.pick(pool);
  const bits = l.header.clusterBits;
  const x = 62 - (bits - 8);
  const e = get64(b, s.pos);
  const host = Number(e & ((1n << BigInt(x)) - 1n));
  const sectors = Number((e >> BigInt(x)) & ((1n << BigInt(bits - 8)) - 1n));
  const end = Math.min(b.length, (Math.floor(host / 512) + sectors + 1) * 512);
  const len = end - host;
  if (len <= 0) return same(b, `compressed data at ${host}: nothing to damage`);
  let what: string;
  switch (rng.int(4)) {
    case 0: {
      const n = rng.range(1, 8);
      for (let i = 0; i < n; i++) b[host + rng.int(len)] = rng.int(256);
      what = `${n} random bytes`;
      break;
    }
    case 1: {
      const from = rng.int(len);
      const n = rng.range(1, len - from);
      for (let i = from; i < from + n; i++) b[host + i] = rng.int(256);
      what = `random run at +${from}, ${n} bytes`;
      break;
    }
    case 2:
      for (let i = 0; i < len; i++) b[host + i] = rng.int(256);
      what = 'all random';
      break;
    default: {
      const n = Math.min(len, rng.range(1, 16));
      b.fill(0, host, host + n);
      what = `first ${n} bytes zeroed`;
    }
  }
  return same(b, `compressed data at ${host}+${len}: ${what}`);
};

// ---- extended L2 subcluster bitmaps ----

const extL2Bitmap: Mutator = (rng, l, b) => {
  if (!l.extended) return l2Entry(rng, l, b);
  const s = rng.chance(0.8) ? pickSlot(rng, l, ['data', 'zero', 'unallocated']) : rng.pick(l.l2Slots);
  const hasHost = s.kind !== 'compressed' && offsetOf(get64(b, s.pos)) !== 0;
  let zero: number;
  let alloc: number;
  let detect: boolean;
  switch (rng.int(3)) {
    case 0: {
      // A subcluster both allocated and zero.
      const bit = (1 << rng.int(32)) >>> 0;
      alloc = (rng.u32() | bit) >>> 0;
      zero = (rng.u32() | bit) >>> 0;
      detect = s.kind !== 'compressed' && (hasHost || alloc !== 0);
      break;
    }
    case 1:
      // Data subclusters without a host cluster.
      put64(b, s.pos, 0n);
      alloc = (rng.u32() | 1) >>> 0;
      zero = 0;
      detect = true;
      break;
    default:
      alloc = rng.u32();
      zero = rng.u32();
      detect = false;
  }
  put32(b, s.pos + 8, zero);
  put32(b, s.pos + 12, alloc);
  return same(b, `ext L2 bitmap at ${s.pos}: alloc ${hex(alloc)} zero ${hex(zero)}`, detect);
};

// ---- refcount table and blocks ----

const refcountTable: Mutator = (rng, l, b) => {
  const rt = l.header.refcountTableOffset;
  const entries = (l.header.refcountTableClusters * l.cs) / 8;
  const i = rng.chance(0.7) ? 0 : rng.int(Math.min(entries, 64));
  const pos = rt + i * 8;
  const old = get64(b, pos);
  let v: bigint;
  let detect = true;
  let how: string;
  switch (rng.int(8)) {
    case 0:
      how = 'unaligned';
      v = l.cs === 512 ? old | BigInt(rng.range(1, 511)) : BigInt(Number(old) + 512 * rng.range(1, l.cs / 512 - 1));
      if (old === 0n && l.cs === 512) detect = true;
      break;
    case 1:
      how = 'past EOF';
      v = BigInt(pastEof(rng, l, b.length));
      break;
    case 2:
      how = 'self-referential (the refcount table)';
      v = BigInt(rt);
      break;
    case 3: {
      how = 'loop through another block';
      // Two table entries naming the same block.
      const blk = old !== 0n ? old : BigInt(l.refcountBlocks[0]!);
      const other = (i + 1 + rng.int(3)) % entries;
      put64(b, rt + other * 8, blk);
      v = blk;
      detect = true;
      break;
    }
    case 4: {
      how = 'overlapping metadata';
      v = BigInt(rng.pick(l.metadata.filter((m) => BigInt(m) !== old)));
      detect = v !== 0n;
      break;
    }
    case 5:
      how = 'reserved bits';
      v = old | BigInt(rng.range(1, 511));
      break;
    case 6:
      how = 'cleared';
      v = 0n;
      detect = old !== 0n;
      break;
    default:
      how = 'random';
      v = interesting64(rng, l, b.length);
      detect = false;
  }
  put64(b, pos, v);
  if (v === old && how !== 'loop through another block') detect = false;
  return same(b, `refcount table [${i}] ${hex(old)} -> ${hex(v)} (${how})`, detect);
};

function setRefcount(b: Uint8Array, l: Layout, cluster: number, v: number): boolean {
  const bits = l.refcountBits;
  const perBlock = (l.cs * 8) / bits;
  const t = Math.floor(cluster / perBlock);
  const block = offsetOf(get64(b, l.header.refcountTableOffset + t * 8));
  if (block === 0 || block + l.cs > b.length) return false;
  const i = cluster - t * perBlock;
  const dv = dvOf(b);
  switch (bits) {
    case 64:
      dv.setBigUint64(block + i * 8, BigInt(v));
      break;
    case 32:
      dv.setUint32(block + i * 4, v);
      break;
    case 16:
      dv.setUint16(block + i * 2, v);
      break;
    case 8:
      b[block + i] = v;
      break;
    default: {
      const bit = i * bits;
      const mask = ((1 << bits) - 1) << (bit & 7);
      b[block + (bit >> 3)] = (b[block + (bit >> 3)]! & ~mask) | ((v << (bit & 7)) & mask);
    }
  }
  return true;
}

const refcountBlock: Mutator = (rng, l, b) => {
  const max = l.refcountBits >= 32 ? 0xffffffff : 2 ** l.refcountBits - 1;
  const n = rng.range(1, 4);
  const what: string[] = [];
  const changed = new Map<number, number>();
  for (let k = 0; k < n; k++) {
    const c = rng.chance(0.7) ? rng.int(l.refcounts.length) : rng.int(l.refcounts.length + 64);
    const old = l.refcounts[c] ?? 0;
    const v = rng.pick([0, 1, 2, max, old + 1, Math.max(0, old - 1), rng.int(max + 1)]) % (max + 1);
    if (setRefcount(b, l, c, v) && c < l.refcounts.length) changed.set(c, v);
    what.push(`cluster ${c}: ${old} -> ${v}`);
  }
  const detect = [...changed].some(([c, v]) => v !== l.refcounts[c]);
  return same(b, `refcounts ${what.join(', ')}`, detect);
};

const refcountSelf: Mutator = (rng, l, b) => {
  // The refcount block's own entry, or the table's, set to 0 (a block that does not count itself)
  // or to more than one.
  const target = rng.pick([...l.refcountBlocks, l.header.refcountTableOffset]);
  const c = target / l.cs;
  const max = l.refcountBits >= 32 ? 0xffffffff : 2 ** l.refcountBits - 1;
  const v = rng.pick([0, 2, 3, max]) % (max + 1);
  const detect = setRefcount(b, l, c, v) && v !== l.refcounts[c];
  return same(b, `refcount of metadata cluster ${c} -> ${v}`, detect);
};

// ---- bit flips ----

const bitflip: Mutator = (rng, l, b) => {
  const n = rng.range(1, 8);
  const spots: string[] = [];
  for (let k = 0; k < n; k++) {
    const base = rng.pick(l.metadata);
    const span = base === 0 ? rng.pick([120, l.cs]) : l.cs;
    const pos = base + rng.int(span);
    if (pos >= b.length) continue;
    const bit = rng.int(8);
    b[pos]! ^= 1 << bit;
    spots.push(`${pos}.${bit}`);
  }
  return same(b, `bit flips ${spots.join(' ')}`);
};

// ---- snapshot table ----

const snapshotTable: Mutator = (rng, l, b) => {
  const st = l.snapshotTable;
  if (!st || rng.chance(0.15)) {
    // Point the header at something that is not a snapshot table.
    const n = rng.pick([1, 2, 3, 100, 65536, 65537]);
    put32(b, 60, n);
    const off = rng.pick([...l.metadata, ...l.dataClusters.filter((d) => d % l.cs === 0), Math.floor(b.length / l.cs) * l.cs]);
    put64(b, 64, off);
    return same(b, `${n} snapshots at ${off}`);
  }
  const what: string[] = [];
  let detect = false;
  // Entries start at the table's offset; fields of the first entry, or garbage anywhere in it.
  const e = st.offset;
  switch (rng.int(7)) {
    case 0: {
      const v = rng.chance(0.5) ? BigInt(rng.pick(l.metadata) + rng.pick([8, 512, 1])) : interesting64(rng, l, b.length);
      put64(b, e, v);
      what.push(`l1_table_offset ${hex(v)}`);
      detect = Number(v % BigInt(l.cs)) !== 0 && v < 2n ** 53n;
      break;
    }
    case 1: {
      const v = rng.chance(0.7) ? rng.pick([0, 1, 2, 64, 4096, (32 << 20) / 8 + 1, 0xffffffff]) : interesting32(rng, l, b.length);
      put32(b, e + 8, v);
      what.push(`l1_size ${v}`);
      detect = v > (32 << 20) / 8;
      break;
    }
    case 2: {
      const id = rng.pick([0, 1, 0xffff, rng.int(0x10000)]);
      const name = rng.pick([0, 1, 0xffff, rng.int(0x10000)]);
      dvOf(b).setUint16(e + 12, id);
      dvOf(b).setUint16(e + 14, name);
      what.push(`id_str_size ${id} name_size ${name}`);
      break;
    }
    case 3: {
      const v = rng.pick([0, 8, 16, 24, 1023, 1024, 1025, 0xffffffff, rng.u32()]);
      put32(b, e + 36, v);
      what.push(`extra_data_size ${v}`);
      break;
    }
    case 4: {
      const v = rng.pick([l.header.nbSnapshots + 1, l.header.nbSnapshots + 50, 65536, 65537, 0xffffffff]);
      put32(b, 60, v);
      what.push(`nb_snapshots ${v}`);
      break;
    }
    case 5: {
      const v = st.offset + rng.pick([8, 40, 512, l.cs]);
      put64(b, 64, v);
      what.push(`snapshots_offset ${v}`);
      break;
    }
    default: {
      const from = st.offset + rng.int(st.bytes);
      const len = rng.range(1, 64);
      for (let i = from; i < Math.min(b.length, from + len); i++) b[i] = rng.int(256);
      what.push(`garbage at ${from}+${len}`);
    }
  }
  return same(b, `snapshot table: ${what.join(', ')}`, detect);
};

export const KINDS: Record<string, { weight: number; fn: Mutator }> = {
  truncate: { weight: 6, fn: truncate },
  'header.version': { weight: 2, fn: headerVersion },
  'header.cluster_bits': { weight: 3, fn: headerClusterBits },
  'header.size': { weight: 4, fn: headerSize },
  'header.l1': { weight: 4, fn: headerL1 },
  'header.refcount_table': { weight: 4, fn: headerRefcountTable },
  'header.snapshots': { weight: 3, fn: headerSnapshots },
  'header.header_length': { weight: 2, fn: headerLength },
  'header.features': { weight: 3, fn: headerFeatures },
  'header.backing': { weight: 3, fn: headerBacking },
  'header.compression_type': { weight: 2, fn: headerCompression },
  'header.refcount_order': { weight: 2, fn: headerRefcountOrder },
  'header.extensions': { weight: 3, fn: headerExtensions },
  'l1.entry': { weight: 8, fn: l1Entry },
  'l2.entry': { weight: 10, fn: l2Entry },
  'l2.compressed': { weight: 8, fn: compressed },
  'compressed.data': { weight: 4, fn: compressedData },
  'l2.ext_bitmap': { weight: 4, fn: extL2Bitmap },
  'refcount.table': { weight: 6, fn: refcountTable },
  'refcount.block': { weight: 6, fn: refcountBlock },
  'refcount.self': { weight: 3, fn: refcountSelf },
  bitflip: { weight: 8, fn: bitflip },
  'snapshot.table': { weight: 6, fn: snapshotTable },
  multi: { weight: 6, fn: () => { throw new Error('multi is composed in mutate()'); } },
};

const NAMES = Object.keys(KINDS);
const TOTAL = NAMES.reduce((a, k) => a + KINDS[k]!.weight, 0);

export function pickKind(rng: Rng): string {
  let r = rng.int(TOTAL);
  for (const k of NAMES) {
    r -= KINDS[k]!.weight;
    if (r < 0) return k;
  }
  return NAMES[NAMES.length - 1]!;
}

/** Applies mutation `kind` to a copy of the base. */
export function mutate(rng: Rng, kind: string, l: Layout): Mutant {
  const copy = l.bytes.slice();
  if (kind !== 'multi') return KINDS[kind]!.fn(rng, l, copy);
  const parts: string[] = [];
  let b: Uint8Array = copy;
  const n = rng.range(2, 4);
  for (let i = 0; i < n; i++) {
    let k = pickKind(rng);
    while (k === 'multi' || (k === 'truncate' && i < n - 1)) k = pickKind(rng);
    const m = KINDS[k]!.fn(rng, l, b);
    b = m.bytes;
    parts.push(`${k}: ${m.what}`);
  }
  return { bytes: b, detect: false, what: parts.join(' + ') };
}
