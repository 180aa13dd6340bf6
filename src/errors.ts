// Every error tsbpf throws is an instance of TsbpfError, so callers can tell
// ours apart from bugs; the subclasses say which layer refused and why.

export class TsbpfError extends Error {
  override name = 'TsbpfError';
}

/** The bytes are not a usable ELF64 object (truncated, wrong class, offsets past the end…). */
export class ElfError extends TsbpfError {
  override name = 'ElfError';
}

/** The BTF or BTF.ext bytes are malformed. */
export class BtfError extends TsbpfError {
  override name = 'BtfError';
}

/** The object is a valid ELF but not a loadable BPF object (no license, bad relocation, unknown section…). */
export class ObjectError extends TsbpfError {
  override name = 'ObjectError';
}

/** A map, program or section asked for by name does not exist; `available` lists what does. */
export class NotFoundError extends TsbpfError {
  override name = 'NotFoundError';
  constructor(
    readonly kind: string,
    readonly wanted: string,
    readonly available: readonly string[],
  ) {
    super(`no ${kind} named '${wanted}' (available: ${available.length ? available.join(', ') : 'none'})`);
  }
}

/** `items.get(name)`, or a NotFoundError that lists the names there are. */
export function getByName<T>(items: ReadonlyMap<string, T>, kind: string, name: string): T {
  const item = items.get(name);
  if (item === undefined) throw new NotFoundError(kind, name, [...items.keys()]);
  return item;
}

/** An object was used after close(). */
export class ClosedError extends TsbpfError {
  override name = 'ClosedError';
  constructor(what: string) {
    super(`${what} is closed`);
  }
}

/** Where a failed system call gives a common, puzzling errno, say what usually causes it. */
const errnoHints: Record<string, string> = {
  EPERM: 'needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on older kernels)',
  EACCES: 'the verifier or a security module refused the request',
  ENOENT: 'the named object, tracepoint or file does not exist',
  E2BIG: 'the kernel does not know a field or flag that was set (kernel too old?)',
  ENOSPC: 'a buffer was too small',
  EINVAL: 'the kernel rejected an argument (check map sizes, flags and program type)',
  ENOTSUPP: 'this kernel does not support the operation',
  EOPNOTSUPP: 'this kernel does not support the operation',
  ENOMEM: 'out of memory, or RLIMIT_MEMLOCK too low on kernels before 5.11',
  EBADF: 'a file descriptor was closed or invalid',
};

const EPERM_AS_ROOT = 'refused although running as root: the kernel does not allow this here (a frozen map, lockdown, a security module, or a program kind this kernel refuses)';

/** A system call failed. `call` names it (e.g. "bpf(BPF_MAP_CREATE)"), `code` is the errno name. */
export class SyscallError extends TsbpfError {
  override name = 'SyscallError';
  readonly hint: string | undefined;
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string,
    detail?: string,
  ) {
    const hint = code === 'EPERM' && process.getuid?.() === 0 ? EPERM_AS_ROOT : errnoHints[code];
    super(`${call} failed: ${code} (errno ${errno})${detail ? `: ${detail}` : ''}${hint ? ` — ${hint}` : ''}`);
    this.hint = hint;
  }
}

/** The verifier rejected a program; `log` is the verifier's full explanation. */
export class VerifierError extends SyscallError {
  override name = 'VerifierError';
  constructor(
    call: string,
    errno: number,
    code: string,
    readonly program: string,
    readonly log: string,
    /** What tsbpf knows that the verifier does not, e.g. which CO-RE relocation failed. */
    readonly notes: readonly string[] = [],
  ) {
    const explained = notes.length ? `\n${notes.join('\n')}` : '';
    super(call, errno, code, `program '${program}' rejected by the verifier:\n${lastLines(log, 20)}${explained}`);
  }
}

/** This kernel lacks something the request needs (a PMU, an interface); `feature` names it. */
export class UnsupportedError extends TsbpfError {
  override name = 'UnsupportedError';
  constructor(
    readonly feature: string,
    message: string,
  ) {
    super(message);
  }
}

/** A ring buffer's shared memory holds something the protocol does not allow. */
export class RingCorruptionError extends TsbpfError {
  override name = 'RingCorruptionError';
}

function lastLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n');
  const shown = lines.slice(-count).join('\n');
  return lines.length > count ? `… (${lines.length - count} earlier lines in .log)\n${shown}` : shown;
}
