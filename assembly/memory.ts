// Guest memory: the physical map, the software TLB, page-table walks and linear-address access.
// A TLB hit costs a tag compare, a permission-mask test and an add; everything else (misses,
// MMIO, ROM writes, page-crossing accesses, dirty-bit updates) takes the slow path.
import {
  TLB, TLB_MASK, TLB_ENTRIES, PHYSMAP, PHYS_PAGES, PHYS_RAM, PHYS_ROM, PHYS_MMIO, PHYS_KIND_MASK,
  RAM_BASE,
} from "./layout";
import { hostMmioRead, hostMmioWrite } from "./host";
import { raise, EXC_PF, EXC_GP } from "./fault";
import { invalidateFetch, invalidateDecoded, codeWritten, CODEMAP } from "./decode";
import * as st from "./state";
import { cr0, cr3, cr4, efer, a20Mask, CR0_PG, CR0_WP, CR4_PSE, CR4_PAE, CR4_PGE, EFER_LMA, EFER_NXE } from "./state";

// TLB entry layout: +0 linear page tag (u64, 1 = invalid), +8 addend (u32: host = lin + addend;
// for MMIO pages the physical page number), +12 info bits below.
const T_NOUSER: u32 = 1; // U/S = 0 somewhere in the walk
const T_NOWRITE_USER: u32 = 2; // user writes need the slow path (read-only, or D not yet set)
const T_NOWRITE_SUPER: u32 = 4; // supervisor writes need the slow path
const T_NOEXEC: u32 = 8; // NX
const T_MMIO: u32 = 16; // every access goes to the host
const T_ROM: u32 = 32; // writes are dropped
const T_GLOBAL: u32 = 64; // survives CR3 reloads (CR4.PGE)
const T_CODE: u32 = 128; // the page holds decoded instructions: writes go through codeWritten()

// Access kinds for the walk.
export const ACC_READ: u32 = 0;
export const ACC_WRITE: u32 = 1;
export const ACC_FETCH: u32 = 2;

/** Info bits that force the slow path, per access kind, for the current CPL. */
export let readMask: u32 = T_MMIO;
export let writeMask: u32 = T_MMIO | T_NOWRITE_SUPER | T_CODE;
export let fetchMask: u32 = T_MMIO | T_NOEXEC;
/** True while the CPU makes implicit supervisor accesses (descriptor tables, TSS) at CPL 3. */
let userAccess: bool = false;

/** Recompute the masks after a CPL change. */
export function setPrivilegeMasks(user: bool): void {
  userAccess = user;
  if (user) {
    readMask = T_MMIO | T_NOUSER;
    writeMask = T_MMIO | T_NOUSER | T_NOWRITE_USER | T_CODE;
    fetchMask = T_MMIO | T_NOUSER | T_NOEXEC;
  } else {
    readMask = T_MMIO;
    writeMask = T_MMIO | T_NOWRITE_SUPER | T_CODE;
    fetchMask = T_MMIO | T_NOEXEC;
  }
}

let savedUser: bool = false;
/** Bracket implicit system accesses (GDT/IDT/TSS reads) that are supervisor even at CPL 3. */
export function beginSupervisorAccess(): void {
  savedUser = userAccess;
  setPrivilegeMasks(false);
}
export function endSupervisorAccess(): void {
  setPrivilegeMasks(savedUser);
}

// --- physical memory ---

export let ramSize: u64 = 0;

/** Lay out the physical map: RAM below ramSize, the legacy VGA window and the rest as MMIO. */
export function initPhysMap(size: u64): void {
  ramSize = size;
  for (let p: u32 = 0; p < PHYS_PAGES; p++) {
    const pa = <u64>p << 12;
    let e: u32;
    if (pa < size && !(pa >= 0xa0000 && pa < 0xc0000)) e = (RAM_BASE + <u32>pa) | PHYS_RAM;
    else e = PHYS_MMIO;
    store<u32>(PHYSMAP + (p << 2), e);
  }
}

export function mapPhysPages(pa: u32, pages: u32, hostAddr: u32, kind: u32): void {
  for (let i: u32 = 0; i < pages; i++) {
    const p = (pa >>> 12) + i;
    if (p >= PHYS_PAGES) break;
    store<u32>(PHYSMAP + (p << 2), kind == PHYS_MMIO ? PHYS_MMIO : ((hostAddr + (i << 12)) | kind));
  }
  flushTlb(true);
  invalidateDecoded();
}

/** Physical map entry of a physical address (above 4 GiB: unassigned MMIO). */
@inline function physEntry(pa: u64): u32 {
  if (pa >= 0x100000000) return PHYS_MMIO;
  return load<u32>(PHYSMAP + ((<u32>(pa >> 12)) << 2));
}

export function physRead8(pa: u64): u32 {
  const e = physEntry(pa);
  if ((e & PHYS_KIND_MASK) == PHYS_MMIO) return hostMmioRead(pa, 1) & 0xff;
  return load<u8>((e & ~PHYS_KIND_MASK) + (<u32>pa & 0xfff));
}
export function physRead32(pa: u64): u32 {
  const e = physEntry(pa);
  if ((e & PHYS_KIND_MASK) == PHYS_MMIO || (<u32>pa & 0xfff) > 0xffc) {
    if ((<u32>pa & 0xfff) > 0xffc) {
      return physRead8(pa) | (physRead8(pa + 1) << 8) | (physRead8(pa + 2) << 16) | (physRead8(pa + 3) << 24);
    }
    return hostMmioRead(pa, 4);
  }
  return load<u32>((e & ~PHYS_KIND_MASK) + (<u32>pa & 0xfff));
}
export function physRead64(pa: u64): u64 {
  return <u64>physRead32(pa) | (<u64>physRead32(pa + 4) << 32);
}
export function physWrite8(pa: u64, v: u32): void {
  const e = physEntry(pa);
  const k = e & PHYS_KIND_MASK;
  if (k == PHYS_MMIO) hostMmioWrite(pa, 1, v & 0xff);
  else if (k == PHYS_RAM) {
    const h = (e & ~PHYS_KIND_MASK) + (<u32>pa & 0xfff);
    if (load<u8>(CODEMAP + <u32>(pa >> 12)) != 0) codeWritten(h);
    store<u8>(h, <u8>v);
  }
}
export function physWrite32(pa: u64, v: u32): void {
  const e = physEntry(pa);
  const k = e & PHYS_KIND_MASK;
  if (k == PHYS_RAM && (<u32>pa & 0xfff) <= 0xffc) {
    const h = (e & ~PHYS_KIND_MASK) + (<u32>pa & 0xfff);
    if (load<u8>(CODEMAP + <u32>(pa >> 12)) != 0) codeWritten(h);
    store<u32>(h, v);
  } else if (k == PHYS_MMIO && (<u32>pa & 3) == 0) {
    hostMmioWrite(pa, 4, v);
  } else {
    for (let i: u32 = 0; i < 4; i++) physWrite8(pa + i, v >> (i * 8));
  }
}

// --- TLB ---

// Decoded instructions are keyed by physical address (decode.ts), so TLB flushes leave them be.
export function flushTlb(includeGlobal: bool): void {
  invalidateFetch();
  for (let i: u32 = 0; i < TLB_ENTRIES; i++) {
    const e = TLB + (i << 4);
    if (includeGlobal || (load<u32>(e + 12) & T_GLOBAL) == 0) store<u64>(e, 1);
  }
}

export function flushTlbPage(lin: u64): void {
  invalidateFetch();
  const e = TLB + ((<u32>(lin >> 12) & TLB_MASK) << 4);
  if (load<u64>(e) == (lin & ~<u64>0xfff)) store<u64>(e, 1);
}

/**
 * Set or clear T_CODE in every TLB entry that maps the RAM page at host address `page` (aliases
 * included): pages that hold decoded code take the slow path for writes (decode.ts codeWritten).
 */
export function tlbSetCode(page: u32, on: bool): void {
  for (let i: u32 = 0; i < TLB_ENTRIES; i++) {
    const e = TLB + (i << 4);
    const tag = load<u64>(e);
    if (tag == 1) continue;
    const info = load<u32>(e + 12);
    if ((info & T_MMIO) != 0 || <u32>tag + load<u32>(e + 8) != page) continue;
    store<u32>(e + 12, on ? info | T_CODE : info & ~T_CODE);
  }
}

/**
 * The TLB entry for an instruction fetch at `lin` (filled on a miss, which may raise #PF), or 0
 * when the page is MMIO.
 */
export function fetchEntry(lin: u64): u32 {
  const e = entryFor(lin, ACC_FETCH);
  return (load<u32>(e + 12) & T_MMIO) != 0 ? 0 : e;
}

/** Is a 64-bit linear address canonical (48-bit)? */
@inline export function isCanonical(lin: u64): bool {
  return <u64>((<i64>(lin << 16)) >> 16) == lin;
}

function pageFault(lin: u64, access: u32, present: bool, rsvd: bool): void {
  let code: u32 = present ? 1 : 0;
  if (access == ACC_WRITE) code |= 2;
  if (userAccess) code |= 4;
  if (rsvd) code |= 8;
  // I/D is reported only where NX exists: PAE or 4-level paging with EFER.NXE (SDM Vol. 3A §4.7).
  if (access == ACC_FETCH && (efer & EFER_NXE) != 0 && (cr4 & CR4_PAE) != 0) code |= 16;
  st.cr2 = lin;
  raise(EXC_PF, <i32>code);
}

// Physical-address bits a page-table entry may hold (MAXPHYADDR 40, as QEMU's qemu64 model).
const ADDR_MASK: u64 = 0x000000fffffff000;
const RSVD_HIGH: u64 = 0x000fff0000000000; // bits 40-51 must be zero
const PTE_P: u64 = 1;
const PTE_RW: u64 = 2;
const PTE_US: u64 = 4;
const PTE_A: u64 = 0x20;
const PTE_D: u64 = 0x40;
const PTE_PS: u64 = 0x80;
const PTE_G: u64 = 0x100;
const PTE_NX: u64 = 0x8000000000000000;

// Results of the last walk.
let walkPhys: u64 = 0;
let walkUser: bool = true;
let walkWrite: bool = true;
let walkNx: bool = false;
let walkGlobal: bool = false;
let walkDirty: bool = false;

/** Sets the A bit of a paging-structure entry if clear (SDM Vol. 3A §4.8). */
@inline function touch64(addr: u64, e: u64): u64 {
  if ((e & PTE_A) == 0) {
    e |= PTE_A;
    physWrite32(addr, <u32>e);
  }
  return e;
}

/**
 * Walk the paging structures for `lin`, checking rights for `access` at the current privilege.
 * On success fills walkPhys/walk* and updates A/D bits; otherwise raises #PF.
 */
function walk(lin: u64, access: u32): void {
  const nxe = (efer & EFER_NXE) != 0;
  let user = true, write = true, nx = false, global = false;
  let pa: u64 = 0;
  let leafAddr: u64 = 0;
  let leaf: u64 = 0;
  let pageMask: u64 = 0xfff;
  const rsvdNx: u64 = nxe ? 0 : PTE_NX;
  if ((cr4 & CR4_PAE) == 0) {
    // 32-bit paging (SDM Vol. 3A §4.3).
    const pdeAddr = ((cr3 & 0xfffff000) + ((lin >> 20) & 0xffc)) & a20Mask;
    let pde = <u64>physRead32(pdeAddr);
    if ((pde & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
    user = (pde & PTE_US) != 0;
    write = (pde & PTE_RW) != 0;
    if ((pde & PTE_PS) != 0 && (cr4 & CR4_PSE) != 0) {
      leafAddr = pdeAddr;
      leaf = pde;
      // PSE-36: bits 13-20 of the PDE hold physical address bits 32-39.
      pa = (pde & 0xffc00000) | ((pde & 0x1fe000) << 19);
      pageMask = 0x3fffff;
    } else {
      pde = touch64(pdeAddr, pde);
      const pteAddr = ((pde & 0xfffff000) + ((lin >> 10) & 0xffc)) & a20Mask;
      const pte = <u64>physRead32(pteAddr);
      if ((pte & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
      user = user && (pte & PTE_US) != 0;
      write = write && (pte & PTE_RW) != 0;
      leafAddr = pteAddr;
      leaf = pte;
      pa = pte & 0xfffff000;
      pageMask = 0xfff;
    }
  } else {
    let tableAddr: u64 = 0;
    let level: i32 = 2;
    if ((efer & EFER_LMA) != 0) {
      // 4-level paging (SDM Vol. 3A §4.5).
      const pml4Addr = ((cr3 & ADDR_MASK) + ((lin >> 36) & 0xff8)) & a20Mask;
      let pml4 = physRead64(pml4Addr);
      if ((pml4 & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
      if ((pml4 & (RSVD_HIGH | PTE_PS | rsvdNx)) != 0) { pageFault(lin, access, true, true); return; }
      pml4 = touch64(pml4Addr, pml4);
      user = (pml4 & PTE_US) != 0;
      write = (pml4 & PTE_RW) != 0;
      nx = (pml4 & PTE_NX) != 0;
      const pdpteAddr = ((pml4 & ADDR_MASK) + ((lin >> 27) & 0xff8)) & a20Mask;
      let pdpte = physRead64(pdpteAddr);
      if ((pdpte & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
      if ((pdpte & (RSVD_HIGH | rsvdNx)) != 0) { pageFault(lin, access, true, true); return; }
      user = user && (pdpte & PTE_US) != 0;
      write = write && (pdpte & PTE_RW) != 0;
      nx = nx || (pdpte & PTE_NX) != 0;
      if ((pdpte & PTE_PS) != 0) {
        // 1 GiB page; bits 13-29 are reserved.
        if ((pdpte & 0x3fffe000) != 0) { pageFault(lin, access, true, true); return; }
        leafAddr = pdpteAddr;
        leaf = pdpte;
        pa = pdpte & 0x000fffffc0000000;
        pageMask = 0x3fffffff;
        level = 3;
      } else {
        pdpte = touch64(pdpteAddr, pdpte);
        tableAddr = pdpte & ADDR_MASK;
        level = 2;
      }
    } else {
      // PAE paging (SDM Vol. 3A §4.4): the four PDPTEs have no rights bits.
      const pdpteAddr = ((cr3 & 0xffffffe0) + ((lin >> 27) & 0x18)) & a20Mask;
      const pdpte = physRead64(pdpteAddr);
      if ((pdpte & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
      if ((pdpte & (RSVD_HIGH | 0x1e6)) != 0) { pageFault(lin, access, true, true); return; }
      tableAddr = pdpte & ADDR_MASK;
      level = 2;
    }
    if (level == 2) {
      const pdeAddr = (tableAddr + ((lin >> 18) & 0xff8)) & a20Mask;
      let pde = physRead64(pdeAddr);
      if ((pde & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
      if ((pde & (RSVD_HIGH | rsvdNx)) != 0) { pageFault(lin, access, true, true); return; }
      user = user && (pde & PTE_US) != 0;
      write = write && (pde & PTE_RW) != 0;
      nx = nx || (pde & PTE_NX) != 0;
      if ((pde & PTE_PS) != 0) {
        if ((pde & 0x1fe000) != 0) { pageFault(lin, access, true, true); return; }
        leafAddr = pdeAddr;
        leaf = pde;
        pa = pde & 0x000fffffffe00000;
        pageMask = 0x1fffff;
      } else {
        pde = touch64(pdeAddr, pde);
        const pteAddr = ((pde & ADDR_MASK) + ((lin >> 9) & 0xff8)) & a20Mask;
        const pte = physRead64(pteAddr);
        if ((pte & PTE_P) == 0) { pageFault(lin, access, false, false); return; }
        if ((pte & (RSVD_HIGH | rsvdNx)) != 0) { pageFault(lin, access, true, true); return; }
        user = user && (pte & PTE_US) != 0;
        write = write && (pte & PTE_RW) != 0;
        nx = nx || (pte & PTE_NX) != 0;
        leafAddr = pteAddr;
        leaf = pte;
        pa = pte & ADDR_MASK;
        pageMask = 0xfff;
      }
    }
    if (!nxe) nx = false;
  }
  global = (leaf & PTE_G) != 0 && (cr4 & CR4_PGE) != 0;
  // Rights (SDM Vol. 3A §4.6).
  if (userAccess) {
    if (!user) { pageFault(lin, access, true, false); return; }
    if (access == ACC_WRITE && !write) { pageFault(lin, access, true, false); return; }
  } else if (access == ACC_WRITE && !write && (cr0 & CR0_WP) != 0) {
    pageFault(lin, access, true, false); return;
  }
  if (access == ACC_FETCH && nx) { pageFault(lin, access, true, false); return; }
  // Accessed and dirty bits on the leaf.
  const needD = access == ACC_WRITE && (leaf & PTE_D) == 0;
  if ((leaf & PTE_A) == 0 || needD) {
    leaf |= PTE_A;
    if (access == ACC_WRITE) leaf |= PTE_D;
    physWrite32(leafAddr, <u32>leaf);
  }
  walkPhys = (pa | (lin & pageMask)) & a20Mask;
  walkUser = user;
  walkWrite = write;
  walkNx = nx;
  walkGlobal = global;
  walkDirty = (leaf & PTE_D) != 0;
}

/** Translate and fill the TLB entry for `lin`. Returns the entry's address. */
export function tlbFill(lin: u64, access: u32): u32 {
  const page = lin & ~<u64>0xfff;
  let info: u32 = 0;
  let pa: u64;
  if ((cr0 & CR0_PG) != 0) {
    if ((efer & EFER_LMA) != 0 && !isCanonical(lin)) {
      raise(EXC_GP, 0);
    }
    walk(lin, access);
    pa = walkPhys & ~<u64>0xfff;
    if (!walkUser) info |= T_NOUSER;
    if (!walkWrite) info |= T_NOWRITE_USER | ((cr0 & CR0_WP) != 0 ? T_NOWRITE_SUPER : 0);
    if (!walkDirty) info |= T_NOWRITE_USER | T_NOWRITE_SUPER;
    if (walkNx) info |= T_NOEXEC;
    if (walkGlobal) info |= T_GLOBAL;
  } else {
    pa = (lin & 0xfffff000) & a20Mask;
  }
  const pe = physEntry(pa);
  const kind = pe & PHYS_KIND_MASK;
  const e = TLB + ((<u32>(lin >> 12) & TLB_MASK) << 4);
  if (kind == PHYS_MMIO) {
    info |= T_MMIO;
    store<u32>(e + 8, <u32>(pa >> 12));
  } else {
    if (kind == PHYS_ROM) info |= T_ROM | T_NOWRITE_USER | T_NOWRITE_SUPER;
    else if (pa < 0x100000000 && load<u8>(CODEMAP + <u32>(pa >> 12)) != 0) info |= T_CODE;
    store<u32>(e + 8, (pe & ~PHYS_KIND_MASK) - <u32>page);
  }
  store<u32>(e + 12, info);
  store<u64>(e, page);
  return e;
}

/** Physical address of an MMIO TLB entry's page plus offset. */
@inline function mmioAddr(e: u32, lin: u64): u64 {
  return (<u64>load<u32>(e + 8) << 12) | (lin & 0xfff);
}

/** Entry for a read of `lin` (slow path: may walk and fault). */
function entryFor(lin: u64, access: u32): u32 {
  const e = TLB + ((<u32>(lin >> 12) & TLB_MASK) << 4);
  const mask = access == ACC_WRITE ? writeMask : access == ACC_FETCH ? fetchMask : readMask;
  if (load<u64>(e) == (lin & ~<u64>0xfff) && (load<u32>(e + 12) & mask & ~(T_MMIO | T_ROM | T_CODE)) == 0) return e;
  return tlbFill(lin, access);
}

// --- linear access, slow paths ---

function readSlow(lin: u64, size: u32, access: u32): u64 {
  if ((<u32>lin & 0xfff) + size > 0x1000) {
    // Page-crossing: byte by byte, low address first (both pages are checked before use).
    let v: u64 = 0;
    for (let i: u32 = 0; i < size; i++) v |= <u64>readByte(lin + i, access) << (i * 8);
    return v;
  }
  const e = entryFor(lin, access);
  if ((load<u32>(e + 12) & T_MMIO) != 0) {
    const pa = mmioAddr(e, lin);
    if (size == 8) return <u64>hostMmioRead(pa, 4) | (<u64>hostMmioRead(pa + 4, 4) << 32);
    return <u64>hostMmioRead(pa, size);
  }
  const h = <u32>lin + load<u32>(e + 8);
  switch (size) {
    case 1: return <u64>load<u8>(h);
    case 2: return <u64>load<u16>(h);
    case 4: return <u64>load<u32>(h);
    default: return load<u64>(h);
  }
}

function readByte(lin: u64, access: u32): u32 {
  const e = entryFor(lin, access);
  if ((load<u32>(e + 12) & T_MMIO) != 0) return hostMmioRead(mmioAddr(e, lin), 1) & 0xff;
  return load<u8>(<u32>lin + load<u32>(e + 8));
}

function writeSlow(lin: u64, size: u32, v: u64): void {
  if ((<u32>lin & 0xfff) + size > 0x1000) {
    // Check both pages before writing anything, so a fault leaves memory untouched.
    const split = 0x1000 - (<u32>lin & 0xfff);
    entryFor(lin, ACC_WRITE);
    entryFor(lin + split, ACC_WRITE);
    for (let i: u32 = 0; i < size; i++) writeByte(lin + i, <u32>(v >> (i * 8)));
    return;
  }
  const e = entryFor(lin, ACC_WRITE);
  const info = load<u32>(e + 12);
  if ((info & T_MMIO) != 0) {
    const pa = mmioAddr(e, lin);
    if (size == 8) {
      hostMmioWrite(pa, 4, <u32>v);
      hostMmioWrite(pa + 4, 4, <u32>(v >> 32));
    } else hostMmioWrite(pa, size, <u32>v);
    return;
  }
  if ((info & T_ROM) != 0) return;
  const h = <u32>lin + load<u32>(e + 8);
  if ((info & T_CODE) != 0) codeWritten(h);
  switch (size) {
    case 1: store<u8>(h, <u8>v); break;
    case 2: store<u16>(h, <u16>v); break;
    case 4: store<u32>(h, <u32>v); break;
    default: store<u64>(h, v); break;
  }
}

function writeByte(lin: u64, v: u32): void {
  const e = entryFor(lin, ACC_WRITE);
  const info = load<u32>(e + 12);
  if ((info & T_MMIO) != 0) hostMmioWrite(mmioAddr(e, lin), 1, v & 0xff);
  else if ((info & T_ROM) == 0) {
    const h = <u32>lin + load<u32>(e + 8);
    if ((info & T_CODE) != 0) codeWritten(h);
    store<u8>(h, <u8>v);
  }
}

// --- linear access, fast paths ---

@inline function hit(lin: u64, size: u32, mask: u32): u32 {
  const e = TLB + ((<u32>(lin >> 12) & TLB_MASK) << 4);
  if (load<u64>(e) == (lin & ~<u64>0xfff) && (load<u32>(e + 12) & mask) == 0 && (<u32>lin & 0xfff) <= 0x1000 - size) {
    return <u32>lin + load<u32>(e + 8);
  }
  return 0;
}

/**
 * Host address of `len` bytes at `lin` (1 <= len, all on one page) when the TLB already allows a
 * plain read (write: a plain write) of them, else 0. For bulk string operations (string.ts).
 */
export function hostRange(lin: u64, len: u32, write: bool): u32 {
  return hit(lin, len, write ? writeMask : readMask);
}

@inline export function readLin8(lin: u64): u32 {
  const h = hit(lin, 1, readMask);
  if (h != 0) return load<u8>(h);
  return <u32>readSlow(lin, 1, ACC_READ);
}
@inline export function readLin16(lin: u64): u32 {
  const h = hit(lin, 2, readMask);
  if (h != 0) return load<u16>(h);
  return <u32>readSlow(lin, 2, ACC_READ);
}
@inline export function readLin32(lin: u64): u32 {
  const h = hit(lin, 4, readMask);
  if (h != 0) return load<u32>(h);
  return <u32>readSlow(lin, 4, ACC_READ);
}
@inline export function readLin64(lin: u64): u64 {
  const h = hit(lin, 8, readMask);
  if (h != 0) return load<u64>(h);
  return readSlow(lin, 8, ACC_READ);
}
export function readLin(lin: u64, size: u32): u64 {
  switch (size) {
    case 1: return <u64>readLin8(lin);
    case 2: return <u64>readLin16(lin);
    case 4: return <u64>readLin32(lin);
    default: return readLin64(lin);
  }
}
@inline export function writeLin8(lin: u64, v: u32): void {
  const h = hit(lin, 1, writeMask);
  if (h != 0) store<u8>(h, <u8>v);
  else writeSlow(lin, 1, <u64>v);
}
@inline export function writeLin16(lin: u64, v: u32): void {
  const h = hit(lin, 2, writeMask);
  if (h != 0) store<u16>(h, <u16>v);
  else writeSlow(lin, 2, <u64>v);
}
@inline export function writeLin32(lin: u64, v: u32): void {
  const h = hit(lin, 4, writeMask);
  if (h != 0) store<u32>(h, v);
  else writeSlow(lin, 4, <u64>v);
}
@inline export function writeLin64(lin: u64, v: u64): void {
  const h = hit(lin, 8, writeMask);
  if (h != 0) store<u64>(h, v);
  else writeSlow(lin, 8, v);
}
export function writeLin(lin: u64, size: u32, v: u64): void {
  switch (size) {
    case 1: writeLin8(lin, <u32>v); break;
    case 2: writeLin16(lin, <u32>v); break;
    case 4: writeLin32(lin, <u32>v); break;
    default: writeLin64(lin, v); break;
  }
}
/** Check that `lin` .. lin+size-1 may be written, without writing (for read-modify-write). */
export function probeWrite(lin: u64, size: u32): void {
  if (hit(lin, size, writeMask) == 0) {
    entryFor(lin, ACC_WRITE);
    if ((<u32>lin & 0xfff) + size > 0x1000) entryFor(lin + size - 1, ACC_WRITE);
  }
}

/** Instruction fetch of one byte. */
export function fetchLin8(lin: u64): u32 {
  const h = hit(lin, 1, fetchMask);
  if (h != 0) return load<u8>(h);
  return readByte(lin, ACC_FETCH);
}

// Unused-variable guard for the optimiser-free debug build.
export const _gp: u32 = EXC_GP;
