// A small encoder for ACPI Machine Language (ACPI 6.4 §20 "ACPI Machine Language (AML)
// Specification"), enough for the DSDT of a PC: names and scopes, data objects, control methods
// with simple expressions, operation regions and fields, and resource templates (§6.4 "Resource
// Data Types for ACPI").
//
// Every builder returns the encoded bytes of one term; containers (Scope, Device, Method, If, ...)
// take their contents as further terms and prefix the package length. Where a term is expected, a
// plain number stands for an integer constant and a string for a name reference (use `str()` for a
// String object). The encodings are those `iasl` produces for the same ASL (checked by
// test/devices-acpi-aml.test.ts), so a disassembly of our tables reads like hand-written ASL.

export type Aml = Uint8Array;
/** A term argument: encoded AML, an integer constant, or a name reference ("\\_SB.PCI0", "^LNKA", "PRQ0"). */
export type TermArg = Aml | number | bigint | string;

// Opcodes (§20.3 "AML Byte Stream Byte Values").
const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const ALIAS_OP = 0x06;
const NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const QWORD_PREFIX = 0x0e;
const SCOPE_OP = 0x10;
const BUFFER_OP = 0x11;
const PACKAGE_OP = 0x12;
const VAR_PACKAGE_OP = 0x13;
const METHOD_OP = 0x14;
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;
const EXT_OP_PREFIX = 0x5b;
const ROOT_CHAR = 0x5c;
const PARENT_PREFIX_CHAR = 0x5e;
const LOCAL0_OP = 0x60;
const ARG0_OP = 0x68;
const STORE_OP = 0x70;
const ADD_OP = 0x72;
const CONCAT_OP = 0x73;
const SUBTRACT_OP = 0x74;
const INCREMENT_OP = 0x75;
const DECREMENT_OP = 0x76;
const MULTIPLY_OP = 0x77;
const SHIFT_LEFT_OP = 0x79;
const SHIFT_RIGHT_OP = 0x7a;
const AND_OP = 0x7b;
const NAND_OP = 0x7c;
const OR_OP = 0x7d;
const XOR_OP = 0x7f;
const NOT_OP = 0x80;
const DEREF_OF_OP = 0x83;
const NOTIFY_OP = 0x86;
const SIZE_OF_OP = 0x87;
const INDEX_OP = 0x88;
const CREATE_DWORD_FIELD_OP = 0x8a;
const CREATE_WORD_FIELD_OP = 0x8b;
const CREATE_BYTE_FIELD_OP = 0x8c;
const CREATE_BIT_FIELD_OP = 0x8d;
const CREATE_QWORD_FIELD_OP = 0x8f;
const LAND_OP = 0x90;
const LOR_OP = 0x91;
const LNOT_OP = 0x92;
const LEQUAL_OP = 0x93;
const LGREATER_OP = 0x94;
const LLESS_OP = 0x95;
const TO_BUFFER_OP = 0x96;
const TO_INTEGER_OP = 0x99;
const IF_OP = 0xa0;
const ELSE_OP = 0xa1;
const WHILE_OP = 0xa2;
const NOOP_OP = 0xa3;
const RETURN_OP = 0xa4;
const BREAK_OP = 0xa5;
const ONES_OP = 0xff;
// Extended opcodes (after 0x5B).
const MUTEX_OP = 0x01;
const ACQUIRE_OP = 0x23;
const RELEASE_OP = 0x27;
const SLEEP_OP = 0x22;
const OP_REGION_OP = 0x80;
const FIELD_OP = 0x81;
const DEVICE_OP = 0x82;
const PROCESSOR_OP = 0x83;

/** Concatenate byte sequences. */
export function concat(...parts: (Aml | readonly number[])[]): Aml {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names (§20.2.2 "Name Objects Encoding")

/** A NameSeg: four characters from [A-Z0-9_], the first not a digit; shorter names are padded with '_'. */
export function nameSeg(seg: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new Error(`AML: bad name segment '${seg}'`);
  const s = seg.padEnd(4, '_');
  return [...s].map((c) => c.charCodeAt(0));
}

/**
 * A NameString from ASL notation: optional root '\' or parent '^' prefixes, then segments
 * separated by '.', e.g. "\\_SB.PCI0.ISA", "^^LNKA", "PRQ0", "\\" (the root itself).
 */
export function nameString(path: string): Aml {
  const out: number[] = [];
  let i = 0;
  if (path[0] === '\\') {
    out.push(ROOT_CHAR);
    i = 1;
  } else {
    while (path[i] === '^') {
      out.push(PARENT_PREFIX_CHAR);
      i++;
    }
  }
  const rest = path.slice(i);
  const segs = rest === '' ? [] : rest.split('.');
  if (segs.length === 0) out.push(0x00); // NullName
  else if (segs.length === 1) out.push(...nameSeg(segs[0]));
  else if (segs.length === 2) out.push(DUAL_NAME_PREFIX, ...nameSeg(segs[0]), ...nameSeg(segs[1]));
  else {
    if (segs.length > 255) throw new Error('AML: name path too long');
    out.push(MULTI_NAME_PREFIX, segs.length);
    for (const s of segs) out.push(...nameSeg(s));
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// Package length (§20.2.4 "Package Length Encoding")

/** PkgLength for a body of `bodyLength` bytes: the encoded length counts its own bytes. */
export function pkgLength(bodyLength: number): number[] {
  for (let n = 1; n <= 4; n++) {
    const total = bodyLength + n;
    if (n === 1 && total < 0x40) return [total];
    if (n > 1 && total < 2 ** (4 + 8 * (n - 1))) return encodeLength(total, n);
  }
  throw new Error(`AML: package of ${bodyLength} bytes is too long`);
}

/** Raw PkgLength-style encoding of `value` in the fewest bytes (field unit lengths, in bits). */
function fieldLength(value: number): number[] {
  if (value < 0x40) return [value];
  for (let n = 2; n <= 4; n++) if (value < 2 ** (4 + 8 * (n - 1))) return encodeLength(value, n);
  throw new Error(`AML: field length ${value} is too long`);
}

function encodeLength(value: number, n: number): number[] {
  const out = [((n - 1) << 6) | (value & 0x0f)];
  let rest = Math.floor(value / 16);
  for (let i = 1; i < n; i++) {
    out.push(rest & 0xff);
    rest = Math.floor(rest / 256);
  }
  return out;
}

/** opcode(s) PkgLength body */
function withPkg(opcode: readonly number[], ...body: Aml[]): Aml {
  const b = concat(...body);
  return concat(opcode, pkgLength(b.length), b);
}

// ---------------------------------------------------------------------------------------------
// Data objects (§20.2.3 "Data Objects Encoding")

export const zero = (): Aml => Uint8Array.of(ZERO_OP);
export const one = (): Aml => Uint8Array.of(ONE_OP);
/** Ones: all bits set, as wide as the table's integers (32 bits in a revision 1 DSDT). */
export const ones = (): Aml => Uint8Array.of(ONES_OP);

function le(value: bigint, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** An integer constant in the smallest encoding (Zero, One, Byte, Word, DWord or QWord constant). */
export function int(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new Error(`AML: integer ${value} out of range`);
  if (v === 0n) return zero();
  if (v === 1n) return one();
  if (v <= 0xffn) return Uint8Array.of(BYTE_PREFIX, Number(v));
  if (v <= 0xffffn) return Uint8Array.of(WORD_PREFIX, ...le(v, 2));
  if (v <= 0xffff_ffffn) return Uint8Array.of(DWORD_PREFIX, ...le(v, 4));
  return Uint8Array.of(QWORD_PREFIX, ...le(v, 8));
}

/** Integer constants of a fixed width (what ASL's explicit forms and EISAID produce). */
export const byteConst = (v: number): Aml => Uint8Array.of(BYTE_PREFIX, v & 0xff);
export const wordConst = (v: number): Aml => Uint8Array.of(WORD_PREFIX, ...le(BigInt(v), 2));
export const dwordConst = (v: number): Aml => Uint8Array.of(DWORD_PREFIX, ...le(BigInt(v >>> 0), 4));
export const qwordConst = (v: bigint): Aml => Uint8Array.of(QWORD_PREFIX, ...le(v, 8));

/** A String object (ASCII, NUL-terminated). */
export function str(s: string): Aml {
  const out = [STRING_PREFIX];
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (code < 1 || code > 0x7f) throw new Error(`AML: string '${s}' is not 7-bit ASCII`);
    out.push(code);
  }
  out.push(0);
  return Uint8Array.from(out);
}

/**
 * The compressed EISA ID of a PNP identifier ("PNP0A03"): three letters of 5 bits each (A = 1)
 * and four hex digits, stored big-endian in the dword (ACPI 6.4 §6.1.5 "_HID", EISAID macro).
 */
export function eisaIdValue(id: string): number {
  if (!/^[A-Z@]{3}[0-9A-F]{4}$/.test(id)) throw new Error(`AML: bad EISA ID '${id}'`);
  const c = (i: number) => (id.charCodeAt(i) - 0x40) & 0x1f;
  const vendor = (c(0) << 10) | (c(1) << 5) | c(2);
  const product = parseInt(id.slice(3), 16);
  const b = [vendor >> 8, vendor & 0xff, product >> 8, product & 0xff];
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

/** EISAID("PNP0A03") as a term: always a DWord constant. */
export const eisaId = (id: string): Aml => dwordConst(eisaIdValue(id));

/** Turn a TermArg into AML: numbers become integers, strings name references. */
export function term(t: TermArg): Aml {
  if (t instanceof Uint8Array) return t;
  if (typeof t === 'string') return nameString(t);
  return int(t);
}

/** A data element of a Package/Name: like term(), but strings are String objects. */
function dataTerm(t: TermArg): Aml {
  return typeof t === 'string' ? str(t) : term(t);
}

/** A method invocation: the method's name followed by its arguments (§20.2.5.4 MethodInvocation). */
export const call = (path: string, ...args: TermArg[]): Aml => concat(nameString(path), ...args.map(term));

/** A name reference in a package (a string in `pkg()` would be a String object). */
export const ref = (path: string): Aml => nameString(path);

/** Buffer(size) { bytes }: `size` defaults to the number of bytes. */
export function buffer(data: Uint8Array | readonly number[], size?: TermArg): Aml {
  const bytes = data instanceof Uint8Array ? data : Uint8Array.from(data);
  return withPkg([BUFFER_OP], term(size ?? bytes.length), bytes);
}

/** Package () { elements }; strings are String objects (use ref() for names). */
export function pkg(...elements: TermArg[]): Aml {
  return sizedPkg(elements.length, ...elements);
}

/** Package (count) { elements }: `count` may exceed the elements given (the rest are uninitialized). */
export function sizedPkg(count: number, ...elements: TermArg[]): Aml {
  if (count < elements.length) throw new Error('AML: package has more elements than its size');
  const body = elements.map(dataTerm);
  if (count <= 255) return withPkg([PACKAGE_OP], Uint8Array.of(count), ...body);
  return withPkg([VAR_PACKAGE_OP], int(count), ...body);
}

// ---------------------------------------------------------------------------------------------
// Arguments, locals and targets (§20.2.6)

export const local = (n: number): Aml => Uint8Array.of(LOCAL0_OP + check(n, 7, 'Local'));
export const arg = (n: number): Aml => Uint8Array.of(ARG0_OP + check(n, 6, 'Arg'));
/** The empty target of an operator whose result is only returned. */
export const noTarget = (): Aml => Uint8Array.of(0x00);

function check(n: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`AML: ${what}${n} does not exist`);
  return n;
}

const target = (t: TermArg | undefined): Aml => (t === undefined ? noTarget() : term(t));

// ---------------------------------------------------------------------------------------------
// Namespace modifiers and named objects (§20.2.5.1, §20.2.5.2)

/** Name (path, value): strings are String objects. */
export const name = (path: string, value: TermArg): Aml => concat([NAME_OP], nameString(path), dataTerm(value));

export const scope = (path: string, ...terms: Aml[]): Aml => withPkg([SCOPE_OP], nameString(path), ...terms);

export const device = (path: string, ...terms: Aml[]): Aml =>
  withPkg([EXT_OP_PREFIX, DEVICE_OP], nameString(path), ...terms);

/** Processor (path, id, PBLK address, PBLK length) { terms } (deprecated in ACPI 6, still understood). */
export const processor = (path: string, id: number, pblkAddress: number, pblkLength: number, ...terms: Aml[]): Aml =>
  withPkg(
    [EXT_OP_PREFIX, PROCESSOR_OP],
    nameString(path),
    Uint8Array.of(id & 0xff, ...le(BigInt(pblkAddress >>> 0), 4), pblkLength & 0xff),
    ...terms,
  );

export interface MethodOptions {
  serialized?: boolean;
  syncLevel?: number;
}

/** Method (path, args, Serialized/NotSerialized) { terms }. */
export function method(path: string, args: number, options: MethodOptions, ...terms: Aml[]): Aml {
  const flags = check(args, 7, 'method with args=') | (options.serialized ? 0x08 : 0) | ((options.syncLevel ?? 0) & 0xf) << 4;
  return withPkg([METHOD_OP], nameString(path), Uint8Array.of(flags), ...terms);
}

export const alias = (source: string, aliasName: string): Aml => concat([ALIAS_OP], nameString(source), nameString(aliasName));

export const mutex = (path: string, syncLevel = 0): Aml =>
  concat([EXT_OP_PREFIX, MUTEX_OP], nameString(path), [syncLevel & 0xf]);

/** Operation region spaces (§19.6.100 OperationRegion, Table "RegionSpace"). */
export enum RegionSpace {
  SystemMemory = 0x00,
  SystemIO = 0x01,
  PciConfig = 0x02,
  EmbeddedControl = 0x03,
  SMBus = 0x04,
  SystemCMOS = 0x05,
  PciBarTarget = 0x06,
}

export const operationRegion = (path: string, space: RegionSpace, offset: TermArg, length: TermArg): Aml =>
  concat([EXT_OP_PREFIX, OP_REGION_OP], nameString(path), [space], term(offset), term(length));

/** Field access types (§19.6.48 Field, FieldFlags bits 3:0). */
export enum FieldAccess {
  Any = 0,
  Byte = 1,
  Word = 2,
  DWord = 3,
  QWord = 4,
  Buffer = 5,
}

/** Field update rules (FieldFlags bits 6:5). */
export enum FieldUpdate {
  Preserve = 0,
  WriteAsOnes = 1,
  WriteAsZeros = 2,
}

/** A field unit of `bits` bits, or `name: null` for a reserved gap; or `{ offset }` in bytes from the region start. */
export type FieldEntry = { name: string | null; bits: number } | { offset: number };

export interface FieldOptions {
  access?: FieldAccess;
  lock?: boolean;
  update?: FieldUpdate;
}

/** Field (region, access, lock, update) { units }. */
export function field(region: string, options: FieldOptions, entries: readonly FieldEntry[]): Aml {
  const flags = (options.access ?? FieldAccess.Any) | (options.lock ? 0x10 : 0) | ((options.update ?? FieldUpdate.Preserve) << 5);
  const list: number[] = [];
  let position = 0; // in bits
  for (const e of entries) {
    if ('offset' in e) {
      const to = e.offset * 8;
      if (to < position) throw new Error(`AML: field Offset (0x${e.offset.toString(16)}) goes backwards`);
      if (to > position) list.push(0x00, ...fieldLength(to - position)); // ReservedField
      position = to;
    } else {
      if (e.name === null) list.push(0x00, ...fieldLength(e.bits));
      else list.push(...nameSeg(e.name), ...fieldLength(e.bits));
      position += e.bits;
    }
  }
  return withPkg([EXT_OP_PREFIX, FIELD_OP], nameString(region), Uint8Array.of(flags), Uint8Array.from(list));
}

/** CreateDWordField (buffer, byteIndex, name) and its siblings. */
export const createByteField = (buf: TermArg, index: TermArg, fieldName: string): Aml =>
  concat([CREATE_BYTE_FIELD_OP], term(buf), term(index), nameString(fieldName));
export const createWordField = (buf: TermArg, index: TermArg, fieldName: string): Aml =>
  concat([CREATE_WORD_FIELD_OP], term(buf), term(index), nameString(fieldName));
export const createDWordField = (buf: TermArg, index: TermArg, fieldName: string): Aml =>
  concat([CREATE_DWORD_FIELD_OP], term(buf), term(index), nameString(fieldName));
export const createQWordField = (buf: TermArg, index: TermArg, fieldName: string): Aml =>
  concat([CREATE_QWORD_FIELD_OP], term(buf), term(index), nameString(fieldName));
/** CreateBitField (buffer, bitIndex, name). */
export const createBitField = (buf: TermArg, bitIndex: TermArg, fieldName: string): Aml =>
  concat([CREATE_BIT_FIELD_OP], term(buf), term(bitIndex), nameString(fieldName));

// ---------------------------------------------------------------------------------------------
// Statements (§20.2.5.3 "Statement Opcodes Encoding")

export const ret = (value?: TermArg): Aml => concat([RETURN_OP], value === undefined ? noTarget() : term(value));
export const if_ = (predicate: TermArg, ...terms: Aml[]): Aml => withPkg([IF_OP], term(predicate), ...terms);
/** Else { terms }: place it directly after the If. */
export const else_ = (...terms: Aml[]): Aml => withPkg([ELSE_OP], ...terms);
export const while_ = (predicate: TermArg, ...terms: Aml[]): Aml => withPkg([WHILE_OP], term(predicate), ...terms);
export const break_ = (): Aml => Uint8Array.of(BREAK_OP);
export const noop = (): Aml => Uint8Array.of(NOOP_OP);
export const notify = (object: TermArg, value: TermArg): Aml => concat([NOTIFY_OP], term(object), term(value));
export const sleep = (ms: TermArg): Aml => concat([EXT_OP_PREFIX, SLEEP_OP], term(ms));
export const acquire = (mutexName: string, timeout = 0xffff): Aml =>
  concat([EXT_OP_PREFIX, ACQUIRE_OP], nameString(mutexName), le(BigInt(timeout), 2));
export const release = (mutexName: string): Aml => concat([EXT_OP_PREFIX, RELEASE_OP], nameString(mutexName));

// ---------------------------------------------------------------------------------------------
// Expressions (§20.2.5.4 "Expression Opcodes Encoding")

export const store = (source: TermArg, destination: TermArg): Aml => concat([STORE_OP], term(source), term(destination));

const binary = (op: number) => (a: TermArg, b: TermArg, result?: TermArg): Aml =>
  concat([op], term(a), term(b), target(result));
export const add = binary(ADD_OP);
export const subtract = binary(SUBTRACT_OP);
export const multiply = binary(MULTIPLY_OP);
export const and = binary(AND_OP);
export const nand = binary(NAND_OP);
export const or = binary(OR_OP);
export const xor = binary(XOR_OP);
export const shiftLeft = binary(SHIFT_LEFT_OP);
export const shiftRight = binary(SHIFT_RIGHT_OP);
export const concatenate = binary(CONCAT_OP);
export const index = binary(INDEX_OP);

export const not = (a: TermArg, result?: TermArg): Aml => concat([NOT_OP], term(a), target(result));
export const toInteger = (a: TermArg, result?: TermArg): Aml => concat([TO_INTEGER_OP], term(a), target(result));
export const toBuffer = (a: TermArg, result?: TermArg): Aml => concat([TO_BUFFER_OP], term(a), target(result));
export const increment = (a: TermArg): Aml => concat([INCREMENT_OP], term(a));
export const decrement = (a: TermArg): Aml => concat([DECREMENT_OP], term(a));
export const sizeOf = (a: TermArg): Aml => concat([SIZE_OF_OP], term(a));
export const derefOf = (a: TermArg): Aml => concat([DEREF_OF_OP], term(a));

const logical = (op: number) => (a: TermArg, b: TermArg): Aml => concat([op], term(a), term(b));
export const land = logical(LAND_OP);
export const lor = logical(LOR_OP);
export const lequal = logical(LEQUAL_OP);
export const lgreater = logical(LGREATER_OP);
export const lless = logical(LLESS_OP);
export const lnot = (a: TermArg): Aml => concat([LNOT_OP], term(a));
/** LNotEqual (a, b) = LNot (LEqual (a, b)), as ASL encodes it. */
export const lnotEqual = (a: TermArg, b: TermArg): Aml => concat([LNOT_OP, LEQUAL_OP], term(a), term(b));
export const lgreaterEqual = (a: TermArg, b: TermArg): Aml => concat([LNOT_OP, LLESS_OP], term(a), term(b));
export const llessEqual = (a: TermArg, b: TermArg): Aml => concat([LNOT_OP, LGREATER_OP], term(a), term(b));

// ---------------------------------------------------------------------------------------------
// Resource descriptors (ACPI 6.4 §6.4 "Resource Data Types for ACPI")

/** ResourceTemplate () { descriptors }: a Buffer ending with an End Tag whose checksum is 0 (§6.4.2.9). */
export function resourceTemplate(...descriptors: (Aml | readonly number[])[]): Aml {
  return buffer(concat(...descriptors, [0x79, 0x00]));
}

function irqMask(irqs: readonly number[]): number {
  let mask = 0;
  for (const irq of irqs) {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new Error(`AML: IRQ ${irq} is not an ISA IRQ`);
    mask |= 1 << irq;
  }
  return mask;
}

/** IRQNoFlags () { irqs }: 2-byte IRQ descriptor, edge-triggered, active-high, exclusive (§6.4.2.1). */
export function irqNoFlags(...irqs: number[]): number[] {
  const m = irqMask(irqs);
  return [0x22, m & 0xff, m >> 8];
}

export interface InterruptFlags {
  /** Edge (true) or Level (false) triggered. */
  edge: boolean;
  activeLow: boolean;
  shared?: boolean;
  wake?: boolean;
}

/** IRQ (Edge/Level, ActiveHigh/Low, Shared/Exclusive) { irqs }: 3-byte IRQ descriptor (§6.4.2.1). */
export function irq(flags: InterruptFlags, ...irqs: number[]): number[] {
  const m = irqMask(irqs);
  const info = (flags.edge ? 0x01 : 0) | (flags.activeLow ? 0x08 : 0) | (flags.shared ? 0x10 : 0) | (flags.wake ? 0x20 : 0);
  return [0x23, m & 0xff, m >> 8, info];
}

/** IO (Decode16/Decode10, min, max, alignment, length): I/O port descriptor (§6.4.2.5). */
export function io(min: number, max: number, alignment: number, length: number, decode16 = true): number[] {
  return [0x47, decode16 ? 1 : 0, min & 0xff, min >> 8, max & 0xff, max >> 8, alignment & 0xff, length & 0xff];
}

/** FixedIO (base, length) (§6.4.2.6). */
export function fixedIo(base: number, length: number): number[] {
  return [0x4b, base & 0xff, (base >> 8) & 0x03, length & 0xff];
}

/** DMA (Compatibility, NotBusMaster, Transfer8) { channels } (§6.4.2.2). */
export function dma(channels: readonly number[], flags = 0): number[] {
  let m = 0;
  for (const c of channels) m |= 1 << c;
  return [0x2a, m, flags];
}

/** Memory32Fixed (ReadWrite/ReadOnly, base, length) (§6.4.3.4). */
export function memory32Fixed(readWrite: boolean, base: number, length: number): number[] {
  return [0x86, 9, 0, readWrite ? 1 : 0, ...le(BigInt(base >>> 0), 4), ...le(BigInt(length >>> 0), 4)];
}

/** Interrupt (ResourceConsumer, Level/Edge, ActiveHigh/Low, Shared/Exclusive) { GSIs } (§6.4.3.6). */
export function interrupt(flags: InterruptFlags & { producer?: boolean }, ...gsis: number[]): number[] {
  if (gsis.length < 1 || gsis.length > 255) throw new Error('AML: Interrupt() needs 1..255 interrupts');
  const info =
    (flags.producer ? 0 : 0x01) | (flags.edge ? 0x02 : 0) | (flags.activeLow ? 0x04 : 0) | (flags.shared ? 0x08 : 0) | (flags.wake ? 0x10 : 0);
  const length = 2 + 4 * gsis.length;
  const out = [0x89, length & 0xff, length >> 8, info, gsis.length];
  for (const g of gsis) out.push(...le(BigInt(g >>> 0), 4));
  return out;
}

/** Common flags of the address space descriptors (§6.4.3.5, "General Flags"). */
export interface AddressFlags {
  /** ResourceConsumer (true) or ResourceProducer (default, what a bridge's _CRS uses). */
  consumer?: boolean;
  /** SubDecode (true) or PosDecode (default). */
  subtractive?: boolean;
  /** MinFixed / MaxFixed (default: both fixed). */
  minFixed?: boolean;
  maxFixed?: boolean;
}

export interface AddressRange {
  min: number | bigint;
  max: number | bigint;
  granularity?: number | bigint;
  translation?: number | bigint;
  /** Default: max - min + 1. */
  length?: number | bigint;
}

function generalFlags(f: AddressFlags): number {
  return (f.consumer ? 1 : 0) | (f.subtractive ? 2 : 0) | (f.minFixed ?? true ? 4 : 0) | (f.maxFixed ?? true ? 8 : 0);
}

/** An address space descriptor: tag 0x88 (word), 0x87 (dword) or 0x8A (qword) (§6.4.3.5.1-3). */
function addressDescriptor(
  width: 2 | 4 | 8,
  resourceType: number,
  flags: AddressFlags,
  typeFlags: number,
  r: AddressRange,
): number[] {
  const tag = width === 2 ? 0x88 : width === 4 ? 0x87 : 0x8a;
  const min = BigInt(r.min);
  const max = BigInt(r.max);
  const length = r.length === undefined ? max - min + 1n : BigInt(r.length);
  const fields = [BigInt(r.granularity ?? 0), min, max, BigInt(r.translation ?? 0), length];
  const body = [resourceType, generalFlags(flags), typeFlags];
  for (const f of fields) body.push(...le(f, width));
  return [tag, body.length & 0xff, body.length >> 8, ...body];
}

/** WordBusNumber (...): a bus number range (§6.4.3.5.3, resource type 2). */
export function wordBusNumber(r: AddressRange, flags: AddressFlags = {}): number[] {
  return addressDescriptor(2, 2, flags, 0, r);
}

export interface IoRangeFlags extends AddressFlags {
  /** _RNG: 1 NonISAOnlyRanges, 2 ISAOnlyRanges, 3 EntireRange (default). */
  isaRanges?: 1 | 2 | 3;
}

/** WordIO (...): an I/O port range (resource type 1, type-specific flags per Table 6.250). */
export function wordIo(r: AddressRange, flags: IoRangeFlags = {}): number[] {
  return addressDescriptor(2, 1, flags, flags.isaRanges ?? 3, r);
}

/** DWordIO (...). */
export function dwordIo(r: AddressRange, flags: IoRangeFlags = {}): number[] {
  return addressDescriptor(4, 1, flags, flags.isaRanges ?? 3, r);
}

export interface MemoryRangeFlags extends AddressFlags {
  /** _MEM: NonCacheable (0), Cacheable (1, default), WriteCombining (2), Prefetchable (3). */
  cacheable?: 0 | 1 | 2 | 3;
  /** ReadWrite (default) or ReadOnly. */
  readOnly?: boolean;
}

function memoryTypeFlags(f: MemoryRangeFlags): number {
  return (f.readOnly ? 0 : 1) | ((f.cacheable ?? 1) << 1);
}

/** DWordMemory (...): a 32-bit memory range (resource type 0). */
export function dwordMemory(r: AddressRange, flags: MemoryRangeFlags = {}): number[] {
  return addressDescriptor(4, 0, flags, memoryTypeFlags(flags), r);
}

/** QWordMemory (...): a 64-bit memory range. */
export function qwordMemory(r: AddressRange, flags: MemoryRangeFlags = {}): number[] {
  return addressDescriptor(8, 0, flags, memoryTypeFlags(flags), r);
}

// ---------------------------------------------------------------------------------------------
// Tables

/** The 36-byte header every ACPI table starts with (ACPI 6.4 §5.2.6), checksum left 0. */
export interface TableHeader {
  signature: string;
  revision: number;
  oemId: string;
  oemTableId: string;
  oemRevision: number;
  creatorId: string;
  creatorRevision: number;
}

/** A table: header plus body, length filled in, checksum computed (§5.2.6). */
export function table(header: TableHeader, body: Aml): Aml {
  const t = new Uint8Array(36 + body.length);
  writeHeader(t, header);
  t.set(body, 36);
  t[9] = checksumByte(t);
  return t;
}

export function writeHeader(t: Uint8Array, h: TableHeader): void {
  const ascii = (s: string, at: number, n: number) => {
    if (s.length > n) throw new Error(`ACPI: '${s}' is longer than ${n} characters`);
    for (let i = 0; i < n; i++) t[at + i] = i < s.length ? s.charCodeAt(i) : 0x20;
  };
  const u32 = (v: number, at: number) => new DataView(t.buffer, t.byteOffset).setUint32(at, v >>> 0, true);
  ascii(h.signature, 0, 4);
  u32(t.length, 4);
  t[8] = h.revision;
  t[9] = 0;
  ascii(h.oemId, 10, 6);
  ascii(h.oemTableId, 16, 8);
  u32(h.oemRevision, 24);
  ascii(h.creatorId, 28, 4);
  u32(h.creatorRevision, 32);
}

/** The byte that makes `bytes` (with that byte at 0) sum to 0 modulo 256. */
export function checksumByte(bytes: Uint8Array, start = 0, length = bytes.length - start): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum = (sum + bytes[i]) & 0xff;
  return (0x100 - sum) & 0xff;
}
