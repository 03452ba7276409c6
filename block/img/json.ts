// JSON laid out like qemu's pretty printer: four-space indent, "key": value, keys in given order.
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export function prettyJson(v: Json, indent = 0): string {
  const pad = ' '.repeat(indent + 4);
  const end = ' '.repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => pad + prettyJson(x, indent + 4)).join(',\n')}\n${end}]`;
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0) return '{}';
    return `{\n${keys.map((k) => `${pad}${JSON.stringify(k)}: ${prettyJson(v[k]!, indent + 4)}`).join(',\n')}\n${end}}`;
  }
  return JSON.stringify(v);
}
