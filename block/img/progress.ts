// A progress line like qemu-img -p's "    (12.34/100%)", rewritten in place with a carriage return.
// Shown only when asked for and stderr is a terminal, so scripts and logs never see it.
export class Progress {
  private last = -1;

  constructor(
    private readonly enabled: boolean,
    private readonly write: (s: string) => void = (s) => void process.stderr.write(s),
  ) {}

  static forTerminal(asked: boolean): Progress {
    return new Progress(asked && process.stderr.isTTY === true);
  }

  /** Reports `done` of `total` units; redraws when the whole percentage changes. */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    const pct = total > 0 ? Math.min(100, (done * 100) / total) : 100;
    if (Math.floor(pct) === this.last) return;
    this.last = Math.floor(pct);
    this.write(`    (${pct.toFixed(2)}/100%)\r`);
  }

  finish(): void {
    if (!this.enabled) return;
    this.write('    (100.00/100%)\n');
  }
}
