// MMX, SSE and later SIMD instructions, group 15 (FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, fences,
// CLFLUSH) and the 0F 38 / 0F 3A maps. The XMM registers and MXCSR live in the FXSAVE image at
// FPU_STATE (layout.ts). So far only the fences and CLFLUSH: everything else is #UD, and CPUID
// advertises none of it.
import * as d from "./decode";
import { linear } from "./access";
import { raiseUD } from "./fault";

export function executeSse(op: u32): void {
  if (op == 0x1ae) {
    const r = d.modrmReg() & 7;
    if (d.eaIsReg()) {
      // LFENCE, MFENCE, SFENCE: memory is always ordered here.
      if (r >= 5) return;
    } else if (r == 7) {
      // CLFLUSH: no caches to flush, but the address is checked like a byte read.
      linear(d.eaSeg(), d.eaOff, 1, false);
      return;
    }
  }
  raiseUD();
}
