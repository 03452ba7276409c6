// A raw image whose format was guessed rather than given. Like QEMU, such a node refuses writes
// that would make the first sector probe as another format: a guest that writes a qcow2 header
// there could otherwise make the host open the disk as qcow2 next time, with its backing file
// pointing anywhere on the host.
import { BlockError } from './errors.ts';
import { probeFormat } from './probe.ts';
import { RawNode } from './raw.ts';
import type { BlockNode } from './driver.ts';

const SECTOR = 512;

/** What QEMU says when probing guessed raw (the user is told to name the format). */
export function probedRawWarning(filename: string): string {
  return (
    `WARNING: Image format was not specified for '${filename}' and probing guessed raw.\n` +
    '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
    "         Specify the 'raw' format explicitly to remove the restrictions.\n"
  );
}

/** The first sector as it would be after writing `data` at `offset`. */
async function sectorAfter(node: BlockNode, offset: number, data: Uint8Array): Promise<Uint8Array> {
  const n = Math.min(SECTOR, node.length());
  const sector = new Uint8Array(n);
  await node.read(0, sector);
  sector.set(data.subarray(0, Math.max(0, n - offset)), offset);
  return sector;
}

/** A memory-backed node just big enough for probeFormat to look at one sector. */
function sectorNode(bytes: Uint8Array): BlockNode {
  return {
    length: () => bytes.length,
    read: async (offset: number, buf: Uint8Array) => void buf.set(bytes.subarray(offset, offset + buf.length)),
  } as unknown as BlockNode;
}

export class ProbedRawNode extends RawNode {
  override async write(offset: number, data: Uint8Array): Promise<void> {
    if (offset < SECTOR && data.length > 0 && !this.readOnly) {
      const after = await sectorAfter(this.file, offset, data);
      if ((await probeFormat(sectorNode(after))) !== 'raw') {
        throw new BlockError('write to block 0 of a probed raw image refused: it would change the probed format', 'EACCES');
      }
    }
    await super.write(offset, data);
  }
}
