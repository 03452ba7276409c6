// A debugger's page walk, for MonitorTarget.readVirtual: it reads the page tables without setting
// accessed/dirty bits and ignores permissions, as QEMU's monitor does (x, memsave).

export interface PagingState {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  /** Default true. */
  a20?: boolean;
}

export type PhysicalReader = (addr: bigint, length: number) => { bytes: Uint8Array; ok: boolean };

const PRESENT = 1n;
const PSE = 0x80n;
const ADDRESS_MASK = 0x000ffffffffff000n;
const CR0_PG = 1n << 31n;
const CR4_PSE = 0x10n;
const CR4_PAE = 0x20n;
const CR4_LA57 = 0x1000n;
const EFER_LMA = 0x400n;

function load(read: PhysicalReader, addr: bigint, size: 4 | 8): bigint {
  const { bytes } = read(addr, size);
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

/** Physical address of the page holding `vaddr` (page-aligned), or null if it is not mapped. */
export function translatePage(st: PagingState, read: PhysicalReader, vaddr: bigint): bigint | null {
  const addr = BigInt.asUintN(64, vaddr);
  // The A20 gate masks bit 20 of every address the walk produces.
  const a20 = st.a20 === false ? ~(1n << 20n) : -1n;
  let pte: bigint;
  let pageSize: bigint;
  if ((st.cr0 & CR0_PG) === 0n) {
    pte = addr & a20;
    pageSize = 4096n;
  } else if (st.cr4 & CR4_PAE) {
    let pdpe: bigint;
    if (st.efer & EFER_LMA) {
      const la57 = (st.cr4 & CR4_LA57) !== 0n;
      const sext = BigInt.asIntN(64, addr) >> (la57 ? 56n : 47n);
      if (sext !== 0n && sext !== -1n) return null;
      let top = st.cr3;
      if (la57) {
        top = load(read, ((st.cr3 & ~0xfffn) + (((addr >> 48n) & 0x1ffn) << 3n)) & a20, 8);
        if (!(top & PRESENT)) return null;
      }
      const pml4e = load(read, ((top & ADDRESS_MASK) + (((addr >> 39n) & 0x1ffn) << 3n)) & a20, 8);
      if (!(pml4e & PRESENT)) return null;
      pdpe = load(read, ((pml4e & ADDRESS_MASK) + (((addr >> 30n) & 0x1ffn) << 3n)) & a20, 8);
      if (!(pdpe & PRESENT)) return null;
      if (pdpe & PSE) {
        return (pdpe & ADDRESS_MASK & ~((1n << 30n) - 1n)) | (addr & ~0xfffn & ((1n << 30n) - 1n));
      }
    } else {
      pdpe = load(read, ((st.cr3 & ~0x1fn) + ((addr >> 27n) & 0x18n)) & a20, 8);
      if (!(pdpe & PRESENT)) return null;
    }
    const pde = load(read, ((pdpe & ADDRESS_MASK) + (((addr >> 21n) & 0x1ffn) << 3n)) & a20, 8);
    if (!(pde & PRESENT)) return null;
    if (pde & PSE) {
      pte = pde;
      pageSize = 2n << 20n;
    } else {
      pte = load(read, ((pde & ADDRESS_MASK) + (((addr >> 12n) & 0x1ffn) << 3n)) & a20, 8);
      pageSize = 4096n;
    }
    if (!(pte & PRESENT)) return null;
  } else {
    const pde = load(read, ((st.cr3 & ~0xfffn) + ((addr >> 20n) & 0xffcn)) & a20, 4);
    if (!(pde & PRESENT)) return null;
    if (pde & PSE && st.cr4 & CR4_PSE) {
      // PSE-36: PDE bits 13-20 are physical address bits 32-39.
      pte = pde | ((pde & 0x1fe000n) << 19n);
      pageSize = 4n << 20n;
    } else {
      pte = load(read, ((pde & ~0xfffn) + ((addr >> 10n) & 0xffcn)) & a20, 4);
      if (!(pte & PRESENT)) return null;
      pageSize = 4096n;
    }
    pte &= a20;
  }
  return (pte & ADDRESS_MASK & ~(pageSize - 1n)) | (addr & ~0xfffn & (pageSize - 1n));
}

/** Read `length` bytes at a virtual address page by page; null if any page is unmapped or unbacked. */
export function readVirtualDebug(st: PagingState, read: PhysicalReader, vaddr: bigint, length: number): Uint8Array | null {
  const out = new Uint8Array(length);
  let addr = BigInt.asUintN(64, vaddr);
  let done = 0;
  while (done < length) {
    const page = translatePage(st, read, addr & ~0xfffn);
    if (page === null) return null;
    const offset = Number(addr & 0xfffn);
    const n = Math.min(4096 - offset, length - done);
    const r = read(page + BigInt(offset), n);
    if (!r.ok) return null;
    out.set(r.bytes.subarray(0, n), done);
    done += n;
    addr = BigInt.asUintN(64, addr + BigInt(n));
  }
  return out;
}
