// QEMU's character multiplexer (`-serial mon:stdio`, `-nographic`): one host character device
// shared by several frontends (the serial port and the monitor). Output of every frontend goes to
// the host; input goes to the frontend that has the focus. An escape key (Ctrl-A unless -echr says
// otherwise) followed by a command key controls the mux:
//   h or ?  list the keys          x  print "QEMU: Terminated" and exit
//   s       commit -snapshot data  t  toggle "[HH:MM:SS.mmm] " timestamps on output lines
//   b       break to the focus     c  focus the next frontend
//   the escape key again sends it; any other key is dropped.
// Help text, the exit line and the timestamps are byte for byte what QEMU 7.2 writes.

/** The host side: anything with write(bytes), such as the chardevs in monitor/chardev/. */
export interface ChardevWriter {
  write(bytes: Uint8Array): void;
  /** Stop/restart reading the host while the focused frontend has no room (optional). */
  setInputPaused?(paused: boolean): void;
}

/**
 * Events a frontend gets: 'opened' once the machine is ready (QEMU: the monitor prints its banner),
 * 'focus-in'/'focus-out' when C-a c moves the input, 'break' for C-a b, 'closed' when the host
 * side goes away.
 */
export type ChardevEvent = 'opened' | 'closed' | 'break' | 'focus-in' | 'focus-out';

export interface MuxFrontend {
  /** Input while this frontend has the focus. */
  receive(bytes: Uint8Array): void;
  /** How many bytes receive() may get now; absent means any number. */
  canReceive?(): number;
  event?(event: ChardevEvent): void;
}

/** A frontend's handle on the mux. */
export interface MuxPort extends ChardevWriter {
  readonly index: number;
  /** The frontend has room again: hand it the input the mux kept for it. */
  acceptInput(): void;
  /** Move the focus to this frontend. */
  takeFocus(): void;
}

export interface MuxOptions {
  backend: ChardevWriter;
  /** The escape byte (-echr); default 0x01, Ctrl-A. */
  escapeChar?: number;
  /** C-a x, after the "QEMU: Terminated" line: the machine should exit (status 0). */
  onExit: () => void;
  /** C-a s: write -snapshot overlays back to their images. */
  onCommit?: () => void;
  /** Milliseconds for the timestamps (default: the host's monotonic clock, as QEMU's realtime clock). */
  now?: () => number;
}

/**
 * Input kept for a frontend that cannot take it yet. Like QEMU, the mux asks the host side to stop
 * reading once 32 bytes wait; a host that cannot pause gets a larger queue, then drops.
 */
const QUEUE_PAUSE = 32;
const QUEUE_LIMIT = 1 << 20;

const COMMAND_KEYS: readonly (readonly [string, string])[] = [
  ['h', 'print this help'],
  ['x', 'exit emulator'],
  ['s', 'save disk data back to file (if -snapshot)'],
  ['t', 'toggle console timestamps'],
  ['b', 'send break (magic sysrq)'],
  ['c', 'switch between console and monitor'],
];

export class Mux {
  private readonly frontends: MuxFrontend[] = [];
  private readonly queues: number[][] = [];
  private focus = -1;
  private opened = false;
  private escapePending = false;
  private timestamps = false;
  private timestampStart = -1;
  private lineStart = false;
  /** After C-a x nothing more is read (QEMU leaves its main loop). */
  private exited = false;
  private inputPaused = false;
  private readonly escapeChar: number;
  private readonly now: () => number;

  constructor(private readonly options: MuxOptions) {
    this.escapeChar = options.escapeChar ?? 0x01;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Add a frontend. Like QEMU, the newest frontend takes the focus: attach the monitor before the
   * serial port and the serial port starts with the focus (`-serial mon:stdio`).
   */
  attach(frontend: MuxFrontend): MuxPort {
    const index = this.frontends.length;
    this.frontends.push(frontend);
    this.queues.push([]);
    const port: MuxPort = {
      index,
      write: (bytes) => this.write(bytes),
      acceptInput: () => {
        if (this.focus === index) this.drain();
      },
      takeFocus: () => this.setFocus(index),
    };
    this.setFocus(index);
    if (this.opened) frontend.event?.('opened');
    return port;
  }

  /** The machine is ready: every frontend gets 'opened' (QEMU does this once machine init is done). */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    for (const f of this.frontends) f.event?.('opened');
  }

  /** Index of the frontend that has the focus (-1 before any is attached). */
  get focusIndex(): number {
    return this.focus;
  }

  setFocus(index: number): void {
    if (index < 0 || index >= this.frontends.length) return;
    if (this.focus !== -1) this.frontends[this.focus].event?.('focus-out');
    this.focus = index;
    this.frontends[index].event?.('focus-in');
    this.updatePause();
  }

  /**
   * An event of the host side (it opened, closed, or saw a line break): every frontend hears of
   * it. With receive() this makes the mux a frontend of a chardev.
   */
  event(event: ChardevEvent): void {
    if (!this.opened) return;
    for (const f of this.frontends) f.event?.(event);
  }

  /** Input from the host. */
  receive(bytes: Uint8Array): void {
    if (this.exited) return;
    this.drain();
    let run: number[] = [];
    const deliver = () => {
      if (run.length) this.deliver(run);
      run = [];
    };
    for (const b of bytes) {
      if (this.exited) break;
      if (this.escapePending) {
        this.escapePending = false;
        if (b === this.escapeChar) {
          run.push(b);
          continue;
        }
        // The keys act in order with the input around them.
        deliver();
        this.command(b);
      } else if (b === this.escapeChar) {
        deliver();
        this.escapePending = true;
      } else {
        run.push(b);
      }
    }
    deliver();
  }

  /** Output of a frontend, with a timestamp at each line start while timestamps are on. */
  private write(bytes: Uint8Array): void {
    if (!this.timestamps) {
      this.options.backend.write(bytes);
      return;
    }
    const out: number[] = [];
    for (const b of bytes) {
      if (this.lineStart) {
        for (const c of this.stamp()) out.push(c.charCodeAt(0));
        this.lineStart = false;
      }
      out.push(b);
      if (b === 0x0a) this.lineStart = true;
    }
    this.options.backend.write(Uint8Array.from(out));
  }

  private stamp(): string {
    let ms = Math.floor(this.now());
    if (this.timestampStart === -1) this.timestampStart = ms;
    ms -= this.timestampStart;
    const secs = Math.trunc(ms / 1000);
    const two = (n: number) => String(n).padStart(2, '0');
    return `[${two(Math.trunc(secs / 3600))}:${two(Math.trunc(secs / 60) % 60)}:${two(secs % 60)}.${String(ms % 1000).padStart(3, '0')}] `;
  }

  private writeText(text: string): void {
    this.write(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  }

  /** The key after the escape key. */
  private command(key: number): void {
    switch (String.fromCharCode(key)) {
      case '?':
      case 'h':
        this.printHelp();
        break;
      case 'x':
        this.writeText('QEMU: Terminated\n\r');
        this.exited = true;
        this.options.onExit();
        break;
      case 's':
        this.options.onCommit?.();
        break;
      case 'b':
        if (this.focus >= 0) this.frontends[this.focus].event?.('break');
        break;
      case 'c':
        if (this.frontends.length > 0) this.setFocus((this.focus + 1) % this.frontends.length);
        break;
      case 't':
        this.timestamps = !this.timestamps;
        this.timestampStart = -1;
        this.lineStart = false;
        break;
    }
  }

  private printHelp(): void {
    const c = this.escapeChar;
    // Control keys are named C-a .. C-y; any other escape byte is described once in hex.
    const named = c > 0 && c < 26;
    const label = named ? `C-${String.fromCharCode(c - 1 + 0x61)}` : 'Escape-Char';
    let text = named ? '\n\r' : `\n\rEscape-Char set to Ascii: 0x${c.toString(16).padStart(2, '0')}\n\r\n\r`;
    for (const [key, what] of COMMAND_KEYS) text += `${label} ${key}    ${what}\n\r`;
    text += `${label} ${label}  sends ${label}\n\r`;
    this.writeText(text);
  }

  /** Give input to the focused frontend, keeping what it cannot take yet. */
  private deliver(bytes: number[]): void {
    const i = this.focus;
    if (i < 0) return;
    const queue = this.queues[i];
    if (queue.length === 0) {
      const room = this.room(i);
      const now = Math.min(room, bytes.length);
      if (now > 0) this.frontends[i].receive(Uint8Array.from(bytes.slice(0, now)));
      bytes = bytes.slice(now);
    }
    for (const b of bytes) {
      if (queue.length >= QUEUE_LIMIT) break;
      queue.push(b);
    }
    this.updatePause();
  }

  private updatePause(): void {
    const waiting = this.focus >= 0 ? this.queues[this.focus].length : 0;
    const pause = waiting >= QUEUE_PAUSE;
    if (pause !== this.inputPaused) {
      this.inputPaused = pause;
      this.options.backend.setInputPaused?.(pause);
    }
  }

  private room(i: number): number {
    const f = this.frontends[i];
    return f.canReceive ? Math.max(0, f.canReceive()) : Number.MAX_SAFE_INTEGER;
  }

  /** Hand queued input to the focused frontend while it has room. */
  private drain(): void {
    const i = this.focus;
    if (i < 0) return;
    const queue = this.queues[i];
    while (queue.length > 0) {
      const n = Math.min(this.room(i), queue.length);
      if (n <= 0) break;
      this.frontends[i].receive(Uint8Array.from(queue.splice(0, n)));
    }
    this.updatePause();
  }
}
