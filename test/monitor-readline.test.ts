// The monitor's line editor: the bytes QEMU 7.2 sends while a line is edited (recorded under a
// pty from qemu-system-x86_64 -monitor stdio), history and completion.

import { describe, expect, it } from 'vitest';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { Readline } from '../monitor/readline.ts';
import { FakeTarget } from './monitor-fake-target.ts';

const E = '\x1b[';

function session() {
  const out: Buffer[] = [];
  const m = new HumanMonitor({ target: new FakeTarget(), stdout: () => {} });
  m.connect({ write: (b) => out.push(Buffer.from(b)) });
  m.event('opened');
  const take = () => {
    const s = Buffer.concat(out).toString('latin1');
    out.length = 0;
    return s;
  };
  take();
  return { m, type: (s: string) => m.receive(Buffer.from(s, 'latin1')), take };
}

/** The echo QEMU gives for typing `s` one key at a time on an empty line. */
function typed(s: string): string {
  let out = '';
  for (let i = 1; i <= s.length; i++) out += `${E}D`.repeat(i - 1) + s.slice(0, i) + `${E}K`;
  return out;
}

describe('readline: the bytes of line editing', () => {
  it('cursor keys, home/end, delete and backspace (recorded from QEMU)', () => {
    const s = session();
    s.type('abc');
    s.type('\x01'); // home
    s.type('\x05'); // end
    s.type('\x02\x06\x0b\x15'); // ^B ^F ^K ^U: not QEMU keys
    s.type(`${E}D${E}D`);
    s.type(`${E}C`);
    s.type(`${E}H${E}1~${E}4~`);
    s.type(`${E}D${E}D${E}3~`);
    s.type('\x04');
    s.type('\x1bOH\x1bOF');
    s.type('\x7f\x08\r');
    expect(s.take()).toBe(
      'a\x1b[K\x1b[Dab\x1b[K\x1b[D\x1b[Dabc\x1b[K\x1b[D\x1b[D\x1b[D\x1b[C\x1b[C\x1b[C\x1b[D\x1b[D\x1b[C\x1b[D\x1b[D' +
        '\x1b[C\x1b[C\x1b[C\x1b[D\x1b[D\x1b[Dac\x1b[K\x1b[D\x1b[Da\x1b[K\x1b[D\x1b[C\x1b[D\x1b[K\r\n(qemu) ',
    );
  });

  it('history with the arrow keys, ESC[F/ESC[E as up/down, and ^P/^N doing nothing (recorded)', () => {
    const s = session();
    s.type('info status\rp 1\rinfo status\r');
    s.take();
    s.type(`${E}A${E}A${E}A${E}B${E}B${E}B\x10\x0e${E}F${E}E${E}H\r`);
    const D = (n: number) => `${E}D`.repeat(n);
    expect(s.take()).toBe(
      `info status${E}K${D(11)}p 1${E}K${D(3)}info status${E}K${D(11)}${E}K` +
        `info status${E}K${D(11)}${E}K\r\n(qemu) `,
    );
    s.type('info history\r');
    expect(s.take()).toBe(typed('info history') + "\r\n0: 'p 1'\r\n1: 'info status'\r\n2: 'info history'\r\n(qemu) ");
  });

  it('^W, ^L and bytes above 0x7f (recorded)', () => {
    const s = session();
    s.type('abc  def  \x17');
    expect(s.take()).toBe(typed('abc  def  ') + `${E}D`.repeat(10) + `abc  ${E}K`);
    s.type('\x17\x17  xy\x01\x17\x05\x17\x0c\x15\r');
    expect(s.take()).toBe(
      `${E}D`.repeat(5) +
        `${E}K ${E}K${E}D  ${E}K${E}D${E}D  x${E}K${E}D${E}D${E}D  xy${E}K${E}D${E}D${E}D${E}D${E}C${E}C${E}C${E}C` +
        `${E}D${E}D${E}D${E}D  ${E}K${E}2J${E}1;1H(qemu)   ${E}K\r\n(qemu) `,
    );
    s.type(`${E}2~${E}5~\x1bx${E}12;5D\x9bDZ\xc3\xa9\x80\r`);
    expect(s.take()).toMatch(/\r\nunknown command: '5Z\xc3\xa9\x80D'\r\n\(qemu\) $/);
  });

  it('CR LF is two Enter keys', () => {
    const s = session();
    s.type('p 1\r\n');
    expect(s.take()).toBe(typed('p 1') + '\r\n0x1\r\n(qemu) \r\n(qemu) ');
  });
});

describe('readline: history', () => {
  it('keeps 64 distinct lines; a repeated line moves to the end', () => {
    const s = session();
    for (let i = 0; i < 70; i++) s.type(`p ${i}\r`);
    s.type('p 20\r');
    const h = s.m.readline.history();
    expect(h).toHaveLength(64);
    expect(h[0]).toBe('p 6');
    expect(h[62]).toBe('p 69');
    expect(h[63]).toBe('p 20');
    expect(h.filter((l) => l === 'p 20')).toHaveLength(1);
    // Empty lines are not kept.
    s.type('\r  \r');
    expect(s.m.readline.history()[63]).toBe('  ');
  });
});

describe('readline: Tab completion', () => {
  it('one candidate completes with a space (recorded: "in" -> "info ")', () => {
    const s = session();
    s.type('in\t');
    expect(s.take()).toBe(`i${E}K${E}Din${E}K${E}D${E}Dinfo ${E}K`);
    expect(s.m.readline.text).toBe('info ');
  });

  it('several candidates: a sorted table, 80 columns, then the prompt and line again (recorded: "i")', () => {
    const s = session();
    s.type('i\t');
    expect(s.take()).toBe(`i${E}K\r\ni         info      \r\n(qemu) i${E}K`);
  });

  it('lists every command for an empty line and for "help "', () => {
    const s = session();
    s.type('\t');
    const list =
      '\r\n?                 c                 cont              help              \r\n' +
      'i                 info              memsave           nmi               \r\n' +
      'o                 p                 pmemsave          print             \r\n' +
      'q                 quit              s                 stop              \r\n' +
      'system_powerdown  system_reset      x                 xp                \r\n(qemu) ';
    expect(s.take()).toBe(list);
    s.type('help \t');
    expect(s.take()).toBe(typed('help ') + list + `help ${E}K`);
  });

  it('completes info subcommands and help arguments', () => {
    const s = session();
    s.type('info \t');
    expect(s.take()).toBe(
      typed('info ') + '\r\nchardev    cpus       history    registers  status     version    \r\n(qemu) info ' + `${E}K`,
    );
    s.type('\x7f'.repeat(5) + 'help info r\t');
    expect(s.m.readline.text).toBe('help info registers ');
    s.type('\r');
    s.take();
    s.type('sys\t');
    // The common part is inserted, but only drawn after the table (as QEMU's "info st" -> "info stat").
    expect(s.take()).toBe(`${typed('sys')}\r\nsystem_powerdown  system_reset      \r\n(qemu) system_${E}K`);
  });

  it('nothing to complete: no output', () => {
    const s = session();
    s.type('xyz\t');
    s.type(' \t');
    expect(s.take()).toBe(typed('xyz '));
  });

  it('column widths follow the longest candidate, between 10 and 80', () => {
    const printed: string[] = [];
    const rl = new Readline(
      { print: (t) => printed.push(t), flush: () => {} },
      () => ({ start: 0, candidates: ['b'.repeat(100), 'a'.repeat(3)] }),
    );
    rl.start('> ', () => {});
    rl.handleByte(9);
    // Wider than the screen: one per line, padded to 80, the common prefix (none) inserted.
    expect(printed.join('')).toBe(`\n${'a'.repeat(3).padEnd(80)}\n${'b'.repeat(100)}\n> `);
  });
});
