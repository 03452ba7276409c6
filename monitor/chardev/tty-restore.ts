// Puts a terminal in raw mode and makes sure it leaves raw mode however the process ends: an
// orderly close, process exit, SIGINT/SIGTERM/SIGHUP, or an uncaught exception. A shell left in
// raw mode (no echo, no line editing) is the one failure a user cannot easily undo.

export interface RawModeTty {
  readonly isTTY?: boolean;
  setRawMode(raw: boolean): unknown;
}

/** Any event listener (Node's own typings use any[] for them). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Listener = (...args: any[]) => void;

/** The parts of `process` the guard uses (tests pass a fake). */
export interface SignalProcess {
  readonly pid: number;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  listenerCount(event: string): number;
  kill(pid: number, signal?: string | number): unknown;
}

export const RESTORE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class RawModeGuard {
  private active = false;

  constructor(
    private readonly tty: RawModeTty,
    private readonly proc: SignalProcess = process,
  ) {}

  get isRaw(): boolean {
    return this.active;
  }

  /** Raw mode on when the stream is a terminal; false (and nothing done) otherwise. */
  enter(): boolean {
    if (this.active) return true;
    if (!this.tty.isTTY) return false;
    this.tty.setRawMode(true);
    this.active = true;
    this.proc.on('exit', this.onExit);
    this.proc.on('uncaughtExceptionMonitor', this.onExit);
    for (const sig of RESTORE_SIGNALS) this.proc.on(sig, this.onSignal);
    return true;
  }

  /** Back to the mode the terminal had. Idempotent; every hook is removed. */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    this.proc.off('exit', this.onExit);
    this.proc.off('uncaughtExceptionMonitor', this.onExit);
    for (const sig of RESTORE_SIGNALS) this.proc.off(sig, this.onSignal);
    try {
      this.tty.setRawMode(false);
    } catch {
      // The terminal may be gone (SIGHUP); there is nothing left to restore then.
    }
  }

  private readonly onExit = (): void => {
    this.restore();
  };

  private readonly onSignal = (signal: string): void => {
    this.restore();
    // Our listener kept Node from acting on the signal. If nobody else listens, deliver it again
    // now that the terminal is sane, so it does what it would have done (end the process).
    if (this.proc.listenerCount(signal) === 0) this.proc.kill(this.proc.pid, signal);
  };
}
