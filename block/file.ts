// The `file` protocol: a host file through node:fs/promises (pread/pwrite, fdatasync on flush).
// Node has no fallocate() or SEEK_HOLE, so preallocation=falloc writes zeroes like =full, discard
// is a no-op and block status reports every byte as data.
import { open, type FileHandle } from 'node:fs/promises';
import { BlockError, errnoText, type BlockErrorCode } from './errors.ts';
import { type BlockNode, type BlockStatus, type Preallocation } from './driver.ts';

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

export class FileNode implements BlockNode {
  readonly driver = 'file';
  readonly requestAlignment = 1;
  readonly backing = null;
  private size: number;
  private closed = false;

  private constructor(
    readonly filename: string,
    private readonly fh: FileHandle,
    readonly readOnly: boolean,
    size: number,
  ) {
    this.size = size;
  }

  static async open(filename: string, readOnly: boolean): Promise<FileNode> {
    let fh: FileHandle;
    try {
      fh = await open(filename, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw hostError(e, `Could not open '${filename}'`);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new BlockError(`'${filename}' is a directory`, 'EINVAL');
      return new FileNode(filename, fh, readOnly, st.size);
    } catch (e) {
      await fh.close();
      throw e instanceof BlockError ? e : hostError(e, `Could not stat '${filename}'`);
    }
  }

  /** Creates (or truncates) a host file of `size` bytes; returns it opened read-write. */
  static async create(filename: string, size: number, prealloc: Preallocation = 'off'): Promise<FileNode> {
    let fh: FileHandle;
    try {
      fh = await open(filename, 'w+');
    } catch (e) {
      throw hostError(e, `Could not create '${filename}'`);
    }
    const node = new FileNode(filename, fh, false, 0);
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

  async read(offset: number, buf: Uint8Array): Promise<void> {
    this.check(offset, buf.length, false);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.io(() => this.fh.read(buf, done, buf.length - done, offset + done), 'read');
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < buf.length) buf.fill(0, done); // past EOF reads as zeroes
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.length, true);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.io(() => this.fh.write(data, done, data.length - done, offset + done), 'write');
      done += bytesWritten;
    }
    if (offset + data.length > this.size) this.size = offset + data.length;
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
    if (this.readOnly || this.closed) return;
    await this.io(() => this.fh.datasync(), 'fdatasync');
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
      await this.io(() => this.fh.truncate(length), 'truncate');
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
    const st = await this.io(() => this.fh.stat(), 'stat');
    return st.blocks * 512;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  /** Files may be read and written past their end (reads give zeroes, writes extend them). */
  private check(offset: number, length: number, write: boolean): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlockError(`invalid request: offset ${offset}, length ${length}`);
    }
    if (write && this.readOnly) throw new BlockError('node is read-only', 'EROFS');
  }

  private async io<T>(op: () => Promise<T>, what: string): Promise<T> {
    if (this.closed) throw new BlockError(`${this.filename}: ${what} on a closed node`, 'EIO');
    try {
      return await op();
    } catch (e) {
      throw hostError(e, `${this.filename}: ${what} failed`);
    }
  }
}
