// Node reports system errors as codes ("ENOENT"); QEMU's messages carry the C library's text
// ("No such file or directory"). This turns one into the other.

import { getSystemErrorMap } from 'node:util';

const GLIBC_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EEXIST: 'File exists',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ENXIO: 'No such device or address',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  EAGAIN: 'Resource temporarily unavailable',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EFBIG: 'File too large',
  EPIPE: 'Broken pipe',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ECONNABORTED: 'Software caused connection abort',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ENOTSOCK: 'Socket operation on non-socket',
  ENOTCONN: 'Transport endpoint is not connected',
  // getaddrinfo's texts (gai_strerror), which Node reports under these codes.
  ENOTFOUND: 'Name or service not known',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
  EAI_NODATA: 'No address associated with hostname',
  EAI_ADDRFAMILY: 'Address family for hostname not supported',
};

/** The C library's text for a Node system error (or the error's message when it has no code). */
export function describeErrno(e: unknown): string {
  const err = e as NodeJS.ErrnoException | null;
  const code = err?.code;
  if (code && GLIBC_TEXT[code]) return GLIBC_TEXT[code];
  if (typeof err?.errno === 'number') {
    // libuv's texts are glibc's in lower case for most codes.
    const entry = getSystemErrorMap().get(err.errno);
    if (entry) return entry[1].charAt(0).toUpperCase() + entry[1].slice(1);
  }
  if (code) return code;
  return e instanceof Error ? e.message : String(e);
}
