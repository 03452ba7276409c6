// The stdio backend's terminal handling: raw mode on, and back off on every way out. First the
// guard on a fake terminal and process, then a real pseudo-terminal (made by util-linux `script`,
// a test-time tool only) with a child process that ends in each of those ways.

import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawModeGuard } from '../monitor/chardev/tty-restore.ts';
import { tempDir, waitUntil } from './monitor-chardev-helpers.ts';

class FakeTty {
  isTTY = true;
  raw = false;
  failOnRestore = false;
  setRawMode(raw: boolean): this {
    if (!raw && this.failOnRestore) throw new Error('EIO: terminal gone');
    this.raw = raw;
    return this;
  }
}

class FakeProcess extends EventEmitter {
  readonly pid = 99;
  readonly kills: [number, string | number | undefined][] = [];
  kill(pid: number, signal?: string | number): boolean {
    this.kills.push([pid, signal]);
    return true;
  }
}

const HOOKS = ['exit', 'uncaughtExceptionMonitor', 'SIGINT', 'SIGTERM', 'SIGHUP'];

function hooksInstalled(p: FakeProcess): number[] {
  return HOOKS.map((h) => p.listenerCount(h));
}

describe('raw mode guard', () => {
  it('enters raw mode on a terminal and restores it once, removing its hooks', () => {
    const tty = new FakeTty();
    const proc = new FakeProcess();
    const g = new RawModeGuard(tty, proc);
    expect(g.enter()).toBe(true);
    expect(tty.raw).toBe(true);
    expect(hooksInstalled(proc)).toEqual([1, 1, 1, 1, 1]);
    g.restore();
    g.restore();
    expect(tty.raw).toBe(false);
    expect(hooksInstalled(proc)).toEqual([0, 0, 0, 0, 0]);
  });

  it('does nothing for a stream that is not a terminal', () => {
    const tty = new FakeTty();
    tty.isTTY = false;
    const proc = new FakeProcess();
    expect(new RawModeGuard(tty, proc).enter()).toBe(false);
    expect(tty.raw).toBe(false);
    expect(hooksInstalled(proc)).toEqual([0, 0, 0, 0, 0]);
  });

  it('restores on process exit and on an uncaught exception', () => {
    for (const event of ['exit', 'uncaughtExceptionMonitor']) {
      const tty = new FakeTty();
      const proc = new FakeProcess();
      new RawModeGuard(tty, proc).enter();
      proc.emit(event, event === 'exit' ? 0 : new Error('boom'));
      expect(tty.raw).toBe(false);
      expect(hooksInstalled(proc)).toEqual([0, 0, 0, 0, 0]);
      expect(proc.kills).toEqual([]);
    }
  });

  it('restores on SIGINT, SIGTERM and SIGHUP, and delivers the signal again when alone', () => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      const tty = new FakeTty();
      const proc = new FakeProcess();
      new RawModeGuard(tty, proc).enter();
      proc.emit(sig, sig);
      expect(tty.raw).toBe(false);
      expect(proc.kills).toEqual([[99, sig]]);
    }
  });

  it('leaves a signal to the program when it listens too (tsemu stops the machine itself)', () => {
    const tty = new FakeTty();
    const proc = new FakeProcess();
    new RawModeGuard(tty, proc).enter();
    let stopped = false;
    proc.on('SIGTERM', () => {
      stopped = true;
    });
    proc.emit('SIGTERM', 'SIGTERM');
    expect(tty.raw).toBe(false);
    expect(stopped).toBe(true);
    expect(proc.kills).toEqual([]);
  });

  it('copes with a terminal that is gone', () => {
    const tty = new FakeTty();
    const proc = new FakeProcess();
    const g = new RawModeGuard(tty, proc);
    g.enter();
    tty.failOnRestore = true;
    expect(() => proc.emit('SIGHUP', 'SIGHUP')).not.toThrow();
    expect(g.isRaw).toBe(false);
  });
});

const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('stty', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!haveScript)('raw mode on a real terminal', () => {
  const tmp = tempDir();
  let child = '';

  beforeAll(() => {
    const stdio = fileURLToPath(new URL('../monitor/chardev/stdio.ts', import.meta.url));
    const src = join(tmp.path, 'child.ts');
    // The child opens stdio, reports the terminal's mode, then ends the way argv[2] says; where it
    // can, it reads the mode again itself after our restore ran and before Node's exit resets it.
    writeFileSync(
      src,
      `import { execSync } from 'node:child_process';
import { StdioChardev } from ${JSON.stringify(stdio)};
const stty = () => execSync('stty -g', { stdio: ['inherit', 'pipe', 'inherit'] }).toString().trim();
const say = (t: string) => process.stdout.write(t + '\\n');
const mode = process.argv[2];
const s = new StdioChardev('s', { signal: true });
s.attach({ receive() {} });
if (mode === 'sigterm-app') process.on('SIGTERM', () => { say('AFTER ' + stty()); process.exit(0); });
if (mode === 'exit' || mode === 'throw') process.on('exit', () => say('AFTER ' + stty()));
say('PID ' + process.pid + ' RAW ' + stty());
if (mode === 'close') setTimeout(async () => { await s.close(); say('AFTER ' + stty()); process.exit(0); }, 100);
if (mode === 'exit') setTimeout(() => process.exit(3), 100);
if (mode === 'throw') setTimeout(() => { throw new Error('child failed on purpose'); }, 100);
`,
    );
    child = join(tmp.path, 'child.mjs');
    buildSync({ entryPoints: [src], bundle: true, platform: 'node', format: 'esm', outfile: child, logLevel: 'silent' });
  });

  afterAll(() => tmp.cleanup());

  interface Run {
    before: string;
    raw: string;
    after: string | null;
    end: string;
    exit: string;
  }

  /** Runs the child on a fresh pty; `act` ends it (signal, Ctrl-C) once it reported its pid. */
  async function run(mode: string, act: (pid: number, typeIn: (s: string) => void) => void = () => {}): Promise<Run> {
    const cmd = `stty -g; node ${child} ${mode}; echo EXIT=$?; stty -g`;
    const p = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    p.stderr.on('data', () => {});
    const done = new Promise<void>((resolve) => p.on('close', () => resolve()));
    await waitUntil(() => /PID \d+ RAW \S+/.test(out), 'the child to start', 15_000);
    const pid = Number(/PID (\d+)/.exec(out)![1]);
    act(pid, (s) => p.stdin.write(s));
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`child did not end: ${out}`)), 15_000))]);
    p.stdin.end();
    const lines = out.split(/\r?\n/).map((l) => l.replace(/\r/g, '').trim());
    const stty = lines.filter((l) => /^[0-9a-f]+(:[0-9a-f]+)+$/.test(l));
    return {
      before: stty[0]!,
      raw: /RAW (\S+)/.exec(out)![1]!,
      after: /AFTER (\S+)/.exec(out)?.[1] ?? null,
      end: stty[stty.length - 1]!,
      exit: /EXIT=(\d+)/.exec(out)?.[1] ?? '?',
    };
  }

  it('is raw while open and restored by close()', async () => {
    const r = await run('close');
    expect(r.raw).not.toBe(r.before);
    expect(r.after).toBe(r.before);
    expect(r.end).toBe(r.before);
  });

  it('is restored before the program handles SIGTERM', async () => {
    const r = await run('sigterm-app', (pid) => process.kill(pid, 'SIGTERM'));
    expect(r.after).toBe(r.before);
    expect(r.exit).toBe('0');
  });

  it('is restored when SIGHUP ends the process', async () => {
    const r = await run('sighup', (pid) => process.kill(pid, 'SIGHUP'));
    expect(r.exit).toBe('129');
    expect(r.end).toBe(r.before);
  });

  it('turns a typed Ctrl-C into SIGINT and restores the terminal', async () => {
    const r = await run('ctrl-c', (_pid, typeIn) => typeIn('\x03'));
    expect(r.exit).toBe('130');
    expect(r.end).toBe(r.before);
  });

  it('is restored on process.exit() and on an uncaught exception', async () => {
    const e = await run('exit');
    expect(e.exit).toBe('3');
    expect(e.after).toBe(e.before);
    const t = await run('throw');
    expect(t.exit).toBe('1');
    expect(t.after).toBe(t.before);
  });
});
