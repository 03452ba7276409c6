// Runs every test kernel (images/test-kernels/) in QEMU and in tsemu and
// requires byte-identical serial output and exit status 1 from both.
// TSEMU_CMD overrides the tsemu command (default: "node dist/tsemu.js"),
// QEMU_CMD the reference (default: "qemu-system-x86_64").
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kernelDir = join(root, 'build/test-kernels');
const TIMEOUT_MS = 60_000;
const LAST_LINE = 'DONE\n';

// -display none rather than -nographic: -nographic makes SeaBIOS print its
// banner on the serial port, which is firmware output, not the kernel's.
const machineArgs = (elf: string) => [
  '-nodefaults', '-display', 'none', '-no-reboot', '-m', '64',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
  '-serial', 'stdio', '-kernel', elf,
];

function splitCmd(cmd: string): string[] {
  return cmd.trim().split(/\s+/).filter(Boolean);
}

interface RunResult { stdout: string; stderr: string; status: number | null; timedOut: boolean }

function runEmulator(cmd: string[], elf: string, extra: string[] = []): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd[0], [...cmd.slice(1), ...extra, ...machineArgs(elf)], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => { err.push(Buffer.from(String(e))); });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('utf8'),
        status, timedOut,
      });
    });
  });
}

const buildScript = join(root, 'scripts/build-test-kernels.mjs');
const kernelSources = readdirSync(join(root, 'images/test-kernels'))
  .map((f) => /^([A-Za-z0-9_-]+)\.(c|S)$/.exec(f)?.[1])
  .filter((n): n is string => !!n);
const allKernels = [...new Set(kernelSources)].sort();
const kernels = allKernels.filter((n) => !qemuSkipped(n));
const selfCheckingKernels = allKernels.filter(qemuSkipped);

/**
 * A kernel whose source says "QEMU-CPU: MODEL" runs in QEMU with "-cpu MODEL": QEMU's default
 * qemu64 model lacks some features tsemu always offers (XSAVE).
 */
function kernelSource(name: string): string {
  return ['c', 'S']
    .map((ext) => join(root, 'images/test-kernels', `${name}.${ext}`))
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p, 'utf8'))
    .join('\n');
}
function qemuExtraArgs(name: string): string[] {
  const m = /QEMU-CPU:\s*(\S+)/.exec(kernelSource(name));
  return m ? ['-cpu', m[1]!] : [];
}
/**
 * A kernel whose source says "QEMU-SKIP: reason" tests something QEMU 7.2 TCG does not emulate;
 * it checks the SDM's rules itself (fail() on a mismatch) and runs in tsemu alone.
 */
function qemuSkipped(name: string): boolean {
  return /QEMU-SKIP:/.test(kernelSource(name));
}

const qemuCmd = splitCmd(process.env.QEMU_CMD ?? 'qemu-system-x86_64');
const tsemuCmd = splitCmd(process.env.TSEMU_CMD ?? `node ${join(root, 'dist/tsemu.js')}`);

describe('test kernels: tsemu vs QEMU', () => {
  beforeAll(() => {
    const r = spawnSync(process.execPath, [buildScript], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building the test kernels failed:\n${r.stdout}${r.stderr}`);
  });

  it('has at least 20 kernels', () => {
    expect(kernels.length).toBeGreaterThanOrEqual(20);
  });

  it.concurrent.each(kernels)('%s', async (name) => {
    const elf = join(kernelDir, `${name}.elf`);
    const [qemu, tsemu] = await Promise.all([runEmulator(qemuCmd, elf, qemuExtraArgs(name)), runEmulator(tsemuCmd, elf)]);
    // The reference must itself have run the kernel to its end.
    expect(qemu.timedOut, `QEMU timed out on ${name}`).toBe(false);
    expect(qemu.stdout.length, `QEMU printed nothing for ${name}: ${qemu.stderr}`).toBeGreaterThan(0);
    expect(qemu.stdout.endsWith(LAST_LINE),
      `QEMU output of ${name} does not end with DONE: ...${JSON.stringify(qemu.stdout.slice(-200))} ${qemu.stderr}`).toBe(true);
    expect(qemu.status).toBe(1);
    expect(tsemu.timedOut, `tsemu timed out on ${name}`).toBe(false);
    expect(tsemu.stdout, `tsemu stderr: ${tsemu.stderr}`).toBe(qemu.stdout);
    expect(tsemu.status).toBe(1);
  }, TIMEOUT_MS * 2 + 10_000);

  it.concurrent.each(selfCheckingKernels)('%s (tsemu alone, self-checking)', async (name) => {
    const tsemu = await runEmulator(tsemuCmd, join(kernelDir, `${name}.elf`));
    expect(tsemu.timedOut, `tsemu timed out on ${name}`).toBe(false);
    expect(tsemu.stdout).not.toContain('FAIL');
    expect(tsemu.stdout.endsWith(LAST_LINE), `output: ${tsemu.stdout} ${tsemu.stderr}`).toBe(true);
    expect(tsemu.status).toBe(1);
  }, TIMEOUT_MS + 10_000);
});
