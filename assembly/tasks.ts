// Hardware task switching (SDM Vol. 3A chapter 7). Placeholder until implemented: raises #GP.
import { raise, EXC_GP } from "./fault";

export const TS_JMP: u32 = 0;
export const TS_CALL: u32 = 1;
export const TS_IRET: u32 = 2;
export const TS_INT: u32 = 3;

/** Switch to the task whose TSS (or task gate, if `viaGate`) selector is `sel`. */
export function taskSwitch(sel: u32, viaGate: bool, reason: u32, error: i32): void {
  raise(EXC_GP, <i32>(sel & 0xfffc));
}
