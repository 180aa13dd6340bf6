// `tsbpf execsnoop`: one line per program started on the machine, from
// programs/execsnoop.bpf.o through its ring buffer.
import { fileURLToPath } from 'node:url';
import { columns, cString, runSnoop, type SnoopOptions, type TracerSummary } from './tracer.js';

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

export type ExecsnoopOptions = SnoopOptions<ExecEvent>;

/** Traces execs until the signal aborts. */
export function runExecsnoop(options: ExecsnoopOptions): Promise<TracerSummary> {
  return runSnoop({ objectPath: EXECSNOOP_OBJECT, recordSize: EXEC_EVENT_SIZE, decode: decodeExecEvent }, options);
}

const WIDTHS = [7, 7, 7, 16];
export const EXECSNOOP_HEADER = columns(WIDTHS, ['PID', 'PPID', 'UID', 'COMM', 'FILENAME']);

export function formatExecEvent(event: ExecEvent): string {
  return columns(WIDTHS, [event.pid, event.ppid, event.uid, event.comm, event.filename]);
}
