// A conversation with the Linux test guest on its serial console: start an emulator (tsemu or
// qemu-system-x86_64) with -nographic, wait for the busybox prompt, type commands and collect what
// they print, then wait for the emulator to end. Used by test/linux-guest.test.ts and
// bench/boot.ts.
//
// Typing too early loses keys: when busybox's shell draws its prompt it first asks the terminal
// where the cursor is (ESC [ 6 n) and takes the next input as the answer, so every command is sent
// a moment (TYPE_DELAY_MS) after the prompt has appeared.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { guestImagePaths } from './initramfs.ts';
import type { KernelFlavour } from './debian-packages.ts';

/**
 * The guest shell's prompt in its home folder (images/initramfs.ts PROFILE: PS1='\w # ' in /root),
 * at the start of a line, with busybox's cursor-position query when it is already there.
 */
export const PROMPT = /\n~ # (?:\x1b\[6n)?/;
export const TYPE_DELAY_MS = 1000;
/** The kernel command line of the test guest: the console on COM1, reboot at once on a panic. */
export const GUEST_APPEND = 'console=ttyS0 panic=-1';
export const GUEST_RAM_MB = 512;

/** The emulator arguments that boot the test guest of `flavour` (the same for tsemu and QEMU). */
export function guestArgs(flavour: KernelFlavour, extra: readonly string[] = []): string[] {
  const { kernel, initramfs } = guestImagePaths(flavour);
  return ['-nographic', '-no-reboot', '-m', String(GUEST_RAM_MB), '-kernel', kernel, '-initrd', initramfs, '-append', GUEST_APPEND, ...extra];
}

export class GuestTimeout extends Error {
  override readonly name = 'GuestTimeout';
}

export class GuestConsole {
  /** Everything the guest wrote to its console so far (latin1, CR LF as sent). */
  output = '';
  /** Exit status (or the signal's name) once the emulator has ended. */
  status: number | string | null = null;
  readonly started = performance.now();
  private readonly child: ChildProcessWithoutNullStreams;
  /** Where the next waitFor() starts looking. */
  private cursor = 0;
  private stderrText = '';
  private readonly waiters = new Set<() => void>();
  private readonly exited: Promise<number | string>;

  constructor(command: string, args: readonly string[], onOutput?: (text: string) => void) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      this.output += text;
      onOutput?.(text);
      this.notify();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderrText += d.toString('latin1');
    });
    // A guest that is gone cannot take input: ignore EPIPE on its stdin.
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.stderrText += `${e.message}\n`;
        this.status = 'spawn error';
        this.notify();
        resolve(this.status);
      });
      this.child.on('exit', (code, signal) => {
        this.status = code ?? signal ?? 'unknown';
        this.notify();
        resolve(this.status);
      });
    });
  }

  /** Seconds since the emulator was started. */
  get elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** What the emulator wrote on stderr. */
  get stderr(): string {
    return this.stderrText;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Wait until `pattern` appears after the cursor; moves the cursor past it and returns the text
   * from the old cursor up to the end of the match. Rejects with GuestTimeout, or if the emulator
   * ends first.
   */
  waitFor(pattern: RegExp | string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const rest = this.output.slice(this.cursor);
        let end = -1;
        if (typeof pattern === 'string') {
          const i = rest.indexOf(pattern);
          if (i >= 0) end = i + pattern.length;
        } else {
          const m = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
          if (m) end = m.index + m[0].length;
        }
        if (end >= 0) {
          finish();
          this.cursor += end;
          resolve(rest.slice(0, end));
        } else if (this.status !== null) {
          finish();
          reject(new GuestTimeout(`the emulator ended (status ${this.status}) before the guest printed ${String(pattern)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new GuestTimeout(`no ${String(pattern)} from the guest within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Wait for the shell's prompt; returns what came before it. */
  async prompt(timeoutMs: number): Promise<string> {
    return this.waitFor(PROMPT, timeoutMs);
  }

  /** Type a line (after TYPE_DELAY_MS, so busybox has finished drawing its prompt). */
  async type(line: string): Promise<void> {
    await new Promise((r) => setTimeout(r, TYPE_DELAY_MS));
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * Run a shell command at the prompt (which must have been seen already) and return its output:
   * the lines between the echoed command and the next prompt, with CR LF turned into LF, without
   * kernel messages that the console printed in between ("[   12.345678] ...").
   */
  async run(command: string, timeoutMs: number): Promise<string> {
    await this.type(command);
    const text = await this.prompt(timeoutMs);
    const lines = text.replace(/\r/g, '').split('\n');
    // First line: the echo of the command (after any terminal query); last: the prompt.
    const start = lines.findIndex((l) => l.endsWith(command));
    return lines
      .slice(start + 1, -1)
      .filter((l) => !/^\[\s*\d+\.\d+\] /.test(l))
      .join('\n');
  }

  /** Wait for the emulator to end; its status, or GuestTimeout. */
  async exit(timeoutMs: number): Promise<number | string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new GuestTimeout(`the emulator did not end within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** End the emulator if it still runs (SIGTERM, then SIGKILL). */
  async kill(): Promise<void> {
    if (this.status !== null) return;
    this.child.kill('SIGTERM');
    try {
      await this.exit(5000);
    } catch {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
