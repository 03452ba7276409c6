// The order in which QEMU 7.2's `info chardev` lists chardevs. QEMU keeps them as children of a
// container object, in a GLib hash table keyed by name, walks its buckets in index order and
// builds the reply by prepending, so the listing is the reverse of the bucket order. To print the
// same lines in the same order, this replays GLib 2.74's table (string hash, bucket index from a
// prime modulus, the probe sequence, and the growth step that rehashes in place) for the names
// in creation order.

/** Bucket-index moduli GLib pairs with each table size 2^shift. */
const PRIME_MOD = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];
const MIN_SHIFT = 3;
/** Hash values 0 and 1 mark free and deleted buckets, so real hashes below 2 become 2. */
const FIRST_REAL_HASH = 2;

/** GLib's string hash (djb2 over signed chars), kept to 32 bits. */
function strHash(name: string): number {
  let h = 5381;
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = byte >= 128 ? byte - 256 : byte;
    h = (Math.imul(h, 33) + c) >>> 0;
  }
  return h < FIRST_REAL_HASH ? FIRST_REAL_HASH : h;
}

class Table {
  hashes: number[] = [];
  keys: (string | null)[] = [];
  shift = MIN_SHIFT;
  nnodes = 0;

  constructor() {
    this.setShift(MIN_SHIFT);
    this.hashes = new Array<number>(this.size).fill(0);
    this.keys = new Array<string | null>(this.size).fill(null);
  }

  get size(): number {
    return 1 << this.shift;
  }

  private get mask(): number {
    return this.size - 1;
  }

  private setShift(shift: number): void {
    this.shift = Math.min(shift, PRIME_MOD.length - 1);
  }

  private index(hash: number): number {
    return (Math.imul(hash, 11) >>> 0) % PRIME_MOD[this.shift]!;
  }

  insert(name: string): void {
    const hash = strHash(name);
    let i = this.index(hash);
    let step = 0;
    while (this.hashes[i] !== 0) {
      if (this.hashes[i] === hash && this.keys[i] === name) return;
      step++;
      i = (i + step) & this.mask;
    }
    this.hashes[i] = hash;
    this.keys[i] = name;
    this.nnodes++;
    // No deletions happen here, so occupied buckets equal nodes.
    const n = this.nnodes;
    if ((this.size > n * 4 && this.size > 1 << MIN_SHIFT) || this.size <= n + Math.floor(n / 16)) this.resize();
  }

  /** GLib's resize: a new size from the node count, then an in-place rehash by eviction. */
  private resize(): void {
    const oldSize = this.size;
    let want = Math.trunc(this.nnodes * 1.333);
    let shift = 0;
    while (want) {
      want >>= 1;
      shift++;
    }
    this.setShift(Math.max(shift, MIN_SHIFT));
    const size = this.size;
    if (size > oldSize) {
      for (let i = oldSize; i < size; i++) {
        this.hashes[i] = 0;
        this.keys[i] = null;
      }
    }
    const moved = new Array<boolean>(Math.max(size, oldSize)).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let hash = this.hashes[i]!;
      if (hash < FIRST_REAL_HASH) {
        this.hashes[i] = 0;
        continue;
      }
      if (moved[i]) continue;
      this.hashes[i] = 0;
      let key = this.keys[i]!;
      this.keys[i] = null;
      for (;;) {
        let j = this.index(hash);
        let step = 0;
        while (moved[j]) {
          step++;
          j = (j + step) & this.mask;
        }
        moved[j] = true;
        const displacedHash = this.hashes[j]!;
        const displacedKey = this.keys[j]!;
        this.hashes[j] = hash;
        this.keys[j] = key;
        if (displacedHash < FIRST_REAL_HASH) break;
        hash = displacedHash;
        key = displacedKey;
      }
    }
    this.hashes.length = size;
    this.keys.length = size;
  }
}

/** `names` in creation order → the order QEMU 7.2 lists them in (duplicates are ignored). */
export function qemuInfoOrder(names: readonly string[]): string[] {
  const t = new Table();
  for (const n of names) t.insert(n);
  return t.keys.filter((k): k is string => k !== null).reverse();
}
