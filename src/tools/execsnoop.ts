// `tsbpf execsnoop`: one line per program started on the machine, from
// programs/execsnoop.bpf.o through its ring buffer.
import { fileURLToPath } from 'node:url';
import { columns, cString, runTracer, type TracerSummary } from './tracer.js';

export const EXECSNOOP_OBJECT = fileURLToPath(new URL('../../programs/execsnoop.bpf.o', import.meta.url));

/** One record of execsnoop's ring buffer (struct event in execsnoop.bpf.c). */
export interface ExecEvent {
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  filename: string;
}

const COMM_OFFSET = 12;
const COMM_LENGTH = 16;
const FILENAME_OFFSET = COMM_OFFSET + COMM_LENGTH;
const FILENAME_LENGTH = 256;
export const EXEC_EVENT_SIZE = FILENAME_OFFSET + FILENAME_LENGTH;

export function decodeExecEvent(view: DataView, offset: number): ExecEvent {
  return {
    pid: view.getUint32(offset, true),
    ppid: view.getUint32(offset + 4, true),
    uid: view.getUint32(offset + 8, true),
    comm: cString(view, offset + COMM_OFFSET, COMM_LENGTH),
    filename: cString(view, offset + FILENAME_OFFSET, FILENAME_LENGTH),
  };
}

export interface ExecsnoopOptions {
  /** Only this process id. */
  pid?: number;
  /** Only processes whose command name (comm, at most 15 bytes) is this. */
  comm?: string;
  /** Called for every exec. */
  onEvent: (event: ExecEvent) => void;
  /** Stops tracing. */
  signal: AbortSignal;
  objectPath?: string;
}

/** Traces execs until the signal aborts. */
export function runExecsnoop(options: ExecsnoopOptions): Promise<TracerSummary> {
  return runTracer({
    objectPath: options.objectPath ?? EXECSNOOP_OBJECT,
    constants: { target_pid: options.pid ?? 0, target_comm: options.comm ?? '' },
    decode: (view, offset, length) => (length < EXEC_EVENT_SIZE ? undefined : decodeExecEvent(view, offset)),
    onEvent: options.onEvent,
    signal: options.signal,
  });
}

const WIDTHS = [7, 7, 7, 16];
export const EXECSNOOP_HEADER = columns(WIDTHS, ['PID', 'PPID', 'UID', 'COMM', 'FILENAME']);

export function formatExecEvent(event: ExecEvent): string {
  return columns(WIDTHS, [event.pid, event.ppid, event.uid, event.comm, event.filename]);
}
