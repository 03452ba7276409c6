// The debugger page walk behind `x` and `memsave`: 32-bit, PSE, PAE and 4-level tables.

import { describe, expect, it } from 'vitest';
import { HumanMonitor } from '../monitor/hmp/monitor.ts';
import { readVirtualDebug, translatePage, type PagingState } from '../monitor/hmp/paging.ts';
import { FakeTarget, resetSnapshot } from './monitor-fake-target.ts';

const PG = 1n << 31n;

function ram() {
  const mem = new Uint8Array(16 << 20);
  const view = new DataView(mem.buffer);
  return {
    mem,
    read: (a: bigint, l: number) => {
      const ok = a + BigInt(l) <= BigInt(mem.length);
      return { bytes: ok ? mem.slice(Number(a), Number(a) + l) : new Uint8Array(l), ok };
    },
    put32: (a: number, v: number) => view.setUint32(a, v >>> 0, true),
    put64: (a: number, v: bigint) => view.setBigUint64(a, v, true),
  };
}

describe('translatePage', () => {
  it('paging off: linear is physical, A20 masks bit 20', () => {
    const r = ram();
    const st: PagingState = { cr0: 0x10n, cr3: 0n, cr4: 0n, efer: 0n };
    expect(translatePage(st, r.read, 0x123456n)).toBe(0x123000n);
    expect(translatePage({ ...st, a20: false }, r.read, 0x123456n)).toBe(0x023000n);
    expect(translatePage(st, r.read, 0x100000000n)).toBe(0x100000000n);
  });

  it('32-bit tables with 4 KiB and 4 MiB (PSE, PSE-36) pages', () => {
    const r = ram();
    r.put32(0x10000, 0x11000 | 1); // PDE 0 -> page table
    r.put32(0x11000 + 4 * 1, 0x200000 | 1); // 0x1000 -> 0x200000
    r.put32(0x10000 + 4 * 1, 0x800000 | 0x81); // 4 MiB page at 0x400000
    r.put32(0x10000 + 4 * 2, 0x00c00000 | (0x3 << 13) | 0x81); // PSE-36: physical bits 32-33 set
    const st: PagingState = { cr0: PG | 1n, cr3: 0x10000n, cr4: 0x10n, efer: 0n };
    expect(translatePage(st, r.read, 0x1234n)).toBe(0x200000n);
    expect(translatePage(st, r.read, 0x2000n)).toBeNull();
    expect(translatePage(st, r.read, 0x456789n)).toBe(0x856000n);
    expect(translatePage(st, r.read, 0x800000n)).toBe(0x300c00000n);
    // Without CR4.PSE the PS bit is ignored: the entry points to a "page table" of zeros.
    expect(translatePage({ ...st, cr4: 0n }, r.read, 0x400000n)).toBeNull();
  });

  it('PAE without long mode', () => {
    const r = ram();
    r.put64(0x20000 + 8 * 1, 0x21000n | 1n); // PDPTE 1: 1-2 GiB
    r.put64(0x21000, 0x22000n | 1n); // PDE 0 -> PT
    r.put64(0x22000 + 8 * 3, 0x1234000n | 1n);
    r.put64(0x21000 + 8 * 1, 0x600000n | 0x81n); // 2 MiB page
    const st: PagingState = { cr0: PG | 1n, cr3: 0x20000n, cr4: 0x20n, efer: 0n };
    expect(translatePage(st, r.read, 0x40003abcn)).toBe(0x1234000n);
    expect(translatePage(st, r.read, 0x40212345n)).toBe(0x612000n);
    expect(translatePage(st, r.read, 0x3000n)).toBeNull();
  });

  it('4-level tables: 4 KiB, 2 MiB and 1 GiB pages; non-canonical addresses fail', () => {
    const r = ram();
    const top = 0xffffffff80000000n; // PML4 511, PDPT 510
    r.put64(0x30000 + 8 * 511, 0x31000n | 1n);
    r.put64(0x31000 + 8 * 510, 0x32000n | 1n);
    r.put64(0x32000 + 8 * 0, 0x33000n | 1n);
    r.put64(0x33000 + 8 * 5, 0xabc000n | 1n);
    r.put64(0x32000 + 8 * 1, 0xe00000n | 0x81n);
    r.put64(0x31000 + 8 * 511, 0x40000000n | 0x81n);
    const st: PagingState = { cr0: PG | 1n, cr3: 0x30000n, cr4: 0x20n, efer: 0x500n };
    expect(translatePage(st, r.read, top + 0x5123n)).toBe(0xabc000n);
    expect(translatePage(st, r.read, top + 0x212345n)).toBe(0xe12000n);
    expect(translatePage(st, r.read, 0xffffffffc0345678n)).toBe(0x40345000n);
    expect(translatePage(st, r.read, 0x0000800000000000n)).toBeNull();
    expect(translatePage(st, r.read, 0n)).toBeNull();
  });
});

describe('x through page tables', () => {
  it('reads across pages and says "Cannot access memory" at an unmapped one', () => {
    const t = new FakeTarget({ ramSize: 16 << 20 });
    const view = new DataView(t.ram.buffer);
    view.setUint32(0x10000, 0x11000 | 1, true);
    view.setUint32(0x11000 + 4 * 1, 0x300000 | 1, true); // 0x1000 -> 0x300000
    view.setUint32(0x11000 + 4 * 2, 0x500000 | 1, true); // 0x2000 -> 0x500000
    t.ram.set([1, 2, 3, 4], 0x300ffc);
    t.ram.set([5, 6, 7, 8], 0x500000);
    t.regs = { ...resetSnapshot(), cr0: PG | 0x11n, cr3: 0x10000n };
    const m = new HumanMonitor({ target: t, stdout: () => {} });
    expect(m.runCommand('x/2xw 0x1ffc')).toBe('0000000000001ffc: 0x04030201 0x08070605\n');
    expect(m.runCommand('xp/2xw 0x1ffc')).toBe('0000000000001ffc: 0x00000000 0x00000000\n');
    expect(m.runCommand('x/4xw 0x2ff0')).toBe('0000000000002ff0: 0x00000000 0x00000000 0x00000000 0x00000000\n');
    expect(m.runCommand('x/4xw 0x2ff8')).toBe('0000000000002ff8: Cannot access memory\n');
    expect(readVirtualDebug(t.regs, (a, l) => t.readPhysical(a, l), 0x1ffcn, 8)).toEqual(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
  });
});
