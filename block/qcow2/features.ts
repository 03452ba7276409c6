// Feature bits of the qcow2 header (spec "Header", bytes 72-95) and their names as the
// feature name table extension ("Feature name table") records them.

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
/** Incompatible bits this implementation understands. */
export const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;

export const AUTOCLEAR_BITMAPS = 1n << 0n;
export const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;

export type FeatureType = 0 | 1 | 2; // incompatible, compatible, autoclear

export interface FeatureName {
  type: number;
  bit: number;
  name: string;
}

/** The table new images carry, in the order qemu-img writes it. */
export const KNOWN_FEATURE_NAMES: FeatureName[] = [
  { type: 0, bit: 0, name: 'dirty bit' },
  { type: 0, bit: 1, name: 'corrupt bit' },
  { type: 0, bit: 2, name: 'external data file' },
  { type: 0, bit: 3, name: 'compression type' },
  { type: 0, bit: 4, name: 'extended L2 entries' },
  { type: 1, bit: 0, name: 'lazy refcounts' },
  { type: 2, bit: 0, name: 'bitmaps' },
  { type: 2, bit: 1, name: 'raw external data' },
];

/**
 * The message for incompatible bits we do not know ("An implementation must fail to open an image
 * if an unknown bit is set"): named bits by their table name, the rest as a hex mask.
 */
export function unknownIncompatibleMessage(incompat: bigint, table: FeatureName[]): string | null {
  let unknown = incompat & ~INCOMPAT_KNOWN;
  if (unknown === 0n) return null;
  const parts: string[] = [];
  for (const f of table) {
    const bit = 1n << BigInt(f.bit);
    if (f.type === 0 && (unknown & bit) !== 0n) {
      parts.push(f.name);
      unknown &= ~bit;
    }
  }
  if (unknown !== 0n) parts.push(`Unknown incompatible feature: ${unknown.toString(16)}`);
  return `Unsupported qcow2 feature(s): ${parts.join(', ')}`;
}
