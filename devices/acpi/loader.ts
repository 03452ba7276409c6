// The ACPI tables as firmware receives them through fw_cfg, in the format of QEMU's BIOS
// linker/loader (which SeaBIOS executes): the files `etc/acpi/rsdp` and `etc/acpi/tables` hold
// the tables with pointer fields set to offsets, and `etc/table-loader` is a list of 128-byte
// commands telling the firmware to
//   ALLOCATE (1):     copy a file into memory: file name (56 bytes, NUL-padded) at +4, alignment
//                     (u32) at +60, zone (u8) at +64: 1 = high memory (below 4 GiB), 2 = the
//                     F segment (0xE0000-0xFFFFF, where an ACPI 1.0 OS looks for the RSDP);
//   ADD_POINTER (2):  add the address where a source file was placed to a little-endian pointer
//                     inside a destination file: destination name at +4, source name at +60,
//                     offset (u32) at +116, pointer size (u8: 1, 2, 4 or 8) at +120;
//   ADD_CHECKSUM (3): set a byte so that a range of a file sums to 0: file name at +4, checksum
//                     offset (u32) at +60, range start (u32) at +64, range length (u32) at +68.
// Commands run in order; unknown commands are skipped by the firmware. The command sequence below
// follows the one QEMU 7.2's pc machine sends (checked by dumping its fw_cfg files): allocate the
// RSDP (F segment, 16-byte aligned) and the tables (high, 64-byte aligned), then for each table
// patch its pointers and fix its checksum, ending with the RSDP.
//
// `installAcpiTables` runs the same commands itself to place the tables straight into guest RAM,
// for boots without firmware (-kernel of a Linux bzImage), with the RSDP in the BIOS area where
// Linux scans for it (ACPI 6.4 §5.2.5.1: 16-byte boundaries of 0xE0000-0xFFFFF).

import { type DsdtConfig, PCI_LINK_IRQS, SCI_IRQ, buildDsdt } from './dsdt.ts';
import {
  type AcpiFlavor,
  type AcpiOem,
  FADT_DSDT,
  FADT_FIRMWARE_CTRL,
  FADT_X_DSDT,
  FADT_X_FIRMWARE_CTRL,
  HEADER_CHECKSUM,
  PIIX4_PM_BLOCKS,
  type PmBlocks,
  RSDP_CHECKSUM,
  RSDP_EXTENDED_CHECKSUM,
  RSDP_RSDT_ADDRESS,
  RSDP_V1_LENGTH,
  RSDP_XSDT_ADDRESS,
  TSEMU_OEM,
  buildFacs,
  buildFadt,
  buildHpetTable,
  buildMadt,
  buildRsdp,
  buildRsdt,
  buildWaet,
  buildXsdt,
} from './tables.ts';

export const ACPI_TABLES_FILE = 'etc/acpi/tables';
export const ACPI_RSDP_FILE = 'etc/acpi/rsdp';
export const TABLE_LOADER_FILE = 'etc/table-loader';

export const LOADER_ENTRY_SIZE = 128;
const LOADER_FILE_NAME_SIZE = 56;
export const LOADER_ALLOCATE = 1;
export const LOADER_ADD_POINTER = 2;
export const LOADER_ADD_CHECKSUM = 3;
export const ZONE_HIGH = 1;
export const ZONE_FSEG = 2;

/** QEMU's pc machine pads the tables blob to this size (so firmware allocations stay stable). */
export const ACPI_TABLES_PAD = 0x20000;
/** ... and the command list to a multiple of 4 KiB. */
export const TABLE_LOADER_PAD = 0x1000;

/** Event timer block ID of the HPET QEMU's pc machine has (devices/hpet.ts capabilities). */
export const HPET_BLOCK_ID = 0x8086a201;

export type LoaderCommand =
  | { command: 'allocate'; file: string; align: number; zone: typeof ZONE_HIGH | typeof ZONE_FSEG }
  | { command: 'add-pointer'; destFile: string; srcFile: string; offset: number; size: 1 | 2 | 4 | 8 }
  | { command: 'add-checksum'; file: string; offset: number; start: number; length: number };

/** Encode loader commands as the `etc/table-loader` file (zero-padded to `pad` bytes). */
export function encodeLoaderCommands(commands: readonly LoaderCommand[], pad = TABLE_LOADER_PAD): Uint8Array {
  const size = Math.max(pad, Math.ceil((commands.length * LOADER_ENTRY_SIZE) / pad) * pad);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  const putName = (at: number, name: string) => {
    if (name.length >= LOADER_FILE_NAME_SIZE) throw new Error(`table-loader: file name '${name}' is too long`);
    for (let i = 0; i < name.length; i++) out[at + i] = name.charCodeAt(i);
  };
  commands.forEach((c, i) => {
    const e = i * LOADER_ENTRY_SIZE;
    if (c.command === 'allocate') {
      dv.setUint32(e, LOADER_ALLOCATE, true);
      putName(e + 4, c.file);
      dv.setUint32(e + 60, c.align, true);
      out[e + 64] = c.zone;
    } else if (c.command === 'add-pointer') {
      dv.setUint32(e, LOADER_ADD_POINTER, true);
      putName(e + 4, c.destFile);
      putName(e + 60, c.srcFile);
      dv.setUint32(e + 116, c.offset, true);
      out[e + 120] = c.size;
    } else {
      dv.setUint32(e, LOADER_ADD_CHECKSUM, true);
      putName(e + 4, c.file);
      dv.setUint32(e + 60, c.offset, true);
      dv.setUint32(e + 64, c.start, true);
      dv.setUint32(e + 68, c.length, true);
    }
  });
  return out;
}

/** Decode an `etc/table-loader` file (zero entries end nothing: they are skipped, as firmware does). */
export function decodeLoaderCommands(blob: Uint8Array): LoaderCommand[] {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const name = (at: number) => {
    let s = '';
    for (let i = 0; i < LOADER_FILE_NAME_SIZE && blob[at + i]; i++) s += String.fromCharCode(blob[at + i]);
    return s;
  };
  const out: LoaderCommand[] = [];
  for (let e = 0; e + LOADER_ENTRY_SIZE <= blob.length; e += LOADER_ENTRY_SIZE) {
    const cmd = dv.getUint32(e, true);
    if (cmd === LOADER_ALLOCATE) {
      out.push({ command: 'allocate', file: name(e + 4), align: dv.getUint32(e + 60, true), zone: blob[e + 64] as 1 | 2 });
    } else if (cmd === LOADER_ADD_POINTER) {
      out.push({
        command: 'add-pointer',
        destFile: name(e + 4),
        srcFile: name(e + 60),
        offset: dv.getUint32(e + 116, true),
        size: blob[e + 120] as 1 | 2 | 4 | 8,
      });
    } else if (cmd === LOADER_ADD_CHECKSUM) {
      out.push({
        command: 'add-checksum',
        file: name(e + 4),
        offset: dv.getUint32(e + 60, true),
        start: dv.getUint32(e + 64, true),
        length: dv.getUint32(e + 68, true),
      });
    }
  }
  return out;
}

export interface AcpiOptions {
  /** Processors (default 1). */
  cpus?: number;
  /** End of RAM below 4 GiB in bytes: start of the 32-bit PCI window. */
  lowRamEnd: number;
  /** End of RAM above 4 GiB (default: none, 4 GiB). The 64-bit PCI window starts above it. */
  highRamEnd?: bigint;
  /** The 64-bit PCI window; default: 2 GiB from highRamEnd rounded up to 1 GiB (QEMU's i440FX). */
  pciHole64?: { base: bigint; size: bigint } | null;
  /** COM1 present (default true). */
  serial?: boolean;
  /** i8042 keyboard and mouse present (default true). */
  keyboard?: boolean;
  /** HPET present (default true). */
  hpet?: boolean;
  /** fw_cfg device in the DSDT (default true). */
  fwCfg?: boolean;
  /** Power button as a PNP0C0C device instead of the FADT's fixed-feature button (default false, as QEMU). */
  powerButtonDevice?: boolean;
  /** Offer \_S3 (default false: nothing resumes) and \_S4 (default true, powers off as QEMU does). */
  s3?: boolean;
  s4?: boolean;
  /** Table layout (default 'qemu-pc'). */
  flavor?: AcpiFlavor;
  oem?: AcpiOem;
  pm?: PmBlocks;
}

/** Where one table sits in the tables blob. */
export interface TableEntry {
  signature: string;
  offset: number;
  length: number;
}

export interface AcpiBuild {
  /** `etc/acpi/rsdp`: the RSDP with offsets for addresses. */
  rsdp: Uint8Array;
  /** `etc/acpi/tables`: every table, padded to ACPI_TABLES_PAD. */
  tables: Uint8Array;
  /** `etc/table-loader`: the commands. */
  loader: Uint8Array;
  commands: LoaderCommand[];
  /** Layout of `tables` (FACS first, RSDT/XSDT last). */
  entries: TableEntry[];
}

const GIB = 1n << 30n;

/** Build the fw_cfg files `etc/acpi/rsdp`, `etc/acpi/tables` and `etc/table-loader`. */
export function buildAcpi(options: AcpiOptions): AcpiBuild {
  const flavor = options.flavor ?? 'qemu-pc';
  const oem = options.oem ?? TSEMU_OEM;
  const pm = options.pm ?? PIIX4_PM_BLOCKS;
  const cpus = options.cpus ?? 1;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 255) throw new Error(`ACPI: ${cpus} processors`);
  const high = options.highRamEnd ?? 1n << 32n;
  const hole64Base = ((high > 1n << 32n ? high : 1n << 32n) + GIB - 1n) / GIB * GIB;
  const dsdtConfig: DsdtConfig = {
    cpus,
    lowRamEnd: options.lowRamEnd,
    pciHole64: options.pciHole64 === undefined ? { base: hole64Base, size: 2n * GIB } : options.pciHole64,
    serial: options.serial ?? true,
    keyboard: options.keyboard ?? true,
    hpet: options.hpet ?? true,
    fwCfg: options.fwCfg ?? true,
    powerButtonDevice: options.powerButtonDevice ?? false,
    s3: options.s3 ?? false,
    s4: options.s4 ?? true,
    revision: flavor === 'acpi2' ? 2 : 1,
    header: oem,
  };

  const blob: number[] = [];
  const entries: TableEntry[] = [];
  const commands: LoaderCommand[] = [
    { command: 'allocate', file: ACPI_RSDP_FILE, align: 16, zone: ZONE_FSEG },
    { command: 'allocate', file: ACPI_TABLES_FILE, align: 64, zone: ZONE_HIGH },
  ];
  const pointer = (tableOffset: number, field: number, size: 4 | 8) =>
    commands.push({ command: 'add-pointer', destFile: ACPI_TABLES_FILE, srcFile: ACPI_TABLES_FILE, offset: tableOffset + field, size });
  const add = (signature: string, t: Uint8Array, pointers: [number, 4 | 8][] = [], checksum = true): number => {
    const offset = blob.length;
    blob.push(...t);
    entries.push({ signature, offset, length: t.length });
    for (const [field, size] of pointers) pointer(offset, field, size);
    if (checksum) {
      t[HEADER_CHECKSUM] = 0;
      blob[offset + HEADER_CHECKSUM] = 0;
      commands.push({ command: 'add-checksum', file: ACPI_TABLES_FILE, offset: offset + HEADER_CHECKSUM, start: offset, length: t.length });
    }
    return offset;
  };

  // The FACS comes first: the blob is 64-byte aligned and so is the FACS (ACPI 6.4 §5.2.10).
  const facs = add('FACS', buildFacs(), [], false); // the FACS has no checksum
  const dsdt = add('DSDT', buildDsdt(dsdtConfig));
  const fadtPointers: [number, 4 | 8][] = [
    [FADT_FIRMWARE_CTRL, 4],
    [FADT_DSDT, 4],
  ];
  if (flavor === 'acpi2') fadtPointers.push([FADT_X_FIRMWARE_CTRL, 8], [FADT_X_DSDT, 8]);
  const fadtOptions = { flavor, pm, powerButtonDevice: dsdtConfig.powerButtonDevice, keyboard: dsdtConfig.keyboard };
  const listed: number[] = [];
  listed.push(add('FACP', buildFadt(fadtOptions, oem, facs, dsdt), fadtPointers));
  // Level-triggered ISA IRQs: the PCI links and the SCI, in ascending order.
  const levelIrqs = [...new Set([...PCI_LINK_IRQS, SCI_IRQ, pm.sciIrq])].sort((a, b) => a - b);
  listed.push(add('APIC', buildMadt({ cpus, levelIrqs }, oem)));
  if (dsdtConfig.hpet) listed.push(add('HPET', buildHpetTable(oem, HPET_BLOCK_ID)));
  listed.push(add('WAET', buildWaet(oem)));

  const rsdtOffset = blob.length;
  add('RSDT', buildRsdt(oem, listed), listed.map((_, i) => [36 + 4 * i, 4] as [number, 4]));
  let xsdtOffset = 0;
  if (flavor === 'acpi2') {
    xsdtOffset = blob.length;
    add('XSDT', buildXsdt(oem, listed), listed.map((_, i) => [36 + 8 * i, 8] as [number, 8]));
  }

  const rsdp = buildRsdp(oem, flavor === 'acpi2' ? 2 : 0, rsdtOffset, xsdtOffset);
  commands.push({ command: 'add-pointer', destFile: ACPI_RSDP_FILE, srcFile: ACPI_TABLES_FILE, offset: RSDP_RSDT_ADDRESS, size: 4 });
  if (flavor === 'acpi2') {
    commands.push({ command: 'add-pointer', destFile: ACPI_RSDP_FILE, srcFile: ACPI_TABLES_FILE, offset: RSDP_XSDT_ADDRESS, size: 8 });
  }
  commands.push({ command: 'add-checksum', file: ACPI_RSDP_FILE, offset: RSDP_CHECKSUM, start: 0, length: RSDP_V1_LENGTH });
  if (flavor === 'acpi2') {
    commands.push({ command: 'add-checksum', file: ACPI_RSDP_FILE, offset: RSDP_EXTENDED_CHECKSUM, start: 0, length: rsdp.length });
  }

  const padded = Math.max(ACPI_TABLES_PAD, Math.ceil(blob.length / ACPI_TABLES_PAD) * ACPI_TABLES_PAD);
  const tables = new Uint8Array(padded);
  tables.set(blob);
  return { rsdp, tables, loader: encodeLoaderCommands(commands), commands, entries };
}

/** Hands out guest memory for an ALLOCATE command; returns the address chosen. */
export type LoaderAllocator = (file: string, size: number, align: number, zone: number) => number;

/**
 * Execute loader commands as firmware would: allocate (copy) each file at the address the
 * allocator picks, patch pointers, fix checksums. `write` stores bytes into guest memory.
 * Returns the address of every allocated file.
 */
export function runTableLoader(
  commands: readonly LoaderCommand[],
  files: ReadonlyMap<string, Uint8Array>,
  allocate: LoaderAllocator,
  write: (address: number, bytes: Uint8Array) => void,
): Map<string, number> {
  const placed = new Map<string, { address: number; data: Uint8Array }>();
  const get = (name: string) => {
    const p = placed.get(name);
    if (!p) throw new Error(`table-loader: '${name}' was not allocated`);
    return p;
  };
  for (const c of commands) {
    if (c.command === 'allocate') {
      const data = files.get(c.file);
      if (!data) throw new Error(`table-loader: no file '${c.file}'`);
      const address = allocate(c.file, data.length, c.align, c.zone);
      if (c.align && address % c.align !== 0) throw new Error(`table-loader: '${c.file}' placed unaligned`);
      placed.set(c.file, { address, data: data.slice() });
    } else if (c.command === 'add-pointer') {
      const dest = get(c.destFile).data;
      const src = get(c.srcFile).address;
      if (c.offset + c.size > dest.length) throw new Error(`table-loader: pointer outside '${c.destFile}'`);
      let v = 0n;
      for (let i = 0; i < c.size; i++) v |= BigInt(dest[c.offset + i]) << BigInt(8 * i);
      v = (v + BigInt(src)) & ((1n << BigInt(8 * c.size)) - 1n);
      for (let i = 0; i < c.size; i++) dest[c.offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
    } else {
      const data = get(c.file).data;
      if (c.start + c.length > data.length || c.offset >= data.length) throw new Error(`table-loader: checksum outside '${c.file}'`);
      let sum = 0;
      for (let i = c.start; i < c.start + c.length; i++) sum = (sum + data[i]) & 0xff;
      data[c.offset] = (data[c.offset] - sum) & 0xff;
    }
  }
  const out = new Map<string, number>();
  for (const [name, p] of placed) {
    write(p.address, p.data);
    out.set(name, p.address);
  }
  return out;
}

export interface InstallOptions {
  /** Where the RSDP goes: 16-byte aligned, within 0xE0000-0xFFFFF (default DEFAULT_RSDP_ADDRESS). */
  rsdpAddress?: number;
  /** Where the tables blob goes (64-byte aligned), e.g. the top of low RAM minus the blob size. */
  tablesAddress: number;
}

/** Default RSDP address for installAcpiTables: a free paragraph of the F segment. */
export const DEFAULT_RSDP_ADDRESS = 0xf5a00;

/**
 * Place the tables directly into guest RAM (no firmware): run the loader commands with fixed
 * addresses. Returns the RSDP and tables addresses; the caller must keep the tables' range out of
 * the RAM it gives the OS (an e820 "ACPI reclaimable" entry, type 3) — `build.tables.length`
 * bytes from `tablesAddress`.
 */
export function installAcpiTables(
  build: AcpiBuild,
  write: (address: number, bytes: Uint8Array) => void,
  options: InstallOptions,
): { rsdp: number; tables: number } {
  const rsdpAddress = options.rsdpAddress ?? DEFAULT_RSDP_ADDRESS;
  if (rsdpAddress % 16 !== 0 || rsdpAddress < 0xe0000 || rsdpAddress + build.rsdp.length > 0x100000) {
    throw new Error(`ACPI: RSDP address 0x${rsdpAddress.toString(16)} is not a paragraph of 0xE0000-0xFFFFF`);
  }
  const files = new Map([
    [ACPI_RSDP_FILE, build.rsdp],
    [ACPI_TABLES_FILE, build.tables],
  ]);
  const placed = runTableLoader(
    build.commands,
    files,
    (file) => (file === ACPI_RSDP_FILE ? rsdpAddress : options.tablesAddress),
    write,
  );
  return { rsdp: placed.get(ACPI_RSDP_FILE) as number, tables: placed.get(ACPI_TABLES_FILE) as number };
}

/** The fw_cfg files in the order QEMU adds them. */
export function acpiFwCfgFiles(build: AcpiBuild): { name: string; data: Uint8Array }[] {
  return [
    { name: ACPI_TABLES_FILE, data: build.tables },
    { name: ACPI_RSDP_FILE, data: build.rsdp },
    { name: TABLE_LOADER_FILE, data: build.loader },
  ];
}
