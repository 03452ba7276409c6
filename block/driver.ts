// The node interface every block driver implements. Protocol drivers (file) talk to the host;
// format drivers (raw, qcow2) sit on a protocol node and may have a backing node below them.
import { BlockError } from './errors.ts';

export type Preallocation = 'off' | 'metadata' | 'falloc' | 'full';

/** One part of a scattered request: bytes at `offset` (pieces ascend and do not overlap). */
export interface Piece {
  offset: number;
  data: Uint8Array;
}

/** What one run of bytes looks like, as qemu's block-status reports it. */
export interface BlockStatus {
  /** Bytes from the queried offset that share this status (at least 1, at most what was asked). */
  length: number;
  /** The run is allocated in this node or in one below it (qemu's "present"). */
  allocated: boolean;
  /** The run holds data (it may still read as zeroes). */
  data: boolean;
  /** The run reads as zeroes. */
  zero: boolean;
  /** How many backing links were followed to find the run: 0 means this node. */
  depth: number;
  /** Where the run lives in `file`, when it is stored plainly (not compressed). */
  offset?: number;
  /** The protocol node that `offset` refers to. */
  file?: BlockNode;
}

export interface BlockNode {
  /** Driver name as qemu spells it: 'file', 'raw', 'qcow2'. */
  readonly driver: string;
  /** The name the node was opened with (what qemu-img prints as "image:"). */
  readonly filename: string;
  readonly readOnly: boolean;
  /** Requests must start and end on multiples of this (1 means any byte offset). */
  readonly requestAlignment: number;
  /** The node holding the data this node does not have, if any. */
  readonly backing: BlockNode | null;
  /** Size in bytes as the guest sees it. */
  length(): number;
  /** Fills `buf` with the bytes at `offset`. */
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Optional: several reads (writes) as one request, so that a driver can merge pieces that are
   * adjacent on the host into one vectored system call. Same result as one read (write) each.
   */
  readMany?(pieces: readonly Piece[]): Promise<void>;
  writeMany?(pieces: readonly Piece[]): Promise<void>;
  /** Makes the range read as zeroes; `mayUnmap` lets the driver free the space. */
  writeZeroes(offset: number, length: number, mayUnmap?: boolean): Promise<void>;
  /** Tells the driver the range's content is no longer needed (advisory). */
  discard(offset: number, length: number): Promise<void>;
  /** Returns when every completed write is durable on the host (fdatasync). */
  flush(): Promise<void>;
  blockStatus(offset: number, length: number): Promise<BlockStatus>;
  truncate(length: number, prealloc?: Preallocation): Promise<void>;
  /** Host bytes allocated for the node (qemu-img's "disk size"), or -1 when unknown. */
  allocatedSize(): Promise<number>;
  close(): Promise<void>;
}

/** Reads the pieces through `readMany` when the node has it, else one read each. */
export function readPieces(node: BlockNode, pieces: readonly Piece[]): Promise<void> {
  if (node.readMany) return node.readMany(pieces);
  return Promise.all(pieces.map((p) => node.read(p.offset, p.data))).then(() => undefined);
}

/** Writes the pieces through `writeMany` when the node has it, else one write each. */
export function writePieces(node: BlockNode, pieces: readonly Piece[]): Promise<void> {
  if (node.writeMany) return node.writeMany(pieces);
  return Promise.all(pieces.map((p) => node.write(p.offset, p.data))).then(() => undefined);
}

/** Rejects requests that are not whole, non-negative and inside the node. */
export function checkRequest(node: BlockNode, offset: number, length: number, write: boolean): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockError(`invalid request: offset ${offset}, length ${length}`);
  }
  if (offset + length > node.length()) {
    throw new BlockError(`request past the end of the node (offset ${offset} + ${length} > ${node.length()})`, 'EIO');
  }
  const a = node.requestAlignment;
  if (a > 1 && (offset % a !== 0 || length % a !== 0)) {
    throw new BlockError(`request not aligned to ${a} bytes (offset ${offset}, length ${length})`);
  }
  if (write && node.readOnly) throw new BlockError('node is read-only', 'EROFS');
}
