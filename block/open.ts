// Opening an image by file name: the file protocol node, the format driver on top (given or
// probed) and, unless asked not to, the backing chain (read-only, names resolved like qemu's
// path_combine: relative to the directory part of the image's name).
import type { BlockNode } from './driver.ts';
import { BlockError } from './errors.ts';
import { FileNode } from './file.ts';
import { probeFormat } from './probe.ts';
import { Qcow2Node } from './qcow2/qcow2.ts';
import { RawNode } from './raw.ts';

export const MAX_BACKING_DEPTH = 64;

export interface OpenOptions {
  format?: string;
  readOnly?: boolean;
  /** Do not open backing files (qemu-img info does this). */
  noBacking?: boolean;
}

export function combineBackingPath(image: string, backing: string): string {
  if (backing.startsWith('/') || backing.includes(':')) return backing;
  const slash = image.lastIndexOf('/');
  return slash < 0 ? backing : image.slice(0, slash + 1) + backing;
}

export async function openImage(filename: string, opts: OpenOptions = {}, depth = 0): Promise<BlockNode> {
  if (depth > MAX_BACKING_DEPTH) throw new BlockError('Backing chain is too deep (or loops)');
  const readOnly = opts.readOnly ?? false;
  const file = await FileNode.open(filename, readOnly);
  try {
    const format = opts.format ?? (await probeFormat(file));
    if (format === 'raw') return new RawNode(file);
    if (format === 'file') return file;
    if (format !== 'qcow2') throw new BlockError(`Unknown driver '${format}'`);
    const node = await Qcow2Node.open(file, { readOnly });
    const name = node.header.backingFile;
    if (name !== null && !opts.noBacking) {
      const path = combineBackingPath(filename, name);
      try {
        const backing = await openImage(path, { format: node.header.backingFormat ?? undefined, readOnly: true }, depth + 1);
        node.attachBacking(backing);
      } catch (e) {
        throw new BlockError(`Could not open backing file: ${(e as Error).message}`, (e as BlockError).code ?? 'EIO');
      }
    }
    return node;
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}
