// The fixed-layout ACPI tables of the pc machine (ACPI 6.4 §5.2): RSDP, RSDT, XSDT, FADT, FACS,
// MADT, HPET and WAET. The DSDT is in dsdt.ts. Pointer fields hold offsets into the tables blob;
// loader.ts turns them into addresses (as QEMU's BIOS linker/loader does) and computes the
// checksums, so tables here carry a checksum of 0 unless they have no pointers at all.
//
// Two flavours:
// - 'qemu-pc' (default): what QEMU 7.2's pc machine installs (checked by dumping its fw_cfg files):
//   an ACPI 1.0 RSDP (revision 0) with an RSDT only, a revision 1 FADT of 116 bytes, revision 1
//   MADT/HPET/WAET, a revision 1 DSDT, a 64-byte FACS.
// - 'acpi2': an ACPI 2.0+ layout for guests that want one: RSDP revision 2 with an XSDT, a
//   revision 3 FADT (244 bytes) with the 64-bit X_ fields and the reset register (0xCF9 <- 0x06).

import * as A from './aml.ts';
import type { TableHeader } from './aml.ts';

export type AcpiFlavor = 'qemu-pc' | 'acpi2';

/** OEM identification written into every table header (§5.2.6). */
export interface AcpiOem {
  oemId: string;
  oemTableId: string;
  oemRevision: number;
  creatorId: string;
  creatorRevision: number;
}

export const TSEMU_OEM: AcpiOem = {
  oemId: 'TSEMU',
  oemTableId: 'TSEMU-PC',
  oemRevision: 1,
  creatorId: 'TSEM',
  creatorRevision: 1,
};

/** The PIIX4 power-management I/O blocks as QEMU's pc machine places them (and the FADT says). */
export interface PmBlocks {
  /** PM1a event block (4 bytes: status, enable); the control block is at +4, the PM timer at +8. */
  pmBase: number;
  /** GPE0 block (4 bytes). */
  gpe0Base: number;
  /** SCI interrupt (ISA IRQ). */
  sciIrq: number;
  /** SMI command port and the values that switch ACPI mode on/off (0 = always in ACPI mode). */
  smiCommand: number;
  acpiEnable: number;
  acpiDisable: number;
}

export const PIIX4_PM_BLOCKS: PmBlocks = {
  pmBase: 0x600,
  gpe0Base: 0xafe0,
  sciIrq: 9,
  smiCommand: 0xb2,
  acpiEnable: 0xf1,
  acpiDisable: 0xf0,
};

/** The reset register of the 'acpi2' FADT: the PIIX3 Reset Control Register (82371SB §4.1.5). */
export const RESET_PORT = 0xcf9;
/** SYS_RST | RST_CPU: a hard reset. */
export const RESET_VALUE = 0x06;

/** The RTC's century byte in CMOS (FADT CENTURY, devices/rtc.ts CMOS_CENTURY). */
export const CMOS_CENTURY_INDEX = 0x32;

const LAPIC_BASE = 0xfee00000;
const IOAPIC_BASE = 0xfec00000;
const HPET_BASE = 0xfed00000;

// --- Offsets of pointer and checksum fields (for loader.ts) ---
export const HEADER_CHECKSUM = 9;
/** RSDP (§5.2.5.3). */
export const RSDP_CHECKSUM = 8;
export const RSDP_RSDT_ADDRESS = 16;
export const RSDP_XSDT_ADDRESS = 24;
export const RSDP_EXTENDED_CHECKSUM = 32;
export const RSDP_V1_LENGTH = 20;
export const RSDP_V2_LENGTH = 36;
/** FADT (§5.2.9, Table 5.9). */
export const FADT_FIRMWARE_CTRL = 36;
export const FADT_DSDT = 40;
export const FADT_X_FIRMWARE_CTRL = 132;
export const FADT_X_DSDT = 140;
export const FADT_V1_LENGTH = 116;
export const FADT_V3_LENGTH = 244;

function u8(t: Uint8Array, at: number, v: number): void {
  t[at] = v & 0xff;
}
function u16(t: Uint8Array, at: number, v: number): void {
  new DataView(t.buffer, t.byteOffset, t.byteLength).setUint16(at, v, true);
}
function u32(t: Uint8Array, at: number, v: number): void {
  new DataView(t.buffer, t.byteOffset, t.byteLength).setUint32(at, v >>> 0, true);
}
function u64(t: Uint8Array, at: number, v: bigint): void {
  new DataView(t.buffer, t.byteOffset, t.byteLength).setBigUint64(at, v, true);
}

function header(oem: AcpiOem, signature: string, revision: number): TableHeader {
  return { ...oem, signature, revision };
}

/** A table of `length` bytes with its header written (checksum 0). */
function blank(oem: AcpiOem, signature: string, revision: number, length: number): Uint8Array {
  const t = new Uint8Array(length);
  A.writeHeader(t, header(oem, signature, revision));
  return t;
}

/** Make a table's bytes sum to 0 (§5.2.6). */
export function fixChecksum(t: Uint8Array, at = HEADER_CHECKSUM, start = 0, length = t.length - start): void {
  t[at] = 0;
  t[at] = A.checksumByte(t, start, length);
}

/**
 * A Generic Address Structure (§5.2.3.2): address space, register bit width, bit offset, access
 * size (0 = undefined/legacy), 64-bit address.
 */
function gas(t: Uint8Array, at: number, space: number, bitWidth: number, address: bigint | number, accessSize = 0): void {
  u8(t, at, space);
  u8(t, at + 1, bitWidth);
  u8(t, at + 2, 0);
  u8(t, at + 3, accessSize);
  u64(t, at + 4, BigInt(address));
}

const GAS_MEMORY = 0;
const GAS_IO = 1;

/** FACS (§5.2.10): 64 bytes, firmware waking vector and global lock left 0. Must be 64-byte aligned. */
export function buildFacs(): Uint8Array {
  const t = new Uint8Array(64);
  t.set([0x46, 0x41, 0x43, 0x53], 0); // "FACS"
  u32(t, 4, 64);
  return t;
}

export interface FadtOptions {
  flavor: AcpiFlavor;
  pm: PmBlocks;
  /** A control-method power button (PNP0C0C in the DSDT) rather than the fixed-feature one. */
  powerButtonDevice: boolean;
  /** The i8042 is present (IAPC_BOOT_ARCH of a revision 3 FADT). */
  keyboard: boolean;
}

// FADT Flags (Table 5.10).
const FADT_WBINVD = 1 << 0;
const FADT_PROC_C1 = 1 << 2;
const FADT_PWR_BUTTON = 1 << 4;
const FADT_SLP_BUTTON = 1 << 5;
const FADT_RTC_S4 = 1 << 7;
const FADT_RESET_REG_SUP = 1 << 10;
const FADT_USE_PLATFORM_CLOCK = 1 << 15;
// IAPC_BOOT_ARCH (Table 5.11).
const BOOT_ARCH_LEGACY_DEVICES = 1 << 0;
const BOOT_ARCH_8042 = 1 << 1;

/**
 * FADT (§5.2.9): FIRMWARE_CTRL and DSDT (and X_FIRMWARE_CTRL/X_DSDT in revision 3) hold the
 * offsets of the FACS and DSDT in the tables blob (`facsOffset`, `dsdtOffset`).
 */
export function buildFadt(o: FadtOptions, oem: AcpiOem, facsOffset: number, dsdtOffset: number): Uint8Array {
  const v3 = o.flavor === 'acpi2';
  const t = blank(oem, 'FACP', v3 ? 3 : 1, v3 ? FADT_V3_LENGTH : FADT_V1_LENGTH);
  const pm = o.pm;
  u32(t, FADT_FIRMWARE_CTRL, facsOffset);
  u32(t, FADT_DSDT, dsdtOffset);
  u8(t, 44, 1); // ACPI 1.0 INT_MODEL: multiple APIC (reserved since 2.0; QEMU writes 1)
  u8(t, 45, 0); // Preferred_PM_Profile: unspecified
  u16(t, 46, pm.sciIrq);
  u32(t, 48, pm.smiCommand);
  u8(t, 52, pm.acpiEnable);
  u8(t, 53, pm.acpiDisable);
  u32(t, 56, pm.pmBase); // PM1a_EVT_BLK
  u32(t, 64, pm.pmBase + 4); // PM1a_CNT_BLK
  u32(t, 76, pm.pmBase + 8); // PM_TMR_BLK
  u32(t, 80, pm.gpe0Base); // GPE0_BLK
  u8(t, 88, 4); // PM1_EVT_LEN
  u8(t, 89, 2); // PM1_CNT_LEN
  u8(t, 91, 4); // PM_TMR_LEN
  u8(t, 92, 4); // GPE0_BLK_LEN
  u16(t, 96, 0x0fff); // P_LVL2_LAT > 100: no C2
  u16(t, 98, 0x0fff); // P_LVL3_LAT > 1000: no C3
  u8(t, 108, CMOS_CENTURY_INDEX);
  let flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RTC_S4 | FADT_USE_PLATFORM_CLOCK;
  if (o.powerButtonDevice) flags |= FADT_PWR_BUTTON;
  if (v3) {
    flags |= FADT_RESET_REG_SUP;
    u16(t, 109, BOOT_ARCH_LEGACY_DEVICES | (o.keyboard ? BOOT_ARCH_8042 : 0));
    gas(t, 116, GAS_IO, 8, RESET_PORT, 1);
    u8(t, 128, RESET_VALUE);
    u64(t, FADT_X_FIRMWARE_CTRL, BigInt(facsOffset));
    u64(t, FADT_X_DSDT, BigInt(dsdtOffset));
    gas(t, 148, GAS_IO, 32, pm.pmBase); // X_PM1a_EVT_BLK
    gas(t, 172, GAS_IO, 16, pm.pmBase + 4); // X_PM1a_CNT_BLK
    gas(t, 208, GAS_IO, 32, pm.pmBase + 8); // X_PM_TMR_BLK
    gas(t, 220, GAS_IO, 32, pm.gpe0Base); // X_GPE0_BLK
  }
  u32(t, 112, flags);
  return t;
}

export interface MadtOptions {
  cpus: number;
  /** ISA IRQs declared level-triggered, active-high (the PCI link IRQs and the SCI). */
  levelIrqs: number[];
}

/**
 * MADT (§5.2.12): the local APIC address with PCAT_COMPAT (8259s present), one Processor Local
 * APIC per CPU (UID = APIC ID = index), the I/O APIC (ID 0, GSI base 0), Interrupt Source Overrides
 * for IRQ0 -> GSI 2 (conforming) and for each level IRQ (level, active-high), and the LINT1 NMI
 * of every processor.
 */
export function buildMadt(o: MadtOptions, oem: AcpiOem): Uint8Array {
  const entries: number[][] = [];
  for (let i = 0; i < o.cpus; i++) entries.push([0, 8, i, i, 1, 0, 0, 0]); // Processor Local APIC, enabled
  entries.push([1, 12, 0, 0, ...le32(IOAPIC_BASE), ...le32(0)]); // I/O APIC
  entries.push([2, 10, 0, 0, ...le32(2), 0, 0]); // ISO: bus 0 IRQ0 -> GSI2, conforming
  for (const irq of o.levelIrqs) entries.push([2, 10, 0, irq, ...le32(irq), 0x0d, 0]); // level (3 << 2), active-high (1)
  entries.push([4, 6, 0xff, 0, 0, 1]); // Local APIC NMI: all processors, LINT1, conforming
  const body = entries.flat();
  const t = blank(oem, 'APIC', 1, 44 + body.length);
  u32(t, 36, LAPIC_BASE);
  u32(t, 40, 1); // PCAT_COMPAT
  t.set(body, 44);
  fixChecksum(t);
  return t;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * HPET description table (IA-PC HPET spec 1.0a §3.2.4): event timer block ID (the capabilities
 * register's low dword), base address as a GAS in system memory, HPET number 0, minimum clock
 * tick 0 and no page protection (QEMU's values).
 */
export function buildHpetTable(oem: AcpiOem, blockId: number): Uint8Array {
  const t = blank(oem, 'HPET', 1, 56);
  u32(t, 36, blockId);
  gas(t, 40, GAS_MEMORY, 0, HPET_BASE);
  u8(t, 52, 0);
  u16(t, 53, 0);
  u8(t, 55, 0);
  fixChecksum(t);
  return t;
}

/** WAET (Windows ACPI Emulated Devices Table): "the ACPI PM timer reads reliably in one read". */
export function buildWaet(oem: AcpiOem): Uint8Array {
  const t = blank(oem, 'WAET', 1, 40);
  u32(t, 36, 1 << 1); // ACPI_PM_TIMER_GOOD
  fixChecksum(t);
  return t;
}

/** RSDT (§5.2.7) with 32-bit entries holding the given blob offsets. */
export function buildRsdt(oem: AcpiOem, offsets: number[]): Uint8Array {
  const t = blank(oem, 'RSDT', 1, 36 + 4 * offsets.length);
  offsets.forEach((o, i) => u32(t, 36 + 4 * i, o));
  return t;
}

/** XSDT (§5.2.8) with 64-bit entries holding the given blob offsets. */
export function buildXsdt(oem: AcpiOem, offsets: number[]): Uint8Array {
  const t = blank(oem, 'XSDT', 1, 36 + 8 * offsets.length);
  offsets.forEach((o, i) => u64(t, 36 + 8 * i, BigInt(o)));
  return t;
}

/**
 * RSDP (§5.2.5.3): revision 0 (20 bytes, RSDT only) or 2 (36 bytes, with the XSDT address and
 * the extended checksum). Addresses are offsets into the tables blob.
 */
export function buildRsdp(oem: AcpiOem, revision: 0 | 2, rsdtOffset: number, xsdtOffset = 0): Uint8Array {
  const t = new Uint8Array(revision === 2 ? RSDP_V2_LENGTH : RSDP_V1_LENGTH);
  t.set([...'RSD PTR '].map((c) => c.charCodeAt(0)), 0);
  for (let i = 0; i < 6; i++) t[9 + i] = i < oem.oemId.length ? oem.oemId.charCodeAt(i) : 0x20;
  t[15] = revision;
  u32(t, RSDP_RSDT_ADDRESS, rsdtOffset);
  if (revision === 2) {
    u32(t, 20, RSDP_V2_LENGTH);
    u64(t, RSDP_XSDT_ADDRESS, BigInt(xsdtOffset));
  }
  return t;
}
