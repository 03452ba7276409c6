// One malformed image through the driver: open read-only, list snapshots, read the virtual disk
// (all of it when small, a few ranges when absurdly large), block status, the consistency check
// without repair, close; for some cases also a read-write open with a write and a flush. Every
// failure must be a BlockError (CheckFailed for the check) with a one-line message. The image is
// served from memory by MemNode, which also enforces the I/O budget and the deadline; typed
// array allocations are bounded while the case runs.
import { BlockError } from '../../block/errors.ts';
import { CheckFailed, checkQcow2, type CheckResult } from '../../block/qcow2/check.ts';
import { Qcow2Node } from '../../block/qcow2/qcow2.ts';
import { readSnapshots } from '../../block/qcow2/snapshot.ts';
import { GuardError, MemNode, type Guard } from './mem-node.ts';
import type { Rng } from './prng.ts';

export const CASE_MS = 5000;
const CHUNK = 64 << 10;
const WHOLE_DISK_LIMIT = 4 << 20;

export interface CaseResult {
  /** How far it got: 'open' (refused), 'read' (a read failed), 'check' (the check failed) or 'ok'. */
  stage: 'open' | 'read' | 'check' | 'ok';
  /** The first error's message, if any. */
  error: string | null;
  check: CheckResult | null;
  /** Rule violations: the test fails if there is any. */
  problems: string[];
  ms: number;
  ops: number;
}

/** Allocation limit for typed arrays and ArrayBuffers built while a case runs. */
let allocLimit = Infinity;
let allocViolations: string[] = [];
const GUARDED = ['Uint8Array', 'Uint16Array', 'Uint32Array', 'Float64Array', 'BigUint64Array', 'ArrayBuffer'];
const g = globalThis as unknown as Record<string, unknown>;
const originals = new Map(GUARDED.map((name) => [name, g[name]]));
/** Stand-ins for the global typed array constructors that refuse (and note) oversized allocations. */
const guarded = new Map(
  GUARDED.map((name) => {
    const original = originals.get(name) as new (...args: unknown[]) => object;
    const bytesPer = name === 'ArrayBuffer' || name === 'Uint8Array' ? 1 : name === 'Uint16Array' ? 2 : name === 'Uint32Array' ? 4 : 8;
    const proxy: unknown = new Proxy(original, {
      construct(target, args, newTarget) {
        const n = args[0];
        if (typeof n === 'number' && n * bytesPer > allocLimit) {
          const msg = `new ${name}(${n}) allocates ${n * bytesPer} bytes, over the limit of ${allocLimit}`;
          allocViolations.push(msg);
          throw new GuardError(msg);
        }
        return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    return [name, proxy];
  }),
);

function guardAllocations(on: boolean): void {
  for (const name of GUARDED) g[name] = (on ? guarded : originals).get(name);
}

function messageProblem(where: string, e: unknown, allowCheckFailed: boolean): string | null {
  if (e instanceof GuardError) return `${where}: guard: ${e.message}`;
  const ok = e instanceof BlockError || (allowCheckFailed && e instanceof CheckFailed);
  if (!ok) {
    const err = e as Error;
    return `${where}: ${err?.constructor?.name ?? typeof e} thrown, not a BlockError: ${err?.message}\n${err?.stack ?? ''}`;
  }
  const m = (e as Error).message;
  if (m.length === 0 || m.includes('\n') || m.length > 300 || /undefined|NaN|\[object/.test(m)) return `${where}: unclear message ${JSON.stringify(m)}`;
  return null;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GuardError(`case did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export function guardFor(len: number, start: number): Guard {
  return {
    deadline: start + CASE_MS,
    maxOps: 400_000,
    maxBytesRead: 512 << 20,
    // Nothing the driver reads may be larger than the file, a cluster (2 MiB at most) or the
    // 128 KiB of a snapshot's id and name; our own reads come in 64 KiB chunks.
    maxRequest: Math.max(len, 192 << 10),
    maxSize: Math.max(2 * len, 8 << 20),
  };
}

/** Ranges of the virtual disk to read. */
function readPlan(size: number, rng: Rng): [number, number][] {
  const out: [number, number][] = [];
  if (size <= WHOLE_DISK_LIMIT) {
    for (let p = 0; p < size; p += CHUNK) out.push([p, Math.min(CHUNK, size - p)]);
    return out;
  }
  out.push([0, CHUNK], [size - CHUNK, CHUNK]);
  for (let i = 0; i < 6; i++) {
    const len = rng.range(1, CHUNK);
    out.push([rng.int(size - len), len]);
  }
  return out;
}

export async function runCase(bytes: Uint8Array, rng: Rng, readWrite: boolean): Promise<CaseResult> {
  const start = Date.now();
  const res: CaseResult = { stage: 'ok', error: null, check: null, problems: [], ms: 0, ops: 0 };
  const buf = new Uint8Array(CHUNK);
  const plainRng = rng;
  guardAllocations(true);
  allocLimit = Math.max(bytes.length, 2 << 20) + 64;
  allocViolations = [];
  let mem: MemNode | null = null;
  try {
    await withTimeout(
      (async () => {
        mem = new MemNode('mutant.qcow2', bytes, true, guardFor(bytes.length, start));
        const fail = (stage: CaseResult['stage'], where: string, e: unknown, allowCheckFailed = false): void => {
          const p = messageProblem(where, e, allowCheckFailed);
          if (p) res.problems.push(p);
          if (res.error === null) {
            res.stage = stage;
            res.error = (e as Error).message;
          }
        };
        let node: Qcow2Node;
        try {
          node = await Qcow2Node.open(mem, { readOnly: true });
        } catch (e) {
          fail('open', 'open', e);
          return;
        }
        try {
          try {
            await readSnapshots(node);
          } catch (e) {
            fail('read', 'snapshot list', e);
          }
          const size = node.length();
          for (const [off, len] of readPlan(size, plainRng)) {
            try {
              await node.read(off, buf.subarray(0, len));
            } catch (e) {
              fail('read', `read ${off}+${len}`, e);
              if (res.problems.length) return;
            }
          }
          for (let i = 0; i < 4 && size > 0; i++) {
            const off = plainRng.int(size);
            try {
              const s = await node.blockStatus(off, Math.min(size - off, 1 << 20));
              if (!(s.length >= 1 && off + s.length <= size)) res.problems.push(`block status at ${off} gave length ${s.length}`);
            } catch (e) {
              fail('read', `block status ${off}`, e);
            }
          }
          const lines: string[] = [];
          try {
            res.check = await checkQcow2({ file: mem, header: node.header, log: (l) => lines.push(l), readOnly: true, prog: 'tsemu-img' }, 0);
          } catch (e) {
            fail('check', 'check', e, true);
          }
          for (const l of lines) {
            // Snapshot names are printed as they are stored (qemu does the same), so a garbage
            // name may bring any byte; the rest of the line must still be well formed.
            if (/undefined|NaN|\[object/.test(l.replace(/snapshot .* \(.*\)/s, 'snapshot'))) res.problems.push(`check printed an unclear line ${JSON.stringify(l)}`);
          }
        } finally {
          await node.close().catch((e: unknown) => {
            const p = messageProblem('close', e, false);
            if (p) res.problems.push(p);
          });
        }
        if (readWrite) await writeLeg(bytes.slice(), plainRng, start, res);
      })(),
      CASE_MS + 1000,
    );
  } catch (e) {
    res.problems.push(e instanceof GuardError ? `guard: ${e.message}` : `escaped: ${(e as Error)?.stack ?? String(e)}`);
  } finally {
    allocLimit = Infinity;
    guardAllocations(false);
  }
  res.ms = Date.now() - start;
  res.ops = (mem as MemNode | null)?.ops ?? 0;
  for (const v of allocViolations) res.problems.push(`allocation: ${v}`);
  if (res.ms > CASE_MS) res.problems.push(`took ${res.ms} ms`);
  return res;
}

/** Read-write: open (a dirty image is repaired first), write, zero, flush, close. */
async function writeLeg(bytes: Uint8Array, rng: Rng, start: number, res: CaseResult): Promise<void> {
  const mem = new MemNode('mutant-rw.qcow2', bytes, false, guardFor(bytes.length, start));
  let node: Qcow2Node;
  try {
    node = await Qcow2Node.open(mem, { readOnly: false, log: () => {} });
  } catch (e) {
    const p = messageProblem('read-write open', e, false);
    if (p) res.problems.push(p);
    return;
  }
  try {
    const size = node.length();
    if (size > 0) {
      const len = Math.min(size, rng.range(1, 3 * node.cs));
      const off = rng.int(size - len + 1);
      await node.write(off, new Uint8Array(len).fill(0x5a));
      const zoff = rng.int(size);
      await node.writeZeroes(zoff, Math.min(size - zoff, rng.range(1, 2 * node.cs)), rng.chance(0.5));
      if (rng.chance(0.3)) {
        const coff = Math.floor(rng.int(size) / node.cs) * node.cs;
        await node.writeCompressed(coff, new Uint8Array(Math.min(node.cs, size - coff)).fill(3));
      }
      await node.flush();
    }
  } catch (e) {
    const p = messageProblem('write', e, false);
    if (p) res.problems.push(p);
  } finally {
    await node.close().catch((e: unknown) => {
      const p = messageProblem('read-write close', e, false);
      if (p) res.problems.push(p);
    });
  }
}
