// Fetches Debian binary packages into a cache folder and unpacks them there, without root:
// `apt-get download` + `dpkg-deb -x`, or a copy of the files of a package installed on this system.
// Packages for another architecture (linux-image-686 is i386) go through a private apt state
// (its own package lists, fetched with `apt-get update` into the cache), so the system's apt
// configuration is never changed. Idempotent: an unpacked package is marked complete and reused.
//
// Layout: $TSEMU_IMAGE_CACHE (default build/images/cache)/NAME_VERSION_ARCH/ holds the unpacked
// tree; apt-ARCH/ the private apt state. Nothing here is ever committed.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export class ImageError extends Error {
  override readonly name = 'ImageError';
}

export interface FetchOptions {
  /** Cache folder (default: $TSEMU_IMAGE_CACHE or build/images/cache in the repository). */
  cacheDir?: string;
  /** Debian architecture (default: this system's, from `dpkg --print-architecture`). */
  arch?: string;
  /** Progress messages (default: stderr). */
  log?: (line: string) => void;
}

export interface UnpackedPackage {
  name: string;
  version: string;
  arch: string;
  /** Root of the unpacked file tree. */
  dir: string;
  /** 'cache' (unpacked earlier), 'download' (apt-get download now) or 'system' (copied from dpkg's files). */
  source: 'cache' | 'download' | 'system';
}

const STAMP = '.tsemu-complete';

/** The repository root: the nearest folder above this file (or its bundle) with a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'emulator'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function imageCacheDir(): string {
  return resolve(process.env.TSEMU_IMAGE_CACHE || join(repoRoot(), 'build/images/cache'));
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd?: string): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageError(`'${cmd}' is not installed (a Debian system with apt and dpkg is needed)`);
    throw new ImageError(`${cmd}: ${r.error.message}`);
  }
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** The last non-empty line of a tool's error output, for one-line messages. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('W:'));
  return lines.at(-1) ?? '(no message)';
}

export function hostArch(): string {
  const r = run('dpkg', ['--print-architecture']);
  if (r.status !== 0) throw new ImageError(`dpkg --print-architecture failed: ${lastLine(r.stderr)}`);
  return r.stdout.trim();
}

/** apt options for a private state of `arch` inside the cache (lists, archives, an empty dpkg status). */
function privateApt(cacheDir: string, arch: string): string[] {
  const base = join(cacheDir, `apt-${arch}`);
  mkdirSync(join(base, 'lists/partial'), { recursive: true });
  mkdirSync(join(base, 'archives/partial'), { recursive: true });
  if (!existsSync(join(base, 'status'))) writeFileSync(join(base, 'status'), '');
  return [
    '-o', `Dir::State::Lists=${join(base, 'lists')}`,
    '-o', `Dir::Cache=${base}`,
    '-o', `Dir::Cache::archives=${join(base, 'archives')}`,
    '-o', `Dir::State::status=${join(base, 'status')}`,
    '-o', `APT::Architecture=${arch}`,
    '-o', `APT::Architectures::=${arch}`,
    '-o', 'Debug::NoLocking=1',
  ];
}

function haveLists(cacheDir: string, arch: string): boolean {
  const dir = join(cacheDir, `apt-${arch}`, 'lists');
  return existsSync(dir) && readdirSync(dir).some((f) => f.includes('_Packages'));
}

/** `apt-get update` into the private state. Some index failing (a mirror mid-sync) is fine if others came. */
function updatePrivate(cacheDir: string, arch: string, log: (l: string) => void): void {
  log(`images: fetching Debian package lists for ${arch} into ${join(cacheDir, `apt-${arch}`)}`);
  const r = run('apt-get', ['-q', ...privateApt(cacheDir, arch), 'update']);
  if (!haveLists(cacheDir, arch)) throw new ImageError(`apt-get update for ${arch} failed: ${lastLine(r.stderr)}`);
}

interface Candidate {
  version: string;
  depends: string;
}

/** The version apt would install, and its Depends line; null when apt does not know the package. */
function candidate(name: string, aptOpts: string[]): Candidate | null {
  const r = run('apt-cache', [...aptOpts, 'show', '--no-all-versions', name]);
  if (r.status !== 0 || !/^Package:/m.test(r.stdout)) return null;
  const field = (f: string) => new RegExp(`^${f}: *(.*)$`, 'm').exec(r.stdout)?.[1].trim() ?? '';
  const version = field('Version');
  return version ? { version, depends: field('Depends') } : null;
}

/** Debian version strings may hold ':' (the epoch), which is awkward in file names. */
const dirName = (name: string, version: string, arch: string) => `${name}_${version.replace(/:/g, '%3a')}_${arch}`;

function isComplete(dir: string): boolean {
  return existsSync(join(dir, STAMP));
}

/** An unpacked copy of `name` from an earlier run, for when apt cannot be asked (offline). */
function newestCached(cacheDir: string, name: string, arch: string): UnpackedPackage | null {
  if (!existsSync(cacheDir)) return null;
  const found = readdirSync(cacheDir)
    .filter((d) => d.startsWith(`${name}_`) && d.endsWith(`_${arch}`) && isComplete(join(cacheDir, d)))
    .map((d) => ({ d, t: statSync(join(cacheDir, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  if (found.length === 0) return null;
  const d = found[0].d;
  const version = d.slice(name.length + 1, d.length - arch.length - 1).replace(/%3a/g, ':');
  return { name, version, arch, dir: join(cacheDir, d), source: 'cache' };
}

/** Version of `name` installed on this system (dpkg), or null. */
function installedVersion(name: string): string | null {
  const r = run('dpkg-query', ['-W', '-f=${db:Status-Status} ${Version}', name]);
  if (r.status !== 0) return null;
  const [status, version] = r.stdout.trim().split(' ');
  return status === 'installed' && version ? version : null;
}

/** Copy the files dpkg lists for an installed package into `dest` (same relative paths). */
function copyInstalled(name: string, dest: string): void {
  const r = run('dpkg-query', ['-L', name]);
  if (r.status !== 0) throw new ImageError(`dpkg-query -L ${name} failed: ${lastLine(r.stderr)}`);
  for (const path of r.stdout.split('\n').filter((p) => p.startsWith('/'))) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue; // listed but removed (e.g. a diverted file)
    }
    const to = join(dest, path);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true });
    } else if (st.isSymbolicLink()) {
      mkdirSync(dirname(to), { recursive: true });
      rmSync(to, { force: true });
      symlinkSync(readlinkSync(path), to);
    } else if (st.isFile()) {
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(path, to);
    }
  }
}

/**
 * Make `name` (a real package, not a virtual one) available unpacked in the cache and return
 * where. Order: an earlier unpacked copy of apt's candidate version; the installed package (same
 * architecture only); `apt-get download`. Offline, an earlier copy of any version is used.
 */
export function fetchPackage(name: string, options: FetchOptions = {}): UnpackedPackage {
  const cacheDir = options.cacheDir ?? imageCacheDir();
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const native = hostArch();
  const arch = options.arch ?? native;
  mkdirSync(cacheDir, { recursive: true });

  if (arch === native) {
    const installed = installedVersion(name);
    if (installed) {
      const dir = join(cacheDir, dirName(name, installed, arch));
      if (!isComplete(dir)) {
        log(`images: copying the installed ${name} ${installed}`);
        rmSync(dir, { recursive: true, force: true });
        copyInstalled(name, dir);
        writeFileSync(join(dir, STAMP), '');
        return { name, version: installed, arch, dir, source: 'system' };
      }
      return { name, version: installed, arch, dir, source: 'cache' };
    }
  }

  // Which version? The system's apt for our own architecture, else (or when it does not know the
  // package, e.g. lists never fetched) a private apt state.
  let aptOpts: string[] = [];
  let cand = arch === native ? candidate(name, []) : null;
  if (!cand) {
    aptOpts = privateApt(cacheDir, arch);
    cand = haveLists(cacheDir, arch) ? candidate(name, aptOpts) : null;
    if (!cand) {
      try {
        updatePrivate(cacheDir, arch, log);
        cand = candidate(name, aptOpts);
      } catch (e) {
        const old = newestCached(cacheDir, name, arch);
        if (old) {
          log(`images: ${e instanceof Error ? e.message : String(e)}; using the cached ${name} ${old.version}`);
          return old;
        }
        throw e;
      }
    }
  }
  if (!cand) {
    const old = newestCached(cacheDir, name, arch);
    if (old) return old;
    throw new ImageError(`Debian has no package '${name}' for ${arch} (as far as apt's package lists tell)`);
  }

  const dir = join(cacheDir, dirName(name, cand.version, arch));
  if (isComplete(dir)) return { name, version: cand.version, arch, dir, source: 'cache' };

  const tmp = join(cacheDir, `.download-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    log(`images: downloading ${name} ${cand.version} (${arch})`);
    // A root user's apt hands downloads to the unprivileged _apt user, which cannot write here.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const r = run('apt-get', ['-q', ...aptOpts, ...sandbox, 'download', `${name}=${cand.version}`], tmp);
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (r.status !== 0 || !deb) throw new ImageError(`apt-get download ${name} failed: ${lastLine(r.stderr)}`);
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    const x = run('dpkg-deb', ['-x', join(tmp, deb), partial]);
    if (x.status !== 0) throw new ImageError(`dpkg-deb -x ${deb} failed: ${lastLine(x.stderr)}`);
    writeFileSync(join(partial, STAMP), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { name, version: cand.version, arch, dir, source: 'download' };
}

/** The kernel flavours we build guests for, with the Debian metapackage and architecture of each. */
export const KERNEL_FLAVOURS = {
  amd64: { meta: 'linux-image-amd64', arch: 'amd64' },
  '686': { meta: 'linux-image-686', arch: 'i386' },
} as const;
export type KernelFlavour = keyof typeof KERNEL_FLAVOURS;

export interface KernelPackage extends UnpackedPackage {
  /** The kernel release, e.g. 6.1.0-56-amd64. */
  release: string;
  /** The bzImage inside the unpacked package. */
  vmlinuz: string;
}

/** The real kernel package a metapackage depends on ("linux-image-6.1.0-56-amd64 (= 6.1.192-2)"). */
export function kernelFromDepends(depends: string): string | null {
  for (const alt of depends.split(/[,|]/)) {
    const m = /^\s*(linux-image-\d[^\s(]*)/.exec(alt);
    if (m) return m[1];
  }
  return null;
}

/** Fetch the current Debian kernel of `flavour`: the metapackage's dependency, unpacked. */
export function fetchKernel(flavour: KernelFlavour, options: FetchOptions = {}): KernelPackage {
  const { meta, arch } = KERNEL_FLAVOURS[flavour];
  const cacheDir = options.cacheDir ?? imageCacheDir();
  const native = hostArch();
  let depends: string | null = null;
  let cand = arch === native ? candidate(meta, []) : null;
  if (!cand) {
    const opts = privateApt(cacheDir, arch);
    cand = haveLists(cacheDir, arch) ? candidate(meta, opts) : null;
    if (!cand) {
      try {
        updatePrivate(cacheDir, arch, options.log ?? ((l) => process.stderr.write(`${l}\n`)));
        cand = candidate(meta, opts);
      } catch {
        cand = null;
      }
    }
  }
  if (cand) depends = cand.depends;
  let real = depends ? kernelFromDepends(depends) : null;
  if (!real) {
    // Offline: an earlier unpacked kernel of this flavour.
    if (existsSync(cacheDir)) {
      const suffix = flavour === 'amd64' ? '-amd64' : '-686';
      const names = readdirSync(cacheDir)
        .filter((d) => d.startsWith('linux-image-') && d.endsWith(`_${arch}`) && isComplete(join(cacheDir, d)))
        .map((d) => d.slice(0, d.indexOf('_')))
        .filter((n) => n.endsWith(suffix))
        .sort();
      real = names.at(-1) ?? null;
    }
    if (!real) throw new ImageError(`cannot tell which kernel ${meta} (${arch}) depends on: apt does not know it and nothing is cached`);
  }
  const pkg = fetchPackage(real, { ...options, cacheDir, arch });
  const release = real.slice('linux-image-'.length);
  const vmlinuz = join(pkg.dir, 'boot', `vmlinuz-${release}`);
  if (!existsSync(vmlinuz)) throw new ImageError(`${real} has no boot/vmlinuz-${release}`);
  return { ...pkg, release, vmlinuz };
}

export interface BusyboxPackage extends UnpackedPackage {
  busybox: string;
}

export function fetchBusybox(arch?: string, options: FetchOptions = {}): BusyboxPackage {
  const pkg = fetchPackage('busybox-static', { ...options, arch: arch ?? options.arch });
  const busybox = join(pkg.dir, 'bin', 'busybox');
  if (!existsSync(busybox)) throw new ImageError('busybox-static has no bin/busybox');
  return { ...pkg, busybox };
}
