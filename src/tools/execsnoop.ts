// `tsbpf execsnoop`: one line per program started on the machine, from
// programs/execsnoop.bpf.o through its ring buffer.
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../loader/object.js';

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

const decoder = new TextDecoder();

function cString(bytes: Uint8Array, start: number, length: number): string {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

export function decodeExecEvent(view: DataView, offset: number): ExecEvent {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, EXEC_EVENT_SIZE);
  return {
    pid: view.getUint32(offset, true),
    ppid: view.getUint32(offset + 4, true),
    uid: view.getUint32(offset + 8, true),
    comm: cString(bytes, COMM_OFFSET, COMM_LENGTH),
    filename: cString(bytes, FILENAME_OFFSET, FILENAME_LENGTH),
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

/** Loads and attaches execsnoop, delivers events until the signal aborts; returns the number of events lost to a full ring. */
export async function runExecsnoop(options: ExecsnoopOptions): Promise<{ events: number; lost: bigint }> {
  using object = BpfObject.open(options.objectPath ?? EXECSNOOP_OBJECT, {
    constants: { target_pid: options.pid ?? 0, target_comm: options.comm ?? '' },
  });
  object.program('execsnoop').attach();
  const ring = object.ringBuffer('events');
  let events = 0;
  const deliver = (view: DataView, offset: number, length: number) => {
    if (length < EXEC_EVENT_SIZE) return;
    events++;
    options.onEvent(decodeExecEvent(view, offset));
  };
  while (!options.signal.aborted) {
    ring.consume(deliver);
    await ring.wait({ signal: options.signal });
  }
  ring.consume(deliver);
  return { events, lost: object.readVariable('lost_events') as bigint };
}

export const EXECSNOOP_HEADER = `${'PID'.padEnd(7)} ${'PPID'.padEnd(7)} ${'UID'.padEnd(7)} ${'COMM'.padEnd(16)} FILENAME`;

export function formatExecEvent(event: ExecEvent): string {
  return `${String(event.pid).padEnd(7)} ${String(event.ppid).padEnd(7)} ${String(event.uid).padEnd(7)} ${event.comm.padEnd(16)} ${event.filename}`;
}
