// The human monitor's public face: what the machine needs to build a monitor and wire it up.

import { Mux, type ChardevWriter, type MuxFrontend, type MuxPort } from '../mux.ts';
import { HumanMonitor } from './monitor.ts';
import type { MonitorTarget } from './target.ts';

export { HumanMonitor, type HumanMonitorOptions } from './monitor.ts';
export { HMP_COMMANDS, HMP_INFO_COMMANDS, type HmpCommand, type HmpSession } from './commands.ts';
export { formatRegisters, registerValue, snapshotFromCpu } from './registers.ts';
export { readVirtualDebug, translatePage, type PagingState, type PhysicalReader } from './paging.ts';
export type { ChardevInfo, FpuRegister, MonitorTarget, RegisterSnapshot, RunState, SegmentSnapshot } from './target.ts';

export interface MuxedMonitorOptions {
  /** The host side (stdio). Its input goes to `mux.receive`, its events to `mux.event`. */
  backend: ChardevWriter;
  target: MonitorTarget;
  /** The serial port's input side. */
  serial: MuxFrontend;
  /** -echr; default Ctrl-A. */
  escapeChar?: number;
  /** C-a x: exit with status 0. */
  onExit: () => void;
  /** C-a s: commit -snapshot overlays. */
  onCommit?: () => void;
  stdout?: (text: string) => void;
}

/**
 * `-serial mon:stdio` / `-nographic`: a mux with the monitor and the serial port, attached in
 * QEMU's order so the serial port starts with the focus. Call `mux.open()` once the machine is
 * ready (the monitor's banner then waits for C-a c, as in QEMU).
 */
export function muxedMonitor(o: MuxedMonitorOptions): { mux: Mux; monitor: HumanMonitor; serialPort: MuxPort } {
  const mux = new Mux({ backend: o.backend, escapeChar: o.escapeChar, onExit: o.onExit, onCommit: o.onCommit });
  const monitor = new HumanMonitor({ target: o.target, stdout: o.stdout });
  monitor.connect(mux.attach(monitor));
  const serialPort = mux.attach(o.serial);
  return { mux, monitor, serialPort };
}
