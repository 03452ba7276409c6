// What a device needs from the virtual clock (emulator/clock.ts implements it).
// Devices see only this interface so they can be driven by a manual clock in tests.

export interface DeviceTimer {
  /** Fire once at `deadline` (ns of virtual time); replaces an earlier arming. */
  arm(deadline: number): void;
  disarm(): void;
}

export interface TimeSource {
  /** Nanoseconds of virtual time since the machine started. */
  now(): number;
  /** A timer whose callback receives the virtual time at which it ran. */
  createTimer(callback: (now: number) => void): DeviceTimer;
}
