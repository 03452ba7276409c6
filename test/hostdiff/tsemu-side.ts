// tsemu side of the host-differential test: runs cases on one Cpu in 64-bit mode at CPL0 with
// the same code and scratch addresses as native-runner.c.
//
// Guest physical layout (identity mapped with two 2 MiB pages covering 0..4 MiB):
//   0x100000 code (ends with HLT instead of the native jump back)
//   0x200000 scratch page
//   0x300000 PML4, 0x301000 PDPT, 0x302000 PD, 0x303000 GDT, 0x304000 TSS, 0x305000 IDT,
//   0x305800..0x306000 IST1 stack, 0x307000 exception handlers.
// Exceptions: IDT vector v (0..31) is an interrupt gate using IST1 whose handler is a HLT at
// 0x307000 + 16*v, so after `run` stops with Halt the RIP (one past that HLT) tells the vector.
// IST keeps the exception frame off the guest stack, so the scratch page is compared as is;
// the frame gives the faulting RIP, RFLAGS and RSP.
import { Cpu } from '../../cpu/cpu.ts';
import { StopReason, type CpuHost } from '../../cpu/types.ts';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE, fillScratch, type HostdiffCase } from './generate.ts';
import type { CaseResult } from './harness.ts';

const RAM_SIZE = 8 << 20;
const PML4 = 0x300000, PDPT = 0x301000, PD = 0x302000, GDT = 0x303000, TSS = 0x304000, IDT = 0x305000;
const IST_TOP = 0x306000, HANDLERS = 0x307000, VECTORS = 32;
const BUDGET = 100_000;

const CODE64 = { selector: 0x08, base: 0n, limit: 0xffffffff, flags: 0x00af9b00 };
const DATA = { selector: 0x10, base: 0n, limit: 0xffffffff, flags: 0x00cf9300 };

const host: CpuHost = {
  portRead: () => 0xffffffff,
  portWrite: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  interruptAcknowledge: () => { throw new Error('hostdiff: unexpected interrupt acknowledge'); },
};

export class TsemuRunner {
  private readonly init = new Uint8Array(DATA_SIZE);
  private readonly view: DataView;

  private constructor(readonly cpu: Cpu) {
    this.view = new DataView(cpu.ram.buffer, cpu.ram.byteOffset, cpu.ram.byteLength);
    this.buildTables();
    this.enterLongMode();
  }

  static async create(): Promise<TsemuRunner> {
    return new TsemuRunner(await Cpu.create(RAM_SIZE, host));
  }

  private q(addr: number, v: bigint): void { this.view.setBigUint64(addr, v, true); }

  private buildTables(): void {
    const ram = this.cpu.ram;
    ram.fill(0, PML4, HANDLERS + VECTORS * 16);
    this.q(PML4, BigInt(PDPT | 3));
    this.q(PDPT, BigInt(PD | 3));
    this.q(PD, 0x000000n | 0x83n); // P RW PS
    this.q(PD + 8, 0x200000n | 0x83n);
    this.q(GDT + 8, 0x00af9b000000ffffn);
    this.q(GDT + 16, 0x00cf93000000ffffn);
    // 64-bit TSS descriptor (type 9 = available; the TR cache below says busy, 0xB).
    const t = BigInt(TSS);
    this.q(GDT + 24, 0x67n | ((t & 0xffffffn) << 16n) | (0x89n << 40n) | (((t >> 24n) & 0xffn) << 56n));
    this.q(GDT + 32, t >> 32n);
    this.q(TSS + 4, BigInt(IST_TOP)); // RSP0
    this.q(TSS + 0x24, BigInt(IST_TOP)); // IST1
    for (let v = 0; v < VECTORS; v++) {
      const h = BigInt(HANDLERS + v * 16);
      this.q(IDT + v * 16, (h & 0xffffn) | (0x08n << 16n) | (1n << 32n) | (0x8en << 40n) | (((h >> 16n) & 0xffffn) << 48n));
      this.q(IDT + v * 16 + 8, h >> 32n);
      ram.set([0xf4, 0xeb, 0xfd], HANDLERS + v * 16); // hlt; jmp back to the hlt
    }
  }

  private enterLongMode(): void {
    const cpu = this.cpu;
    cpu.setCr(4, 0x20n); // PAE
    cpu.setCr(3, BigInt(PML4));
    cpu.setMsr(0xc0000080, 0x500n); // EFER.LME | LMA
    cpu.setCr(0, 0x80000011n); // PG | ET | PE
    cpu.setGdtr(BigInt(GDT), 39);
    cpu.setIdtr(BigInt(IDT), VECTORS * 16 - 1);
    this.setSegments();
  }

  private setSegments(): void {
    const cpu = this.cpu;
    cpu.setSeg(1, CODE64);
    for (const s of [0, 2, 3, 4, 5]) cpu.setSeg(s, DATA);
    cpu.setSeg(7, { selector: 0x18, base: BigInt(TSS), limit: 0x67, flags: 0x00008b00 });
    cpu.syncMode();
  }

  run(c: HostdiffCase): CaseResult {
    // setRip ends the previous case's HLT, so the CPU is reused as it is.
    return this.runOnce(c).result;
  }

  private runOnce(c: HostdiffCase): { executed: number; result: CaseResult } {
    const cpu = this.cpu, ram = cpu.ram;
    ram.set(c.code, CODE_ADDR);
    ram[CODE_ADDR + c.code.length] = 0xf4; // HLT instead of the native jump back
    cpu.ramWritten(CODE_ADDR, c.code.length + 1);
    fillScratch(c.memSeed, this.init);
    ram.set(this.init, DATA_ADDR);
    for (let i = 0; i < 16; i++) cpu.setReg(i, c.regs[i]);
    cpu.setRflags(c.rflags);
    cpu.setRip(BigInt(CODE_ADDR));
    const { reason, executed } = cpu.run(BUDGET);
    const regs: bigint[] = [];
    for (let i = 0; i < 16; i++) regs.push(cpu.getReg(i));
    const result: CaseResult = { status: 0, vector: 0, regs, rflags: cpu.getRflags(), rip: cpu.getRip() - 1n, diffs: [] };
    const rip = Number(result.rip);
    if (reason !== StopReason.Halt) {
      result.status = 2;
      if (reason === StopReason.TripleFault) { cpu.reset(); this.enterLongMode(); } // do not poison later cases
    } else if (rip === CODE_ADDR + c.code.length) {
      result.rip = BigInt(rip);
    } else if (rip >= HANDLERS && rip < HANDLERS + VECTORS * 16 && rip % 16 === 0) {
      const v = (rip - HANDLERS) / 16;
      const frame = IST_TOP - 40; // RIP CS RFLAGS RSP SS; an error code would sit below RIP
      result.status = 1;
      result.vector = v;
      result.rip = this.view.getBigUint64(frame, true);
      result.rflags = this.view.getBigUint64(frame + 16, true);
      result.regs[4] = this.view.getBigUint64(frame + 24, true);
      this.setSegments(); // the exception reloaded CS; start the next case from a clean state
    } else {
      result.status = 3;
    }
    for (let i = 0; i < DATA_SIZE; i += 4) {
      if (this.view.getUint32(DATA_ADDR + i, true) === ((this.init[i] | (this.init[i + 1] << 8) | (this.init[i + 2] << 16) | (this.init[i + 3] << 24)) >>> 0)) continue;
      for (let k = i; k < i + 4; k++) if (ram[DATA_ADDR + k] !== this.init[k]) result.diffs.push((k << 8) | ram[DATA_ADDR + k]);
    }
    return { executed, result };
  }
}
