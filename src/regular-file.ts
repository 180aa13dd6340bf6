// Reading a whole file at a path the caller gives (an object, a BTF file, a
// binary to probe, a kernel config). Such a path may name something that is
// not a file: a FIFO blocks open() and read() until a writer comes, a device
// like /dev/zero never ends, a directory has no bytes. Each is refused by what
// the opened descriptor is (fstat), not by a look at the path beforehand, so
// nothing can be put in its place between the check and the read.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { SyscallError, TsbpfError } from './errors.js';
import { mapFileForever } from './syscall/index.js';

// The most Node can read in one call (and readFileSync's limit).
const MAX_FILE_BYTES = 2 ** 31 - 1;

export interface ReadFileOptions {
  /**
   * Map the file instead of copying it, never unmapped. Only for files that
   * never change (the kernel's BTF): a mapped file that shrinks kills the
   * process with SIGBUS at the next access past its new end.
   */
  mapForever?: boolean;
}

/**
 * The bytes of the regular file at `path`: exactly as many as fstat reports
 * when it is opened (a file that grows meanwhile is read as it was). `what`
 * says what the file is for, as errors begin (e.g. "uprobe").
 */
export function readRegularFile(path: string, what: string, options: ReadFileOptions = {}): Uint8Array {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; regular files ignore it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw cannotRead(what, path, error);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new TsbpfError(`${what}: ${path} is ${fileKind(stats)}, not a file`);
    if (stats.size > MAX_FILE_BYTES) throw new TsbpfError(`${what}: ${path} has ${stats.size} bytes, more than tsbpf reads (${MAX_FILE_BYTES})`);
    if (options.mapForever && stats.size > 0) {
      try {
        return mapFileForever(fd, stats.size, path);
      } catch (error) {
        // Files that cannot be mapped (the kernel's BTF before 6.16) are read.
        if (!(error instanceof SyscallError)) throw error;
      }
    }
    return readExactly(fd, stats.size, what, path);
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, size: number, what: string, path: string): Uint8Array {
  const bytes = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    let count: number;
    try {
      count = readSync(fd, bytes, done, size - done, done);
    } catch (error) {
      throw cannotRead(what, path, error);
    }
    // Cut short while being read, or a sysfs attribute (fstat says a page, the text is shorter).
    if (count === 0) throw new TsbpfError(`${what}: ${path} ended after ${done} of the ${size} bytes fstat reported`);
    done += count;
  }
  return bytes;
}

function cannotRead(what: string, path: string, error: unknown): TsbpfError {
  return new TsbpfError(`${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  // Sockets cannot be opened: open() fails (ENXIO) before this.
  return 'something else';
}
