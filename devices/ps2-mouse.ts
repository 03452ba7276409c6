// A PS/2 mouse (the 8042's auxiliary device). Commands, the status bytes and the 3-byte movement
// packet follow the IBM PS/2 Hardware Interface Technical Reference, "Pointing Device"; the
// IntelliMouse extensions (sample rates 200, 100, 80 -> ID 3 with a wheel byte; 200, 200, 80 ->
// ID 4) follow Microsoft's IntelliMouse PS/2 protocol notes. Where QEMU 7.2's mouse differs from
// the book (no reply at all to an unknown command, wrap mode surviving a reset, deltas clipped to
// +-127) this file does what QEMU does: guests must see the same bytes in both.

export const MOUSE_ACK = 0xfa;
/** Bytes the mouse buffers for the controller. */
export const MOUSE_QUEUE_BYTES = 16;

// Status byte 1 of "Status Request" (0xE9).
const ST_REMOTE = 0x40;
const ST_ENABLED = 0x20;
const ST_SCALING_2_1 = 0x10;

/** Button bits of the first packet byte (and of `setButtons`). */
export const MOUSE_LEFT = 1;
export const MOUSE_RIGHT = 2;
export const MOUSE_MIDDLE = 4;
/** The 4th and 5th buttons, reported by an ID 4 mouse only. */
export const MOUSE_SIDE = 8;
export const MOUSE_EXTRA = 16;

export class Ps2Mouse {
  private queue: number[] = [];
  private lastSent = 0;
  /** 0xE8 or 0xF3 waiting for its parameter, or -1. */
  private awaiting = -1;
  private status = 0;
  private resolution = 0;
  private sampleRate = 0;
  private wrap = false;
  /** 0: standard PS/2 mouse, 3: IntelliMouse (wheel), 4: IntelliMouse Explorer (wheel, 5 buttons). */
  private id = 0;
  /** How far the sample-rate knock got: 0 none, 1 saw 200, 2 saw 200 100, 3 saw 200 200. */
  private knock = 0;
  private dx = 0;
  private dy = 0;
  private dz = 0;
  private buttons = 0;
  private line: (level: boolean) => void = () => {};

  connect(line: (level: boolean) => void): void {
    this.line = line;
  }

  /** Power-on state (QEMU's: rate and resolution 0 until the first reset command). */
  reset(): void {
    this.queue = [];
    this.awaiting = -1;
    this.status = 0;
    this.resolution = 0;
    this.sampleRate = 0;
    this.wrap = false;
    this.id = 0;
    this.knock = 0;
    this.dx = this.dy = this.dz = 0;
    this.buttons = 0;
    this.line(false);
  }

  get hasData(): boolean {
    return this.queue.length > 0;
  }

  read(): number {
    const b = this.queue.shift();
    if (b === undefined) return this.lastSent;
    this.lastSent = b;
    this.line(false);
    if (this.queue.length) this.line(true);
    return b;
  }

  /** A byte the controller forwards to the mouse (command 0xD4). */
  write(value: number): void {
    const v = value & 0xff;
    if (this.awaiting === 0xf3) {
      this.awaiting = -1;
      this.sampleRate = v;
      this.advanceKnock(v);
      this.send(MOUSE_ACK);
      return;
    }
    if (this.awaiting === 0xe8) {
      this.awaiting = -1;
      this.resolution = v;
      this.send(MOUSE_ACK);
      return;
    }
    if (this.wrap) {
      // Wrap (echo) mode: everything comes back except "reset wrap mode" and "reset".
      if (v === 0xec) {
        this.wrap = false;
        this.send(MOUSE_ACK);
        return;
      }
      if (v !== 0xff) {
        this.send(v);
        return;
      }
    }
    switch (v) {
      case 0xe6:
        this.status &= ~ST_SCALING_2_1;
        return this.send(MOUSE_ACK);
      case 0xe7:
        this.status |= ST_SCALING_2_1;
        return this.send(MOUSE_ACK);
      case 0xe8:
      case 0xf3:
        this.awaiting = v;
        return this.send(MOUSE_ACK);
      case 0xe9: // status request: ACK, status, resolution, sample rate
        return this.send(MOUSE_ACK, this.status, this.resolution, this.sampleRate);
      case 0xea:
        this.status &= ~ST_REMOTE;
        return this.send(MOUSE_ACK);
      case 0xeb: // read data (remote mode's poll)
        this.send(MOUSE_ACK);
        this.packet();
        return;
      case 0xee:
        this.wrap = true;
        return this.send(MOUSE_ACK);
      case 0xf0:
        this.status |= ST_REMOTE;
        return this.send(MOUSE_ACK);
      case 0xf2:
        return this.send(MOUSE_ACK, this.id);
      case 0xf4:
        this.status |= ST_ENABLED;
        return this.send(MOUSE_ACK);
      case 0xf5:
        this.status &= ~ST_ENABLED;
        return this.send(MOUSE_ACK);
      case 0xf6: // defaults: 100 samples/s, 4 counts/mm, stream mode, 1:1, disabled
        this.sampleRate = 100;
        this.resolution = 2;
        this.status = 0;
        return this.send(MOUSE_ACK);
      case 0xff:
        this.sampleRate = 100;
        this.resolution = 2;
        this.status = 0;
        this.id = 0;
        this.queue = [];
        return this.send(MOUSE_ACK, 0xaa, this.id);
      default:
        // QEMU ignores anything else (a real mouse would answer "resend").
        return;
    }
  }

  /**
   * Movement from the host: dx to the right, dy downwards (screen direction; PS/2 counts up),
   * dz the wheel (positive = towards the user). Counted only while reporting is enabled;
   * call sync() to send packets.
   */
  move(dx: number, dy: number, dz = 0): void {
    if (!(this.status & ST_ENABLED)) return;
    this.dx += Math.trunc(dx);
    this.dy -= Math.trunc(dy);
    this.dz += Math.trunc(dz);
  }

  /** Buttons pressed now (MOUSE_LEFT | ...). */
  setButtons(mask: number): void {
    if (!(this.status & ST_ENABLED)) return;
    this.buttons = mask & 0x1f;
  }

  /** End of a batch of host events: in stream mode, send packets until the motion is reported. */
  sync(): void {
    if (!(this.status & ST_ENABLED) || this.status & ST_REMOTE) return;
    while (this.packet()) {
      if (this.dx === 0 && this.dy === 0 && this.dz === 0) break;
    }
  }

  /** One movement packet (3 bytes, 4 for IDs 3 and 4) if it fits; false when the buffer is full. */
  private packet(): boolean {
    const size = this.id ? 4 : 3;
    if (MOUSE_QUEUE_BYTES - this.queue.length < size) return false;
    const x = clamp(this.dx, 127);
    const y = clamp(this.dy, 127);
    const bytes = [0x08 | (x < 0 ? 0x10 : 0) | (y < 0 ? 0x20 : 0) | (this.buttons & 7), x & 0xff, y & 0xff];
    if (this.id === 3) {
      const z = clamp(this.dz, 127);
      bytes.push(z & 0xff);
      this.dz -= z;
    } else if (this.id === 4) {
      const z = clamp(this.dz, 7);
      bytes.push((z & 0x0f) | ((this.buttons & 0x18) << 1));
      this.dz -= z;
    } else {
      this.dz = 0;
    }
    this.dx -= x;
    this.dy -= y;
    this.queue.push(...bytes);
    this.line(true);
    return true;
  }

  private advanceKnock(rate: number): void {
    if (this.knock === 1) this.knock = rate === 100 ? 2 : rate === 200 ? 3 : 0;
    else if (this.knock === 2 || this.knock === 3) {
      if (rate === 80) this.id = this.knock === 2 ? 3 : 4;
      this.knock = 0;
    } else if (rate === 200) this.knock = 1;
  }

  /** Queue a reply; a reply that does not fit whole is dropped. */
  private send(...bytes: number[]): void {
    if (MOUSE_QUEUE_BYTES - this.queue.length < bytes.length) return;
    this.queue.push(...bytes);
    this.line(true);
  }
}

function clamp(v: number, limit: number): number {
  return Math.max(-limit, Math.min(limit, v));
}
