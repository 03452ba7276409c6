// A PS/2 (MF2) keyboard as it sits behind the 8042 controller. Commands and replies follow the
// IBM PS/2 Hardware Interface Technical Reference, "Keyboard" ("Commands from the System",
// "Commands to the System"); the scan codes are its scan code set 2 (set 1 is produced the way
// the 8042 translates, see SET2_TO_SET1). Where QEMU 7.2's keyboard answers differently from that
// book (0x00 and 0x05 as commands, unknown commands, the reply to "identify" when the controller
// translates), this file answers as QEMU does: guests must see the same bytes in both.
//
// The host presses keys by QEMU key name ("a", "ret", "ctrl", "alt", "delete", "f1"...), the
// names of QEMU's QKeyCode (HMP `sendkey`). Sets 1 and 2 are produced; in set 3 key events are
// dropped (no PC guest selects it). Typematic repeat is the host's business, as in QEMU.

/** A byte the keyboard sends in reply to a command it accepted (IBM: "Acknowledge"). */
export const ACK = 0xfa;
/** "Resend": the command was not understood. */
export const RESEND = 0xfe;
/** Basic assurance test passed (after a reset). */
export const BAT_OK = 0xaa;

/** Scan codes waiting for the controller, at most (PS/2 keyboards buffer 16 bytes). */
export const KEYBOARD_QUEUE_BYTES = 16;

/**
 * The 8042's translation of scan code set 2 into the PC/XT codes of set 1 (IBM PS/2 Technical
 * Reference, "Keyboard/Auxiliary Device Controller", scan code translation), for codes 0x00-0x7F,
 * 16 per line. Codes from 0x80 up pass unchanged except F7 (0x83 -> 0x41) and SysRq (0x84 -> 0x54).
 */
const LOW_TRANSLATION =
  'ff 43 41 3f 3d 3b 3c 58 64 44 42 40 3e 0f 29 59 ' +
  '65 38 2a 70 1d 10 02 5a 66 71 2c 1f 1e 11 03 5b ' +
  '67 2e 2d 20 12 05 04 5c 68 39 2f 21 14 13 06 5d ' +
  '69 31 30 23 22 15 07 5e 6a 72 32 24 16 08 09 5f ' +
  '6b 33 25 17 18 0b 0a 60 6c 34 35 26 27 19 0c 61 ' +
  '6d 73 28 74 1a 0d 62 6e 3a 36 1c 1b 75 2b 63 76 ' +
  '55 56 77 78 79 7a 0e 7b 7c 4f 7d 4b 47 7e 7f 6f ' +
  '52 53 50 4c 4d 48 01 45 57 4e 51 4a 37 49 46 54';

export const SET2_TO_SET1: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) t[i] = i;
  LOW_TRANSLATION.split(' ').forEach((h, i) => (t[i] = parseInt(h, 16)));
  t[0x83] = 0x41;
  t[0x84] = 0x54;
  return t;
})();

/** E0-prefixed keys carry this flag in KEYS. */
const E0 = 0x100;

/**
 * QEMU key names -> scan code set 2 (make code; E0 = preceded by 0xE0). Print and Pause send
 * sequences of their own (see keySequence). Sources: IBM PS/2 Technical Reference, scan code
 * set 2 table; Microsoft "Keyboard Scan Code Specification" for the Windows, ACPI and media keys.
 */
const KEYS: Readonly<Record<string, number>> = {
  esc: 0x76, '1': 0x16, '2': 0x1e, '3': 0x26, '4': 0x25, '5': 0x2e, '6': 0x36, '7': 0x3d, '8': 0x3e,
  '9': 0x46, '0': 0x45, minus: 0x4e, equal: 0x55, backspace: 0x66, tab: 0x0d,
  q: 0x15, w: 0x1d, e: 0x24, r: 0x2d, t: 0x2c, y: 0x35, u: 0x3c, i: 0x43, o: 0x44, p: 0x4d,
  bracket_left: 0x54, bracket_right: 0x5b, ret: 0x5a,
  a: 0x1c, s: 0x1b, d: 0x23, f: 0x2b, g: 0x34, h: 0x33, j: 0x3b, k: 0x42, l: 0x4b,
  semicolon: 0x4c, apostrophe: 0x52, grave_accent: 0x0e, backslash: 0x5d,
  z: 0x1a, x: 0x22, c: 0x21, v: 0x2a, b: 0x32, n: 0x31, m: 0x3a, comma: 0x41, dot: 0x49, slash: 0x4a,
  shift: 0x12, shift_r: 0x59, ctrl: 0x14, ctrl_r: E0 | 0x14, alt: 0x11, alt_r: E0 | 0x11,
  spc: 0x29, caps_lock: 0x58, less: 0x61,
  f1: 0x05, f2: 0x06, f3: 0x04, f4: 0x0c, f5: 0x03, f6: 0x0b, f7: 0x83, f8: 0x0a, f9: 0x01, f10: 0x09,
  f11: 0x78, f12: 0x07, f13: 0x08, f14: 0x10, f15: 0x18, f16: 0x20, f17: 0x28, f18: 0x30, f19: 0x38,
  f20: 0x40, f21: 0x48, f22: 0x50, f23: 0x57, f24: 0x5f,
  num_lock: 0x77, scroll_lock: 0x7e, sysrq: 0x84,
  kp_divide: E0 | 0x4a, kp_multiply: 0x7c, asterisk: 0x7c, kp_subtract: 0x7b, kp_add: 0x79,
  kp_enter: E0 | 0x5a, kp_decimal: 0x71, kp_0: 0x70, kp_1: 0x69, kp_2: 0x72, kp_3: 0x7a, kp_4: 0x6b,
  kp_5: 0x73, kp_6: 0x74, kp_7: 0x6c, kp_8: 0x75, kp_9: 0x7d, kp_comma: 0x6d, kp_equals: 0x0f,
  insert: E0 | 0x70, delete: E0 | 0x71, home: E0 | 0x6c, end: E0 | 0x69, pgup: E0 | 0x7d, pgdn: E0 | 0x7a,
  up: E0 | 0x75, down: E0 | 0x72, left: E0 | 0x6b, right: E0 | 0x74,
  meta_l: E0 | 0x1f, meta_r: E0 | 0x27, menu: E0 | 0x2f, compose: E0 | 0x2f,
  ro: 0x51, yen: 0x6a, henkan: 0x64, muhenkan: 0x67, katakanahiragana: 0x13,
  power: E0 | 0x37, sleep: E0 | 0x3f, wake: E0 | 0x5e,
  audionext: E0 | 0x4d, audioprev: E0 | 0x15, audiostop: E0 | 0x3b, audioplay: E0 | 0x34,
  audiomute: E0 | 0x23, volumeup: E0 | 0x32, volumedown: E0 | 0x21, mediaselect: E0 | 0x50,
  mail: E0 | 0x48, calculator: E0 | 0x2b, computer: E0 | 0x40, stop: E0 | 0x28,
  ac_home: E0 | 0x3a, ac_back: E0 | 0x38, ac_forward: E0 | 0x30, ac_refresh: E0 | 0x20,
  ac_bookmarks: E0 | 0x18,
};

/** Every key name keyEvent() accepts. */
export const KEY_NAMES: readonly string[] = [...Object.keys(KEYS), 'print', 'pause'];

/**
 * The key a QEMU "key number" stands for (HMP `sendkey 0x1d-0x38-0xd3`): the set 1 make code,
 * plus 0x80 for E0-prefixed keys. Returns undefined for numbers no key has.
 */
export function keyNameForNumber(n: number): string | undefined {
  return NUMBERS.get(n);
}

const NUMBERS: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, code] of Object.entries(KEYS)) {
    const n = SET2_TO_SET1[code & 0xff] | (code & E0 ? 0x80 : 0);
    if (!m.has(n)) m.set(n, name);
  }
  m.set(0xb7, 'print'); // E0 37
  m.set(0xc6, 'pause'); // E0 46, as Ctrl+Break sends it
  return m;
})();

const MOD_CTRL = 1;
const MOD_SHIFT = 2;
const MOD_ALT_LEFT = 4;
const MOD_ALT_RIGHT = 8;
const MODIFIER_KEYS: Readonly<Record<string, number>> = {
  ctrl: MOD_CTRL, ctrl_r: MOD_CTRL << 4, shift: MOD_SHIFT, shift_r: MOD_SHIFT << 4,
  alt: MOD_ALT_LEFT, alt_r: MOD_ALT_RIGHT,
};

export class Ps2Keyboard {
  /** Replies to the command last received; sent before any scan code still waiting. */
  private replies: number[] = [];
  /** Scan codes from key events (with `replies`, at most KEYBOARD_QUEUE_BYTES). */
  private codes: number[] = [];
  /** What the controller gets when it reads with nothing queued: the byte sent last. */
  private lastSent = 0;
  /** A command waiting for its parameter byte (0xED, 0xF0, 0xF3, 0xFC), or -1. */
  private awaiting = -1;
  private scanning = true;
  private translating = false;
  private scanSet = 2;
  /** Set 2 break prefix seen while translating: the next code gets bit 7. */
  private breakPending = false;
  private modifiers = 0;
  /** LED state from the last 0xED command (bit 0 Scroll, 1 Num, 2 Caps Lock). */
  leds = 0;
  /** Typematic rate/delay byte from the last 0xF3 command. */
  typematic = 0x2b;
  private line: (level: boolean) => void = () => {};

  /** The "data to send" line the controller watches (called on every change of the queue). */
  connect(line: (level: boolean) => void): void {
    this.line = line;
  }

  /** The 8042 translates (command byte bit 6): replies about the scan code set use set 1 values. */
  setTranslation(on: boolean): void {
    this.translating = on;
  }

  /** Power-on: scanning on, set 2, nothing queued. */
  reset(): void {
    this.replies = [];
    this.codes = [];
    this.awaiting = -1;
    this.scanning = true;
    this.translating = false;
    this.scanSet = 2;
    this.breakPending = false;
    this.modifiers = 0;
    this.line(false);
  }

  /** True while a byte waits for the controller. */
  get hasData(): boolean {
    return this.replies.length + this.codes.length > 0;
  }

  /** The next byte for the controller (the previous one again when nothing waits). */
  read(): number {
    const q = this.replies.length ? this.replies : this.codes;
    const b = q.shift();
    if (b === undefined) return this.lastSent;
    this.lastSent = b;
    this.line(false);
    if (this.hasData) this.line(true);
    return b;
  }

  /** A byte from the controller (the host writing port 0x60). */
  write(value: number): void {
    const v = value & 0xff;
    // A new byte from the system cancels replies it has not read yet.
    this.replies = [];
    const pending = this.awaiting;
    this.awaiting = -1;
    switch (pending) {
      case 0xed:
        this.leds = v;
        return this.reply(ACK);
      case 0xf3:
        this.typematic = v;
        return this.reply(ACK);
      case 0xfc:
        return this.reply(ACK);
      case 0xf0:
        if (v === 0) return this.reply(ACK, this.translating ? SET2_TO_SET1[this.scanSet] : this.scanSet);
        if (v >= 1 && v <= 3) {
          this.scanSet = v;
          return this.reply(ACK);
        }
        return this.reply(RESEND);
    }
    switch (v) {
      case 0xff: // reset: BAT, then "AA"
        this.defaults(true);
        return this.reply(ACK, BAT_OK);
      case 0xf6: // set defaults, keep scanning
        this.defaults(true);
        return this.reply(ACK);
      case 0xf5: // set defaults and stop scanning
        this.defaults(false);
        return this.reply(ACK);
      case 0xf4:
        this.scanning = true;
        return this.reply(ACK);
      case 0xf2: // identify: an MF2 keyboard; QEMU reports the translated second ID byte
        return this.reply(ACK, 0xab, this.translating ? 0x41 : 0x83);
      case 0xee:
        return this.reply(0xee);
      case 0xed:
      case 0xf0:
      case 0xf3:
      case 0xfc:
        this.awaiting = v;
        return this.reply(ACK);
      case 0xfa:
      case 0x00:
        return this.reply(ACK);
      default: // 0x05, 0xFE (resend) and anything else
        return this.reply(RESEND);
    }
  }

  /**
   * Press (down) or release a key by QEMU key name. Returns false for an unknown name. Nothing
   * is queued while scanning is off or in scan code set 3.
   */
  keyEvent(name: string, down: boolean): boolean {
    const seq = this.keySequence(name, down);
    if (seq === null) return false;
    if (!this.scanning) return true;
    const mod = MODIFIER_KEYS[name] ?? 0;
    this.modifiers = down ? this.modifiers | mod : this.modifiers & ~mod;
    if (this.scanSet === 3) return true;
    for (const b of this.scanSet === 1 ? toSet1(seq) : seq) this.send(b);
    return true;
  }

  /** The set 2 bytes of a key event, or null for an unknown key. */
  private keySequence(name: string, down: boolean): number[] | null {
    const m = this.modifiers;
    const ctrl = (m & (MOD_CTRL | (MOD_CTRL << 4))) !== 0;
    const shift = (m & (MOD_SHIFT | (MOD_SHIFT << 4))) !== 0;
    if (name === 'pause') {
      // Pause has no break code; with Ctrl it is Break (IBM: "Pause key", "Break key").
      if (!down) return [];
      return ctrl ? [0xe0, 0x7e, 0xe0, 0xf0, 0x7e] : [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77];
    }
    if (name === 'print') {
      // Alt+Print is SysRq; with Shift or Ctrl the "fake shift" E0 12 is left out.
      if (m & (MOD_ALT_LEFT | MOD_ALT_RIGHT)) return down ? [0x84] : [0xf0, 0x84];
      if (ctrl || shift) return down ? [0xe0, 0x7c] : [0xe0, 0xf0, 0x7c];
      return down ? [0xe0, 0x12, 0xe0, 0x7c] : [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12];
    }
    const code = KEYS[name];
    if (code === undefined || !Object.hasOwn(KEYS, name)) return null;
    const seq = code & E0 ? [0xe0] : [];
    if (!down) seq.push(0xf0);
    seq.push(code & 0xff);
    return seq;
  }

  /** One byte of a key event, through the controller's translation when it is on. */
  private send(b: number): void {
    if (this.translating) {
      if (b === 0xf0) {
        this.breakPending = true;
        return;
      }
      b = SET2_TO_SET1[b] | (this.breakPending ? 0x80 : 0);
      this.breakPending = false;
    }
    if (this.replies.length + this.codes.length >= KEYBOARD_QUEUE_BYTES) return; // overrun: lost
    this.codes.push(b);
    this.line(true);
  }

  private reply(...bytes: number[]): void {
    this.replies.push(...bytes);
    this.line(true);
  }

  /** 0xF5/0xF6/0xFF: set 2, LEDs off, the buffer emptied. */
  private defaults(scanning: boolean): void {
    this.codes = [];
    this.replies = [];
    this.scanSet = 2;
    this.leds = 0;
    this.scanning = scanning;
  }
}

/** Set 2 bytes as set 1 sends them: the 8042's translation, 0xF0 folded into bit 7. */
function toSet1(seq: number[]): number[] {
  const out: number[] = [];
  let brk = false;
  for (const b of seq) {
    if (b === 0xf0) brk = true;
    else {
      out.push(SET2_TO_SET1[b] | (brk ? 0x80 : 0));
      brk = false;
    }
  }
  return out;
}
