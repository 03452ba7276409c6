// RDRAND and RDSEED (0F C7 /6 and /7, register operand; SDM Vol. 2B "RDRAND", "RDSEED").
// The values come from a deterministic generator inside the CPU (SplitMix64) so that runs are
// repeatable: the same seed gives the same sequence. The host may reseed it (setRandomSeed);
// otherwise it starts from DEFAULT_SEED. Both instructions always succeed (CF = 1).
import * as d from "./decode";
import { setReg } from "./access";
import { raiseUD } from "./fault";
import { setArith } from "./flags";
import { F_CF } from "./state";

const DEFAULT_SEED: u64 = 0x7473656d75726e67; // "tsemurng"
let state: u64 = DEFAULT_SEED;

/** Restart the sequence of RDRAND/RDSEED values from `seed`. */
export function setRandomSeed(seed: u64): void {
  state = seed;
}

/** Next 64 bits of SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014). */
function next64(): u64 {
  state += 0x9e3779b97f4a7c15;
  let z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

/**
 * RDRAND r16/r32/r64 and RDSEED r16/r32/r64: the operand size follows 66 and REX.W. A memory
 * operand is #UD (those encodings are VMPTRLD/VMPTRST/VMCLEAR, not implemented), and so is an
 * F3 prefix (RDPID/SENDUIPI, not implemented). CF = 1 (a value is available); OF, SF, ZF, AF and
 * PF are cleared.
 */
export function randomOp(): void {
  if (!d.eaIsReg() || d.repPrefix() != 0) raiseUD();
  setReg(d.modrmRm(), d.osz(), next64());
  setArith(F_CF);
}
