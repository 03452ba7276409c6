// fw_cfg: the selector/data ports, the file directory, and the DMA interface, including
// descriptors a malicious guest might write (they must end with the error bit, never with an
// access outside guest RAM).

import { beforeEach, describe, expect, it } from 'vitest';
import {
  DMA_CTL_ERROR,
  DMA_CTL_READ,
  DMA_CTL_SELECT,
  DMA_CTL_SKIP,
  DMA_CTL_WRITE,
  FW_CFG_FILE_DIR,
  FW_CFG_ID,
  FW_CFG_RAM_SIZE,
  FwCfg,
  le64,
} from '../devices/fw-cfg.ts';
import { IoBus } from '../devices/io-bus.ts';
import { e820Table, populateFwCfg } from '../emulator/firmware.ts';

const RAM = 1 << 20;
const GUARD = 4096;

let bus: IoBus;
let fw: FwCfg;
/** Guest RAM is the middle of a larger buffer; the guards must never change. */
let backing: Uint8Array;
let ram: Uint8Array;
let written: [number, number][];

function select(key: number) {
  bus.portWrite(0x510, 2, key);
}
function readBytes(n: number): number[] {
  return Array.from({ length: n }, () => bus.portRead(0x511, 1));
}
const bswap = (v: number) => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/** Write a descriptor at `at` and start it with a write to the low half (as a guest would, little-endian outl). */
function dma(at: number, control: number, length: number, address: number | bigint, high = 0): number {
  const v = new DataView(ram.buffer, ram.byteOffset);
  v.setUint32(at, control >>> 0, false);
  v.setUint32(at + 4, length >>> 0, false);
  v.setBigUint64(at + 8, BigInt(address), false);
  bus.portWrite(0x514, 4, bswap(high));
  bus.portWrite(0x518, 4, bswap(at));
  return v.getUint32(at, false);
}

function guardsIntact(): boolean {
  return backing.subarray(0, GUARD).every((b) => b === 0xcc) && backing.subarray(GUARD + RAM).every((b) => b === 0xcc);
}

beforeEach(() => {
  bus = new IoBus();
  backing = new Uint8Array(RAM + 2 * GUARD).fill(0xcc);
  ram = backing.subarray(GUARD, GUARD + RAM);
  ram.fill(0);
  written = [];
  fw = new FwCfg(() => ({ ram, written: (a, l) => written.push([a, l]) }));
  fw.attach(bus);
  populateFwCfg(fw, { ramSize: 64 << 20, nographic: true });
});

describe('fw_cfg traditional interface', () => {
  it('has the signature, the DMA feature bit and the fixed keys', () => {
    select(0);
    expect(String.fromCharCode(...readBytes(4))).toBe('QEMU');
    expect(readBytes(2)).toEqual([0, 0]); // past the end reads 0
    select(FW_CFG_ID);
    expect(readBytes(4)).toEqual([3, 0, 0, 0]);
    select(FW_CFG_RAM_SIZE);
    expect(readBytes(8)).toEqual(Array.from(le64(64 << 20)));
    select(0x04);
    expect(readBytes(2)).toEqual([1, 0]); // -nographic
    select(0x8002);
    expect(readBytes(4)).toEqual([1, 0, 0, 0]);
  });

  it('decodes odd accesses like QEMU 7.2', () => {
    select(0);
    expect(bus.portRead(0x510, 2)).toBe(0); // wide reads: 0, nothing consumed
    expect(bus.portRead(0x510, 4)).toBe(0);
    expect(bus.portRead(0x510, 1)).toBe(0x51); // a byte read at either port is data
    bus.portWrite(0x510, 1, 0x01); // byte writes are (ignored) data writes
    bus.portWrite(0x511, 2, 0x01); // a word at 0x511 selects nothing
    expect(bus.portRead(0x511, 1)).toBe(0x45);
    select(0x4000); // the write bit does not matter for reads
    expect(bus.portRead(0x511, 1)).toBe(0x51);
    select(0xc002);
    expect(bus.portRead(0x511, 1)).toBe(1);
    for (const key of [0x40, 0x3fff, 0x803f, 0xffff, 0x1234]) {
      select(key);
      expect(readBytes(4)).toEqual([0, 0, 0, 0]);
    }
    expect([0x514, 0x515, 0x516, 0x517, 0x518, 0x519, 0x51a, 0x51b].map((p) => bus.portRead(p, 1))).toEqual(
      Array.from(new TextEncoder().encode('QEMU CFG')),
    );
    expect(bus.portRead(0x514, 4)).toBe(0x554d4551);
    expect(bus.portRead(0x51a, 4)).toBe(0xffff4746);
  });

  it('lists files sorted by name with selectors in that order', () => {
    fw.addFile('etc/acpi/tables', new Uint8Array(100));
    fw.addFile('aaa', Uint8Array.of(1, 2, 3));
    select(FW_CFG_FILE_DIR);
    const dir = readBytes(4 + 64 * 20);
    const n = (dir[0] << 24) | (dir[1] << 16) | (dir[2] << 8) | dir[3];
    const entries = Array.from({ length: n }, (_, i) => {
      const e = dir.slice(4 + 64 * i, 68 + 64 * i);
      const name = String.fromCharCode(...e.slice(8, e.indexOf(0, 8)));
      return { size: (e[0] << 24) | (e[1] << 16) | (e[2] << 8) | e[3], select: (e[4] << 8) | e[5], name };
    });
    expect(entries.map((e) => e.name)).toEqual([
      'aaa',
      'bios-geometry',
      'bootorder',
      'etc/acpi/tables',
      'etc/boot-fail-wait',
      'etc/e820',
      'etc/system-states',
    ]);
    entries.forEach((e, i) => expect(e.select).toBe(0x20 + i));
    expect(entries[3].size).toBe(100);
    select(0x20);
    expect(readBytes(4)).toEqual([1, 2, 3, 0]);
    expect(fw.fileKey('etc/e820')).toBe(0x25);
    select(0x25);
    expect(readBytes(40)).toEqual(Array.from(e820Table(64 << 20)));
  });

  it('rejects duplicate, empty and over-long names and more than 32 files', () => {
    expect(() => fw.addFile('etc/e820', new Uint8Array(1))).toThrow(/exists/);
    expect(() => fw.addFile('', new Uint8Array(1))).toThrow();
    expect(() => fw.addFile('x'.repeat(56), new Uint8Array(1))).toThrow();
    for (let i = fw.fileNames().length; i < 32; i++) fw.addFile(`f${i}`, new Uint8Array(0));
    expect(() => fw.addFile('one-too-many', new Uint8Array(0))).toThrow(/slot/);
  });

  it('replaces a file in place (setFile) and keeps the directory size in step', () => {
    fw.setFile('etc/boot-fail-wait', Uint8Array.of(9, 9));
    expect(fw.file('etc/boot-fail-wait')).toEqual(Uint8Array.of(9, 9));
    select(FW_CFG_FILE_DIR);
    const dir = readBytes(4 + 64 * 4);
    expect(dir.slice(4 + 64 * 2, 8 + 64 * 2)).toEqual([0, 0, 0, 2]);
  });
});

describe('fw_cfg DMA', () => {
  it('selects and reads, zero-filling past the end of the item', () => {
    ram.fill(0xee, 0x1000, 0x1100);
    const key = fw.fileKey('etc/system-states')!;
    expect(dma(0x100, (key << 16) | DMA_CTL_SELECT | DMA_CTL_READ, 10, 0x1000)).toBe(0);
    expect(Array.from(ram.subarray(0x1000, 0x100b))).toEqual([0x80, 0, 0, 0x81, 0x82, 0x80, 0, 0, 0, 0, 0xee]);
    expect(written).toContainEqual([0x1000, 10]);
    expect(written).toContainEqual([0x100, 4]);
    expect(guardsIntact()).toBe(true);
  });

  it('skips, then reads on from the offset; the address register reads 0 again', () => {
    dma(0x100, (fw.fileKey('etc/e820')! << 16) | DMA_CTL_SELECT | DMA_CTL_SKIP, 20, 0);
    expect(dma(0x100, DMA_CTL_READ, 8, 0x2000)).toBe(0);
    expect(Array.from(ram.subarray(0x2000, 0x2008))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(dma(0x100, DMA_CTL_READ, 8, 0x2000)).toBe(0);
    expect(Array.from(ram.subarray(0x2000, 0x2008))).toEqual([0, 0, 0, 4, 0, 0, 0, 0]);
    // A skip past the end stops at the end.
    dma(0x100, DMA_CTL_SKIP, 1000, 0);
    expect(dma(0x100, DMA_CTL_READ, 4, 0x2000)).toBe(0);
    expect(Array.from(ram.subarray(0x2000, 0x2004))).toEqual([0, 0, 0, 0]);
  });

  it('supports 64-bit descriptor addresses written high half first (here: out of RAM)', () => {
    expect(dma(0x100, DMA_CTL_READ, 4, 0x2000, 1)).toBe(DMA_CTL_READ); // not touched: the descriptor was at 4 GiB + 0x100
    expect(guardsIntact()).toBe(true);
    // The high half was consumed by that operation.
    expect(dma(0x100, DMA_CTL_SELECT | DMA_CTL_READ, 4, 0x2000)).toBe(0);
    expect(String.fromCharCode(...ram.subarray(0x2000, 0x2004))).toBe('QEMU');
  });

  it('writes into writable files only, within their size', () => {
    const writes: [number, number][] = [];
    const key = fw.addFile('etc/writable', new Uint8Array(8), { writable: true, onWrite: (o, l) => writes.push([o, l]) });
    ram.set([1, 2, 3, 4], 0x3000);
    expect(dma(0x100, (key << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE, 4, 0x3000)).toBe(0);
    expect(dma(0x100, DMA_CTL_WRITE, 4, 0x3000)).toBe(0);
    expect(Array.from(fw.file('etc/writable')!)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(writes).toEqual([[0, 4], [4, 4]]);
    expect(dma(0x100, DMA_CTL_WRITE, 1, 0x3000)).toBe(DMA_CTL_ERROR); // past the end
    expect(dma(0x100, (key << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE, 9, 0x3000)).toBe(DMA_CTL_ERROR); // would grow it
    expect(Array.from(fw.file('etc/writable')!)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(dma(0x100, (fw.fileKey('etc/e820')! << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE, 4, 0x3000)).toBe(DMA_CTL_ERROR);
    expect(dma(0x100, (0x7000 << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE, 4, 0x3000)).toBe(DMA_CTL_ERROR);
  });

  it('does nothing without an operation bit, reads zeros from nothing', () => {
    expect(dma(0x100, 0, 100, 0x4000)).toBe(0);
    ram.fill(0xaa, 0x4000, 0x4010);
    expect(dma(0x100, (0x7000 << 16) | DMA_CTL_SELECT | DMA_CTL_READ, 16, 0x4000)).toBe(0);
    expect(ram.subarray(0x4000, 0x4010).every((b) => b === 0)).toBe(true);
  });

  it('fails cleanly on buffers outside RAM', () => {
    for (const address of [RAM - 3, RAM, 0xfffffffc, 2 ** 40, 2n ** 63n, 2n ** 64n - 1n]) {
      expect(dma(0x100, DMA_CTL_SELECT | DMA_CTL_READ, 8, address)).toBe(DMA_CTL_ERROR);
    }
    ram.fill(0x55, 0x5000, 0x5010);
    const key = fw.addFile('etc/w', new Uint8Array(16), { writable: true });
    expect(dma(0x100, (key << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE, 16, RAM - 8)).toBe(DMA_CTL_ERROR);
    expect(fw.file('etc/w')!.every((b) => b === 0)).toBe(true);
    expect(dma(0x100, DMA_CTL_SELECT | DMA_CTL_READ, 0xffffffff, 0)).toBe(DMA_CTL_ERROR);
    expect(guardsIntact()).toBe(true);
  });

  it('handles descriptors at the end of RAM or beyond it', () => {
    // Control word in RAM, the rest beyond: the error is reported in the control word.
    bus.portWrite(0x518, 4, bswap(RAM - 4));
    expect(new DataView(ram.buffer, ram.byteOffset).getUint32(RAM - 4, false)).toBe(DMA_CTL_ERROR);
    // Entirely beyond, unaligned, at the top of the address space: nothing happens.
    for (const [hi, lo] of [[0, RAM], [0, RAM - 1], [0, 0xfffffff8], [0xffffffff, 0xfffffff0], [0x10, 0]]) {
      bus.portWrite(0x514, 4, bswap(hi));
      bus.portWrite(0x518, 4, bswap(lo));
    }
    expect(guardsIntact()).toBe(true);
  });

  it('ignores DMA before RAM exists and odd register writes', () => {
    const early = new FwCfg(() => null);
    const b = new IoBus();
    early.attach(b);
    b.portWrite(0x518, 4, 0);
    b.portWrite(0x514, 2, 0x1234);
    b.portWrite(0x516, 1, 0x12);
    expect(b.portRead(0x514, 1)).toBe(0x51);
  });

  it('survives random descriptors without touching anything outside RAM', () => {
    let seed = 99;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
    fw.addFile('etc/rw', new Uint8Array(64), { writable: true });
    for (let i = 0; i < 5000; i++) {
      const at = rnd() % 3 === 0 ? rnd() : (rnd() % (RAM + 64)) & ~3;
      const control = rnd() % 4 === 0 ? rnd() : (((0x20 + (rnd() % 12)) << 16) | (rnd() & 0x1f)) >>> 0;
      const length = rnd() % 4 === 0 ? rnd() : rnd() % 300;
      const address = rnd() % 4 === 0 ? BigInt(rnd()) << 32n | BigInt(rnd()) : BigInt(rnd() % (RAM + 1000));
      if (at + 16 <= RAM) dma(at, control, length, address);
      else {
        bus.portWrite(0x514, 4, bswap(rnd() % 3 ? 0 : rnd()));
        bus.portWrite(0x518, 4, bswap(at));
      }
    }
    expect(guardsIntact()).toBe(true);
  });
});
