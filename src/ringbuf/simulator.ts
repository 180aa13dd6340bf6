// The PRODUCER side of the BPF ring buffer, in plain TypeScript: what the
// kernel does for bpf_ringbuf_reserve / _submit / _discard / _output
// (kernel/bpf/ringbuf.c), over an ArrayBuffer laid out like the map's mmap.
// `memory` is a RingMemory, so the very RingConsumer that reads a kernel ring
// reads this one: for tests, and for reading the protocol one rule at a time.
//
// Layout of the buffer (the user-space view of the mapping):
//   page 0            consumer_pos (the consumer writes it)
//   page 1            producer_pos, then pending_pos (kernels since mid-2024)
//   page 2 ...        the data area, `size` bytes, and the same bytes again
// The kernel maps each data page twice, so a record that runs past the end
// continues, contiguous, in the second copy. JavaScript cannot alias memory,
// so every store here goes to both copies: the consumer sees what it would
// see through the double mapping.
//
// Positions are unsigned longs that only grow; `pos & mask` is the offset in
// the data area. Records are an 8-byte header {u32 len | BUSY | DISCARD,
// u32 pg_off} and the payload, and take round_up(len + 8, 8) bytes.
//
// What is not simulated: concurrency (the kernel's reserve holds a spinlock,
// so one producer at a time is exact; the NMI trylock failure is not
// modelled), and waking is reported, not performed (see `commit`).
import { TsbpfError } from '../errors.js';
import { RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RINGBUF_HEADER_SIZE, type RingMemory } from './consumer.js';

/** Submit/discard/output flag: do not wake the consumer (include/uapi/linux/bpf.h). */
export const BPF_RB_NO_WAKEUP = 1;
/** Submit/discard/output flag: wake the consumer whatever its position. */
export const BPF_RB_FORCE_WAKEUP = 2;
/** Largest record payload the kernel accepts: RINGBUF_MAX_RECORD_SZ = UINT_MAX / 4. */
export const RINGBUF_MAX_RECORD_SIZE = 0x3fffffff;
/** What bpf_ringbuf_output returns when the ring is full (or the record too big). */
export const EAGAIN = 11;
/** What bpf_ringbuf_output returns for flags other than NO_WAKEUP / FORCE_WAKEUP. */
export const EINVAL = 22;

/** Kernel bookkeeping pages in front of consumer_pos (RINGBUF_PGOFF): only used for pg_off. */
const KERNEL_PAGES_BEFORE_CONSUMER = 1;
const U64 = 64;

export type ReservationState = 'reserved' | 'committed' | 'discarded';

/** A reserved record: what bpf_ringbuf_reserve's pointer stands for. */
export interface RingReservation {
  /** Position of the record's header: producer_pos when it was reserved. */
  readonly position: bigint;
  /** Offset of the header in the data area (`position & mask`). */
  readonly offset: number;
  /** Payload size asked for: the length the header will carry. */
  readonly size: number;
  /** Bytes the record takes in the ring: round_up(size + 8, 8). */
  readonly span: number;
  /** 'reserved' (BUSY) until commit or discard. */
  readonly state: ReservationState;
}

/** A record header as it is in the ring. */
export interface RingHeader {
  length: number;
  busy: boolean;
  discard: boolean;
  /** Kernel-internal: pages from the ring's start, to find the ring from a record. Consumers ignore it. */
  pageOffset: number;
}

export interface SimulatorOptions {
  /** Page size of the simulated mapping (default 4096): where the data area starts. */
  pageSize?: number;
  /**
   * Where both positions start (default 0, as a new map). A ring reused or
   * pinned by an earlier process starts wherever it was left: any multiple of 8.
   */
  position?: bigint | number;
  /** Called on every wake-up commit/discard would cause (after the header is final). */
  onWakeup?: (record: RingReservation) => void;
}

type MutableReservation = { -readonly [K in keyof RingReservation]: RingReservation[K] };

export class RingSimulator {
  /** What a RingConsumer reads: `new RingConsumer(simulator.memory)`. */
  readonly memory: RingMemory;
  /** Data area size in bytes: a power of two. */
  readonly size: number;
  readonly mask: number;
  readonly pageSize: number;
  private readonly bigMask: bigint;
  /** The data area, both copies, as bytes and as native-endian u32 (headers). */
  private readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  /** pending_pos lives in the producer page, right after producer_pos. */
  private readonly pendingPosCell: BigUint64Array;
  private readonly onWakeup: ((record: RingReservation) => void) | undefined;
  private wakeupCount = 0;
  /**
   * The kernel's own producer_pos. In the kernel it is the very word user
   * space maps, but mapped read-only, so nobody else can change it; a test
   * that overwrites `memory.producerPos` fakes a corrupted consumer view and
   * does not derail later reservations.
   */
  private producer: bigint;

  /**
   * @param size data area size: a power of two, at least 8. (The kernel also
   *   wants a multiple of the page size; small rings are allowed here because
   *   they wrap often, which is what tests want.)
   */
  constructor(size: number, options: SimulatorOptions = {}) {
    const pageSize = options.pageSize ?? 4096;
    // ringbuf_map_alloc: max_entries must be a power of two (is_power_of_2).
    if (!Number.isInteger(size) || size < 8 || size > 2 ** 30 || (size & (size - 1)) !== 0) {
      throw new RangeError(`ring size ${size} is not a power of two between 8 bytes and 1 GiB`);
    }
    if (!Number.isInteger(pageSize) || pageSize < 16 || (pageSize & (pageSize - 1)) !== 0) {
      throw new RangeError(`page size ${pageSize} is not a power of two of at least 16 bytes`);
    }
    const start = BigInt(options.position ?? 0);
    // Records are 8-byte aligned, so positions always are.
    if (start < 0n || start >= 2n ** 53n || start % 8n !== 0n) {
      throw new RangeError(`start position ${start} is not a multiple of 8 below 2^53`);
    }
    this.size = size;
    this.mask = size - 1;
    this.bigMask = BigInt(size - 1);
    this.pageSize = pageSize;
    this.onWakeup = options.onWakeup;

    const buffer = new ArrayBuffer(2 * pageSize + 2 * size);
    const dataOffset = 2 * pageSize;
    this.bytes = new Uint8Array(buffer, dataOffset, 2 * size);
    this.words = new Uint32Array(buffer, dataOffset, (2 * size) >>> 2);
    this.pendingPosCell = new BigUint64Array(buffer, pageSize + 8, 1);
    this.memory = {
      consumerPos: new BigUint64Array(buffer, 0, 1),
      producerPos: new BigUint64Array(buffer, pageSize, 1),
      data: buffer,
      dataOffset,
      size,
    };
    // bpf_ringbuf_alloc: both positions start equal (an empty ring).
    this.memory.consumerPos[0] = start;
    this.memory.producerPos[0] = start;
    this.producer = start;
    this.pendingPosCell[0] = start;
  }

  /** producer_pos: where the next reservation goes. */
  get producerPos(): bigint {
    return this.producer;
  }

  /** consumer_pos, as the consumer last published it. */
  get consumerPos(): bigint {
    return Atomics.load(this.memory.consumerPos, 0);
  }

  /** pending_pos: the oldest record that may still be BUSY, as of the last reserve. */
  get pendingPos(): bigint {
    return this.pendingPosCell[0]!;
  }

  /** Wake-ups commit/discard/output have caused so far. */
  get wakeups(): number {
    return this.wakeupCount;
  }

  /** Bytes reserved and not yet consumed: what bpf_ringbuf_query(BPF_RB_AVAIL_DATA) and poll look at. */
  available(): bigint {
    // ringbuf_avail_data_sz: unsigned difference of the two positions.
    return BigInt.asUintN(U64, this.producerPos - this.consumerPos);
  }

  /**
   * bpf_ringbuf_reserve(map, size, flags): room for `size` bytes, or null.
   * The header says BUSY until commit/discard, and producer_pos moves past
   * the record at once: later reservations go after it, whatever the order
   * in which they are committed.
   */
  reserve(size: number, flags = 0): RingReservation | null {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`record size ${size} is not a u64`);
    // bpf_ringbuf_reserve: no flags are defined for reserve; any is refused.
    if (flags !== 0) return null;
    // RINGBUF_MAX_RECORD_SZ: the length must leave the BUSY and DISCARD bits free.
    if (size > RINGBUF_MAX_RECORD_SIZE) return null;
    // The record takes its header and payload, rounded up to keep 8-byte alignment.
    const span = roundUp8(size + RINGBUF_HEADER_SIZE);
    // A record longer than the whole data area can never fit.
    if (span > this.size) return null;

    // consumer_pos is read (acquire) before taking the lock; the kernel's
    // spinlock makes the rest one step, as a single-threaded call is here.
    const consumerPos = Atomics.load(this.memory.consumerPos, 0);
    const producerPos = this.producer;
    const newProducerPos = BigInt.asUintN(U64, producerPos + BigInt(span));

    // pending_pos (the fix for CVE-2024-41009): walk past every record that is
    // no longer BUSY, to the oldest one still being written.
    let pendingPos = this.pendingPosCell[0]!;
    while (pendingPos < producerPos) {
      const header = this.words[Number(pendingPos & this.bigMask) >>> 2]!;
      if (header & RINGBUF_BUSY_BIT) break;
      pendingPos += BigInt(roundUp8((header & ~RINGBUF_DISCARD_BIT) + RINGBUF_HEADER_SIZE));
    }
    this.pendingPosCell[0] = pendingPos;

    // Out of space unless the producer stays at most size - 1 bytes ahead of
    // the consumer (so a full ring and an empty one never look alike), and
    // the oldest BUSY record is also less than a ring behind: a consumer that
    // wrongly moved consumer_pos past a BUSY record cannot make a new record
    // overwrite one still being written. (Unsigned arithmetic, as in C.)
    if (BigInt.asUintN(U64, newProducerPos - consumerPos) > this.bigMask) return null;
    if (BigInt.asUintN(U64, newProducerPos - pendingPos) > this.bigMask) return null;

    // The header: the requested size (not the rounded span) with BUSY set, and
    // pg_off, which the kernel uses to find the ring from a record pointer.
    const offset = Number(producerPos & this.bigMask);
    this.storeWord(offset, (size | RINGBUF_BUSY_BIT) >>> 0);
    this.storeWord(offset + 4, this.pageOffsetOf(offset));
    // Store-release of producer_pos: a consumer that sees the new position
    // also sees the BUSY header, so it never reads a record not yet reserved.
    this.producer = newProducerPos;
    Atomics.store(this.memory.producerPos, 0, newProducerPos);

    const record: MutableReservation = { position: producerPos, offset, size, span, state: 'reserved' };
    return record;
  }

  /**
   * Fills part of a reserved record, from `at` bytes into its payload. (A BPF
   * program writes through the reserved pointer; the verifier keeps it within
   * the record and forbids it after commit or discard.)
   */
  write(record: RingReservation, bytes: ArrayLike<number>, at = 0): void {
    this.checkReserved(record, 'write to');
    if (!Number.isInteger(at) || at < 0 || at + bytes.length > record.size) {
      throw new RangeError(`writing ${bytes.length} bytes at ${at} overruns a ${record.size}-byte record`);
    }
    this.writeData(record.offset + RINGBUF_HEADER_SIZE + at, bytes);
  }

  /**
   * bpf_ringbuf_submit(data, flags): the record becomes readable. Returns
   * whether the consumer would be woken (the kernel queues irq_work for it).
   */
  commit(record: RingReservation, flags = 0): boolean {
    return this.finish(record, flags, false);
  }

  /** bpf_ringbuf_discard(data, flags): the consumer will skip the record. Returns whether it would be woken. */
  discard(record: RingReservation, flags = 0): boolean {
    return this.finish(record, flags, true);
  }

  /**
   * bpf_ringbuf_output(map, data, size, flags): reserve, copy, commit in one
   * call. Returns 0, -EINVAL for unknown flags or -EAGAIN when there is no room.
   */
  output(bytes: ArrayLike<number>, flags = 0): number {
    // Unlike submit, output checks its flags.
    if (flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) return -EINVAL;
    const record = this.reserve(bytes.length);
    if (record === null) return -EAGAIN;
    this.write(record, bytes);
    this.commit(record, flags);
    return 0;
  }

  /** The header at `position` (any position: it is masked), as it is in the ring now. */
  readHeader(position: bigint | number): RingHeader {
    const offset = Number(BigInt(position) & this.bigMask) & ~3;
    const word = this.words[offset >>> 2]!;
    return {
      length: (word & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT)) >>> 0,
      busy: (word & RINGBUF_BUSY_BIT) !== 0,
      discard: (word & RINGBUF_DISCARD_BIT) !== 0,
      pageOffset: this.words[((offset + 4) & this.mask) >>> 2]!,
    };
  }

  /**
   * Stores raw bytes at `offset` in the data area (taken modulo the size,
   * wrapping), in both copies, as any store to the shared pages would land.
   * The protocol never needs it: it is for tests that corrupt the ring.
   */
  writeData(offset: number, bytes: ArrayLike<number>): void {
    const source = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    let at = ((offset % this.size) + this.size) % this.size;
    let done = 0;
    while (done < source.length) {
      // Up to the end of the first copy, then on from offset 0.
      const chunk = source.subarray(done, done + Math.min(source.length - done, this.size - at));
      this.bytes.set(chunk, at);
      this.bytes.set(chunk, at + this.size);
      done += chunk.length;
      at = 0;
    }
  }

  /** bpf_ringbuf_commit: shared by submit and discard. */
  private finish(record: RingReservation, flags: number, discard: boolean): boolean {
    this.checkReserved(record, discard ? 'discard' : 'commit');
    // The final length is the header with BUSY flipped off (and DISCARD on for
    // a discard), stored in one atomic exchange: the consumer sees either the
    // BUSY header or the final one.
    const word = this.words[record.offset >>> 2]!;
    let finalWord = (word ^ RINGBUF_BUSY_BIT) >>> 0;
    if (discard) finalWord = (finalWord | RINGBUF_DISCARD_BIT) >>> 0;
    this.storeWord(record.offset, finalWord);
    (record as MutableReservation).state = discard ? 'discarded' : 'committed';

    // The wake-up rule: FORCE always wakes; NO_WAKEUP never; by default only
    // when the consumer has caught up exactly to this record, i.e. it stopped
    // here and is waiting. (Records after a BUSY one wake nobody: the wake-up
    // comes when the BUSY one completes, and the consumer then reads them all.)
    // The kernel compares offsets in the data area: consumer_pos & mask with
    // the record's offset.
    const consumerOffset = Number(Atomics.load(this.memory.consumerPos, 0) & this.bigMask);
    let wake: boolean;
    if (flags & BPF_RB_FORCE_WAKEUP) wake = true;
    else wake = consumerOffset === record.offset && !(flags & BPF_RB_NO_WAKEUP);
    if (wake) {
      this.wakeupCount++;
      // The kernel defers the actual wake-up (irq_work); here the callback runs now.
      this.onWakeup?.(record);
    }
    return wake;
  }

  private checkReserved(record: RingReservation, what: string): void {
    // The verifier tracks the reserved pointer as a reference that must be
    // released exactly once: a second commit, or a write after it, never loads.
    if (record.state !== 'reserved') throw new TsbpfError(`cannot ${what} a record already ${record.state}`);
  }

  /** A 32-bit store, in both copies (an aligned header word never straddles the end). */
  private storeWord(offset: number, value: number): void {
    Atomics.store(this.words, offset >>> 2, value);
    Atomics.store(this.words, (offset + this.size) >>> 2, value);
  }

  /** bpf_ringbuf_rec_pg_off: pages from the start of struct bpf_ringbuf to the header. */
  private pageOffsetOf(offset: number): number {
    // The kernel's bookkeeping page(s), the consumer page and the producer
    // page come before the data area.
    return KERNEL_PAGES_BEFORE_CONSUMER + 2 + Math.floor(offset / this.pageSize);
  }
}

function roundUp8(value: number): number {
  return Math.ceil(value / 8) * 8;
}
