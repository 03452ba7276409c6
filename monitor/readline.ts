// The line editor of QEMU's human monitor. It redraws the line after every key with the same
// escape sequences as QEMU 7.2 (cursor left ESC[D, right ESC[C, erase to end ESC[K), so a session
// produces the same bytes. Lines are byte strings: one char per byte, codes 0-255.
//
// Keys: printable bytes insert; Enter (CR or LF) submits; Backspace (DEL or ^H); ^A / ESC[1~ /
// ESC O H start of line; ^E / ESC[4~ / ESC O F end of line; ^D / ESC[3~ delete; ESC[D / ESC[C
// left/right; ESC[A, ESC[F older history; ESC[B, ESC[E newer; ^W erase word; ^L clear screen;
// Tab completes. Anything else (^B, ^F, ^K, ^N, ^P, ^U, unknown sequences) does nothing: QEMU 7.2
// has no other keys.

/** At most this many bytes per line, minus one (QEMU's buffer keeps a terminating NUL). */
const LINE_BUFFER = 4096;
const MAX_HISTORY = 64;
const MAX_COMPLETIONS = 256;

const ESC = '\x1b';

export interface ReadlineOutput {
  /** Text for the terminal (the monitor turns "\n" into "\r\n"). */
  print(text: string): void;
  flush(): void;
}

/**
 * Completion of the text left of the cursor: `start` is how much of the last word is already typed
 * (the candidates' common part beyond it gets inserted); candidates are full words.
 */
export type CompletionFinder = (textBeforeCursor: string) => { start: number; candidates: string[] } | null;

type EscState = 'normal' | 'esc' | 'csi' | 'ss3';

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

export class Readline {
  private prompt = '';
  private line = '';
  private cursor = 0;
  /** What the terminal shows, to redraw only after a change. */
  private shownLine = '';
  private shownCursor = 0;
  private esc: EscState = 'normal';
  private escParam = 0;
  private readonly entries: string[] = [];
  /** The history entry being shown, or -1 when editing a new line. */
  private histIndex = -1;
  private onLine: ((line: string) => void) | null = null;

  constructor(
    private readonly out: ReadlineOutput,
    private readonly finder: CompletionFinder | null = null,
  ) {}

  /** Set the prompt and the function that gets each finished line; clears the line. */
  start(prompt: string, onLine: (line: string) => void): void {
    this.prompt = prompt;
    this.onLine = onLine;
    this.restart();
  }

  /** Forget the line being typed (without redrawing). */
  restart(): void {
    this.line = '';
    this.cursor = 0;
  }

  showPrompt(): void {
    this.out.print(this.prompt);
    this.out.flush();
    this.shownLine = '';
    this.shownCursor = 0;
    this.esc = 'normal';
  }

  /** The history, oldest first. */
  history(): readonly string[] {
    return this.entries;
  }

  /** The line being edited (for tests). */
  get text(): string {
    return this.line;
  }

  handleByte(byte: number): void {
    const ch = String.fromCharCode(byte & 0xff);
    switch (this.esc) {
      case 'normal':
        this.normalKey(byte & 0xff, ch);
        break;
      case 'esc':
        if (ch === '[') {
          this.esc = 'csi';
          this.escParam = 0;
        } else if (ch === 'O') {
          this.esc = 'ss3';
          this.escParam = 0;
        } else {
          this.esc = 'normal';
        }
        break;
      case 'csi':
        if (ch >= '0' && ch <= '9') {
          this.escParam = this.escParam * 10 + (byte - 0x30);
          break;
        }
        switch (ch) {
          case 'A':
          case 'F':
            this.historyUp();
            break;
          case 'B':
          case 'E':
            this.historyDown();
            break;
          case 'D':
            if (this.cursor > 0) this.cursor--;
            break;
          case 'C':
            if (this.cursor < this.line.length) this.cursor++;
            break;
          case '~':
            if (this.escParam === 1) this.cursor = 0;
            else if (this.escParam === 3) this.deleteChar();
            else if (this.escParam === 4) this.cursor = this.line.length;
            break;
        }
        this.esc = 'normal';
        break;
      case 'ss3':
        if (ch === 'F') this.cursor = this.line.length;
        else if (ch === 'H') this.cursor = 0;
        this.esc = 'normal';
        break;
    }
    this.update();
  }

  private normalKey(byte: number, ch: string): void {
    switch (byte) {
      case 0x01: // ^A
        this.cursor = 0;
        break;
      case 0x04: // ^D
        this.deleteChar();
        break;
      case 0x05: // ^E
        this.cursor = this.line.length;
        break;
      case 0x09:
        this.complete();
        break;
      case 0x0c: // ^L
        this.out.print(`${ESC}[2J${ESC}[1;1H`);
        this.showPrompt();
        break;
      case 0x0a:
      case 0x0d:
        this.enter();
        break;
      case 0x17: // ^W
        this.eraseWord();
        break;
      case 0x1b:
        this.esc = 'esc';
        break;
      case 0x7f:
      case 0x08:
        if (this.cursor > 0) {
          this.line = this.line.slice(0, this.cursor - 1) + this.line.slice(this.cursor);
          this.cursor--;
        }
        break;
      case 0x9b: // the 8-bit CSI (the parameter is not reset here, as in QEMU)
        this.esc = 'csi';
        break;
      default:
        if (byte >= 32) this.insert(ch);
    }
  }

  private enter(): void {
    const line = this.line;
    this.addHistory(line);
    this.out.print('\n');
    this.line = '';
    this.cursor = 0;
    this.shownLine = '';
    this.shownCursor = 0;
    this.onLine?.(line);
  }

  private insert(ch: string): void {
    if (this.line.length >= LINE_BUFFER - 1) return;
    this.line = this.line.slice(0, this.cursor) + ch + this.line.slice(this.cursor);
    this.cursor++;
  }

  private deleteChar(): void {
    if (this.cursor < this.line.length) this.line = this.line.slice(0, this.cursor) + this.line.slice(this.cursor + 1);
  }

  /** ^W: the blanks left of the cursor and the word before them. */
  private eraseWord(): void {
    if (this.cursor === 0) return;
    let start = this.cursor - 1;
    while (start >= 0 && isSpace(this.line[start])) start--;
    // QEMU's search for the word start stops at the first character without looking at it.
    while (start > 0) {
      if (isSpace(this.line[start])) {
        start++;
        break;
      }
      start--;
    }
    if (start < 0) start = 0;
    this.line = this.line.slice(0, start) + this.line.slice(this.cursor);
    this.cursor = start;
  }

  /** Non-empty lines go to the end of the history; a repeated line moves there instead of doubling. */
  private addHistory(line: string): void {
    if (line === '') return;
    const at = this.entries.indexOf(line);
    if (at >= 0) {
      // QEMU leaves a full history alone when the line is already the newest entry.
      if (at === MAX_HISTORY - 1) return;
      this.entries.splice(at, 1);
    } else if (this.entries.length === MAX_HISTORY) {
      this.entries.shift();
    }
    this.entries.push(line);
    this.histIndex = -1;
  }

  private historyUp(): void {
    if (this.histIndex === 0) return;
    if (this.histIndex === -1) this.histIndex = this.entries.length;
    this.histIndex--;
    if (this.histIndex >= 0) {
      this.line = this.entries[this.histIndex];
      this.cursor = this.line.length;
    }
  }

  private historyDown(): void {
    if (this.histIndex === -1) return;
    if (this.histIndex < MAX_HISTORY - 1 && this.histIndex + 1 < this.entries.length) {
      this.histIndex++;
      this.line = this.entries[this.histIndex];
    } else {
      this.line = '';
      this.histIndex = -1;
    }
    this.cursor = this.line.length;
  }

  private complete(): void {
    if (!this.finder) return;
    const found = this.finder(this.line.slice(0, this.cursor));
    if (!found || found.candidates.length === 0) return;
    const list = found.candidates.slice(0, MAX_COMPLETIONS);
    if (list.length === 1) {
      const word = list[0];
      for (let i = found.start; i < word.length; i++) this.insert(word[i]);
      // A space to start the next argument, except after a directory.
      if (word.length > 0 && !word.endsWith('/')) this.insert(' ');
      return;
    }
    list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.out.print('\n');
    let width = 0;
    let common = list[0].length;
    for (const w of list) {
      let j = 0;
      while (j < common && j < w.length && w[j] === list[0][j]) j++;
      common = j;
      width = Math.max(width, w.length);
    }
    for (let i = found.start; i < common; i++) this.insert(list[0][i]);
    width = Math.min(Math.max(width + 2, 10), 80);
    const columns = Math.floor(80 / width);
    let col = 0;
    list.forEach((w, i) => {
      this.out.print(w.padEnd(width, ' '));
      if (++col === columns || i === list.length - 1) {
        this.out.print('\n');
        col = 0;
      }
    });
    this.showPrompt();
  }

  /** Bring the terminal in line with the buffer: reprint the line if it changed, then move the cursor. */
  private update(): void {
    if (this.line !== this.shownLine) {
      this.out.print(`${ESC}[D`.repeat(this.shownCursor) + this.line + `${ESC}[K`);
      this.shownLine = this.line;
      this.shownCursor = this.line.length;
    }
    if (this.cursor !== this.shownCursor) {
      const delta = this.cursor - this.shownCursor;
      this.out.print((delta > 0 ? `${ESC}[C` : `${ESC}[D`).repeat(Math.abs(delta)));
      this.shownCursor = this.cursor;
    }
    this.out.flush();
  }
}
