// The character-device options against QEMU 7.2: the same command lines are accepted or refused,
// refusals carry QEMU's first error line, and accepted ones list the same chardevs in
// `info chardev`. Then the plain data the parser hands to the machine.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChardevError } from '../monitor/chardev/chardev.ts';
import { openChardevs } from '../monitor/chardev/open.ts';
import { CHARDEV_HELP, CharOptionError, CharOptions, DEFAULT_ECHR, parseCharOptions, type CharConfig } from '../monitor/chardev/options.ts';
import type { StdioHost } from '../monitor/chardev/stdio.ts';
import { QEMU, freePort, haveQemu, infoLines, qemuProbe, tempDir } from './monitor-chardev-helpers.ts';

const FLAGS = new Set(['nographic', 'nodefaults']);

/** argv -> [name, value] pairs and the flags. */
function split(argv: string[]): { pairs: [string, string][]; nographic: boolean; nodefaults: boolean } {
  const pairs: [string, string][] = [];
  let nographic = false;
  let nodefaults = false;
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--?/, '');
    if (FLAGS.has(name)) {
      if (name === 'nographic') nographic = true;
      else nodefaults = true;
    } else pairs.push([name, argv[++i]!]);
  }
  return { pairs, nographic, nodefaults };
}

function parse(...argv: string[]): CharConfig {
  const s = split(argv);
  return parseCharOptions(s.pairs, s);
}

function parseError(...argv: string[]): string {
  try {
    parse(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CharOptionError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

function fakeStdio(): StdioHost {
  return { stdin: null, stdout: () => {}, process: { pid: 0, on: () => {}, off: () => {}, listenerCount: () => 0, kill: () => {} } };
}

interface Outcome {
  ok: boolean;
  error: string;
  info: string[];
  warnings: string[];
}

/** Parses and opens like tsemu would (plus the probe's monitor), then closes everything again. */
async function tsemu(argv: string[]): Promise<Outcome> {
  const s = split([...argv, '-chardev', 'null,id=tsemuprobe', '-mon', 'chardev=tsemuprobe']);
  let config: CharConfig;
  try {
    config = parseCharOptions(s.pairs, s);
  } catch (e) {
    if (!(e instanceof CharOptionError)) throw e;
    return { ok: false, error: e.message, info: [], warnings: [] };
  }
  try {
    const set = await openChardevs(config, { notify: () => {}, stdio: fakeStdio() });
    const info = set.infoLines().filter((l) => !l.startsWith('tsemuprobe:'));
    // The mux itself is the mux helper's; QEMU lists it as "ID: filename=mux".
    for (const spec of config.chardevs) if (spec.mux) info.push(`${spec.id}: filename=mux`);
    await set.closeAll();
    return { ok: true, error: '', info, warnings: config.warnings };
  } catch (e) {
    if (!(e instanceof ChardevError)) throw e;
    return { ok: false, error: e.message, info: [], warnings: config.warnings };
  }
}

/** Ports differ between two runs of port=0 servers. */
function normalize(lines: string[]): string[] {
  return lines.map((l) => l.replace(/:\d+(,server=on)/, ':PORT$1')).sort();
}

const qemu = haveQemu();
const tmp = tempDir();
const D = tmp.path;

afterAll(() => tmp.cleanup());

interface Case {
  argv: string[];
  /** tsemu's message where it deliberately differs from QEMU (QEMU's answer is still checked to be a refusal or acceptance as noted). */
  deviation?: { ours: string; qemuAccepts: boolean };
  /** Compare the chardev list too (off where paths or ports make the lines differ on purpose). */
  info?: boolean;
}

let closedPort = 0;

function cases(): Case[] {
  return [
    // Accepted.
    { argv: ['-nodefaults', '-chardev', 'null,id=x'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=a-b.c_d'] },
    { argv: ['-nodefaults', '-chardev', `file,id=f,path=${D}/f.out`] },
    { argv: ['-nodefaults', '-chardev', `file,id=f,path=${D}/f.out,append=on`] },
    { argv: ['-nodefaults', '-chardev', 'ringbuf,id=r,size=64k'] },
    { argv: ['-nodefaults', '-chardev', 'ringbuf,id=r,size=1'] },
    { argv: ['-nodefaults', '-chardev', 'ringbuf,id=r,size=0x100'] },
    { argv: ['-nodefaults', '-chardev', 'memory,id=m'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,path=/tmp,port=1,server=on,telnet=on'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,server=on,server=off'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,id=y'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,to=-3'] },
    { argv: ['-nodefaults', '-chardev', 'stdio,id=s,signal=off'] },
    { argv: ['-nodefaults', '-chardev', 'vc,id=v'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,mux=on'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x,mux'] },
    { argv: ['-nodefaults', '-chardev', `null,id=x,logfile=${D}/log,logappend=on`] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=127.0.0.1,port=0,server=on,wait=off'] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=localhost,port=0,server=on,wait=off,telnet=on'] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=127.0.0.1,port=0,server=on,wait=off,websocket=on'] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=127.0.0.1,port=0,server=on,wait=off,websocket=on,telnet=on'] },
    { argv: ['-nodefaults', '-chardev', `socket,id=s,path=${D}/sock1,server=on,wait=off`] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=127.0.0.1,port=0,server,nowait'] },
    { argv: ['-nodefaults', '-chardev', 'socket,id=s,host=127.0.0.1,port=0,server=on,wait=off,nodelay'] },
    { argv: ['-nodefaults', '-chardev', `pipe,id=p,path=${D}/fifo`] },
    { argv: ['-nodefaults', '-chardev', `pipe,id=p,path=${D}/single`] },
    { argv: ['-nodefaults', '-chardev', 'tty,id=t,path=/dev/null'] },
    { argv: ['-nodefaults', '-serial', 'null', '-serial', 'none', '-serial', `file:${D}/s.out`] },
    { argv: ['-nodefaults', '-serial', 'mon:null'] },
    { argv: ['-nodefaults', '-serial', 'mon:stdio'] },
    { argv: ['-nodefaults', '-serial', 'tcp:127.0.0.1:0,server=on,wait=off'] },
    { argv: ['-nodefaults', '-serial', 'tcp:127.0.0.1:0,server,nowait'] },
    { argv: ['-nodefaults', '-serial', 'telnet:127.0.0.1:0,server=on,wait=off'] },
    { argv: ['-nodefaults', '-serial', `unix:${D}/sock2,server=on,wait=off`] },
    { argv: ['-nodefaults', '-serial', 'vc'] },
    { argv: ['-nodefaults', '-serial', 'vc:80Cx24C'] },
    { argv: ['-nodefaults', '-serial', '/dev/null'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=m', '-serial', 'chardev:m'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=m,mux=on', '-serial', 'chardev:m', '-serial', 'chardev:m', '-mon', 'chardev=m'] },
    { argv: ['-nodefaults', '-monitor', 'null'] },
    { argv: ['-nodefaults', '-monitor', 'none'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=m', '-monitor', 'chardev:m', '-monitor', 'null'] },
    { argv: ['-nodefaults', '-parallel', 'null'] },
    { argv: ['-serial', 'null'] },
    { argv: ['-nographic'] },
    { argv: ['-nographic', '-serial', 'null'] },
    { argv: ['-nographic', '-serial', 'mon:stdio'] },
    { argv: ['-nographic', '-nodefaults', '-serial', 'mon:stdio', '-serial', 'null'] },
    { argv: ['-nodefaults', '-echr', '0x14', '-serial', 'mon:null'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=m', '-mon', 'chardev=m,mode=control,pretty=on'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=m', '-mon', 'm'] },
    // Refused.
    { argv: ['-chardev', 'foo,id=x'] },
    { argv: ['-chardev', 'foo'] },
    { argv: ['-chardev', 'null'] },
    { argv: ['-chardev', 'null,id='] },
    { argv: ['-chardev', 'null,id=1abc'] },
    { argv: ['-chardev', 'null,id=1,bogus=1'] },
    { argv: ['-chardev', 'null,id=x,bogus=1'] },
    { argv: ['-chardev', 'null,bogus=1'] },
    { argv: ['-chardev', 'null,id=x', '-chardev', 'null,id=x'] },
    { argv: ['-chardev', 'file,id=x'] },
    { argv: ['-chardev', 'file,id=x,path=/nonexistent/dir/f'] },
    { argv: ['-chardev', `file,id=x,path=${D}/f1,append=maybe`] },
    { argv: ['-chardev', 'null,id=x,append=maybe'] },
    { argv: ['-chardev', 'null,id=x,server=ON'] },
    { argv: ['-chardev', 'pipe,id=x'] },
    { argv: ['-chardev', `pipe,id=x,path=${D}/nonexist`] },
    { argv: ['-chardev', 'ringbuf,id=x,size=1000'] },
    { argv: ['-chardev', 'ringbuf,id=x,size=abc'] },
    { argv: ['-chardev', 'ringbuf,id=x,size=-1'] },
    { argv: ['-chardev', 'ringbuf,id=x,size=1.5k'] },
    { argv: ['-chardev', 'null,id=x,size=abc,bogus=1'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1'] },
    { argv: ['-chardev', `socket,id=x,host=127.0.0.1,port=${closedPort}`] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=abc,server=on,wait=off'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=0,server=on,wait=off,reconnect=1'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=0,server=on,wait=off,reconnect=abc'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=1,server=off,wait=off'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=1,server=n,wait=off'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=1,websocket=on'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=0,server=on,wait=off,tls-creds=x'] },
    { argv: ['-chardev', `socket,id=x,path=${D}/s3,host=127.0.0.1,port=0,server=on,wait=off`] },
    { argv: ['-chardev', 'socket,id=x,path=/nonexistent/s,server=on,wait=off'] },
    { argv: ['-chardev', `socket,id=x,path=${D}/nosuch`] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=0,server=on,wait=off,delay=off,nodelay=on'] },
    { argv: ['-chardev', 'socket,id=x,host=127.0.0.1,port=0,server=on,wait=off,ipv6=on'] },
    { argv: ['-chardev', 'stdio,id=x,signal=maybe'] },
    { argv: ['-chardev', 'stdio,id=x', '-chardev', 'stdio,id=y'] },
    { argv: ['-chardev', ',id=x'] },
    { argv: ['-chardev', 'id=x'] },
    { argv: ['-chardev', 'null,id=x,,y'] },
    { argv: ['-chardev', 'null,,id=x'] },
    { argv: ['-chardev', 'null,id=x,no'] },
    { argv: ['-chardev', 'null,noid=x'] },
    { argv: ['-chardev', 'null,id=x,=5'] },
    { argv: ['-chardev', 'null,id=x,logfile=/nonexistent/l'] },
    { argv: ['-chardev', 'null,id=x,to=1.5'] },
    { argv: ['-chardev', 'null,id=x,to=08'] },
    { argv: ['-chardev', 'stdio,id=x,mux=on', '-chardev', 'null,id=x-base'] },
    { argv: ['-chardev', 'null,id=x-base', '-chardev', 'null,id=x,mux=on'] },
    { argv: ['-serial', 'foo'] },
    { argv: ['-serial', 'file:/nonexistent/x'] },
    { argv: ['-serial', 'file:'] },
    { argv: ['-serial', `pipe:${D}/nonexist`] },
    { argv: ['-serial', 'tcp:127.0.0.1'] },
    { argv: ['-serial', `tcp:127.0.0.1:${closedPort}`] },
    { argv: ['-serial', 'chardev:nosuch'] },
    { argv: ['-serial', 'stdio', '-serial', 'stdio'] },
    { argv: ['-serial', 'null,id=x'] },
    { argv: ['-serial', 'mon:'] },
    { argv: ['-serial', 'mon:mon:stdio'] },
    { argv: ['-serial', 'websocket:127.0.0.1:4444'] },
    { argv: ['-serial', 'ringbuf'] },
    { argv: ['-serial', ''] },
    { argv: ['-serial', 'tcp:127.0.0.1:0,server=on,wait=off,bogus=1'] },
    { argv: ['-serial', 'tcp::0,server=on,wait=off,reconnect=3'] },
    { argv: ['-monitor', 'foo'] },
    { argv: ['-monitor', 'tcp:127.0.0.1'] },
    { argv: ['-monitor', 'chardev:nosuch'] },
    { argv: ['-monitor', 'stdio', '-serial', 'stdio'] },
    { argv: ['-mon', 'foo'] },
    { argv: ['-chardev', 'null,id=m', '-mon', 'chardev=m,mode=foo'] },
    { argv: ['-chardev', 'null,id=m', '-mon', 'chardev=m,mode=readline,pretty=on'] },
    { argv: ['-chardev', 'null,id=m', '-mon', 'chardev=m,bogus=1'] },
    { argv: ['-chardev', 'null,id=m', '-mon', 'chardev=m', '-mon', 'chardev=m'] },
    { argv: ['-mon', 'mode=readline'] },
    { argv: ['-nodefaults', '-chardev', 'null,id=x', '-serial', 'chardev:x', '-serial', 'chardev:x'] },
    { argv: ['-nographic', '-monitor', 'stdio'] },
    { argv: ['-nographic', '-chardev', 'stdio,id=s'] },
    // Where tsemu differs on purpose.
    { argv: ['-nodefaults', '-chardev', 'pty,id=x'], deviation: { ours: "-chardev pty,id=x: char device 'pty' is not supported on this build", qemuAccepts: true } },
    { argv: ['-chardev', 'udp,id=x'], deviation: { ours: "-chardev udp,id=x: char device 'udp' is not supported on this build", qemuAccepts: false } },
    // QEMU's "Unable to parse FD number" for a socket without an address says little.
    { argv: ['-chardev', 'socket,id=x'], deviation: { ours: '-chardev socket,id=x: chardev: socket: no host, path or fd given', qemuAccepts: false } },
    { argv: ['-serial', 'unix:'], deviation: { ours: '-serial unix:: chardev: socket: no host, path or fd given', qemuAccepts: false } },
  ];
}

describe.skipIf(!qemu)('chardev options compared with QEMU', () => {
  let all: Case[] = [];
  beforeAll(async () => {
    closedPort = await freePort();
    mkdirSync(join(D, 'x'), { recursive: true });
    spawnSync('mkfifo', [join(D, 'fifo.in'), join(D, 'fifo.out')]);
    writeFileSync(join(D, 'single'), '');
    all = cases();
  });

  it('accepts and refuses the same command lines, with QEMU first error line', async () => {
    const problems: string[] = [];
    for (const c of all) {
      const label = c.argv.join(' ');
      let ours: Outcome;
      try {
        ours = await tsemu(c.argv);
      } catch (e) {
        problems.push(`${label}: tsemu threw ${String(e)}`);
        continue;
      }
      const q = qemuProbe(c.argv, D);
      // A clash between device frontends is an assertion in QEMU ("Unexpected error in ..." first).
      const qemuError = q.errors.find((l) => !l.startsWith('Unexpected error in ') && !/: warning: |^Please use /.test(l)) ?? '';
      if (c.deviation) {
        if ((q.status === 0) !== c.deviation.qemuAccepts) problems.push(`${label}: QEMU status ${q.status} (${q.errors[0]})`);
        if (ours.error !== c.deviation.ours) problems.push(`${label}: tsemu said '${ours.error}'`);
        continue;
      }
      if (ours.ok !== (q.status === 0)) {
        problems.push(`${label}: tsemu ${ours.ok ? 'accepts' : `refuses (${ours.error})`}, QEMU ${q.status === 0 ? 'accepts' : `refuses (${qemuError})`}`);
        continue;
      }
      if (!ours.ok) {
        if (ours.error !== qemuError) problems.push(`${label}:\n  tsemu: ${ours.error}\n  QEMU:  ${qemuError}`);
        continue;
      }
      if (c.info !== false && JSON.stringify(normalize(ours.info)) !== JSON.stringify(normalize(q.info))) {
        problems.push(`${label}:\n  tsemu: ${normalize(ours.info).join(' | ')}\n  QEMU:  ${normalize(q.info).join(' | ')}`);
      }
      const qemuWarnings = q.errors.filter((l) => /: warning: |^Please use /.test(l));
      const ourWarnings = ours.warnings.flatMap((w) => w.split('\n'));
      if (JSON.stringify(ourWarnings) !== JSON.stringify(qemuWarnings)) {
        problems.push(`${label}: warnings\n  tsemu: ${ourWarnings.join(' | ')}\n  QEMU:  ${qemuWarnings.join(' | ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  /** QEMU's monitor on stdin/stdout, for the defaults the probe's own -mon would change. */
  function qemuStdio(args: string[], input: string): string[] {
    const r = spawnSync(QEMU, ['-S', ...args], { input, encoding: 'latin1', timeout: 10_000 });
    return infoLines(r.stdout);
  }

  it('puts serial and monitor on stdio as -nographic does', async () => {
    // Ctrl-A c switches the mux to the monitor.
    const q = qemuStdio(['-nographic'], '\x01cinfo chardev\nquit\n');
    const ours = parse('-nographic');
    expect(ours.serials).toEqual(['serial0']);
    expect(ours.parallels).toEqual(['parallel0']);
    expect(ours.monitors).toEqual([{ chardev: 'serial0', mode: 'readline', pretty: false, origin: '' }]);
    const set = await openChardevs(ours, { notify: () => {}, stdio: fakeStdio() });
    const lines = [...set.infoLines(), 'serial0: filename=mux'];
    await set.closeAll();
    expect(lines.sort()).toEqual(q.sort());
  });

  it('keeps the monitor alone on stdio when -serial goes elsewhere', async () => {
    const q = qemuStdio(['-nographic', '-serial', `file:${D}/ng.out`], 'info chardev\nquit\n');
    const ours = parse('-nographic', '-serial', `file:${D}/ng.out`);
    const set = await openChardevs(ours, { notify: () => {}, stdio: fakeStdio() });
    const lines = set.infoLines();
    await set.closeAll();
    expect(lines.sort()).toEqual(q.sort());
    expect(ours.monitors).toEqual([{ chardev: 'compat_monitor0', mode: 'readline', pretty: false, origin: '' }]);
  });
});

describe('chardev options: the data handed to the machine', () => {
  it('has QEMU defaults without a display: serial, parallel and monitor on vc', () => {
    const c = parse();
    expect(c.chardevs.map((s) => [s.id, s.backend.driver])).toEqual([
      ['compat_monitor0', 'vc'],
      ['serial0', 'vc'],
      ['parallel0', 'vc'],
    ]);
    expect(c.serials).toEqual(['serial0']);
    expect(c.monitors.map((m) => m.chardev)).toEqual(['compat_monitor0']);
    expect(c.echr).toBe(DEFAULT_ECHR);
  });

  it('muxes serial and monitor on stdio with -nographic, passing Ctrl-C to the guest', () => {
    const c = parse('-nographic');
    const serial0 = c.chardevs.find((s) => s.id === 'serial0')!;
    expect(serial0).toMatchObject({ mux: true, backend: { driver: 'stdio', signal: false }, origin: '' });
    expect(c.chardevs.find((s) => s.id === 'parallel0')!.backend).toEqual({ driver: 'null' });
  });

  it('follows QEMU -nographic rules when -serial or -monitor are given', () => {
    expect(parse('-nographic', '-serial', 'none').serials).toEqual([null]);
    expect(parse('-nographic', '-serial', 'none').monitors.map((m) => m.chardev)).toEqual(['compat_monitor0']);
    const noMon = parse('-nographic', '-monitor', 'none');
    expect(noMon.monitors).toEqual([]);
    expect(noMon.chardevs.find((s) => s.id === 'serial0')).toMatchObject({ mux: false, backend: { driver: 'stdio', signal: true } });
    const monSerial = parse('-nographic', '-serial', 'mon:stdio');
    expect(monSerial.monitors.map((m) => m.chardev)).toEqual(['serial0']);
    expect(parse('-nographic', '-nodefaults').chardevs).toEqual([]);
    expect(parseError('-nographic', '-monitor', 'stdio')).toBe('cannot use stdio by multiple character devices');
  });

  it('numbers serial ports by position, -serial none leaving a hole', () => {
    const c = parse('-nodefaults', '-serial', 'none', '-serial', 'null', '-serial', 'chardev:x', '-chardev', 'null,id=x');
    expect(c.serials).toEqual([null, 'serial1', 'x']);
    expect(c.chardevs.map((s) => s.id)).toEqual(['x', 'serial1']);
  });

  it('listens on 127.0.0.1 unless an address is given', () => {
    for (const spec of ['tcp::4444,server=on,wait=off', 'tcp::4444,server=on', 'telnet::4444,server=on']) {
      const b = parse('-nodefaults', '-serial', spec).chardevs[0]!.backend;
      expect(b).toMatchObject({ driver: 'socket', address: { type: 'inet', host: '127.0.0.1', port: '4444' }, server: true });
    }
    const b = parse('-nodefaults', '-chardev', 'socket,id=s,port=5555,server=on,wait=off').chardevs[0]!.backend;
    expect(b).toMatchObject({ address: { host: '127.0.0.1', port: '5555' }, wait: false });
    expect(parse('-nodefaults', '-serial', 'tcp:0.0.0.0:1,server=on').chardevs[0]!.backend).toMatchObject({ address: { host: '0.0.0.0' } });
    expect(parse('-nodefaults', '-serial', 'tcp:[::1]:1,server=on').chardevs[0]!.backend).toMatchObject({ address: { host: '::1' } });
  });

  it('reads socket options with their defaults', () => {
    const b = parse('-nodefaults', '-chardev', 'socket,id=s,host=h,port=1,reconnect=0x10,nodelay=on,ipv4=on').chardevs[0]!.backend;
    expect(b).toEqual({ driver: 'socket', address: { type: 'inet', host: 'h', port: '1', ipv4: true, ipv6: false }, server: false, wait: false, telnet: false, websocket: false, reconnect: 16, nodelay: true });
    const u = parse('-nodefaults', '-serial', 'unix:/tmp/a,,b,server=on,wait=off,telnet=on').chardevs[0]!.backend;
    expect(u).toMatchObject({ address: { type: 'unix', path: '/tmp/a,b', abstract: false, tight: true }, server: true, wait: false, telnet: true });
    const w = parse('-nodefaults', '-serial', 'websocket:127.0.0.1:0,server=on').chardevs[0]!.backend;
    expect(w).toMatchObject({ websocket: true, wait: true });
    expect(parse('-nodefaults', '-chardev', 'socket,id=s,host=h,port=1,server=on,wait=off,to=9').chardevs[0]!.backend).toMatchObject({ address: { to: 9 } });
  });

  it('reads -echr as strtol does', () => {
    const echr = (v: string): [number, string[]] => {
      const c = parse('-nodefaults', '-echr', v);
      return [c.echr, c.warnings];
    };
    expect(echr('20')).toEqual([20, []]);
    expect(echr('0x14')).toEqual([0x14, []]);
    expect(echr('010')).toEqual([8, []]);
    expect(echr('3x')).toEqual([3, []]);
    expect(echr('abc')).toEqual([0, ['Bad argument to echr']]);
    expect(echr('')).toEqual([0, ['Bad argument to echr']]);
  });

  it('lists its backends for -chardev help', () => {
    const c = new CharOptions();
    expect(c.option('chardev', 'help')).toBe(true);
    expect(c.helpText).toBe(CHARDEV_HELP);
    expect(CHARDEV_HELP).toMatch(/^Available chardev backend types: \n {2}file\n/);
    expect(c.option('kernel', 'x')).toBe(false);
  });

  it('keeps a mux backend name and frontends of a mux apart', () => {
    const c = parse('-nodefaults', '-chardev', 'stdio,id=s,mux=on', '-serial', 'chardev:s', '-mon', 'chardev=s');
    expect(c.chardevs).toEqual([{ id: 's', backend: { driver: 'stdio', signal: true }, mux: true, logfile: null, logappend: false, origin: '-chardev stdio,id=s,mux=on' }]);
    expect(c.serials).toEqual(['s']);
    expect(c.monitors).toEqual([{ chardev: 's', mode: 'readline', pretty: false, origin: '-mon chardev=s' }]);
  });

  it('says what is wrong in one line for malformed options', () => {
    expect(parseError('-chardev', 'socket,id=x,host=127.0.0.1,port=1,server=on,wait=off,fd=3')).toBe(
      "-chardev socket,id=x,host=127.0.0.1,port=1,server=on,wait=off,fd=3: None or one of 'path', 'fd' or 'host' option required.",
    );
    expect(parseError('-chardev', 'ringbuf,id=r,size=4G')).toMatch(/too large/);
    expect(parseError('-qmp', 'foo')).toBe("-qmp foo: 'foo' is not a valid char driver");
  });
});
