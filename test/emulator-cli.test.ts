// The tsemu command as a user meets it: the bundled CLI (dist/tsemu.js) run as a process.
// Bad input must give one "tsemu: ..." line on stderr and exit status 1, never a stack trace.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/tsemu.js');
const hello = join(root, 'build/test-kernels/hello.elf');
const dir = mkdtempSync(join(tmpdir(), 'tsemu-cli-'));
const common = ['-nodefaults', '-display', 'none', '-no-reboot', '-m', '64', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'];

function tsemu(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One line, starting with "tsemu: ", and nothing that looks like a stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tsemu: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/^\s+at /m);
}

beforeAll(() => {
  expect(existsSync(cli), 'dist/tsemu.js is built by `npm test` (npm run build)').toBe(true);
  const r = spawnSync(process.execPath, [join(root, 'scripts/build-test-kernels.mjs')], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});

describe('tsemu command line', () => {
  it('prints its version', () => {
    const r = tsemu(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^tsemu version \d+\.\d+\.\d+$/);
  });

  it('runs a kernel and exits with the isa-debug-exit status', () => {
    const r = tsemu([...common, '-serial', 'stdio', '-kernel', hello]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1); // the kernel writes 0: (0 << 1) | 1
    expect(r.stdout).toMatch(/^hello from a test kernel\n/);
    expect(r.stdout).toMatch(/DONE\n$/);
  });

  it('rejects a file that is not a kernel', () => {
    const f = join(dir, 'text.bin');
    writeFileSync(f, 'this is not an ELF file, nor a Multiboot kernel\n'.repeat(10));
    const r = tsemu([...common, '-kernel', f]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, new RegExp(`could not load kernel '${f}': `));
  });

  it('rejects a truncated kernel', () => {
    const f = join(dir, 'truncated.elf');
    const elf = readFileSync(hello);
    writeFileSync(f, elf.subarray(0, Math.min(elf.length - 1, 0x1100)));
    const r = tsemu([...common, '-kernel', f]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, /could not load kernel .*truncated/);
  });

  it('rejects a kernel whose segments lie outside RAM', () => {
    const f = join(dir, 'high.elf');
    const elf = Buffer.from(readFileSync(hello));
    // Move every PT_LOAD segment's physical address to 3 GiB (ELF32 program headers).
    const phoff = elf.readUInt32LE(28), phentsize = elf.readUInt16LE(42), phnum = elf.readUInt16LE(44);
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (elf.readUInt32LE(o) === 1) elf.writeUInt32LE(0xc0000000 + i * 0x100000, o + 12);
    }
    writeFileSync(f, elf);
    const r = tsemu([...common, '-kernel', f]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, /could not load kernel .*(outside|beyond|RAM)/i);
  });

  it('rejects a missing kernel file', () => {
    const r = tsemu([...common, '-kernel', join(dir, 'nope.elf')]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, /could not load kernel .*nope\.elf/);
  });

  it('names an unknown option', () => {
    const r = tsemu(['-frobnicate', '-kernel', hello]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, /-frobnicate/);
  });

  it('-serial file:PATH gets what -serial stdio would print; -serial null nothing', () => {
    const viaStdio = tsemu([...common, '-serial', 'stdio', '-kernel', hello]);
    const path = join(dir, 'com1.txt');
    const viaFile = tsemu([...common, '-serial', `file:${path}`, '-kernel', hello]);
    expect(viaFile.status).toBe(1);
    expect(viaFile.stdout).toBe('');
    expect(readFileSync(path, 'utf8')).toBe(viaStdio.stdout);
    const viaNull = tsemu([...common, '-serial', 'null', '-kernel', hello]);
    expect(viaNull).toEqual({ status: 1, stdout: '', stderr: '' });
    // -serial none: no COM1 at all; the kernel's polling of a floating LSR still lets it finish.
    expect(tsemu([...common, '-serial', 'none', '-kernel', hello]).status).toBe(1);
  });

  it('-nographic shares the terminal between COM1 and the (hidden until Ctrl-A c) monitor', () => {
    const r = spawnSync(process.execPath, [cli, '-nographic', '-m', '64', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', hello], {
      encoding: 'utf8',
      input: '',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^hello from a test kernel\n[^]*DONE\n$/);
    expect(r.stderr).toBe('');
  });

  it('-chardev help lists the backends', () => {
    const r = tsemu(['-chardev', 'help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Available chardev backend types: \n(  \w+\n)+$/);
    expect(r.stdout).toContain('  socket\n');
  });

  it('refuses bad chardev and monitor options in one line, in QEMU words', () => {
    const cases: [string[], RegExp][] = [
      [['-serial', 'bogus'], /^tsemu: -serial bogus: 'bogus' is not a valid char driver$/],
      [['-chardev', 'null,id=a', '-chardev', 'null,id=a'], /^tsemu: -chardev null,id=a: Duplicate ID 'a' for chardev$/],
      [['-mon', 'chardev=nope'], /^tsemu: -mon chardev=nope: chardev "nope" not found$/],
      [['-monitor', 'stdio', '-serial', 'stdio'], /^tsemu: -serial stdio: cannot use stdio by multiple character devices$/],
      [['-serial', `file:${join(dir, 'no/such/dir/x')}`], /^tsemu: -serial file:.*: Could not open '.*no\/such\/dir\/x': No such file or directory$/],
      [['-chardev', 'socket,id=s,host=127.0.0.1,port=1,server=on,wait=off,reconnect=1'], /^tsemu: -chardev .*: 'reconnect' option is incompatible with socket in server listen mode$/],
      [['-qmp', 'stdio'], /^tsemu: -qmp: option not supported yet$/],
    ];
    for (const [args, pattern] of cases) {
      const r = tsemu([...common, ...args, '-kernel', hello]);
      expect(r.status, args.join(' ')).toBe(1);
      expectOneLineError(r.stderr, pattern);
    }
  });

  it('says that more than one CPU is not supported yet', () => {
    const r = tsemu([...common, '-smp', '2', '-kernel', hello]);
    expect(r.status).toBe(1);
    expectOneLineError(r.stderr, /smp|CPU/i);
  });
});
