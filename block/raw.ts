// The raw format: guest bytes are the file's bytes, one to one.
import { checkRequest, readPieces, writePieces, type BlockNode, type BlockStatus, type Piece, type Preallocation } from './driver.ts';

export class RawNode implements BlockNode {
  readonly driver = 'raw';
  readonly backing = null;

  constructor(readonly file: BlockNode) {}

  get filename(): string {
    return this.file.filename;
  }
  get readOnly(): boolean {
    return this.file.readOnly;
  }
  get requestAlignment(): number {
    return this.file.requestAlignment;
  }

  /** Like qemu, the size of a raw image is its file's size rounded up to whole 512-byte sectors. */
  length(): number {
    return Math.ceil(this.file.length() / 512) * 512;
  }

  // Not async: one promise per request fewer on the path every guest request takes.
  read(offset: number, buf: Uint8Array): Promise<void> {
    try {
      checkRequest(this, offset, buf.length, false);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.file.read(offset, buf);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    try {
      checkRequest(this, offset, data.length, true);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.file.write(offset, data);
  }

  async readMany(pieces: readonly Piece[]): Promise<void> {
    for (const p of pieces) checkRequest(this, p.offset, p.data.length, false);
    await readPieces(this.file, pieces);
  }

  async writeMany(pieces: readonly Piece[]): Promise<void> {
    // Writes into the first sector go through write(), which a subclass may guard.
    if (pieces.some((p) => p.offset < 512)) {
      await Promise.all(pieces.map((p) => this.write(p.offset, p.data)));
      return;
    }
    for (const p of pieces) checkRequest(this, p.offset, p.data.length, true);
    await writePieces(this.file, pieces);
  }

  async writeZeroes(offset: number, length: number, mayUnmap = false): Promise<void> {
    checkRequest(this, offset, length, true);
    await this.file.writeZeroes(offset, length, mayUnmap);
  }

  async discard(offset: number, length: number): Promise<void> {
    checkRequest(this, offset, length, true);
    await this.file.discard(offset, length);
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    checkRequest(this, offset, length, false);
    const s = await this.file.blockStatus(offset, length);
    return { ...s, depth: 0 };
  }

  truncate(length: number, prealloc?: Preallocation): Promise<void> {
    return this.file.truncate(length, prealloc);
  }

  allocatedSize(): Promise<number> {
    return this.file.allocatedSize();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
