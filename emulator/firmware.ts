// The PC firmware (SeaBIOS's bios-256k.bin) and the data QEMU's pc machine hands it: where the
// image is found and mapped, and the fw_cfg items and files SeaBIOS reads at boot.
//
// Mapping, as QEMU 7.2 does it: the whole image read-only just below 4 GiB (the reset vector
// 0xFFFFFFF0 is its last paragraph), its last 128 KiB again at 0xE0000-0xFFFFF ("isa-bios",
// behind the i440FX PAM registers), and a zero-filled read-only 128 KiB "pc.rom" at 0xC0000.

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CpuApi } from '../cpu/types.ts';
import type { LegacyRom } from '../devices/pci/i440fx.ts';
import {
  FW_CFG_BOOT_MENU,
  FW_CFG_E820_TABLE,
  FW_CFG_IRQ0_OVERRIDE,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_NOGRAPHIC,
  FW_CFG_NUMA,
  FW_CFG_RAM_SIZE,
  FW_CFG_UUID,
  le16,
  le32,
  le64,
  type FwCfg,
} from '../devices/fw-cfg.ts';

/** The image QEMU's pc machine boots unless -bios says otherwise. */
export const DEFAULT_BIOS = 'bios-256k.bin';

/** A problem with the firmware the user must fix; the machine turns it into "tsemu: <message>". */
export class FirmwareError extends Error {
  override readonly name = 'FirmwareError';
}

/** Where firmware images are looked for, in order: Debian's seabios package, then the image cache. */
export function firmwareDirs(): string[] {
  return [
    '/usr/share/seabios',
    '/usr/share/qemu',
    fileURLToPath(new URL('../build/images/cache/usr/share/seabios/', import.meta.url)),
  ];
}

/**
 * The firmware file to load: -bios NAME is a path if that exists (or NAME has a directory part),
 * otherwise a name looked up in firmwareDirs(), as QEMU looks it up in its data directories.
 */
export function findFirmware(bios: string | undefined, exists: (p: string) => boolean = existsSync, dirs = firmwareDirs()): string {
  const name = bios ?? DEFAULT_BIOS;
  if (bios !== undefined && (exists(bios) || isAbsolute(bios) || bios.includes('/'))) return bios;
  for (const d of dirs) {
    const p = join(d, name);
    if (exists(p)) return p;
  }
  if (bios === undefined) throw new FirmwareError(`could not find firmware '${DEFAULT_BIOS}' (install Debian's seabios package)`);
  return bios; // reading it fails and reports the name
}

/** Where QEMU's own option ROMs (kvmvapic.bin, ...) are looked for: qemu-system-data, then the image cache. */
export function qemuRomDirs(): string[] {
  return ['/usr/share/qemu', fileURLToPath(new URL('../build/images/cache/usr/share/qemu/', import.meta.url))];
}

/**
 * QEMU's pc machine always offers its "kvmvapic" option ROM as fw_cfg file genroms/kvmvapic.bin
 * (the guest side of its TPR-access patching, inert without KVM). SeaBIOS runs it and, as it has no
 * PnP header, lists it as a legacy boot device of the hard-disk kind, which puts "Booting from Hard
 * Disk..." before the floppy when nothing else is bootable. QEMU's file is used when installed;
 * otherwise a 512-byte legacy option ROM whose initialisation entry just returns plays its part
 * (IBM PC option ROM layout: 55 AA, size in 512-byte blocks, entry at offset 3, zero byte sum).
 */
export function vapicRom(read: (p: string) => Uint8Array, exists: (p: string) => boolean = existsSync): Uint8Array {
  for (const d of qemuRomDirs()) {
    const p = join(d, 'kvmvapic.bin');
    if (!exists(p)) continue;
    try {
      return read(p);
    } catch {
      // Unreadable: fall back to the stand-in.
    }
  }
  const rom = new Uint8Array(512);
  rom.set([0x55, 0xaa, 0x01, 0xcb]); // signature, 1 block, RETF
  rom[511] = (0x100 - (rom.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return rom;
}

export const ISA_BIOS_MAX = 128 * 1024;
const PC_ROM_BASE = 0xc0000;
const PC_ROM_SIZE = 0x20000;

/**
 * Check a BIOS image as QEMU does (a non-empty multiple of 64 KiB), map it into the CPU and return
 * the images the i440FX shows through PCI below 1 MiB.
 */
export function mapFirmware(cpu: Pick<CpuApi, 'loadRom' | 'mapRomImage'>, image: Uint8Array, name: string): LegacyRom[] {
  if (image.length === 0 || image.length % 65536 !== 0) {
    throw new FirmwareError(`could not load PC BIOS '${name}': its size (${image.length} bytes) is not a multiple of 64 KiB`);
  }
  if (image.length > 8 * 1024 * 1024) throw new FirmwareError(`could not load PC BIOS '${name}': larger than 8 MiB`);
  const rom = cpu.loadRom(image);
  cpu.mapRomImage(2 ** 32 - image.length, rom, 0, image.length);
  const isaSize = Math.min(image.length, ISA_BIOS_MAX);
  const pcRom = cpu.loadRom(new Uint8Array(PC_ROM_SIZE));
  // The isa-bios alias is the same copy as the high mapping: one ROM, two windows.
  return [
    { base: 0x100000 - isaSize, image: rom, offset: image.length - isaSize, length: isaSize },
    { base: PC_ROM_BASE, image: pcRom, offset: 0, length: PC_ROM_SIZE },
  ];
}

export interface FwCfgMachine {
  ramSize: number;
  nographic: boolean;
  cpus?: number;
}

/** e820 types (ACPI 6.4 §15, "System Address Map Interfaces"). */
const E820_RAM = 1;
const E820_RESERVED = 2;
/**
 * QEMU 7.2 reserves the AMD HyperTransport window just below 1 TiB when its (default, AMD-vendor)
 * qemu64 CPU has 40 or more physical address bits; tsemu reports what that machine reports.
 */
const AMD_HT_START = 0xfd_0000_0000;
const AMD_HT_SIZE = 0x3_0000_0000;

/** The e820 map of "etc/e820": 20-byte entries (u64 address, u64 length, u32 type), little-endian. */
export function e820Table(ramSize: number): Uint8Array {
  const entries: [number, number, number][] = [
    [AMD_HT_START, AMD_HT_SIZE, E820_RESERVED],
    [0, ramSize, E820_RAM],
  ];
  const out = new Uint8Array(20 * entries.length);
  const v = new DataView(out.buffer);
  entries.forEach(([addr, len, type], i) => {
    v.setBigUint64(20 * i, BigInt(addr), true);
    v.setBigUint64(20 * i + 8, BigInt(len), true);
    v.setUint32(20 * i + 16, type, true);
  });
  return out;
}

/**
 * The fixed items and files QEMU 7.2's pc machine provides (without -kernel, ACPI and SMBIOS,
 * which their own builders add): what SeaBIOS reads on its way to "No bootable device.".
 */
export function populateFwCfg(fw: FwCfg, m: FwCfgMachine): void {
  const cpus = m.cpus ?? 1;
  fw.setItem(FW_CFG_UUID, new Uint8Array(16));
  fw.setItem(FW_CFG_RAM_SIZE, le64(m.ramSize));
  // Non-zero makes SeaBIOS put its console on COM1 ("etc/sercon-port").
  fw.setItem(FW_CFG_NOGRAPHIC, le16(m.nographic ? 1 : 0));
  fw.setItem(FW_CFG_NB_CPUS, le16(cpus));
  fw.setItem(FW_CFG_MAX_CPUS, le16(cpus));
  // No NUMA: a node count of 0, then one (empty) u64 per CPU.
  fw.setItem(FW_CFG_NUMA, new Uint8Array(8 * (1 + cpus)));
  fw.setItem(FW_CFG_BOOT_MENU, le16(0));
  // The PIT's IRQ0 arrives on I/O APIC pin 2 (the MADT gets an interrupt source override).
  fw.setItem(FW_CFG_IRQ0_OVERRIDE, le32(1));
  // The legacy e820 reservation list: empty (the map is in "etc/e820").
  fw.setItem(FW_CFG_E820_TABLE, le32(0));
  fw.addFile('bios-geometry', new Uint8Array(0));
  fw.addFile('bootorder', new Uint8Array(0));
  // -1: no reboot timeout, SeaBIOS waits forever after "No bootable device.".
  fw.addFile('etc/boot-fail-wait', le32(0xffffffff));
  fw.addFile('etc/e820', e820Table(m.ramSize));
  // Sleep states the DSDT offers, one byte each for S0-S5: bit 7 = enabled, low bits = SLP_TYP.
  fw.addFile('etc/system-states', Uint8Array.of(0x80, 0x00, 0x00, 0x81, 0x82, 0x80));
}
