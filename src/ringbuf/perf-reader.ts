// The reading side of one CPU's perf event ring (the ring that
// bpf_perf_event_output() writes to), over plain typed arrays: the same code
// reads a kernel mapping or a ring filled by hand.
//
// Memory: the perf_event_mmap_page (data_head written by the kernel,
// data_tail by us), then a data area of data_size bytes, a power of two,
// mapped once: unlike the BPF ring buffer, a record that runs past the end
// goes on at the start. Records are 8-byte aligned, so a record's 8-byte
// header {u32 type, u16 misc, u16 size} never straddles the end; its body may.
// Positions only grow; `pos & (size - 1)` is the offset in the data area.
import { RingCorruptionError, TsbpfError } from '../errors.js';
import { hotLoopLimit, SCAN_CHUNK_DONE, SCAN_CORRUPT, SCAN_STOPPED, type ScanProgress } from './consumer.js';
import { perfEventMmapPage } from '../syscall/layout.js';

export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
export const PERF_HEADER_SIZE = 8;
/** A lost record's body: u64 id, u64 lost. */
const LOST_COUNT_OFFSET = PERF_HEADER_SIZE + 8;
const LOST_RECORD_SIZE = LOST_COUNT_OFFSET + 8;
/** A sample's header and its u32 raw size, rounded up to 8. */
const MIN_SAMPLE_SIZE = 16;
/** Record sizes are u16. */
const MAX_RECORD_SIZE = 0xffff;
/** The largest data area read: the hot loop's offsets and sums then stay below 2^31 (PerfBuffer maps no more). */
const MAX_RING_SIZE = 2 ** 30;
// data_tail is stored at least this often while draining a long backlog, so
// the kernel can write again before the batch ends (as consumer.ts does).
const PUBLISH_EVERY_BYTES = 16 * 1024;

/**
 * Receives one sample: its raw bytes are `[offset, offset + length)` of
 * `view`, valid only until the callback returns (the space is handed back to
 * the kernel after). The kernel pads the raw bytes so that `length + 4` is a
 * multiple of 8: a sample of 13 bytes arrives as 20, the last 7 unspecified.
 * Returning `false` stops reading after this sample.
 */
export type SampleCallback = (view: DataView, offset: number, length: number, cpu: number) => boolean | void;

/** Told how many samples the kernel dropped on `cpu` because its ring was full. */
export type LostCallback = (count: number, cpu: number) => void;

export interface PerfReaderStats {
  /** Samples delivered to callbacks. */
  samples: number;
  /** Samples the kernel dropped (its PERF_RECORD_LOST records, added up). */
  lost: number;
  /** Records that ran past the end of the ring and were copied to be contiguous. */
  wrapped: number;
  /** Records of other types, passed over. */
  skipped: number;
}

export class PerfReader {
  /** Data area size in bytes. */
  readonly size: number;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  private readonly mask: number;
  private readonly publishEvery: number;
  private readonly head: BigUint64Array;
  private readonly tail: BigUint64Array;
  private readonly headLow: Uint32Array;
  private readonly tailLow: Uint32Array;
  private scratch: ScratchMemory | undefined;
  private readonly counters: PerfReaderStats = { samples: 0, lost: 0, wrapped: 0, skipped: 0 };
  private reading = false;
  private readonly scan: ScanState = { done: 0, delivered: 0, problem: '', limit: 0, callbackStopped: false };

  /**
   * @param buffer the whole mapping: the perf_event_mmap_page, then the data area
   * @param pageSize where the data starts on kernels that leave data_offset 0 (before 4.1)
   */
  constructor(
    buffer: ArrayBuffer,
    readonly cpu: number,
    pageSize: number,
    private readonly onLost?: LostCallback,
  ) {
    const { data_head, data_tail, data_offset, data_size } = perfEventMmapPage.fields;
    if (buffer.byteLength < perfEventMmapPage.size) throw new RingCorruptionError(`perf ring of CPU ${cpu}: ${buffer.byteLength} bytes cannot hold its control page`);
    const page = new DataView(buffer);
    const givenSize = Number(page.getBigUint64(data_size.offset, true));
    const dataOffset = givenSize ? Number(page.getBigUint64(data_offset.offset, true)) : pageSize;
    const size = givenSize || buffer.byteLength - pageSize;
    if (size < PERF_HEADER_SIZE || (size & (size - 1)) !== 0 || size > MAX_RING_SIZE || dataOffset % 8 !== 0 || dataOffset < perfEventMmapPage.size || dataOffset + size > buffer.byteLength) {
      throw new RingCorruptionError(`perf ring of CPU ${cpu}: data area of ${size} bytes at ${dataOffset} does not fit a ${buffer.byteLength}-byte mapping as a power of two`);
    }
    this.size = size;
    this.mask = size - 1;
    this.publishEvery = Math.min(size / 4, PUBLISH_EVERY_BYTES);
    this.view = new DataView(buffer, dataOffset, size);
    this.bytes = new Uint8Array(buffer, dataOffset, size);
    this.words = new Uint32Array(buffer, dataOffset, size >>> 2);
    this.head = new BigUint64Array(buffer, data_head.offset, 1);
    this.tail = new BigUint64Array(buffer, data_tail.offset, 1);
    // Little-endian: the low halves, enough to tell whether the positions differ (they are never 2^32 apart).
    this.headLow = new Uint32Array(buffer, data_head.offset, 1);
    this.tailLow = new Uint32Array(buffer, data_tail.offset, 1);
  }

  /**
   * Whether the kernel has written records we have not read. A plain load is
   * enough: this is only a hint, read() itself loads data_head with acquire
   * semantics before touching records.
   */
  hasData(): boolean {
    return this.headLow[0] !== this.tailLow[0];
  }

  /** Bytes written by the kernel and not yet read. */
  available(): number {
    return Number(Atomics.load(this.head, 0) - Atomics.load(this.tail, 0));
  }

  stats(): PerfReaderStats {
    return { ...this.counters };
  }

  /**
   * Delivers samples in order, at most `budget` of them, and returns how many
   * were delivered; lost records go to onLost, other records are passed over.
   * data_tail is published after each batch — and every 16 KiB within a long
   * one, and when a callback throws (that sample counts as read) — then
   * data_head is read again, so records written meanwhile are not left behind.
   */
  read(onSample: SampleCallback, budget = Number.POSITIVE_INFINITY): number {
    if (Number.isNaN(budget)) throw new TsbpfError('read(): the budget is NaN, not a number of samples');
    this.scan.callbackStopped = false;
    if (budget <= 0 || !this.hasData()) return 0;
    // data_tail is published per batch: a nested call would start from a stale position and deliver samples twice.
    if (this.reading) throw new TsbpfError('read() called from inside one of its callbacks');
    this.reading = true;
    const { size, mask, cpu, scan } = this;
    scan.done = 0;
    scan.delivered = 0;
    // Positions are exact as doubles until 2^53 bytes have gone through.
    let tail = Number(Atomics.load(this.tail, 0));
    let published = tail;
    try {
      for (;;) {
        // Atomics.load is the acquire that orders the record reads after it.
        const head = Number(Atomics.load(this.head, 0));
        if (tail === head) return scan.delivered;
        let left = head - tail;
        if (left < 0 || left > size) this.corrupt(tail, head, left < 0 ? 'data_head is behind data_tail' : `${left} bytes pending in a ${size}-byte ring`);
        // Records take multiples of 8 bytes, so aligned positions keep every record's header inside what was written.
        if ((tail | head) % 8 !== 0) this.corrupt(tail, head, 'positions are not multiples of 8 (records are 8-byte aligned)');
        while (left > 0) {
          // data_tail goes back to the kernel every publishEvery bytes of a long backlog.
          const chunk = Math.min(left, this.publishEvery);
          scan.limit = hotLoopLimit(budget - scan.delivered);
          let end = scanSamples(scan, this.view, onSample, tail & mask, mask, left, chunk, cpu);
          // A record the hot loop leaves alone: one that runs past the end of the ring, a lost record, another type.
          if (end === SCAN_OTHER) end = this.readOther(scan, onSample, tail + scan.done);
          if (end === SCAN_CORRUPT) this.corrupt(tail + scan.done, head, scan.problem);
          // stop() may have come from onLost, which the hot loop's limit check does not follow.
          if (end === SCAN_STOPPED || scan.delivered >= budget || scan.limit === 0) return scan.delivered;
          tail += scan.done;
          left -= scan.done;
          scan.done = 0;
          if (end === SCAN_CHUNK_DONE || left === 0 || tail - published >= this.publishEvery) {
            // A full barrier: our reads are done before the kernel may reuse their space.
            Atomics.store(this.tail, 0, BigInt(tail));
            published = tail;
          }
        }
      }
    } finally {
      const reached = tail + scan.done;
      if (reached !== published) Atomics.store(this.tail, 0, BigInt(reached));
      this.counters.samples += scan.delivered;
      this.reading = false;
    }
  }

  /**
   * The record at `position` that scanSamples() left alone: a sample that
   * runs past the end of the ring (copied into scratch memory, then delivered
   * as any other), a lost record, or one of another type. Adds its length to
   * `scan.done`.
   */
  private readOther(scan: ScanState, onSample: SampleCallback, position: number): number {
    const offset = position & this.mask;
    const type = this.words[offset >>> 2]!;
    const length = this.words[(offset >>> 2) + 1]! >>> 16;
    // scanSamples() checked the length before leaving the record here.
    if (type === PERF_RECORD_SAMPLE && length < MIN_SAMPLE_SIZE) {
      scan.problem = `sample record of ${length} bytes, too short for its raw size field`;
      return SCAN_CORRUPT;
    }
    if (offset + length > this.size) {
      const scratch = this.unwrap(offset, length);
      if (type === PERF_RECORD_SAMPLE) return scanSamples(scan, scratch.view, onSample, 0, scratch.bytes.length - 1, length, length, this.cpu);
      return this.countOther(scan, type, length, scratch.words, 0);
    }
    return this.countOther(scan, type, length, this.words, offset);
  }

  /** A lost record (its count goes to onLost) or one of a type nobody asked for. */
  private countOther(scan: ScanState, type: number, length: number, words: Uint32Array, at: number): number {
    if (type !== PERF_RECORD_LOST) {
      this.counters.skipped++;
      scan.done += length;
      return SCAN_CHUNK_CONTINUES;
    }
    if (length < LOST_RECORD_SIZE) {
      scan.problem = `lost record of ${length} bytes`;
      return SCAN_CORRUPT;
    }
    const countAt = (at + LOST_COUNT_OFFSET) >>> 2;
    const count = words[countAt]! + words[countAt + 1]! * 2 ** 32;
    this.counters.lost += count;
    // Read before onLost runs: if it throws, the record is not reported twice.
    scan.done += length;
    this.onLost?.(count, this.cpu);
    return SCAN_CHUNK_CONTINUES;
  }

  /** Whether the last read() ended because a callback returned false. */
  get callbackStopped(): boolean {
    return this.scan.callbackStopped;
  }

  /** Ends a read() in progress after the sample being delivered (PerfBuffer.close() does, before it unmaps the ring). */
  stop(): void {
    this.scan.limit = 0;
  }

  /** Copies a record that runs past the end of the ring into scratch memory, contiguous from 0. */
  private unwrap(offset: number, length: number): ScratchMemory {
    const scratch = (this.scratch ??= scratchMemory(Math.min(this.size, MAX_RECORD_SIZE + 1)));
    const first = this.size - offset;
    scratch.bytes.set(this.bytes.subarray(offset), 0);
    scratch.bytes.set(this.bytes.subarray(0, length - first), first);
    this.counters.wrapped++;
    return scratch;
  }

  private corrupt(tail: number, head: number, why: string): never {
    throw new RingCorruptionError(`perf ring of CPU ${this.cpu} corrupted at data_tail ${tail} (data_head ${head}): ${why}`);
  }
}

interface ScratchMemory {
  bytes: Uint8Array;
  words: Uint32Array;
  view: DataView;
}

function scratchMemory(size: number): ScratchMemory {
  const buffer = new ArrayBuffer(size);
  return { bytes: new Uint8Array(buffer), words: new Uint32Array(buffer), view: new DataView(buffer) };
}

interface ScanState extends ScanProgress {
  /** A callback of this read() call returned false. */
  callbackStopped: boolean;
}

// Endings of its own, after consumer.ts's: the chunk goes on after a record
// readOther() read; a record the hot loop leaves to readOther() (one that
// runs past the end of the ring, a lost record, another type).
const SCAN_CHUNK_CONTINUES = 3;
const SCAN_OTHER = 4;

/**
 * The hot loop of read(): delivers the samples that start in the next `chunk`
 * bytes at offset `start` (of `left` bytes written), and stops (SCAN_OTHER)
 * at a record that is not a sample or runs past the end of the ring. Kept
 * small and apart from read()'s bookkeeping so that V8 optimizes it whole, as
 * the ring buffer consumer's scanRecords(). `scan.done` counts the bytes
 * consumed, the sample being delivered included even when its callback throws.
 */
function scanSamples(scan: ScanState, view: DataView, onSample: SampleCallback,
  start: number, mask: number, left: number, chunk: number, cpu: number): number {
  // The record layout's constants as locals: V8 folds these, while it loads
  // an exported const from its module cell at every use.
  const RECORD_SAMPLE = 9;
  const RAW_OFFSET = 12; // a sample's body: u32 raw size, then the raw bytes
  // As in consumer.ts's scanRecords(): integers (rings of at most 1 GiB keep
  // sums below 2^31), and the objects used once before the loop.
  start |= 0;
  mask |= 0;
  cpu |= 0;
  if (view.byteLength === 0 || scan.limit <= 0) return SCAN_STOPPED;
  const ringEnd = (mask + 1) | 0;
  // Samples start before chunkEnd, which is not past the end of the ring, so
  // offsets need no wrapping; they end by wholeEnd, or are not whole here.
  const chunkEnd = (start + Math.min(chunk, ringEnd - start)) | 0;
  const wholeEnd = (start + Math.min(left, ringEnd - start)) | 0;
  let offset = start;
  // The last record's length, which the next record's address comes from
  // while records keep it: as in scanRecords(), the CPU then reads ahead.
  let stride = 0;
  let delivered = 0;
  let length = 0;
  let next = 0;
  let rawSize = 0;
  let raw = 0;
  let result = SCAN_CHUNK_DONE;
  try {
    // Two records a turn, as in scanRecords(); the halves are the same but
    // for the first one's last line.
    while (offset < chunkEnd) {
      // Plain loads: the acquire load of data_head ordered them all. The raw
      // size is read before the record is known to be whole, hence the mask.
      length = view.getUint16(offset + 6, true);
      if (length !== stride) stride = length;
      next = (offset + stride) | 0;
      rawSize = view.getUint32((offset + 8) & mask, true);
      if (view.getUint32(offset, true) !== RECORD_SAMPLE || (stride & 7) !== 0 || next > wholeEnd || RAW_OFFSET + rawSize > stride) {
        result = unusualRecord(scan, view, offset, length, start + left - offset, ringEnd);
        break;
      }
      raw = (offset + RAW_OFFSET) | 0;
      offset = next;
      delivered = (delivered + 1) | 0;
      if (onSample(view, raw, rawSize, cpu) === false) {
        scan.callbackStopped = true;
        result = SCAN_STOPPED;
        break;
      }
      if (delivered >= scan.limit) {
        result = SCAN_STOPPED;
        break;
      }
      if (offset >= chunkEnd) break;

      length = view.getUint16(offset + 6, true);
      if (length !== stride) stride = length;
      next = (offset + stride) | 0;
      rawSize = view.getUint32((offset + 8) & mask, true);
      if (view.getUint32(offset, true) !== RECORD_SAMPLE || (stride & 7) !== 0 || next > wholeEnd || RAW_OFFSET + rawSize > stride) {
        result = unusualRecord(scan, view, offset, length, start + left - offset, ringEnd);
        break;
      }
      raw = (offset + RAW_OFFSET) | 0;
      offset = next;
      delivered = (delivered + 1) | 0;
      if (onSample(view, raw, rawSize, cpu) === false) {
        scan.callbackStopped = true;
        result = SCAN_STOPPED;
        break;
      }
      if (delivered >= scan.limit) {
        result = SCAN_STOPPED;
        break;
      }
    }
  } finally {
    scan.done += offset - start;
    scan.delivered += delivered;
  }
  return result;
}

/**
 * Why scanSamples() stops at the record of `length` bytes at `offset`
 * (`produced` bytes are written from there): SCAN_CORRUPT, with the problem said, or SCAN_OTHER
 * for a record readOther() sorts out (not a sample, a sample running past
 * `ringEnd`, or one too short for its raw size field).
 */
function unusualRecord(scan: ScanState, view: DataView, offset: number, length: number, produced: number, ringEnd: number): number {
  if (length < PERF_HEADER_SIZE || (length & 7) !== 0 || length > produced) {
    scan.problem = `record of ${length} bytes (${produced} bytes produced, records are 8-byte multiples)`;
    return SCAN_CORRUPT;
  }
  if (view.getUint32(offset, true) !== PERF_RECORD_SAMPLE || offset + length > ringEnd || length < MIN_SAMPLE_SIZE) return SCAN_OTHER;
  scan.problem = `sample of ${view.getUint32(offset + 8, true)} bytes in a ${length}-byte record`;
  return SCAN_CORRUPT;
}
