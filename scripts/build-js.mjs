// Bundles the command-line programs into dist/ with esbuild; the CPU's .wasm is copied beside them.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, existsSync, chmodSync } from 'node:fs';

const entries = [
  ['emulator/main.ts', 'dist/tsemu.js'],
  ['bench/cpu.ts', 'dist/bench-cpu.js'],
  ['bench/boot.ts', 'dist/bench-boot.js'],
  ['bench/block.ts', 'dist/bench-block.js'],
  ['block/img/main.ts', 'dist/tsemu-img.js'],
];
mkdirSync('dist', { recursive: true });
for (const [entry, outfile] of entries) {
  if (!existsSync(entry)) continue;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
    // The zstd package finds its .wasm beside its own files: load it from node_modules.
    // ws is CommonJS that require()s Node's modules (and, if installed, its optional native
    // helpers bufferutil and utf-8-validate), which an ESM bundle cannot: load it from there too.
    external: ['@bokuweb/zstd-wasm', 'ws'],
  });
  chmodSync(outfile, 0o755);
}
copyFileSync('build/cpu.wasm', 'dist/cpu.wasm');
