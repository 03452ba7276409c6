// The `file` protocol: a host file through node:fs's positional calls (pread/pwrite, fdatasync on
// flush). The callback API is used under a thin promise: FileHandle's promise methods cost about
// twice as much per request, which shows at 4 KiB. Node has no fallocate() or SEEK_HOLE, so
// preallocation=falloc writes zeroes like =full, discard is a no-op and block status reports
// every byte as data (a file with no blocks at all reads as one hole).
import { close, fdatasync, fstat, ftruncate, open, read, readv, write, writev, type Stats } from 'node:fs';
import { BlockError, errnoText, type BlockErrorCode } from './errors.ts';
import { type BlockNode, type BlockStatus, type Piece, type Preallocation } from './driver.ts';

const ZERO_CHUNK = 1 << 20;

/** Converts a Node fs error into a BlockError carrying the errno code. */
export function hostError(e: unknown, what: string): BlockError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const known: BlockErrorCode[] = ['ENOENT', 'EACCES', 'EROFS', 'ENOSPC', 'EFBIG', 'EINVAL'];
  const c = known.includes(code as BlockErrorCode) ? (code as BlockErrorCode) : 'EIO';
  // strerror()-style text, as qemu prints it ("No such file or directory").
  const msg = code ? errnoText(code) : e instanceof Error ? e.message : String(e);
  return new BlockError(`${what}: ${msg}`, c);
}

/** pread(2): bytes read (0 at end of file). */
function pread(fd: number, buf: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, at, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** pwrite(2): bytes written. */
function pwrite(fd: number, buf: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, at, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** preadv(2) / pwritev(2): bytes transferred. */
function vectored(op: typeof readv | typeof writev, fd: number, bufs: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => op(fd, bufs, position, (e: NodeJS.ErrnoException | null, n: number) => (e ? reject(e) : resolve(n))));
}

/** At most this many buffers per vectored call (Linux's IOV_MAX is 1024). */
const MAX_IOV = 1024;

function call<T>(fn: (cb: (e: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((e, v) => (e ? reject(e) : resolve(v as T))));
}

function openFd(filename: string, flags: string): Promise<number> {
  return call<number>((cb) => open(filename, flags, cb));
}

export class FileNode implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  private size: number;
  private closed = false;

  private constructor(
    readonly filename: string,
    private readonly fd: number,
    readonly readOnly: boolean,
    size: number,
    /** cache.no-flush (qemu's cache=unsafe): flushes return at once, nothing is synced. */
    private readonly noFlush = false,
  ) {
    this.size = size;
  }

  static async open(filename: string, readOnly: boolean, opts: { noFlush?: boolean } = {}): Promise<FileNode> {
    let fd: number;
    try {
      fd = await openFd(filename, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw hostError(e, `Could not open '${filename}'`);
    }
    try {
      const st = await call<Stats>((cb) => fstat(fd, cb));
      if (st.isDirectory()) throw new BlockError(`'${filename}' is a directory`, 'EINVAL');
      return new FileNode(filename, fd, readOnly, st.size, opts.noFlush ?? false);
    } catch (e) {
      await call((cb) => close(fd, cb)).catch(() => {});
      throw e instanceof BlockError ? e : hostError(e, `Could not stat '${filename}'`);
    }
  }

  /** Creates (or truncates) a host file of `size` bytes; returns it opened read-write. */
  static async create(filename: string, size: number, prealloc: Preallocation = 'off'): Promise<FileNode> {
    let fd: number;
    try {
      fd = await openFd(filename, 'w+');
    } catch (e) {
      throw hostError(e, `Could not create '${filename}'`);
    }
    const node = new FileNode(filename, fd, false, 0);
    try {
      await node.truncate(size, prealloc);
    } catch (e) {
      await node.close();
      throw e;
    }
    return node;
  }

  length(): number {
    return this.size;
  }

  /** One pread and one promise in the usual case (the rest of a short read follows, past EOF: zeroes). */
  read(offset: number, buf: Uint8Array): Promise<void> {
    try {
      this.check(offset, buf.length, false);
      this.ensureOpen('read');
    } catch (e) {
      return Promise.reject(e);
    }
    if (buf.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      read(this.fd, buf, 0, buf.length, offset, (e, n) => {
        if (e) reject(hostError(e, `${this.filename}: read failed`));
        else if (n === buf.length) resolve();
        else if (n === 0) {
          buf.fill(0); // past EOF reads as zeroes
          resolve();
        } else this.readRest(offset, buf, n).then(resolve, reject);
      });
    });
  }

  private async readRest(offset: number, buf: Uint8Array, done: number): Promise<void> {
    while (done < buf.length) {
      let n: number;
      try {
        n = await pread(this.fd, buf, done, buf.length - done, offset + done);
      } catch (e) {
        throw hostError(e, `${this.filename}: read failed`);
      }
      if (n === 0) break;
      done += n;
    }
    if (done < buf.length) buf.fill(0, done); // past EOF reads as zeroes
  }

  /** One pwrite and one promise in the usual case. */
  write(offset: number, data: Uint8Array): Promise<void> {
    try {
      this.check(offset, data.length, true);
      this.ensureOpen('write');
    } catch (e) {
      return Promise.reject(e);
    }
    if (data.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      write(this.fd, data, 0, data.length, offset, (e, n) => {
        if (e) return reject(hostError(e, `${this.filename}: write failed`));
        const done = (): void => {
          if (offset + data.length > this.size) this.size = offset + data.length;
          resolve();
        };
        if (n === data.length) done();
        else this.writeRest(offset, data, n).then(done, reject);
      });
    });
  }

  private async writeRest(offset: number, data: Uint8Array, done: number): Promise<void> {
    while (done < data.length) {
      try {
        done += await pwrite(this.fd, data, done, data.length - done, offset + done);
      } catch (e) {
        throw hostError(e, `${this.filename}: write failed`);
      }
    }
  }

  /** Pieces adjacent in the file go to the kernel as one preadv. */
  readMany(pieces: readonly Piece[]): Promise<void> {
    return this.vectoredMany(pieces, false);
  }

  /** Pieces adjacent in the file go to the kernel as one pwritev. */
  writeMany(pieces: readonly Piece[]): Promise<void> {
    return this.vectoredMany(pieces, true);
  }

  private async vectoredMany(pieces: readonly Piece[], writing: boolean): Promise<void> {
    const parts: Promise<void>[] = [];
    for (let i = 0; i < pieces.length; ) {
      const start = pieces[i]!.offset;
      let end = start + pieces[i]!.data.length;
      let j = i + 1;
      while (j < pieces.length && j - i < MAX_IOV && pieces[j]!.offset === end) end += pieces[j++]!.data.length;
      parts.push(j === i + 1 ? (writing ? this.write(start, pieces[i]!.data) : this.read(start, pieces[i]!.data)) : this.transferRun(pieces.slice(i, j), writing));
      i = j;
    }
    await Promise.all(parts);
  }

  /** One vectored call for adjacent pieces; anything it leaves (end of file, short I/O) piece by piece. */
  private async transferRun(run: Piece[], writing: boolean): Promise<void> {
    const start = run[0]!.offset;
    const total = run.reduce((n, p) => n + p.data.length, 0);
    this.check(start, total, writing);
    this.ensureOpen(writing ? 'write' : 'read');
    let done: number;
    try {
      done = await vectored(writing ? writev : readv, this.fd, run.map((p) => p.data), start);
    } catch (e) {
      throw hostError(e, `${this.filename}: ${writing ? 'write' : 'read'} failed`);
    }
    if (writing && start + done > this.size) this.size = start + done;
    if (done === total) return;
    for (const p of run) {
      const from = p.offset - start;
      if (done >= from + p.data.length) continue;
      const skip = Math.max(0, done - from);
      const rest = p.data.subarray(skip);
      await (writing ? this.write(p.offset + skip, rest) : this.read(p.offset + skip, rest));
    }
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check(offset, length, true);
    const end = offset + length;
    // Growing the file by truncation gives zeroes without touching the disk.
    if (offset >= this.size) {
      if (end > this.size) await this.truncate(end);
      return;
    }
    const inside = Math.min(end, this.size);
    const zeroes = new Uint8Array(Math.min(ZERO_CHUNK, inside - offset));
    for (let pos = offset; pos < inside; pos += zeroes.length) {
      await this.write(pos, zeroes.subarray(0, Math.min(zeroes.length, inside - pos)));
    }
    if (end > this.size) await this.truncate(end);
  }

  async discard(): Promise<void> {
    // No hole punching from Node; discard is advisory so doing nothing is correct.
  }

  async flush(): Promise<void> {
    if (this.readOnly || this.closed || this.noFlush) return;
    await this.io((cb) => fdatasync(this.fd, cb), 'fdatasync');
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.check(offset, length, false);
    return { length, allocated: true, data: true, zero: false, depth: 0, offset, file: this };
  }

  async truncate(length: number, prealloc: Preallocation = 'off'): Promise<void> {
    if (this.readOnly) throw new BlockError('node is read-only', 'EROFS');
    if (!Number.isSafeInteger(length) || length < 0) throw new BlockError(`invalid file size ${length}`);
    const old = this.size;
    if (prealloc === 'off' || prealloc === 'metadata' || length <= old) {
      await this.io((cb) => ftruncate(this.fd, length, cb), 'truncate');
      this.size = length;
      return;
    }
    // falloc and full: write real zeroes so the space is reserved on the host.
    const zeroes = new Uint8Array(Math.min(ZERO_CHUNK, length - old));
    for (let pos = old; pos < length; pos += zeroes.length) {
      await this.write(pos, zeroes.subarray(0, Math.min(zeroes.length, length - pos)));
    }
  }

  async allocatedSize(): Promise<number> {
    const st = await this.io<Stats>((cb) => fstat(this.fd, cb), 'stat');
    return st.blocks * 512;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await call((cb) => close(this.fd, cb));
  }

  /** Files may be read and written past their end (reads give zeroes, writes extend them). */
  private check(offset: number, length: number, write: boolean): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlockError(`invalid request: offset ${offset}, length ${length}`);
    }
    if (write && this.readOnly) throw new BlockError('node is read-only', 'EROFS');
  }

  private ensureOpen(what: string): void {
    if (this.closed) throw new BlockError(`${this.filename}: ${what} on a closed node`, 'EIO');
  }

  private async io<T>(op: (cb: (e: NodeJS.ErrnoException | null, v?: T) => void) => void, what: string): Promise<T> {
    this.ensureOpen(what);
    try {
      return await call(op);
    } catch (e) {
      throw hostError(e, `${this.filename}: ${what} failed`);
    }
  }
}
