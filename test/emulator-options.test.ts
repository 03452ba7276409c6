import { describe, expect, it } from 'vitest';
import { DEFAULT_RAM, OptionError, parseArgs, type MachineConfig } from '../emulator/options.ts';

function config(...argv: string[]): MachineConfig {
  const r = parseArgs(argv);
  if (r.action !== 'run') throw new Error(`expected a run, got ${r.action}`);
  return r.config;
}

function error(...argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error(`parseArgs(${argv.join(' ')}) did not fail`);
}

const K = ['-kernel', 'k.elf'];

describe('command-line options', () => {
  it('has QEMU defaults', () => {
    const c = config(...K);
    expect(c).toEqual({
      ramSize: DEFAULT_RAM,
      kernel: 'k.elf',
      append: '',
      initrd: [],
      serial: 'serial0',
      chardevs: c.chardevs,
      nographic: false,
      startPaused: false,
      noReboot: false,
      noShutdown: false,
      debugExit: null,
      icountShift: null,
    });
    // Without a display QEMU puts COM1, LPT1 and the monitor on (here output-discarding) consoles.
    expect(c.chardevs.chardevs.map((s) => [s.id, s.backend.driver, s.mux])).toEqual([
      ['compat_monitor0', 'vc', false],
      ['serial0', 'vc', false],
      ['parallel0', 'vc', false],
    ]);
    expect(c.chardevs.monitors.map((m) => m.chardev)).toEqual(['compat_monitor0']);
  });

  it('parses -m sizes like QEMU (plain numbers are MiB)', () => {
    expect(config(...K, '-m', '64').ramSize).toBe(64 * 2 ** 20);
    expect(config(...K, '-m', '64M').ramSize).toBe(64 * 2 ** 20);
    expect(config(...K, '-m', '1G').ramSize).toBe(2 ** 30);
    expect(config(...K, '-m', '1.5g').ramSize).toBe(1.5 * 2 ** 30);
    expect(config(...K, '-m', '65536k').ramSize).toBe(64 * 2 ** 20);
    expect(config(...K, '-m', 'size=32M').ramSize).toBe(32 * 2 ** 20);
    expect(config(...K, '-m', '0').ramSize).toBe(DEFAULT_RAM);
    expect(error(...K, '-m', '1x')).toMatch(/-m 1x: not a size/);
    expect(error(...K, '-m', '1M')).toMatch(/at least 2 MiB/);
    expect(error(...K, '-m', '8G')).toMatch(/at most 3 GiB/);
    expect(error(...K, '-m', '64M,slots=2')).toMatch(/'slots' is not supported/);
  });

  it('takes kernel, append and initrd with comma escaping', () => {
    const c = config('-kernel', 'a.elf', '-append', 'console=ttyS0 quiet', '-initrd', 'm1.bin arg1,m2.bin,m,,3 x');
    expect(c.append).toBe('console=ttyS0 quiet');
    expect(c.initrd).toEqual(['m1.bin arg1', 'm2.bin', 'm,3 x']);
    expect(error(...K, '-initrd', 'a,,,')).toMatch(/empty module name/);
  });

  it('accepts double-dash spellings of every option', () => {
    const c = config('--kernel', 'k', '--no-reboot', '--m', '32', '--nographic');
    expect(c).toMatchObject({ kernel: 'k', noReboot: true, ramSize: 32 * 2 ** 20, nographic: true });
  });

  it('routes COM1 like QEMU', () => {
    const driverOf = (c: MachineConfig, id: string | null) => c.chardevs.chardevs.find((s) => s.id === id || s.id === `${id}-base`)?.backend;
    const ng = config(...K, '-nographic');
    expect(ng.serial).toBe('serial0');
    expect(driverOf(ng, 'serial0')).toEqual({ driver: 'stdio', signal: false });
    expect(ng.chardevs.chardevs.find((s) => s.id === 'serial0')?.mux).toBe(true);
    expect(ng.chardevs.monitors.map((m) => m.chardev)).toEqual(['serial0']);
    const stdio = config(...K, '-serial', 'stdio');
    expect(stdio.serial).toBe('serial0');
    expect(driverOf(stdio, 'serial0')).toEqual({ driver: 'stdio', signal: true });
    const mon = config(...K, '-serial', 'mon:stdio');
    expect(mon.chardevs.chardevs.find((s) => s.id === 'serial0')?.mux).toBe(true);
    expect(mon.chardevs.monitors.map((m) => m.chardev)).toEqual(['serial0']);
    expect(driverOf(config(...K, '-serial', 'file:/tmp/x.log'), 'serial0')).toEqual({ driver: 'file', path: '/tmp/x.log', append: false });
    expect(driverOf(config(...K, '-serial', 'null'), 'serial0')).toEqual({ driver: 'null' });
    expect(driverOf(config(...K, '-serial', 'tcp:127.0.0.1:4444,server=on,wait=off'), 'serial0')).toMatchObject({ driver: 'socket', server: true, wait: false });
    expect(config(...K, '-serial', 'none').serial).toBeNull();
    expect(config(...K, '-nodefaults').serial).toBeNull();
    expect(config(...K, '-nodefaults').chardevs.chardevs).toEqual([]);
    expect(config(...K, '-nodefaults', '-serial', 'stdio').serial).toBe('serial0');
    const ngNull = config(...K, '-nographic', '-serial', 'null');
    expect(driverOf(ngNull, 'serial0')).toEqual({ driver: 'null' });
    expect(ngNull.chardevs.monitors.map((m) => m.chardev)).toEqual(['compat_monitor0']);
    const dev = config(...K, '-chardev', 'null,id=c', '-serial', 'chardev:c');
    expect(dev.serial).toBe('c');
    expect(error(...K, '-serial', 'bogus')).toBe("-serial bogus: 'bogus' is not a valid char driver");
    expect(error(...K, '-serial', 'stdio', '-serial', 'null')).toMatch(/^-serial null: only one serial port/);
    expect(error(...K, '-monitor', 'stdio', '-serial', 'stdio')).toBe('-serial stdio: cannot use stdio by multiple character devices');
  });

  it('takes the monitor and chardev options', () => {
    const m = config(...K, '-nodefaults', '-chardev', 'socket,id=m,host=127.0.0.1,port=4444,server=on,wait=off', '-mon', 'chardev=m');
    expect(m.chardevs.monitors).toEqual([{ chardev: 'm', mode: 'readline', pretty: false, origin: '-mon chardev=m' }]);
    expect(config(...K, '-monitor', 'stdio').chardevs.monitors.map((x) => x.chardev)).toEqual(['compat_monitor0']);
    expect(config(...K, '-echr', '0x14').chardevs.echr).toBe(0x14);
    expect(config(...K, '-S').startPaused).toBe(true);
    expect(parseArgs(['-chardev', 'help'])).toMatchObject({ action: 'print', text: expect.stringMatching(/^Available chardev backend types: \n/) });
    expect(error(...K, '-chardev', 'null,id=a', '-chardev', 'null,id=a')).toBe("-chardev null,id=a: Duplicate ID 'a' for chardev");
    expect(error(...K, '-mon', 'chardev=nope')).toBe('-mon chardev=nope: chardev "nope" not found');
    expect(error(...K, '-chardev', 'null,id=x', '-mon', 'chardev=x,mode=control')).toMatch(/QMP monitors are not supported yet/);
    expect(error(...K, '-qmp', 'stdio')).toBe('-qmp: option not supported yet');
    expect(error(...K, '-parallel', 'stdio')).toMatch(/^-parallel stdio: parallel ports are not supported yet/);
    expect(config(...K, '-parallel', 'none').chardevs.parallels).toEqual([null]);
  });

  it('accepts the display, machine, accel and smp spellings that mean what tsemu is', () => {
    expect(() =>
      config(...K, '-display', 'none', '-vnc', 'none', '-machine', 'pc,accel=tcg', '-M', 'pc', '-accel', 'tcg', '-smp', '1', '-machine', 'accel=tcg'),
    ).not.toThrow();
    expect(() => config(...K, '-smp', 'cpus=1,sockets=1,cores=1,threads=1')).not.toThrow();
    expect(error(...K, '-smp', '2')).toMatch(/more than one CPU is not supported yet/);
    expect(error(...K, '-smp', '1,cores=2')).toMatch(/more than one CPU/);
    expect(error(...K, '-machine', 'q35')).toMatch(/machine type 'q35' is not supported yet/);
    expect(error(...K, '-accel', 'kvm')).toMatch(/accelerator 'kvm'/);
    expect(error(...K, '-machine', 'pc,accel=kvm')).toMatch(/accelerator 'kvm'/);
    expect(error(...K, '-display', 'gtk')).toMatch(/display 'gtk' is not supported yet/);
    expect(error(...K, '-vnc', ':0')).toMatch(/VNC is not supported yet/);
  });

  it('parses isa-debug-exit with QEMU defaults and hex properties', () => {
    expect(config(...K, '-device', 'isa-debug-exit').debugExit).toEqual({ iobase: 0x501, iosize: 2 });
    expect(config(...K, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04').debugExit).toEqual({ iobase: 0xf4, iosize: 4 });
    expect(config(...K, '-device', 'isa-debug-exit,iobase=244').debugExit).toEqual({ iobase: 244, iosize: 2 });
    expect(error(...K, '-device', 'e1000')).toMatch(/device 'e1000' is not supported yet/);
    expect(error(...K, '-device', 'isa-debug-exit,foo=1')).toMatch(/no property 'foo'/);
    expect(error(...K, '-device', 'isa-debug-exit,iobase=zz')).toMatch(/'zz' is not an integer/);
  });

  it('reboot and shutdown switches', () => {
    expect(config(...K, '-no-reboot', '-no-shutdown')).toMatchObject({ noReboot: true, noShutdown: true });
  });

  it('help and version stop parsing where they appear', () => {
    expect(parseArgs(['-h'])).toEqual({ action: 'help' });
    expect(parseArgs(['-help'])).toEqual({ action: 'help' });
    expect(parseArgs(['--help'])).toEqual({ action: 'help' });
    expect(parseArgs(['-version'])).toEqual({ action: 'version' });
    expect(parseArgs(['--version', '-bogus'])).toEqual({ action: 'version' });
    expect(error('-bogus', '--version')).toMatch(/-bogus: unknown option/);
  });

  it('names unknown and unsupported options', () => {
    expect(error(...K, '-frobnicate')).toBe('-frobnicate: unknown option (see tsemu -help)');
    expect(error(...K, '-hda', 'disk.img')).toMatch(/-hda: option not supported yet/);
    expect(error(...K, 'disk.img')).toMatch(/'disk.img': disk images are not supported yet/);
  });

  it('reports a missing argument like QEMU', () => {
    for (const opt of ['-m', '-kernel', '-append', '-initrd', '-serial', '-device', '-smp', '-machine', '-display', '-chardev', '-monitor', '-mon', '-echr']) {
      expect(error(opt)).toBe(`${opt}: requires an argument`);
    }
  });

  it('boots the firmware without -kernel; -append/-initrd need a kernel', () => {
    const r = parseArgs([]);
    expect(r.action === 'run' && r.config.kernel).toBe('');
    expect(r.action === 'run' && r.config.bios).toBeUndefined();
    expect(error('-append', 'x')).toMatch(/-append only works together with -kernel/);
    expect(error('-initrd', 'x')).toMatch(/-initrd only works together with -kernel/);
  });

  it('takes -bios FILE', () => {
    const r = parseArgs(['-bios', '/tmp/my-bios.bin']);
    expect(r.action === 'run' && r.config.bios).toBe('/tmp/my-bios.bin');
    expect(error('-bios')).toBe('-bios: requires an argument');
  });
});
