// PCI configuration mechanism #1, generic function behaviour (masks, BARs, reset), the i440FX PAM
// and SMRAM mapping, and the PIIX3 (PIRQ routing, reset control). Reference values are what
// QEMU 7.2's pc machine shows at power-on (read with `-qtest`).

import { beforeEach, describe, expect, it } from 'vitest';
import type { RomImage } from '../cpu/types.ts';
import { IoBus } from '../devices/io-bus.ts';
import { I440fx, type LegacyRom, type ShadowTarget } from '../devices/pci/i440fx.ts';
import { PciBus, PciFunction } from '../devices/pci/pci.ts';
import { Piix3Ide, Piix3Isa } from '../devices/pci/piix3.ts';
import { Piix4Pm } from '../devices/pci/piix4-pm.ts';
import { Clock } from '../emulator/clock.ts';

const addr = (dev: number, fn: number, reg: number) => (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;

class Platform {
  bus = new IoBus();
  pci = new PciBus();
  i440fx = new I440fx(64 * 1024 * 1024);
  irqs: [number, boolean][] = [];
  resets = 0;
  piix3 = new Piix3Isa(
    (irq, level) => this.irqs.push([irq, level]),
    () => this.resets++,
    (p) => this.pci.pirqLevel(p),
  );
  ide = new Piix3Ide();
  pm = new Piix4Pm({ clock: new Clock({ frozen: true }), sci: () => {}, powerOff: () => {}, serial: true });

  constructor() {
    this.pci.attach(this.bus);
    this.pci.add(0, 0, this.i440fx);
    this.pci.add(1, 0, this.piix3);
    this.pci.add(1, 1, this.ide);
    this.pci.add(1, 3, this.pm);
    this.pci.router = this.piix3;
    this.piix3.attach(this.bus);
    this.pm.attach(this.bus);
  }

  read(dev: number, fn: number, reg: number, size = 4): number {
    this.bus.portWrite(0xcf8, 4, addr(dev, fn, reg));
    return this.bus.portRead(0xcfc + (reg & 3), size);
  }

  write(dev: number, fn: number, reg: number, value: number, size = 4): void {
    this.bus.portWrite(0xcf8, 4, addr(dev, fn, reg));
    this.bus.portWrite(0xcfc + (reg & 3), size, value);
  }
}

let p: Platform;
beforeEach(() => {
  p = new Platform();
});

describe('configuration mechanism #1', () => {
  it('reads identities like QEMU 7.2 at power-on', () => {
    expect(p.read(0, 0, 0x00).toString(16)).toBe('12378086');
    expect(p.read(0, 0, 0x08).toString(16)).toBe('6000002');
    expect(p.read(0, 0, 0x54).toString(16)).toBe('8000000'); // RAM size in 8 MiB units at 0x57
    expect(p.read(0, 0, 0x70).toString(16)).toBe('20000'); // SMRAM 0x02
    expect(p.read(1, 0, 0x00).toString(16)).toBe('70008086');
    expect(p.read(1, 0, 0x04).toString(16)).toBe('2000000');
    expect(p.read(1, 0, 0x0c).toString(16)).toBe('800000');
    expect(p.read(1, 0, 0x4c).toString(16)).toBe('3004d');
    expect(p.read(1, 0, 0x60).toString(16)).toBe('80808080');
    expect(p.read(1, 0, 0x68).toString(16)).toBe('200');
    expect(p.read(1, 0, 0x70).toString(16)).toBe('80');
    expect(p.read(1, 0, 0x74).toString(16)).toBe('c0c0000');
    expect(p.read(1, 0, 0x78)).toBe(2);
    expect(p.read(1, 0, 0xa0)).toBe(8);
    expect(p.read(1, 0, 0xa8)).toBe(0xf);
    expect(p.read(1, 1, 0x00).toString(16)).toBe('70108086');
    expect(p.read(1, 1, 0x04).toString(16)).toBe('2800000');
    expect(p.read(1, 1, 0x08).toString(16)).toBe('1018000');
    expect(p.read(1, 1, 0x20)).toBe(1);
    expect(p.read(1, 3, 0x00).toString(16)).toBe('71138086');
    expect(p.read(1, 3, 0x08).toString(16)).toBe('6800003');
    expect(p.read(1, 3, 0x3c).toString(16)).toBe('100');
    expect(p.read(1, 3, 0x40)).toBe(1);
    expect(p.read(1, 3, 0x58).toString(16)).toBe('2000000'); // APMC_EN preset: no SMM
    expect(p.read(1, 3, 0x5c).toString(16)).toBe('10000000');
    expect(p.read(1, 3, 0x60).toString(16)).toBe('60000000');
    expect(p.read(1, 3, 0x64).toString(16)).toBe('8000000');
    expect(p.read(1, 3, 0x90).toString(16)).toBe('b101');
    expect(p.read(1, 3, 0xd0).toString(16)).toBe('90000');
    for (const [d, f] of [[0, 0], [1, 0], [1, 1], [1, 3]]) expect(p.read(d, f, 0x2c).toString(16)).toBe('11001af4');
  });

  it('returns all ones without the enable bit, on other buses and for empty slots', () => {
    p.bus.portWrite(0xcf8, 4, 0x00000000);
    expect(p.bus.portRead(0xcfc, 4)).toBe(0xffffffff);
    expect(p.read(2, 0, 0)).toBe(0xffffffff);
    expect(p.read(1, 2, 0)).toBe(0xffffffff);
    p.bus.portWrite(0xcf8, 4, 0x80010000);
    expect(p.bus.portRead(0xcfc, 4)).toBe(0xffffffff);
    p.bus.portWrite(0xcfc, 4, 0); // no effect, no crash
  });

  it('keeps CONFIG_ADDRESS as written and only decodes dword accesses to it', () => {
    p.bus.portWrite(0xcf8, 4, 0x80000a0c);
    expect(p.bus.portRead(0xcf8, 4)).toBe(0x80000a0c);
    p.bus.portWrite(0xcf8, 1, 0x12);
    p.bus.portWrite(0xcf8, 2, 0x1234);
    expect(p.bus.portRead(0xcf8, 4)).toBe(0x80000a0c);
    expect(p.bus.portRead(0xcf8, 1)).toBe(0xff);
    expect(p.bus.portRead(0xcfa, 2)).toBe(0xffff);
  });

  it('byte and word accesses select bytes of the dword', () => {
    p.bus.portWrite(0xcf8, 4, addr(0, 0, 0));
    expect([0xcfc, 0xcfd, 0xcfe, 0xcff].map((q) => p.bus.portRead(q, 1))).toEqual([0x86, 0x80, 0x37, 0x12]);
    expect(p.bus.portRead(0xcfe, 2)).toBe(0x1237);
    // A word at 0xCFF: one byte of config, one from port 0xD00 (unclaimed).
    expect(p.bus.portRead(0xcff, 2)).toBe(0xff12);
    p.write(0, 0, 0x0d, 0x40, 1); // latency timer: read-only in QEMU
    expect(p.read(0, 0, 0x0c)).toBe(0);
    p.write(0, 0, 0x0c, 0x10, 1);
    expect(p.read(0, 0, 0x0c)).toBe(0x10);
  });

  it('applies QEMU write masks: command bits, cache line, interrupt line, 0x40-0xff; IDs read-only', () => {
    for (const [d, f] of [[0, 0], [1, 0], [1, 1], [1, 3]]) {
      const id = p.read(d, f, 0);
      p.write(d, f, 0, 0xffffffff);
      expect(p.read(d, f, 0)).toBe(id);
      p.write(d, f, 0x04, 0xffff);
      expect(p.read(d, f, 0x04) & 0xffff).toBe(0x0507);
      p.write(d, f, 0x3c, 0xffffffff);
      expect(p.read(d, f, 0x3c) & 0xff).toBe(0xff);
      p.write(d, f, 0x08, 0xffffffff);
      expect(p.read(d, f, 0x08)).not.toBe(0xffffffff);
      p.write(d, f, 0xf0, 0x12345678);
      expect(p.read(d, f, 0xf0)).toBe(0x12345678);
    }
  });

  it('sizes and maps an I/O BAR, following the command register', () => {
    expect(p.read(1, 1, 0x20)).toBe(1);
    p.write(1, 1, 0x20, 0xffffffff);
    expect(p.read(1, 1, 0x20)).toBe(0xfffffff1); // 16 bytes of I/O
    expect(p.ide.barAddress(4)).toBeNull();
    p.write(1, 1, 0x20, 0xc001);
    expect(p.ide.barAddress(4)).toBeNull(); // I/O decode still off
    p.write(1, 1, 0x04, 0x0001, 2);
    expect(p.ide.barAddress(4)).toBe(0xc000);
    p.write(1, 1, 0x20, 0xffffffff); // sizing while enabled: past the 64 KiB I/O space, unmapped
    expect(p.ide.barAddress(4)).toBeNull();
    p.write(1, 1, 0x20, 0xc041); // low bits below the size are ignored
    expect(p.read(1, 1, 0x20)).toBe(0xc041 & ~0xe);
    expect(p.ide.barAddress(4)).toBe(0xc040);
  });

  it('maps BAR handlers on the I/O bus, unmaps and moves them, lets fixed ports win', () => {
    const seen: number[] = [];
    const f = new PciFunction('test', { vendorId: 0x1234, deviceId: 0x5678, revision: 1, classCode: 0xff0000 }, [
      { kind: 'io', size: 8, io: { maxSize: 4, read: (o) => 0xa0 + o, write: (o, _s, v) => seen.push(o, v) } },
      { kind: 'mem32', size: 0x1000, mmio: { read: (o) => o, write: () => {} } },
    ]);
    p.pci.add(3, 0, f);
    p.write(3, 0, 0x10, 0x1000);
    p.write(3, 0, 0x14, 0xfe000000);
    expect(p.bus.portRead(0x1003, 1)).toBe(0xff);
    expect(p.bus.mmioRead(0xfe000010, 4)).toBe(0xffffffff);
    p.write(3, 0, 0x04, 0x0003, 2);
    expect(p.bus.portRead(0x1003, 1)).toBe(0xa3);
    p.bus.portWrite(0x1002, 2, 0xbeef);
    expect(seen).toEqual([2, 0xbeef]);
    expect(p.bus.mmioRead(0xfe000010, 4)).toBe(0x10);
    p.write(3, 0, 0x10, 0x2000);
    expect(p.bus.portRead(0x1003, 1)).toBe(0xff);
    expect(p.bus.portRead(0x2001, 1)).toBe(0xa1);
    p.write(3, 0, 0x04, 0, 2);
    expect(p.bus.portRead(0x2001, 1)).toBe(0xff);
    expect(p.bus.mmioRead(0xfe000010, 4)).toBe(0xffffffff);
    // A guest may put a BAR over fixed ports (here the PCI ports themselves): nothing breaks.
    p.write(3, 0, 0x10, 0xcf8);
    p.write(3, 0, 0x04, 1, 2);
    expect(p.read(0, 0, 0)).toBe(0x12378086);
    p.pci.reset();
    expect(p.bus.portRead(0xcf8, 4)).toBe(0); // CONFIG_ADDRESS cleared by the reset
    expect(p.read(3, 0, 0x10)).toBe(1);
    expect(p.read(3, 0, 0x00)).toBe(0x56781234);
  });

  it('clears write-1-to-clear status bits only', () => {
    p.ide.set16(0x06, 0x0280 | 0x2000);
    p.write(1, 1, 0x06, 0x2000 | 0x0080, 2);
    expect(p.read(1, 1, 0x06, 2)).toBe(0x0280);
  });

  it('survives arbitrary configuration traffic', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 20000; i++) {
      const r = rnd();
      p.bus.portWrite(0xcf8, 4, (0x80000000 | (r & 0x00ffffff)) >>> 0);
      const port = 0xcfc + (rnd() & 3);
      const size = [1, 2, 4][rnd() % 3];
      if (rnd() & 1) p.bus.portWrite(port, size, rnd());
      else expect(p.bus.portRead(port, size)).toBeLessThanOrEqual(0xffffffff);
    }
  });
});

describe('PIIX3', () => {
  it('routes PIRQ lines to ISA IRQs and follows route changes', () => {
    const f = new PciFunction('dev', { vendorId: 1, deviceId: 2, revision: 0, classCode: 0, interruptPin: 1 });
    p.pci.add(3, 0, f); // slot 3 INTA -> PIRQ (3 + 0 - 1) & 3 = C
    f.setIntx(true);
    expect(p.irqs).toEqual([]); // not routed at reset
    p.write(1, 0, 0x60, 0x0b0b0a0a);
    expect(p.irqs).toEqual([[11, true]]);
    expect(p.read(3, 0, 0x04, 4) >>> 16).toBe(0x0008); // interrupt status
    p.write(1, 0, 0x62, 0x05, 1);
    expect(p.irqs.slice(1)).toEqual([[11, false], [5, true]]);
    f.setIntx(false);
    expect(p.irqs.at(-1)).toEqual([5, false]);
    p.write(3, 0, 0x04, 0x0400, 2); // INTx disable
    f.setIntx(true);
    expect(p.irqs.at(-1)).toEqual([5, false]);
  });

  it('keeps a shared IRQ high while any routed PIRQ drives it', () => {
    const a = new PciFunction('a', { vendorId: 1, deviceId: 2, revision: 0, classCode: 0, interruptPin: 1 });
    const b = new PciFunction('b', { vendorId: 1, deviceId: 3, revision: 0, classCode: 0, interruptPin: 1 });
    p.pci.add(2, 0, a); // PIRQB
    p.pci.add(3, 0, b); // PIRQC
    p.write(1, 0, 0x60, 0x0a0a0a0a);
    a.setIntx(true);
    b.setIntx(true);
    a.setIntx(false);
    expect(p.irqs).toEqual([[10, true], [10, true]]);
    b.setIntx(false);
    expect(p.irqs.at(-1)).toEqual([10, false]);
  });

  it('resets the machine through the reset control register at 0xCF9', () => {
    p.bus.portWrite(0xcf9, 1, 0x02);
    expect(p.bus.portRead(0xcf9, 1)).toBe(0x02);
    expect(p.resets).toBe(0);
    p.bus.portWrite(0xcf9, 1, 0x06);
    expect(p.resets).toBe(1);
    expect(p.bus.portRead(0xcf9, 1)).toBe(0);
    // A dword at 0xCF8 is still CONFIG_ADDRESS.
    p.bus.portWrite(0xcf8, 4, 0x80000000);
    expect(p.resets).toBe(1);
  });
});

class FakeMemory implements ShadowTarget {
  log: string[] = [];
  mapRam(a: number, l: number, w: boolean) {
    this.log.push(`ram ${a.toString(16)}+${l.toString(16)} ${w ? 'rw' : 'ro'}`);
  }
  mapRomImage(a: number, img: RomImage, o: number, l: number) {
    this.log.push(`rom${img.handle} ${a.toString(16)}+${l.toString(16)} @${o.toString(16)}`);
  }
  mapMmio(a: number, l: number) {
    this.log.push(`mmio ${a.toString(16)}+${l.toString(16)}`);
  }
}

describe('i440FX PAM and SMRAM', () => {
  const bios: RomImage = { handle: 1, length: 0x40000 };
  const pcRom: RomImage = { handle: 2, length: 0x20000 };
  const roms: LegacyRom[] = [
    { base: 0xe0000, image: bios, offset: 0x20000, length: 0x20000 },
    { base: 0xc0000, image: pcRom, offset: 0, length: 0x20000 },
  ];

  it('maps the BIOS area per PAM at power-on: ROM alias and pc.rom, RAM in the SMRAM window', () => {
    const m = new FakeMemory();
    p.i440fx.connect(m, roms);
    expect(m.log).toContain('rom1 f0000+1000 @30000');
    expect(m.log).toContain('rom1 ff000+1000 @3f000');
    expect(m.log).toContain('rom1 e0000+1000 @20000');
    expect(m.log).toContain('rom2 c0000+1000 @0');
    expect(m.log).toContain('rom2 dc000+1000 @1c000');
    expect(m.log).toContain('ram a0000+20000 rw');
    expect(m.log.filter((l) => l.startsWith('rom')).length).toBe(64);
  });

  it('follows PAM writes segment by segment, as SeaBIOS does them', () => {
    const m = new FakeMemory();
    p.i440fx.connect(m, roms);
    m.log = [];
    // SeaBIOS: 0x59-0x5f via two dword writes at 0x58/0x5c.
    p.write(0, 0, 0x58, 0x33333000);
    p.write(0, 0, 0x5c, 0x33333333);
    expect(m.log).toContain('ram f0000+10000 rw');
    expect(m.log).toContain('ram c0000+4000 rw');
    expect(m.log).toContain('ram ec000+4000 rw');
    expect(m.log.length).toBe(13);
    m.log = [];
    p.write(0, 0, 0x59, 0x10, 1);
    p.write(0, 0, 0x5a, 0x31, 1);
    expect(m.log).toEqual(['ram f0000+10000 ro', 'ram c0000+4000 ro']);
    m.log = [];
    p.write(0, 0, 0x5b, 0x32, 1); // write-only is read/write RAM, as in QEMU
    expect(m.log).toEqual(['ram c8000+4000 rw']);
    m.log = [];
    p.write(0, 0, 0x59, 0x00, 1);
    expect(m.log.length).toBe(16);
    expect(p.i440fx.attributeAt(0xf1234)).toBe(0);
    expect(p.i440fx.attributeAt(0xcc000)).toBe(3);
  });

  it('goes back to ROM on reset, and sets the SeaBIOS state for direct kernel boot', () => {
    const m = new FakeMemory();
    p.i440fx.connect(m, roms);
    p.i440fx.setBiosState();
    expect(p.read(0, 0, 0x58).toString(16)).toBe('11111000');
    expect(p.read(0, 0, 0x5c).toString(16)).toBe('33111111');
    expect(p.read(0, 0, 0x72, 1)).toBe(0x0a);
    m.log = [];
    p.pci.reset();
    expect(p.read(0, 0, 0x58)).toBe(0);
    expect(m.log.length).toBe(64);
  });
});
