// Command-line parsing with qemu-system-x86_64's syntax for the options tsemu understands.
// A pure function from argv to a configuration; every problem is an OptionError whose message
// is one line for "tsemu: <message>". The character-device options (-chardev, -serial, -monitor,
// -mon, -echr, -parallel, and what -nographic/-nodefaults imply) go to monitor/chardev's parser.

import { CHAR_OPTIONS, CharOptionError, CharOptions, type CharConfig } from '../monitor/chardev/index.ts';

export class OptionError extends Error {
  override readonly name = 'OptionError';
}

export interface DebugExitConfig {
  iobase: number;
  iosize: number;
}

export interface MachineConfig {
  /** Guest RAM in bytes. */
  ramSize: number;
  /** -kernel; '' when there is none and the machine boots its firmware (SeaBIOS). */
  kernel: string;
  /** -bios: a firmware image (file or name); absent means QEMU's default, bios-256k.bin. */
  bios?: string;
  append: string;
  /** -initrd items, each "FILE ARGS..." (commas already split, ",," unescaped). */
  initrd: string[];
  /**
   * The chardev COM1 is connected to (an id in `chardevs`, "serial0" for `-serial stdio`); null
   * when the machine has no COM1 (-nodefaults without -serial, `-serial none`).
   */
  serial: string | null;
  /** Every character device, which one COM1 and the monitors use, and the mux escape key. */
  chardevs: CharConfig;
  /** -nographic: no display; serial and monitor multiplexed on stdio unless redirected. */
  nographic: boolean;
  /** -S: the CPU does not start until the monitor's `cont`. */
  startPaused: boolean;
  noReboot: boolean;
  noShutdown: boolean;
  debugExit: DebugExitConfig | null;
  /**
   * -icount shift=N: virtual time comes from the instruction count, 2^N ns per instruction, and
   * idle time is skipped (QEMU's sleep=off), so runs repeat exactly. null: host time.
   */
  icountShift: number | null;
}

export type ParsedCommand =
  | { action: 'help' }
  | { action: 'version' }
  /** Print `text` on stdout and exit with status 0 (`-chardev help`). */
  | { action: 'print'; text: string }
  | { action: 'run'; config: MachineConfig };

/** QEMU's default RAM size for the pc machine. */
export const DEFAULT_RAM = 128 * 1024 * 1024;
/** The CPU keeps guest RAM in one WebAssembly memory below 4 GiB, which leaves room for this much. */
export const MAX_RAM = 3 * 1024 * 1024 * 1024;

/** QEMU options that exist but tsemu does not implement yet: named in the error, not "unknown". */
const KNOWN_UNSUPPORTED = new Set([
  'hda', 'hdb', 'hdc', 'hdd', 'fda', 'fdb', 'cdrom', 'drive', 'blockdev', 'boot', 'cpu',
  'enable-kvm', 'qmp', 'qmp-pretty', 'netdev', 'net', 'nic', 'usb', 'usbdevice', 'vga',
  'gdb', 's', 'd', 'D', 'rtc', 'name', 'pidfile', 'daemonize', 'snapshot', 'k',
  'audiodev', 'soundhw', 'object', 'global', 'serial2', 'trace', 'L', 'fw_cfg',
  'dtb', 'overcommit', 'mem-path', 'mem-prealloc', 'numa', 'incoming', 'loadvm', 'sandbox', 'semihosting',
  'uuid', 'watchdog', 'watchdog-action', 'action', 'virtfs', 'smbios', 'acpitable', 'full-screen', 'g',
]);

const NEEDS_ARGUMENT = new Set([
  'm', 'kernel', 'append', 'initrd', 'display', 'vnc', 'machine', 'M', 'accel', 'smp', 'device',
  'icount', 'bios', ...[...CHAR_OPTIONS].filter((o) => !KNOWN_UNSUPPORTED.has(o)),
]);

/** Parse a -m size: a number (fractions allowed) with an optional B/K/M/G/T suffix; MiB without one. */
function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmgtpe]?)$/i.exec(text.trim());
  if (!m) throw new OptionError(`${option} ${text}: not a size (a number with an optional suffix K, M, G or T; plain numbers are MiB)`);
  const units: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60, '': 2 ** 20 };
  const bytes = parseFloat(m[1]) * units[m[2].toLowerCase()];
  // QEMU rounds RAM up to 8 KiB.
  return Math.ceil(bytes / 8192) * 8192;
}

/** Split a QEMU "key=value,key=value" list; a first item without '=' is the implied key. */
function parseKeyValues(text: string, option: string, impliedKey: string): Map<string, string> {
  const out = new Map<string, string>();
  const items = text.split(',');
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (i === 0) out.set(impliedKey, item);
      else throw new OptionError(`${option} ${text}: expected '=' after '${item}'`);
    } else {
      out.set(item.slice(0, eq), item.slice(eq + 1));
    }
  });
  return out;
}

/** Integers as QEMU's property parser reads them: decimal, 0x hex, or 0 octal. */
function parseInteger(text: string, what: string): number {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(text)) v = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) v = parseInt(text.slice(1), 8);
  else if (/^\d+$/.test(text)) v = parseInt(text, 10);
  else throw new OptionError(`${what}: '${text}' is not an integer`);
  return v;
}

/** -initrd "a args,b": commas separate modules; QEMU escapes a literal comma as ",,". */
function splitInitrd(text: string): string[] {
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      items.push(cur);
      cur = '';
    } else {
      cur += text[i];
    }
  }
  items.push(cur);
  if (items.some((s) => s.trim() === '')) throw new OptionError(`-initrd ${text}: empty module name`);
  return items;
}

function parseMachine(text: string, option: string): void {
  const kv = parseKeyValues(text, option, 'type');
  for (const [k, v] of kv) {
    if (k === 'type') {
      if (v !== 'pc' && !/^pc-i440fx-\d+\.\d+$/.test(v)) throw new OptionError(`${option} ${text}: machine type '${v}' is not supported yet (only 'pc')`);
    } else if (k === 'accel') {
      checkAccel(v, option, text);
    } else {
      throw new OptionError(`${option} ${text}: machine property '${k}' is not supported yet`);
    }
  }
}

function checkAccel(v: string, option: string, text: string): void {
  for (const a of v.split(':')) {
    if (a !== 'tcg') throw new OptionError(`${option} ${text}: accelerator '${a}' is not available (tsemu is its own 'tcg')`);
  }
}

function parseSmp(text: string): void {
  const kv = parseKeyValues(text, '-smp', 'cpus');
  for (const [k, v] of kv) {
    if (!['cpus', 'maxcpus', 'sockets', 'dies', 'clusters', 'cores', 'threads'].includes(k)) {
      throw new OptionError(`-smp ${text}: unknown parameter '${k}'`);
    }
    const n = parseInteger(v, `-smp ${text}`);
    if (n > 1) throw new OptionError(`-smp ${text}: more than one CPU is not supported yet`);
  }
}

/** -icount [shift=]N[,sleep=on|off] (QEMU's option; 'auto', align and record/replay are not offered). */
function parseIcount(text: string): number {
  const kv = parseKeyValues(text, '-icount', 'shift');
  let shift: number | null = null;
  for (const [k, v] of kv) {
    if (k === 'shift') {
      if (v === 'auto') throw new OptionError(`-icount ${text}: shift=auto is not supported yet (give a number)`);
      shift = parseInteger(v, `-icount ${text}: shift`);
      if (shift > 10) throw new OptionError(`-icount ${text}: shift must be between 0 and 10`);
    } else if (k === 'sleep') {
      // Idle time is always skipped, as with sleep=off; sleep=on is accepted for compatibility.
      if (v !== 'on' && v !== 'off') throw new OptionError(`-icount ${text}: sleep must be on or off`);
    } else throw new OptionError(`-icount ${text}: parameter '${k}' is not supported yet`);
  }
  if (shift === null) throw new OptionError(`-icount ${text}: shift missing`);
  return shift;
}

function parseDevice(text: string): DebugExitConfig {
  const kv = parseKeyValues(text, '-device', 'driver');
  const driver = kv.get('driver') ?? '';
  if (driver !== 'isa-debug-exit') {
    throw new OptionError(`-device ${text}: device '${driver}' is not supported yet (only isa-debug-exit)`);
  }
  const dev: DebugExitConfig = { iobase: 0x501, iosize: 0x02 };
  for (const [k, v] of kv) {
    if (k === 'driver') continue;
    if (k === 'iobase') dev.iobase = parseInteger(v, `-device ${text}: iobase`);
    else if (k === 'iosize') dev.iosize = parseInteger(v, `-device ${text}: iosize`);
    else throw new OptionError(`-device ${text}: isa-debug-exit has no property '${k}'`);
  }
  if (dev.iobase > 0xffff || dev.iosize < 1 || dev.iobase + dev.iosize > 0x10000) {
    throw new OptionError(`-device ${text}: ports ${dev.iobase}+${dev.iosize} are outside the I/O space`);
  }
  return dev;
}

/** What the chardev parser accepts but the machine cannot do yet. */
function checkCharConfig(c: CharConfig, parallelArgs: string[]): void {
  // QEMU numbers -serial options COM1, COM2...; only COM1 exists here.
  const extra = c.serials.findIndex((id, i) => i > 0 && id !== null);
  if (extra > 0) {
    const spec = c.chardevs.find((s) => s.id === c.serials[extra]);
    const where = spec?.origin.startsWith('-serial ') ? spec.origin : '-serial';
    throw new OptionError(`${where}: only one serial port (COM1) is supported yet`);
  }
  // There is no parallel port device: only chardevs that would discard its output are accepted.
  c.parallels.forEach((id, i) => {
    if (id === null) return;
    const driver = c.chardevs.find((s) => s.id === id)?.backend.driver;
    if (driver !== 'null' && driver !== 'vc') {
      throw new OptionError(`-parallel ${parallelArgs[i] ?? ''}: parallel ports are not supported yet (only none and null)`);
    }
  });
  for (const m of c.monitors) {
    if (m.mode === 'control') throw new OptionError(`${m.origin || '-mon'}: QMP monitors are not supported yet (mode=readline is)`);
  }
}

export function parseArgs(argv: readonly string[]): ParsedCommand {
  let ramSize = DEFAULT_RAM;
  let kernel: string | null = null;
  let append: string | null = null;
  let initrd: string | null = null;
  const chars = new CharOptions();
  const parallelArgs: string[] = [];
  let startPaused = false;
  let nographic = false;
  let nodefaults = false;
  let noReboot = false;
  let noShutdown = false;
  let debugExit: DebugExitConfig | null = null;
  let icountShift: number | null = null;
  let bios: string | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      // QEMU takes a bare argument as the first hard disk image.
      throw new OptionError(`'${arg}': disk images are not supported yet`);
    }
    // QEMU accepts --option as well as -option.
    const name = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    let value = '';
    if (NEEDS_ARGUMENT.has(name)) {
      if (i + 1 >= argv.length) throw new OptionError(`${arg}: requires an argument`);
      value = argv[++i];
    }
    if (CHAR_OPTIONS.has(name) && !KNOWN_UNSUPPORTED.has(name)) {
      if (name === 'parallel') parallelArgs.push(value);
      try {
        chars.option(name, value);
      } catch (e) {
        if (e instanceof CharOptionError) throw new OptionError(e.message);
        throw e;
      }
      continue;
    }
    switch (name) {
      case 'h':
      case 'help':
        return { action: 'help' };
      case 'version':
        return { action: 'version' };
      case 'm': {
        const kv = parseKeyValues(value, '-m', 'size');
        for (const k of kv.keys()) {
          if (k !== 'size') throw new OptionError(`-m ${value}: '${k}' is not supported yet (memory hotplug)`);
        }
        const size = parseSize(kv.get('size') ?? '', '-m');
        if (size === 0) ramSize = DEFAULT_RAM; // QEMU treats -m 0 as "the default"
        else if (size < 2 * 1024 * 1024) throw new OptionError(`-m ${value}: at least 2 MiB of RAM is needed`);
        else if (size > MAX_RAM) throw new OptionError(`-m ${value}: at most ${MAX_RAM / 2 ** 30} GiB of RAM is supported`);
        else ramSize = size;
        break;
      }
      case 'kernel':
        kernel = value;
        break;
      case 'bios':
        bios = value;
        break;
      case 'append':
        append = value;
        break;
      case 'initrd':
        initrd = value;
        break;
      case 'S':
        startPaused = true;
        break;
      case 'nographic':
        nographic = true;
        break;
      case 'display':
        if (value.split(',')[0] !== 'none') throw new OptionError(`-display ${value}: display '${value.split(',')[0]}' is not supported yet (only 'none')`);
        break;
      case 'vnc':
        if (value !== 'none') throw new OptionError(`-vnc ${value}: VNC is not supported yet (only 'none')`);
        break;
      case 'nodefaults':
        nodefaults = true;
        break;
      case 'machine':
      case 'M':
        parseMachine(value, arg);
        break;
      case 'accel':
        for (const [k, v] of parseKeyValues(value, arg, 'accel')) {
          if (k === 'accel') checkAccel(v, arg, value);
          else throw new OptionError(`${arg} ${value}: accelerator property '${k}' is not supported yet`);
        }
        break;
      case 'smp':
        parseSmp(value);
        break;
      case 'no-reboot':
        noReboot = true;
        break;
      case 'no-shutdown':
        noShutdown = true;
        break;
      case 'icount':
        icountShift = parseIcount(value);
        break;
      case 'device':
        if (debugExit) throw new OptionError(`-device ${value}: only one isa-debug-exit device is supported`);
        debugExit = parseDevice(value);
        break;
      default:
        if (KNOWN_UNSUPPORTED.has(name)) throw new OptionError(`${arg}: option not supported yet`);
        throw new OptionError(`${arg}: unknown option (see tsemu -help)`);
    }
  }

  // -chardev help wins over everything that is checked later.
  if (chars.helpText !== null) return { action: 'print', text: chars.helpText };
  // QEMU's defaults (serial, parallel and monitor on stdio with -nographic, else on the display's
  // consoles, which tsemu has not: they discard output) and every cross-reference are resolved here.
  let chardevs: CharConfig;
  try {
    chardevs = chars.finish({ nographic, nodefaults });
  } catch (e) {
    if (e instanceof CharOptionError) throw new OptionError(e.message);
    throw e;
  }
  checkCharConfig(chardevs, parallelArgs);

  // Without -kernel the machine boots its firmware, as QEMU does.
  if (kernel === null) {
    if (append !== null) throw new OptionError('-append only works together with -kernel');
    if (initrd !== null) throw new OptionError('-initrd only works together with -kernel');
  }

  return {
    action: 'run',
    config: {
      ramSize,
      kernel: kernel ?? '',
      ...(bios !== undefined ? { bios } : {}),
      append: append ?? '',
      initrd: initrd === null ? [] : splitInitrd(initrd),
      serial: chardevs.serials[0] ?? null,
      chardevs,
      nographic,
      startPaused,
      noReboot,
      noShutdown,
      debugExit,
      icountShift,
    },
  };
}

export const USAGE = `usage: tsemu [options]
An x86-64 PC emulator that understands qemu-system-x86_64's command line.

Options tsemu understands:
  -h, -help                 print this help and exit
  -version                  print the version and exit
  -m [size=]N[K|M|G]        guest RAM (plain N is MiB; default 128M)
  -kernel FILE              boot a Multiboot kernel (ELF or a.out-kludge); without it
                            the machine boots its firmware (SeaBIOS)
  -bios FILE                the firmware image (default: bios-256k.bin from Debian's
                            seabios package)
  -append STRING            kernel command line
  -initrd "FILE [ARGS][,FILE [ARGS]...]"
                            Multiboot modules, each with its own string
  -chardev BACKEND,id=ID[,...]
                            a character device: null, stdio, file, pipe, serial, ringbuf,
                            socket (tcp/unix, server, wait, telnet, websocket, reconnect),
                            mux=on, logfile=; -chardev help lists the backends
  -serial DEV               where COM1 goes: stdio, null, none, vc, file:PATH, pipe:PATH,
                            tcp:[HOST]:PORT[,server=on,wait=off,...], telnet:..., unix:PATH,
                            chardev:ID, mon:DEV (shared with a monitor; Ctrl-A c switches)
  -monitor DEV              the human monitor ((qemu) prompt) on DEV, same forms as -serial
  -mon chardev=ID[,mode=readline]
                            a human monitor on a -chardev
  -echr N                   the escape key of multiplexed devices (default 1, Ctrl-A)
  -parallel none|null       accepted (there is no parallel port yet)
  -nographic                no display; COM1 and the monitor share the terminal
                            (Ctrl-A h lists the keys, Ctrl-A x quits)
  -display none, -vnc none  accepted (tsemu has no display yet)
  -nodefaults               no default devices (no COM1 unless -serial, no monitor)
  -S                        do not start the CPU until the monitor's cont
  -machine pc[,accel=tcg], -M pc, -accel tcg, -smp 1
                            accepted for compatibility
  -no-reboot                exit instead of rebooting (triple fault, reset)
  -no-shutdown              stop instead of exiting when the guest shuts down
  -icount [shift=]N         virtual time from the instruction count (2^N ns each): runs repeat
  -device isa-debug-exit[,iobase=ADDR][,iosize=N]
                            a write of v to the port exits with status (v << 1) | 1

Every option can also be written with two dashes (--kernel).
`;
