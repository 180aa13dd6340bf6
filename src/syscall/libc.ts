// The C library functions tsbpf calls, bound once with koffi. This directory
// is the only place in tsbpf that touches FFI.
//
// syscall() is variadic; we bind it with fixed arities instead, which is safe
// on x86_64 and arm64 Linux (glibc's syscall() is assembly and reads registers,
// not a va_list) and about twice as fast as koffi's variadic calls.
import koffi from 'koffi';
import { SyscallError } from '../errors.js';

const libc = koffi.load('libc.so.6');

const syscallNumbers = {
  x64: { bpf: 321, perf_event_open: 298 },
  arm64: { bpf: 280, perf_event_open: 241 },
} as const;

function numbersForArch() {
  const numbers = syscallNumbers[process.arch as keyof typeof syscallNumbers];
  if (!numbers) throw new Error(`tsbpf supports x64 and arm64 Linux, not ${process.platform}/${process.arch}`);
  return numbers;
}
export const SYS = numbersForArch();

export const raw = {
  bpf: libc.func('long syscall(long nr, int cmd, void *attr, unsigned int size)'),
  perfEventOpen: libc.func('long syscall(long nr, void *attr, int pid, int cpu, int group_fd, unsigned long flags)'),
  mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
  munmap: libc.func('int munmap(void *addr, size_t len)'),
  close: libc.func('int close(int fd)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
  sysconf: libc.func('long sysconf(int name)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  write: libc.func('long write(int fd, void *buf, size_t count)'),
  read: libc.func('long read(int fd, void *buf, size_t count)'),
  strerror: libc.func('const char *strerror(int errnum)'),
  epollCreate1: libc.func('int epoll_create1(int flags)'),
  epollCtl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  epollWait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
};

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Kernel-internal errno values that leak out of bpf(2) and have no libc name.
errnoNames.set(524, 'ENOTSUPP');

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno${errno}`;
}

export function lastErrno(): number {
  return koffi.errno();
}

/** Throws a SyscallError for the errno the last call left behind. */
export function fail(call: string, detail?: string): never {
  const errno = koffi.errno();
  throw new SyscallError(call, errno, errnoName(errno), detail);
}

/** Address of a Buffer's first byte, for pointer fields inside kernel structs. */
export function addressOf(buffer: Uint8Array): bigint {
  return koffi.address(buffer);
}

export function externalView(address: bigint, length: number): ArrayBuffer {
  return koffi.view(address, length);
}

export const PAGE_SIZE = Number(raw.sysconf(30 /* _SC_PAGESIZE */));

export { koffi };
