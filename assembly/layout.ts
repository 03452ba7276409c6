// Fixed addresses inside the WebAssembly linear memory. Everything the CPU touches on the
// instruction path sits at a constant address so that loads and stores compile to one instruction.
// AssemblyScript's own static data starts at memoryBase (asconfig.json), above all of this.

/** 16 general-purpose registers, 8 bytes each, in encoding order. */
export const REGS: u32 = 0x1000;
/** 8 segment registers (ES CS SS DS FS GS LDTR TR), SEG_SIZE bytes each. */
export const SEGS: u32 = 0x1100;
export const SEG_SIZE: u32 = 32;
// Offsets inside one segment record.
export const SEG_SELECTOR: u32 = 0;
export const SEG_FLAGS: u32 = 4; // descriptor dword 2 masked with 0x00f0ff00
export const SEG_BASE: u32 = 8;
export const SEG_LIMIT: u32 = 16; // byte granular, already scaled by G
/** Derived from SEG_FLAGS: bit 0 reads, bit 1 writes need only a limit check (state.ts). */
export const SEG_FAST: u32 = 20;
/** Debug registers DR0-DR7, 8 bytes each. */
export const DREGS: u32 = 0x1200;
/** x87/MMX/SSE state, 512 bytes, laid out as the FXSAVE image (SDM Vol. 1 §10.5.1) (x87.ts). */
export const FPU_STATE: u32 = 0x1400;
/** 8 bytes where the host leaves the value of an MSR it owns (host.ts hostMsrRead). */
export const MSR_SCRATCH: u32 = 0x1600;
/** The MTRRs: 11 fixed-range, 8 base/mask pairs and the default type, 8 bytes each (mtrr.ts). */
export const MTRR_STATE: u32 = 0x1700;

/** The software TLB: TLB_ENTRIES direct-mapped entries of 16 bytes (tag u64, addend u32, info u32). */
export const TLB: u32 = 0x10000;
export const TLB_BITS: u32 = 12;
export const TLB_ENTRIES: u32 = 1 << TLB_BITS;
export const TLB_MASK: u32 = TLB_ENTRIES - 1;

/** The block cache (decode.ts): 2^BLOCK_BITS headers of 2^BLOCK_HEADER_SHIFT bytes (2 MiB). */
export const BLOCKS: u32 = 0x2000000;
export const BLOCK_BITS: u32 = 16;
export const BLOCK_HEADER_SHIFT: u32 = 5;
/** A record for an instruction that is decoded each time it runs (decode.ts). */
export const SCRATCH_RECORD: u32 = 0x600000;
/** Decoded instructions are records of 2^RECORD_SHIFT bytes. */
export const RECORD_SHIFT: u32 = 6;
/** One byte per 4 KiB physical page below 4 GiB: 1 if instructions were decoded from it. */
export const CODEMAP: u32 = 0x700000;

/** One u32 per 4 KiB physical page below 4 GiB: host address of the page | PHYS_* kind bits. */
export const PHYSMAP: u32 = 0x100000;
export const PHYS_PAGES: u32 = 0x100000;
export const PHYS_RAM: u32 = 0;
export const PHYS_ROM: u32 = 1; // reads from the host page, writes are ignored
export const PHYS_MMIO: u32 = 2; // every access goes to the host (devices, or unassigned)
export const PHYS_KIND_MASK: u32 = 0xfff;

/** Firmware images (read-only regions) are copied here; 16 MiB of room. */
export const ROM_AREA: u32 = 0x1000000;
export const ROM_AREA_SIZE: u32 = 0x1000000;
/** The records of the cached blocks, allocated in order until the pool is full (decode.ts). */
export const RECORD_POOL: u32 = 0x2200000;
export const RECORD_POOL_END: u32 = 0x4000000;
/** Guest physical RAM starts here and runs to the end of the memory. */
export const RAM_BASE: u32 = 0x4000000;
