// The Linux/x86 boot protocol loader (emulator/linux-boot.ts): synthetic bzImages built here, a
// tiny one booted on the real CPU through the machine (which installs the ACPI tables for it), and
// the Debian kernel when it is cached (`npm run images` fetches it). Booting Debian's kernel to its
// shell is test/linux-guest.test.ts.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Seg } from '../cpu/types.ts';
import { Cpu } from '../cpu/cpu.ts';
import {
  BOOT_PARAMS_ADDR,
  CMDLINE_ADDR,
  isLinuxKernel,
  KERNEL_LOAD_ADDR,
  KernelLoadError,
  LINUX_GDT_ADDR,
  loadLinux,
  type LinuxBootInput,
} from '../emulator/linux-boot.ts';
import { Machine } from '../emulator/machine.ts';
import { parseArgs } from '../emulator/options.ts';

const MiB = 1024 * 1024;
const root = resolve(import.meta.dirname, '..');

interface BzOptions {
  setupSects?: number;
  protocol?: number;
  /** The protected-mode part (default: 4 KiB of a recognisable pattern). */
  payload?: Uint8Array;
  loadflags?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  relocatable?: boolean;
  prefAddress?: number;
  initSize?: number;
  code32Start?: number;
  /** Bytes to cut off the end of the finished file. */
  truncate?: number;
}

/** A bzImage with a setup header as `make bzImage` lays it out (Documentation/arch/x86/boot.rst). */
function makeBzImage(o: BzOptions = {}): Uint8Array {
  const setupSects = o.setupSects ?? 4;
  const setupBytes = ((setupSects === 0 ? 4 : setupSects) + 1) * 512;
  const payload = o.payload ?? Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
  const img = new Uint8Array(setupBytes + payload.length);
  const v = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  v.setUint32(0x1f4, Math.ceil(payload.length / 16), true); // syssize
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb; // jmp short: the byte at 0x201 gives the header's end (0x202 + it)
  img[0x201] = 0x6a; // header up to 0x26c, as protocol 2.15 kernels have
  img.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
  v.setUint16(0x206, o.protocol ?? 0x020f, true);
  img[0x211] = o.loadflags ?? 0x01; // LOADED_HIGH
  v.setUint32(0x214, o.code32Start ?? 0x100000, true);
  v.setUint32(0x22c, o.initrdAddrMax ?? 0x7fffffff, true);
  v.setUint32(0x230, 0x200000, true); // kernel_alignment
  img[0x234] = o.relocatable ? 1 : 0;
  v.setUint32(0x238, o.cmdlineSize ?? 2047, true);
  v.setBigUint64(0x258, BigInt(o.prefAddress ?? 0x1000000), true);
  v.setUint32(0x260, o.initSize ?? 0x10000, true);
  img.set(payload, setupBytes);
  return o.truncate ? img.slice(0, img.length - o.truncate) : img;
}

function load(ramSize: number, input: Partial<LinuxBootInput> & { kernel: Uint8Array }) {
  const ram = new Uint8Array(ramSize);
  const layout = loadLinux(ram, { cmdline: '', initrd: null, ...input });
  return { ram, layout, mem: new DataView(ram.buffer) };
}

function loadError(ramSize: number, input: Partial<LinuxBootInput> & { kernel: Uint8Array }): string {
  try {
    load(ramSize, input);
  } catch (e) {
    expect(e).toBeInstanceOf(KernelLoadError);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a KernelLoadError');
}

describe('Linux boot protocol loader', () => {
  it('recognises a bzImage by "HdrS" at 0x202', () => {
    expect(isLinuxKernel(makeBzImage())).toBe(true);
    expect(isLinuxKernel(new Uint8Array(0x300))).toBe(false);
    expect(isLinuxKernel(new Uint8Array(10))).toBe(false);
  });

  it('loads the protected-mode kernel at 1 MiB and fills boot_params', () => {
    const kernel = makeBzImage();
    const initrd = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    const ramSize = 64 * MiB;
    const { ram, layout, mem } = load(ramSize, { kernel, cmdline: 'console=ttyS0 quiet', initrd });
    const bp = BOOT_PARAMS_ADDR;
    expect(layout.bootParams).toBe(bp);
    expect(layout.protocol).toBe(0x020f);
    // The protected-mode part, byte for byte, at 0x100000.
    expect(ram.subarray(KERNEL_LOAD_ADDR, KERNEL_LOAD_ADDR + 4096)).toEqual(kernel.subarray(5 * 512));
    expect(layout.kernelEnd).toBe(KERNEL_LOAD_ADDR + 4096);
    // The setup header is copied from 0x1f1 to its end (0x26c) and then amended.
    expect(mem.getUint16(bp + 0x1fe, true)).toBe(0xaa55);
    expect(new TextDecoder().decode(ram.subarray(bp + 0x202, bp + 0x206))).toBe('HdrS');
    expect(mem.getUint16(bp + 0x206, true)).toBe(0x020f);
    expect(mem.getUint32(bp + 0x260, true)).toBe(0x10000); // init_size survives the copy
    expect(ram[bp + 0x1f1]).toBe(4);
    expect(mem.getUint16(bp + 0x1fa, true)).toBe(0xffff); // vid_mode: normal
    expect(ram[bp + 0x210]).toBe(0xff); // type_of_loader
    expect(ram[bp + 0x211] & 0x81).toBe(0x81); // CAN_USE_HEAP | LOADED_HIGH
    expect(ram[bp + 0x211] & 0x40).toBe(0); // KEEP_SEGMENTS clear
    expect(mem.getUint16(bp + 0x224, true)).toBe(0xde00); // heap_end_ptr
    // Command line, NUL-terminated.
    expect(mem.getUint32(bp + 0x228, true)).toBe(CMDLINE_ADDR);
    expect(new TextDecoder().decode(ram.subarray(CMDLINE_ADDR, CMDLINE_ADDR + 19))).toBe('console=ttyS0 quiet');
    expect(ram[CMDLINE_ADDR + 19]).toBe(0);
    // Initrd: page aligned, as high as fits, contents intact.
    const start = mem.getUint32(bp + 0x218, true);
    expect(mem.getUint32(bp + 0x21c, true)).toBe(10_000);
    expect(start % 4096).toBe(0);
    expect(start + 10_000).toBeLessThanOrEqual(ramSize);
    expect(start + 10_000 + 4096).toBeGreaterThan(ramSize);
    expect(ram.subarray(start, start + 10_000)).toEqual(initrd);
    expect(layout.initrd).toEqual({ start, end: start + 10_000 });
    // e820: low RAM, the EBDA, the BIOS area, RAM from 1 MiB.
    expect(ram[bp + 0x1e8]).toBe(4);
    const e820 = [0, 1, 2, 3].map((i) => {
      const e = bp + 0x2d0 + 20 * i;
      return [Number(mem.getBigUint64(e, true)), Number(mem.getBigUint64(e + 8, true)), mem.getUint32(e + 16, true)];
    });
    expect(e820).toEqual([
      [0, 0x9fc00, 1],
      [0x9fc00, 0x400, 2],
      [0xf0000, 0x10000, 2],
      [0x100000, ramSize - 0x100000, 1],
    ]);
    expect(mem.getUint32(bp + 0x1e0, true)).toBe(63 * 1024); // alt_mem_k
    expect(mem.getUint16(bp + 0x02, true)).toBe(63 * 1024); // ext_mem_k
    // screen_info: 80x25 colour VGA text.
    expect(ram[bp + 0x06]).toBe(3);
    expect(ram[bp + 0x07]).toBe(80);
    expect(ram[bp + 0x0e]).toBe(25);
    expect(ram[bp + 0x0f]).toBe(1);
    expect(mem.getUint16(bp + 0x10, true)).toBe(16);
    // BIOS data area: EBDA segment and base memory agree with e820.
    expect(mem.getUint16(0x40e, true)).toBe(0x9fc0);
    expect(mem.getUint16(0x413, true)).toBe(639);
  });

  it('enters in flat 32-bit protected mode with ESI = boot_params', () => {
    const { layout, mem } = load(32 * MiB, { kernel: makeBzImage() });
    const s = layout.entry;
    expect(s.eip).toBe(0x100000);
    expect(s.esi).toBe(BOOT_PARAMS_ADDR);
    expect(s.ebx).toBe(0);
    expect(s.eflags & 0x200).toBe(0); // IF clear
    expect(s.cr0 & 0x80000001).toBe(1); // PE on, PG off
    expect(s.segments[Seg.CS]).toMatchObject({ selector: 0x10, base: 0n, limit: 0xffffffff });
    expect(s.segments[Seg.CS].flags & 0x00400800).toBe(0x00400800); // 32-bit code
    for (const seg of [Seg.DS, Seg.ES, Seg.SS]) expect(s.segments[seg]).toMatchObject({ selector: 0x18, base: 0n, limit: 0xffffffff });
    // The GDT in RAM has the same descriptors at 0x10 and 0x18 (the kernel may reload them).
    expect(s.gdt.base).toBe(LINUX_GDT_ADDR);
    expect(s.gdt.limit).toBeGreaterThanOrEqual(0x1f);
    expect(mem.getUint32(LINUX_GDT_ADDR + 0x10, true)).toBe(0x0000ffff);
    expect(mem.getUint32(LINUX_GDT_ADDR + 0x14, true) & 0x00f0ff00).toBe(s.segments[Seg.CS].flags);
    expect(mem.getUint32(LINUX_GDT_ADDR + 0x1c, true) & 0x00f0ff00).toBe(s.segments[Seg.DS].flags);
  });

  it('reads setup_sects 0 as 4 and honours initrd_addr_max', () => {
    const kernel = makeBzImage({ setupSects: 0, initrdAddrMax: 0x00ffffff });
    const { ram, layout } = load(64 * MiB, { kernel, initrd: new Uint8Array(5000).fill(0xab) });
    expect(ram.subarray(KERNEL_LOAD_ADDR, KERNEL_LOAD_ADDR + 16)).toEqual(kernel.subarray(2560, 2576));
    expect(layout.initrd!.end).toBeLessThanOrEqual(0x1000000);
    expect(layout.initrd!.start).toBe(0x1000000 - 8192);
  });

  it('keeps the initrd clear of the memory a relocatable kernel unpacks into', () => {
    const kernel = makeBzImage({ relocatable: true, prefAddress: 0x1000000, initSize: 0x2000000 });
    const { layout } = load(64 * MiB, { kernel, initrd: new Uint8Array(4096) });
    expect(layout.kernelNeedEnd).toBe(0x3000000);
    expect(layout.initrd!.start).toBeGreaterThanOrEqual(0x3000000);
    expect(loadError(48 * MiB, { kernel, initrd: new Uint8Array(0x800000) })).toMatch(/initrd of 8388608 bytes does not fit/);
  });

  it('keeps the ACPI tables at the top of RAM out of the kernel memory', () => {
    const ramSize = 64 * MiB;
    const acpiTables = { base: ramSize - 0x20000, length: 0x20000 };
    const initrd = new Uint8Array(10_000).fill(0x5a);
    const { ram, layout, mem } = load(ramSize, { kernel: makeBzImage(), initrd, acpiTables });
    // The initrd moves below the tables; nothing of it overlaps them.
    expect(layout.initrd!.end).toBeLessThanOrEqual(acpiTables.base);
    expect(layout.initrd!.start).toBe(acpiTables.base - 12_288);
    // e820: RAM from 1 MiB ends where the tables start; they are ACPI data (type 3).
    expect(layout.e820.slice(3)).toEqual([
      { base: 0x100000, length: acpiTables.base - 0x100000, type: 1 },
      { base: acpiTables.base, length: 0x20000, type: 3 },
    ]);
    expect(ram[BOOT_PARAMS_ADDR + 0x1e8]).toBe(5);
    const last = BOOT_PARAMS_ADDR + 0x2d0 + 20 * 4;
    expect([Number(mem.getBigUint64(last, true)), Number(mem.getBigUint64(last + 8, true)), mem.getUint32(last + 16, true)]).toEqual([acpiTables.base, 0x20000, 3]);
    // A kernel that needs the tables' memory to unpack is refused.
    const big = makeBzImage({ relocatable: true, prefAddress: 0x1000000, initSize: 64 * MiB - 0x1000000 - 0x1000 });
    expect(loadError(ramSize, { kernel: big, acpiTables })).toMatch(/kernel needs RAM up to/);
    expect(loadError(ramSize, { kernel: makeBzImage(), acpiTables: { base: ramSize - 0x20000 + 16, length: 0x20000 - 16 } })).toMatch(/ACPI tables/);
  });

  it('rejects bad images with one-line errors', () => {
    expect(loadError(32 * MiB, { kernel: makeBzImage().slice(0, 0x100) })).toMatch(/truncated/);
    expect(loadError(32 * MiB, { kernel: makeBzImage({ truncate: 100 }) })).toMatch(/truncated: the header promises 4096 bytes/);
    expect(loadError(32 * MiB, { kernel: makeBzImage().slice(0, 5 * 512) })).toMatch(/truncated/);
    expect(loadError(32 * MiB, { kernel: makeBzImage({ protocol: 0x0205 }) })).toMatch(/protocol 2\.05 is too old \(2\.06 or newer/);
    expect(loadError(32 * MiB, { kernel: makeBzImage({ loadflags: 0 }) })).toMatch(/zImage/);
    expect(loadError(32 * MiB, { kernel: makeBzImage({ code32Start: 0x50000 }) })).toMatch(/code32_start/);
    const noSig = makeBzImage();
    noSig[0x1fe] = 0;
    expect(loadError(32 * MiB, { kernel: noSig })).toMatch(/boot flag/);
    const noHdrS = makeBzImage();
    noHdrS[0x202] = 0;
    expect(loadError(32 * MiB, { kernel: noHdrS })).toMatch(/HdrS/);
    expect(loadError(16 * MiB, { kernel: makeBzImage({ initSize: 0x1000000 }) })).toMatch(/kernel needs RAM up to 0x1100000 \(17 MiB\).*16 MiB/);
    expect(loadError(16 * MiB, { kernel: makeBzImage(), initrd: new Uint8Array(15 * MiB) })).toMatch(/initrd .* does not fit/);
    expect(loadError(16 * MiB, { kernel: makeBzImage({ cmdlineSize: 10 }), cmdline: 'console=ttyS0' })).toMatch(/command line is 13 bytes, the kernel takes at most 10/);
  });
});

/**
 * 32-bit code for the synthetic kernel: reload CS/DS/ES/SS from the loader's GDT, print the
 * command line, '|' and the initrd's first two bytes on COM1, then write e820_entries (5 with the
 * ACPI tables' entry) to the isa-debug-exit port: exit status 11.
 */
const PROBE = [
  0xea, 0x07, 0x00, 0x10, 0x00, 0x10, 0x00, // ljmp $0x10, $0x100007
  0xb8, 0x18, 0x00, 0x00, 0x00, // mov $0x18, %eax
  0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, // mov %eax, %ds / %es / %ss
  0x8b, 0x9e, 0x28, 0x02, 0x00, 0x00, // mov 0x228(%esi), %ebx    cmd_line_ptr
  0x8a, 0x03, // 1: mov (%ebx), %al
  0x84, 0xc0, // test %al, %al
  0x74, 0x08, // jz 2f
  0x66, 0xba, 0xf8, 0x03, // mov $0x3f8, %dx
  0xee, // out %al, %dx
  0x43, // inc %ebx
  0xeb, 0xf2, // jmp 1b
  0x66, 0xba, 0xf8, 0x03, // 2: mov $0x3f8, %dx
  0xb0, 0x7c, // mov $'|', %al
  0xee, // out %al, %dx
  0x8b, 0x9e, 0x18, 0x02, 0x00, 0x00, // mov 0x218(%esi), %ebx    ramdisk_image
  0x8a, 0x03, 0xee, // mov (%ebx), %al; out
  0x8a, 0x43, 0x01, 0xee, // mov 1(%ebx), %al; out
  0x8a, 0x86, 0xe8, 0x01, 0x00, 0x00, // mov 0x1e8(%esi), %al    e820_entries
  0x66, 0xba, 0xf4, 0x00, // mov $0xf4, %dx
  0xee, // out %al, %dx
  0xf4, 0xeb, 0xfd, // hlt; jmp .-1
];

describe('machine: -kernel with a bzImage', () => {
  it('boots a synthetic bzImage through the Linux loader with -initrd and -append', async () => {
    const payload = new Uint8Array(4096);
    payload.set(PROBE);
    const files: Record<string, Uint8Array> = {
      bz: makeBzImage({ payload }),
      rd: new TextEncoder().encode('OK initrd'),
    };
    const parsed = parseArgs(['-nographic', '-kernel', 'bz', '-initrd', 'rd', '-append', 'hello linux', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']);
    if (parsed.action !== 'run') throw new Error('bad test arguments');
    let out = '';
    const m = await Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host), {
      readFile: (p) => {
        const f = files[p];
        if (!f) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
        return f;
      },
      stdout: (b) => (out += new TextDecoder().decode(b)),
      stdin: null,
      stderr: () => {},
    });
    expect(m.layout).toBeNull();
    expect(m.linuxLayout?.initrd).not.toBeNull();
    const status = await m.run();
    expect(out).toBe('hello linux|OK');
    expect(status).toBe(11);
  });

  it('installs the ACPI tables: the RSDP in the BIOS area, the tables in the last e820 entry', async () => {
    const parsed = parseArgs(['-nographic', '-m', '64', '-kernel', 'bz']);
    if (parsed.action !== 'run') throw new Error('bad test arguments');
    const m = await Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host), {
      readFile: () => makeBzImage(),
      stdout: () => {},
      stdin: null,
      stderr: () => {},
    });
    const ram = m.cpu.ram;
    const mem = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    // Linux looks for "RSD PTR " on 16-byte boundaries of 0xE0000-0xFFFFF (ACPI 6.4 §5.2.5.1).
    let rsdp = -1;
    for (let a = 0xe0000; a < 0x100000; a += 16) {
      if (new TextDecoder().decode(ram.subarray(a, a + 8)) === 'RSD PTR ') {
        rsdp = a;
        break;
      }
    }
    expect(rsdp).toBeGreaterThan(0);
    const sum = (a: number, n: number) => ram.subarray(a, a + n).reduce((x, y) => (x + y) & 0xff, 0);
    expect(sum(rsdp, 20)).toBe(0);
    const acpi = m.linuxLayout!.e820.at(-1)!;
    expect(acpi).toMatchObject({ type: 3, base: 64 * MiB - acpi.length });
    // The RSDT and every table it lists lie inside that entry, with valid checksums; the FADT's
    // PM1a control block is the PIIX4's (soft-off) and its DSDT pointer is inside too.
    const rsdt = mem.getUint32(rsdp + 16, true);
    const inside = (a: number) => a >= acpi.base && a < acpi.base + acpi.length;
    expect(inside(rsdt)).toBe(true);
    const sig = (a: number) => new TextDecoder().decode(ram.subarray(a, a + 4));
    expect(sig(rsdt)).toBe('RSDT');
    expect(sum(rsdt, mem.getUint32(rsdt + 4, true))).toBe(0);
    const tables = new Map<string, number>();
    for (let p = rsdt + 36; p < rsdt + mem.getUint32(rsdt + 4, true); p += 4) {
      const t = mem.getUint32(p, true);
      expect(inside(t)).toBe(true);
      expect(sum(t, mem.getUint32(t + 4, true))).toBe(0);
      tables.set(sig(t), t);
    }
    expect([...tables.keys()].sort()).toEqual(['APIC', 'FACP', 'HPET', 'WAET']);
    const fadt = tables.get('FACP')!;
    expect(mem.getUint32(fadt + 64, true)).toBe(0x604); // PM1a_CNT_BLK
    expect(sig(mem.getUint32(fadt + 40, true))).toBe('DSDT');
    expect(inside(mem.getUint32(fadt + 40, true))).toBe(true);
  });

  it('names a missing initrd', async () => {
    const parsed = parseArgs(['-kernel', 'bz', '-initrd', 'nope.img']);
    if (parsed.action !== 'run') throw new Error('bad test arguments');
    const files: Record<string, Uint8Array> = { bz: makeBzImage() };
    await expect(
      Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host), {
        readFile: (p) => {
          const f = files[p];
          if (!f) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
          return f;
        },
        stdin: null,
      }),
    ).rejects.toThrow("could not load initrd 'nope.img': no such file");
  });
});

const debianKernel = join(root, 'build/images/vmlinuz-amd64');
const debianInitrd = join(root, 'build/images/initramfs-amd64.cpio.gz');
const haveDebian = existsSync(debianKernel);
if (!haveDebian) console.log(`emulator-linux-boot: ${debianKernel} is missing (run \`npm run images\`): the Debian kernel tests are skipped`);

describe.skipIf(!haveDebian)('the Debian kernel (build/images/vmlinuz-amd64)', () => {
  it('loads with its initramfs in 512 MiB', () => {
    const kernel = new Uint8Array(readFileSync(debianKernel));
    const initrd = existsSync(debianInitrd) ? new Uint8Array(readFileSync(debianInitrd)) : new Uint8Array(4096);
    const { ram, layout, mem } = load(512 * MiB, { kernel, cmdline: 'console=ttyS0', initrd });
    expect(layout.protocol).toBeGreaterThanOrEqual(0x020f);
    expect(layout.entry.eip).toBe(0x100000);
    // Relocatable, 64-bit capable, with init_size covering the unpacked kernel.
    expect(kernel[0x234]).toBe(1);
    expect(mem.getUint16(BOOT_PARAMS_ADDR + 0x236, true) & 1).toBe(1); // XLF_KERNEL_64
    expect(layout.kernelNeedEnd).toBeGreaterThan(layout.kernelEnd);
    expect(layout.initrd!.start).toBeGreaterThanOrEqual(layout.kernelNeedEnd);
    expect(mem.getUint16(BOOT_PARAMS_ADDR + 0x02, true)).toBe(0xffff); // ext_mem_k saturates
    const setupBytes = ((kernel[0x1f1] || 4) + 1) * 512;
    expect(ram.subarray(KERNEL_LOAD_ADDR, KERNEL_LOAD_ADDR + 4096)).toEqual(kernel.subarray(setupBytes, setupBytes + 4096));
    // Too little RAM for it to unpack: a clear error rather than a crash later.
    expect(loadError(32 * MiB, { kernel })).toMatch(/kernel needs RAM up to .* the guest has 32 MiB/);
  });
});
