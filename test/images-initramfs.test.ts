// The cpio "newc" writer (images/lib/cpio.ts) and the members of the Linux test guest's initramfs
// (images/initramfs.ts). Building the real images needs apt (`npm run images`); these tests do not.

import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCpio, writeCpio } from '../images/lib/cpio.ts';
import { INIT_SCRIPT, initramfsEntries, sha256Hex, testFileData, TEST_FILE, TEST_FILE_SUM } from '../images/initramfs.ts';
import { kernelFromDepends } from '../images/debian-packages.ts';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('cpio newc writer', () => {
  it('writes headers, names and data on 4-byte boundaries, then the trailer', () => {
    const a = writeCpio([
      { type: 'dir', path: '/etc' },
      { type: 'file', path: 'etc/motd', data: 'hi\n', mode: 0o600 },
    ]);
    // Member 1: 110-byte header + "etc\0" (114, padded to 116), no data.
    expect(text(a.subarray(0, 6))).toBe('070701');
    const h1 = text(a.subarray(0, 110));
    expect(h1.slice(6, 14)).toBe('00000001'); // ino
    expect(h1.slice(14, 22)).toBe('000041ed'); // S_IFDIR | 0755
    expect(h1.slice(38, 46)).toBe('00000002'); // nlink
    expect(h1.slice(94, 102)).toBe('00000004'); // namesize, NUL included
    expect(text(a.subarray(110, 114))).toBe('etc\0');
    // Member 2 at 116: name "etc/motd\0" ends at 116+119 = 235, padded to 236; 3 data bytes + 1 pad.
    const h2 = text(a.subarray(116, 226));
    expect(h2.slice(14, 22)).toBe('00008180'); // S_IFREG | 0600
    expect(h2.slice(54, 62)).toBe('00000003'); // filesize
    expect(text(a.subarray(236, 239))).toBe('hi\n');
    expect(text(a.subarray(240 + 110, 240 + 121))).toBe('TRAILER!!!\0');
    expect(a.length % 4).toBe(0);
  });

  it('round-trips files, symlinks and device nodes', () => {
    const data = Uint8Array.from({ length: 1001 }, (_, i) => i & 0xff);
    const members = readCpio(
      writeCpio([
        { type: 'dir', path: 'dev' },
        { type: 'char', path: 'dev/console', major: 5, minor: 1 },
        { type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660 },
        { type: 'file', path: './blob', data },
        { type: 'symlink', path: 'bin/sh', target: '/bin/busybox' },
      ]),
    );
    expect(members.map((m) => m.name)).toEqual(['dev', 'dev/console', 'dev/vda', 'blob', 'bin/sh']);
    expect(members[1]).toMatchObject({ mode: 0o020600, rdevMajor: 5, rdevMinor: 1 });
    expect(members[2]).toMatchObject({ mode: 0o060660, rdevMajor: 254, rdevMinor: 0 });
    expect(members[3].data).toEqual(data);
    expect(members[4].mode).toBe(0o120777);
    expect(text(members[4].data)).toBe('/bin/busybox');
  });

  it('refuses bad names and duplicates', () => {
    expect(() => writeCpio([{ type: 'dir', path: '../x' }])).toThrow(/bad member name/);
    expect(() => writeCpio([{ type: 'dir', path: '' }])).toThrow(/bad member name/);
    expect(() => writeCpio([{ type: 'dir', path: 'a' }, { type: 'dir', path: '/a/' }])).toThrow(/twice/);
    expect(() => readCpio(new Uint8Array(50))).toThrow(/truncated/);
  });
});

describe('initramfs members', () => {
  const busybox = new TextEncoder().encode('\x7fELF not really busybox');
  const entries = initramfsEntries(busybox, ['bin/sh', 'usr/bin/sha256sum', 'sbin/reboot', 'bin/busybox', 'linuxrc', '../evil']);
  const archive = readCpio(writeCpio(entries));
  const byName = new Map(archive.map((m) => [m.name, m]));

  it('has /init, busybox and its applet links, and /dev/console for process 1', () => {
    expect(byName.get('init')!.mode).toBe(0o100755);
    expect(text(byName.get('init')!.data)).toBe(INIT_SCRIPT);
    expect(INIT_SCRIPT).toMatch(/^#!\/bin\/sh\n/);
    expect(INIT_SCRIPT).toContain('mount -t devtmpfs devtmpfs /dev');
    expect(INIT_SCRIPT).toContain('setsid cttyhack sh');
    // Leaving the shell powers the machine off (ACPI S5), which ends QEMU and tsemu with status 0.
    expect(INIT_SCRIPT).toMatch(/setsid cttyhack sh -l\n(?:.*\n)*poweroff -f\n/);
    expect(INIT_SCRIPT).not.toContain('reboot');
    expect(byName.get('bin/busybox')!.data).toEqual(busybox);
    expect(text(byName.get('usr/bin/sha256sum')!.data)).toBe('/bin/busybox');
    expect(byName.has('linuxrc')).toBe(false); // only links into the bin folders
    expect(byName.get('dev/console')).toMatchObject({ rdevMajor: 5, rdevMinor: 1 });
    // Every parent folder comes before its members (the kernel unpacks in order).
    const seen = new Set<string>();
    for (const m of archive) {
      const parent = m.name.includes('/') ? m.name.slice(0, m.name.lastIndexOf('/')) : '';
      if (parent) expect(seen.has(parent), `${m.name} before ${parent}`).toBe(true);
      seen.add(m.name);
    }
  });

  it('carries a test file with its SHA-256 for sha256sum -c', () => {
    const data = byName.get(TEST_FILE.slice(1))!.data;
    expect(Buffer.from(data).equals(testFileData())).toBe(true); // (toEqual is slow on 256 KiB)
    expect(text(byName.get(TEST_FILE_SUM.slice(1))!.data)).toBe(`${sha256Hex(data)}  ${TEST_FILE}\n`);
    // Fixed content: the digest never changes between builds (guest tests may rely on it).
    expect(sha256Hex(data)).toBe('422ebf39fc979e52272c1910e8a9313b7cafb3a1d89743b5a1ad9bfdd63f749f');
    expect(data.length).toBe(256 * 1024);
  });

  it('gzips reproducibly', async () => {
    const { gzipSync } = await import('node:zlib');
    const a = gzipSync(writeCpio(entries), { level: 9 });
    const b = gzipSync(writeCpio(entries), { level: 9 });
    expect(a.equals(b)).toBe(true);
    expect(gunzipSync(a).equals(writeCpio(entries))).toBe(true);
  });
});

describe('Debian package helpers', () => {
  it('finds the real kernel package a metapackage depends on', () => {
    expect(kernelFromDepends('linux-image-6.1.0-56-amd64 (= 6.1.192-2)')).toBe('linux-image-6.1.0-56-amd64');
    expect(kernelFromDepends('linux-image-6.1.0-50-686 (= 6.1.176-1) | linux-image-6.1.0-50-686-unsigned (= 6.1.176-1)')).toBe('linux-image-6.1.0-50-686');
    expect(kernelFromDepends('libc6 (>= 2.36)')).toBeNull();
  });
});
