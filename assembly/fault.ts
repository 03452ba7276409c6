// Raising exceptions from the middle of an instruction. x86 faults are restartable: the
// instruction must leave no trace, so handlers write architectural state only after their last
// access that can fault. raise() records the exception, rewinds RIP and asks the host to throw,
// which unwinds WebAssembly back to cpu/cpu.ts; the host then calls deliverPending().
import { hostAbortInstruction } from "./host";
import * as st from "./state";

export const EXC_DE: u32 = 0;
export const EXC_DB: u32 = 1;
export const EXC_NMI: u32 = 2;
export const EXC_BP: u32 = 3;
export const EXC_OF: u32 = 4;
export const EXC_BR: u32 = 5;
export const EXC_UD: u32 = 6;
export const EXC_NM: u32 = 7;
export const EXC_DF: u32 = 8;
export const EXC_TS: u32 = 10;
export const EXC_NP: u32 = 11;
export const EXC_SS: u32 = 12;
export const EXC_GP: u32 = 13;
export const EXC_PF: u32 = 14;
export const EXC_MF: u32 = 16;
export const EXC_AC: u32 = 17;
export const EXC_XM: u32 = 19; // SIMD floating-point exception

/** Raise a fault with an error code (-1: none). Does not return. */
export function raise(vector: u32, error: i32): void {
  st.pendingVector = <i32>vector;
  st.pendingError = error;
  st.rip = st.instrStart;
  hostAbortInstruction();
  unreachable();
}

@inline export function raiseGP(error: u32): void {
  raise(EXC_GP, <i32>error);
}
@inline export function raiseUD(): void {
  raise(EXC_UD, -1);
}

/** Exception classes for the double-fault rules (SDM Vol. 3A §6.15, Table 6-5). */
function isContributory(v: i32): bool {
  return v == 0 || (v >= 10 && v <= 13);
}

/**
 * Decide what to deliver when `second` is raised while delivering `first`:
 * the second exception itself, #DF (8), or -2 for a triple fault (shutdown).
 */
export function combineFaults(first: i32, second: i32): i32 {
  if (first == <i32>EXC_DF) return -2;
  if (isContributory(first) && isContributory(second)) return <i32>EXC_DF;
  if (first == <i32>EXC_PF && (second == <i32>EXC_PF || isContributory(second))) return <i32>EXC_DF;
  return second;
}
