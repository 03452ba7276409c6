// Metadata overlap checks (spec: incompatible feature bit 1, "corrupt bit": "If this bit is set
// then any data structure may be corrupt and the image must not be written to"). Before data is
// written the target host range is checked against the live metadata; an overlap means the
// mapping is broken, so the write is refused and the image marked corrupt.

/** The metadata kinds, named as qemu's corruption message names them. */
export type MetadataKind =
  | 'qcow2_header'
  | 'active L1 table'
  | 'active L2 table'
  | 'refcount table'
  | 'refcount block'
  | 'snapshot table'
  | 'inactive L1 table';

/** Sorted, merged host byte ranges of metadata, each with its kind (first kind wins on ties). */
export class MetadataRanges {
  private starts: number[] = [];
  private ends: number[] = [];
  private kinds: MetadataKind[] = [];

  static build(list: { offset: number; bytes: number; kind: MetadataKind }[]): MetadataRanges {
    const r = new MetadataRanges();
    const live = list.filter((x) => x.bytes > 0);
    // Stable sort keeps the caller's order (its priority) among equal starts.
    live.sort((a, b) => a.offset - b.offset);
    for (const x of live) {
      r.starts.push(x.offset);
      r.ends.push(x.offset + x.bytes);
      r.kinds.push(x.kind);
    }
    return r;
  }

  /** The kind of the first metadata range (not of kind `ignore`) that [offset, offset + bytes) overlaps, or null. */
  overlap(offset: number, bytes: number, ignore?: MetadataKind): MetadataKind | null {
    if (bytes <= 0) return null;
    const end = offset + bytes;
    // Ranges do not nest much (tables are cluster-aligned and distinct in a sane image), but
    // they may in a broken one: scan back from the last range starting before `end`.
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! < end) lo = mid + 1;
      else hi = mid;
    }
    let found: MetadataKind | null = null;
    for (let i = lo - 1; i >= 0; i--) {
      if (this.ends[i]! > offset && this.kinds[i] !== ignore) {
        found = this.kinds[i]!;
      }
      // A range further back could still reach `offset` only if it is long; tables are bounded
      // (refcount table 8 MiB, L1 32 MiB), so stop once far enough behind.
      if (this.starts[i]! + (64 << 20) < offset) break;
    }
    return found;
  }
}

export const CORRUPT_MESSAGE = (kind: MetadataKind): string =>
  `qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with ${kind}); further corruption events will be suppressed`;
