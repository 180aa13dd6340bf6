// The loop shared by the tracing tools (execsnoop, opensnoop): load an object
// with its filter constants, attach its programs, and deliver every record of
// its `events` ring buffer until the signal aborts.
import { decodeCString } from '../cstring.js';
import { BpfObject } from '../loader/object.js';

export interface TracerOptions<Event> {
  objectPath: string;
  /** `const volatile` settings (filters) for the object's .rodata. */
  constants: Record<string, unknown>;
  /** Turns one record into an event; undefined drops it (e.g. too short). */
  decode: (view: DataView, offset: number, length: number) => Event | undefined;
  onEvent: (event: Event) => void;
  signal: AbortSignal;
}

export interface TracerSummary {
  events: number;
  /** Records the program could not reserve: the ring's drop counter (programs/include/tsbpf.h). */
  lost: bigint;
}

export async function runTracer<Event>(options: TracerOptions<Event>): Promise<TracerSummary> {
  using object = BpfObject.open(options.objectPath, { constants: options.constants });
  object.attachAll();
  const ring = object.ringBuffer('events');
  let events = 0;
  const deliver = (view: DataView, offset: number, length: number) => {
    const event = options.decode(view, offset, length);
    if (event === undefined) return;
    events++;
    options.onEvent(event);
  };
  while (!options.signal.aborted) {
    ring.consume(deliver);
    await ring.wait({ signal: options.signal });
  }
  ring.consume(deliver);
  return { events, lost: BigInt(ring.stats().dropped ?? 0) };
}

/** What the filtering tools (execsnoop, opensnoop) take. */
export interface SnoopOptions<Event> {
  /** Only this process id. */
  pid?: number;
  /** Only threads whose command name (comm, at most 15 bytes) is this. */
  comm?: string;
  /** Called for every event. */
  onEvent: (event: Event) => void;
  /** Stops tracing. */
  signal: AbortSignal;
  objectPath?: string;
}

/** What a tool's object provides to runSnoop. */
export interface SnoopTool<Event> {
  /** The committed object, used unless the options name another. */
  objectPath: string;
  /** sizeof(struct event): shorter records are dropped. */
  recordSize: number;
  decode: (view: DataView, offset: number) => Event;
}

/**
 * runTracer for an object that follows the tools' conventions: the
 * `target_pid` (0: all) and `target_comm` ('': all) filters, fixed-size records.
 */
export function runSnoop<Event>(tool: SnoopTool<Event>, options: SnoopOptions<Event>): Promise<TracerSummary> {
  return runTracer({
    objectPath: options.objectPath ?? tool.objectPath,
    constants: { target_pid: options.pid ?? 0, target_comm: options.comm ?? '' },
    decode: (view, offset, length) => (length < tool.recordSize ? undefined : tool.decode(view, offset)),
    onEvent: options.onEvent,
    signal: options.signal,
  });
}

/** A NUL-terminated string in a fixed-size char array of a record. */
export function cString(view: DataView, offset: number, length: number): string {
  return decodeCString(new Uint8Array(view.buffer, view.byteOffset + offset, length));
}

/** Left-aligned columns separated by one space; the last column is not padded. */
export function columns(widths: readonly number[], values: readonly (string | number)[]): string {
  return values.map((value, i) => (i < widths.length ? String(value).padEnd(widths[i]!) : String(value))).join(' ');
}
