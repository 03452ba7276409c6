// The monitor's argument syntax: QEMU describes each command's arguments with a type string such as
// "fmt:/,addr:l" and parses the rest of the line against it. Expressions (`$eax + 4`) are 64-bit
// integers with C's wrap-around. All messages are QEMU's; none of this throws to the caller.

import { isDigit, isSpace } from './format.ts';

/** A parsed argument: numbers are 64-bit, strings are byte strings (one char per byte). */
export type ArgValue = bigint | string | boolean;

export interface ParseContext {
  /** The command's table name ("print|p"): QEMU puts it in front of some messages. */
  cmdName: string;
  /** Monitor output. */
  print(text: string): void;
  /** QEMU prints a couple of string-syntax errors with printf(), i.e. to its stdout, not the monitor. */
  stdout(text: string): void;
  /** A `$name` value, or null for "unknown register". */
  register(name: string): bigint | null;
  /** The /fmt defaults, which every x, xp, print, i and o updates (as QEMU's globals). */
  fmt: { format: string; size: number };
}

class ExprError extends Error {}

const U64_MAX = (1n << 64n) - 1n;

function digitValue(ch: string | undefined, base: number): number {
  if (ch === undefined) return -1;
  const c = ch.charCodeAt(0);
  let v = -1;
  if (c >= 0x30 && c <= 0x39) v = c - 0x30;
  else if (c >= 0x61 && c <= 0x7a) v = c - 0x61 + 10;
  else if (c >= 0x41 && c <= 0x5a) v = c - 0x41 + 10;
  return v >= 0 && v < base ? v : -1;
}

/** Recursive descent over one expression; `pos` ends on the first character it did not use. */
class Expression {
  constructor(
    private readonly s: string,
    public pos: number,
    private readonly register: (name: string) => bigint | null,
  ) {}

  private get ch(): string | undefined {
    return this.s[this.pos];
  }

  private skipSpaces(): void {
    while (isSpace(this.s[this.pos])) this.pos++;
  }

  /** Step over an operator and the blanks after it. */
  private advance(): void {
    if (this.pos < this.s.length) {
      this.pos++;
      this.skipSpaces();
    }
  }

  // Precedence, loosest first: + -, then & | ^, then * / %, then unary. Same level: left to right.
  sum(): bigint {
    let v = this.logic();
    for (;;) {
      const op = this.ch;
      if (op !== '+' && op !== '-') return v;
      this.advance();
      const w = this.logic();
      v = BigInt.asIntN(64, op === '+' ? v + w : v - w);
    }
  }

  private logic(): bigint {
    let v = this.product();
    for (;;) {
      const op = this.ch;
      if (op !== '&' && op !== '|' && op !== '^') return v;
      this.advance();
      const w = this.product();
      v = BigInt.asIntN(64, op === '&' ? v & w : op === '|' ? v | w : v ^ w);
    }
  }

  private product(): bigint {
    let v = this.unary();
    for (;;) {
      const op = this.ch;
      if (op !== '*' && op !== '/' && op !== '%') return v;
      this.advance();
      const w = this.unary();
      if (op === '*') {
        v = BigInt.asIntN(64, v * w);
      } else {
        if (w === 0n) throw new ExprError('division by zero');
        // BigInt division truncates toward zero like C; INT64_MIN / -1 wraps (QEMU itself dies there).
        v = BigInt.asIntN(64, op === '/' ? v / w : v % w);
      }
    }
  }

  private unary(): bigint {
    const c = this.ch;
    switch (c) {
      case '+':
        this.advance();
        return this.unary();
      case '-':
        this.advance();
        return BigInt.asIntN(64, -this.unary());
      case '~':
        this.advance();
        return BigInt.asIntN(64, ~this.unary());
      case '(': {
        this.advance();
        const v = this.sum();
        if (this.ch !== ')') throw new ExprError("')' expected");
        this.advance();
        return v;
      }
      case "'": {
        this.pos++;
        const q = this.ch;
        if (q === undefined) throw new ExprError('character constant expected');
        // A C char is signed: bytes above 0x7f give negative values.
        const code = q.charCodeAt(0) & 0xff;
        const v = BigInt(code >= 0x80 ? code - 0x100 : code);
        this.pos++;
        if (this.ch !== "'") throw new ExprError("missing terminating ' character");
        this.advance();
        return v;
      }
      case '$': {
        this.pos++;
        let name = '';
        while (this.pos < this.s.length && /[A-Za-z0-9_.]/.test(this.s[this.pos])) {
          if (name.length < 127) name += this.s[this.pos];
          this.pos++;
        }
        this.skipSpaces();
        const v = this.register(name);
        if (v === null) throw new ExprError('unknown register');
        return BigInt.asIntN(64, v);
      }
      case undefined:
        throw new ExprError('unexpected end of expression');
      default:
        return this.number();
    }
  }

  /** strtoull(…, 0): 0x hex, leading 0 octal, else decimal; the value is then taken as signed. */
  private number(): bigint {
    const s = this.s;
    let i = this.pos;
    let base = 10;
    if (s[i] === '0') {
      if ((s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s[i + 2], 16) >= 0) {
        base = 16;
        i += 2;
      } else {
        base = 8;
      }
    }
    const start = i;
    let v = 0n;
    let overflow = false;
    const b = BigInt(base);
    for (let d = digitValue(s[i], base); d >= 0; d = digitValue(s[i], base)) {
      if (!overflow) {
        v = v * b + BigInt(d);
        if (v > U64_MAX) overflow = true;
      }
      i++;
    }
    if (overflow) throw new ExprError('number too large');
    if (i === start) throw new ExprError(`invalid char '${s[this.pos]}' in expression`);
    this.pos = i;
    this.skipSpaces();
    return BigInt.asIntN(64, v);
  }
}

/** Evaluate the expression at `pos`; on error print QEMU's message and return null. */
export function parseExpression(
  line: string,
  pos: number,
  ctx: Pick<ParseContext, 'print' | 'register'>,
): { value: bigint; pos: number } | null {
  const e = new Expression(line, pos, ctx.register);
  while (isSpace(line[e.pos])) e.pos++;
  try {
    const value = e.sum();
    return { value, pos: e.pos };
  } catch (err) {
    if (err instanceof ExprError) {
      ctx.print(err.message + '\n');
      return null;
    }
    throw err;
  }
}

/**
 * One word, or a double-quoted string with \n \r \\ \' \" escapes; at most 1023 bytes are kept.
 * Returns null (after QEMU's stdout message for bad quoting) when there is nothing usable.
 */
export function parseWord(line: string, pos: number, stdout: (text: string) => void): { value: string; pos: number } | null {
  let p = pos;
  let out = '';
  const keep = (c: string) => {
    if (out.length < 1023) out += c;
  };
  while (isSpace(line[p])) p++;
  if (p >= line.length) return null;
  if (line[p] === '"') {
    p++;
    while (p < line.length && line[p] !== '"') {
      if (line[p] === '\\') {
        p++;
        const c = p < line.length ? line[p] : '\0';
        p++;
        if (c === 'n') keep('\n');
        else if (c === 'r') keep('\r');
        else if (c === '\\' || c === "'" || c === '"') keep(c);
        else {
          stdout(`unsupported escape code: '\\${c}'\n`);
          return null;
        }
      } else {
        keep(line[p]);
        p++;
      }
    }
    if (line[p] !== '"') {
      stdout('unterminated string\n');
      return null;
    }
    p++;
  } else {
    while (p < line.length && !isSpace(line[p])) {
      keep(line[p]);
      p++;
    }
  }
  return { value: out, pos: p };
}

/**
 * Split a line into words as QEMU's completion and `help` do (at most 16; more, or bad quoting,
 * gives null).
 */
export function splitWords(line: string, stdout: (text: string) => void): string[] | null {
  const words: string[] = [];
  let p = 0;
  for (;;) {
    while (isSpace(line[p])) p++;
    if (p >= line.length) return words;
    if (words.length >= 16) return null;
    const w = parseWord(line, p, stdout);
    if (!w) return null;
    words.push(w.value);
    p = w.pos;
  }
}

/**
 * Parse the arguments of a command from `pos` according to its type string. Returns the values by
 * key ("/" gives count, format and size), or null after printing what was wrong.
 */
export function parseArguments(argsType: string, line: string, pos: number, ctx: ParseContext): Map<string, ArgValue> | null {
  const args = new Map<string, ArgValue>();
  const t = argsType;
  let ti = 0;
  let p = pos;
  const skipSpaces = () => {
    while (isSpace(line[p])) p++;
  };
  const atEnd = () => p >= line.length;

  for (;;) {
    if (t[ti] === ',') ti++;
    const colon = t.indexOf(':', ti);
    if (colon < 0) break;
    const key = t.slice(ti, colon);
    ti = colon + 1;
    const type = t[ti++];
    switch (type) {
      case 's': {
        skipSpaces();
        if (t[ti] === '?') {
          ti++;
          if (atEnd()) break;
        }
        const w = parseWord(line, p, ctx.stdout);
        if (!w) {
          ctx.print(`${ctx.cmdName}: string expected\n`);
          return null;
        }
        args.set(key, w.value);
        p = w.pos;
        break;
      }
      case 'S': {
        skipSpaces();
        if (t[ti] === '?') {
          ti++;
          if (atEnd()) break;
        }
        if (atEnd()) {
          ctx.print(`${ctx.cmdName}: string expected\n`);
          return null;
        }
        args.set(key, line.slice(p));
        p = line.length;
        break;
      }
      case '/': {
        skipSpaces();
        let count = 1;
        let format: string;
        let size: number;
        if (line[p] === '/') {
          p++;
          if (isDigit(line[p])) {
            count = 0;
            // A C int: absurd counts wrap the way QEMU's do.
            while (isDigit(line[p])) count = (Math.imul(count, 10) + (line.charCodeAt(p++) - 0x30)) | 0;
          }
          let f = '';
          let sz = -1;
          for (;;) {
            const c = line[p];
            if (c === 'o' || c === 'd' || c === 'u' || c === 'x' || c === 'i' || c === 'c') f = c;
            else if (c === 'b') sz = 1;
            else if (c === 'h') sz = 2;
            else if (c === 'w') sz = 4;
            else if (c === 'g' || c === 'L') sz = 8;
            else break;
            p++;
          }
          if (!atEnd() && !isSpace(line[p])) {
            ctx.print(`invalid char in format: '${line[p]}'\n`);
            return null;
          }
          format = f || ctx.fmt.format;
          if (format !== 'i') {
            if (sz < 0) sz = ctx.fmt.size;
            ctx.fmt.size = sz;
          }
          ctx.fmt.format = format;
          size = sz;
        } else {
          format = ctx.fmt.format;
          size = format !== 'i' ? ctx.fmt.size : -1;
        }
        args.set('count', BigInt(count));
        args.set('format', format);
        args.set('size', BigInt(size));
        break;
      }
      case 'i':
      case 'l': {
        skipSpaces();
        const opt = t[ti];
        if (opt === '?' || opt === '.') {
          if (opt === '?') {
            if (atEnd()) {
              ti++;
              break;
            }
          } else if (line[p] === '.') {
            // "i port .index": an optional value is introduced by a dot.
            p++;
            skipSpaces();
          } else {
            ti++;
            break;
          }
          ti++;
        }
        const e = parseExpression(line, p, ctx);
        if (!e) return null;
        p = e.pos;
        if (type === 'i' && ((e.value >> 32n) & 0xffffffffn) !== 0n) {
          ctx.print(`'${ctx.cmdName}' has failed: integer is for 32-bit values\n`);
          return null;
        }
        args.set(key, e.value);
        break;
      }
      case '-': {
        const flag = t[ti++];
        if (flag === undefined) {
          ctx.print(`${ctx.cmdName}: unknown type '-'\n`);
          return null;
        }
        const before = p;
        skipSpaces();
        if (line[p] === '-') {
          p++;
          if (line[p] !== flag) {
            // Another option of this command may come later in the type string; else it is an error.
            const opt = line[p] ?? '\0';
            if (!t.slice(ti).includes(opt === '\0' ? '-' : '-' + opt)) {
              ctx.print(`${ctx.cmdName}: unsupported option -${opt}\n`);
              return null;
            }
            p = before;
          } else {
            p++;
            args.set(key, true);
          }
        }
        break;
      }
      default:
        ctx.print(`${ctx.cmdName}: unknown type '${type ?? ''}'\n`);
        return null;
    }
  }
  skipSpaces();
  if (!atEnd()) {
    ctx.print(`${ctx.cmdName}: extraneous characters at the end of line\n`);
    return null;
  }
  return args;
}
