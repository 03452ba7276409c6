// What the rest of tsemu uses from monitor/chardev (see README.md for how they fit together).

export { ChardevBase, ChardevError, type Chardev, type ChardevEvent, type ChardevFrontend, type Notify } from './chardev.ts';
export { ChardevSet, backendId, openChardev, openChardevs, type OpenEnv } from './open.ts';
export { qemuInfoOrder } from './info-order.ts';
export {
  CHAR_OPTIONS,
  CHARDEV_HELP,
  CharOptionError,
  CharOptions,
  DEFAULT_ECHR,
  parseCharOptions,
  type CharConfig,
  type ChardevBackend,
  type ChardevSpec,
  type MonitorSpec,
} from './options.ts';
export { RingbufChardev } from './ringbuf.ts';
export { SocketChardev } from './socket.ts';
export { StdioChardev, processStdioHost, type StdioHost } from './stdio.ts';
