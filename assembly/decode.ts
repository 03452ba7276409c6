// Instruction decoding: prefixes, opcode, ModRM/SIB/displacement and immediates, driven by the
// attribute table generated from cpu/opcode-table.ts. Results are left in module globals that the
// executor reads; nothing is allocated.
import { OPCODE_ATTRS } from "./generated/opcode-table";
import * as st from "./state";
import { mode, MODE_LONG, CS, SS, DS, ES, FS, GS, segBase, segLimit, reg64 } from "./state";
import { fetchLin8, ramSize, tlbSetCode, fetchEntry } from "./memory";
import { raise, EXC_GP, EXC_UD } from "./fault";
import {
  RAM_BASE, BLOCKS, BLOCK_BITS, BLOCK_HEADER_SHIFT, SCRATCH_RECORD, RECORD_SHIFT, RECORD_POOL, RECORD_POOL_END, CODEMAP,
} from "./layout";
import { specialize, H_JMP, H_CALL } from "./fastpath";
import { execute } from "./execute";
export { CODEMAP };

// Attribute bits; keep in step with scripts/gen-opcode-table.mjs.
export const A_MODRM: u32 = 1;
export const A_I64: u32 = 1 << 4;
export const A_D64: u32 = 1 << 5;
export const A_F64: u32 = 1 << 6;
export const A_UNDEF: u32 = 1 << 7;
export const A_GRP3IMM: u32 = 1 << 8;

// Prefix classes, one byte per opcode byte (SDM Vol. 2 §2.1.1).
const PFX_SEG: u32 = 1;
const PFX_FS: u32 = 2;
const PFX_GS: u32 = 3;
const PFX_OPSIZE: u32 = 4;
const PFX_ADSIZE: u32 = 5;
const PFX_LOCK: u32 = 6;
const PFX_REP: u32 = 7;
const PFX_REX: u32 = 8;
const PREFIX_CLASS: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

// --- the block cache ---
// Decoding is the most expensive part of interpreting x86, so instructions are decoded once into
// 64-byte records. The records of a run of instructions, as it first executed, are kept together
// as a block: up to MAX_BLOCK instructions on one page, ended by the first branch taken (a direct
// JMP or CALL to the same page is followed), an event, or the page's end. A block is found by the
// host address of its first byte (so by physical address: blocks survive CR3 loads, INVLPG and
// other TLB flushes) and the decode context (mode, CPL, default sizes); its records lie one after
// the other in the record pool, and run() executes them in order for as long as each instruction
// goes where it went when the block was built (runBlock). Pages that hold decoded code are marked
// in CODEMAP, and every TLB entry that maps one forces writes through the slow path, which drops
// the blocks of that page alone and unmarks it (codeWritten). Everything goes stale at once (a new
// epoch) when the host rewrites guest memory or the physical map, or when the pool is full.
// An instruction that crosses a page boundary or comes from MMIO is decoded each time it runs.
const BLOCK_MASK: u32 = (1 << BLOCK_BITS) - 1;
const REC: u32 = 1 << RECORD_SHIFT;
const MAX_BLOCK: u32 = 64;
// Block header layout.
const B_TAG: u32 = 0; // u32 host address of the first instruction (1: invalid)
const B_COUNT: u32 = 4; // u32 instructions
const B_KEY: u32 = 8; // u64: epoch (low half) and decode context (high half), compared at once
const B_RECORDS: u32 = 16; // u32 address of the first record
const B_BYTES: u32 = 20; // u32 end of the highest instruction, past the first one's address: the CS limit check
// Record layout.
const I_SUCC: u32 = 0; // i64: where the block goes on after this instruction, minus its address
const I_OP: u32 = 52; // u16
const I_LEN: u32 = 54; // u8
const I_FLAGS: u32 = 55; // u8, F_* below
const I_OSZ: u32 = 16;
const I_ASZ: u32 = 17;
const I_SEGOVR: u32 = 18; // i8, -1 for none
const I_REX: u32 = 19;
const I_REP: u32 = 20;
const I_MODRM: u32 = 21;
const I_REG: u32 = 22;
const I_RM: u32 = 23;
const I_BASE: u32 = 24; // 16: none
const I_INDEX: u32 = 25; // 16: none
const I_SCALE: u32 = 26;
const I_EASEG: u32 = 27;
const I_DISP: u32 = 28; // i32
const I_IMM: u32 = 32; // u64
const I_IMM2: u32 = 40; // u32
export const I_HANDLER: u32 = 48; // u16: opcode, or a specialised handler (fastpath.ts)
const IF_EAREG: u32 = 1; // ModRM names a register
const IF_MEM: u32 = 2; // ModRM names memory
const IF_RIPREL: u32 = 4;
const IF_REXW: u32 = 8;
const IF_OPSIZE: u32 = 16; // a 0x66 prefix was present (a mandatory prefix for SSE forms)

/** Current epoch; blocks of older epochs are invalid. */
let epoch: u32 = 1;
/** Next free record in the pool. */
let poolNext: u32 = RECORD_POOL;
/** The record of the instruction being executed. */
export let ins: u32 = SCRATCH_RECORD;

/** What a valid block's B_KEY word holds now. */
@inline function validKey(): u64 {
  return <u64>epoch | (<u64>st.decodeContext << 32);
}

@inline function headerOf(host: u32): u32 {
  return BLOCKS + (((host ^ (host >> BLOCK_BITS)) & BLOCK_MASK) << BLOCK_HEADER_SHIFT);
}

/** Make every block stale (the host rewrote guest memory or the physical map). */
export function invalidateDecoded(): void {
  epoch++;
  if (epoch == 0) {
    memory.fill(BLOCKS, 0, 1 << (BLOCK_BITS + BLOCK_HEADER_SHIFT));
    epoch = 1;
  }
  poolNext = RECORD_POOL;
  st.events |= st.EV_RESYNC;
}

/** Guest RAM page of `host` now holds decoded code: writes to it must take the slow path from now on. */
function markCode(host: u32): void {
  if (host < RAM_BASE || host - RAM_BASE >= <u32>ramSize) return;
  const ppn = (host - RAM_BASE) >> 12;
  if (load<u8>(CODEMAP + ppn) != 0) return;
  store<u8>(CODEMAP + ppn, 1);
  tlbSetCode(host & ~0xfff, true);
}

/**
 * A write reached `host`, on a page marked in CODEMAP: drop the blocks that start on that page
 * (blocks never leave their page) and unmark it; it is marked again when code is decoded from it.
 * The 4096 byte addresses of a page hash to one aligned run of 4096 headers, all that needs a look.
 */
export function codeWritten(host: u32): void {
  if (host < RAM_BASE || host - RAM_BASE >= <u32>ramSize) return;
  const ppn = (host - RAM_BASE) >> 12;
  if (load<u8>(CODEMAP + ppn) == 0) return;
  store<u8>(CODEMAP + ppn, 0);
  const page = host & ~0xfff;
  const first = BLOCKS + ((((page ^ (page >> BLOCK_BITS)) & BLOCK_MASK) & ~0xfff) << BLOCK_HEADER_SHIFT);
  for (let i: u32 = 0; i < 4096; i++) {
    const h = first + (i << BLOCK_HEADER_SHIFT);
    if ((load<u32>(h + B_TAG) & ~0xfff) == page) store<u32>(h + B_TAG, 1);
  }
  tlbSetCode(page, false);
  // The block being run may be one of them.
  st.events |= st.EV_RESYNC;
}

// Getters for the executor.
@inline export function op(): u32 { return <u32>load<u16>(ins + I_OP); }
@inline export function handler(): u32 { return <u32>load<u16>(ins + I_HANDLER); }
/** Operand size in bytes for "v" operands: 2, 4 or 8. */
@inline export function osz(): u32 { return <u32>load<u8>(ins + I_OSZ); }
/** Address size in bytes: 2, 4 or 8. */
@inline export function asz(): u32 { return <u32>load<u8>(ins + I_ASZ); }
@inline export function segOverride(): i32 { return <i32>load<i8>(ins + I_SEGOVR); }
/** REX prefix byte, 0 if none. */
@inline export function rex(): u32 { return <u32>load<u8>(ins + I_REX); }
@inline export function rexW(): bool { return (load<u8>(ins + I_FLAGS) & IF_REXW) != 0; }
/** A 0x66 prefix was present (SSE: selects the 66-prefixed form of an opcode). */
@inline export function opsizePrefix(): bool { return (load<u8>(ins + I_FLAGS) & IF_OPSIZE) != 0; }
/** 0xF2, 0xF3 or 0. */
@inline export function repPrefix(): u32 { return <u32>load<u8>(ins + I_REP); }
@inline export function modrm(): u32 { return <u32>load<u8>(ins + I_MODRM); }
/** ModRM.reg extended by REX.R. */
@inline export function modrmReg(): u32 { return <u32>load<u8>(ins + I_REG); }
/** ModRM.rm extended by REX.B (the register when mod = 3). */
@inline export function modrmRm(): u32 { return <u32>load<u8>(ins + I_RM); }
@inline export function eaIsReg(): bool { return (load<u8>(ins + I_FLAGS) & IF_EAREG) != 0; }
/** Segment of the memory operand (default or override). */
@inline export function eaSeg(): u32 { return <u32>load<u8>(ins + I_EASEG); }
/** Base register of the memory operand (16: none); POP Ev needs to know if it is RSP. */
@inline export function eaBase(): u32 { return <u32>load<u8>(ins + I_BASE); }
@inline export function imm(): u64 { return load<u64>(ins + I_IMM); }
@inline export function imm2(): u32 { return load<u32>(ins + I_IMM2); }

/** Effective address of the memory operand, truncated to the address size (computed per execution). */
export let eaOff: u64 = 0;

// The page the instruction bytes come from (a RAM or ROM page): its linear tag and the TLB addend
// (host = lin + addend). Records are looked up by host address while RIP stays on it.
let fetchTag: u64 = 1;
let fetchAddend: u32 = 0;
let ip: u64 = 0;
/** Host address of the next instruction byte while the whole instruction is known to be on one page. */
let fastPtr: u32 = 0;
let fast: bool = false;
/** Set when the instruction must not be cached: bytes from MMIO, or from two pages. */
let uncacheable: bool = false;
/** Linear page of the instruction's first byte while it is decoded. */
let firstPage: u64 = 0;

// Linear address and limit of code fetches, refreshed on every CS or mode change: in 64-bit mode
// the base is 0, there is no limit and addresses are not truncated.
let codeBase: u64 = 0;
let codeLinMask: u64 = 0xffffffff;
let codeLimit: u64 = 0xffff;

/** Forget the cached code page and refresh the code-segment view (TLB flush, CPL or CS change). */
export function invalidateFetch(): void {
  fetchTag = 1;
  // The block being run was found through the old mapping, CS or mode.
  st.events |= st.EV_RESYNC;
  if (mode == MODE_LONG) {
    codeBase = 0;
    codeLinMask = 0xffffffffffffffff;
    codeLimit = 0xffffffffffffffff;
  } else {
    codeBase = segBase(CS);
    codeLinMask = 0xffffffff;
    codeLimit = <u64>segLimit(CS);
  }
}

/**
 * Make the page of `lin` (the first byte of the instruction at st.rip) the fetch page. Faults are
 * the instruction's: #GP for RIP beyond the CS limit first, then #PF. MMIO leaves no fetch page.
 */
function refreshFetch(lin: u64): void {
  if (mode != MODE_LONG && st.rip > <u64>segLimit(CS)) raise(EXC_GP, 0);
  const e = fetchEntry(lin);
  if (e != 0) {
    fetchTag = lin & ~<u64>0xfff;
    fetchAddend = load<u32>(e + 8);
  }
}

function fetchSlow(): u32 {
  const off = ip;
  let lin: u64;
  if (mode == MODE_LONG) {
    lin = off;
  } else {
    // Code-segment limit (SDM Vol. 3A §5.3).
    if (off > <u64>segLimit(CS)) raise(EXC_GP, 0);
    lin = (segBase(CS) + off) & 0xffffffff;
  }
  if (off - st.instrStart >= 15) raise(EXC_GP, 0); // longer than 15 bytes (SDM Vol. 2 §2.3.11)
  const b = fetchLin8(lin);
  // Bytes from another page (whose mapping is not part of the key), or from MMIO (no fetch page).
  if ((lin & ~<u64>0xfff) != firstPage || fetchTag != firstPage) uncacheable = true;
  ip = off + 1;
  return b;
}

@inline function fetch8(): u32 {
  if (fast) {
    ip++;
    return load<u8>(fastPtr++);
  }
  return fetchSlow();
}

/**
 * Start fetching at st.rip: when the longest possible instruction (15 bytes) lies on the cached
 * code page and inside the CS limit, bytes are read straight from memory with no checks.
 */
@inline function startFetch(): void {
  const start = st.rip;
  let lin: u64;
  let ok: bool;
  if (mode == MODE_LONG) {
    lin = start;
    ok = true;
  } else {
    lin = (segBase(CS) + start) & 0xffffffff;
    ok = start + 14 <= <u64>segLimit(CS);
  }
  fast = ok && (lin & ~<u64>0xfff) == fetchTag && (<u32>lin & 0xfff) <= 0xff1;
  fastPtr = <u32>lin + fetchAddend;
}

function fetch16(): u32 {
  const lo = fetch8();
  return lo | (fetch8() << 8);
}
function fetch32(): u32 {
  const lo = fetch16();
  return lo | (fetch16() << 16);
}

/** LOCK is allowed only on read-modify-write instructions with a memory destination (SDM Vol. 2 "LOCK"). */
function lockable(b: u32, modrmReg: u32, noMemory: bool): bool {
  if (noMemory) return false;
  const r = modrmReg & 7;
  switch (b) {
    case 0x00: case 0x01: case 0x08: case 0x09: case 0x10: case 0x11: case 0x18: case 0x19:
    case 0x20: case 0x21: case 0x28: case 0x29: case 0x30: case 0x31: case 0x86: case 0x87:
    case 0x1ab: case 0x1b3: case 0x1bb: case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1:
      return true;
    case 0x80: case 0x81: case 0x82: case 0x83: return r != 7;
    case 0xf6: case 0xf7: return r == 2 || r == 3;
    case 0xfe: case 0xff: return r < 2;
    case 0x1ba: return r >= 5;
    case 0x1c7: return r == 1;
  }
  return false;
}

/** Compute eaOff from the record (registers change between executions). */
@inline function computeEa(): void {
  let ea = <u64>(<i64>load<i32>(ins + I_DISP));
  const base = <u32>load<u8>(ins + I_BASE);
  const index = <u32>load<u8>(ins + I_INDEX);
  if (base != 16) ea += reg64(base);
  if (index != 16) ea += reg64(index) << <u64>load<u8>(ins + I_SCALE);
  if ((load<u8>(ins + I_FLAGS) & IF_RIPREL) != 0) ea += st.rip;
  const a = <u32>load<u8>(ins + I_ASZ);
  if (a == 2) ea &= 0xffff;
  else if (a == 4) ea &= 0xffffffff;
  eaOff = ea;
}

/** Decode the instruction at RIP into the scratch record (no caching: single-stepping); advances RIP. */
export function decode(): void {
  st.instrStart = st.rip;
  const lin = (codeBase + st.rip) & codeLinMask;
  const page = lin & ~<u64>0xfff;
  if (page != fetchTag) refreshFetch(lin);
  firstPage = page;
  ins = SCRATCH_RECORD;
  decodeInto(SCRATCH_RECORD);
  if ((load<u8>(ins + I_FLAGS) & IF_MEM) != 0) computeEa();
}

/** Run the instruction at RIP from its record `e`; returns where its block goes on from it. */
@inline function step(e: u32): u64 {
  const start = st.rip;
  st.instrStart = start;
  st.rip = start + <u64>load<u8>(e + I_LEN);
  ins = e;
  if ((load<u8>(e + I_FLAGS) & IF_MEM) != 0) computeEa();
  execute();
  st.icount++;
  // The next instruction, or the target of a direct JMP/CALL the block goes on at.
  return start + load<u64>(e + I_SUCC);
}

function stepOutOfLine(e: u32): u64 {
  return step(e);
}

/**
 * Run instructions from RIP: the cached block that starts there, as long as each instruction goes
 * on where the block does, no event is pending and the budget lasts, then the next block; or, on
 * a miss, build the block while running its instructions one by one.
 */
export function runBlock(): void {
  while (true) {
    const start = st.rip;
    st.instrStart = start; // a fault while finding the code page is this instruction's
    const lin = (codeBase + start) & codeLinMask;
    const page = lin & ~<u64>0xfff;
    if (page != fetchTag) {
      refreshFetch(lin);
      if (page != fetchTag) { // MMIO
        runUncached(page);
        return;
      }
    }
    const host = <u32>lin + fetchAddend;
    const h = headerOf(host);
    if (load<u32>(h + B_TAG) != host || load<u64>(h + B_KEY) != validKey() ||
        start + <u64>load<u32>(h + B_BYTES) - 1 > codeLimit) {
      buildBlock(h, host, page);
      return;
    }
    let n = load<u32>(h + B_COUNT);
    const left = st.stopAt - st.icount;
    if (<u64>n > left) n = <u32>left;
    let e = load<u32>(h + B_RECORDS);
    const end = e + (n << RECORD_SHIFT);
    while (true) {
      const next = step(e);
      e += REC;
      if (e == end || st.events != 0 || st.rip != next) break;
    }
    // On to the next block unless the run loop has something to do.
    if (st.events != 0 || st.icount >= st.stopAt) return;
  }
}

/** Decode and run an instruction that cannot be cached (MMIO bytes, or a page boundary inside it). */
function runUncached(page: u64): void {
  st.instrStart = st.rip;
  firstPage = page;
  ins = SCRATCH_RECORD;
  decodeInto(SCRATCH_RECORD);
  if ((load<u8>(ins + I_FLAGS) & IF_MEM) != 0) computeEa();
  execute();
  st.icount++;
}

/**
 * Decode, record and run instructions from RIP as a new block headed at `h`. The header is valid
 * from the first instruction on (a fault while the block grows leaves what was decoded so far).
 */
function buildBlock(h: u32, host: u32, page: u64): void {
  markCode(host);
  if (poolNext + (MAX_BLOCK << RECORD_SHIFT) > RECORD_POOL_END) invalidateDecoded();
  const key = validKey();
  const recs = poolNext;
  const start = st.rip;
  store<u32>(h + B_TAG, 1);
  store<u32>(h + B_RECORDS, recs);
  let n: u32 = 0;
  let bytes: u64 = 0; // the highest offset, past start, of a byte of the block's instructions
  while (true) {
    const e = recs + (n << RECORD_SHIFT);
    const s = st.rip;
    st.instrStart = s;
    firstPage = page;
    uncacheable = false;
    ins = e;
    decodeInto(e); // st.rip is now the next instruction's
    if (uncacheable) {
      // Crosses into the next page: run it from the scratch record, outside the block.
      st.rip = s;
      runUncached(page);
      return;
    }
    const len = st.rip - s;
    store<u64>(e + I_SUCC, len);
    if (s + len > start && s + len - start > bytes) bytes = s + len - start;
    n++;
    poolNext = e + REC;
    store<u32>(h + B_COUNT, n);
    store<u32>(h + B_BYTES, <u32>bytes);
    store<u64>(h + B_KEY, key);
    store<u32>(h + B_TAG, host);
    st.rip = s;
    stepOutOfLine(e);
    // Stop at an event, the budget, the block's size limit, or when the block went stale (its page
    // written, a new epoch or decode context).
    if (st.events != 0 || st.icount >= st.stopAt || n == MAX_BLOCK) return;
    if (load<u32>(h + B_TAG) != host || validKey() != key) return;
    // A branch taken ends the block, except a direct JMP or CALL to the same page, which it follows.
    if (st.rip != s + len) {
      const hd = <u32>load<u16>(e + I_HANDLER);
      if (hd != H_JMP && hd != H_CALL) return;
      store<u64>(e + I_SUCC, st.rip - s);
    }
    if ((((codeBase + st.rip) & codeLinMask) & ~<u64>0xfff) != page) return;
  }
}

/** Decode the instruction at st.rip into record `e`; st.rip ends at the next instruction. */
function decodeInto(e: u32): void {
  const longMode = mode == MODE_LONG;
  ip = st.rip;
  startFetch();
  let segOvr: i32 = -1;
  let rexb: u32 = 0;
  let rep: u32 = 0;
  let lock = false;
  let opsizePrefix = false;
  let adsizePrefix = false;
  let b: u32;
  while (true) {
    b = fetch8();
    // Most instructions have no prefix: one table load tells.
    const cls = <u32>load<u8>(PREFIX_CLASS + b);
    if (cls == 0) break;
    switch (cls) {
      case PFX_SEG: segOvr = <i32>((b >> 3) & 3); break;
      case PFX_FS: segOvr = <i32>FS; break;
      case PFX_GS: segOvr = <i32>GS; break;
      case PFX_OPSIZE: opsizePrefix = true; break;
      case PFX_ADSIZE: adsizePrefix = true; break;
      case PFX_LOCK: lock = true; break;
      case PFX_REP: rep = b; break;
      default: // REX (0x40-0x4f): a prefix only in 64-bit mode, and only right before the opcode
        if (!longMode) break;
        rexb = b;
        continue;
    }
    if (cls == PFX_REX) break;
    rexb = 0;
  }
  if (b == 0x0f) {
    b = 0x100 | fetch8();
    if (b == 0x138) b = 0x200 | fetch8(); // three-byte maps 0F 38 and 0F 3A
    else if (b == 0x13a) b = 0x300 | fetch8();
  }
  const attrs = <u32>load<u16>(OPCODE_ATTRS + (b << 1));
  if ((attrs & A_UNDEF) != 0 || (longMode && (attrs & A_I64) != 0)) raise(EXC_UD, -1);
  const w = (rexb & 8) != 0;
  let osz: u32, asz: u32;
  if (longMode) {
    if (w) osz = 8;
    else if ((attrs & A_F64) != 0) osz = 8;
    else if ((attrs & A_D64) != 0) osz = opsizePrefix ? 2 : 8;
    else osz = opsizePrefix ? 2 : 4;
    asz = adsizePrefix ? 4 : 8;
  } else {
    osz = opsizePrefix ? 6 - st.codeSize : st.codeSize;
    asz = adsizePrefix ? 6 - st.addrSize : st.addrSize;
  }

  let flags: u32 = (w ? IF_REXW : 0) | (opsizePrefix ? IF_OPSIZE : 0);
  let reg: u32 = 0, rmv: u32 = 0, m: u32 = 0;
  let base: u32 = 16, index: u32 = 16, scale: u32 = 0, disp: i32 = 0, seg: u32 = DS;
  if ((attrs & A_MODRM) != 0) {
    m = fetch8();
    const mod = m >> 6;
    reg = ((m >> 3) & 7) | ((rexb & 4) << 1);
    const rm = m & 7;
    if (mod == 3) {
      flags |= IF_EAREG;
      rmv = rm | ((rexb & 1) << 3);
    } else {
      flags |= IF_MEM;
      rmv = rm;
      if (asz == 2) {
        // 16-bit forms (SDM Vol. 2 Table 2-1): base BX/BP, index SI/DI.
        switch (rm) {
          case 0: base = 3; index = 6; break;
          case 1: base = 3; index = 7; break;
          case 2: base = 5; index = 6; seg = SS; break;
          case 3: base = 5; index = 7; seg = SS; break;
          case 4: base = 6; break;
          case 5: base = 7; break;
          case 6:
            if (mod == 0) disp = <i32>fetch16();
            else { base = 5; seg = SS; }
            break;
          default: base = 3; break;
        }
        if (mod == 1) disp += <i32>(<i8>fetch8());
        else if (mod == 2) disp += <i32>fetch16();
      } else {
        // 32/64-bit forms (SDM Vol. 2 Tables 2-2, 2-3 and §2.2.1.6).
        if (rm == 4) {
          const sib = fetch8();
          scale = sib >> 6;
          const ix = ((sib >> 3) & 7) | ((rexb & 2) << 2);
          const bs = sib & 7;
          if (ix != 4) index = ix;
          if (bs == 5 && mod == 0) {
            disp = <i32>fetch32();
          } else {
            base = bs | ((rexb & 1) << 3);
            if (bs == 4 || bs == 5) seg = SS;
          }
        } else if (rm == 5 && mod == 0) {
          disp = <i32>fetch32();
          if (longMode) flags |= IF_RIPREL;
        } else {
          base = rm | ((rexb & 1) << 3);
          if (rm == 5) seg = SS;
        }
        if (mod == 1) disp += <i32>(<i8>fetch8());
        else if (mod == 2) disp += <i32>fetch32();
      }
      if (segOvr >= 0) seg = <u32>segOvr;
    }
  }

  // Group 5 members have their own 64-bit-mode sizes (cpu/opcode-table.ts GROUPS['5']):
  // near CALL/JMP are f64, PUSH is d64.
  if (longMode && b == 0xff) {
    const r = reg & 7;
    if (r == 2 || r == 4) osz = 8;
    else if (r == 6 && !w) osz = opsizePrefix ? 2 : 8;
  }

  // Immediates (operand codes of SDM Vol. 2 §A.2.2).
  let imm: u64 = 0;
  let imm2: u32 = 0;
  let immKind = (attrs >> 1) & 7;
  if ((attrs & A_GRP3IMM) != 0 && (reg & 6) == 0) immKind = b == 0xf6 ? 1 : 3;
  switch (immKind) {
    case 0: break;
    case 1: imm = <u64>(<i64>(<i8>fetch8())); break;
    case 2: imm = <u64>fetch16(); break;
    case 3: imm = osz == 2 ? <u64>(<i64>(<i16>fetch16())) : <u64>(<i64>(<i32>fetch32())); break;
    case 4:
      if (osz == 2) imm = <u64>fetch16();
      else if (osz == 4) imm = <u64>fetch32();
      else { const lo = <u64>fetch32(); imm = lo | (<u64>fetch32() << 32); }
      break;
    case 5: imm = <u64>fetch16(); imm2 = fetch8(); break;
    case 6: imm = osz == 2 ? <u64>fetch16() : <u64>fetch32(); imm2 = fetch16(); break;
    default:
      // moffs: an address-size offset.
      if (asz == 2) imm = <u64>fetch16();
      else if (asz == 4) imm = <u64>fetch32();
      else { const lo = <u64>fetch32(); imm = lo | (<u64>fetch32() << 32); }
      break;
  }
  if (lock && !lockable(b, reg, (flags & IF_EAREG) != 0 || (attrs & A_MODRM) == 0)) raise(EXC_UD, -1);

  store<u16>(e + I_OP, <u16>b);
  store<u8>(e + I_LEN, <u8>(ip - st.rip));
  store<u8>(e + I_FLAGS, <u8>flags);
  store<u8>(e + I_OSZ, <u8>osz);
  store<u8>(e + I_ASZ, <u8>asz);
  store<i8>(e + I_SEGOVR, <i8>segOvr);
  store<u8>(e + I_REX, <u8>rexb);
  store<u8>(e + I_REP, <u8>rep);
  store<u8>(e + I_MODRM, <u8>m);
  store<u8>(e + I_REG, <u8>reg);
  store<u8>(e + I_RM, <u8>rmv);
  store<u8>(e + I_BASE, <u8>base);
  store<u8>(e + I_INDEX, <u8>index);
  store<u8>(e + I_SCALE, <u8>scale);
  store<u8>(e + I_EASEG, <u8>seg);
  store<i32>(e + I_DISP, disp);
  store<u64>(e + I_IMM, imm);
  store<u32>(e + I_IMM2, imm2);
  store<u16>(e + I_HANDLER, <u16>specialize(e, b, osz, flags, lock || rep != 0 || segOvr >= 0));
  st.rip = ip;
}
