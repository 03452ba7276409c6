// Telnet (RFC 854) for socket chardevs with telnet=on. On connect the server offers what QEMU
// offers: it will echo and suppress go-ahead, and wants binary transmission both ways, so a
// telnet client passes keys through one at a time. Input is stripped of every command sequence;
// an escaped 0xFF (IAC IAC) is a data byte; IAC BREAK becomes a break event. Output is sent as is,
// as QEMU sends it (0xFF is not doubled).

const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const BREAK = 243;
const SE = 240;

const OPT_BINARY = 0;
const OPT_ECHO = 1;
const OPT_SGA = 3;

/** The negotiation QEMU sends first: WILL ECHO, WILL SGA, WILL BINARY, DO BINARY. */
export const TELNET_GREETING = Uint8Array.of(IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, WILL, OPT_BINARY, IAC, DO, OPT_BINARY);

// Parser states.
const DATA = 0;
/** After IAC. */
const COMMAND = 1;
/** After IAC WILL/WONT/DO/DONT: the option byte comes next. */
const OPTION = 2;
/** Inside IAC SB ...: skipped until IAC SE. */
const SUB = 3;
/** IAC seen inside a subnegotiation. */
const SUB_IAC = 4;

/** Strips telnet commands from input; state carries over between chunks (a sequence may be split). */
export class TelnetFilter {
  private state: number = DATA;

  constructor(private readonly onBreak: () => void = () => {}) {}

  /** The data bytes of `input`. */
  filter(input: Uint8Array): Uint8Array {
    // Fast path: nothing to strip.
    if (this.state === DATA && input.indexOf(IAC) < 0) return input;
    const out = new Uint8Array(input.length);
    let n = 0;
    for (const b of input) {
      switch (this.state) {
        case DATA:
          if (b === IAC) this.state = COMMAND;
          else out[n++] = b;
          break;
        case COMMAND:
          if (b === IAC) {
            out[n++] = IAC;
            this.state = DATA;
          } else if (b >= WILL && b <= DONT) {
            this.state = OPTION;
          } else if (b === SB) {
            this.state = SUB;
          } else {
            if (b === BREAK) this.onBreak();
            // NOP, GA, AYT, IP and the rest: two bytes, nothing to pass on.
            this.state = DATA;
          }
          break;
        case OPTION:
          // The answer to our offers (or the client's own wishes): QEMU does not reply either.
          this.state = DATA;
          break;
        case SUB:
          if (b === IAC) this.state = SUB_IAC;
          break;
        case SUB_IAC:
          this.state = b === SE ? DATA : SUB;
          break;
      }
    }
    return out.subarray(0, n);
  }
}
