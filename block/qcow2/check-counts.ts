// The references a consistency check counts in memory, one counter per host cluster of the image
// file (plus the few clusters a rebuild appends). Bounded: the file's length fixes the size.
import { BlockError } from '../errors.ts';

/** 128 Mi clusters (512 MiB of counters): 8 TiB with 64 KiB clusters. */
export const MAX_CHECK_CLUSTERS = 1 << 27;

export class ReferenceCounts {
  private counts: Uint32Array;
  /** Clusters covered: those of the file, or more once references or a rebuild reach past it. */
  size: number;

  constructor(clusters: number, readonly max: number) {
    if (clusters > MAX_CHECK_CLUSTERS) throw new BlockError(`image file has too many clusters to check (${clusters})`, 'EFBIG');
    this.counts = new Uint32Array(clusters + 16);
    this.size = clusters;
  }

  get(i: number): number {
    return i < this.size ? this.counts[i]! : 0;
  }

  set(i: number, v: number): void {
    this.cover(i + 1);
    this.counts[i] = v;
  }

  /** Makes clusters [0, n) part of the array. */
  cover(n: number): void {
    if (n <= this.size) return;
    if (n > MAX_CHECK_CLUSTERS) throw new BlockError(`too many clusters to check (${n})`, 'EFBIG');
    if (n > this.counts.length) {
      const grown = new Uint32Array(Math.min(MAX_CHECK_CLUSTERS, Math.max(n, this.counts.length * 2)));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.size = n;
  }

  clear(): void {
    this.counts.fill(0);
  }

  /** First run of `n` clusters with no references at or after `from` (may lie past the end). */
  findFree(from: number, n: number): number {
    let start = from;
    for (let i = from; i - start < n; i++) {
      if (this.get(i) !== 0) start = i + 1;
    }
    return start;
  }
}
