// The ACPI tables and the BIOS linker/loader files: layout and loader commands as QEMU 7.2's pc
// machine sends them (compared with a dump of its fw_cfg files), checksums once the commands ran,
// field-by-field contents, `iasl -d` disassembling every table cleanly, and the DSDT's link
// methods run by ACPICA's acpiexec.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SLP_TYP_S5, pciLink } from '../devices/acpi/dsdt.ts';
import {
  ACPI_RSDP_FILE,
  ACPI_TABLES_FILE,
  type AcpiBuild,
  type AcpiOptions,
  TABLE_LOADER_FILE,
  acpiFwCfgFiles,
  buildAcpi,
  decodeLoaderCommands,
  installAcpiTables,
} from '../devices/acpi/loader.ts';
import { Hpet } from '../devices/hpet.ts';
import { Clock } from '../emulator/clock.ts';
import { disassemble, hex } from './acpi/iasl.ts';

const MB = 1 << 20;
const RAM = 64 * MB;

function sum(bytes: Uint8Array): number {
  let s = 0;
  for (const b of bytes) s += b;
  return s & 0xff;
}

interface Installed {
  ram: Uint8Array;
  dv: DataView;
  rsdp: number;
  tables: number;
  /** Address of each table by signature (found through the RSDT/XSDT and FADT). */
  at: Map<string, number>;
}

/** Run the loader into a 64 MiB RAM image the way SeaBIOS places things (tables at the top). */
function install(options: Partial<AcpiOptions> = {}): { build: AcpiBuild; m: Installed } {
  const build = buildAcpi({ lowRamEnd: RAM, ...options });
  const ram = new Uint8Array(RAM);
  const r = installAcpiTables(build, (a, b) => ram.set(b, a), { tablesAddress: RAM - build.tables.length });
  const dv = new DataView(ram.buffer);
  const at = new Map<string, number>();
  const sig = (a: number) => String.fromCharCode(...ram.subarray(a, a + 4));
  const rsdt = dv.getUint32(r.rsdp + 16, true);
  at.set('RSDT', rsdt);
  for (let i = 0; i < (dv.getUint32(rsdt + 4, true) - 36) / 4; i++) {
    const t = dv.getUint32(rsdt + 36 + 4 * i, true);
    at.set(sig(t), t);
  }
  if (ram[r.rsdp + 15] >= 2) at.set('XSDT', Number(dv.getBigUint64(r.rsdp + 24, true)));
  const fadt = at.get('FACP')!;
  at.set('FACS', dv.getUint32(fadt + 36, true));
  at.set('DSDT', dv.getUint32(fadt + 40, true));
  return { build, m: { ram, dv, rsdp: r.rsdp, tables: r.tables, at } };
}

function table(m: Installed, signature: string): Uint8Array {
  const a = m.at.get(signature);
  if (a === undefined) throw new Error(`no ${signature}`);
  return m.ram.subarray(a, a + m.dv.getUint32(a + 4, true));
}

describe('fw_cfg files in QEMU pc layout', () => {
  const build = buildAcpi({ lowRamEnd: RAM });

  it('has the three files with QEMU sizes', () => {
    expect(acpiFwCfgFiles(build).map((f) => [f.name, f.data.length])).toEqual([
      [ACPI_TABLES_FILE, 0x20000],
      [ACPI_RSDP_FILE, 20],
      [TABLE_LOADER_FILE, 0x1000],
    ]);
    expect(build.entries.map((e) => e.signature)).toEqual(['FACS', 'DSDT', 'FACP', 'APIC', 'HPET', 'WAET', 'RSDT']);
    expect(build.entries[0]).toEqual({ signature: 'FACS', offset: 0, length: 64 });
    expect(build.entries[1].offset).toBe(0x40);
  });

  it('sends the command sequence QEMU 7.2 sends', () => {
    const cmds = decodeLoaderCommands(build.loader);
    expect(cmds).toEqual(build.commands);
    const off = (s: string) => build.entries.find((e) => e.signature === s)!;
    const fadt = off('FACP').offset;
    const rsdt = off('RSDT').offset;
    const shape = cmds.map((c) =>
      c.command === 'allocate'
        ? `alloc ${c.file} ${c.align} ${c.zone}`
        : c.command === 'add-pointer'
          ? `ptr ${c.destFile}+${c.offset.toString(16)} <- ${c.srcFile} (${c.size})`
          : `sum ${c.file}@${c.offset.toString(16)} ${c.start.toString(16)}+${c.length.toString(16)}`,
    );
    const t = (s: string) => `sum etc/acpi/tables@${(off(s).offset + 9).toString(16)} ${off(s).offset.toString(16)}+${off(s).length.toString(16)}`;
    const p = (at: number) => `ptr etc/acpi/tables+${at.toString(16)} <- etc/acpi/tables (4)`;
    expect(shape).toEqual([
      'alloc etc/acpi/rsdp 16 2',
      'alloc etc/acpi/tables 64 1',
      t('DSDT'),
      p(fadt + 36),
      p(fadt + 40),
      t('FACP'),
      t('APIC'),
      t('HPET'),
      t('WAET'),
      p(rsdt + 36),
      p(rsdt + 40),
      p(rsdt + 44),
      p(rsdt + 48),
      t('RSDT'),
      'ptr etc/acpi/rsdp+10 <- etc/acpi/tables (4)',
      'sum etc/acpi/rsdp@8 0+14',
    ]);
  });

  it('writes 128-byte entries with the documented layout', () => {
    const l = build.loader;
    const dv = new DataView(l.buffer);
    expect(dv.getUint32(0, true)).toBe(1);
    expect(String.fromCharCode(...l.subarray(4, 17))).toBe('etc/acpi/rsdp');
    expect(dv.getUint32(60, true)).toBe(16);
    expect(l[64]).toBe(2);
    const e = 3 * 128; // first ADD_POINTER
    expect(dv.getUint32(e, true)).toBe(2);
    expect(String.fromCharCode(...l.subarray(e + 60, e + 75))).toBe('etc/acpi/tables');
    expect(l[e + 120]).toBe(4);
    expect(l.subarray(16 * 128).every((b) => b === 0)).toBe(true);
  });
});

describe('tables after the loader ran', () => {
  for (const flavor of ['qemu-pc', 'acpi2'] as const) {
    it(`${flavor}: every checksum is right and every pointer lands on its table`, () => {
      const { build, m } = install({ flavor });
      expect(m.rsdp).toBeGreaterThanOrEqual(0xe0000);
      expect(m.rsdp % 16).toBe(0);
      expect(sum(m.ram.subarray(m.rsdp, m.rsdp + 20))).toBe(0);
      expect(String.fromCharCode(...m.ram.subarray(m.rsdp, m.rsdp + 8))).toBe('RSD PTR ');
      const expected = flavor === 'acpi2' ? ['FACP', 'APIC', 'HPET', 'WAET', 'RSDT', 'XSDT', 'FACS', 'DSDT'] : ['FACP', 'APIC', 'HPET', 'WAET', 'RSDT', 'FACS', 'DSDT'];
      expect([...m.at.keys()].sort()).toEqual(expected.sort());
      for (const [sig, a] of m.at) {
        expect(String.fromCharCode(...m.ram.subarray(a, a + 4))).toBe(sig);
        if (sig !== 'FACS') expect(sum(table(m, sig)), sig).toBe(0);
        const e = build.entries.find((x) => x.signature === sig)!;
        expect(a).toBe(m.tables + e.offset);
      }
      expect(m.at.get('FACS')! % 64).toBe(0);
      if (flavor === 'acpi2') {
        expect(m.ram[m.rsdp + 15]).toBe(2);
        expect(m.dv.getUint32(m.rsdp + 20, true)).toBe(36);
        expect(sum(m.ram.subarray(m.rsdp, m.rsdp + 36))).toBe(0);
        const xsdt = table(m, 'XSDT');
        const xdv = new DataView(xsdt.buffer, xsdt.byteOffset);
        const viaXsdt = [0, 1, 2, 3].map((i) => Number(xdv.getBigUint64(36 + 8 * i, true)));
        expect(viaXsdt).toEqual(['FACP', 'APIC', 'HPET', 'WAET'].map((s) => m.at.get(s)));
        const fadt = m.at.get('FACP')!;
        expect(Number(m.dv.getBigUint64(fadt + 132, true))).toBe(m.at.get('FACS'));
        expect(Number(m.dv.getBigUint64(fadt + 140, true))).toBe(m.at.get('DSDT'));
      } else {
        expect(m.ram[m.rsdp + 15]).toBe(0);
        expect(build.rsdp.length).toBe(20);
      }
    });

    it(`${flavor}: iasl disassembles every table without errors`, () => {
      const { m } = install({ flavor });
      for (const sig of m.at.keys()) {
        const t = sig === 'FACS' ? m.ram.subarray(m.at.get(sig)!, m.at.get(sig)! + 64) : table(m, sig);
        const d = disassemble(t);
        expect(d.ok, `${sig}: ${d.log}`).toBe(true);
        expect(d.dsl, sig).not.toMatch(/Incorrect checksum|Error|Warning|\*\*\*\* Unknown/);
        expect(d.log, sig).not.toMatch(/Error|Warning/);
      }
    });
  }

  it('FADT, MADT, HPET and WAET bodies are byte for byte those of QEMU pc (pointers as offsets)', () => {
    const build = buildAcpi({ lowRamEnd: RAM });
    const body = (s: string) => {
      const e = build.entries.find((x) => x.signature === s)!;
      return hex(build.tables.subarray(e.offset + 36, e.offset + e.length));
    };
    // Dumped from qemu-system-x86_64 7.2 -M pc -m 64 -smp 1 (etc/acpi/tables).
    expect(body('FACP')).toBe(
      '00 00 00 00 40 00 00 00 01 00 09 00 b2 00 00 00 f1 f0 00 00 00 06 00 00 00 00 00 00 04 06 00 00 00 00 00 00 00 00 ' +
        '00 00 08 06 00 00 e0 af 00 00 00 00 00 00 04 02 00 04 04 00 00 00 ff 0f ff 0f 00 00 00 00 00 00 00 00 32 00 00 00 ' +
        'a5 80 00 00',
    );
    expect(body('APIC')).toBe(
      '00 00 e0 fe 01 00 00 00 00 08 00 00 01 00 00 00 01 0c 00 00 00 00 c0 fe 00 00 00 00 02 0a 00 00 02 00 00 00 00 00 ' +
        '02 0a 00 05 05 00 00 00 0d 00 02 0a 00 09 09 00 00 00 0d 00 02 0a 00 0a 0a 00 00 00 0d 00 02 0a 00 0b 0b 00 00 00 ' +
        '0d 00 04 06 ff 00 00 01',
    );
    expect(body('HPET')).toBe('01 a2 86 80 00 00 00 00 00 00 d0 fe 00 00 00 00 00 00 00 00');
    expect(body('WAET')).toBe('02 00 00 00');
    const h = (s: string) => build.tables.subarray(build.entries.find((x) => x.signature === s)!.offset);
    expect([...h('FACP').subarray(0, 4), h('FACP')[8]]).toEqual([0x46, 0x41, 0x43, 0x50, 1]);
    expect(String.fromCharCode(...h('APIC').subarray(10, 36))).toBe('TSEMU TSEMU-PC\x01\x00\x00\x00TSEM\x01\x00\x00\x00');
  });

  it('MADT lists one local APIC per CPU', () => {
    const { m } = install({ cpus: 4 });
    const t = table(m, 'APIC');
    const lapics: number[][] = [];
    for (let o = 44; o < t.length; o += t[o + 1]) if (t[o] === 0) lapics.push([t[o + 2], t[o + 3], t[o + 4]]);
    expect(lapics).toEqual([
      [0, 0, 1],
      [1, 1, 1],
      [2, 2, 1],
      [3, 3, 1],
    ]);
    const d = disassemble(t);
    expect(d.ok, d.log).toBe(true);
  });

  it('the HPET table ID is what the HPET device reports', () => {
    const { m } = install();
    const t = table(m, 'HPET');
    const hpet = new Hpet({ clock: new Clock({ frozen: true }), setIrq: () => {} });
    expect(new DataView(t.buffer, t.byteOffset).getUint32(36, true)).toBe(Number(hpet.capabilities & 0xffffffffn));
  });

  it('acpi2 FADT: revision 3 with the reset register and X_ blocks', () => {
    const { m } = install({ flavor: 'acpi2' });
    const t = table(m, 'FACP');
    const dv = new DataView(t.buffer, t.byteOffset);
    expect(t.length).toBe(244);
    expect(t[8]).toBe(3);
    expect(hex(t.subarray(116, 129))).toBe('01 08 00 01 f9 0c 00 00 00 00 00 00 06');
    expect(dv.getUint32(112, true) & (1 << 10)).toBe(1 << 10);
    expect(Number(dv.getBigUint64(148 + 4, true))).toBe(0x600);
    expect(t[148 + 1]).toBe(32);
    expect(Number(dv.getBigUint64(172 + 4, true))).toBe(0x604);
    expect(t[172 + 1]).toBe(16);
    expect(Number(dv.getBigUint64(208 + 4, true))).toBe(0x608);
    expect(Number(dv.getBigUint64(220 + 4, true))).toBe(0xafe0);
  });

  it('the RSDP is found by a Linux-style scan of the BIOS area', () => {
    const { m } = install();
    let found = -1;
    for (let a = 0xe0000; a < 0x100000 && found < 0; a += 16) {
      if (String.fromCharCode(...m.ram.subarray(a, a + 8)) === 'RSD PTR ' && sum(m.ram.subarray(a, a + 20)) === 0) found = a;
    }
    expect(found).toBe(m.rsdp);
  });

  it('rejects an RSDP outside the BIOS area', () => {
    const build = buildAcpi({ lowRamEnd: RAM });
    expect(() => installAcpiTables(build, () => {}, { tablesAddress: 0x100000, rsdpAddress: 0x9fc00 })).toThrow();
  });
});

describe('DSDT', () => {
  const { m } = install();
  const dsdt = table(m, 'DSDT');
  const dsl = disassemble(dsdt).dsl;

  it('describes the PCI root, ISA devices, HPET, links, processors and S5', () => {
    for (const s of [
      'Device (PCI0)',
      'EisaId ("PNP0A03")',
      'Name (_BBN, Zero)',
      'Device (ISA)',
      'OperationRegion (PIRQ, PCI_Config, 0x60, 0x04)',
      'EisaId ("PNP0B00")',
      'EisaId ("PNP0303")',
      'EisaId ("PNP0F13")',
      'EisaId ("PNP0501")',
      'EisaId ("PNP0103")',
      'Device (LNKA)',
      'Device (LNKD)',
      'Device (LNKS)',
      'Processor (C000, 0x00, 0x00000000, 0x00)',
      'Name (_S5, Package (0x04)',
      'Name (_HID, "QEMU0002")',
    ]) {
      expect(dsl, s).toContain(s);
    }
    expect(dsl).not.toContain('_S3');
    expect(dsl).toContain('Name (_S4');
    expect(dsl).not.toContain('PNP0C0C');
    expect(SLP_TYP_S5).toBe(0);
  });

  it('has the PCI windows of the machine', () => {
    expect(dsl).toMatch(/0x04000000,\s+\/\/ Range Minimum\s+0xFEBFFFFF,/);
    expect(dsl).toMatch(/0x0000000100000000, \/\/ Range Minimum\s+0x000000017FFFFFFF,/);
    const big = disassemble(table(install({ lowRamEnd: 0xc0000000, highRamEnd: 0x1_4000_0000n }).m, 'DSDT')).dsl;
    expect(big).toMatch(/0xC0000000,\s+\/\/ Range Minimum\s+0xFEBFFFFF,/);
    expect(big).toMatch(/0x0000000140000000, \/\/ Range Minimum\s+0x00000001BFFFFFFF,/); // 4 GiB + 1 GiB of RAM, rounded to 1 GiB
  });

  it('options: no serial, no keyboard, no HPET, power button device, S3', () => {
    const { m: m2 } = install({ serial: false, keyboard: false, hpet: false, powerButtonDevice: true, s3: true, cpus: 2 });
    expect(m2.at.has('HPET')).toBe(false);
    const d = disassemble(table(m2, 'DSDT'));
    expect(d.ok, d.log).toBe(true);
    expect(d.dsl).not.toContain('PNP0501');
    expect(d.dsl).not.toContain('PNP0303');
    expect(d.dsl).not.toContain('PNP0103');
    expect(d.dsl).toContain('PNP0C0C');
    expect(d.dsl).toContain('Name (_S3, Package (0x04)');
    expect(d.dsl).toContain('Processor (C001, 0x01');
    const fadt = table(m2, 'FACP');
    expect(new DataView(fadt.buffer, fadt.byteOffset).getUint32(112, true) & 0x10).toBe(0x10);
  });

  it('routes slot pins to links as the PIIX3 wires them', () => {
    expect([0, 1, 2, 3].map((p) => pciLink(0, p))).toEqual([3, 0, 1, 2]);
    expect([0, 1, 2, 3].map((p) => pciLink(1, p))).toEqual([4, 1, 2, 3]); // 00:01.3 INTA is the SCI
    expect([0, 1, 2, 3].map((p) => pciLink(2, p))).toEqual([1, 2, 3, 0]);
    expect([0, 1, 2, 3].map((p) => pciLink(3, p))).toEqual([2, 3, 0, 1]);
    const entries = dsl.match(/0x[0-9A-F]*FFFF, \n\s+(Zero|One|0x0[23]), \n\s+\\_SB\.LNK[A-DS]/g) ?? [];
    expect(entries.length).toBe(128);
  });

  it('recompiles with iasl to the same AML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-dsdt-'));
    try {
      writeFileSync(join(dir, 'd.dsl'), dsl);
      const r = spawnSync('iasl', ['-vs', '-vr', '-on', '-p', join(dir, 'd'), join(dir, 'd.dsl')], { encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      const again = new Uint8Array(readFileSync(join(dir, 'd.aml')));
      expect(hex(again.subarray(36))).toBe(hex(dsdt.subarray(36)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('link methods work in ACPICA (acpiexec): _STA, _CRS, _SRS, _DIS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-acpiexec-'));
    try {
      const file = join(dir, 'dsdt.dat');
      writeFileSync(file, dsdt);
      const script = [
        'evaluate \\_SB.LNKB._SRS (89 06 00 09 01 0A 00 00 00 79 00)',
        'evaluate \\_SB.PCI0.ISA.PRQB',
        'evaluate \\_SB.LNKB._STA',
        'evaluate \\_SB.LNKB._CRS',
        'evaluate \\_SB.LNKB._DIS',
        'evaluate \\_SB.PCI0.ISA.PRQB',
        'evaluate \\_SB.LNKB._STA',
        'evaluate \\_SB.LNKB._CRS',
        'evaluate \\_SB.LNKS._CRS',
        'evaluate \\_SB.C000._STA',
      ].join('; ');
      const r = spawnSync('acpiexec', ['-b', script, file], { encoding: 'utf8' });
      const out = `${r.stdout}${r.stderr}`;
      expect(out).not.toMatch(/ACPI Error|Firmware Error|failed with status/);
      const results = [...out.matchAll(/\[Integer\] = ([0-9A-F]+)|\[Buffer\] Length [0-9A-F]+ =\s+0000: ([0-9A-F ]+?)\s+\/\//g)].map(
        (x) => (x[1] !== undefined ? Number.parseInt(x[1], 16) : x[2].trim()),
      );
      expect(results).toEqual([
        0x0a, // route register = IRQ 10
        0x0b, // enabled
        '89 06 00 09 01 0A 00 00 00 79 00',
        0x8a, // disabled: bit 7
        0x09,
        '89 06 00 09 01 00 00 00 00 79 00',
        '89 06 00 09 01 09 00 00 00 79 00',
        0x0f,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
