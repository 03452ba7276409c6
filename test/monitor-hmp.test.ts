// The monitor's commands against the transcripts of real QEMU 7.2 in /work/shared/reference/qemu-7.2
// (info registers in real and long mode, info status/cpus/chardev/version, x/xp/print, help), and
// its promise never to throw, whatever it is fed.

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HMP_COMMANDS, HMP_INFO_COMMANDS } from '../monitor/hmp/commands.ts';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { formatRegisters, registerValue, snapshotFromCpu } from '../monitor/hmp/registers.ts';
import type { MonitorTarget, RegisterSnapshot, SegmentSnapshot } from '../monitor/hmp/target.ts';
import type { CpuApi } from '../cpu/types.ts';
import { FakeTarget, resetSnapshot } from './monitor-fake-target.ts';

const REF = '/work/shared/reference/qemu-7.2';
const hasRef = existsSync(`${REF}/hmp_info_session.txt`);

/** Outputs of each "(qemu) command" in a transcript, in order. */
function transcript(file: string): { cmd: string; out: string }[] {
  const text = readFileSync(`${REF}/${file}`, 'utf8').replace(/\r\n/g, '\n').split('--- qemu stdout/stderr ---')[0];
  const parts = text.split(/^\(qemu\) /m).slice(1);
  return parts.map((p) => {
    const nl = p.indexOf('\n');
    return { cmd: p.slice(0, nl), out: p.slice(nl + 1) };
  });
}

function outputOf(file: string, cmd: string, nth = 0): string {
  const hits = transcript(file).filter((e) => e.cmd === cmd);
  if (!hits[nth]) throw new Error(`no "${cmd}" #${nth} in ${file}`);
  return hits[nth].out;
}

function monitor(target: MonitorTarget = new FakeTarget()): HumanMonitor {
  return new HumanMonitor({ target, stdout: () => {} });
}

const seg = (selector: number, base: bigint, limit: number, flags: number): SegmentSnapshot => ({ selector, base, limit, flags });

/** The long-mode state of hmp_info_registers_x86_64.txt. */
function linuxSnapshot(): RegisterSnapshot {
  const regs = [
    0x000000050c7cd0f7n, 0x00000000009e5590n, 0x00000000000df2bcn, 0x0000000000000c80n,
    0xffffcb7400013d98n, 0xffffcb7400013e10n, 0n, 0x000000050c6ede3bn,
    0n, 0x0000000000274467n, 3n, 0xffffffffabad4448n, 1n, 0xd48n, 0x52n, 0n,
  ];
  const zero = seg(0, 0n, 0, 0);
  return {
    regs,
    rip: 0xffffffffaa9f77a3n,
    rflags: 0x283n,
    segs: [zero, seg(0x10, 0n, 0xffffffff, 0x00af9b00), seg(0x18, 0n, 0xffffffff, 0x00cf9300), zero, zero, seg(0, 0xffff89a18f800000n, 0, 0)],
    ldt: seg(0, 0n, 0, 0x8200),
    tr: seg(0x40, 0xfffffe0000003000n, 0x4087, 0x8900),
    gdt: { base: 0xfffffe0000001000n, limit: 0x7f },
    idt: { base: 0xfffffe0000000000n, limit: 0xfff },
    cr0: 0x80050033n,
    cr2: 0xffff89a189a01000n,
    cr3: 0x8010000n,
    cr4: 0x6f0n,
    efer: 0xd01n,
  };
}

describe.skipIf(!hasRef)('info registers: QEMU 7.2 layouts', () => {
  it('real mode after reset (hmp_info_session.txt)', () => {
    const m = monitor(new FakeTarget({ registers: resetSnapshot() }));
    expect(m.runCommand('info registers')).toBe(outputOf('hmp_info_session.txt', 'info registers', 0));
  });

  it('real mode in the BIOS, halted (hmp_info_session.txt, after cont and stop)', () => {
    const s = resetSnapshot();
    const regs = [...s.regs];
    regs[0] = 0n;
    regs[1] = 0xb79dn;
    regs[2] = 0n;
    regs[6] = 0xb79dn;
    regs[5] = 0xb79dn;
    regs[4] = 0x6f94n;
    const snap: RegisterSnapshot = {
      ...s,
      regs,
      rip: 0xb7b9n,
      rflags: 0x246n,
      segs: [seg(0xd980, 0xd9800n, 0xffff, 0x9300), seg(0xf000, 0xf0000n, 0xffff, 0x9b00), ...s.segs.slice(2)],
      gdt: { base: 0n, limit: 0 },
      idt: { base: 0n, limit: 0x3ff },
      cr0: 0x10n,
      halted: true,
    };
    expect(monitor(new FakeTarget({ registers: snap })).runCommand('info registers')).toBe(
      outputOf('hmp_info_session.txt', 'info registers', 1),
    );
  });

  it('long mode with a Linux kernel (hmp_info_registers_x86_64.txt)', () => {
    const m = monitor(new FakeTarget({ registers: linuxSnapshot() }));
    expect(m.runCommand('info registers')).toBe(outputOf('hmp_info_registers_x86_64.txt', 'info registers'));
  });

  it('32-bit protected mode: 32-bit columns, descriptor types spelled out', () => {
    const s: RegisterSnapshot = {
      ...resetSnapshot(),
      rip: 0x100000n,
      segs: [
        seg(0x10, 0n, 0xffffffff, 0x00cf9300),
        seg(0x08, 0n, 0xffffffff, 0x00cf9b00),
        seg(0x10, 0n, 0xffffffff, 0x00cf9300),
        seg(0x10, 0n, 0xffffffff, 0x00cf9300),
        seg(0x23, 0x1000n, 0xffff, 0x0000f700), // 16-bit expand-down data, DPL 3
        seg(0x0f, 0n, 0xffff, 0x00009f00), // conforming 16-bit code, DPL 0
      ],
      ldt: seg(0x28, 0x2000n, 0x67, 0x8200),
      tr: seg(0x30, 0x3000n, 0x67, 0x8b00),
      cr0: 0x11n,
    };
    const out = monitor(new FakeTarget({ registers: s })).runCommand('info registers');
    expect(out).toContain('\nEIP=00100000 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n');
    expect(out).toContain('ES =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n');
    expect(out).toContain('CS =0008 00000000 ffffffff 00cf9b00 DPL=0 CS32 [-RA]\n');
    expect(out).toContain('FS =0023 00001000 0000ffff 0000f700 DPL=3 DS16 [EWA]\n');
    expect(out).toContain('GS =000f 00000000 0000ffff 00009f00 DPL=0 CS16 [CRA]\n');
    expect(out).toContain('LDT=0028 00002000 00000067 00008200 DPL=0 LDT\n');
    expect(out).toContain('TR =0030 00003000 00000067 00008b00 DPL=0 TSS32-busy\n');
    expect(out).toContain('XMM06=');
    expect(out).not.toContain('XMM08=');
  });

  it('FPU and SSE registers as QEMU lays them out', () => {
    const s: RegisterSnapshot = {
      ...resetSnapshot(),
      fpu: {
        fcw: 0x37f,
        fsw: 0x3800 | 0x41,
        ftw: 0x80,
        regs: [{ mantissa: 0n, exponent: 0 }, ...Array(6).fill({ mantissa: 0n, exponent: 0 }), { mantissa: 0x8000000000000000n, exponent: 0x3fff }],
      },
      mxcsr: 0x1fa0,
      xmm: [[0x1122334455667788n, 0x99aabbccddeeff00n]],
    };
    const out = monitor(new FakeTarget({ registers: s })).runCommand('info registers');
    expect(out).toContain('FCW=037f FSW=3841 [ST=7] FTW=80 MXCSR=00001fa0\n');
    expect(out).toContain('FPR6=0000000000000000 0000 FPR7=8000000000000000 3fff\n');
    expect(out).toContain('XMM00=99aabbccddeeff00 1122334455667788 XMM01=0000000000000000 0000000000000000\n');
  });

  it('-a and a vCPU number; CPU#n not available; two CPUs (hmp_cpus.txt)', () => {
    const t = new FakeTarget({ cpuCount: 2, threadId: 26321 });
    t.otherCpus[0] = { ...t.otherCpus[0], halted: true };
    const m = monitor(t);
    expect(m.runCommand('info cpus')).toBe(outputOf('hmp_cpus.txt', 'info cpus'));
    const all = m.runCommand('info registers -a');
    // hmp_cpus.txt keeps a few lines of each CPU; they must appear in that order.
    let at = 0;
    for (const line of outputOf('hmp_cpus.txt', 'info registers -a').split('\n').filter(Boolean)) {
      const found = all.indexOf(line + '\n', at);
      expect(found, line).toBeGreaterThanOrEqual(at);
      at = found + line.length;
    }
    expect(m.runCommand('info registers 1')).toBe('\nCPU#1\n' + formatRegisters(t.otherCpus[0]));
    expect(m.runCommand('info registers 2')).toBe('CPU#2 not available\n');
    expect(m.runCommand('info registers 0xffffffff')).toBe(m.runCommand('info registers'));
  });
});

describe.skipIf(!hasRef)('other commands against the transcripts', () => {
  const session = () => {
    const t = new FakeTarget({
      threadId: 13954,
      chardevs: [
        { label: 'compat_monitor0', filename: 'unix:DIR/qmp.sock,server=on' },
        { label: 'serial0', filename: 'null' },
      ],
    });
    // The BIOS bytes the transcript shows at the reset vector and in the F segment.
    const vector = [0xea, 0x5b, 0xe0, 0x00, 0xf0, 0x30, 0x36, 0x2f, 0x32, 0x33, 0x2f, 0x39, 0x39, 0x00, 0xfc, 0x00];
    t.ram.set(vector, 0xffff0);
    t.roms.push({ base: 0xfffffff0n, data: Uint8Array.from(vector) });
    return t;
  };

  for (const cmd of ['info status', 'info cpus', 'info chardev', 'info version', 'xp /8xb 0xffff0', 'x /4xw 0xfffffff0', 'xp /3xg 0', 'print 0x10+2', 'p $pc']) {
    it(cmd, () => {
      expect(monitor(session()).runCommand(cmd)).toBe(outputOf('hmp_info_session.txt', cmd));
    });
  }

  it('x /2xb 0 (hmp_misc_commands.txt)', () => {
    expect(monitor(session()).runCommand('x /2xb 0')).toBe(outputOf('hmp_misc_commands.txt', 'x /2xb 0'));
  });

  it('info status in every run state', () => {
    const t = session();
    const m = monitor(t);
    t.state = 'running';
    expect(m.runCommand('info status')).toBe('VM status: running\n');
    t.state = 'paused';
    expect(m.runCommand('info status')).toBe(outputOf('hmp_info_session.txt', 'info status', 2));
    for (const s of ['shutdown', 'internal-error', 'guest-panicked', 'debug', 'suspended'] as const) {
      t.state = s;
      expect(m.runCommand('info status')).toBe(`VM status: paused (${s})\n`);
    }
  });

  it('x/i: no disassembler, said the way QEMU says it', () => {
    expect(monitor(session()).runCommand('x/2i 0xffff0')).toBe('0x00000000000ffff0: Asm output not supported on this arch\n');
  });

  it('stop, cont, system_reset, system_powerdown, nmi, quit reach the machine; errors print as "Error: ..."', () => {
    const t = session();
    const m = monitor(t);
    for (const c of ['stop', 's', 'cont', 'c', 'system_reset', 'system_powerdown', 'nmi', 'q']) expect(m.runCommand(c)).toBe('');
    expect(t.calls).toEqual(['stop', 'stop', 'cont', 'cont', 'system_reset', 'system_powerdown', 'nmi', 'quit']);
    t.state = 'shutdown';
    expect(m.runCommand('cont')).toBe('Error: Resetting the Virtual Machine is required\n');
  });

  it('info history lists lines typed at the prompt', () => {
    const out: Buffer[] = [];
    const m = monitor(session());
    m.connect({ write: (b) => out.push(Buffer.from(b)) });
    m.event('opened');
    m.receive(Buffer.from('p 1\rp 2\rp 1\r\rinfo history\r'));
    expect(Buffer.concat(out).toString('latin1')).toContain("\r\n0: 'p 2'\r\n1: 'p 1'\r\n2: 'info history'\r\n(qemu) ");
  });
});

describe.skipIf(!hasRef)('help', () => {
  const ourNames = new Set(HMP_COMMANDS.map((c) => c.name));
  const infoNames = new Set(HMP_INFO_COMMANDS.map((c) => c.name));

  it('lists the commands tsemu has, with QEMU\'s text and order (hmp_help.txt)', () => {
    const qemu = outputOf('hmp_help.txt', 'help')
      .split('\n')
      .filter((l) => ourNames.has(l.split(' ')[0]));
    expect(qemu).toHaveLength(HMP_COMMANDS.length);
    expect(monitor().runCommand('help')).toBe(qemu.join('\n') + '\n');
    expect(monitor().runCommand('?')).toBe(qemu.join('\n') + '\n');
  });

  it("help info and a bare info list tsemu's info commands as QEMU does (mux_session_rendered.txt)", () => {
    const rendered = readFileSync(`${REF}/mux_session_rendered.txt`, 'utf8');
    const lines = [...rendered.matchAll(/^\[[^\]]*\] (info (\S+) .*)$/gm)].filter((m) => infoNames.has(m[2])).map((m) => m[1]);
    expect(lines).toHaveLength(HMP_INFO_COMMANDS.length);
    expect(monitor().runCommand('help info')).toBe(lines.join('\n') + '\n');
    expect(monitor().runCommand('info')).toBe(lines.join('\n') + '\n');
    expect(monitor().runCommand('info   ')).toBe(lines.join('\n') + '\n');
  });

  it('unknown names', () => {
    const m = monitor();
    expect(m.runCommand('help foo')).toBe("unknown command: 'foo'\n");
    expect(m.runCommand('help info foo')).toBe("unknown command: 'info foo'\n");
    expect(m.runCommand('help log')).toBe("unknown command: 'log'\n");
    expect(m.runCommand('sum 0 1')).toBe("unknown command: 'sum'\n");
    expect(m.runCommand('info mtree')).toBe("unknown command: 'info mtree'\n");
  });
});

describe('argument syntax and errors (QEMU 7.2 wording)', () => {
  const cases: [string, string][] = [
    ['foo', "unknown command: 'foo'\n"],
    ['  foo bar', "unknown command: '  foo'\n"],
    ['x', 'unexpected end of expression\nTry "help x" for more information\n'],
    ['x/10z 0', "invalid char in format: 'z'\nTry \"help x\" for more information\n"],
    ['print $foo', 'unknown register\nTry "help print" for more information\n'],
    ['print 1/0', 'division by zero\nTry "help print" for more information\n'],
    ['i 0x1ffffffff', "'i' has failed: integer is for 32-bit values\nTry \"help i\" for more information\n"],
    ['memsave 0 10', 'memsave: string expected\nTry "help memsave" for more information\n'],
    ['x 0 extra', 'x: extraneous characters at the end of line\nTry "help x" for more information\n'],
    ['p 1e', 'print|p: extraneous characters at the end of line\nTry "help p" for more information\n'],
    ['info registers -b', 'registers: unsupported option -b\nTry "help info registers" for more information\n'],
    // QEMU prints the NUL of a missing option letter, which ends its message (and the newline).
    ['info registers -', 'registers: unsupported option -Try "help info registers" for more information\n'],
    ['print )', "invalid char ')' in expression\nTry \"help print\" for more information\n"],
    // QEMU itself dies of SIGFPE on these two.
    ['print/d -9223372036854775808/-1', '-9223372036854775808\n'],
    ['print/d -9223372036854775808%-1', '0\n'],
    ['/x', "unknown command: ''\n"],
  ];
  for (const [line, out] of cases) {
    it(JSON.stringify(line), () => {
      expect(monitor().runCommand(line)).toBe(out);
    });
  }

  it('quoted strings: escapes, and QEMU\'s stdout for bad ones', () => {
    const stray: string[] = [];
    const m = new HumanMonitor({ target: new FakeTarget(), stdout: (t) => stray.push(t) });
    expect(m.runCommand('memsave 0 1 "a\\qb"')).toBe('memsave: string expected\nTry "help memsave" for more information\n');
    expect(m.runCommand('memsave 0 1 "ab')).toBe('memsave: string expected\nTry "help memsave" for more information\n');
    expect(m.runCommand('help "x')).toBe('');
    expect(stray).toEqual(["unsupported escape code: '\\q'\n", 'unterminated string\n', 'unterminated string\n']);
  });

  it('/fmt defaults carry over from one command to the next', () => {
    const m = monitor();
    expect(m.runCommand('p/c 65')).toBe("'A'\n");
    expect(m.runCommand('p 66')).toBe("'B'\n");
    expect(m.runCommand('x/2xb 0')).toBe('0000000000000000: 0x00 0x00\n');
    expect(m.runCommand('x 0')).toBe('0000000000000000: 0x00\n');
    expect(m.runCommand('p 16')).toBe('0x10\n');
  });

  it('$registers in 64-bit mode read whole registers; selectors and limits are signed 32-bit', () => {
    const s = linuxSnapshot();
    expect(registerValue(s, 'eax')).toBe(0x50c7cd0f7n);
    expect(registerValue(s, 'sp')).toBe(BigInt.asIntN(64, 0xffffcb7400013d98n));
    expect(registerValue(s, 'cs.limit')).toBe(-1n);
    expect(registerValue(s, 'gs.base')).toBe(BigInt.asIntN(64, 0xffff89a18f800000n));
    expect(registerValue(s, 'pc')).toBe(BigInt.asIntN(64, 0xffffffffaa9f77a3n));
    expect(registerValue(s, 'rax')).toBeNull();
    expect(registerValue(s, 'cs.base.x')).toBeNull();
    const m = monitor(new FakeTarget({ registers: s }));
    expect(m.runCommand('p $cs.limit')).toBe('0xffffffffffffffff\n');
    expect(m.runCommand('p/d $r14 * 2')).toBe('164\n');
  });

  it('i and o: sizes, the index form, port masking', () => {
    const t = new FakeTarget();
    t.ports.set(0x71, 0x26);
    const m = monitor(t);
    expect(m.runCommand('i/b 0x70 .10')).toBe('portb[0x0071] = 0x26\n');
    expect(t.portWrites).toEqual([[0x70, 1, 10]]);
    expect(m.runCommand('i/w 0x10071')).toBe('portl[0x0071] = 0x00000026\n');
    expect(m.runCommand('i/h 0x71')).toBe('portw[0x0071] = 0x0026\n');
    expect(m.runCommand('o/h 0x12345 0x12345')).toBe('');
    expect(t.portWrites[1]).toEqual([0x2345, 2, 0x2345]);
    expect(m.runCommand('o/w 0x80 0x12345')).toBe('');
    expect(t.portWrites[2]).toEqual([0x80, 4, 0x12345]);
    // A /i format leaves no size: QEMU reads a byte and pads to the left.
    expect(m.runCommand('i/i 0x71')).toBe('portb[0x0071] = 0x26\n');
    expect(m.runCommand('i/bi 0x71')).toBe('portb[0x0071] = 0x26\n');
  });
});

describe('robustness: the monitor answers everything with text and a new prompt', () => {
  const session = (target: MonitorTarget = new FakeTarget()) => {
    const out: Buffer[] = [];
    const m = new HumanMonitor({ target, stdout: () => {} });
    m.connect({ write: (b) => out.push(Buffer.from(b)) });
    m.event('opened');
    return { m, out: () => Buffer.concat(out).toString('latin1'), clear: () => (out.length = 0) };
  };

  it('a 1 MB line is cut at 4095 bytes and rejected as an unknown command', () => {
    const s = session();
    s.clear();
    s.m.receive(Buffer.alloc(1 << 20, 0x61));
    s.clear();
    s.m.receive(Buffer.from('\r'));
    expect(s.out()).toBe(`\r\nunknown command: '${'a'.repeat(4095)}'\r\n(qemu) `);
  });

  it('random bytes, random words and random commands never throw', () => {
    let seed = 99;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >> 8) % n;
    };
    const s = session();
    const words = ['x', 'xp', 'p', 'print', 'i', 'o', 'info', 'registers', 'help', '$eax', '/', '(', ')', "'", '"', '-a', '$', '0x', '99999999999999999999', '%', '*', '/10xg', '/c', '\\', 'memsave', '.', '~', '-'];
    for (let n = 0; n < 3000; n++) {
      let line = '';
      const k = rnd(6);
      for (let j = 0; j < k; j++) line += words[rnd(words.length)] + (rnd(3) ? ' ' : '');
      if (/memsave|^\s*(p|i|x)/.test(line) && /"/.test(line)) continue; // no stray files from quoting games
      if (/memsave/.test(line)) continue;
      expect(() => s.m.runCommand(line)).not.toThrow();
    }
    const noise = Buffer.alloc(100_000);
    for (let i = 0; i < noise.length; i++) noise[i] = rnd(256);
    // Keep it away from the file commands.
    for (let i = 0; i < noise.length; i++) if (noise[i] === 0x6d /* m */) noise[i] = 0x6e;
    expect(() => s.m.receive(noise)).not.toThrow();
    s.clear();
    s.m.receive(Buffer.from('\x1b\x1b\x15\x01\x0b\x05' + '\x7f'.repeat(5000) + 'p 1\r'));
    expect(s.out().endsWith('0x1\r\n(qemu) ')).toBe(true);
  });

  it('a machine that throws gives an error line, not an exception', () => {
    const t = new FakeTarget();
    t.stop = () => {
      throw new Error('the CPU fell over');
    };
    const s = session(t);
    s.clear();
    s.m.receive(Buffer.from('stop\r'));
    expect(s.out()).toMatch(/stop\x1b\[K\r\nError: the CPU fell over\r\n\(qemu\) $/);
  });

  it('quit stops reading: nothing typed after it runs', () => {
    const t = new FakeTarget();
    const s = session(t);
    s.m.receive(Buffer.from('quit\rstop\r'));
    expect(t.calls).toEqual(['quit']);
    expect(s.m.canReceive()).toBe(0);
  });
});

describe('snapshotFromCpu', () => {
  it('copies what CpuApi has', () => {
    const segs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ selector: i * 8, base: BigInt(i), limit: 0xffff, flags: 0x9300 }));
    const cpu = {
      getReg: (r: number) => BigInt(r + 1),
      getRip: () => 0x1234n,
      getRflags: () => 0x202n,
      getSeg: (s: number) => segs[s],
      getGdtr: () => ({ base: 0x1000n, limit: 0x17 }),
      getIdtr: () => ({ base: 0x2000n, limit: 0x7ff }),
      getCr: (n: number) => BigInt(n * 0x100),
      getMsr: (i: number) => (i === 0xc0000080 ? 0x500n : 0n),
    } as unknown as CpuApi;
    const s = snapshotFromCpu(cpu);
    expect(s.regs).toEqual(Array.from({ length: 16 }, (_, i) => BigInt(i + 1)));
    expect(s.segs[1].selector).toBe(8);
    expect(s.ldt.selector).toBe(48);
    expect(s.tr.selector).toBe(56);
    expect(s.cr3).toBe(0x300n);
    expect(s.efer).toBe(0x500n);
    expect(s.rip).toBe(0x1234n);
  });
});
