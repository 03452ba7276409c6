// `npm run images [-- FLAVOUR... | --packages-only]`: fetch the Debian packages and build the
// Linux test guest(s). FLAVOUR is amd64 (the default) or 686. Run through images/run.mjs, which
// bundles this file with esbuild (Node 20 cannot run TypeScript by itself).

import { fetchBusybox, fetchKernel, ImageError, KERNEL_FLAVOURS, type KernelFlavour } from './debian-packages.ts';
import { buildGuestImages } from './initramfs.ts';

const USAGE = `usage: npm run images [-- [--packages-only] [amd64] [686]]
  Fetches linux-image-FLAVOUR and busybox-static from Debian into $TSEMU_IMAGE_CACHE
  (default build/images/cache) and builds build/images/vmlinuz-FLAVOUR and
  build/images/initramfs-FLAVOUR.cpio.gz. Default flavour: amd64.
`;

export function main(argv: string[]): number {
  const flavours: KernelFlavour[] = [];
  let packagesOnly = false;
  for (const a of argv) {
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a === '--packages-only') packagesOnly = true;
    else if (a in KERNEL_FLAVOURS) flavours.push(a as KernelFlavour);
    else {
      process.stderr.write(`images: unknown argument '${a}'\n${USAGE}`);
      return 2;
    }
  }
  if (flavours.length === 0) flavours.push('amd64');
  try {
    for (const f of flavours) {
      if (packagesOnly) {
        const k = fetchKernel(f);
        const b = fetchBusybox(KERNEL_FLAVOURS[f].arch);
        process.stdout.write(`${k.name} ${k.version}: ${k.vmlinuz}\n${b.name} ${b.version}: ${b.busybox}\n`);
      } else {
        const g = buildGuestImages(f);
        process.stdout.write(`${g.flavour}: kernel ${g.release}\n  ${g.kernel}\n  ${g.initramfs}\n`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof ImageError) {
      process.stderr.write(`images: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
