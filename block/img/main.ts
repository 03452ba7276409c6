// tsemu-img: the qemu-img work-alike. Commands so far: create, info, check, map, compare, convert, snapshot,
// resize, commit, rebase, amend, measure.
import { CreateError, createImage, type CreateRequest } from './create.ts';
import type { BlockNode } from '../driver.ts';
import { openImage } from '../open.ts';
import { runCheck } from './check.ts';
import { compareImages } from './compare.ts';
import { MAX_SPARSE, runConvert } from './convert.ts';
import { mapImage, MapError } from './map.ts';
import { Progress } from './progress.ts';
import { formatInfo, infoChain } from './info.ts';
import { parseSize } from './size.ts';
import { runSnapshot, type SnapshotAction } from './snapshot.ts';
import { runBench } from './bench.ts';
import { amendHelp, hasHelpOption, runAmend } from './amend.ts';
import { runCommit } from './commit.ts';
import { parseQemuSize, validCacheMode, validOptionList } from './common.ts';
import { runMeasure } from './measure.ts';
import { runRebase } from './rebase.ts';
import { runResize } from './resize.ts';

const PROG = 'tsemu-img';

class UsageError extends Error {}

interface Parsed {
  opts: Map<string, string[]>;
  args: string[];
}

/**
 * getopt_long-style parsing: short options may take their argument attached (-fqcow2) or next;
 * long ones as --name=value or --name value.
 */
function getopt(argv: string[], withArg: string, flags: string, longWithArg: string[], longFlags: string[]): Parsed {
  const opts = new Map<string, string[]>();
  const args: string[] = [];
  const add = (k: string, v: string): void => void opts.set(k, [...(opts.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (longWithArg.includes(name)) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new UsageError(`option '--${name}' requires an argument`);
        add(`--${name}`, v);
      } else if (longFlags.includes(name) && eq < 0) {
        add(`--${name}`, '');
      } else {
        throw new UsageError(`unrecognized option '${a}'`);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        if (withArg.includes(c)) {
          const v = k + 1 < a.length ? a.slice(k + 1) : argv[++i];
          if (v === undefined) throw new UsageError(`option requires an argument -- '${c}'`);
          add(`-${c}`, v);
          break;
        } else if (flags.includes(c)) {
          add(`-${c}`, '');
        } else {
          throw new UsageError(`unrecognized option '${a}'`);
        }
      }
      continue;
    }
    args.push(a);
  }
  return { opts, args };
}

const last = (p: Parsed, k: string): string | undefined => p.opts.get(k)?.at(-1);

async function cmdCreate(argv: string[]): Promise<number> {
  const p = getopt(argv, 'fobF', 'quh', ['object'], ['help']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  const [filename, size] = p.args;
  if (filename === undefined || p.args.length > 2) throw new UsageError('Expecting image file name');
  if (size !== undefined && (size.startsWith('-') || parseSize(size) === null)) {
    process.stderr.write(
      `${PROG}: Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n` +
        `${PROG}: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n`,
    );
    return 1;
  }
  const req: CreateRequest = {
    format: last(p, '-f') ?? 'raw',
    filename,
    size,
    options: p.opts.get('-o') ?? [],
    backingFile: last(p, '-b'),
    backingFormat: last(p, '-F'),
    unsafe: p.opts.has('-u'),
  };
  const quiet = p.opts.has('-q');
  try {
    await createImage(req, (line) => {
      if (!quiet) process.stdout.write(line + '\n');
    });
  } catch (e) {
    const nl = e instanceof CreateError && e.noNewline ? '' : '\n';
    process.stderr.write(`${PROG}: ${filename}: ${(e as Error).message}${nl}`);
    return 1;
  }
  return 0;
}

async function cmdInfo(argv: string[]): Promise<number> {
  const p = getopt(argv, 'f', 'hU', ['output', 'object'], ['backing-chain', 'force-share', 'help', 'image-opts']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  const output = last(p, '--output') ?? 'human';
  if (output !== 'human' && output !== 'json') {
    process.stderr.write(`${PROG}: --output must be used with human or json as argument.\n`);
    return 1;
  }
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  const chain = p.opts.has('--backing-chain');
  try {
    const infos = await infoChain(p.args[0]!, last(p, '-f'), chain);
    process.stdout.write(formatInfo(infos, output === 'json', chain));
  } catch (e) {
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

const stdio = {
  out: (s: string): void => void process.stdout.write(s),
  err: (s: string): void => void process.stderr.write(s),
};

function outputFormat(p: Parsed): 'human' | 'json' | null {
  const output = last(p, '--output') ?? 'human';
  if (output !== 'human' && output !== 'json') {
    process.stderr.write(`${PROG}: --output must be used with human or json as argument.\n`);
    return null;
  }
  return output;
}

async function cmdCheck(argv: string[]): Promise<number> {
  const p = getopt(argv, 'frTU', 'hq', ['output', 'object'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  const output = outputFormat(p);
  if (output === null) return 1;
  const r = last(p, '-r');
  if (r !== undefined && r !== 'leaks' && r !== 'all') throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${r}`);
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  return runCheck({ filename: p.args[0]!, format: last(p, '-f'), json: output === 'json', repair: r as 'leaks' | 'all' | undefined, quiet: p.opts.has('-q') }, stdio, PROG);
}

/** Opens an image for reading with its backing chain, or prints qemu-img's message. */
async function openForRead(name: string, format: string | undefined): Promise<BlockNode | null> {
  try {
    return await openImage(name, { format, readOnly: true });
  } catch (e) {
    process.stderr.write(`${PROG}: Could not open '${name}': ${(e as Error).message}\n`);
    return null;
  }
}

function offsetOption(p: Parsed, name: string): number | undefined | null {
  const v = last(p, name);
  if (v === undefined) return undefined;
  const n = parseSize(v);
  if (n === null || n < 0) {
    process.stderr.write(`${PROG}: Invalid ${name === '--start-offset' ? 'start offset' : 'max length'} specified\n`);
    return null;
  }
  return n;
}

async function cmdMap(argv: string[]): Promise<number> {
  const p = getopt(argv, 'f', 'hU', ['output', 'object', 'start-offset', 'max-length'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  const output = outputFormat(p);
  if (output === null) return 1;
  const start = offsetOption(p, '--start-offset');
  const max = offsetOption(p, '--max-length');
  if (start === null || max === null) return 1;
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  const node = await openForRead(p.args[0]!, last(p, '-f'));
  if (!node) return 1;
  try {
    await mapImage(node, output === 'json', stdio.out, start ?? 0, max ?? Infinity);
    return 0;
  } catch (e) {
    process.stderr.write(`${PROG}: ${e instanceof MapError ? e.message : `Error mapping the image: ${(e as Error).message}`}\n`);
    return 1;
  } finally {
    await node.close();
  }
}

async function cmdCompare(argv: string[]): Promise<number> {
  const p = getopt(argv, 'fFT', 'hpqsU', ['object'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  if (p.args.length !== 2) throw new UsageError('Expecting two image file names');
  const quiet = p.opts.has('-q');
  const [nameA, nameB] = p.args as [string, string];
  const a = await openForRead(nameA, last(p, '-f'));
  if (!a) return 2;
  const b = await openForRead(nameB, last(p, '-F'));
  if (!b) {
    await a.close();
    return 2;
  }
  const progress = Progress.forTerminal(p.opts.has('-p') && !quiet);
  try {
    const code = await compareImages({
      a,
      b,
      nameA,
      nameB,
      strict: p.opts.has('-s'),
      say: (l) => {
        if (!quiet) process.stdout.write(l + '\n');
      },
      err: (l) => void process.stderr.write(`${PROG}: ${l}\n`),
      progress: (d, t) => progress.update(d, t),
    });
    progress.finish();
    return code;
  } finally {
    await a.close();
    await b.close();
  }
}

async function cmdConvert(argv: string[]): Promise<number> {
  const p = getopt(argv, 'fOoBFSlmrtT', 'hcpqnCUW', ['object'], ['help', 'image-opts', 'target-image-opts', 'force-share', 'salvage', 'target-is-zero', 'bitmaps']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  for (const o of ['--image-opts', '--target-image-opts', '-l', '--bitmaps', '--target-is-zero']) {
    if (p.opts.has(o)) throw new UsageError(`${o} is not supported yet`);
  }
  let sparse = 4096;
  const sv = last(p, '-S');
  if (sv !== undefined) {
    const n = parseSize(sv);
    if (n === null || n % 512 !== 0 || n > MAX_SPARSE) {
      process.stderr.write(
        `${PROG}: Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to ${MAX_SPARSE}. Select 0 to disable sparse detection (fully allocates output).\n`,
      );
      return 1;
    }
    sparse = n;
  }
  if (p.args.length < 2) {
    process.stderr.write(`${PROG}: Must specify image file name\n`);
    return 1;
  }
  if (!cacheOk(p, '-t', 'cache option') || !cacheOk(p, '-T', 'source cache option')) return 1;
  const quiet = p.opts.has('-q');
  return runConvert(
    {
      sources: p.args.slice(0, -1),
      sourceFormat: last(p, '-f'),
      target: p.args.at(-1)!,
      targetFormat: last(p, '-O') ?? 'raw',
      compress: p.opts.has('-c'),
      options: p.opts.get('-o') ?? [],
      backing: last(p, '-B'),
      backingFormat: last(p, '-F'),
      noCreate: p.opts.has('-n'),
      sparseSize: sparse,
      cache: last(p, '-t'),
      progress: Progress.forTerminal(p.opts.has('-p') && !quiet),
      err: (l) => void process.stderr.write(l + '\n'),
    },
    PROG,
  );
}

async function cmdBench(argv: string[]): Promise<number> {
  const p = getopt(argv, 'cdfiosSt', 'hnqwU', ['object', 'flush-interval', 'pattern'], ['help', 'image-opts', 'no-drain', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  return runBench({ value: (k) => last(p, k), has: (k) => p.opts.has(k), filename: p.args[0]! }, stdio, PROG);
}

async function cmdSnapshot(argv: string[]): Promise<number> {
  const p = getopt(argv, 'acd', 'lhqU', ['object'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  let action: SnapshotAction | null = null;
  for (const [k, vs] of p.opts) {
    const kind = k === '-l' ? 'list' : k === '-c' ? 'create' : k === '-a' ? 'apply' : k === '-d' ? 'delete' : null;
    if (kind === null) continue;
    if (action !== null || vs.length > 1) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
    action = kind === 'list' ? { kind } : { kind, name: vs[0]! };
  }
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  if ((p.opts.has('-U') || p.opts.has('--force-share')) && action !== null && action.kind !== 'list') {
    process.stderr.write(`${PROG}: Could not open '${p.args[0]}': force-share=on can only be used with read-only images\n`);
    return 1;
  }
  return runSnapshot(p.args[0]!, undefined, action, stdio, PROG);
}

async function cmdResize(argv: string[]): Promise<number> {
  // The size goes before option parsing, so "-1G" is a size and not an option (as in qemu-img).
  if (argv.length < 2) throw new UsageError('Not enough arguments');
  const size = argv.at(-1)!;
  const p = getopt(argv.slice(0, -1), 'f', 'hq', ['object', 'preallocation'], ['help', 'image-opts', 'shrink']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  if (p.args.length !== 1) throw new UsageError('Expecting image file name and size');
  return runResize(
    { filename: p.args[0]!, format: last(p, '-f'), size, prealloc: last(p, '--preallocation'), shrink: p.opts.has('--shrink'), quiet: p.opts.has('-q') },
    stdio,
    PROG,
  );
}

/** -t/-T values; false after printing qemu-img's message. */
function cacheOk(p: Parsed, opt: string, what: string): boolean {
  const v = last(p, opt);
  if (v === undefined || validCacheMode(v)) return true;
  process.stderr.write(`${PROG}: Invalid ${what}: ${v}\n`);
  return false;
}

async function cmdCommit(argv: string[]): Promise<number> {
  const p = getopt(argv, 'ftbr', 'hdpq', ['object'], ['help', 'image-opts']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  const rate = last(p, '-r');
  if (rate !== undefined && 'error' in parseQemuSize(rate)) {
    process.stderr.write(`${PROG}: Invalid rate limit specified. You may use k, M, G, T, P or E suffixes for\n${PROG}: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n`);
    return 1;
  }
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  if (!cacheOk(p, '-t', 'cache option')) return 1;
  const quiet = p.opts.has('-q');
  return runCommit(
    { filename: p.args[0]!, format: last(p, '-f'), base: last(p, '-b'), keep: p.opts.has('-d'), quiet, progress: Progress.forTerminal(p.opts.has('-p') && !quiet) },
    stdio,
    PROG,
  );
}

async function cmdRebase(argv: string[]): Promise<number> {
  const p = getopt(argv, 'fFbtT', 'hupqU', ['object'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  if (p.args.length !== 1) throw new UsageError('Expecting one image file name');
  const unsafe = p.opts.has('-u');
  const backing = last(p, '-b');
  if (!unsafe && backing === undefined) throw new UsageError('Must specify backing file (-b) or use unsafe mode (-u)');
  if (!cacheOk(p, '-t', 'cache option') || !cacheOk(p, '-T', 'source cache option')) return 1;
  const quiet = p.opts.has('-q');
  return runRebase(
    {
      filename: p.args[0]!,
      format: last(p, '-f'),
      backing: backing ?? '',
      backingFormat: last(p, '-F'),
      unsafe,
      quiet,
      progress: Progress.forTerminal(p.opts.has('-p') && !quiet),
    },
    stdio,
    PROG,
  );
}

/** -o lists; false after printing qemu-img's message for a malformed one. */
function optionListsOk(p: Parsed): boolean {
  for (const o of p.opts.get('-o') ?? []) {
    if (!validOptionList(o)) {
      process.stderr.write(`${PROG}: Invalid option list: ${o}\n`);
      return false;
    }
  }
  return true;
}

async function cmdAmend(argv: string[]): Promise<number> {
  const p = getopt(argv, 'oft', 'hpq', ['object'], ['help', 'image-opts', 'force']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts')) throw new UsageError('--image-opts is not supported yet');
  if (!optionListsOk(p)) return 1;
  const options = p.opts.get('-o');
  if (options === undefined) throw new UsageError('Must specify options (-o)');
  const format = last(p, '-f');
  if (format !== undefined && hasHelpOption(options)) {
    // With a format named, -o help needs no image.
    if (format === 'qcow2') {
      process.stdout.write(amendHelp());
      return 0;
    }
    process.stderr.write(`${PROG}: Format driver '${format}' does not support option amendment\n`);
    return 1;
  }
  if (p.args.length !== 1) {
    process.stderr.write(`${PROG}: Expecting one image file name\n`);
    return 1;
  }
  if (!cacheOk(p, '-t', 'cache option')) return 1;
  return runAmend({ filename: p.args[0]!, format, options }, stdio, PROG);
}

async function cmdMeasure(argv: string[]): Promise<number> {
  const p = getopt(argv, 'fOol', 'h', ['object', 'output', 'size'], ['help', 'image-opts', 'force-share']);
  if (p.opts.has('-h') || p.opts.has('--help')) return help();
  if (p.opts.has('--image-opts') || p.opts.has('-l')) throw new UsageError(`${p.opts.has('-l') ? '-l' : '--image-opts'} is not supported yet`);
  if (!optionListsOk(p)) return 1;
  const output = outputFormat(p);
  if (output === null) return 1;
  if (p.args.length > 1) {
    process.stderr.write(`${PROG}: At most one filename argument is allowed.\n`);
    return 1;
  }
  return runMeasure(
    { size: last(p, '--size'), filename: p.args[0], format: last(p, '-f'), targetFormat: last(p, '-O') ?? 'raw', options: p.opts.get('-o') ?? [], json: output === 'json' },
    stdio,
    PROG,
  );
}

function help(): number {
  process.stdout.write(
    `usage: ${PROG} [standard options] command [command options]\n` +
      'QEMU-compatible disk image utility\n\n' +
      'Command syntax:\n' +
      '  amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename\n' +
      '  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename\n' +
      '  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename\n' +
      '  commit [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename\n' +
      '  compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] filename1 filename2\n' +
      '  convert [-c] [-p] [-q] [-n] [-f fmt] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-S sparse_size] filename [filename2 [...]] output_filename\n' +
      '  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]\n' +
      '  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename\n' +
      '  map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename\n' +
      '  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]\n' +
      '  snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename\n' +
      '  rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename\n' +
      '  resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size\n\n' +
      'Supported formats: file qcow2 raw\n',
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined) throw new UsageError('Not enough arguments');
    if (cmd === '-h' || cmd === '--help') return help();
    if (cmd === '-V' || cmd === '--version') {
      process.stdout.write(`${PROG} version 0.1.0 (qemu-img 7.2 compatible)\n`);
      return 0;
    }
    if (cmd === 'create') return await cmdCreate(rest);
    if (cmd === 'info') return await cmdInfo(rest);
    if (cmd === 'check') return await cmdCheck(rest);
    if (cmd === 'map') return await cmdMap(rest);
    if (cmd === 'compare') return await cmdCompare(rest);
    if (cmd === 'convert') return await cmdConvert(rest);
    if (cmd === 'snapshot') return await cmdSnapshot(rest);
    if (cmd === 'bench') return await cmdBench(rest);
    if (cmd === 'resize') return await cmdResize(rest);
    if (cmd === 'commit') return await cmdCommit(rest);
    if (cmd === 'rebase') return await cmdRebase(rest);
    if (cmd === 'amend') return await cmdAmend(rest);
    if (cmd === 'measure') return await cmdMeasure(rest);
    if (cmd.startsWith('-')) throw new UsageError(`unrecognized option '${cmd}'`);
    process.stderr.write(`${PROG}: Command not found: ${cmd}\nTry '${PROG} --help' for more information\n`);
    return 1;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROG}: ${e.message}\nTry '${PROG} --help' for more information\n`);
      return 1;
    }
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && /tsemu-img(\.js)?$|img[\\/]main\.ts$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
