// The human monitor (HMP): readline in front, the command table behind, output to a character
// device or a mux port. Its events follow QEMU 7.2's: the banner comes with 'opened', output is
// held while a mux gives the focus to another frontend (and written when the focus comes back,
// before the prompt), and the line being typed is dropped when the focus leaves.

import type { ChardevEvent, ChardevWriter, MuxFrontend } from '../mux.ts';
import { Readline } from '../readline.ts';
import { commandMatches, findCommand, HMP_COMMANDS, type HmpCommand, type HmpSession } from './commands.ts';
import { isSpace } from './format.ts';
import { parseArguments, splitWords, type ParseContext } from './parse.ts';
import { registerValue } from './registers.ts';
import type { MonitorTarget } from './target.ts';

export interface HumanMonitorOptions {
  target: MonitorTarget;
  /**
   * QEMU prints two string-syntax errors ("unterminated string", "unsupported escape code") with
   * printf(), so they land on its stdout rather than in the monitor. Default: process.stdout.
   */
  stdout?: (text: string) => void;
  /** The command table (tests); default: everything tsemu implements. */
  commands?: readonly HmpCommand[];
}

const PROMPT = '(qemu) ';

function toBytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

export class HumanMonitor implements MuxFrontend {
  readonly readline: Readline;
  readonly target: MonitorTarget;
  /** The /fmt defaults shared by x, xp, print, i and o. */
  readonly fmt = { format: 'x', size: 4 };
  cpuIndex = 0;
  private readonly commands: readonly HmpCommand[];
  private readonly stdout: (text: string) => void;
  private out: ChardevWriter | null = null;
  private held: string[] = [];
  /** A mux gave the focus to another frontend. */
  private muxOut = false;
  /** 'opened' has been seen (QEMU's reset_seen). */
  private opened = false;
  private suspended = 0;
  private quitting = false;
  private capture: string[] | null = null;
  private readonly session: HmpSession;

  constructor(options: HumanMonitorOptions) {
    this.target = options.target;
    this.commands = options.commands ?? HMP_COMMANDS;
    this.stdout = options.stdout ?? ((t) => void process.stdout.write(toBytes(t)));
    this.readline = new Readline(
      { print: (t) => this.print(t), flush: () => this.flush() },
      (text) => this.complete(text),
    );
    this.readline.start(PROMPT, (line) => this.onLine(line));
    const self = this;
    this.session = {
      target: this.target,
      print: (t) => this.print(t),
      get cpuIndex() {
        return self.cpuIndex;
      },
      history: () => this.readline.history(),
      help: (name) => this.help(name),
      quit: () => {
        this.quitting = true;
        this.suspended++;
        this.target.quit();
      },
    };
  }

  /** Where the output goes: a chardev or a mux port. Output made before this is kept for it. */
  connect(out: ChardevWriter): void {
    this.out = out;
    this.flush();
  }

  // ---- the frontend side (MuxFrontend, or a plain chardev's input and events) ----

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      // Nothing is read once `quit` ran (QEMU never resumes the monitor then).
      if (this.quitting) return;
      this.readline.handleByte(b);
    }
  }

  canReceive(): number {
    return this.suspended > 0 ? 0 : 4096;
  }

  event(event: ChardevEvent): void {
    switch (event) {
      case 'opened': {
        const v = this.target.version;
        this.print(`QEMU ${v.major}.${v.minor}.${v.micro} monitor - type 'help' for more information\n`);
        if (!this.muxOut) {
          this.readline.restart();
          this.readline.showPrompt();
        }
        this.opened = true;
        break;
      }
      case 'focus-in':
        this.muxOut = false;
        if (this.opened) {
          this.readline.restart();
          this.flush();
          this.resume();
        } else {
          this.suspended = 0;
        }
        break;
      case 'focus-out':
        if (this.opened) {
          if (this.suspended === 0) this.print('\n');
          this.flush();
          this.suspended++;
        } else {
          this.suspended++;
        }
        this.muxOut = true;
        break;
      default:
        break;
    }
  }

  // ---- output ----

  /** Monitor output: "\n" becomes "\r\n"; a C string ends at NUL, and so does each print. */
  print(text: string): void {
    const nul = text.indexOf('\0');
    if (nul >= 0) text = text.slice(0, nul);
    if (this.capture) {
      this.capture.push(text);
      return;
    }
    this.held.push(text.replace(/\n/g, '\r\n'));
    if (!this.muxOut && this.out) this.flush();
  }

  private flush(): void {
    if (this.muxOut || !this.out || this.held.length === 0) return;
    const text = this.held.join('');
    this.held = [];
    this.out.write(toBytes(text));
  }

  private resume(): void {
    if (this.suspended === 0) return;
    if (--this.suspended === 0 && !this.quitting) {
      this.readline.restart();
      this.readline.showPrompt();
    }
  }

  // ---- commands ----

  private onLine(line: string): void {
    this.suspended++;
    this.execute(line);
    this.resume();
  }

  /**
   * Run one command line as if typed (QMP's human-monitor-command does this too); returns its
   * output with "\n" line ends. Never throws.
   */
  runCommand(line: string): string {
    const saved = this.capture;
    this.capture = [];
    try {
      this.execute(line);
      return this.capture.join('');
    } finally {
      this.capture = saved;
    }
  }

  private execute(line: string): void {
    const nul = line.indexOf('\0');
    if (nul >= 0) line = line.slice(0, nul);
    try {
      this.dispatch(line);
    } catch (e) {
      // A failing machine call must not take the monitor down.
      this.print(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  private dispatch(line: string): void {
    let table = this.commands;
    let pos = 0;
    let cmd: HmpCommand;
    for (;;) {
      let p = pos;
      while (isSpace(line[p])) p++;
      if (p >= line.length) return; // an empty line
      const start = p;
      while (p < line.length && line[p] !== '/' && !isSpace(line[p])) p++;
      const found = findCommand(table, line.slice(start, Math.min(p, start + 255)));
      if (!found) {
        this.print(`unknown command: '${line.slice(0, p)}'\n`);
        return;
      }
      while (isSpace(line[p])) p++;
      pos = p;
      cmd = found;
      if (found.subTable && p < line.length) {
        table = found.subTable;
        continue;
      }
      break;
    }
    if (!cmd.run) {
      this.print(`Command "${line.slice(0, pos)}" is not available.\n`);
      return;
    }
    const ctx: ParseContext = {
      cmdName: cmd.name,
      print: (t) => this.print(t),
      stdout: this.stdout,
      register: (name) => {
        const regs = this.target.registers(this.cpuIndex);
        return regs ? registerValue(regs, name) : null;
      },
      fmt: this.fmt,
    };
    const args = parseArguments(cmd.argsType, line, pos, ctx);
    if (!args) {
      let end = pos;
      while (end > 0 && isSpace(line[end - 1])) end--;
      this.print(`Try "help ${line.slice(0, end)}" for more information\n`);
      return;
    }
    cmd.run(this.session, args);
  }

  /** `help`, `help x`, `help info status`: one line per command, "name params -- text". */
  private help(name: string | null): void {
    let words: string[] = [];
    if (name !== null) {
      const w = splitWords(name, this.stdout);
      if (!w) return;
      words = w;
    }
    this.helpFrom(this.commands, words, 0);
  }

  private helpFrom(table: readonly HmpCommand[], words: string[], index: number): void {
    const line = (cmd: HmpCommand) =>
      this.print(words.slice(0, index).map((w) => w + ' ').join('') + `${cmd.name} ${cmd.params} -- ${cmd.help}\n`);
    if (index >= words.length) {
      table.forEach(line);
      return;
    }
    const cmd = findCommand(table, words[index]);
    if (!cmd) {
      this.print(`unknown command: '${words.slice(0, index + 1).join(' ')}'\n`);
      return;
    }
    if (cmd.subTable) this.helpFrom(cmd.subTable, words, index + 1);
    else line(cmd);
  }

  // ---- completion ----

  private complete(text: string): { start: number; candidates: string[] } | null {
    const words = splitWords(text, this.stdout);
    if (!words) return null;
    // A blank at the end means a new, empty word is being started.
    if (text.length > 0 && isSpace(text[text.length - 1])) {
      if (words.length >= 16) return null;
      words.push('');
    }
    const result = { start: 0, candidates: [] as string[] };
    this.completeIn(this.commands, words, result);
    return result;
  }

  private completeIn(table: readonly HmpCommand[], words: string[], result: { start: number; candidates: string[] }): void {
    if (words.length <= 1) {
      const typed = words[0] ?? '';
      result.start = typed.length;
      for (const cmd of table) {
        for (const name of cmd.name.split('|')) {
          if (name.slice(0, 126).startsWith(typed)) result.candidates.push(name.slice(0, 126));
        }
      }
      return;
    }
    const cmd = table.find((c) => commandMatches(words[0], c.name));
    if (!cmd) return;
    if (cmd.subTable) {
      this.completeIn(cmd.subTable, words.slice(1), result);
      return;
    }
    // Walk the argument types to the one being typed; of tsemu's commands only help completes
    // an argument (a command name).
    const nextType = (t: string) => {
      const colon = t.indexOf(':');
      return colon >= 0 ? t.slice(colon + 1) : t;
    };
    let type = nextType(cmd.argsType);
    for (let i = 0; i < words.length - 2; i++) {
      if (type !== '') {
        type = nextType(type);
        while (type[0] === '?') type = nextType(type);
      }
    }
    let previous: string | null = null;
    while (type[0] === '-' && previous !== type) {
      previous = type;
      type = nextType(type);
    }
    if ((type[0] === 's' || type[0] === 'S') && cmd.name === 'help|?') {
      this.completeIn(this.commands, words.slice(1), result);
    }
  }
}
