// Format probing: qcow2 when the magic and a known version match, raw when nothing else does.
import type { BlockNode } from './driver.ts';
import { QCOW2_MAGIC } from './qcow2/header.ts';

export async function probeFormat(file: BlockNode): Promise<'qcow2' | 'raw'> {
  const head = new Uint8Array(Math.min(8, file.length()));
  await file.read(0, head);
  if (head.length === 8) {
    const dv = new DataView(head.buffer);
    if (dv.getUint32(0) === QCOW2_MAGIC && dv.getUint32(4) >= 2) return 'qcow2';
  }
  return 'raw';
}
