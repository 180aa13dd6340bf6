// The consumer side of the BPF ring buffer protocol, over plain typed arrays:
// the same code reads a kernel mapping or a simulated ring.
//
// Memory: consumer_pos (we write), producer_pos (the kernel writes), and the
// data area of `size` bytes mapped twice in a row, so a record that wraps past
// the end is still contiguous. Each record starts with an 8-byte header
// {u32 len | BUSY | DISCARD, u32 pg_off}; records are 8-byte aligned.
// Positions only grow; `pos & (size - 1)` is the offset in the data area.
import { RingCorruptionError, TsbpfError } from '../errors.js';

export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
export const RINGBUF_HEADER_SIZE = 8;
// consumer_pos is stored at least this often while draining (a store costs
// ~20 ns with its BigInt: every 256 records of 64 bytes).
const PUBLISH_EVERY_BYTES = 16 * 1024;
const MAX_READABLE_RING_SIZE = 2 ** 30;

/**
 * Record headers must be read so that the record's bytes are read after
 * them (acquire loads). Atomics.load does that everywhere, but Node 20 never
 * inlines it (~17 ns a call, more than libbpf spends on a whole record). On
 * x86-64 a plain load is enough: the CPU does not reorder loads with loads
 * (x86-TSO), and V8 keeps typed-array loads in program order on its effect
 * chain; it goes through the DataView the callback reads, whose checks V8
 * then does once for both. Other architectures (arm64) keep Atomics.load.
 * V8 folds this module-level constant into the hot loop: the test costs nothing.
 */
const PLAIN_HEADER_LOADS = process.arch === 'x64';

export interface RingMemory {
  /** One 64-bit element: consumer_pos, written by us. */
  readonly consumerPos: BigUint64Array;
  /** One 64-bit element: producer_pos, written by producers. */
  readonly producerPos: BigUint64Array;
  /** The data area, `2 * size` bytes (the second half aliases the first). */
  readonly data: ArrayBuffer;
  readonly dataOffset: number;
  /** Data area size in bytes: a power of two. */
  readonly size: number;
}

/**
 * Receives one record: `view` spans the whole double-mapped data area and the
 * record's bytes are `[offset, offset + length)`. The bytes stay valid only
 * until the callback returns (the space is handed back to producers after).
 * Returning `false` stops consumption after this record.
 */
export type RecordCallback = (view: DataView, offset: number, length: number) => boolean | void;

/** What this consumer has seen since it was created. */
export interface ConsumerStats {
  /** Records delivered to callbacks. */
  records: number;
  /** Bytes of ring consumed (headers, padding and discarded records included). */
  bytes: number;
  /** Discarded records skipped. */
  discarded: number;
  /** Times consumption stopped at a record still being written. */
  busyStalls: number;
}

export class RingConsumer {
  readonly size: number;
  readonly view: DataView;
  /** Backs `view`, for callers that want typed arrays over record bytes. */
  readonly bytes: Uint8Array;
  private readonly headers: Int32Array;
  private readonly mask: number;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  /** Bytes consumed between two publications of consumer_pos within a batch. */
  private readonly publishEvery: number;
  private readonly counters: ConsumerStats = { records: 0, bytes: 0, discarded: 0, busyStalls: 0 };
  private consuming = false;
  private readonly scan: ScanState = { done: 0, delivered: 0, discarded: 0, problem: '', limit: 0 };

  constructor(memory: RingMemory) {
    const { size } = memory;
    // (Node cannot map a larger kernel ring: 2 GiB would take a 4 GiB view and a page.)
    if (!Number.isInteger(size) || size < 8 || (size & (size - 1)) !== 0 || size > MAX_READABLE_RING_SIZE) {
      throw new RingCorruptionError(`ring size ${size} is not a power of two between 8 bytes and 1 GiB`);
    }
    this.size = size;
    this.mask = size - 1;
    this.publishEvery = Math.min(size / 4, PUBLISH_EVERY_BYTES);
    this.view = new DataView(memory.data, memory.dataOffset, 2 * size);
    this.bytes = new Uint8Array(memory.data, memory.dataOffset, 2 * size);
    this.headers = new Int32Array(memory.data, memory.dataOffset, size / 2);
    this.consumerPos = memory.consumerPos;
    this.producerPos = memory.producerPos;
  }

  /** Bytes the producers have committed or reserved that we have not consumed. */
  available(): number {
    return Number(Atomics.load(this.producerPos, 0) - Atomics.load(this.consumerPos, 0));
  }

  stats(): ConsumerStats {
    return { ...this.counters };
  }

  position(): { consumer: bigint; producer: bigint } {
    return { consumer: Atomics.load(this.consumerPos, 0), producer: Atomics.load(this.producerPos, 0) };
  }

  /**
   * Delivers committed records in order, at most `budget` of them, and
   * returns how many were delivered. Stops at a record still being written
   * (BUSY): later records wait behind it. Discarded records are skipped.
   * consumer_pos is published after each batch — and every 16 KiB within a
   * long one, and when a callback throws (that record counts as consumed) —
   * then producer_pos is read again, so records committed meanwhile are not
   * left behind.
   */
  consume(callback: RecordCallback, budget = Number.POSITIVE_INFINITY): number {
    if (Number.isNaN(budget)) throw new TsbpfError('consume(): the budget is NaN, not a number of records');
    if (budget <= 0) return 0;
    // consumer_pos is published per batch: a nested call would start from a stale position and deliver records twice.
    if (this.consuming) throw new TsbpfError('consume() called from inside one of its callbacks');
    this.consuming = true;
    const scan = this.scan;
    scan.done = 0;
    scan.delivered = 0;
    scan.discarded = 0;
    // Positions are exact as doubles until 2^53 bytes have gone through; the
    // hot loop only sees small integers (offsets and byte counts in the ring).
    let consumer = Number(Atomics.load(this.consumerPos, 0));
    const start = consumer;
    try {
      for (;;) {
        const producer = Number(Atomics.load(this.producerPos, 0));
        if (consumer === producer) return scan.delivered;
        if (consumer > producer) this.corrupt(consumer, producer, 'consumer_pos is past producer_pos');
        let left = producer - consumer;
        if (left > this.size) this.corrupt(consumer, producer, `${left} bytes pending in a ${this.size}-byte ring`);
        // Records take multiples of 8 bytes, so aligned positions keep every record's header inside what was produced.
        if ((consumer | producer) % 8 !== 0) this.corrupt(consumer, producer, 'positions are not multiples of 8 (records are 8-byte aligned)');
        while (left > 0) {
          // Space goes back to the producers every publishEvery bytes while
          // draining a long backlog, so those that found the ring full go on
          // before the batch ends.
          const offset = consumer & this.mask;
          // A chunk also ends where the data area does: its records then start
          // below `size` and, thanks to the second mapping, lie whole in the view.
          const chunk = Math.min(left, this.publishEvery, this.size - offset);
          scan.limit = hotLoopLimit(budget - scan.delivered);
          const end = scanRecords(scan, this.headers, this.view, callback, offset, left, chunk);
          if (end === SCAN_CORRUPT) this.corrupt(consumer + scan.done, producer, scan.problem);
          if (end === SCAN_BUSY) this.counters.busyStalls++;
          if (end !== SCAN_CHUNK_DONE) return scan.delivered;
          consumer += scan.done;
          left -= scan.done;
          scan.done = 0;
          Atomics.store(this.consumerPos, 0, BigInt(consumer));
        }
      }
    } finally {
      // Records delivered in an unfinished chunk (the budget ran out, a callback stopped or threw).
      const reached = consumer + scan.done;
      if (scan.done !== 0) Atomics.store(this.consumerPos, 0, BigInt(reached));
      this.counters.records += scan.delivered;
      this.counters.discarded += scan.discarded;
      this.counters.bytes += reached - start;
      this.consuming = false;
    }
  }

  /**
   * Ends a consume() in progress after the record being delivered (its
   * callback called this, directly or not): RingBuffer.close() does, since the
   * mapping it is about to release would read as a run of empty records.
   */
  stop(): void {
    this.scan.limit = 0;
  }

  private corrupt(consumer: number, producer: number, why: string): never {
    throw new RingCorruptionError(`ring buffer corrupted at consumer_pos ${consumer} (producer_pos ${producer}): ${why}`);
  }
}

/**
 * What a reader's hot loop (scanRecords here, scanSamples in perf-reader.ts)
 * leaves behind besides its result; one per reader, reused.
 */
export interface ScanProgress {
  /** Bytes consumed that the reader has not yet handed back (publishing consumer_pos or data_tail). */
  done: number;
  /** Records delivered in this call. */
  delivered: number;
  /** Deliver no more than this many records in one run of the hot loop (stop() makes it 0): see hotLoopLimit(). */
  limit: number;
  /** Why the ring is corrupt, after SCAN_CORRUPT. */
  problem: string;
}

interface ScanState extends ScanProgress {
  /** Discarded records skipped in this consume() call. */
  discarded: number;
}

// How a hot loop ended: the whole chunk was read; the callback returned false
// or the budget ran out; the ring is corrupt; (here) a record is still being
// written. perf-reader.ts numbers its own endings after these.
export const SCAN_CHUNK_DONE = 0;
export const SCAN_STOPPED = 1;
export const SCAN_CORRUPT = 2;
const SCAN_BUSY = 3;

/**
 * The `limit` of a hot loop's run for what is left of a budget: a whole
 * number below 2^30, so that V8 keeps the field an integer (Infinity would
 * make it a boxed double, loaded and converted at every record). One run
 * covers a chunk of at most 16 KiB, far fewer records than that.
 */
export function hotLoopLimit(budgetLeft: number): number {
  return Math.ceil(Math.min(budgetLeft, 2 ** 30 - 1));
}

/**
 * The hot loop of consume(): delivers the records that start in the `chunk`
 * bytes from `start`, an offset in the data area (`left` bytes are produced
 * from there, a multiple of 8; `start + chunk` is at most the ring's size, so
 * offsets need no wrapping here). Kept apart from consume()'s bookkeeping, it
 * stays one small function that V8 optimizes whole (and inlines the callback
 * into), without the deoptimizations that code reached only at the end of a
 * batch caused inside one big loop. `scan.done` and `scan.delivered` are up to
 * date even when a callback throws.
 */
function scanRecords(scan: ScanState, headers: Int32Array, view: DataView, callback: RecordCallback,
  start: number, left: number, chunk: number): number {
  // The protocol's constants again, as locals: V8 folds those into the loop,
  // while it loads an exported const from its module cell, and checks it, at
  // every use (~3 ns a record in the drain benchmark).
  const HEADER_SIZE = 8;
  const LENGTH_MASK = 0x3fffffff;
  const BUSY_OR_DISCARD = 0xc0000000 | 0;
  // Integers from here on (V8 then checks each argument once, not at every
  // use in the loop); with rings of at most 1 GiB, offsets stay below 2^31,
  // but not an offset plus a corrupt length, hence `stride > producedEnd - offset`.
  start |= 0;
  const chunkEnd = (start + chunk) | 0;
  const producedEnd = (start + left) | 0;
  // Used once before the loop, the objects' type checks are not repeated per record.
  if (headers.length === 0 || view.byteLength === 0 || scan.limit <= 0) return SCAN_STOPPED;
  // The loop keeps one position, not a count besides: one value less to carry from record to record.
  let offset = start;
  // Bytes from a record's header to the next one's, as the last record had
  // it. The next header's address comes from this, not from the header just
  // read, whenever the record is as long as the one before: the CPU, which
  // predicts the branch that keeps it, can then load headers ahead instead of
  // waiting for each one in turn (1 KiB records drain ~1.4x as fast).
  let stride = 0;
  let delivered = 0;
  let header = 0;
  let size = 0;
  let next = 0;
  let record = 0;
  let result = SCAN_CHUNK_DONE;
  // One exit after the loop (break, not return): returns inside try/finally made the loop slower.
  try {
    // Two records a turn: at every turn of a loop V8 checks the view, the
    // callback and `scan` again (~20 instructions, a quarter of a 64-byte
    // record's). The halves are the same but for the first one's last line.
    while (offset < chunkEnd) {
      header = PLAIN_HEADER_LOADS ? view.getInt32(offset, true) : Atomics.load(headers, offset >>> 2);
      size = ((header & LENGTH_MASK) + HEADER_SIZE + 7) & ~7;
      if (size !== stride) stride = size;
      next = (offset + stride) | 0;
      if ((header & BUSY_OR_DISCARD) !== 0 || stride > producedEnd - offset) {
        result = unusualRecord(scan, header, stride, producedEnd - offset);
        if (result !== SCAN_CHUNK_DONE) break;
        offset = next;
        continue;
      }
      record = (offset + HEADER_SIZE) | 0;
      offset = next;
      delivered = (delivered + 1) | 0;
      if (callback(view, record, header & LENGTH_MASK) === false || delivered >= scan.limit) {
        result = SCAN_STOPPED;
        break;
      }
      if (offset >= chunkEnd) break;

      header = PLAIN_HEADER_LOADS ? view.getInt32(offset, true) : Atomics.load(headers, offset >>> 2);
      size = ((header & LENGTH_MASK) + HEADER_SIZE + 7) & ~7;
      if (size !== stride) stride = size;
      next = (offset + stride) | 0;
      if ((header & BUSY_OR_DISCARD) !== 0 || stride > producedEnd - offset) {
        result = unusualRecord(scan, header, stride, producedEnd - offset);
        if (result !== SCAN_CHUNK_DONE) break;
        offset = next;
        continue;
      }
      record = (offset + HEADER_SIZE) | 0;
      offset = next;
      delivered = (delivered + 1) | 0;
      if (callback(view, record, header & LENGTH_MASK) === false || delivered >= scan.limit) {
        result = SCAN_STOPPED;
        break;
      }
    }
  } finally {
    scan.done = offset - start;
    scan.delivered += delivered;
  }
  return result;
}

/**
 * What scanRecords does with a record that is still being written, is
 * discarded, or takes more than the `produced` bytes from its header on:
 * SCAN_BUSY, SCAN_CHUNK_DONE (a discarded record: skip it) or SCAN_CORRUPT.
 */
function unusualRecord(scan: ScanState, header: number, size: number, produced: number): number {
  if (header < 0) return SCAN_BUSY;
  if (size > produced) {
    scan.problem = `record of ${header & 0x3fffffff} bytes is longer than the ${produced} bytes produced`;
    return SCAN_CORRUPT;
  }
  scan.discarded++;
  return SCAN_CHUNK_DONE;
}
