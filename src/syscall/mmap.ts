// Shared mappings of BPF map memory, and their safe release.
//
// A JS view over memory that was munmap()ed crashes the process with SIGSEGV
// on the next access, and Node cannot detach an external ArrayBuffer. So a
// mapping is never simply unmapped while views may exist: release() puts a
// private anonymous mapping at the same address (the map's pages are freed,
// stale views read zeros), and the placeholder itself is unmapped only when
// the ArrayBuffer aliasing it has been garbage collected.
import { UnsupportedError } from '../errors.js';
import { externalView, fail, raw } from './libc.js';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const MAP_FAILED = 0xffffffffffffffffn;
// koffi.view() of more bytes than this aborts the whole process with a fatal
// N-API error (measured on Node 20): refuse such a mapping before making it.
// A 2 GiB ring buffer needs 4 GiB + a page (its data is mapped twice).
const MAX_VIEW_BYTES = 2 ** 32;

function checkViewable(length: number, what: string): void {
  if (length > MAX_VIEW_BYTES) {
    throw new UnsupportedError('views over 4 GiB', `${what}: cannot map ${length} bytes, more than Node can view (4 GiB at most)`);
  }
}

const placeholders = new FinalizationRegistry<{ address: bigint; length: number }>(({ address, length }) => {
  raw.munmap(address, length);
});

export class SharedMapping {
  readonly buffer: ArrayBuffer;
  private released = false;

  private constructor(
    readonly address: bigint,
    readonly length: number,
  ) {
    this.buffer = externalView(address, length);
  }

  /** mmap(NULL, length, prot, MAP_SHARED, fd, offset) */
  static map(fd: number, offset: number, length: number, prot: number, what: string): SharedMapping {
    checkViewable(length, what);
    const address = raw.mmap(null, length, prot, MAP_SHARED, fd, offset) as bigint | null;
    if (address === null || BigInt(address) === MAP_FAILED) fail('mmap', what);
    return new SharedMapping(BigInt(address), length);
  }

  /** Frees the shared pages; views of `buffer` stay harmless (they read zeros). */
  release(): void {
    if (this.released) return;
    this.released = true;
    const placeholder = raw.mmap(this.address, this.length, PROT_READ | PROT_WRITE,
      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as bigint | null;
    if (placeholder === null || BigInt(placeholder) === MAP_FAILED) fail('mmap(MAP_FIXED placeholder)');
    placeholders.register(this.buffer, { address: this.address, length: this.length });
  }
}

/**
 * A read-only private mapping of a whole file, never unmapped: for files read
 * once and kept for the life of the process (the kernel's BTF), it saves the
 * copy and the page-sized reads of readFileSync.
 */
export function mapFileForever(fd: number, length: number, what: string): Uint8Array {
  const address = raw.mmap(null, length, PROT_READ, MAP_PRIVATE, fd, 0) as bigint | null;
  if (address === null || BigInt(address) === MAP_FAILED) fail('mmap', what);
  return new Uint8Array(externalView(BigInt(address), length));
}
