// The `tsemu` command: qemu-system-x86_64's command line, a pc machine, a Multiboot kernel.
// Every failure is one "tsemu: ..." line on stderr and exit status 1; no stack traces.

import pkg from '../package.json' with { type: 'json' };
import { Cpu } from '../cpu/cpu.ts';
import { Machine, MachineError } from './machine.ts';
import { OptionError, USAGE, parseArgs } from './options.ts';

function fail(message: string): never {
  process.stderr.write(`tsemu: ${message}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof OptionError) fail(e.message);
    throw e;
  }
  if (parsed.action === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.action === 'version') {
    process.stdout.write(`tsemu version ${pkg.version}\nAn x86-64 PC emulator, command-line compatible with QEMU 7.2\n`);
    return 0;
  }
  if (parsed.action === 'print') {
    process.stdout.write(parsed.text);
    return 0;
  }
  // Deprecation notices of the chardev options, as QEMU prints them before it starts.
  for (const w of parsed.config.chardevs.warnings) process.stderr.write(`tsemu: ${w}\n`);

  let machine: Machine;
  try {
    machine = await Machine.create(parsed.config, (ramSize, host) => Cpu.create(ramSize, host));
  } catch (e) {
    if (e instanceof MachineError) fail(e.message);
    throw e;
  }
  // QEMU ends cleanly (status 0) on SIGINT, SIGTERM and SIGHUP.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`tsemu: terminating on ${sig}\n`);
      machine.stop(0);
    });
  }
  return machine.run();
}

/** Exit once queued output has reached the OS: a pipe that was full still holds serial output. */
function exitAfterFlush(status: number): void {
  process.stdout.write('', () => process.exit(status));
}

main(process.argv.slice(2)).then(
  (status) => exitAfterFlush(status),
  (e: unknown) => {
    // An internal bug: still one line, but say what it was.
    fail(`internal error: ${e instanceof Error ? e.message : String(e)}`);
  },
);
