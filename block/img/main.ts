// tsemu-img: the qemu-img work-alike. Commands so far: create, info.
import { CreateError, createImage, type CreateRequest } from './create.ts';
import { formatInfo, infoChain } from './info.ts';
import { parseSize } from './size.ts';

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

function help(): number {
  process.stdout.write(
    `usage: ${PROG} [standard options] command [command options]\n` +
      'QEMU-compatible disk image utility\n\n' +
      'Command syntax:\n' +
      '  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]\n' +
      '  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename\n\n' +
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
