// The x87 FPU (escape opcodes D8-DF) and FWAIT. Not implemented yet: CPUID does not advertise an
// FPU, so the escape opcodes fault as on a processor without one.
import * as st from "./state";
import { CR0_EM, CR0_TS, CR0_MP } from "./state";
import { raise, raiseUD, EXC_NM } from "./fault";

/** D8-DF: with CR0.EM or CR0.TS the instruction faults #NM (SDM Vol. 3A §2.5, Table 2-2). */
export function executeX87(op: u32): void {
  if ((st.cr0 & (CR0_EM | CR0_TS)) != 0) raise(EXC_NM, -1);
  raiseUD();
}

/** FWAIT: #NM when CR0.MP and CR0.TS are both set. */
export function fwait(): void {
  if ((st.cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) raise(EXC_NM, -1);
}
