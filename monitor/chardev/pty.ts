// The pty backend is not available. A pseudo-terminal needs posix_openpt/grantpt/unlockpt (or the
// TIOCSPTLCK and TIOCGPTN ioctls on /dev/ptmx), and Node offers neither without a native addon:
// opening /dev/ptmx works, but its slave side stays locked. Helper programs (script, python's pty
// module) would make a fragile run-time dependency, so tsemu says plainly that it cannot.

import { ChardevError, unsupportedDriver } from './chardev.ts';

export function openPty(): never {
  throw new ChardevError(unsupportedDriver('pty'));
}
