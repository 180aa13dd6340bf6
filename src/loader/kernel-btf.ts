// The running kernel's BTF, parsed once per process and only when needed.
import { Btf } from '../btf/btf.js';
import { TsbpfError } from '../errors.js';
import { readRegularFile } from '../regular-file.js';

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';
const cache = new Map<string, Btf>();

/** Parses a BTF file (the kernel's by default), once per path. */
export function loadBtfFile(path = KERNEL_BTF_PATH): Btf {
  let btf = cache.get(path);
  if (!btf) {
    btf = new Btf(readBtfBytes(path));
    cache.set(path, btf);
  }
  return btf;
}

/**
 * The bytes of a BTF file. The kernel's is mapped (possible since 6.16; read
 * where it is not): it never changes. Other files are read, as a mapped file
 * cut short later would crash the process.
 */
export function readBtfBytes(path: string): Uint8Array {
  if (path !== KERNEL_BTF_PATH) return readRegularFile(path, 'BTF');
  try {
    return readRegularFile(path, 'kernel BTF', { mapForever: true });
  } catch (error) {
    throw new TsbpfError(`${(error as Error).message}; this kernel may lack CONFIG_DEBUG_INFO_BTF — pass a BTF file for CO-RE instead`, { cause: error });
  }
}
