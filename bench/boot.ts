// `npm run bench:boot [-- FLAVOUR...]`: seconds from starting the emulator to the Linux test guest's
// shell prompt, in tsemu and in qemu-system-x86_64 (TCG), one boot at a time, same kernel, initrd,
// command line and -m. FLAVOUR is amd64 and/or 686 (default both). After the prompt the guest is
// powered off (`poweroff -f`) and the time to the emulator's exit is recorded too.
// The images must exist (`npm run images -- amd64 686`; the package script does it). Results go to
// stdout as a table and to build/bench-boot.json.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUEST_APPEND, GUEST_RAM_MB, GuestConsole, guestArgs } from '../images/guest-console.ts';
import { guestImagePaths } from '../images/initramfs.ts';
import type { KernelFlavour } from '../images/debian-packages.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = existsSync(join(here, '../package.json')) ? join(here, '..') : process.cwd();
const tsemu = join(root, 'dist/tsemu.js');
const QEMU = 'qemu-system-x86_64';
const FLAVOURS: KernelFlavour[] = ['amd64', '686'];
/** Give up on a boot after this long. */
const BOOT_LIMIT_MS = Number(process.env.BENCH_BOOT_LIMIT_S ?? 900) * 1000;

interface Result {
  flavour: KernelFlavour;
  emulator: 'tsemu' | 'qemu';
  /** Seconds from spawning the emulator to the shell prompt; null if it never came. */
  promptSeconds: number | null;
  /** Seconds from spawning to the emulator's exit after `poweroff -f`. */
  exitSeconds: number | null;
  status: number | string | null;
  error?: string;
}

async function boot(flavour: KernelFlavour, emulator: 'tsemu' | 'qemu'): Promise<Result> {
  const args = guestArgs(flavour);
  const g = emulator === 'tsemu' ? new GuestConsole(process.execPath, [tsemu, ...args]) : new GuestConsole(QEMU, args);
  const result: Result = { flavour, emulator, promptSeconds: null, exitSeconds: null, status: null };
  try {
    await g.prompt(BOOT_LIMIT_MS);
    result.promptSeconds = g.elapsed;
    await g.type('poweroff -f');
    result.status = await g.exit(60_000);
    result.exitSeconds = g.elapsed;
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    await g.kill();
  }
  return result;
}

const fmt = (s: number | null) => (s === null ? '-' : s.toFixed(1));

async function main(argv: string[]): Promise<number> {
  const flavours = argv.length ? argv : FLAVOURS;
  for (const f of flavours) {
    if (!FLAVOURS.includes(f as KernelFlavour)) {
      process.stderr.write(`bench-boot: unknown guest '${f}' (amd64 or 686)\n`);
      return 2;
    }
    const p = guestImagePaths(f as KernelFlavour);
    if (!existsSync(p.kernel) || !existsSync(p.initramfs)) {
      process.stderr.write(`bench-boot: ${p.kernel} or ${p.initramfs} is missing: run \`npm run images -- ${f}\`\n`);
      return 1;
    }
  }
  if (!existsSync(tsemu)) {
    process.stderr.write(`bench-boot: ${tsemu} is missing: run \`npm run build\`\n`);
    return 1;
  }
  const haveQemu = spawnSync(QEMU, ['--version']).status === 0;
  if (!haveQemu) process.stderr.write(`bench-boot: ${QEMU} is not installed: tsemu only\n`);

  const results: Result[] = [];
  for (const f of flavours as KernelFlavour[]) {
    for (const emulator of haveQemu ? (['tsemu', 'qemu'] as const) : (['tsemu'] as const)) {
      process.stderr.write(`bench-boot: ${f} in ${emulator}...`);
      const r = await boot(f, emulator);
      process.stderr.write(` ${r.promptSeconds === null ? `failed: ${r.error}` : `prompt after ${fmt(r.promptSeconds)} s`}\n`);
      results.push(r);
    }
  }

  const rows = (flavours as KernelFlavour[]).map((f) => {
    const t = results.find((r) => r.flavour === f && r.emulator === 'tsemu');
    const q = results.find((r) => r.flavour === f && r.emulator === 'qemu');
    const ratio = t?.promptSeconds && q?.promptSeconds ? (t.promptSeconds / q.promptSeconds).toFixed(1) : '-';
    return `| ${f} | ${fmt(t?.promptSeconds ?? null)} | ${fmt(q?.promptSeconds ?? null)} | ${ratio} |`;
  });
  process.stdout.write(['| guest | tsemu s | QEMU TCG s | tsemu/QEMU |', '| --- | ---: | ---: | ---: |', ...rows, ''].join('\n'));

  mkdirSync(join(root, 'build'), { recursive: true });
  const out = join(root, 'build/bench-boot.json');
  const report = { date: new Date().toISOString(), ramMb: GUEST_RAM_MB, append: GUEST_APPEND, results };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`bench-boot: results in ${out}\n`);
  return results.some((r) => r.promptSeconds === null) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (e: unknown) => {
    process.stderr.write(`bench-boot: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
