// The one error type the block layer throws for bad input, bad requests and I/O failures.
// `code` follows errno names where one fits, so callers can map it to messages like qemu-img's.

export type BlockErrorCode = 'EINVAL' | 'EIO' | 'ENOENT' | 'EACCES' | 'EROFS' | 'ENOTSUP' | 'EFBIG' | 'ENOSPC';

export class BlockError extends Error {
  readonly code: BlockErrorCode;
  constructor(message: string, code: BlockErrorCode = 'EINVAL') {
    super(message);
    this.name = 'BlockError';
    this.code = code;
  }
}

/** Text for an errno code the way strerror() words it (qemu-img prints these). */
export function errnoText(code: string | undefined): string {
  switch (code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    case 'EROFS': return 'Read-only file system';
    case 'EISDIR': return 'Is a directory';
    case 'ENOSPC': return 'No space left on device';
    case 'EFBIG': return 'File too large';
    case 'ENOTSUP': return 'Operation not supported';
    case 'EIO': return 'Input/output error';
    default: return 'Invalid argument';
  }
}
