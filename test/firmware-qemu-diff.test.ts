// The pc machine booting its firmware: SeaBIOS (Debian's bios-256k.bin) runs in tsemu and in
// qemu-system-x86_64 with the same command line, and what it prints on the serial console must be
// byte-identical. Neither run ends by itself ("No bootable device." waits forever), so both are
// stopped a moment after that line; only timing is tolerated, nothing in the bytes.
// Also: a guest that turns the machine off through the ACPI PM1 control register ends both
// emulators with status 0.
// TSEMU_CMD / QEMU_CMD override the commands as in kernels-qemu-diff.test.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const qemuCmd = (process.env.QEMU_CMD ?? 'qemu-system-x86_64').trim().split(/\s+/);
const tsemuCmd = (process.env.TSEMU_CMD ?? `node ${join(root, 'dist/tsemu.js')}`).trim().split(/\s+/);
const TIMEOUT_MS = 60_000;
const LAST = 'No bootable device.\r\n';
/** How long to keep listening after the last expected line, for anything that would follow it. */
const GRACE_MS = 1500;

interface Run { stdout: string; stderr: string; status: number | null; timedOut: boolean }

/** Run until `until` appears in stdout (then GRACE_MS more) or the process ends by itself. */
function run(cmd: string[], args: string[], until: string | null): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(cmd[0], [...cmd.slice(1), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let stopping = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
      if (until !== null && !stopping && stdout.includes(until)) {
        stopping = true;
        setTimeout(() => child.kill('SIGKILL'), GRACE_MS);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ stdout, stderr, status, timedOut });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tsemu-firmware-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SeaBIOS: tsemu vs QEMU', () => {
  const cases: [string, string[]][] = [
    ['-nographic -nodefaults -serial stdio', ['-nographic', '-nodefaults', '-serial', 'stdio']],
    ['-nographic -nodefaults -serial stdio -m 64 -bios bios.bin', ['-nographic', '-nodefaults', '-serial', 'stdio', '-m', '64', '-bios', 'bios.bin']],
    ['-nographic -nodefaults -serial stdio -m 1G -no-reboot', ['-nographic', '-nodefaults', '-serial', 'stdio', '-m', '1G', '-no-reboot']],
  ];

  it.concurrent.each(cases)('%s', async (_name, args) => {
    const [qemu, tsemu] = await Promise.all([run(qemuCmd, args, LAST), run(tsemuCmd, args, LAST)]);
    expect(qemu.timedOut, `QEMU never printed "No bootable device.": ${JSON.stringify(qemu.stdout)} ${qemu.stderr}`).toBe(false);
    expect(qemu.stdout).toContain('SeaBIOS (version');
    expect(tsemu.timedOut, `tsemu never printed "No bootable device.": ${JSON.stringify(tsemu.stdout)} ${tsemu.stderr}`).toBe(false);
    expect(tsemu.stdout, `tsemu stderr: ${tsemu.stderr}`).toBe(qemu.stdout);
  }, TIMEOUT_MS + 10_000);

  it('powers off when a kernel writes SLP_TYP=S5 with SLP_EN to PM1_CNT', async () => {
    // A Multiboot a.out-kludge kernel: header at 1 MiB, code at 0x100020:
    //   mov dx, 0x604 ; mov ax, 0x2000 ; out dx, ax ; hlt ; jmp $-1
    // Firmware (or tsemu's direct boot) left the PM block at 0x600.
    const img = new Uint8Array(64);
    const v = new DataView(img.buffer);
    const flags = 0x00010000;
    [0x1badb002, flags, (-(0x1badb002 + flags)) >>> 0, 0x100000, 0x100000, 0, 0, 0x100020].forEach((w, i) => v.setUint32(4 * i, w, true));
    img.set([0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x20, 0x66, 0xef, 0xf4, 0xeb, 0xfd], 0x20);
    const k = join(dir, 'poweroff.elf');
    writeFileSync(k, img);
    const args = ['-nodefaults', '-display', 'none', '-serial', 'stdio', '-kernel', k];
    const [qemu, tsemu] = await Promise.all([run(qemuCmd, args, null), run(tsemuCmd, args, null)]);
    expect(qemu.timedOut).toBe(false);
    expect(qemu.status).toBe(0);
    expect(tsemu.timedOut).toBe(false);
    expect(tsemu.status, tsemu.stderr).toBe(0);
    expect(tsemu.stdout).toBe(qemu.stdout);
  }, TIMEOUT_MS + 10_000);
});
