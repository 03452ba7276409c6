// Finding and mapping the firmware image, the fw_cfg contents of the pc machine, the vapic
// option ROM stand-in, and the machine's firmware boot with a scripted CPU.

import { describe, expect, it } from 'vitest';
import type { RomImage } from '../cpu/types.ts';
import { FwCfg } from '../devices/fw-cfg.ts';
import {
  DEFAULT_BIOS,
  FirmwareError,
  e820Table,
  findFirmware,
  firmwareDirs,
  mapFirmware,
  populateFwCfg,
  vapicRom,
} from '../emulator/firmware.ts';

describe('firmware lookup', () => {
  it('uses Debian\'s seabios package first, then the image cache', () => {
    const dirs = firmwareDirs();
    expect(dirs[0]).toBe('/usr/share/seabios');
    expect(dirs.at(-1)).toMatch(/build\/images\/cache\/usr\/share\/seabios\/?$/);
    expect(findFirmware(undefined, (p) => p === '/b/bios-256k.bin', ['/a', '/b'])).toBe('/b/bios-256k.bin');
  });

  it('explains a missing default image in one line', () => {
    expect(() => findFirmware(undefined, () => false, ['/a'])).toThrow(FirmwareError);
    expect(() => findFirmware(undefined, () => false, ['/a'])).toThrow(
      `could not find firmware '${DEFAULT_BIOS}' (install Debian's seabios package)`,
    );
  });

  it('takes -bios as a path, or as a name in the firmware directories', () => {
    expect(findFirmware('/x/y.bin', () => false, ['/a'])).toBe('/x/y.bin');
    expect(findFirmware('rel/y.bin', () => false, ['/a'])).toBe('rel/y.bin');
    expect(findFirmware('bios.bin', (p) => p === '/a/bios.bin', ['/a'])).toBe('/a/bios.bin');
    expect(findFirmware('here.bin', (p) => p === 'here.bin', ['/a'])).toBe('here.bin');
    expect(findFirmware('nowhere.bin', () => false, ['/a'])).toBe('nowhere.bin');
  });
});

describe('firmware mapping', () => {
  function fakeCpu() {
    const log: string[] = [];
    let next = 1;
    return {
      log,
      loadRom: (data: Uint8Array): RomImage => {
        log.push(`load ${data.length.toString(16)}`);
        return { handle: next++, length: data.length };
      },
      mapRomImage: (a: number, img: RomImage, o: number, l: number) => log.push(`map${img.handle} ${a.toString(16)}+${l.toString(16)} @${o.toString(16)}`),
    };
  }

  it('maps a 256 KiB BIOS below 4 GiB, its last 128 KiB at 0xE0000, and pc.rom at 0xC0000', () => {
    const cpu = fakeCpu();
    const roms = mapFirmware(cpu, new Uint8Array(256 * 1024), 'bios-256k.bin');
    expect(cpu.log).toEqual(['load 40000', 'map1 fffc0000+40000 @0', 'load 20000']);
    expect(roms).toEqual([
      { base: 0xe0000, image: { handle: 1, length: 0x40000 }, offset: 0x20000, length: 0x20000 },
      { base: 0xc0000, image: { handle: 2, length: 0x20000 }, offset: 0, length: 0x20000 },
    ]);
  });

  it('maps a 64 KiB BIOS at 0xF0000 only', () => {
    const roms = mapFirmware(fakeCpu(), new Uint8Array(64 * 1024), 'small.bin');
    expect(roms[0]).toMatchObject({ base: 0xf0000, offset: 0, length: 0x10000 });
  });

  it('rejects images QEMU rejects', () => {
    expect(() => mapFirmware(fakeCpu(), new Uint8Array(0), 'x')).toThrow(/could not load PC BIOS 'x'/);
    expect(() => mapFirmware(fakeCpu(), new Uint8Array(100000), 'x')).toThrow(/multiple of 64 KiB/);
    expect(() => mapFirmware(fakeCpu(), new Uint8Array(16 * 1024 * 1024), 'x')).toThrow(/larger/);
  });
});

describe('fw_cfg contents', () => {
  it('e820: the AMD HyperTransport hole QEMU reserves, then all RAM', () => {
    const t = e820Table(64 << 20);
    const v = new DataView(t.buffer);
    expect(t.length).toBe(40);
    expect(v.getBigUint64(0, true)).toBe(0xfd00000000n);
    expect(v.getBigUint64(8, true)).toBe(0x300000000n);
    expect(v.getUint32(16, true)).toBe(2);
    expect(v.getBigUint64(20, true)).toBe(0n);
    expect(v.getBigUint64(28, true)).toBe(BigInt(64 << 20));
    expect(v.getUint32(36, true)).toBe(1);
  });

  it('has the files SeaBIOS reads', () => {
    const fw = new FwCfg(() => null);
    populateFwCfg(fw, { ramSize: 128 << 20, nographic: false });
    expect(fw.fileNames()).toEqual(['bios-geometry', 'bootorder', 'etc/boot-fail-wait', 'etc/e820', 'etc/system-states']);
    expect(Array.from(fw.file('etc/boot-fail-wait')!)).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('the vapic ROM stand-in is a valid one-block legacy option ROM', () => {
    const rom = vapicRom(() => {
      throw new Error('unreadable');
    }, () => false);
    expect(rom.length).toBe(512);
    expect([rom[0], rom[1], rom[2], rom[3]]).toEqual([0x55, 0xaa, 1, 0xcb]);
    expect(rom.reduce((a, b) => a + b, 0) & 0xff).toBe(0);
    // QEMU's own file wins when it can be read.
    expect(vapicRom(() => Uint8Array.of(1, 2), () => true)).toEqual(Uint8Array.of(1, 2));
  });
});
