// The AML encoder against iasl: each case encodes a snippet with devices/acpi/aml.ts and compiles
// the same ASL with Debian's iasl (acpica-tools); the bytes after the table header must match.
import { describe, expect, it } from 'vitest';
import * as A from '../devices/acpi/aml.ts';
import { compileAsl, disassemble, hex } from './acpi/iasl.ts';

function same(asl: string, ours: A.Aml[], revision = 1): void {
  const want = compileAsl(asl, revision);
  const got = A.concat(...ours);
  expect(hex(got)).toBe(hex(want));
}

describe('encodings without iasl', () => {
  it('name strings', () => {
    expect(hex(A.nameString('\\_SB.PCI0'))).toBe('5c 2e 5f 53 42 5f 50 43 49 30');
    expect(hex(A.nameString('^^AB'))).toBe('5e 5e 41 42 5f 5f');
    expect(hex(A.nameString('\\'))).toBe('5c 00');
    expect(hex(A.nameString('A.B.C'))).toBe('2f 03 41 5f 5f 5f 42 5f 5f 5f 43 5f 5f 5f');
    expect(() => A.nameSeg('1ABC')).toThrow();
    expect(() => A.nameSeg('abcd')).toThrow();
  });

  it('package lengths count their own bytes (ACPI 6.4 §20.2.4)', () => {
    expect(A.pkgLength(0)).toEqual([1]);
    expect(A.pkgLength(0x3e)).toEqual([0x3f]);
    expect(A.pkgLength(0x3f)).toEqual([0x41, 0x04]); // 0x41 total: two bytes
    expect(A.pkgLength(0xffd)).toEqual([0x4f, 0xff]);
    expect(A.pkgLength(0xffe)).toEqual([0x81, 0x00, 0x01]); // 0x1001 total: three bytes
  });

  it('EISA IDs', () => {
    expect(A.eisaIdValue('PNP0A03')).toBe(0x030ad041);
    expect(A.eisaIdValue('PNP0C0F')).toBe(0x0f0cd041);
  });

  it('integers take the smallest form', () => {
    expect(hex(A.int(0))).toBe('00');
    expect(hex(A.int(1))).toBe('01');
    expect(hex(A.int(2))).toBe('0a 02');
    expect(hex(A.int(0x100))).toBe('0b 00 01');
    expect(hex(A.int(0x10000))).toBe('0c 00 00 01 00');
    expect(hex(A.int(0x1_0000_0000n))).toBe('0e 00 00 00 00 01 00 00 00');
  });
});

describe('AML matches iasl', () => {
  it('data objects and names', () => {
    same(
      `Name (BYT0, 0x12)
       Name (WRD0, 0x1234)
       Name (DWD0, 0x12345678)
       Name (ZER0, Zero)
       Name (ONE0, One)
       Name (ONS0, Ones)
       Name (STR0, "hello")
       Name (_HID, EisaId ("PNP0A03"))
       Name (PKG0, Package () { One, 0x80, "a", Package () { 0x02 } })
       Name (BUF0, Buffer () { 0x01, 0x02, 0x03 })
       Name (BUF1, Buffer (0x08) { 0x01 })`,
      [
        A.name('BYT0', 0x12),
        A.name('WRD0', 0x1234),
        A.name('DWD0', 0x12345678),
        A.name('ZER0', 0),
        A.name('ONE0', 1),
        A.name('ONS0', A.ones()),
        A.name('STR0', 'hello'),
        A.name('_HID', A.eisaId('PNP0A03')),
        A.name('PKG0', A.pkg(1, 0x80, 'a', A.pkg(2))),
        A.name('BUF0', A.buffer([1, 2, 3])),
        A.name('BUF1', A.buffer([1], 8)),
      ],
    );
  });

  it('64-bit integers in a revision 2 table', () => {
    same('Name (QWD0, 0x123456789A)', [A.name('QWD0', 0x12_3456_789an)], 2);
  });

  it('scopes, devices, methods, processors', () => {
    same(
      `Scope (\\_SB)
       {
           Device (PCI0)
           {
               Name (_HID, EisaId ("PNP0A03"))
               Name (_UID, Zero)
               Method (_STA, 0, NotSerialized)
               {
                   Return (0x0F)
               }
           }
           Processor (C000, 0x00, 0x00000000, 0x00) {}
           Processor (C001, 0x01, 0x0000B010, 0x06)
           {
               Method (_STA, 0, Serialized) { Return (0x0F) }
           }
       }
       Method (\\M2, 7, Serialized, 3) { Return (Arg6) }`,
      [
        A.scope(
          '\\_SB',
          A.device('PCI0', A.name('_HID', A.eisaId('PNP0A03')), A.name('_UID', 0), A.method('_STA', 0, {}, A.ret(0x0f))),
          A.processor('C000', 0, 0, 0),
          A.processor('C001', 1, 0xb010, 6, A.method('_STA', 0, { serialized: true }, A.ret(0x0f))),
        ),
        A.method('\\M2', 7, { serialized: true, syncLevel: 3 }, A.ret(A.arg(6))),
      ],
    );
  });

  it('statements and expressions', () => {
    same(
      `Name (VAL0, Zero)
       Device (DEV0) { Name (_HID, "ACPI0007") }
       Method (TST0, 2, NotSerialized)
       {
           Local0 = Package (0x02) {}
           If ((Arg0 == 0x05))
           {
               Local1 = (Arg1 & 0x0F)
           }
           Else
           {
               Local1 = (Arg1 | 0x80)
           }
           If (((Arg0 < 0x10) && (Arg1 > One)))
           {
               Local2 = (Arg0 << 0x04)
               Local2 = (Arg0 >> One)
               Local3 = (Arg0 + 0x02)
               Local3 = (Arg0 - 0x03)
           }
           If (!(Arg0 == Arg1)) { Return (One) }
           If (((Arg0 != Arg1) || (Arg0 >= Arg1))) { Return (One) }
           If ((Arg0 <= Arg1)) { Return (One) }
           While ((Local0 < 0x04))
           {
               Local0++
           }
           Local5 = ~Arg1
           Local4 = ToInteger (Arg0)
           VAL0 = Local4
           Notify (DEV0, 0x80)
           Return (Local1)
       }`,
      [
        A.name('VAL0', 0),
        A.device('DEV0', A.name('_HID', 'ACPI0007')),
        A.method(
          'TST0',
          2,
          {},
          A.store(A.sizedPkg(2), A.local(0)),
          A.if_(A.lequal(A.arg(0), 5), A.and(A.arg(1), 0x0f, A.local(1))),
          A.else_(A.or(A.arg(1), 0x80, A.local(1))),
          A.if_(
            A.land(A.lless(A.arg(0), 0x10), A.lgreater(A.arg(1), 1)),
            A.shiftLeft(A.arg(0), 4, A.local(2)),
            A.shiftRight(A.arg(0), 1, A.local(2)),
            A.add(A.arg(0), 2, A.local(3)),
            A.subtract(A.arg(0), 3, A.local(3)),
          ),
          A.if_(A.lnot(A.lequal(A.arg(0), A.arg(1))), A.ret(1)),
          A.if_(A.lor(A.lnotEqual(A.arg(0), A.arg(1)), A.lgreaterEqual(A.arg(0), A.arg(1))), A.ret(1)),
          A.if_(A.llessEqual(A.arg(0), A.arg(1)), A.ret(1)),
          A.while_(A.lless(A.local(0), 4), A.increment(A.local(0))),
          A.not(A.arg(1), A.local(5)),
          A.store(A.toInteger(A.arg(0)), A.local(4)), // iasl turns "Local4 = ToInteger (Arg0)" into a Store
          A.store(A.local(4), 'VAL0'),
          A.notify('DEV0', 0x80),
          A.ret(A.local(1)),
        ),
      ],
    );
  });

  it('operation regions and fields', () => {
    same(
      `OperationRegion (PIRQ, PCI_Config, 0x60, 0x04)
       Field (PIRQ, ByteAcc, NoLock, Preserve)
       {
           PRQ0,   8,
           PRQ1,   8,
           PRQ2,   8,
           PRQ3,   8
       }
       OperationRegion (HPTM, SystemMemory, 0xFED00000, 0x0400)
       Field (HPTM, DWordAcc, Lock, WriteAsZeros)
       {
           VEND,   32,
           PRD,    32,
           Offset (0x10),
           CONF,   1,
               ,   7,
           WIDE,   100
       }
       OperationRegion (DBG, SystemIO, 0x0402, One)
       Field (DBG, ByteAcc, NoLock, WriteAsOnes) { DBGB, 8 }`,
      [
        A.operationRegion('PIRQ', A.RegionSpace.PciConfig, 0x60, 4),
        A.field('PIRQ', { access: A.FieldAccess.Byte }, [
          { name: 'PRQ0', bits: 8 },
          { name: 'PRQ1', bits: 8 },
          { name: 'PRQ2', bits: 8 },
          { name: 'PRQ3', bits: 8 },
        ]),
        A.operationRegion('HPTM', A.RegionSpace.SystemMemory, 0xfed00000, 0x400),
        A.field('HPTM', { access: A.FieldAccess.DWord, lock: true, update: A.FieldUpdate.WriteAsZeros }, [
          { name: 'VEND', bits: 32 },
          { name: 'PRD', bits: 32 },
          { offset: 0x10 },
          { name: 'CONF', bits: 1 },
          { name: null, bits: 7 },
          { name: 'WIDE', bits: 100 },
        ]),
        A.operationRegion('DBG', A.RegionSpace.SystemIO, 0x402, 1),
        A.field('DBG', { access: A.FieldAccess.Byte, update: A.FieldUpdate.WriteAsOnes }, [{ name: 'DBGB', bits: 8 }]),
      ],
    );
  });

  it('buffer fields', () => {
    same(
      `Method (TST2, 1, NotSerialized)
       {
           CreateDWordField (Arg0, 0x05, IRQW)
           CreateWordField (Arg0, 0x02, WRDF)
           CreateByteField (Arg0, One, BYTF)
           CreateQWordField (Arg0, 0x08, QWDF)
           CreateBitField (Arg0, 0x03, BITF)
           Return (IRQW)
       }`,
      [
        A.method(
          'TST2',
          1,
          {},
          A.createDWordField(A.arg(0), 5, 'IRQW'),
          A.createWordField(A.arg(0), 2, 'WRDF'),
          A.createByteField(A.arg(0), 1, 'BYTF'),
          A.createQWordField(A.arg(0), 8, 'QWDF'),
          A.createBitField(A.arg(0), 3, 'BITF'),
          A.ret('IRQW'),
        ),
      ],
    );
  });

  it('resource templates', () => {
    same(
      `Name (RES0, ResourceTemplate ()
       {
           IO (Decode16, 0x0070, 0x0070, 0x01, 0x08, )
           IO (Decode10, 0x03F8, 0x03F8, 0x00, 0x08, )
           IRQNoFlags () {8}
           IRQ (Level, ActiveLow, Shared, ) {5, 10, 11}
           IRQ (Edge, ActiveHigh, Exclusive, ) {1}
           FixedIO (0x0060, 0x01, )
           DMA (Compatibility, NotBusMaster, Transfer8, ) {2}
           Memory32Fixed (ReadOnly, 0xFED00000, 0x00000400, )
           Memory32Fixed (ReadWrite, 0xFEC00000, 0x00001000, )
           Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, ) {5, 10, 11}
           Interrupt (ResourceConsumer, Edge, ActiveLow, Exclusive, ,, ) {9}
       })
       Name (CRS0, ResourceTemplate ()
       {
           WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
               0x0000, 0x0000, 0x00FF, 0x0000, 0x0100, ,, )
           WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
               0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8, ,, , TypeStatic, DenseTranslation)
           WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
               0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300, ,, , TypeStatic, DenseTranslation)
           DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
               0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000, ,, , AddressRangeMemory, TypeStatic)
           DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
               0x00000000, 0x08000000, 0xFEBFFFFF, 0x00000000, 0xF6C00000, ,, , AddressRangeMemory, TypeStatic)
           QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
               0x0000000000000000, 0x0000000100000000, 0x000000017FFFFFFF, 0x0000000000000000,
               0x0000000080000000, ,, , AddressRangeMemory, TypeStatic)
       })`,
      [
        A.name(
          'RES0',
          A.resourceTemplate(
            A.io(0x70, 0x70, 1, 8),
            A.io(0x3f8, 0x3f8, 0, 8, false),
            A.irqNoFlags(8),
            A.irq({ edge: false, activeLow: true, shared: true }, 5, 10, 11),
            A.irq({ edge: true, activeLow: false }, 1),
            A.fixedIo(0x60, 1),
            A.dma([2]),
            A.memory32Fixed(false, 0xfed00000, 0x400),
            A.memory32Fixed(true, 0xfec00000, 0x1000),
            A.interrupt({ edge: false, activeLow: false, shared: true }, 5, 10, 11),
            A.interrupt({ edge: true, activeLow: true }, 9),
          ),
        ),
        A.name(
          'CRS0',
          A.resourceTemplate(
            A.wordBusNumber({ min: 0, max: 0xff }),
            A.wordIo({ min: 0, max: 0xcf7 }),
            A.wordIo({ min: 0xd00, max: 0xffff }),
            A.dwordMemory({ min: 0xa0000, max: 0xbffff }),
            A.dwordMemory({ min: 0x08000000, max: 0xfebfffff }, { cacheable: 0 }),
            A.qwordMemory({ min: 0x1_0000_0000n, max: 0x1_7fff_ffffn }),
          ),
        ),
      ],
    );
  });

  it('long bodies, multi-segment and parent paths, variable packages', () => {
    const many = Array.from({ length: 300 }, (_, i) => i & 0x7f);
    const asl = `Scope (\\_SB) { Device (PCI0) { Device (ISA) {
         Name (BIG0, Package () { ${many.map((v) => `0x${v.toString(16)}`).join(', ')} })
         Name (RF00, Package () { ^^PCI0, \\_SB.PCI0.ISA, ^ISA.BIG0 })
       } } }`;
    same(asl, [
      A.scope(
        '\\_SB',
        A.device(
          'PCI0',
          A.device(
            'ISA',
            A.name('BIG0', A.pkg(...many)),
            A.name('RF00', A.pkg(A.ref('^^PCI0'), A.ref('\\_SB.PCI0.ISA'), A.ref('^ISA.BIG0'))),
          ),
        ),
      ),
    ]);
  });

  it('mutexes, aliases, sleep', () => {
    same(
      `Mutex (MTX0, 0x00)
       Name (OBJ0, Zero)
       Alias (OBJ0, OBJ1)
       Method (TST3, 0, Serialized)
       {
           Acquire (MTX0, 0xFFFF)
           Sleep (0x0A)
           Release (MTX0)
       }`,
      [
        A.mutex('MTX0'),
        A.name('OBJ0', 0),
        A.alias('OBJ0', 'OBJ1'),
        A.method('TST3', 0, { serialized: true }, A.acquire('MTX0'), A.sleep(10), A.release('MTX0')),
      ],
    );
  });

  it('tables assembled by us disassemble cleanly', () => {
    const body = A.concat(
      A.scope('\\_SB', A.device('PCI0', A.name('_HID', A.eisaId('PNP0A03')), A.name('_CRS', A.resourceTemplate(A.io(0xcf8, 0xcf8, 1, 8))))),
    );
    const t = A.table(
      { signature: 'DSDT', revision: 1, oemId: 'TSEMU', oemTableId: 'TEST', oemRevision: 1, creatorId: 'TSEM', creatorRevision: 1 },
      body,
    );
    let sum = 0;
    for (const b of t) sum += b;
    expect(sum & 0xff).toBe(0);
    const d = disassemble(t);
    expect(d.ok, d.log).toBe(true);
    expect(d.dsl).toContain('PNP0A03');
    expect(d.log).not.toMatch(/Incorrect checksum/);
  });
});
