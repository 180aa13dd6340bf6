// The running kernel's BTF, parsed once per process and only when needed.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { SyscallError } from '../errors.js';
import { mapFileForever } from '../syscall/index.js';
import { Btf } from '../btf/btf.js';
import { TsbpfError } from '../errors.js';

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';
const cache = new Map<string, Btf>();

/** Parses a BTF file (the kernel's by default), once per path. */
export function loadBtfFile(path = KERNEL_BTF_PATH): Btf {
  let btf = cache.get(path);
  if (!btf) {
    let bytes: Uint8Array;
    try {
      bytes = mapOrRead(path);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new TsbpfError(`cannot read BTF from ${path} (${reason}); this kernel may lack CONFIG_DEBUG_INFO_BTF — pass a BTF file for CO-RE instead`);
    }
    btf = new Btf(bytes);
    cache.set(path, btf);
  }
  return btf;
}

/** Maps the file (the kernel's BTF can be mapped since 6.16), or reads it where it cannot be. */
export function mapOrRead(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > 0) {
      try {
        return mapFileForever(fd, size, path);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
      }
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
