// `tsemu-img commit [-f fmt] [-b base] [-d] [-p] [-q] filename`: what the image and the images
// between it and the base hold is written into the base (the immediate backing file unless -b
// names a deeper one), then the image is emptied so it shows the base again, unless -d (or -b,
// which implies it: emptying would change what the images in between show).
//
// The chain is opened link by link so that the base is the one writable node in it; the base
// grows first if the image is larger, zero runs become zero writes (zero clusters on qcow2 v3).
import type { BlockNode } from '../driver.ts';
import { combineBackingPath, MAX_BACKING_DEPTH, openImage } from '../open.ts';
import { makeEmptyQcow2 } from '../qcow2/make-empty.ts';
import { Qcow2Node } from '../qcow2/qcow2.ts';
import { openWritable, realPath } from './common.ts';
import type { Progress } from './progress.ts';
import type { Output } from './common.ts';

/** Bytes copied per read/write. */
const CHUNK = 2 << 20;

export interface CommitRequest {
  filename: string;
  format?: string;
  base?: string;
  /** -d: leave the image as it is afterwards. */
  keep: boolean;
  quiet: boolean;
  progress: Progress;
}

/** qemu's lookup of -b in a chain: the stored name, or the same file once both are resolved. */
function sameBacking(imageName: string, stored: string, wanted: string): boolean {
  if (stored === wanted) return true;
  const a = realPath(combineBackingPath(imageName, wanted));
  return a !== null && a === realPath(combineBackingPath(imageName, stored));
}

export async function runCommit(req: CommitRequest, io: Output, prog: string): Promise<number> {
  const fail = (msg: string): number => {
    io.err(`${prog}: ${msg}\n`);
    return 1;
  };
  // Open the whole chain once read-only: errors read as qemu-img's for a broken chain.
  try {
    const probe = await openImage(req.filename, { format: req.format, readOnly: true });
    await probe.close();
  } catch (e) {
    return fail(`Could not open '${req.filename}': ${(e as Error).message}`);
  }
  const keep = req.keep || req.base !== undefined;
  const opened: BlockNode[] = [];
  const closeAll = async (): Promise<void> => {
    // Closing a node closes its backing nodes too: close the top, or whatever is unattached.
    for (const n of opened.reverse()) await n.close().catch(() => {});
  };
  try {
    let top: BlockNode;
    try {
      top = keep
        ? await openImage(req.filename, { format: req.format, readOnly: true, noBacking: true })
        : (await openWritable(req.filename, req.format, io.err, { noBacking: true })).node;
    } catch (e) {
      return fail(`Could not open '${req.filename}': ${(e as Error).message}`);
    }
    opened.push(top);
    // Walk down to the base: every link above it read-only and without its backing for now.
    const links: { name: string; node: BlockNode }[] = [{ name: req.filename, node: top }];
    let baseName: string | null = null;
    let baseFormat: string | undefined;
    for (let depth = 0; ; depth++) {
      const cur = links[links.length - 1]!;
      const h = cur.node instanceof Qcow2Node ? cur.node.header : null;
      if (!h || h.backingFile === null) {
        if (req.base === undefined) return fail('Image does not have a backing file');
        return fail(`Did not find '${req.base}' in the backing chain of '${req.filename}'`);
      }
      const path = combineBackingPath(cur.name, h.backingFile);
      if (req.base === undefined || sameBacking(cur.name, h.backingFile, req.base)) {
        baseName = path;
        baseFormat = h.backingFormat ?? undefined;
        break;
      }
      if (depth >= MAX_BACKING_DEPTH) return fail('Backing chain is too deep (or loops)');
      const next = await openImage(path, { format: h.backingFormat ?? undefined, readOnly: true, noBacking: true });
      opened.push(next);
      links.push({ name: path, node: next });
    }
    let base: BlockNode;
    try {
      base = (await openWritable(baseName, baseFormat, io.err)).node;
    } catch (e) {
      return fail(`Could not open '${baseName}': ${(e as Error).message}`);
    }
    opened.push(base);
    // Attach bottom-up; from now on closing the top closes the whole chain.
    let below = base;
    for (let i = links.length - 1; i >= 0; i--) {
      (links[i]!.node as Qcow2Node).attachBacking(below);
      below = links[i]!.node;
    }
    opened.length = 0;
    opened.push(top);

    const baseDepth = links.length;
    const size = top.length();
    // qemu sizes images in whole sectors; a qcow2 base only takes such sizes.
    if (base.length() < size) await base.truncate(Math.ceil(size / 512) * 512);
    req.progress.update(0, size);
    for (let pos = 0; pos < size; ) {
      const s = await top.blockStatus(pos, Math.min(size - pos, CHUNK));
      const n = s.length;
      if (s.allocated && s.depth < baseDepth) {
        if (s.zero) {
          await base.writeZeroes(pos, n, true);
        } else {
          const buf = new Uint8Array(n);
          await top.read(pos, buf);
          await base.write(pos, buf);
        }
      }
      pos += n;
      req.progress.update(pos, size);
    }
    await base.flush();
    if (!keep) await makeEmptyQcow2(top as Qcow2Node);
    req.progress.finish();
    if (!req.quiet) io.out('Image committed.\n');
    return 0;
  } catch (e) {
    return fail(`Block job failed: ${(e as Error).message}`);
  } finally {
    await closeAll();
  }
}
