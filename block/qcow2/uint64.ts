// Big-endian 64-bit fields as JavaScript numbers. qcow2 stores everything big-endian (spec
// "General"); offsets past 2^53 cannot be real file positions, so they are reported as errors.
import { BlockError } from '../errors.ts';

export function getU64(dv: DataView, pos: number, what: string): number {
  const hi = dv.getUint32(pos);
  const lo = dv.getUint32(pos + 4);
  if (hi >= 0x200000) throw new BlockError(`${what} is too large (0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`);
  return hi * 0x100000000 + lo;
}

export function setU64(dv: DataView, pos: number, value: number): void {
  dv.setUint32(pos, Math.floor(value / 0x100000000));
  dv.setUint32(pos + 4, value >>> 0);
}

export function getBigU64(dv: DataView, pos: number): bigint {
  return dv.getBigUint64(pos);
}
