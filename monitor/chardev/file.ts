// The file backend: output to a file (truncated, or appended to with append=on); no input.

import { closeSync, openSync } from 'node:fs';
import { ChardevBase, ChardevError, writeAll, type ChardevCommon } from './chardev.ts';
import { describeErrno } from './errno-text.ts';

export class FileChardev extends ChardevBase {
  private fd: number | null;

  constructor(id: string, path: string, append = false, common: ChardevCommon = {}) {
    super(id, 'file', common);
    try {
      this.fd = openSync(path, append ? 'a' : 'w');
    } catch (e) {
      this.discardLog();
      throw new ChardevError(`Could not open '${path}': ${describeErrno(e)}`);
    }
    this.setOpen(true);
  }

  info(): string {
    return 'file';
  }

  protected output(bytes: Uint8Array): void {
    if (this.fd !== null) writeAll(this.fd, bytes);
  }

  protected release(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // The data is written already; a failing close has nothing left to lose.
    }
    this.fd = null;
  }
}
