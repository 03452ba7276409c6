// The DSDT of the pc machine, written with our AML encoder (devices/acpi/aml.ts): the PCI root
// bridge and its resources, the PCI interrupt routing through the PIIX3's PIRQ link devices, the
// ISA devices behind the PIIX3, the HPET, the processors and the sleep states.
//
// Facts used (ACPI 6.4 unless said otherwise):
// - PCI host bridge: _HID PNP0A03, _BBN, _CRS with the bus range, the I/O and memory windows it
//   forwards, and the consumed 0xCF8-0xCFF configuration ports (§6.1, §6.2.2; PCI Firmware spec).
// - _PRT (§6.2.13): one entry per (slot, INTx pin); address 0xSSSSFFFF, pin 0-3 (INTA-INTD), the
//   link device as source. On the PIIX3, slot s pin p is wired to PIRQ[(s + p - 1) mod 4]
//   (the rotation of QEMU's i440FX board); PIRQA-D are routed by the PIRQRC registers at PCI
//   configuration 0x60-0x63 of the PIIX3 (82371SB datasheet §2.2.14: bit 7 disables the route,
//   bits 3:0 pick the ISA IRQ).
// - PCI interrupt link devices (§6.2.16, PNP0C0F) with _PRS/_CRS/_SRS/_DIS/_STA; PCI interrupts
//   are level-triggered, active-high (as the MADT overrides for IRQ 5, 9, 10, 11 say) and shared.
//   The PIIX4 power-management function (00:01.3, pin INTA) is wired to the SCI instead: its
//   link LNKS always reports IRQ 9.
// - Sleep state packages \_Sx (§7.4.2): { SLP_TYPa, SLP_TYPb, reserved, reserved }. On QEMU's
//   PIIX4 PM device SLP_TYP 0 is soft-off (S5), 1 is S3 and 2 is S4; devices/pci/piix4-pm.ts
//   powers off for 0 and 2. S3 is left out unless asked for: nothing implements the resume.

import * as A from './aml.ts';
import type { TableHeader } from './aml.ts';

/** SLP_TYP for S5 (soft-off) on the PIIX4 PM device, as QEMU's pc DSDT declares it. */
export const SLP_TYP_S5 = 0;
/** SLP_TYP for S4 (treated as soft-off by the PM device, as QEMU does). */
export const SLP_TYP_S4 = 2;
/** SLP_TYP for S3 (suspend to RAM). */
export const SLP_TYP_S3 = 1;

/** ISA IRQs a PCI link may be routed to (the ones the MADT declares level/active-high). */
export const PCI_LINK_IRQS = [5, 10, 11];
/** The SCI's IRQ (PIIX4 PM, FADT SCI_INT). */
export const SCI_IRQ = 9;

export interface DsdtConfig {
  /** Number of processors (Processor objects C000, C001, ...). */
  cpus: number;
  /** End of RAM below 4 GiB: the PCI memory window runs from here to 0xFEBFFFFF. */
  lowRamEnd: number;
  /** 64-bit PCI window (omitted when null). */
  pciHole64: { base: bigint; size: bigint } | null;
  /** COM1 at 0x3F8, IRQ 4. */
  serial: boolean;
  /** The i8042 keyboard (0x60/0x64, IRQ 1) and PS/2 mouse (IRQ 12). */
  keyboard: boolean;
  /** The HPET at 0xFED00000. */
  hpet: boolean;
  /** QEMU's fw_cfg device (QEMU0002) at I/O 0x510. */
  fwCfg: boolean;
  /** A control-method power button device (PNP0C0C) instead of the fixed-feature one. */
  powerButtonDevice: boolean;
  s3: boolean;
  s4: boolean;
  /** DSDT revision: 1 (32-bit integers, QEMU's pc) or 2 and up (64-bit integers). */
  revision: number;
  header: Omit<TableHeader, 'signature' | 'revision'>;
}

const LINKS = ['LNKA', 'LNKB', 'LNKC', 'LNKD'];
const PIRQ_FIELDS = ['PRQA', 'PRQB', 'PRQC', 'PRQD'];
const ISA_PATH = '\\_SB.PCI0.ISA';
/** PCI device number of the PIIX3 (function 0 ISA bridge, function 3 the PM device). */
const PIIX_SLOT = 1;

/** _STA values (§6.3.7): present, enabled, shown in UI, functioning; 0x0B = not shown in UI. */
const STA_ON = 0x0f;
const STA_HIDDEN = 0x0b;
const STA_DISABLED = 0x09;

/** The link (0-3 for LNKA-D, 4 for LNKS) that slot `slot` pin `pin` (0 = INTA) uses. */
export function pciLink(slot: number, pin: number): number {
  if (slot === PIIX_SLOT && pin === 0) return 4;
  return (slot + pin + 3) & 3;
}

function hostBridgeCrs(c: DsdtConfig): A.Aml {
  const descriptors = [
    A.wordBusNumber({ min: 0, max: 0xff }),
    A.io(0xcf8, 0xcf8, 1, 8),
    A.wordIo({ min: 0, max: 0xcf7 }),
    A.wordIo({ min: 0xd00, max: 0xffff }),
    A.dwordMemory({ min: 0xa0000, max: 0xbffff }), // legacy VGA window
    A.dwordMemory({ min: c.lowRamEnd, max: 0xfebfffff }, { cacheable: 0 }),
  ];
  if (c.pciHole64 && c.pciHole64.size > 0n) {
    descriptors.push(A.qwordMemory({ min: c.pciHole64.base, max: c.pciHole64.base + c.pciHole64.size - 1n }));
  }
  return A.name('_CRS', A.resourceTemplate(...descriptors));
}

function routingTable(): A.Aml {
  const entries: A.Aml[] = [];
  for (let slot = 0; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      const link = pciLink(slot, pin);
      entries.push(A.pkg((slot << 16) | 0xffff, pin, A.ref(`\\_SB.${link === 4 ? 'LNKS' : LINKS[link]}`), 0));
    }
  }
  return A.name('_PRT', A.pkg(...entries));
}

/**
 * The PIIX3 ISA bridge (00:01.0) with its PIRQ route registers and the ISA devices, in QEMU's
 * order (keyboard, mouse, [floppy,] COM1, RTC) so an OS numbers them alike (Linux: pnp 00:0n).
 */
function isaBridge(c: DsdtConfig): A.Aml {
  const children: A.Aml[] = [
    A.name('_ADR', PIIX_SLOT << 16),
    A.operationRegion('PIRQ', A.RegionSpace.PciConfig, 0x60, 4),
    A.field('PIRQ', { access: A.FieldAccess.Byte }, PIRQ_FIELDS.map((f) => ({ name: f, bits: 8 }))),
  ];
  if (c.keyboard) {
    children.push(
      A.device(
        'KBD',
        A.name('_HID', A.eisaId('PNP0303')),
        A.name('_STA', STA_ON),
        A.name('_CRS', A.resourceTemplate(A.io(0x60, 0x60, 1, 1), A.io(0x64, 0x64, 1, 1), A.irqNoFlags(1))),
      ),
      A.device('MOU', A.name('_HID', A.eisaId('PNP0F13')), A.name('_STA', STA_ON), A.name('_CRS', A.resourceTemplate(A.irqNoFlags(12)))),
    );
  }
  if (c.serial) {
    children.push(
      A.device(
        'COM1',
        A.name('_HID', A.eisaId('PNP0501')),
        A.name('_UID', 1),
        A.name('_STA', STA_ON),
        A.name('_CRS', A.resourceTemplate(A.io(0x3f8, 0x3f8, 0, 8), A.irqNoFlags(4))),
      ),
    );
  }
  children.push(
    A.device(
      'RTC',
      A.name('_HID', A.eisaId('PNP0B00')),
      A.name('_CRS', A.resourceTemplate(A.io(0x70, 0x70, 1, 8), A.irqNoFlags(8))),
    ),
  );
  return A.device('ISA', ...children);
}

/** One PIRQ link device reading and writing its PIIX3 route register. */
function pirqLink(i: number): A.Aml {
  const reg = `${ISA_PATH}.${PIRQ_FIELDS[i]}`;
  return A.device(
    LINKS[i],
    A.name('_HID', A.eisaId('PNP0C0F')),
    A.name('_UID', i),
    A.name('_PRS', A.resourceTemplate(A.interrupt({ edge: false, activeLow: false, shared: true }, ...PCI_LINK_IRQS))),
    // Bit 7 of the route register: routing disabled (present but not enabled).
    A.method('_STA', 0, {}, A.if_(A.and(reg, 0x80), A.ret(STA_DISABLED)), A.ret(STA_HIDDEN)),
    A.method('_DIS', 0, {}, A.or(reg, 0x80, reg)),
    A.method('_CRS', 0, {}, A.ret(A.call('\\_SB.LCRS', reg))),
    // The new IRQ is the first (only) interrupt of the Extended Interrupt descriptor: byte 5.
    A.method('_SRS', 1, {}, A.createDWordField(A.arg(0), 5, 'IRQW'), A.store('IRQW', reg)),
  );
}

const linkInterrupt = (irqs: number[]) => A.interrupt({ edge: false, activeLow: false, shared: true }, ...irqs);

/** \_SB.LCRS (route): the _CRS of a link from its route register value (IRQ 0 when disabled). */
function linkCrsMethod(): A.Aml {
  return A.method(
    'LCRS',
    1,
    { serialized: true },
    A.name('RES', A.resourceTemplate(linkInterrupt([0]))),
    A.createDWordField('RES', 5, 'IRQ'),
    A.if_(A.lnot(A.and(A.arg(0), 0x80)), A.and(A.arg(0), 0x0f, 'IRQ')),
    A.ret('RES'),
  );
}

function sciLink(): A.Aml {
  return A.device(
    'LNKS',
    A.name('_HID', A.eisaId('PNP0C0F')),
    A.name('_UID', 4),
    A.name('_STA', STA_HIDDEN),
    A.name('_PRS', A.resourceTemplate(linkInterrupt([SCI_IRQ]))),
    A.name('_CRS', A.resourceTemplate(linkInterrupt([SCI_IRQ]))),
    // The SCI cannot be moved or switched off: accept and ignore.
    A.method('_SRS', 1, {}),
    A.method('_DIS', 0, {}),
  );
}

function processors(cpus: number): A.Aml[] {
  const out: A.Aml[] = [];
  for (let i = 0; i < cpus; i++) {
    // Processor ID = the MADT's ACPI processor UID; no P_BLK (no throttling/C-state registers).
    out.push(A.processor(`C${i.toString(16).toUpperCase().padStart(3, '0')}`, i, 0, 0, A.method('_STA', 0, {}, A.ret(STA_ON))));
  }
  return out;
}

/** The DSDT's AML body (after the header). */
export function dsdtBody(c: DsdtConfig): A.Aml {
  const pci0: A.Aml[] = [
    A.name('_HID', A.eisaId('PNP0A03')),
    A.name('_ADR', 0),
    A.name('_UID', 0),
    A.name('_BBN', 0),
    hostBridgeCrs(c),
    routingTable(),
    isaBridge(c),
  ];
  if (c.fwCfg) {
    pci0.push(
      A.device(
        'FWCF',
        A.name('_HID', 'QEMU0002'),
        A.name('_STA', STA_HIDDEN),
        A.name('_CRS', A.resourceTemplate(A.io(0x510, 0x510, 1, 0x0c))),
      ),
    );
  }
  const sb: A.Aml[] = [A.device('PCI0', ...pci0)];
  if (c.hpet) {
    sb.push(
      A.device(
        'HPET',
        A.name('_HID', A.eisaId('PNP0103')),
        A.name('_UID', 0),
        A.name('_STA', STA_ON),
        A.name('_CRS', A.resourceTemplate(A.memory32Fixed(false, 0xfed00000, 0x400))),
      ),
    );
  }
  sb.push(linkCrsMethod(), ...LINKS.map((_, i) => pirqLink(i)), sciLink(), ...processors(c.cpus));
  if (c.powerButtonDevice) sb.push(A.device('PWRB', A.name('_HID', A.eisaId('PNP0C0C')), A.name('_UID', 0)));

  const root: A.Aml[] = [A.scope('\\_SB', ...sb)];
  if (c.s3) root.push(A.name('_S3', A.pkg(SLP_TYP_S3, SLP_TYP_S3, 0, 0)));
  if (c.s4) root.push(A.name('_S4', A.pkg(SLP_TYP_S4, SLP_TYP_S4, 0, 0)));
  root.push(A.name('_S5', A.pkg(SLP_TYP_S5, SLP_TYP_S5, 0, 0)));
  return A.concat(...root);
}

/** The whole DSDT, checksum included. */
export function buildDsdt(c: DsdtConfig): Uint8Array {
  return A.table({ ...c.header, signature: 'DSDT', revision: c.revision }, dsdtBody(c));
}
