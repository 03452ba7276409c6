// `tsemu-img bench`: qemu-img's simple I/O benchmark. COUNT requests of BUFFER_SIZE bytes, DEPTH
// of them in flight at once, the first at OFFSET and each next one STEP_SIZE further on (wrapping
// at the end of the image like qemu-img: offset modulo the image size). Same options, output
// lines and exit codes as qemu-img 7.2, so the two can run side by side (bench/block.ts).
import type { BlockNode } from '../driver.ts';
import { BlockError, errnoText } from '../errors.ts';
import { openImage } from '../open.ts';
import { parseSize } from './size.ts';

export interface BenchOptions {
  /** Last value given for each option (keys as on the command line: '-c', '--pattern', ...). */
  value(key: string): string | undefined;
  has(key: string): boolean;
  filename: string;
}

interface BenchRequest {
  filename: string;
  format: string | undefined;
  write: boolean;
  count: number;
  depth: number;
  offset: number;
  bufSize: number;
  step: number;
  pattern: number;
  flushInterval: number;
  drain: boolean;
  /** Flush after every write (cache=writethrough/directsync). */
  writethrough: boolean;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const INT_MAX = 0x7fffffff;
const SIZE_HINT = 'You may use k, M, G, T, P or E suffixes for\n%P: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.';

/** C strtol with base 0 (decimal, 0x hex, leading-0 octal), the whole text, within [0, max]. */
function parseInt0(text: string, max: number): number | null {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(text);
  if (!m) return null;
  const digits = m[2]!;
  const v = digits.startsWith('0x') || digits.startsWith('0X') ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits.startsWith('0') ? parseInt(digits, 8) : Number(digits);
  const signed = m[1] === '-' ? -v : v;
  return signed < 0 || signed > max ? null : signed;
}

/** Reads and checks the options the way qemu-img does; null after printing its message. */
function parseRequest(o: BenchOptions, io: Io, prog: string): BenchRequest | null {
  const fail = (msg: string): null => {
    io.err(`${prog}: ${msg.replace('%P', prog)}\n`);
    return null;
  };
  let count = 75000;
  let depth = 64;
  let bufSize = 4096;
  let offset = 0;
  let step = 0;
  let pattern = 0;
  let flushInterval = 0;
  const c = o.value('-c');
  if (c !== undefined) {
    const v = parseInt0(c, INT_MAX);
    if (v === null) return fail('Invalid request count specified');
    count = v;
  }
  const d = o.value('-d');
  if (d !== undefined) {
    // qemu-img accepts 0 and then waits forever; refuse it instead.
    const v = parseInt0(d, INT_MAX);
    if (v === null || v === 0) return fail('Invalid queue depth specified');
    depth = v;
  }
  const size = (key: string, what: string, max: number): number | null | undefined => {
    const t = o.value(key);
    if (t === undefined) return undefined;
    const v = parseSize(t);
    if (v === null || v > max) {
      fail(`Invalid ${what} specified. ${SIZE_HINT}`);
      return null;
    }
    return v;
  };
  const s = size('-s', 'buffer size', INT_MAX);
  if (s === null) return null;
  if (s !== undefined) bufSize = s;
  const st = size('-S', 'step_size', INT_MAX);
  if (st === null) return null;
  step = st ?? bufSize;
  const off = size('-o', 'offset', Number.MAX_SAFE_INTEGER);
  if (off === null) return null;
  offset = off ?? 0;
  const pat = o.value('--pattern');
  if (pat !== undefined) {
    const v = parseInt0(pat, 0xff);
    if (v === null) return fail('Invalid pattern byte specified');
    pattern = v;
  }
  const fi = o.value('--flush-interval');
  if (fi !== undefined) {
    const v = parseInt0(fi, INT_MAX);
    if (v === null) return fail('Invalid flush interval specified');
    flushInterval = v;
  }
  const cache = o.value('-t') ?? 'writeback';
  if (!['none', 'off', 'writeback', 'writethrough', 'directsync', 'unsafe'].includes(cache)) return fail('Invalid cache mode');
  const aio = o.value('-i');
  if (aio !== undefined && !['threads', 'native', 'io_uring'].includes(aio)) return fail(`Invalid aio option: ${aio}`);
  const write = o.has('-w');
  if (flushInterval && !write) return fail('--flush-interval is only available in write tests');
  if (flushInterval && flushInterval < depth) return fail("Flush interval can't be smaller than depth");
  const direct = cache === 'none' || cache === 'off' || cache === 'directsync';
  if ((o.has('-n') || aio === 'native') && !direct) {
    return fail(`Could not open '${o.filename}': aio=native was specified, but it requires cache.direct=on, which was not specified.`);
  }
  // Node has no O_DIRECT with aligned buffers: say so rather than measure the page cache.
  if (direct) return fail(`Could not open '${o.filename}': cache.direct=on (O_DIRECT) is not supported by ${prog}`);
  return {
    filename: o.filename,
    format: o.value('-f'),
    write,
    count,
    depth,
    offset,
    bufSize,
    step,
    pattern,
    flushInterval,
    drain: !o.has('--no-drain'),
    writethrough: cache === 'writethrough',
  };
}

/** Issues the requests; resolves with the first error (or null) once nothing is in flight. */
function runRequests(node: BlockNode, r: BenchRequest): Promise<unknown> {
  const size = node.length();
  // One buffer per slot, allocated once: the loop itself must not be what is measured.
  const slots: Uint8Array[] = [];
  for (let i = 0; i < Math.min(r.depth, Math.max(r.count, 1)); i++) slots.push(new Uint8Array(r.bufSize).fill(r.pattern));
  const free = slots.slice();
  let offset = r.offset;
  let issued = 0;
  let inFlight = 0;
  let error: unknown = null;
  /** Flushes in flight, and whether new requests wait for one (drained flushes). */
  let flushes = 0;
  let blocked = false;
  let flushedAt = -1;
  return new Promise((resolve) => {
    const finishIfIdle = (): void => {
      if (inFlight === 0 && flushes === 0 && (issued === r.count || error !== null)) resolve(error);
    };
    const flushDone = (e: unknown): void => {
      flushes--;
      if (e !== undefined) error ??= e;
      blocked = false;
      pump();
    };
    const done = (buf: Uint8Array, e: unknown): void => {
      if (e !== undefined) error ??= e;
      inFlight--;
      free.push(buf);
      pump();
    };
    const pump = (): void => {
      while (error === null && issued < r.count && inFlight < r.depth && !blocked) {
        // A flush whenever the number of requests left is a multiple of the interval; by
        // default the queue is drained first and new requests wait for the flush.
        if (r.flushInterval && issued > 0 && (r.count - issued) % r.flushInterval === 0 && flushedAt !== issued) {
          if (r.drain && inFlight > 0) break;
          flushedAt = issued;
          flushes++;
          blocked = r.drain;
          node.flush().then(() => flushDone(undefined), (e: unknown) => flushDone(e ?? new Error('flush failed')));
          if (blocked) break;
        }
        const buf = free.pop()!;
        const at = offset;
        offset = size === 0 ? 0 : (offset + r.step) % size;
        issued++;
        inFlight++;
        let p: Promise<void>;
        try {
          p = r.write ? node.write(at, buf) : node.read(at, buf);
        } catch (e) {
          // Some drivers check a request before returning its promise.
          p = Promise.reject(e);
        }
        const q = r.write && r.writethrough ? p.then(() => node.flush()) : p;
        q.then(() => done(buf, undefined), (e: unknown) => done(buf, e ?? new Error('request failed')));
      }
      finishIfIdle();
    };
    pump();
  });
}

export async function runBench(o: BenchOptions, io: Io, prog: string): Promise<number> {
  const r = parseRequest(o, io, prog);
  if (!r) return 1;
  let node: BlockNode;
  try {
    node = await openImage(r.filename, { format: r.format, readOnly: !r.write, warn: r.write ? io.err : undefined });
  } catch (e) {
    io.err(`${prog}: Could not open '${r.filename}': ${(e as Error).message}\n`);
    return 1;
  }
  try {
    io.out(
      `Sending ${r.count} ${r.write ? 'write' : 'read'} requests, ${r.bufSize} bytes each, ${r.depth} in parallel ` +
        `(starting at offset ${r.offset}, step size ${r.step})\n`,
    );
    if (r.flushInterval) io.out(`Sending flush every ${r.flushInterval} requests\n`);
    const t0 = process.hrtime.bigint();
    const error = await runRequests(node, r);
    const t1 = process.hrtime.bigint();
    if (error !== null) {
      const code = error instanceof BlockError ? error.code : 'EIO';
      io.err(`${prog}: Failed request: ${errnoText(code)}\n`);
      return 1;
    }
    io.out(`Run completed in ${(Number(t1 - t0) / 1e9).toFixed(3)} seconds.\n`);
    return 0;
  } finally {
    await node.close().catch(() => {});
  }
}
