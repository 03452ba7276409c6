// The stdio backend: input from stdin, output to stdout. When stdin is a terminal it is put in raw
// mode (keys reach the guest as typed) and restored on every way out (tty-restore.ts).
//
// Raw mode also swallows the terminal's Ctrl-C. QEMU keeps Ctrl-C raising SIGINT unless
// signal=off (which `mon:stdio` and -nographic imply, so Ctrl-C reaches the guest there); with
// signal on, tsemu raises SIGINT itself when the byte arrives.

import { ChardevBase, type ChardevCommon } from './chardev.ts';
import { RawModeGuard, type Listener, type SignalProcess } from './tty-restore.ts';

const CTRL_C = 0x03;

export interface StdinLike {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Where stdio really goes; tests substitute all three. */
export interface StdioHost {
  stdin: StdinLike | null;
  stdout: (bytes: Uint8Array) => void;
  process: SignalProcess;
  /** Called by close(): undo whatever the host set up (listeners on process.stdout). */
  dispose?(): void;
}

/** The process's own stdin and stdout. A reader that went away (`| head`) only stops the output. */
export function processStdioHost(): StdioHost {
  let broken = false;
  const onError = (): void => {
    broken = true;
  };
  process.stdout.on('error', onError);
  return {
    stdin: process.stdin,
    stdout: (bytes) => {
      if (!broken) process.stdout.write(bytes);
    },
    process,
    dispose: () => {
      process.stdout.off('error', onError);
    },
  };
}

export interface StdioOptions extends ChardevCommon {
  /** signal=on (default): Ctrl-C on a raw terminal raises SIGINT instead of reaching the frontend. */
  signal?: boolean;
  host?: StdioHost;
}

export class StdioChardev extends ChardevBase {
  private readonly host: StdioHost;
  private readonly stdin: StdinLike | null;
  private readonly guard: RawModeGuard | null = null;
  private readonly signal: boolean;
  private reading = false;

  constructor(id: string, options: StdioOptions = {}) {
    super(id, 'stdio', options);
    this.host = options.host ?? processStdioHost();
    this.signal = options.signal ?? true;
    const stdin = this.host.stdin;
    this.stdin = stdin;
    if (stdin) {
      // Paused before listening, so adding the listener does not start the flow.
      stdin.pause();
      stdin.on('data', this.onData);
      stdin.on('end', this.onEnd);
      stdin.on('error', this.onError);
      if (stdin.isTTY && stdin.setRawMode) {
        const tty = { isTTY: true, setRawMode: (raw: boolean) => stdin.setRawMode!(raw) };
        this.guard = new RawModeGuard(tty, this.host.process);
        this.guard.enter();
      }
    }
    this.setOpen(true);
  }

  /** True while the terminal is in raw mode because of this chardev. */
  get rawMode(): boolean {
    return this.guard?.isRaw ?? false;
  }

  info(): string {
    return 'stdio';
  }

  protected override frontendChanged(): void {
    if (!this.stdin) return;
    const want = this.wantsInput;
    if (want === this.reading) return;
    this.reading = want;
    if (want) this.stdin.resume();
    else this.stdin.pause();
  }

  protected output(bytes: Uint8Array): void {
    this.host.stdout(bytes);
  }

  protected release(): void {
    const stdin = this.stdin;
    if (stdin) {
      stdin.off('data', this.onData);
      stdin.off('end', this.onEnd);
      stdin.off('error', this.onError);
      stdin.pause();
    }
    this.reading = false;
    this.guard?.restore();
    this.host.dispose?.();
  }

  private readonly onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.signal || !this.rawMode) {
      this.deliver(bytes);
      return;
    }
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== CTRL_C) continue;
      this.deliver(bytes.subarray(start, i));
      start = i + 1;
      // What the terminal would have done without raw mode.
      this.host.process.kill(this.host.process.pid, 'SIGINT');
    }
    this.deliver(bytes.subarray(start));
  };

  private readonly onEnd = (): void => {
    this.setOpen(false);
  };

  private readonly onError = (): void => {
    // A read error on stdin ends input like end of file does.
    this.setOpen(false);
  };
}
