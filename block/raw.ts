// The raw format: guest bytes are the file's bytes, one to one.
import { checkRequest, type BlockNode, type BlockStatus, type Preallocation } from './driver.ts';

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

  async read(offset: number, buf: Uint8Array): Promise<void> {
    checkRequest(this, offset, buf.length, false);
    await this.file.read(offset, buf);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkRequest(this, offset, data.length, true);
    await this.file.write(offset, data);
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
