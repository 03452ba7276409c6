// Consistency check and repair of a qcow2 image, reporting like `qemu-img check`: every reference
// the metadata makes (header, L1/L2 tables, data and compressed clusters, snapshot tables, the
// refcount structure itself) is counted in memory and compared with the refcounts on disk (spec
// "Host cluster management"); the "refcount is exactly one" flags (bit 63 of L1/L2 entries) are
// checked against the refcounts. Repairs: leaks (-r leaks), and with -r all also refcounts that
// are too small, by fixing them in place or by rebuilding the whole refcount structure.
import type { BlockNode } from '../driver.ts';
import { BlockError, errnoText } from '../errors.ts';
import { MAX_CHECK_CLUSTERS, ReferenceCounts } from './check-counts.ts';
import { DiskRefcounts, readZeroPadded, type RefBlock } from './check-disk.ts';
import { INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTL2 } from './features.ts';
import { FIELD_INCOMPAT, MAX_L1_BYTES, type Qcow2Header } from './header.ts';
import { bitmapExtents } from './bitmaps.ts';
import { rebuildRefcountStructure } from './rebuild.ts';
import { readSnapshotTable, type SnapshotTable } from './snapshot-table.ts';

export const FIX_LEAKS = 1;
export const FIX_ERRORS = 2;

export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  corruptionsFixed: number;
  leaksFixed: number;
  imageEndOffset: number;
  totalClusters: number;
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
}

export function emptyResult(): CheckResult {
  return { corruptions: 0, leaks: 0, checkErrors: 0, corruptionsFixed: 0, leaksFixed: 0, imageEndOffset: 0, totalClusters: 0, allocatedClusters: 0, fragmentedClusters: 0, compressedClusters: 0 };
}

/** Thrown when the check cannot finish (qemu-img: "Check failed: <strerror>"). */
export class CheckFailed extends Error {
  constructor(readonly code: string) {
    super(errnoText(code));
  }
}

// Entry bit masks, as 32-bit halves (hi = bits 32-63, lo = bits 0-31).
const L1_RESERVED_HI = 0x7f000000; // bits 56-62
const L1_RESERVED_LO = 0x1ff; // bits 0-8
const L2_STD_RESERVED_HI = 0x3f000000; // bits 56-61
const L2_STD_RESERVED_LO = 0x1fe; // bits 1-8
const COPIED = 0x80000000; // bit 63
const COMPRESSED = 0x40000000; // bit 62
const ZERO = 1; // bit 0

/** A 64-bit entry in hex without leading zeroes, as qemu prints them. */
function hex64(hi: number, lo: number): string {
  return hi ? hi.toString(16) + lo.toString(16).padStart(8, '0') : lo.toString(16);
}

/** Bits 9-55 of an entry: exact as a double (a multiple of 512 below 2^56). */
function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 0x100000000 + ((lo & ~0x1ff) >>> 0);
}

/** State that lives as long as the open image, across the check and its re-check. */
export interface CheckSession {
  file: BlockNode;
  header: Qcow2Header;
  /** Lines qemu prints on stderr while checking. */
  log: (line: string) => void;
  readOnly: boolean;
  /** Program name for error_report-style lines ("tsemu-img: ..."). */
  prog: string;
  corruptionSignalled?: boolean;
}

class Checker {
  private readonly h: Qcow2Header;
  private readonly file: BlockNode;
  private readonly cs: number;
  private readonly extended: boolean;
  private readonly entrySize: number;
  private readonly log: (line: string) => void;
  private counts!: ReferenceCounts;
  private disk!: DiskRefcounts;
  private rebuild = false;
  private highest = 0;

  constructor(
    private readonly s: CheckSession,
    private readonly fix: number,
  ) {
    this.h = s.header;
    this.file = s.file;
    this.cs = 2 ** this.h.clusterBits;
    this.extended = (this.h.incompatible & INCOMPAT_EXTL2) !== 0n;
    this.entrySize = this.extended ? 16 : 8;
    this.log = s.log;
  }

  private async loadDisk(): Promise<void> {
    this.disk = await DiskRefcounts.load(this.file, this.cs, 2 ** this.h.refcountOrder, this.h.refcountTableOffset, this.h.refcountTableClusters, (off, t) => {
      if (this.s.corruptionSignalled) return;
      this.s.corruptionSignalled = true;
      // qemu's corruption event; read-write it would also set the corrupt bit, which a repair
      // clears again, so only the message is reproduced.
      const what = this.s.readOnly ? 'Image is corrupt' : 'Marking image as corrupt';
      const rest = this.s.readOnly ? 'further non-fatal corruption events' : 'further corruption events';
      const alt = (n: number): string => (n === 0 ? '0' : `0x${n.toString(16)}`);
      this.log(`qcow2: ${what}: Refblock offset ${alt(off)} unaligned (reftable index: ${alt(t)}); ${rest} will be suppressed`);
    });
  }

  async run(): Promise<CheckResult> {
    const res = emptyResult();
    const fileClusters = Math.ceil(this.file.length() / this.cs);
    if (fileClusters > MAX_CHECK_CLUSTERS) {
      res.checkErrors++;
      throw new CheckFailed('EFBIG');
    }
    res.totalClusters = Math.ceil(this.h.size / this.cs);
    await this.loadDisk();
    this.counts = new ReferenceCounts(fileClusters, this.disk.maxRefcount > 0xffffffff ? 0xffffffff : this.disk.maxRefcount);
    await this.calculate(res, this.fix);
    const pre = { ...res };
    await this.compare(res, 0);

    if (this.rebuild && this.fix & FIX_ERRORS) {
      const old = { ...res };
      let freshLeaks = 0;
      this.log('Rebuilding refcount structure');
      await rebuildRefcountStructure(this.file, this.h, this.counts);
      await this.loadDisk();
      res.corruptions = 0;
      res.leaks = 0;
      // The old structure is no longer referenced: count again and free it.
      this.rebuild = false;
      this.counts.clear();
      await this.calculate(res, 0);
      if (this.fix & FIX_LEAKS) {
        const saved = { ...res };
        Object.assign(res, emptyResult());
        await this.compare(res, FIX_LEAKS);
        if (this.rebuild) this.log('ERROR rebuilt refcount structure is still broken');
        freshLeaks = res.leaks;
        Object.assign(res, saved);
      }
      if (res.corruptions < old.corruptions) res.corruptionsFixed += old.corruptions - res.corruptions;
      if (res.leaks < old.leaks) res.leaksFixed += old.leaks - res.leaks;
      res.leaks += freshLeaks;
    } else if (this.fix) {
      if (this.rebuild) {
        this.log('ERROR need to rebuild refcount structures');
        throw new CheckFailed('EIO');
      }
      if (res.leaks || res.corruptions) {
        Object.assign(res, pre);
        await this.compare(res, this.fix);
      }
    }
    await this.checkCopiedFlags(res);
    res.imageEndOffset = (this.highest + 1) * this.cs;

    if (this.fix && res.checkErrors === 0 && res.corruptions === 0) {
      // A consistent image is clean and no longer corrupt.
      const bits = this.h.incompatible & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
      if (bits !== 0n) {
        this.h.incompatible &= ~bits;
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, this.h.incompatible);
        await this.file.write(FIELD_INCOMPAT, b);
        await this.file.flush();
      }
    }
    return res;
  }

  // ---- counting references ----

  /**
   * Counts one reference to every cluster touched by [offset, offset + size). `exact` is the
   * offset in hex when the number cannot hold it exactly (compressed offsets up to 2^62).
   */
  private inc(res: CheckResult, offset: number, size: number, exact?: string): void {
    if (size <= 0) return;
    if (offset + size - this.file.length() >= this.cs) {
      this.log(`ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${exact ?? offset.toString(16)} size 0x${size.toString(16)}`);
      res.corruptions++;
      return;
    }
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + size - 1) / this.cs);
    this.counts.cover(last + 1);
    for (let c = first; c <= last; c++) {
      const v = this.counts.get(c);
      if (v >= this.counts.max) {
        this.log(`ERROR: overflow cluster offset=0x${(c * this.cs).toString(16)}`);
        this.log('Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing');
        res.corruptions++;
        continue;
      }
      this.counts.set(c, v + 1);
    }
  }

  private async calculate(res: CheckResult, fix: number): Promise<void> {
    const h = this.h;
    this.inc(res, 0, this.cs); // header
    await this.checkL1(res, h.l1TableOffset, h.l1Size, true, fix);
    if (h.nbSnapshots > 0) {
      let table: SnapshotTable | null = null;
      try {
        table = await readSnapshotTable(this.file, h.snapshotsOffset, h.nbSnapshots);
      } catch (e) {
        this.log(`ERROR: could not read the snapshot table: ${(e as Error).message}`);
        res.checkErrors++;
      }
      for (const sn of table?.entries ?? []) {
        if (sn.l1TableOffset % this.cs !== 0) {
          this.log(`ERROR snapshot ${sn.id} (${sn.name}) l1_offset=0x${sn.l1TableOffset.toString(16)}: L1 table is not cluster aligned; snapshot table entry corrupted`);
          res.corruptions++;
          continue;
        }
        if (sn.l1Size > MAX_L1_BYTES / 8) {
          this.log(`ERROR snapshot ${sn.id} (${sn.name}) l1_size=0x${sn.l1Size.toString(16)}: L1 table is too large; snapshot table entry corrupted`);
          res.corruptions++;
          continue;
        }
        await this.checkL1(res, sn.l1TableOffset, sn.l1Size, false, fix);
      }
      if (table) this.inc(res, h.snapshotsOffset, table.bytes);
    }
    this.inc(res, h.refcountTableOffset, h.refcountTableClusters * this.cs);
    try {
      await bitmapExtents(this.file, h, (e) => this.inc(res, e.offset, e.bytes));
    } catch (e) {
      this.log(`ERROR: could not read the bitmaps: ${(e as Error).message}`);
      res.checkErrors++;
    }
    await this.checkRefcountBlocks(res, fix);
  }

  private async checkL1(res: CheckResult, offset: number, size: number, frag: boolean, fix: number): Promise<void> {
    if (size === 0) return;
    this.inc(res, offset, size * 8);
    // Entries past the end of the file read as zeroes (unused): only the part inside is read,
    // so a snapshot's L1 size (up to 32 MiB) costs no more than the file holds.
    const inside = Math.max(0, Math.min(size, Math.ceil((this.file.length() - offset) / 8)));
    const l1 = await readZeroPadded(this.file, offset, inside * 8);
    const dv = new DataView(l1.buffer);
    for (let i = 0; i < inside; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      if (hi & L1_RESERVED_HI || lo & L1_RESERVED_LO) {
        this.log(`ERROR found L1 entry with reserved bits set: ${hex64(hi, lo)}`);
        res.corruptions++;
      }
      const l2 = entryOffset(hi, lo);
      this.inc(res, l2, this.cs);
      if (l2 % this.cs !== 0) {
        this.log(`ERROR l2_offset=${l2.toString(16)}: Table is not cluster aligned; L1 entry corrupted`);
        res.corruptions++;
      }
      await this.checkL2(res, l2, frag, fix);
    }
  }

  private async checkL2(res: CheckResult, offset: number, frag: boolean, fix: number): Promise<void> {
    const cs = this.cs;
    // A table wholly past the end of the file reads as zeroes: nothing to count.
    if (offset >= this.file.length()) return;
    const table = await readZeroPadded(this.file, offset, cs);
    const dv = new DataView(table.buffer);
    let nextContiguous = 0;
    for (let i = 0, pos = 0; pos < cs; i++, pos += this.entrySize) {
      let hi = dv.getUint32(pos);
      const lo = dv.getUint32(pos + 4);
      const zeroWord = this.extended ? dv.getUint32(pos + 8) : 0; // subclusters reading as zero
      const allocWord = this.extended ? dv.getUint32(pos + 12) : 0; // subclusters with data
      if (hi & COMPRESSED) {
        if (hi & COPIED) {
          hi &= ~COPIED;
          this.log(`ERROR: coffset=0x${this.parseCompressed(hi, lo).hex}: copied flag must never be set for compressed clusters`);
          res.corruptions++;
        }
        if (zeroWord || allocWord) {
          this.log(`ERROR compressed cluster ${i} with non-zero subcluster allocation bitmap, entry=0x${hex64(hi, lo)}`);
          res.corruptions++;
          continue;
        }
        const { offset: coffset, bytes, hex } = this.parseCompressed(hi, lo);
        this.inc(res, coffset, bytes, hex);
        if (frag) {
          // Compressed clusters are fragmented by nature.
          res.allocatedClusters++;
          res.compressedClusters++;
          res.fragmentedClusters++;
        }
        continue;
      }
      if (hi & L2_STD_RESERVED_HI || lo & L2_STD_RESERVED_LO) {
        this.log(`ERROR found l2 entry with reserved bits set: ${hex64(hi, lo)}`);
        res.corruptions++;
      }
      const host = entryOffset(hi, lo);
      const zeroFlag = !this.extended && (lo & ZERO) !== 0;
      if (host === 0) {
        if (this.extended && allocWord !== 0) {
          this.log('ERROR: Unallocated cluster has non-zero subcluster allocation map');
          res.corruptions++;
        }
        continue;
      }
      // A host cluster: data, or preallocated and reading as zeroes.
      if (this.extended && (zeroWord & allocWord) !== 0) {
        this.log(`ERROR offset=${host.toString(16)}: Allocated cluster has corrupted subcluster allocation bitmap`);
        res.corruptions++;
      }
      if (frag) {
        res.allocatedClusters++;
        if (nextContiguous && host !== nextContiguous) res.fragmentedClusters++;
        nextContiguous = host + cs;
      }
      if (host % cs !== 0) {
        res.corruptions++;
        const hasData = this.extended ? allocWord !== 0 : !zeroFlag;
        if (!hasData) {
          const repair = (fix & FIX_ERRORS) !== 0;
          this.log(`${repair ? 'Repairing' : 'ERROR'} offset=${host.toString(16)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`);
          if (repair) {
            // Make it a plain zero cluster (all subclusters zero with extended entries).
            const e = new Uint8Array(this.entrySize);
            const edv = new DataView(e.buffer);
            if (this.extended) edv.setUint32(8, 0xffffffff);
            else edv.setUint32(4, ZERO);
            await this.file.write(offset + pos, e);
            await this.file.flush();
            res.corruptions--;
            res.corruptionsFixed++;
            continue;
          }
        } else {
          this.log(`ERROR offset=${host.toString(16)}: Data cluster is not properly aligned; L2 entry corrupted.`);
        }
      }
      this.inc(res, host, cs);
    }
  }

  /** "Compressed Clusters Descriptor (x = 62 - (cluster_bits - 8))". */
  private parseCompressed(hi: number, lo: number): { offset: number; bytes: number; hex: string } {
    const v = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo);
    const x = BigInt(62 - (this.h.clusterBits - 8));
    const exact = v & ((1n << x) - 1n);
    const sectors = Number(v >> x) + 1;
    return { offset: Number(exact), bytes: sectors * 512 - Number(exact % 512n), hex: exact.toString(16) };
  }

  private async checkRefcountBlocks(res: CheckResult, fix: number): Promise<void> {
    const raw = this.disk.raw;
    for (let t = 0; t < raw.length; t++) {
      const v = raw[t]!;
      if (v % 512 !== 0) {
        this.log(`ERROR refcount table entry ${t} has reserved bits set`);
        res.corruptions++;
        this.rebuild = true;
        continue;
      }
      const off = v;
      if (off % this.cs !== 0) {
        this.log(`ERROR refcount block ${t} is not cluster aligned; refcount table entry corrupted`);
        res.corruptions++;
        this.rebuild = true;
        continue;
      }
      const cluster = off / this.cs;
      if (cluster >= this.counts.size) {
        res.corruptions++;
        const repair = (fix & FIX_ERRORS) !== 0;
        this.log(`${repair ? 'Repairing' : 'ERROR'} refcount block ${t} is outside image`);
        if (repair) {
          // Grow the file so that the block lies inside it (it reads as zeroes).
          try {
            if (off > 2 ** 63 - this.cs) throw new BlockError('offset', 'EINVAL');
            // Bounded like the counts themselves: no file grown past what can be checked.
            if ((off + this.cs) / this.cs > MAX_CHECK_CLUSTERS) throw new BlockError('File too large', 'EFBIG');
            await this.file.truncate(off + this.cs);
            this.counts.cover(Math.ceil(this.file.length() / this.cs));
            res.corruptions--;
            res.corruptionsFixed++;
            this.inc(res, off, this.cs);
          } catch (e) {
            this.rebuild = true;
            const why = errnoText((e as BlockError).code);
            if ((e as BlockError).code !== 'EINVAL') this.log(`${this.s.prog}: Could not resize file: ${why}`);
            this.log(`ERROR could not resize image: ${why}`);
          }
        }
        continue;
      }
      if (off !== 0) {
        this.inc(res, off, this.cs);
        if (this.counts.get(cluster) !== 1) {
          this.log(`ERROR refcount block ${t} refcount=${this.counts.get(cluster)}`);
          res.corruptions++;
          this.rebuild = true;
        }
      }
    }
  }

  // ---- comparing ----

  private async compare(res: CheckResult, fix: number): Promise<void> {
    const per = this.disk.perBlock;
    const n = this.counts.size;
    for (let t = 0; t * per < n; t++) {
      let block: RefBlock | null = null;
      let err: string | null = null;
      try {
        block = await this.disk.block(t);
      } catch (e) {
        err = errnoText((e as BlockError).code);
      }
      const end = Math.min(n, (t + 1) * per);
      for (let i = t * per; i < end; i++) {
        if (err !== null) {
          this.log(`Can't get refcount for cluster ${i}: ${err}`);
          res.checkErrors++;
          continue;
        }
        const r1 = this.disk.entry(block, i - t * per);
        const r2 = this.counts.get(i);
        if (r1 > 0 || r2 > 0) this.highest = i;
        if (r1 === r2) continue;
        let fixing: 'leaks' | 'corruptions' | null = null;
        if (r1 === 0) this.rebuild = true;
        else if (r1 > r2 && fix & FIX_LEAKS) fixing = 'leaks';
        else if (r1 < r2 && fix & FIX_ERRORS) fixing = 'corruptions';
        this.log(`${fixing ? 'Repairing' : r1 < r2 ? 'ERROR' : 'Leaked'} cluster ${i} refcount=${r1} reference=${r2}`);
        if (fixing) {
          try {
            await this.disk.set(i, r2);
            if (fixing === 'leaks') res.leaksFixed++;
            else res.corruptionsFixed++;
            continue;
          } catch {
            // fall through: counted as not repaired
          }
        }
        if (r1 < r2) res.corruptions++;
        else res.leaks++;
      }
    }
    await this.disk.writeBack();
  }

  /** Bit 63 of L1 and L2 entries must be set exactly when the refcount is 1 (active tables). */
  private async checkCopiedFlags(res: CheckResult): Promise<void> {
    const repair = this.fix & FIX_ERRORS ? true : this.fix & FIX_LEAKS ? !res.checkErrors && !res.corruptions && !res.leaks : false;
    const h = this.h;
    const l1 = await readZeroPadded(this.file, h.l1TableOffset, h.l1Size * 8);
    const l1dv = new DataView(l1.buffer);
    const refcount = async (offset: number): Promise<number | null> => {
      try {
        return await this.disk.get(Math.floor(offset / this.cs));
      } catch {
        return null;
      }
    };
    for (let i = 0; i < h.l1Size; i++) {
      let hi = l1dv.getUint32(i * 8);
      const lo = l1dv.getUint32(i * 8 + 4);
      const l2 = entryOffset(hi, lo);
      if (l2 === 0) continue;
      const r = await refcount(l2);
      if (r === null) continue;
      if ((r === 1) !== ((hi & COPIED) !== 0)) {
        res.corruptions++;
        this.log(`${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex64(hi, lo)} refcount=${r}`);
        if (repair) {
          hi = r === 1 ? (hi | COPIED) >>> 0 : hi & ~COPIED;
          l1dv.setUint32(i * 8, hi);
          await this.file.write(h.l1TableOffset + i * 8, l1.subarray(i * 8, i * 8 + 8));
          await this.file.flush();
          res.corruptions--;
          res.corruptionsFixed++;
        }
      }
      const table = await readZeroPadded(this.file, l2, this.cs);
      const dv = new DataView(table.buffer);
      let dirty = 0;
      for (let pos = 0; pos < this.cs; pos += this.entrySize) {
        const ehi = dv.getUint32(pos);
        const elo = dv.getUint32(pos + 4);
        if (ehi & COMPRESSED) continue;
        const host = entryOffset(ehi, elo);
        if (host === 0) continue;
        const rc = await refcount(host);
        if (rc === null) continue;
        if ((rc === 1) !== ((ehi & COPIED) !== 0)) {
          res.corruptions++;
          this.log(`${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED data cluster: l2_entry=${hex64(ehi, elo)} refcount=${rc}`);
          if (repair) {
            dv.setUint32(pos, rc === 1 ? (ehi | COPIED) >>> 0 : ehi & ~COPIED);
            dirty++;
          }
        }
      }
      if (dirty > 0) {
        await this.file.write(l2, table);
        await this.file.flush();
        res.corruptions -= dirty;
        res.corruptionsFixed += dirty;
      }
    }
  }
}

/** One pass of the check (with `fix`, repairs as it goes). Throws CheckFailed if it cannot finish. */
export async function checkQcow2(s: CheckSession, fix: number): Promise<CheckResult> {
  if (fix && s.readOnly) throw new BlockError('cannot repair a read-only image', 'EROFS');
  return new Checker(s, fix).run();
}
