#!/usr/bin/env node
// Builds every test kernel in images/test-kernels/ into build/test-kernels/NAME.elf.
// A kernel NAME is made of NAME.c and/or NAME.S there, linked with lib/*.{c,S}.
// Incremental: a kernel is rebuilt only when one of its inputs is newer.
// Usage: node scripts/build-test-kernels.mjs [--force] [NAME...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'images/test-kernels');
const libDir = join(srcDir, 'lib');
const outDir = join(root, 'build/test-kernels');
const objDir = join(outDir, 'obj');

const CFLAGS = [
  '-m32', '-march=i686', '-ffreestanding', '-fno-pic', '-fno-pie', '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
  '-mgeneral-regs-only', '-mno-red-zone', '-O2', '-Wall', '-Wno-unused-function',
  '-fcf-protection=none', '-fno-delete-null-pointer-checks', `-I${libDir}`,
];
const LDFLAGS = ['-m', 'elf_i386', '-nostdlib', '--build-id=none', '-z', 'noexecstack',
  '--no-warn-rwx-segments', '-T', join(srcDir, 'link.ld')];

function die(msg) {
  console.error(`build-test-kernels: ${msg}`);
  process.exit(1);
}

function checkTool(tool, args) {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    die(`'${tool}' is missing or broken (${r.error ? r.error.message : r.stderr.trim()}); ` +
      'install gcc and binutils (Debian: apt-get install gcc binutils)');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`failed: ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`);
  if (r.stderr.trim()) process.stderr.write(r.stderr);
}

const mtime = (p) => statSync(p).mtimeMs;

function compile(src, obj, deps) {
  if (!force && existsSync(obj) && mtime(obj) >= Math.max(mtime(src), ...deps.map(mtime))) return false;
  // .S goes through the C preprocessor too, so both share #defines.
  run('gcc', [...CFLAGS, '-c', src, '-o', obj]);
  return true;
}

const argv = process.argv.slice(2);
const force = argv.includes('--force');
const only = argv.filter((a) => !a.startsWith('--'));

checkTool('gcc', ['--version']);
checkTool('ld', ['--version']);
checkTool('as', ['--version']);
// gcc must be able to emit 32-bit code.
{
  const r = spawnSync('gcc', ['-m32', '-x', 'c', '-c', '-o', '/dev/null', '-'], { input: 'int x;', encoding: 'utf8' });
  if (r.error || r.status !== 0) die(`gcc cannot compile with -m32: ${r.stderr || r.error}`);
}

mkdirSync(objDir, { recursive: true });
const commonDeps = [join(libDir, 'lib.h'), join(srcDir, 'link.ld'), fileURLToPath(import.meta.url)];

const libObjs = [];
for (const f of readdirSync(libDir).sort()) {
  if (!/\.(c|S)$/.test(f)) continue;
  const obj = join(objDir, `lib-${f.replace(/\.(c|S)$/, '')}-${f.endsWith('.c') ? 'c' : 's'}.o`);
  compile(join(libDir, f), obj, commonDeps);
  libObjs.push(obj);
}

const kernels = new Map();
for (const f of readdirSync(srcDir).sort()) {
  const m = /^([A-Za-z0-9_-]+)\.(c|S)$/.exec(f);
  if (!m) continue;
  if (!kernels.has(m[1])) kernels.set(m[1], []);
  kernels.get(m[1]).push(f);
}
if (kernels.size === 0) die(`no kernels found in ${srcDir}`);
for (const name of only) if (!kernels.has(name)) die(`unknown kernel '${name}'`);

let built = 0;
for (const [name, files] of kernels) {
  if (only.length && !only.includes(name)) continue;
  const objs = files.map((f) => {
    const obj = join(objDir, `${name}-${f.endsWith('.c') ? 'c' : 's'}.o`);
    compile(join(srcDir, f), obj, commonDeps);
    return obj;
  });
  const elf = join(outDir, `${name}.elf`);
  const inputs = [...objs, ...libObjs];
  if (!force && existsSync(elf) && mtime(elf) >= Math.max(...inputs.map(mtime))) continue;
  run('ld', [...LDFLAGS, '-o', elf, ...objs, ...libObjs]);
  built++;
}
console.log(`build-test-kernels: ${kernels.size} kernels, ${built} linked, in ${outDir}`);
