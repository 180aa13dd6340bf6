// `tsbpf opensnoop`: one line per openat()/openat2() on the machine, from
// programs/opensnoop.bpf.o through its ring buffer.
import { constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { columns, cString, runSnoop, type SnoopOptions, type TracerSummary } from './tracer.js';

export const OPENSNOOP_OBJECT = fileURLToPath(new URL('../../programs/opensnoop.bpf.o', import.meta.url));

export type OpenSyscall = 'openat' | 'openat2';

/** One record of opensnoop's ring buffer (struct event in opensnoop.bpf.c). */
export interface OpenEvent {
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  syscall: OpenSyscall;
  /** The directory fd a relative filename is resolved from; AT_FDCWD is -100. */
  dirfd: number;
  /** O_* flags as the caller passed them (openat2: `open_how.flags`). */
  flags: number;
  /** Creation mode as passed; meaningful with O_CREAT or O_TMPFILE only. */
  mode: number;
  /** The path as passed: relative ones are relative to dirfd. At most 255 bytes. */
  filename: string;
}

export const AT_FDCWD = -100;

const COMM_OFFSET = 32;
const COMM_LENGTH = 16;
const FILENAME_OFFSET = COMM_OFFSET + COMM_LENGTH;
const FILENAME_LENGTH = 256;
export const OPEN_EVENT_SIZE = FILENAME_OFFSET + FILENAME_LENGTH;

export function decodeOpenEvent(view: DataView, offset: number): OpenEvent {
  return {
    pid: view.getUint32(offset, true),
    ppid: view.getUint32(offset + 4, true),
    uid: view.getUint32(offset + 8, true),
    comm: cString(view, offset + COMM_OFFSET, COMM_LENGTH),
    syscall: view.getUint32(offset + 24, true) === 1 ? 'openat2' : 'openat',
    dirfd: view.getInt32(offset + 12, true),
    // Exact below 2^53: openat2 rejects anything with bits that high (EINVAL).
    flags: Number(view.getBigUint64(offset + 16, true)),
    mode: view.getUint32(offset + 28, true),
    filename: cString(view, offset + FILENAME_OFFSET, FILENAME_LENGTH),
  };
}

export type OpensnoopOptions = SnoopOptions<OpenEvent>;

/** Traces opens until the signal aborts. */
export function runOpensnoop(options: OpensnoopOptions): Promise<TracerSummary> {
  return runSnoop({ objectPath: OPENSNOOP_OBJECT, recordSize: OPEN_EVENT_SIZE, decode: decodeOpenEvent }, options);
}

// The O_* bits, for this machine's architecture: Node's fs.constants has most
// of them; the rest have the same value on every Linux architecture Node runs
// on (<asm-generic/fcntl.h>), except O_LARGEFILE and O_ASYNC.
const O_TMPFILE_BIT = 0o20000000;
const LARGEFILE: Partial<Record<string, number>> = { arm: 0o400000, arm64: 0o400000, ppc64: 0o200000, mips: 0o20000, mipsel: 0o20000, mips64el: 0o20000 };
const ASYNC: Partial<Record<string, number>> = { mips: 0o10000, mipsel: 0o10000, mips64el: 0o10000 };
const SINGLE_BITS: [string, number][] = [
  ['O_CREAT', constants.O_CREAT],
  ['O_EXCL', constants.O_EXCL],
  ['O_NOCTTY', constants.O_NOCTTY],
  ['O_TRUNC', constants.O_TRUNC],
  ['O_APPEND', constants.O_APPEND],
  ['O_NONBLOCK', constants.O_NONBLOCK],
  ['O_DSYNC', constants.O_DSYNC],
  ['O_ASYNC', ASYNC[process.arch] ?? 0o20000],
  ['O_DIRECT', constants.O_DIRECT],
  ['O_LARGEFILE', LARGEFILE[process.arch] ?? 0o100000],
  ['O_DIRECTORY', constants.O_DIRECTORY],
  ['O_NOFOLLOW', constants.O_NOFOLLOW],
  ['O_NOATIME', constants.O_NOATIME],
  ['O_CLOEXEC', 0o2000000],
  ['O_PATH', 0o10000000],
];
/** Several-bit flags first (O_SYNC contains O_DSYNC, O_TMPFILE contains O_DIRECTORY), then single bits by value. */
const FLAG_NAMES: readonly (readonly [string, number])[] = [
  ['O_SYNC', constants.O_SYNC],
  ['O_TMPFILE', O_TMPFILE_BIT | constants.O_DIRECTORY],
  ...SINGLE_BITS.sort((a, b) => a[1] - b[1]),
];
/** The access mode, flags & 3 (3: neither read nor write, ioctl only). */
const ACCESS_MODES = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'] as const;

/**
 * Open flags as `O_*` names joined by `|`, the access mode first
 * (`O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`); bits without a name end it in octal.
 */
export function openFlagNames(flags: number): string {
  // Every named bit is below 2^32; openat2 flags are 64 bits wide.
  const high = Math.floor(flags / 2 ** 32);
  let low = flags >>> 0;
  const names: string[] = [ACCESS_MODES[low & 3]!];
  low = (low & ~3) >>> 0;
  for (const [name, bits] of FLAG_NAMES) {
    if ((low & bits) === bits) {
      names.push(name);
      low = (low & ~bits) >>> 0;
    }
  }
  const rest = high * 2 ** 32 + low;
  if (rest !== 0) names.push(`0${rest.toString(8)}`);
  return names.join('|');
}

/** Open flags in octal with a leading 0, as <fcntl.h> writes them: `02000000` (O_RDONLY|O_CLOEXEC). */
export function octalFlags(flags: number): string {
  return `0${flags.toString(8).padStart(7, '0')}`;
}

// FLAGS is 8 octal digits, 9 with O_PATH or O_TMPFILE.
const WIDTHS = [7, 7, 7, 16, 7, 5, 9];
export const OPENSNOOP_HEADER = columns(WIDTHS, ['PID', 'PPID', 'UID', 'COMM', 'SYSCALL', 'DIRFD', 'FLAGS', 'FILENAME']);

/** One aligned line: FLAGS in octal, DIRFD `CWD` for AT_FDCWD. */
export function formatOpenEvent(event: OpenEvent): string {
  const dirfd = event.dirfd === AT_FDCWD ? 'CWD' : event.dirfd;
  return columns(WIDTHS, [event.pid, event.ppid, event.uid, event.comm, event.syscall, dirfd, octalFlags(event.flags), event.filename]);
}
