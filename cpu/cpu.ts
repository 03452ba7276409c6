// The host side of the CPU: loads the WebAssembly core (assembly/, built to build/cpu.wasm),
// connects its imports to a CpuHost and offers the CpuApi to the machine, loaders and tests.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StopReason, type CpuApi, type CpuHost, type RomImage, type RunResult, type SegmentState } from './types.ts';

/** Where the core expects the value of a host-owned MSR (assembly/layout.ts MSR_SCRATCH). */
const MSR_SCRATCH = 0x1600;

/** Thrown by the abortInstruction import to unwind a faulting instruction out of run(). */
const ABORT = Symbol('abort-instruction');

interface CoreExports {
  memory: WebAssembly.Memory;
  init(ramSize: number): number;
  reset(): void;
  run(budget: number): number;
  deliverPending(): void;
  getRip(): bigint;
  setRip(v: bigint): void;
  getRflags(): number;
  setRflags(v: number): void;
  regsAddress(): number;
  segsAddress(): number;
  ramAddress(): number;
  getCr(n: number): bigint;
  setCr(n: number, v: bigint): void;
  getMsr(index: number): bigint;
  hasMsr(index: number): number;
  setMsr(index: number, v: bigint): number;
  getGdtrBase(): bigint;
  getGdtrLimit(): number;
  setGdtr(base: bigint, limit: number): void;
  getIdtrBase(): bigint;
  getIdtrLimit(): number;
  setIdtr(base: bigint, limit: number): void;
  syncMode(): void;
  getIcount(): bigint;
  getMode(): number;
  getCpl(): number;
  isHalted(): number;
  isTripleFault(): number;
  setIntr(level: number): void;
  requestStop(): void;
  setA20(enabled: number): void;
  allocRom(size: number): number;
  mapRom(phys: number, size: number, hostAddr: number): void;
  mapMmio(phys: number, size: number): void;
  mapRam(phys: number, size: number, writable: number): void;
  invalidateDecodedCode(): void;
  setVirtualTime(ns: bigint, nsPerInstructionFx: bigint): void;
  nmi(): void;
  setApicFeatures(bits: number): void;
}

/** CPUID.1:ECX bits of local APIC features the host's device implements (assembly/system.ts). */
const CPUID1_ECX_X2APIC = 1 << 21;
const CPUID1_ECX_TSC_DEADLINE = 1 << 24;

let compiled: WebAssembly.Module | undefined;

function wasmPath(): string {
  // Bundled CLI: dist/cpu.wasm beside dist/tsemu.js; from source: build/cpu.wasm.
  for (const rel of ['./cpu.wasm', '../build/cpu.wasm', '../dist/cpu.wasm']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('the CPU core (build/cpu.wasm) is missing: run `npm run build`');
}

function compile(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(wasmPath()));
  return compiled;
}

/** The x86-64 CPU. Guest RAM, registers and the TLB live in the WebAssembly memory. */
export class Cpu implements CpuApi {
  readonly ram: Uint8Array;
  readonly ramSize: number;
  private readonly core: CoreExports;
  private readonly regs: BigUint64Array;
  private readonly segs: DataView;

  static async create(ramSize: number, host: CpuHost): Promise<Cpu> {
    return new Cpu(ramSize, host);
  }

  constructor(ramSize: number, host: CpuHost) {
    if (!Number.isInteger(ramSize) || ramSize < 1 << 20 || ramSize > 0xe0000000 || ramSize % 4096 !== 0) {
      throw new RangeError(`unsupported RAM size ${ramSize}: between 1 MiB and 3.5 GiB, page aligned`);
    }
    const imports = {
      host: {
        portRead: (port: number, size: number) => host.portRead(port, size) >>> 0,
        portWrite: (port: number, size: number, value: number) => host.portWrite(port, size, value >>> 0),
        mmioRead: (addr: bigint, size: number) => host.mmioRead(Number(addr), size) >>> 0,
        mmioWrite: (addr: bigint, size: number, value: number) => host.mmioWrite(Number(addr), size, value >>> 0),
        interruptAcknowledge: () => host.interruptAcknowledge(),
        msrRead: (index: number) => {
          const v = host.msrRead?.(index >>> 0);
          if (v === undefined) return 0;
          new DataView(this.core.memory.buffer).setBigUint64(MSR_SCRATCH, BigInt.asUintN(64, v), true);
          return 1;
        },
        msrWrite: (index: number, value: bigint) => (host.msrWrite?.(index >>> 0, BigInt.asUintN(64, value)) ? 1 : 0),
        cr8Read: () => (host.readCr8 ? host.readCr8() & 0xf : -1),
        cr8Write: (value: number) => host.writeCr8?.(value & 0xf),
        abortInstruction: () => {
          throw ABORT;
        },
      },
      env: {
        abort: (_msg: number, _file: number, line: number, col: number) => {
          throw new Error(`CPU core assertion failed at ${line}:${col}`);
        },
      },
    };
    const instance = new WebAssembly.Instance(compile(), imports);
    this.core = instance.exports as unknown as CoreExports;
    if (!this.core.init(ramSize)) throw new RangeError(`cannot allocate ${ramSize} bytes of guest RAM`);
    const buf = this.core.memory.buffer;
    this.ramSize = ramSize;
    this.ram = new Uint8Array(buf, this.core.ramAddress(), ramSize);
    this.regs = new BigUint64Array(buf, this.core.regsAddress(), 16);
    this.segs = new DataView(buf, this.core.segsAddress(), 8 * 32);
    const apic = host.apicFeatures;
    this.core.setApicFeatures((apic?.x2apic ? CPUID1_ECX_X2APIC : 0) | (apic?.tscDeadline ? CPUID1_ECX_TSC_DEADLINE : 0));
  }

  getReg(r: number): bigint {
    return this.regs[r];
  }
  setReg(r: number, value: bigint): void {
    this.regs[r] = BigInt.asUintN(64, value);
  }
  getRip(): bigint {
    return this.core.getRip();
  }
  setRip(value: bigint): void {
    this.core.setRip(BigInt.asUintN(64, value));
  }
  getRflags(): bigint {
    return BigInt(this.core.getRflags() >>> 0);
  }
  setRflags(value: bigint): void {
    this.core.setRflags(Number(value & 0xffffffffn));
  }
  getSeg(s: number): SegmentState {
    const o = s * 32;
    return {
      selector: this.segs.getUint32(o, true),
      flags: this.segs.getUint32(o + 4, true),
      base: this.segs.getBigUint64(o + 8, true),
      limit: this.segs.getUint32(o + 16, true),
    };
  }
  setSeg(s: number, state: SegmentState): void {
    const o = s * 32;
    this.segs.setUint32(o, state.selector & 0xffff, true);
    this.segs.setUint32(o + 4, state.flags >>> 0, true);
    this.segs.setBigUint64(o + 8, BigInt.asUintN(64, state.base), true);
    this.segs.setUint32(o + 16, state.limit >>> 0, true);
  }
  getGdtr(): { base: bigint; limit: number } {
    return { base: this.core.getGdtrBase(), limit: this.core.getGdtrLimit() };
  }
  setGdtr(base: bigint, limit: number): void {
    this.core.setGdtr(BigInt.asUintN(64, base), limit);
  }
  getIdtr(): { base: bigint; limit: number } {
    return { base: this.core.getIdtrBase(), limit: this.core.getIdtrLimit() };
  }
  setIdtr(base: bigint, limit: number): void {
    this.core.setIdtr(BigInt.asUintN(64, base), limit);
  }
  getCr(n: number): bigint {
    return this.core.getCr(n);
  }
  setCr(n: number, value: bigint): void {
    this.core.setCr(n, BigInt.asUintN(64, value));
  }
  getMsr(index: number): bigint {
    return this.core.getMsr(index >>> 0);
  }
  setMsr(index: number, value: bigint): void {
    if (!this.core.setMsr(index >>> 0, BigInt.asUintN(64, value))) {
      throw new RangeError(`MSR 0x${(index >>> 0).toString(16)} does not exist or rejects 0x${value.toString(16)}`);
    }
  }
  syncMode(): void {
    this.core.syncMode();
  }
  reset(): void {
    this.core.reset();
  }

  run(budget: number): RunResult {
    const before = this.core.getIcount();
    let reason: number;
    for (;;) {
      try {
        reason = this.core.run(budget);
        break;
      } catch (e) {
        if (e !== ABORT) throw e;
        // A faulting instruction unwound run(): deliver its exception (which may fault too).
        this.deliverPendingException();
        if (this.core.isTripleFault()) {
          reason = StopReason.TripleFault;
          break;
        }
        budget = Math.max(0, budget - Number(this.core.getIcount() - before));
      }
    }
    return { reason, executed: Number(this.core.getIcount() - before) };
  }

  private deliverPendingException(): void {
    for (;;) {
      try {
        this.core.deliverPending();
        return;
      } catch (e) {
        if (e !== ABORT) throw e;
      }
    }
  }

  requestStop(): void {
    this.core.requestStop();
  }
  setIntr(level: boolean): void {
    this.core.setIntr(level ? 1 : 0);
  }
  nmi(): void {
    this.core.nmi();
  }
  setA20(enabled: boolean): void {
    this.core.setA20(enabled ? 1 : 0);
  }
  mapRom(physAddr: number, data: Uint8Array): void {
    const size = Math.ceil(data.length / 4096) * 4096;
    const host = this.core.allocRom(size);
    if (!host) throw new RangeError('out of room for firmware images');
    new Uint8Array(this.core.memory.buffer, host, data.length).set(data);
    this.core.mapRom(physAddr >>> 0, size, host);
  }
  mapMmio(physAddr: number, length: number): void {
    this.core.mapMmio(physAddr >>> 0, length);
  }
  loadRom(data: Uint8Array): RomImage {
    const size = Math.ceil(data.length / 4096) * 4096;
    const host = this.core.allocRom(size);
    if (!host) throw new RangeError('out of room for firmware images');
    new Uint8Array(this.core.memory.buffer, host, data.length).set(data);
    return { length: size, handle: host };
  }
  mapRomImage(physAddr: number, image: RomImage, offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > image.length || offset % 4096 !== 0) {
      throw new RangeError(`ROM window ${offset}+${length} is outside the ${image.length}-byte image`);
    }
    this.core.mapRom(physAddr >>> 0, length, image.handle + offset);
  }
  mapRam(physAddr: number, length: number, writable: boolean): void {
    if (physAddr < 0 || physAddr + length > this.ramSize) throw new RangeError(`0x${physAddr.toString(16)}+${length} is not guest RAM`);
    this.core.mapRam(physAddr >>> 0, length, writable ? 1 : 0);
  }
  setVirtualTime(ns: bigint, nsPerInstructionFx = 0x10000): void {
    this.core.setVirtualTime(BigInt.asUintN(64, ns), BigInt(Math.max(1, Math.floor(nsPerInstructionFx))));
  }
  ramWritten(_physAddr: number, _length: number): void {
    // Decoded records are keyed by linear address; drop them all (cheap: an epoch bump).
    this.core.invalidateDecodedCode();
  }
  get instructionCount(): bigint {
    return this.core.getIcount();
  }
  /** Processor mode: 0 real, 1 protected, 2 virtual-8086, 3 compatibility, 4 64-bit. */
  get mode(): number {
    return this.core.getMode();
  }
  get cpl(): number {
    return this.core.getCpl();
  }
}
