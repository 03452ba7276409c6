// The shorthand -serial, -parallel and -monitor accept ("stdio", "file:PATH", "tcp:HOST:PORT,server=on",
// "unix:PATH", "mon:stdio"...), turned into the same options a -chardev would have.

import { CHARDEV_PARAMS } from './backend-spec.ts';
import { checkParams, splitOptions, type Opts } from './opt-syntax.ts';

/** The -chardev options a shorthand stands for; `mux` for a "mon:" prefix (a monitor shares it). */
export interface CompatResult {
  opts: Opts;
  mux: boolean;
}

/** Host and port of "tcp:HOST:PORT[,opts]": QEMU takes up to 64 and 32 characters. */
function splitHostPort(text: string): { host: string; port: string; rest: string } | null {
  const m = /^\[([^\]]{1,64})\]:([^,]{1,32})/.exec(text) ?? /^([^:]{0,64}):([^,]{1,32})/.exec(text);
  if (!m) return null;
  return { host: m[1]!, port: m[2]!, rest: text.slice(m[0].length).replace(/^,/, '') };
}

function compatOpts(text: string, implied?: string): Opts {
  // The shorthand takes the same parameters as -chardev, without the deprecation notices.
  return checkParams(text === '' ? [] : splitOptions(text, implied), CHARDEV_PARAMS, null);
}

/**
 * Reads a shorthand. Null when QEMU cannot make sense of it at all (its caller then says "could
 * not connect ..." or "parse error: ..."); an unknown name throws QEMU's "not a valid char driver".
 */
export function parseCompat(text: string): CompatResult | null {
  let mux = false;
  let spec = text;
  if (spec.startsWith('mon:')) {
    mux = true;
    spec = spec.slice(4);
  }
  const simple = (backend: string): CompatResult => ({ opts: new Map([['backend', backend]]), mux });
  if (['null', 'pty', 'msmouse', 'wctablet', 'braille', 'testdev'].includes(spec)) return simple(spec);
  if (spec === 'stdio') {
    // mon:stdio passes Ctrl-C to the guest, as -nographic always did (QEMU's rule for the shorthand).
    const r = simple('stdio');
    if (mux) r.opts.set('signal', 'off');
    return r;
  }
  if (spec === 'vc' || spec.startsWith('vc:')) return simple('vc');
  if (spec.startsWith('file:')) return { opts: new Map([['backend', 'file'], ['path', spec.slice(5)]]), mux };
  if (spec.startsWith('pipe:')) return { opts: new Map([['backend', 'pipe'], ['path', spec.slice(5)]]), mux };
  if (spec.startsWith('udp:')) return simple('udp');
  for (const [prefix, flag] of [['tcp:', ''], ['telnet:', 'telnet'], ['websocket:', 'websocket']] as const) {
    if (!spec.startsWith(prefix)) continue;
    const hp = splitHostPort(spec.slice(prefix.length));
    if (!hp) return null;
    const opts = compatOpts(hp.rest);
    opts.set('backend', 'socket');
    opts.set('host', hp.host);
    opts.set('port', hp.port);
    if (flag) opts.set(flag, 'on');
    return { opts, mux };
  }
  if (spec.startsWith('unix:')) {
    const opts = compatOpts(spec.slice(5), 'path');
    opts.set('backend', 'socket');
    return { opts, mux };
  }
  if (spec.startsWith('/dev/parport')) return simple('parallel');
  if (spec.startsWith('/dev/')) return { opts: new Map([['backend', 'serial'], ['path', spec]]), mux };
  throw new Error(`'${spec}' is not a valid char driver`);
}
