// A writer for cpio archives in the "newc" (SVR4, no CRC) format, the one the Linux kernel unpacks
// as an initramfs. Each member is a 110-byte ASCII header ("070701" and thirteen 8-digit hex
// fields), the NUL-terminated name padded to 4 bytes, then the data padded to 4 bytes; the
// archive ends with a member named "TRAILER!!!". Everything is built in memory: no root needed
// for device nodes or ownership, and the output is byte-for-byte reproducible.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array | string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number; mode?: number };

export interface CpioOptions {
  /** Modification time of every member, seconds since 1970 (default 0: reproducible). */
  mtime?: number;
  uid?: number;
  gid?: number;
}

// st_mode file type bits.
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
const enc = new TextEncoder();

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function field(v: number, what: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`cpio: ${what} ${v} does not fit in 32 bits`);
  return v.toString(16).padStart(8, '0');
}

/** Archive names are relative ("bin/sh"); a leading "/" or "./" is dropped. */
function normalise(path: string): string {
  let p = path.replace(/^(\.\/|\/)+/, '');
  p = p.replace(/\/+$/, '');
  if (p === '' || p.split('/').some((c) => c === '..' || c === '')) throw new Error(`cpio: bad member name '${path}'`);
  return p;
}

interface Member {
  name: string;
  mode: number;
  data: Uint8Array;
  rdevMajor: number;
  rdevMinor: number;
  nlink: number;
}

function toMember(e: CpioEntry): Member {
  const name = normalise(e.path);
  switch (e.type) {
    case 'dir':
      return { name, mode: S_IFDIR | (e.mode ?? 0o755), data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0, nlink: 2 };
    case 'file': {
      const data = typeof e.data === 'string' ? enc.encode(e.data) : e.data;
      return { name, mode: S_IFREG | (e.mode ?? 0o644), data, rdevMajor: 0, rdevMinor: 0, nlink: 1 };
    }
    case 'symlink':
      // A symlink's data is its target, without a NUL.
      return { name, mode: S_IFLNK | 0o777, data: enc.encode(e.target), rdevMajor: 0, rdevMinor: 0, nlink: 1 };
    case 'char':
    case 'block':
      return {
        name,
        mode: (e.type === 'char' ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600),
        data: new Uint8Array(0),
        rdevMajor: e.major,
        rdevMinor: e.minor,
        nlink: 1,
      };
  }
}

function header(ino: number, m: Member, opts: Required<CpioOptions>, nameBytes: number): string {
  return (
    MAGIC +
    field(ino, 'inode') +
    field(m.mode, 'mode') +
    field(opts.uid, 'uid') +
    field(opts.gid, 'gid') +
    field(m.nlink, 'nlink') +
    field(opts.mtime, 'mtime') +
    field(m.data.length, 'file size') +
    field(0, 'devmajor') +
    field(0, 'devminor') +
    field(m.rdevMajor, 'rdevmajor') +
    field(m.rdevMinor, 'rdevminor') +
    field(nameBytes, 'name size') +
    field(0, 'check')
  );
}

/**
 * The archive for `entries`, in the given order (parents should come before their children, as
 * the kernel creates members in archive order). Duplicate names are an error.
 */
export function writeCpio(entries: readonly CpioEntry[], options: CpioOptions = {}): Uint8Array {
  const opts: Required<CpioOptions> = { mtime: options.mtime ?? 0, uid: options.uid ?? 0, gid: options.gid ?? 0 };
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    total += b.length;
  };
  const seen = new Set<string>();
  const emit = (ino: number, m: Member) => {
    const name = enc.encode(m.name + '\0');
    push(enc.encode(header(ino, m, opts, name.length)));
    push(name);
    push(new Uint8Array(pad4(HEADER_SIZE + name.length)));
    push(m.data);
    push(new Uint8Array(pad4(m.data.length)));
  };
  entries.forEach((e, i) => {
    const m = toMember(e);
    if (seen.has(m.name)) throw new Error(`cpio: '${m.name}' is in the archive twice`);
    seen.add(m.name);
    emit(i + 1, m);
  });
  emit(0, { name: TRAILER, mode: 0, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0, nlink: 1 });
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One member as read back by readCpio (for tests and for checking built images). */
export interface CpioMember {
  name: string;
  mode: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Uint8Array;
}

/** Parse a newc archive (up to its trailer); throws on anything malformed. */
export function readCpio(archive: Uint8Array): CpioMember[] {
  const dec = new TextDecoder();
  const out: CpioMember[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_SIZE > archive.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const h = dec.decode(archive.subarray(off, off + HEADER_SIZE));
    if (!h.startsWith(MAGIC)) throw new Error(`cpio: bad magic at offset ${off}`);
    const f = (i: number) => parseInt(h.slice(6 + 8 * i, 14 + 8 * i), 16);
    const mode = f(1);
    const size = f(6);
    const nameSize = f(11);
    const nameEnd = off + HEADER_SIZE + nameSize;
    if (nameSize < 1 || nameEnd > archive.length) throw new Error(`cpio: truncated name at offset ${off}`);
    const name = dec.decode(archive.subarray(off + HEADER_SIZE, nameEnd - 1));
    const dataStart = nameEnd + pad4(HEADER_SIZE + nameSize);
    if (dataStart + size > archive.length) throw new Error(`cpio: truncated data of '${name}'`);
    if (name === TRAILER) return out;
    out.push({ name, mode, rdevMajor: f(9), rdevMinor: f(10), data: archive.slice(dataStart, dataStart + size) });
    off = dataStart + size + pad4(size);
  }
}
