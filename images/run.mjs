#!/usr/bin/env node
// Runs images/cli.ts: bundles it with esbuild into build/images/.tools/ and calls its main().
// Usage: node images/run.mjs [--packages-only] [amd64] [686]
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'build/images/.tools/images-cli.mjs');
await build({
  entryPoints: [join(root, 'images/cli.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});
const { main } = await import(pathToFileURL(outfile).href);
process.exitCode = main(process.argv.slice(2));
