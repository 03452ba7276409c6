// The commands tsemu's human monitor implements. Names, parameter summaries and help lines are
// QEMU 7.2's, byte for byte, because `help` output is part of the interface; the type strings
// ("fmt:/,addr:l") are QEMU's argument descriptions, parsed by parse.ts.

import { closeSync, openSync, writeSync } from 'node:fs';
import { altHex, altOctal, hex, quoteChar, signed64, strerror, u64 } from './format.ts';
import type { ArgValue } from './parse.ts';
import { formatRegisters } from './registers.ts';
import type { MonitorTarget } from './target.ts';

/** What a command handler can use. */
export interface HmpSession {
  readonly target: MonitorTarget;
  /** Monitor output ("\n" line ends; the monitor adds the "\r"). */
  print(text: string): void;
  /** The monitor's current CPU (QEMU's `cpu` command would change it). */
  readonly cpuIndex: number;
  history(): readonly string[];
  /** `help [words]`. */
  help(name: string | null): void;
  /** Stop reading commands and ask the machine to exit. */
  quit(): void;
}

export type Args = Map<string, ArgValue>;

export interface HmpCommand {
  /** Names separated by '|' ("print|p"). */
  name: string;
  /** QEMU's argument type string. */
  argsType: string;
  /** The parameter summary `help` shows. */
  params: string;
  help: string;
  /** Absent: the command is listed but answers "Command ... is not available." */
  run?: (s: HmpSession, args: Args) => void;
  subTable?: readonly HmpCommand[];
}

const num = (args: Args, key: string): bigint => (args.get(key) as bigint | undefined) ?? 0n;
/** A C int from a parsed number. */
const int = (args: Args, key: string): number => Number(BigInt.asIntN(32, num(args, key)));

function reportError(s: HmpSession, err: string | void): void {
  if (typeof err === 'string') s.print(`Error: ${err}\n`);
}

function infoStatus(s: HmpSession): void {
  const state = s.target.runState();
  const running = state === 'running';
  let line = `VM status: ${running ? 'running' : 'paused'}${s.target.singleStep?.() ? ' (single step mode)' : ''}`;
  if (!running && state !== 'paused') line += ` (${state})`;
  s.print(line + '\n');
}

function infoVersion(s: HmpSession): void {
  const v = s.target.version;
  s.print(`${v.major}.${v.minor}.${v.micro}${v.package}\n`);
}

function infoCpus(s: HmpSession): void {
  for (const c of s.target.cpus()) {
    s.print(`${c.index === s.cpuIndex ? '*' : ' '} CPU #${c.index}: thread_id=${c.threadId}\n`);
  }
}

function infoRegisters(s: HmpSession, args: Args): void {
  if (args.get('cpustate_all') === true) {
    for (const c of s.target.cpus()) {
      const regs = s.target.registers(c.index);
      if (regs) s.print(`\nCPU#${c.index}\n` + formatRegisters(regs));
    }
    return;
  }
  const vcpu = args.has('vcpu') ? int(args, 'vcpu') : -1;
  const index = vcpu >= 0 ? vcpu : s.cpuIndex;
  const regs = s.target.registers(index);
  if (!regs) {
    s.print(vcpu >= 0 ? `CPU#${vcpu} not available\n` : 'No CPU available\n');
    return;
  }
  s.print(`\nCPU#${index}\n` + formatRegisters(regs));
}

function infoChardev(s: HmpSession): void {
  for (const c of s.target.chardevs()) s.print(`${c.label}: filename=${c.filename}\n`);
}

function infoHistory(s: HmpSession): void {
  s.history().forEach((line, i) => s.print(`${i}: '${line}'\n`));
}

/** x and xp: `count` items of `size` bytes in `format`, 16 bytes a line (8 for bytes). */
function memoryDump(s: HmpSession, args: Args, physical: boolean): void {
  const count = int(args, 'count');
  const format = args.get('format') as string;
  let wsize = int(args, 'size');
  let addr = u64(num(args, 'addr'));
  if (format === 'i') {
    // tsemu has no disassembler; QEMU words it this way when a target lacks one.
    s.print(`0x${hex(addr, 16)}: Asm output not supported on this arch\n`);
    return;
  }
  let len = Math.imul(wsize, count);
  const lineSize = wsize === 1 ? 8 : 16;
  let digits = 0;
  switch (format) {
    case 'o':
      digits = Math.ceil((wsize * 8) / 3);
      break;
    case 'u':
    case 'd':
      digits = Math.ceil((wsize * 8 * 10) / 33);
      break;
    case 'c':
      // Characters are always single bytes; the line length still follows the requested size.
      wsize = 1;
      break;
    default:
      digits = (wsize * 8) / 4;
  }
  while (len > 0) {
    const l = Math.min(len, lineSize);
    let line = `${hex(addr, 16)}:`;
    let bytes: Uint8Array | null;
    if (physical) {
      const r = s.target.readPhysical(addr, l);
      bytes = r.ok ? r.bytes : null;
    } else {
      bytes = s.target.readVirtual(s.cpuIndex, addr, l);
    }
    if (!bytes) {
      s.print(line + ' Cannot access memory\n');
      return;
    }
    for (let i = 0; i < l; i += wsize) {
      const n = wsize === 2 || wsize === 4 || wsize === 8 ? wsize : 1;
      let v = 0n;
      for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[i + k] ?? 0);
      line += ' ';
      switch (format) {
        case 'o':
          line += altOctal(v).padStart(digits, ' ');
          break;
        case 'u':
          line += v.toString().padStart(digits, ' ');
          break;
        case 'd':
          line += signed64(v).padStart(digits, ' ');
          break;
        case 'c':
          line += quoteChar(Number(v));
          break;
        default:
          line += '0x' + v.toString(16).padStart(digits, '0');
      }
    }
    s.print(line + '\n');
    addr = u64(addr + BigInt(l));
    len -= l;
  }
}

function printValue(s: HmpSession, args: Args): void {
  const v = u64(num(args, 'val'));
  let text: string;
  switch (args.get('format')) {
    case 'o':
      text = altOctal(v);
      break;
    case 'x':
      text = altHex(v);
      break;
    case 'u':
      text = v.toString();
      break;
    case 'c':
      text = quoteChar(Number(BigInt.asIntN(32, v)));
      break;
    default:
      text = signed64(v);
  }
  s.print(text + '\n');
}

function ioSize(size: number): 1 | 2 | 4 {
  return size === 2 ? 2 : size === 4 ? 4 : 1;
}

function ioRead(s: HmpSession, args: Args): void {
  const size = int(args, 'size');
  let port = int(args, 'addr');
  if (args.has('index')) {
    s.target.ioWrite(port & 0xffff, 1, int(args, 'index') & 0xff);
    port++;
  }
  port &= 0xffff;
  const n = ioSize(size);
  const value = s.target.ioRead(port, n) >>> 0;
  const suffix = n === 1 ? 'b' : n === 2 ? 'w' : 'l';
  // "%0*x" with the requested size: /g asks for 16 digits of a byte read, and a negative width pads right.
  const width = size * 2;
  const digits = value.toString(16);
  const shown = width >= 0 ? digits.padStart(width, '0') : digits.padEnd(-width, ' ');
  s.print(`port${suffix}[0x${hex(port, 4)}] = 0x${shown}\n`);
}

function ioWrite(s: HmpSession, args: Args): void {
  const size = ioSize(int(args, 'size'));
  const port = int(args, 'addr') & 0xffff;
  const mask = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  s.target.ioWrite(port, size, (int(args, 'val') & mask) >>> 0);
}

/** memsave/pmemsave: write guest memory to a file in 1 KiB pieces, as QEMU does. */
function saveMemory(s: HmpSession, args: Args, physical: boolean): void {
  const start = u64(num(args, 'val'));
  const size = Number(num(args, 'size') & 0xffffffffn);
  const filename = args.get('filename') as string;
  let fd: number;
  try {
    fd = openSync(Buffer.from(filename, 'latin1'), 'w', 0o666);
  } catch (e) {
    s.print(`Error: Could not open '${filename}': ${strerror((e as NodeJS.ErrnoException).code)}\n`);
    return;
  }
  try {
    let addr = start;
    let left = size;
    while (left > 0) {
      const l = Math.min(1024, left);
      let chunk: Uint8Array | null;
      if (physical) {
        chunk = s.target.readPhysical(addr, l).bytes;
      } else {
        chunk = s.target.readVirtual(s.cpuIndex, addr, l);
        if (!chunk) {
          s.print(`Error: Invalid addr 0x${hex(start, 16)}/size ${size} specified\n`);
          return;
        }
      }
      try {
        writeSync(fd, chunk, 0, l);
      } catch {
        s.print('Error: An IO error has occurred\n');
        return;
      }
      addr = u64(addr + BigInt(l));
      left -= l;
    }
  } finally {
    closeSync(fd);
  }
}

const INFO_COMMANDS: HmpCommand[] = [
  { name: 'chardev', argsType: '', params: '', help: 'show the character devices', run: infoChardev },
  { name: 'cpus', argsType: '', params: '', help: 'show infos for each CPU', run: infoCpus },
  { name: 'history', argsType: '', params: '', help: 'show the command line history', run: infoHistory },
  {
    name: 'registers',
    argsType: 'cpustate_all:-a,vcpu:i?',
    params: '[-a|vcpu]',
    help:
      "show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
    run: infoRegisters,
  },
  { name: 'status', argsType: '', params: '', help: 'show the current VM status (running|paused)', run: infoStatus },
  { name: 'version', argsType: '', params: '', help: 'show the version of QEMU', run: infoVersion },
];

const COMMANDS: HmpCommand[] = [
  {
    name: 'cont|c',
    argsType: '',
    params: '',
    help: 'resume emulation',
    run: (s) => reportError(s, s.target.cont()),
  },
  {
    name: 'help|?',
    argsType: 'name:S?',
    params: '[cmd]',
    help: 'show the help',
    run: (s, a) => s.help((a.get('name') as string | undefined) ?? null),
  },
  { name: 'i', argsType: 'fmt:/,addr:i,index:i.', params: '/fmt addr', help: 'I/O port read', run: ioRead },
  {
    name: 'info',
    argsType: 'item:s?',
    params: '[subcommand]',
    help: 'show various information about the system state',
    run: (s) => s.help('info'),
    subTable: INFO_COMMANDS,
  },
  {
    name: 'memsave',
    argsType: 'val:l,size:i,filename:s',
    params: 'addr size file',
    help: "save to disk virtual memory dump starting at 'addr' of size 'size'",
    run: (s, a) => saveMemory(s, a, false),
  },
  { name: 'nmi', argsType: '', params: '', help: 'inject an NMI', run: (s) => reportError(s, s.target.nmi()) },
  { name: 'o', argsType: 'fmt:/,addr:i,val:i', params: '/fmt addr value', help: 'I/O port write', run: ioWrite },
  {
    name: 'pmemsave',
    argsType: 'val:l,size:i,filename:s',
    params: 'addr size file',
    help: "save to disk physical memory dump starting at 'addr' of size 'size'",
    run: (s, a) => saveMemory(s, a, true),
  },
  {
    name: 'print|p',
    argsType: 'fmt:/,val:l',
    params: '/fmt expr',
    help: 'print expression value (use $reg for CPU register access)',
    run: printValue,
  },
  { name: 'quit|q', argsType: '', params: '', help: 'quit the emulator', run: (s) => s.quit() },
  { name: 'stop|s', argsType: '', params: '', help: 'stop emulation', run: (s) => reportError(s, s.target.stop()) },
  {
    name: 'system_powerdown',
    argsType: '',
    params: '',
    help: 'send system power down event',
    run: (s) => reportError(s, s.target.systemPowerdown()),
  },
  {
    name: 'system_reset',
    argsType: '',
    params: '',
    help: 'reset the system',
    run: (s) => reportError(s, s.target.systemReset()),
  },
  {
    name: 'x',
    argsType: 'fmt:/,addr:l',
    params: '/fmt addr',
    help: "virtual memory dump starting at 'addr'",
    run: (s, a) => memoryDump(s, a, false),
  },
  {
    name: 'xp',
    argsType: 'fmt:/,addr:l',
    params: '/fmt addr',
    help: "physical memory dump starting at 'addr'",
    run: (s, a) => memoryDump(s, a, true),
  },
];

/** QEMU keeps its tables sorted by name (byte order); help and completion show that order. */
export function sortCommands(table: readonly HmpCommand[]): HmpCommand[] {
  return [...table].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export const HMP_COMMANDS: readonly HmpCommand[] = sortCommands(COMMANDS);
export const HMP_INFO_COMMANDS: readonly HmpCommand[] = sortCommands(INFO_COMMANDS);

/** Whether a typed name is one of the '|'-separated names of a command. */
export function commandMatches(typed: string, names: string): boolean {
  return names.split('|').includes(typed);
}

export function findCommand(table: readonly HmpCommand[], typed: string): HmpCommand | undefined {
  return table.find((c) => commandMatches(typed, c.name));
}
