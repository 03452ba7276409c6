// The character-device options of qemu-system-x86_64: -chardev, -serial, -parallel, -monitor,
// -mon, -qmp, -qmp-pretty, -echr, and the defaults -nographic and -nodefaults imply. The result is
// plain data: the chardevs to create (in QEMU's creation order), which chardev each serial port,
// parallel port and monitor uses, and the mux escape character. Opening happens in open.ts.
//
// Errors are one line in QEMU's words, prefixed with the option they come from
// ("-chardev foo,id=x: 'foo' is not a valid char driver name"); the caller adds "tsemu: ".

import { CHARDEV_HELP, CHARDEV_PARAMS, backendOf, type ChardevBackend } from './backend-spec.ts';
import { boolOpt, checkParams, isIdentifier, splitOptions, type Opts, type OptType } from './opt-syntax.ts';
import { parseCompat } from './shorthand.ts';

export type { ChardevBackend, SocketBackend } from './backend-spec.ts';
export { CHARDEV_HELP };

export class CharOptionError extends Error {
  override readonly name = 'CharOptionError';
}

export interface ChardevSpec {
  /** The name frontends refer to. With `mux`, the mux has this name and the backend "ID-base". */
  id: string;
  backend: ChardevBackend;
  mux: boolean;
  logfile: string | null;
  logappend: boolean;
  /** The option it came from ("-chardev null,id=x", "-serial stdio"), '' for a default device. */
  origin: string;
}

export interface MonitorSpec {
  chardev: string;
  mode: 'readline' | 'control';
  pretty: boolean;
  origin: string;
}

export interface CharConfig {
  /** In QEMU's creation order: -chardev and -monitor ones as given, then serial, then parallel. */
  chardevs: ChardevSpec[];
  /** Chardev id of COM1, COM2...; null where `-serial none` left a port out. */
  serials: (string | null)[];
  parallels: (string | null)[];
  monitors: MonitorSpec[];
  /** -echr: the mux's escape character (Ctrl-A unless given). */
  echr: number;
  /** Deprecation notices and the like, one message each (may hold a second line), for "tsemu: ". */
  warnings: string[];
}

export const DEFAULT_ECHR = 0x01;

/** The options CharOptions.option() takes; each has an argument. */
export const CHAR_OPTIONS: ReadonlySet<string> = new Set(['chardev', 'serial', 'parallel', 'monitor', 'mon', 'qmp', 'qmp-pretty', 'echr']);

const MON_PARAMS = new Map<string, OptType>([
  ['mode', 'string'], ['chardev', 'string'], ['pretty', 'bool'],
]);

/** Where a message is said: "-chardev x: message", or just the message for default devices. */
function at(origin: string, message: string): CharOptionError {
  return new CharOptionError(origin ? `${origin}: ${message}` : message);
}

/** Runs `f`, turning a plain Error's message into a CharOptionError placed at `origin`. */
function placed<T>(origin: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CharOptionError) throw e;
    throw at(origin, (e as Error).message);
  }
}

interface ChardevDef {
  origin: string;
  id: string | undefined;
  opts: Opts;
  mux: boolean;
  /** From -monitor shorthand (its driver errors are worded as for -serial). */
  compat: boolean;
}

interface MonDef {
  chardev: string | undefined;
  mode: string;
  pretty: boolean;
  origin: string;
}

interface DeviceDef {
  value: string;
  origin: string;
}

/** -echr's argument as strtol(…, 0) reads it: the longest number at the start, 0 when there is none. */
function parseEchr(text: string): { value: number; ok: boolean } {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  if (!m) return { value: 0, ok: false };
  const d = m[2]!;
  const n = /^0[xX]/.test(d) ? parseInt(d.slice(2), 16) : d[0] === '0' ? parseInt(d, 8) : parseInt(d, 10);
  return { value: m[1] === '-' ? -n : n, ok: true };
}

/**
 * Collects the options in command-line order (option()), then resolves defaults and references
 * (finish()). Syntax errors surface at option(), the rest at finish(), as in QEMU.
 */
export class CharOptions {
  private readonly defs: ChardevDef[] = [];
  private readonly ids = new Set<string>();
  private readonly mons: MonDef[] = [];
  private readonly serialDefs: DeviceDef[] = [];
  private readonly parallelDefs: DeviceDef[] = [];
  private monitorIndex = 0;
  private defaultSerial = true;
  private defaultParallel = true;
  private defaultMonitor = true;
  private echr = DEFAULT_ECHR;
  private readonly warnings: string[] = [];
  /** Set by `-chardev help`: print it and exit (status 0). */
  helpText: string | null = null;

  /** Takes one option (name without dashes); false when it is not a character-device option. */
  option(name: string, value: string): boolean {
    switch (name) {
      case 'chardev':
        this.chardev(value);
        return true;
      case 'serial':
        this.serialDefs.push({ value, origin: `-serial ${value}` });
        this.defaultSerial = false;
        if (value.startsWith('mon:')) this.defaultMonitor = false;
        return true;
      case 'parallel':
        this.parallelDefs.push({ value, origin: `-parallel ${value}` });
        this.defaultParallel = false;
        if (value.startsWith('mon:')) this.defaultMonitor = false;
        return true;
      case 'monitor':
        this.defaultMonitor = false;
        // QEMU compares only the first four characters.
        if (!value.startsWith('none')) this.monitorShorthand(value, 'readline', false, `-monitor ${value}`);
        return true;
      case 'qmp':
      case 'qmp-pretty':
        this.defaultMonitor = false;
        this.monitorShorthand(value, 'control', name === 'qmp-pretty', `-${name} ${value}`);
        return true;
      case 'mon':
        this.defaultMonitor = false;
        this.mon(value);
        return true;
      case 'echr': {
        const r = parseEchr(value);
        if (!r.ok) this.warnings.push('Bad argument to echr');
        this.echr = r.value;
        return true;
      }
      default:
        return false;
    }
  }

  /** Resolves defaults, names and references. `nographic`/`nodefaults` are the flags as given. */
  finish(flags: { nographic: boolean; nodefaults: boolean }): CharConfig {
    const defs = [...this.defs];
    const mons = [...this.mons];
    const serialDefs = [...this.serialDefs];
    const parallelDefs = [...this.parallelDefs];
    let monitorIndex = this.monitorIndex;
    const addMonitorDef = (value: string): void => {
      const label = `compat_monitor${monitorIndex++}`;
      const r = parseCompat(value);
      if (!r) throw new CharOptionError(`parse error: ${value}`);
      defs.push({ origin: '', id: label, opts: r.opts, mux: r.mux, compat: true });
      mons.push({ chardev: label, mode: 'readline', pretty: false, origin: '' });
    };
    if (!flags.nodefaults) {
      if (flags.nographic) {
        if (this.defaultParallel) parallelDefs.push({ value: 'null', origin: '' });
        if (this.defaultSerial && this.defaultMonitor) serialDefs.push({ value: 'mon:stdio', origin: '' });
        else {
          if (this.defaultSerial) serialDefs.push({ value: 'stdio', origin: '' });
          if (this.defaultMonitor) addMonitorDef('stdio');
        }
      } else {
        if (this.defaultSerial) serialDefs.push({ value: 'vc:80Cx24C', origin: '' });
        if (this.defaultParallel) parallelDefs.push({ value: 'vc:80Cx24C', origin: '' });
        if (this.defaultMonitor) addMonitorDef('vc:80Cx24C');
      }
    }

    const warnings = [...this.warnings];
    const chardevs: ChardevSpec[] = [];
    const byId = new Map<string, ChardevSpec>();
    /** Names taken, including the "-base" of muxes. */
    const names = new Set<string>();
    let stdioUsed = false;
    const create = (def: ChardevDef): ChardevSpec =>
      placed(def.origin, () => {
        if (def.id === undefined) throw new Error('chardev: no id specified');
        const backend = backendOf(def.id, def.opts, def.compat);
        if (def.opts.get('backend') === 'tty') warnings.push(`${def.origin}: warning: The alias 'tty' is deprecated, use 'serial' instead`);
        if (backend.driver === 'stdio') {
          if (stdioUsed) throw new Error('cannot use stdio by multiple character devices');
          stdioUsed = true;
        }
        const logfile = def.opts.get('logfile') ?? null;
        const spec: ChardevSpec = { id: def.id, backend, mux: def.mux, logfile, logappend: boolOpt(def.opts, 'logappend', false), origin: def.origin };
        for (const name of spec.mux ? [`${spec.id}-base`, spec.id] : [spec.id]) {
          if (names.has(name)) throw new Error(`attempt to add duplicate property '${name}' to object (type 'container')`);
          names.add(name);
        }
        chardevs.push(spec);
        byId.set(spec.id, spec);
        return spec;
      });
    for (const def of defs) create(def);

    // Frontends per chardev: more than one needs a mux.
    const users = new Map<string, number>();
    const use = (id: string, origin: string): void => {
      const n = (users.get(id) ?? 0) + 1;
      users.set(id, n);
      if (n > 1 && !byId.get(id)?.mux) throw at(origin, `Device '${id}' is in use`);
    };

    const monitors: MonitorSpec[] = [];
    for (const m of mons) {
      placed(m.origin, () => {
        if (m.chardev === undefined) throw new Error("Parameter 'chardev' is missing");
        if (m.mode !== 'readline' && m.mode !== 'control') throw new Error(`Parameter 'mode' does not accept value '${m.mode}'`);
        if (m.pretty && m.mode === 'readline') throw new Error("'pretty' is not compatible with HMP monitors");
        if (!byId.has(m.chardev)) throw new Error(`chardev "${m.chardev}" not found`);
      });
      use(m.chardev!, m.origin);
      monitors.push({ chardev: m.chardev!, mode: m.mode as 'readline' | 'control', pretty: m.pretty, origin: m.origin });
    }

    /** -serial/-parallel: a chardev named PREFIXn (or an existing one for chardev:ID). */
    const devices = (list: DeviceDef[], prefix: string, what: string): (string | null)[] => {
      const out: (string | null)[] = [];
      list.forEach((d, index) => {
        if (d.value === 'none') {
          out.push(null);
          return;
        }
        const fail = `could not connect ${what} device to character backend '${d.value}'`;
        if (d.value.startsWith('chardev:')) {
          const id = d.value.slice(8);
          if (!byId.has(id)) throw at(d.origin, fail);
          out.push(id);
          return;
        }
        const label = `${prefix}${index}`;
        const r = placed(d.origin, () => parseCompat(d.value));
        if (!r) throw at(d.origin, fail);
        create({ origin: d.origin, id: label, opts: r.opts, mux: r.mux, compat: true });
        // mon:X puts a monitor on the same mux.
        if (r.mux) {
          users.set(label, (users.get(label) ?? 0) + 1);
          monitors.push({ chardev: label, mode: 'readline', pretty: false, origin: d.origin });
        }
        out.push(label);
      });
      return out;
    };
    const serials = devices(serialDefs, 'serial', 'serial');
    const parallels = devices(parallelDefs, 'parallel', 'parallel');
    // The devices take their chardevs last (QEMU reports a clash without saying which option).
    for (const id of [...serials, ...parallels]) if (id !== null) use(id, '');

    return { chardevs, serials, parallels, monitors, echr: this.echr, warnings };
  }

  private chardev(text: string): void {
    const origin = `-chardev ${text}`;
    if (text === 'help' || text === '?') {
      this.helpText = CHARDEV_HELP;
      return;
    }
    const elems = splitOptions(text, 'backend');
    // QEMU finds the id with a scan that knows no implied driver name, so "null,,id=x" has the id
    // "x" although its driver is "null,id=x".
    const id = splitOptions(text).find((e) => e.key === 'id' && !e.bare)?.value;
    placed(origin, () => {
      if (id !== undefined) {
        if (!isIdentifier(id)) throw new Error("Parameter 'id' expects an identifier");
        if (this.ids.has(id)) throw new Error(`Duplicate ID '${id}' for chardev`);
      }
    });
    const opts = placed(origin, () => checkParams(elems, CHARDEV_PARAMS, (w) => this.warnings.push(`${origin}: ${w}`)));
    if (id !== undefined) this.ids.add(id);
    this.defs.push({ origin, id, opts, mux: boolOpt(opts, 'mux', false), compat: false });
  }

  private monitorShorthand(value: string, mode: 'readline' | 'control', pretty: boolean, origin: string): void {
    const label = `compat_monitor${this.monitorIndex++}`;
    if (value.startsWith('chardev:')) {
      this.mons.push({ chardev: value.slice(8), mode, pretty, origin });
      return;
    }
    const r = placed(origin, () => parseCompat(value));
    if (!r) throw at(origin, `parse error: ${value}`);
    if (this.ids.has(label)) throw at(origin, `Duplicate ID '${label}' for chardev`);
    this.ids.add(label);
    this.defs.push({ origin, id: label, opts: r.opts, mux: r.mux, compat: true });
    this.mons.push({ chardev: label, mode, pretty, origin });
  }

  private mon(text: string): void {
    const origin = `-mon ${text}`;
    const elems = splitOptions(text, 'chardev');
    const o = placed(origin, () => checkParams(elems, MON_PARAMS, (w) => this.warnings.push(`${origin}: ${w}`)));
    const pretty = placed(origin, () => boolOpt(o, 'pretty', false));
    this.mons.push({ chardev: o.get('chardev'), mode: o.get('mode') ?? 'readline', pretty, origin });
  }
}

/** Convenience for tests and simple callers: options as [name, value] pairs in command-line order. */
export function parseCharOptions(options: [string, string][], flags: { nographic?: boolean; nodefaults?: boolean } = {}): CharConfig {
  const c = new CharOptions();
  for (const [name, value] of options) {
    if (!c.option(name, value)) throw new CharOptionError(`-${name}: not a character device option`);
  }
  return c.finish({ nographic: flags.nographic ?? false, nodefaults: flags.nodefaults ?? false });
}
