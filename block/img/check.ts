// `tsemu-img check`: qemu-img 7.2's messages, human and JSON layouts and exit codes
// (0 clean, 1 check failed, 2 corruptions, 3 leaks only, 63 format without checks).
import { BlockError } from '../errors.ts';
import { FileNode } from '../file.ts';
import { probeFormat } from '../probe.ts';
import { CheckFailed, checkQcow2, FIX_ERRORS, FIX_LEAKS, type CheckResult, type CheckSession } from '../qcow2/check.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { prettyJson, type Json } from './json.ts';
import { percent2 } from './percent.ts';
import type { Output } from './common.ts';

export interface CheckRequest {
  filename: string;
  format?: string;
  json: boolean;
  repair?: 'leaks' | 'all';
  quiet: boolean;
}

export const EXIT_NOT_SUPPORTED = 63;

function human(r: CheckResult): string {
  let s = '';
  if (!(r.corruptions || r.leaks || r.checkErrors)) {
    s += 'No errors were found on the image.\n';
  } else {
    if (r.corruptions) s += `\n${r.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    if (r.leaks) s += `\n${r.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    if (r.checkErrors) s += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  if (r.totalClusters !== 0 && r.allocatedClusters !== 0) {
    s +=
      `${r.allocatedClusters}/${r.totalClusters} = ${percent2(r.allocatedClusters, r.totalClusters)}% allocated, ` +
      `${percent2(r.fragmentedClusters, r.allocatedClusters)}% fragmented, ${percent2(r.compressedClusters, r.allocatedClusters)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) s += `Image end offset: ${r.imageEndOffset}\n`;
  return s;
}

/** qemu prints a QDict: key order is that of its hash table, which this list reproduces. */
function json(r: CheckResult, filename: string, format: string): string {
  const o: { [k: string]: Json } = {};
  const opt = (k: string, v: number): void => {
    if (v) o[k] = v;
  };
  opt('image-end-offset', r.imageEndOffset);
  opt('compressed-clusters', r.compressedClusters);
  opt('total-clusters', r.totalClusters);
  opt('corruptions', r.corruptions);
  opt('corruptions-fixed', r.corruptionsFixed);
  o['check-errors'] = r.checkErrors;
  opt('leaks', r.leaks);
  opt('leaks-fixed', r.leaksFixed);
  opt('allocated-clusters', r.allocatedClusters);
  o['filename'] = filename;
  o['format'] = format;
  opt('fragmented-clusters', r.fragmentedClusters);
  return prettyJson(o) + '\n';
}

export async function runCheck(req: CheckRequest, io: Output, prog: string): Promise<number> {
  const say = (s: string): void => {
    if (!req.quiet) io.out(s);
  };
  const fix = req.repair === 'all' ? FIX_LEAKS | FIX_ERRORS : req.repair === 'leaks' ? FIX_LEAKS : 0;
  const readOnly = fix === 0;
  let file: FileNode;
  let node: Qcow2Node;
  try {
    file = await FileNode.open(req.filename, readOnly);
  } catch (e) {
    io.err(`${prog}: Could not open '${req.filename}': ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const format = req.format ?? (await probeFormat(file));
    if (format === 'raw' || format === 'file') {
      await file.close().catch(() => {});
      io.err(`${prog}: This image format does not support checks\n`);
      return EXIT_NOT_SUPPORTED;
    }
    if (format !== 'qcow2') throw new BlockError(`Unknown driver '${format}'`);
    node = await Qcow2Node.open(file, { readOnly: true });
  } catch (e) {
    await file.close().catch(() => {});
    io.err(`${prog}: Could not open '${req.filename}': ${(e as Error).message}\n`);
    return 1;
  }

  const session: CheckSession = { file, header: node.header, log: (l) => io.err(l + '\n'), readOnly, prog };
  try {
    let result = await checkQcow2(session, fix);
    if (result.corruptionsFixed || result.leaksFixed) {
      if (!req.json) {
        say(
          'The following inconsistencies were found and repaired:\n\n' +
            `    ${result.leaksFixed} leaked clusters\n    ${result.corruptionsFixed} corruptions\n\n` +
            'Double checking the fixed image now...\n',
        );
      }
      const again = await checkQcow2(session, 0);
      again.leaksFixed = result.leaksFixed;
      again.corruptionsFixed = result.corruptionsFixed;
      result = again;
    }
    say(req.json ? json(result, req.filename, 'qcow2') : human(result));
    if (result.checkErrors) {
      io.err(`${prog}: Check failed\n`);
      return 1;
    }
    return result.corruptions ? 2 : result.leaks ? 3 : 0;
  } catch (e) {
    if (e instanceof CheckFailed) io.err(`${prog}: Check failed: ${e.message}\n`);
    else io.err(`${prog}: Check failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await node.close().catch(() => {});
  }
}
