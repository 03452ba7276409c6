// The Intel 82441FX PCI and Memory Controller (host bridge of the i440FX chipset), PCI 00:00.0.
// Besides its configuration header it decides what the CPU sees in the legacy BIOS area:
//  - PAM0-PAM6 (config 0x59-0x5F, 82441FX datasheet §3.2.21 "PAM - Programmable Attribute Map
//    Registers") give each segment of 0xC0000-0xFFFFF a read-enable and a write-enable bit. An
//    enabled access goes to DRAM, a disabled one to PCI, where the BIOS ROM alias (0xE0000-0xFFFFF)
//    and QEMU's zero-filled "pc.rom" (0xC0000-0xDFFFF) answer. SeaBIOS copies itself from the ROM
//    into shadow RAM through these bits and write-protects the copy afterwards. As in QEMU 7.2
//    (checked against it; the datasheet says reads of a write-only segment go to PCI), a
//    write-only segment (WE without RE) is plain read/write DRAM.
//  - SMRAM (config 0x72, §3.2.23): with D_OPEN set, 0xA0000-0xBFFFF shows DRAM instead of the VGA
//    window; closed, PCI decodes it. With no VGA device nothing on PCI claims the window and, as in
//    QEMU, the DRAM below shows through, so today the window is always DRAM. tsemu has no System
//    Management Mode, so the other SMRAM bits are plain storage.
// Identity, reset values and the RAM-size byte at 0x57 are QEMU 7.2's.

import type { RomImage } from '../../cpu/types.ts';
import { PciFunction } from './pci.ts';

const PAM0 = 0x59;
const SMRAM = 0x72;
const SMRAM_D_OPEN = 0x40;
const SMRAM_G_SMRAME = 0x08;
/** C_BASE_SEG = 010b: SMRAM at 0xA0000 (fixed in the 82441FX). */
const SMRAM_RESET = 0x02;

/** PAM attribute bits of one segment (82441FX datasheet, table "Attribute Bit Assignment"). */
const PAM_RE = 1;
const PAM_WE = 2;

/** What the bridge needs from the CPU to change the physical map (CpuApi implements it). */
export interface ShadowTarget {
  mapRam(physAddr: number, length: number, writable: boolean): void;
  mapRomImage(physAddr: number, image: RomImage, offset: number, length: number): void;
  mapMmio(physAddr: number, length: number): void;
}

/** A read-only image visible through PCI in part of 0xC0000-0xFFFFF (BIOS alias, pc.rom). */
export interface LegacyRom {
  /** Physical address of the image's first byte, 4 KiB aligned. */
  base: number;
  image: RomImage;
  /** Where `base` lies inside the image (4 KiB aligned). */
  offset: number;
  /** Bytes of the window (from `offset` on). */
  length: number;
}

/** The 13 PAM segments: 0xF0000-0xFFFFF (PAM0 high nibble), then 0xC0000-0xEFFFF in 16 KiB steps. */
function segments(): { base: number; size: number; reg: number; shift: number }[] {
  const out = [{ base: 0xf0000, size: 0x10000, reg: PAM0, shift: 4 }];
  for (let i = 0; i < 12; i++) out.push({ base: 0xc0000 + i * 0x4000, size: 0x4000, reg: PAM0 + 1 + (i >> 1), shift: (i & 1) * 4 });
  return out;
}
const SEGMENTS = segments();

export class I440fx extends PciFunction {
  private target: ShadowTarget | null = null;
  private roms: LegacyRom[] = [];
  /** Attribute each segment is mapped with now (-1: not yet mapped). */
  private readonly applied = new Array<number>(SEGMENTS.length).fill(-1);
  private smramOpenApplied: boolean | null = null;

  /** `vgaWindow`: a VGA device decodes 0xA0000-0xBFFFF on PCI (none exists yet). */
  constructor(ramSize: number, private readonly vgaWindow = false) {
    super('i440FX', { vendorId: 0x8086, deviceId: 0x1237, revision: 0x02, classCode: 0x060000 });
    // QEMU keeps the RAM size in 8 MiB units in DRAMC's place (0x57), saturating at 255.
    this.config[0x57] = Math.min(255, Math.floor(ramSize / (8 * 1024 * 1024)));
    this.config[SMRAM] = SMRAM_RESET;
    this.sealInitialState();
  }

  /** Connect the CPU and the ROM images behind PCI, then map everything per the current registers. */
  connect(target: ShadowTarget, roms: LegacyRom[]): void {
    this.target = target;
    this.roms = roms;
    this.applied.fill(-1);
    this.smramOpenApplied = null;
    this.updateMemoryMap();
  }

  /** PAM attribute (RE | WE) of the segment holding physical address `addr` (0xC0000-0xFFFFF). */
  attributeAt(addr: number): number {
    for (const s of SEGMENTS) if (addr >= s.base && addr < s.base + s.size) return (this.config[s.reg] >> s.shift) & 3;
    return PAM_RE | PAM_WE;
  }

  /**
   * The state SeaBIOS leaves behind on QEMU's pc machine, for kernels started without firmware:
   * 0xC0000-0xFFFFF shadowed read-only, except 0xD8000-0xDFFFF (PAM6), which stays writable
   * (SeaBIOS's upper-memory allocations end there with 64 MiB-class guests).
   */
  setBiosState(): void {
    this.config[PAM0] = 0x10;
    for (let r = PAM0 + 1; r < PAM0 + 6; r++) this.config[r] = 0x11;
    this.config[PAM0 + 6] = 0x33;
    // SeaBIOS's SMM set-up (QEMU's TCG has SMM) leaves SMRAM enabled for SMM, closed otherwise.
    this.config[SMRAM] = SMRAM_RESET | SMRAM_G_SMRAME;
    this.updateMemoryMap();
  }

  override reset(): void {
    super.reset();
    this.updateMemoryMap();
  }

  protected override configWritten(offset: number, size: number, old: Uint8Array): void {
    super.configWritten(offset, size, old);
    const end = offset + size;
    if ((offset < PAM0 + 7 && end > PAM0) || (offset <= SMRAM && end > SMRAM)) this.updateMemoryMap();
  }

  private romAt(addr: number): { rom: LegacyRom; offset: number } | null {
    for (const rom of this.roms) {
      if (addr >= rom.base && addr < rom.base + rom.length) return { rom, offset: addr - rom.base };
    }
    return null;
  }

  /** Re-map the segments whose attributes changed, and the SMRAM window. */
  private updateMemoryMap(): void {
    const t = this.target;
    if (!t) return;
    SEGMENTS.forEach((s, i) => {
      const attr = (this.config[s.reg] >> s.shift) & 3;
      if (this.applied[i] === attr) return;
      this.applied[i] = attr;
      if (attr & PAM_WE) t.mapRam(s.base, s.size, true);
      else if (attr === PAM_RE) t.mapRam(s.base, s.size, false);
      else this.mapPci(s.base, s.size);
    });
    // Without a VGA window on PCI the SMRAM range is DRAM either way (see the header).
    const open = (this.config[SMRAM] & SMRAM_D_OPEN) !== 0 || !this.vgaWindow;
    if (open !== this.smramOpenApplied) {
      this.smramOpenApplied = open;
      if (open) t.mapRam(0xa0000, 0x20000, true);
      else t.mapMmio(0xa0000, 0x20000);
    }
  }

  /** A segment decoded by PCI: ROM pages where an image lies, unassigned (MMIO) elsewhere. */
  private mapPci(base: number, size: number): void {
    const t = this.target!;
    for (let a = base; a < base + size; a += 0x1000) {
      const r = this.romAt(a);
      const at = r ? r.rom.offset + r.offset : 0;
      if (r && at + 0x1000 <= r.rom.image.length) t.mapRomImage(a, r.rom.image, at, 0x1000);
      else t.mapMmio(a, 0x1000);
    }
  }
}
