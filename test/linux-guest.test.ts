// The Linux test guest (images/): Debian's kernel with a busybox initramfs boots in tsemu to a
// shell on the serial console, answers a few commands and powers the machine off through ACPI.
//
// The images are built here (images/initramfs.ts buildGuestImages: `apt-get download` of Debian's
// kernel and busybox-static on the first run, the cache afterwards). Without them the tests fail
// in CI (CI set) and are skipped elsewhere, with the reason.
//
// What is checked, per guest:
//  - the shell prompt comes, `uname -m` names the architecture;
//  - the flags of /proc/cpuinfo are exactly what tsemu's CPUID advertises, under Linux's names,
//    plus only flags Linux makes up itself (SYNTHETIC below);
//  - `sha256sum` of the initramfs's test file equals the host's digest of the same bytes;
//  - `poweroff -f` (amd64) or leaving the shell, after which /init powers off (i386), ends tsemu
//    with status 0 through the PIIX4 PM soft-off;
//  - the console log has no oops, BUG, WARNING, panic or "unchecked MSR access" lines.
// The serial log of each run is kept in build/linux-guest-FLAVOUR.log.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { Cpu } from '../cpu/cpu.ts';
import { Reg, StopReason } from '../cpu/types.ts';
import { Machine } from '../emulator/machine.ts';
import { parseArgs } from '../emulator/options.ts';
import { GuestConsole, guestArgs } from '../images/guest-console.ts';
import { buildGuestImages, ImageError, type GuestImages, TEST_FILE } from '../images/initramfs.ts';
import type { KernelFlavour } from '../images/debian-packages.ts';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/tsemu.js');
const inCi = Boolean(process.env.CI);

// Generous limits: the boot takes about two minutes on a loaded 2-core machine today.
const BOOT_TIMEOUT_MS = 540_000;
const COMMAND_TIMEOUT_MS = 60_000;
const POWEROFF_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = BOOT_TIMEOUT_MS + 4 * COMMAND_TIMEOUT_MS + POWEROFF_TIMEOUT_MS + 300_000;

// ---- what CPUID advertises, under the names Linux gives the bits in /proc/cpuinfo ----

/**
 * Leaf/register → bit → Linux's flag name. Bits whose name Linux leaves empty (it never prints
 * them) map to ''. A bit that CPUID sets and that is missing here fails the test: name it when
 * CPUID learns something new.
 */
const CPUID_NAMES: { leaf: number; sub: number; reg: 'eax' | 'ebx' | 'ecx' | 'edx'; names: Record<number, string> }[] = [
  {
    leaf: 1, sub: 0, reg: 'edx',
    names: {
      0: 'fpu', 1: 'vme', 2: 'de', 3: 'pse', 4: 'tsc', 5: 'msr', 6: 'pae', 7: 'mce', 8: 'cx8', 9: 'apic',
      11: 'sep', 12: 'mtrr', 13: 'pge', 14: 'mca', 15: 'cmov', 16: 'pat', 17: 'pse36', 18: 'pn',
      19: 'clflush', 21: 'dts', 22: 'acpi', 23: 'mmx', 24: 'fxsr', 25: 'sse', 26: 'sse2', 27: 'ss',
      28: 'ht', 29: 'tm', 30: 'ia64', 31: 'pbe',
    },
  },
  {
    leaf: 1, sub: 0, reg: 'ecx',
    names: {
      0: 'pni', 1: 'pclmulqdq', 2: 'dtes64', 3: 'monitor', 4: 'ds_cpl', 5: 'vmx', 6: 'smx', 7: 'est',
      8: 'tm2', 9: 'ssse3', 10: 'cid', 11: 'sdbg', 12: 'fma', 13: 'cx16', 14: 'xtpr', 15: 'pdcm',
      17: 'pcid', 18: 'dca', 19: 'sse4_1', 20: 'sse4_2', 21: 'x2apic', 22: 'movbe', 23: 'popcnt',
      24: 'tsc_deadline_timer', 25: 'aes', 26: 'xsave', 27: '' /* OSXSAVE: a copy of CR4 */, 28: 'avx',
      29: 'f16c', 30: 'rdrand', 31: 'hypervisor',
    },
  },
  {
    leaf: 7, sub: 0, reg: 'ebx',
    names: {
      0: 'fsgsbase', 1: 'tsc_adjust', 2: 'sgx', 3: 'bmi1', 4: 'hle', 5: 'avx2', 6: '', 7: 'smep', 8: 'bmi2',
      9: 'erms', 10: 'invpcid', 11: 'rtm', 12: 'cqm', 13: '', 14: 'mpx', 15: 'rdt_a', 16: 'avx512f',
      17: 'avx512dq', 18: 'rdseed', 19: 'adx', 20: 'smap', 21: 'avx512ifma', 23: 'clflushopt',
      24: 'clwb', 25: 'intel_pt', 26: 'avx512pf', 27: 'avx512er', 28: 'avx512cd', 29: 'sha_ni',
      30: 'avx512bw', 31: 'avx512vl',
    },
  },
  { leaf: 7, sub: 0, reg: 'ecx', names: { 1: 'avx512vbmi', 2: 'umip', 3: 'pku', 4: 'ospke', 5: 'waitpkg', 8: 'gfni', 9: 'vaes', 10: 'vpclmulqdq', 22: 'rdpid' } },
  { leaf: 7, sub: 0, reg: 'edx', names: { 4: 'fsrm', 10: 'md_clear', 26: 'ibrs', 29: 'arch_capabilities', 31: 'ssbd' } },
  { leaf: 0xd, sub: 1, reg: 'eax', names: { 0: 'xsaveopt', 1: 'xsavec', 2: 'xgetbv1', 3: 'xsaves' } },
  {
    leaf: 0x80000001, sub: 0, reg: 'edx',
    names: { 11: 'syscall', 19: 'mp', 20: 'nx', 22: 'mmxext', 25: 'fxsr_opt', 26: 'pdpe1gb', 27: 'rdtscp', 29: 'lm', 30: '3dnowext', 31: '3dnow' },
  },
  {
    leaf: 0x80000001, sub: 0, reg: 'ecx',
    names: {
      0: 'lahf_lm', 1: 'cmp_legacy', 2: 'svm', 3: 'extapic', 4: 'cr8_legacy', 5: 'abm', 6: 'sse4a',
      7: 'misalignsse', 8: '3dnowprefetch', 9: 'osvw', 10: 'ibs', 11: 'xop', 12: 'skinit', 13: 'wdt',
      15: 'lwp', 16: 'fma4', 17: 'tce', 19: 'nodeid_msr', 21: 'tbm', 22: 'topoext', 23: 'perfctr_core',
    },
  },
  // Power management leaves Linux turns into flags: thermal/power (6) and the invariant TSC.
  { leaf: 6, sub: 0, reg: 'eax', names: { 0: 'dtherm', 1: 'ida', 2: 'arat', 4: 'pln', 6: 'pts' } },
  { leaf: 0x80000007, sub: 0, reg: 'edx', names: { 8: 'constant_tsc nonstop_tsc' } },
];

/**
 * Flags Linux sets from other evidence than one CPUID bit; each may appear in /proc/cpuinfo without
 * a CPUID bit of its own, and nothing else may.
 */
const SYNTHETIC = new Map<string, string>([
  ['cpuid', 'the CPUID instruction exists (every x86-64 CPU; set for all CPUs that have it)'],
  ['constant_tsc', 'Intel family 6 from model 0x0e on: the TSC ticks at a constant rate'],
  ['nonstop_tsc', 'set with constant_tsc from leaf 0x80000007 or for known models'],
  ['tsc_known_freq', 'the TSC frequency came from CPUID leaf 0x15/0x16 or a hypervisor'],
  ['tsc_reliable', 'a hypervisor vouches for the TSC'],
  ['rep_good', '64-bit kernels on Intel family 6: REP MOVS/STOS are fast'],
  ['nopl', '64-bit kernels: the long NOP (0F 1F) is always there'],
  ['xtopology', 'CPUID leaf 0x0B describes the topology'],
  ['pti', 'page-table isolation against Meltdown (Intel CPUs without RDCL_NO)'],
  ['arch_perfmon', 'CPUID leaf 0x0A describes architectural performance counters'],
  ['pebs', 'precise event sampling (from the debug-store MSR)'],
  ['bts', 'branch trace store (from the debug-store MSR)'],
  ['flexpriority', 'VMX features (only with vmx)'],
  ['ibpb', 'indirect branch prediction barrier (from leaf 7 EDX)'],
  ['stibp', 'single-thread indirect branch predictors (from leaf 7 EDX)'],
  ['ssbd', 'speculative store bypass disable (from leaf 7 EDX)'],
]);

type Regs = { eax: number; ebx: number; ecx: number; edx: number };

/**
 * Run code on the CPU of a machine built the way `tsemu -kernel BZIMAGE` builds it (so the host's
 * APIC features are in CPUID), in the flat 32-bit protected mode of the Linux entry, at CPL 0; the
 * code is followed by HLT. Returns EAX, EBX, ECX, EDX afterwards.
 */
async function machineCpu(): Promise<(code: number[], eax: number, ecx?: number, edx?: number) => Regs> {
  // The smallest bzImage the loader takes: a setup header, and HLT as the protected-mode code.
  const bz = new Uint8Array(5 * 512 + 512);
  const v = new DataView(bz.buffer);
  bz[0x1f1] = 4;
  v.setUint32(0x1f4, 512 / 16, true);
  v.setUint16(0x1fe, 0xaa55, true);
  bz.set([0xeb, 0x6a, 0x48, 0x64, 0x72, 0x53], 0x200); // jmp to the header's end, "HdrS"
  v.setUint16(0x206, 0x020f, true);
  bz[0x211] = 0x01;
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x238, 255, true);
  bz[5 * 512] = 0xf4;
  const parsed = parseArgs(['-nographic', '-m', '64', '-kernel', 'bz']);
  if (parsed.action !== 'run') throw new Error('bad arguments');
  const m = await Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host), {
    readFile: () => bz,
    stdout: () => {},
    stdin: null,
    stderr: () => {},
  });
  const cpu = m.cpu;
  const at = 0x200000;
  return (code, eax, ecx = 0, edx = 0) => {
    cpu.ram.set([...code, 0xf4], at);
    cpu.ramWritten(at, code.length + 1);
    cpu.setReg(Reg.RAX, BigInt(eax));
    cpu.setReg(Reg.RCX, BigInt(ecx));
    cpu.setReg(Reg.RDX, BigInt(edx));
    cpu.setRip(BigInt(at));
    const r = cpu.run(100);
    // No IDT: an exception would end in a triple fault rather than at the HLT.
    if (r.reason !== StopReason.Halt || Number(cpu.getRip()) !== at + code.length + 1) {
      throw new Error(`${code.map((b) => b.toString(16)).join(' ')} with EAX=${eax.toString(16)}: the CPU stopped for reason ${r.reason}`);
    }
    const reg = (i: Reg) => Number(cpu.getReg(i) & 0xffffffffn);
    return { eax: reg(Reg.RAX), ebx: reg(Reg.RBX), ecx: reg(Reg.RCX), edx: reg(Reg.RDX) };
  };
}

const CPUID = [0x0f, 0xa2];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];

/** CPUID as the guest sees it. */
async function machineCpuid(): Promise<(leaf: number, sub?: number) => Regs> {
  const exec = await machineCpu();
  return (leaf, sub = 0) => exec(CPUID, leaf, sub);
}

/** The /proc/cpuinfo flags CPUID implies; throws for set bits the table has no name for. */
async function expectedFlags(): Promise<Set<string>> {
  const cpuid = await machineCpuid();
  const maxBasic = cpuid(0).eax;
  const maxExtended = cpuid(0x80000000).eax;
  const flags = new Set<string>();
  for (const { leaf, sub, reg, names } of CPUID_NAMES) {
    if (leaf < 0x80000000 ? leaf > maxBasic : leaf > maxExtended) continue;
    const value = cpuid(leaf, sub)[reg];
    for (let bit = 0; bit < 32; bit++) {
      if (!((value >>> bit) & 1)) continue;
      const name = names[bit];
      if (name === undefined) throw new Error(`CPUID leaf ${leaf.toString(16)}.${sub} ${reg} bit ${bit} is set but has no Linux name in CPUID_NAMES`);
      for (const n of name.split(' ').filter(Boolean)) flags.add(n);
    }
  }
  return flags;
}

// ---- the guest ----

/** Lines that mean the kernel is unwell. */
const TROUBLE = /Oops|BUG:|WARNING:|Kernel panic|unchecked MSR access|general protection fault|Call Trace|segfault at|invalid opcode/;

interface Prepared {
  images: GuestImages;
}

/** Build (or reuse) the images; in CI a failure fails the test, elsewhere it skips it. */
function prepare(flavour: KernelFlavour, ctx: TestContext): Prepared {
  const problem = (why: string): never => {
    if (inCi) throw new Error(`linux-guest ${flavour}: ${why}`);
    console.log(`linux-guest ${flavour}: skipped: ${why}`);
    return ctx.skip(why);
  };
  if (!existsSync(cli)) problem(`${cli} is missing (run \`npm run build\`)`);
  try {
    return { images: buildGuestImages(flavour, { log: (l) => console.log(l) }) };
  } catch (e) {
    if (e instanceof ImageError) return problem(`the guest images could not be built: ${e.message}`);
    throw e;
  }
}

function keepLog(flavour: string, g: GuestConsole): string {
  const path = join(root, `build/linux-guest-${flavour}.log`);
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(path, g.output, 'latin1');
  return path;
}

function troubleLines(log: string): string[] {
  return log.replace(/\r/g, '').split('\n').filter((l) => TROUBLE.test(l));
}

function flagsOf(cpuinfo: string): string[] {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) throw new Error(`no flags line in /proc/cpuinfo:\n${cpuinfo}`);
  return line.replace(/^flags\s*:\s*/, '').trim().split(/\s+/);
}

function checkFlags(guest: string[], expected: Set<string>): void {
  const seen = new Set(guest);
  const missing = [...expected].filter((f) => !seen.has(f));
  const unexplained = guest.filter((f) => !expected.has(f) && !SYNTHETIC.has(f));
  expect({ missing, unexplained }, `guest flags: ${guest.join(' ')}`).toEqual({ missing: [], unexplained: [] });
}

interface Session {
  flavour: KernelFlavour;
  machine: string;
  /** After the commands: the way out of the guest. */
  leave: 'poweroff -f' | 'exit';
}

async function bootAndCheck(s: Session, ctx: TestContext): Promise<void> {
  const { images } = prepare(s.flavour, ctx);
  const expected = await expectedFlags();
  const g = new GuestConsole(process.execPath, [cli, ...guestArgs(s.flavour)]);
  try {
    await g.prompt(BOOT_TIMEOUT_MS);
    const bootSeconds = g.elapsed;
    expect(g.output).toContain(`tsemu guest: ${images.release}`);
    expect(await g.run('uname -m', COMMAND_TIMEOUT_MS)).toBe(s.machine);
    checkFlags(flagsOf(await g.run('cat /proc/cpuinfo', COMMAND_TIMEOUT_MS)), expected);
    const sum = await g.run(`sha256sum ${TEST_FILE}`, COMMAND_TIMEOUT_MS);
    expect(sum).toBe(`${images.testFileSha256}  ${TEST_FILE}`);
    await g.type(s.leave);
    const status = await g.exit(POWEROFF_TIMEOUT_MS);
    console.log(`linux-guest ${s.flavour}: shell prompt after ${bootSeconds.toFixed(1)} s, tsemu ended after ${g.elapsed.toFixed(1)} s`);
    if (s.leave === 'exit') expect(g.output).toContain('tsemu guest: shell exited, powering off');
    expect(g.output).toMatch(/reboot: Power down/);
    expect(status).toBe(0);
    expect(troubleLines(g.output)).toEqual([]);
  } catch (e) {
    const path = keepLog(s.flavour, g);
    if (e instanceof Error) e.message += `\n(serial log: ${path}; tsemu stderr: ${g.stderr.trim() || 'empty'})`;
    throw e;
  } finally {
    await g.kill();
    keepLog(s.flavour, g);
  }
}

describe('the Linux test guest in tsemu', () => {
  it('amd64: boots to the shell, uname, cpuinfo flags, sha256sum, poweroff -f ends tsemu with 0', (ctx) =>
    bootAndCheck({ flavour: 'amd64', machine: 'x86_64', leave: 'poweroff -f' }, ctx), TEST_TIMEOUT_MS);

  it('i386 (686 kernel): boots to the shell, uname, cpuinfo flags, sha256sum; leaving the shell powers off', (ctx) =>
    bootAndCheck({ flavour: '686', machine: 'i686', leave: 'exit' }, ctx), TEST_TIMEOUT_MS);
});

describe('what Linux asks the CPU before the shell', () => {
  it('has the microcode MSRs it reads without a safety net (no "unchecked MSR access")', async () => {
    const exec = await machineCpu();
    // The revision check: WRMSR 0 to IA32_BIOS_SIGN_ID, CPUID(1), RDMSR: the revision in EDX.
    expect(exec([...WRMSR, 0xb8, 1, 0, 0, 0, ...CPUID, 0xb9, 0x8b, 0, 0, 0, ...RDMSR], 0, 0x8b).edx).toBe(1);
    // IA32_PLATFORM_ID: platform 0 (Linux prints pf=0x1).
    expect(exec(RDMSR, 0, 0x17)).toMatchObject({ eax: 0, edx: 0 });
  });
});

describe('CPUID → /proc/cpuinfo names', () => {
  it('names every bit tsemu advertises', async () => {
    const flags = await expectedFlags();
    // A few that must be there whatever else changes.
    for (const f of ['fpu', 'tsc', 'apic', 'sse2', 'lm', 'nx', 'syscall', 'pni', 'x2apic', 'tsc_deadline_timer']) expect(flags.has(f), f).toBe(true);
    expect(flags.has('')).toBe(false);
  });
});
