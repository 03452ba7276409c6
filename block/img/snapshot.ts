// `tsemu-img snapshot`: -l (list), -c (create), -a (apply), -d (delete), with qemu-img 7.2's table
// layout, messages and exit codes.
import type { BlockNode } from '../driver.ts';
import { BlockError } from '../errors.ts';
import { openImage } from '../open.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { applySnapshot, createSnapshot, deleteSnapshot, readSnapshots, snapshotDate, vmClock, type Snapshot } from '../qcow2/snapshot.ts';
import { humanSize } from './size.ts';

export type SnapshotAction = { kind: 'list' } | { kind: 'create' | 'apply' | 'delete'; name: string };

/** The column header of qemu's snapshot table. */
export function snapshotHeader(): string {
  return `${'ID'.padEnd(10)}${'TAG'.padEnd(17)}${'VM SIZE'.padStart(8)}${'DATE'.padStart(20)}${'VM CLOCK'.padStart(13)}${'ICOUNT'.padStart(11)}`;
}

/** One row: ID and tag left-aligned with a space after each, the rest right-aligned. */
export function snapshotRow(sn: Snapshot): string {
  const icount = sn.icount === -1n ? '' : sn.icount.toString();
  return (
    `${sn.id.padEnd(9)} ${sn.name.padEnd(16)} ` +
    `${humanSize(sn.vmStateSize).padStart(8)}${snapshotDate(sn.dateSec).padStart(20)}${vmClock(sn.vmClockNsec).padStart(13)}${icount.padStart(11)}`
  );
}

/** "Snapshot list:" and the table, or nothing for an image without snapshots. */
export function snapshotListing(list: readonly Snapshot[]): string {
  if (list.length === 0) return '';
  return ['Snapshot list:', snapshotHeader(), ...list.map(snapshotRow)].join('\n') + '\n';
}

const ERRNO: Record<string, number> = { ENOENT: 2, EIO: 5, EACCES: 13, EFBIG: 27, ENOSPC: 28, EROFS: 30, EINVAL: 22, ENOTSUP: 95 };

export async function runSnapshot(
  filename: string,
  format: string | undefined,
  action: SnapshotAction | null,
  io: { out: (s: string) => void; err: (s: string) => void },
  prog: string,
): Promise<number> {
  const readOnly = action === null || action.kind === 'list';
  let node: BlockNode;
  try {
    node = await openImage(filename, { format, readOnly, noBacking: true });
  } catch (e) {
    io.err(`${prog}: Could not open '${filename}': ${(e as Error).message}\n`);
    return 1;
  }
  try {
    if (action === null) return 0;
    const qcow2 = node instanceof Qcow2Node ? node : null;
    switch (action.kind) {
      case 'list':
        io.out(snapshotListing(qcow2 ? await readSnapshots(qcow2) : []));
        return 0;
      case 'create':
        try {
          if (!qcow2) throw new BlockError('Operation not supported', 'ENOTSUP');
          const now = Date.now();
          // qemu-img takes the time of day in microseconds and leaves VM clock and icount at 0.
          await createSnapshot(qcow2, { name: action.name, dateSec: Math.floor(now / 1000), dateNsec: (now % 1000) * 1_000_000, vmClockNsec: 0n, icount: 0n });
        } catch (e) {
          const code = (e as BlockError).code ?? 'EIO';
          const n = ERRNO[code] ?? 5;
          io.err(`${prog}: Could not create snapshot '${action.name}': -${n} (${strerror(code)})\n`);
          return 1;
        }
        return 0;
      case 'apply':
        try {
          if (!qcow2) throw new BlockError('Failed to load snapshot: Operation not supported', 'ENOTSUP');
          await applySnapshot(qcow2, action.name);
        } catch (e) {
          io.err(`${prog}: Could not apply snapshot '${action.name}': ${(e as Error).message}\n`);
          return 1;
        }
        return 0;
      case 'delete': {
        // qemu-img looks the snapshot up by name only, then deletes that ID/name pair.
        const list = qcow2 ? await readSnapshots(qcow2) : [];
        const sn = list.find((s) => s.name === action.name);
        if (!sn || !qcow2) {
          io.err(`${prog}: Could not delete snapshot '${action.name}': snapshot not found\n`);
          return 1;
        }
        try {
          await deleteSnapshot(qcow2, sn.id, sn.name);
        } catch (e) {
          io.err(`${prog}: Could not delete snapshot '${action.name}': ${(e as Error).message}\n`);
          return 1;
        }
        return 0;
      }
    }
  } catch (e) {
    io.err(`${prog}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await node.close();
  }
}

function strerror(code: string): string {
  switch (code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    case 'EROFS': return 'Read-only file system';
    case 'ENOSPC': return 'No space left on device';
    case 'EFBIG': return 'File too large';
    case 'ENOTSUP': return 'Operation not supported';
    case 'EIO': return 'Input/output error';
    default: return 'Invalid argument';
  }
}
