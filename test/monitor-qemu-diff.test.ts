// The human monitor against real QEMU: the same keystrokes go to `qemu-system-x86_64 -S -monitor
// stdio` (known bytes loaded at 0x1000) and to tsemu's monitor on a fake machine in the same
// state; the output bytes, readline echo and escape sequences included, must be identical.
// Only commands whose output does not depend on QEMU's larger command set are typed.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { FakeTarget } from './monitor-fake-target.ts';

const QEMU = 'qemu-system-x86_64';
const version = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
const haveQemu = version.status === 0;

const dir = mkdtempSync(join(tmpdir(), 'tsemu-hmp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** RAM contents at 0x1000: a byte ramp, 0xff bytes, then characters that need escaping. */
function memoryImage(): Buffer {
  return Buffer.concat([
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    Buffer.alloc(16, 0xff),
    Buffer.from("Hello\n\r'\\\x00\x7f\x80World", 'latin1'),
  ]);
}

const SCRIPT: string[] = [
  // Plain commands and history.
  'info status\r',
  'p 1\r',
  'p 2\r',
  'info status\r',
  '\x1b[A\x1b[A\x1b[A\x1b[B\x1b[B\x1b[B\x10\x0e\x1b[F\x1b[E\x1b[H\r',
  'info history\r',
  // Line editing: cursor keys, home/end, delete, backspace, keys QEMU ignores.
  'abc\x01\x05\x02\x06\x0b\x15\x1b[D\x1b[D\x1b[C\x1b[H\x1b[1~\x1b[4~\x1b[D\x1b[D\x1b[3~\x04\x1bOH\x1bOF\x7f\x08\x15\x01\x0b\r',
  'xyz\x1b[D\x1b[D\x04\x04\x04\x7f\x7f\x7fp 7\r',
  'abc  def  \x17\x17\x17  xy\x01\x17\x05\x17\x0c\x7f\x7f\r',
  '   \x17X\r',
  ' a\x17X\r',
  'b a\x17\r',
  '\x1b[2~\x1b[5~\x1b[6~\x1bx\x1b[12;5D\x9bDZ\xc3\xa9\x80\r',
  'p 3\r\n',
  // Completion where QEMU's candidates are the same as tsemu's.
  'in\tstatus\r',
  'help info ver\t\r',
  'help info reg\t\r',
  'mems\t\r',
  'pm\t\r',
  'help me\t\r',
  'info hi\t\r',
  'info ch\t\r',
  'info statu\t\r',
  'info registers \t' + '\x7f'.repeat(15) + 'p 9\r',
  'print \t\r',
  // Errors.
  'foo\r',
  '  foo bar\r',
  'info foo\r',
  'x\r',
  'x/10z 0\r',
  'print\r',
  'print $foo\r',
  'print 1/0\r',
  'i 0x1ffffffff\r',
  'memsave 0 10\r',
  'help foo\r',
  'help info foo\r',
  'print (1\r',
  "print 'a\r",
  "print ''\r",
  "print 'ab'\r",
  'print 99999999999999999999999\r',
  'x 0 extra\r',
  'print 0x\r',
  'print 1+\r',
  'print 08\r',
  'print 1e\r',
  'info/x\r',
  'help/x\r',
  '/x\r',
  'p/x/x 1\r',
  'xp/2xb/ 0\r',
  'info status a\r',
  'info registers 1\r',
  'info registers x\r',
  'info registers -b\r',
  'info registers -\r',
  'info registers 0x100000000\r',
  'stop x\r',
  'c 1\r',
  'nmi 1\r',
  "help 'x'\r",
  'help x"\r',
  'p $eax)\r',
  'p (1))\r',
  'pmemsave 0x1000 0x100000000 f\r',
  'memsave 0x1000 -1 ms6.bin\r',
  'i/b 0x70 .\r',
  'o 0x70\r',
  'p $cr0\r',
  'p $Eax\r',
  'p $\r',
  'p $ eax\r',
  'p\r',
  'p/\r',
  'p/10\r',
  'p/xz 1\r',
  // Expressions and registers.
  'p $esp\r',
  'p $sp\r',
  'p $fp\r',
  'p $r8\r',
  'p $cs\r',
  'p $cs.base\r',
  'p $cs.limit\r',
  'p $eflags\r',
  'p $eip\r',
  'p $pc\r',
  'p $edx\r',
  'p $ss.limit\r',
  'p $ds.base\r',
  'p $eax+1\r',
  'p 1 +2 * 3\r',
  'p (1+2)*3\r',
  'p -5 % 3\r',
  'p ~0\r',
  'p 1|2^3&4\r',
  'p 0x7fffffffffffffff+1\r',
  'p 10/3\r',
  'p -7/2\r',
  'p -7%2\r',
  'p 18446744073709551615\r',
  'p 0777\r',
  'p ++1\r',
  'p --1\r',
  "p '''\r",
  "p 'a'\r",
  "p 'a'+1\r",
  'p/x 0\r',
  'p/o 8\r',
  'p/o 0\r',
  'p/c 65\r',
  'p/c 0x1234\r',
  'p/c -1\r',
  'p/c 10\r',
  'p/c 39\r',
  'p/c 92\r',
  'p/d -1\r',
  'p/u -1\r',
  'p/x -1\r',
  'p/i 5\r',
  'p/b 300\r',
  'p/2x 5\r',
  "p '\xe9'\r",
  'p/c 0xe9\r',
  'p /x 5\r',
  'p/xw 5\r',
  ' p 3\r',
  'p $cs.base + $eip\r',
  // Memory dumps in every format and size, at the end of RAM and beyond it.
  'x/8xb 0x1000\r',
  'x/8db 0x10f8\r',
  'x/4dw 0x1100\r',
  'x/2dg 0x1100\r',
  'x/3c 0x1110\r',
  'x/4cw 0x1110\r',
  'x/5o 0x1000\r',
  'x/5ob 0x10f0\r',
  'x/3u 0x1100\r',
  'x/3uh 0x1100\r',
  'x/10xh 0x1000\r',
  'x/0x 0x1000\r',
  'x 0x1000\r',
  'xp/20xb 0x1000\r',
  'x/3xg 0x1000\r',
  'x/17xb 0x1000\r',
  'x/2x 0x7fffffc\r',
  'x/2x 0x7fffff8\r',
  'xp/2x 0x7fffffc\r',
  'x/4xw 0x7fffffc\r',
  'xp/16xb 0x7fffff8\r',
  'x 0x100000000\r',
  'xp/3xg 0x100000000\r',
  'x/3dh 0x1100\r',
  'x/c 0x1110\r',
  'x/x 0x1000\r',
  'x/2db 0x1100\r',
  'x/2dh 0x1100\r',
  'x/9od 0x1000\r',
  'x/3ug 0x1108\r',
  'x/2og 0x1100\r',
  'x/6ch 0x1110\r',
  'xp /2xb 0x1000 + 0x10\r',
  'x/3 $pc - 0xffff0000 - 0xeff0 + 0x1000\r',
  'x/ 0\r',
  'x /5 0\r',
  'x/4294967297xb 0\r',
  // Ports: unassigned ones read as all ones in QEMU's pc machine (and in the fake).
  'i 0x2f0\r',
  'i/b 0x2f0\r',
  'i/w 0x2f0\r',
  'i/h 0x2f0\r',
  'i/g 0x2f0\r',
  'i 0x102f0\r',
  'o/b 0x2f0 1\r',
  'o/w 0x12345 0x12345\r',
  // Files.
  `memsave 0x1000 300 "${dir}/ms1.bin"\r`,
  `pmemsave 0x1000 16 "${dir}/ms2.bin"\r`,
  `memsave 0x1000 16 "${dir}/nonexistent/x"\r`,
  `memsave 0x100000000 16 "${dir}/ms3.bin"\r`,
  `pmemsave 0x7fffff8 16 "${dir}/ms4.bin"\r`,
  `memsave 0x7fffc00 2000 "${dir}/ms5.bin"\r`,
  `memsave 0x1000 0 "${dir}/ms6.bin"\r`,
  `pmemsave 0x1000 16 "${dir}"\r`,
  'memsave 1\r',
  'memsave 1 2\r',
  // Help for the commands tsemu has.
  'help x\r',
  'help print\r',
  'help p\r',
  'help x y z\r',
  'help help\r',
  'help ?\r',
  '? x\r',
  'help info status\r',
  'help info status a\r',
  'help info registers\r',
  'help "x"\r',
  'help  x\r',
  'help i\r',
  'help o\r',
  'help memsave\r',
  'help pmemsave\r',
  'help nmi\r',
  'help s\r',
  'help c\r',
  'help q\r',
  'help system_reset\r',
  'help system_powerdown\r',
  'help xp\r',
  'help info cpus\r',
  'help info version\r',
  'help info chardev\r',
  'help info history\r',
  'help a b c d e f g h i j k l m n o p q\r',
  // State.
  'info version\r',
  'info chardev\r',
  'info cpus\r',
  'stop\r',
  'info status\r',
  'system_reset\r',
  'system_powerdown\r',
  'info registers\r',
  'info registers -a\r',
  'info registers 0\r',
  'info history\r',
  'quit\r',
];

/** The thread id in `info cpus` is the one thing that differs by nature. */
const mask = (s: string) => s.replace(/thread_id=\d+/g, 'thread_id=N');

describe.skipIf(!haveQemu)('monitor vs qemu-system-x86_64 -monitor stdio', () => {
  it('gives the same bytes for the same keys', () => {
    const mem = join(dir, 'mem.bin');
    writeFileSync(mem, memoryImage());
    const input = Buffer.from(SCRIPT.join(''), 'latin1');
    const files = ['ms1.bin', 'ms2.bin', 'ms3.bin', 'ms4.bin', 'ms5.bin', 'ms6.bin'];

    const q = spawnSync(
      QEMU,
      ['-display', 'none', '-nodefaults', '-S', '-m', '128', '-monitor', 'stdio', '-device', `loader,file=${mem},addr=0x1000`],
      { input, timeout: 60_000, maxBuffer: 64 << 20 },
    );
    expect(q.status).toBe(0);
    const qemuOut = q.stdout.toString('latin1');
    const qemuFiles = files.map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f)).toString('hex') : null));
    for (const f of files) rmSync(join(dir, f), { force: true });

    const m = /version (\d+)\.(\d+)\.(\d+)(?: \((.*)\))?/.exec(version.stdout);
    const target = new FakeTarget({
      chardevs: [{ label: 'compat_monitor0', filename: 'stdio' }],
      version: { major: Number(m![1]), minor: Number(m![2]), micro: Number(m![3]), package: m![4] ?? '' },
    });
    target.ram.set(memoryImage(), 0x1000);
    const out: Buffer[] = [];
    const stray: string[] = [];
    const mon = new HumanMonitor({ target, stdout: (t) => stray.push(t) });
    mon.connect({ write: (b) => out.push(Buffer.from(b)) });
    mon.event('opened');
    mon.receive(input);
    const ours = Buffer.concat(out).toString('latin1');
    const ourFiles = files.map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f)).toString('hex') : null));

    // Compare line by line first: a mismatch then names the line.
    const qLines = mask(qemuOut).split('\n');
    const oLines = mask(ours).split('\n');
    for (let i = 0; i < Math.max(qLines.length, oLines.length); i++) {
      expect(JSON.stringify(oLines[i]), `line ${i + 1}`).toBe(JSON.stringify(qLines[i]));
    }
    expect(qLines.length).toBeGreaterThan(400);
    expect(mask(ours)).toBe(mask(qemuOut));
    expect(ourFiles).toEqual(qemuFiles);
    expect(target.calls).toEqual(['stop', 'system_reset', 'system_powerdown', 'quit']);
    expect(stray).toEqual([]);
  });
});
