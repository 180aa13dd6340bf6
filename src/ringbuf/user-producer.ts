// The producer side of the user ring buffer protocol (BPF_MAP_TYPE_USER_RINGBUF),
// over plain typed arrays: the same code writes a kernel mapping or a plain
// ArrayBuffer that a RingConsumer reads in tests.
//
// The memory is laid out as for the kernel ring (see consumer.ts), with the
// roles swapped: consumer_pos is the kernel's (read-only to us) and we write
// producer_pos and the data area. A record is the 8-byte header {u32 len, u32
// pg_off} and its payload, and takes round_up(len + 8, 8) bytes. Reserving
// writes `len | BUSY` and then publishes producer_pos (store-release); submit
// stores the final len without BUSY, discard with DISCARD. The kernel's drain
// (bpf_user_ringbuf_drain) reads records in reservation order, skips
// discarded ones and stops at the first still BUSY.
//
// Several records may be reserved at once and finished in any order, but a
// record left reserved holds back every record after it: the kernel never
// drains past it, and the ring eventually fills up behind it.
import { checkBytes } from '../check.js';
import { ClosedError, RingCorruptionError, TsbpfError } from '../errors.js';
import { RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RINGBUF_HEADER_SIZE, type RingMemory } from './consumer.js';

/**
 * Largest payload the kernel drains: it hands each record to the BPF program
 * as a dynptr, at most 2^24 - 1 bytes (DYNPTR_MAX_SIZE). A longer record makes
 * every drain fail with -E2BIG, stuck at that record for good.
 */
export const USER_RINGBUF_MAX_RECORD_SIZE = 0xffffff;

/**
 * A store that later loads on other CPUs see after every earlier store (a
 * release). Atomics.store does that everywhere, but Node 20 never inlines it.
 * On x86-64 a plain store is enough: the CPU does not reorder stores with
 * stores (x86-TSO), and V8 keeps typed-array stores in program order. Other
 * architectures keep Atomics.store.
 */
const storeRelease: (words: Uint32Array, index: number, value: number) => void =
  process.arch === 'x64' ? (words, index, value) => { words[index] = value; } : (words, index, value) => { Atomics.store(words, index, value); };

/** Index of the low and high 32-bit halves of a u64 in a Uint32Array. */
const [LOW_WORD, HIGH_WORD] = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? [0, 1] : [1, 0];

/** A record size the ring cannot take: not a positive integer, or above `limit`. */
export class RecordSizeError extends TsbpfError {
  override name = 'RecordSizeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`record size ${size} is not an integer between 1 and ${limit}`);
  }
}

export type UserRecordState = 'reserved' | 'submitted' | 'discarded';

/** A reserved record: fill its bytes, then submit() or discard() it, exactly once. */
export class UserRecord {
  private currentState: UserRecordState = 'reserved';
  private bytesView: Uint8Array | undefined;
  private dataView: DataView | undefined;

  /** @internal records come from UserRingProducer.reserve() */
  constructor(
    private readonly producer: UserRingProducer,
    /** The payload's offset in the producer's `bytes` and `view` (the whole double-mapped data area). */
    readonly offset: number,
    /** Payload size in bytes. */
    readonly size: number,
  ) {}

  get state(): UserRecordState {
    return this.currentState;
  }

  /**
   * The payload. It holds whatever an older record left there: write every
   * byte the reader looks at. Views stay harmless after submit or close, but
   * bytes written then may already belong to someone else.
   */
  get bytes(): Uint8Array {
    this.bytesView ??= this.producer.bytes.subarray(this.offset, this.offset + this.size);
    return this.bytesView;
  }

  get view(): DataView {
    this.dataView ??= new DataView(this.producer.bytes.buffer, this.producer.bytes.byteOffset + this.offset, this.size);
    return this.dataView;
  }

  /** Hands the record to the kernel. */
  submit(): void {
    this.finish('submitted', this.size);
  }

  /** Gives the space back: the kernel skips the record. */
  discard(): void {
    this.finish('discarded', (this.size | RINGBUF_DISCARD_BIT) >>> 0);
  }

  private finish(state: UserRecordState, header: number): void {
    this.producer.finish(this, header);
    this.currentState = state;
  }
}

export class UserRingProducer {
  readonly size: number;
  /** Largest payload reserve() accepts: the ring's size less one header, and at most USER_RINGBUF_MAX_RECORD_SIZE. */
  readonly maxRecordSize: number;
  /** The data area, both copies, as bytes and as a DataView. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly headers: Uint32Array;
  private readonly mask: number;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  /** producer_pos as two u32 halves, for stores without a BigInt (see publish). */
  private readonly producerWords: Uint32Array;
  /** Our producer_pos (exact as a double below 2^53; we are its only writer). */
  private producer: number;
  /** consumer_pos as last read: it only grows, so the free space it gives is never too large. */
  private consumer: number;
  private outstandingCount = 0;
  private closed = false;

  /** @param what names the ring in errors */
  constructor(
    memory: RingMemory,
    private readonly what = 'user ring buffer',
  ) {
    const { size } = memory;
    if (!Number.isInteger(size) || size < 16 || (size & (size - 1)) !== 0 || size > 2 ** 31) {
      throw new RingCorruptionError(`${what}: size ${size} is not a power of two between 16 bytes and 2 GiB`);
    }
    this.size = size;
    this.mask = size - 1;
    this.maxRecordSize = Math.min(size - RINGBUF_HEADER_SIZE, USER_RINGBUF_MAX_RECORD_SIZE);
    this.bytes = new Uint8Array(memory.data, memory.dataOffset, 2 * size);
    this.view = new DataView(memory.data, memory.dataOffset, 2 * size);
    this.headers = new Uint32Array(memory.data, memory.dataOffset, (2 * size) >>> 2);
    this.consumerPos = memory.consumerPos;
    this.producerPos = memory.producerPos;
    this.producerWords = new Uint32Array(memory.producerPos.buffer, memory.producerPos.byteOffset, 2);
    // A ring pinned or handed over by another process starts where it was left.
    this.producer = Number(Atomics.load(this.producerPos, 0));
    if (this.producer % 8 !== 0) this.corrupt(`producer_pos ${this.producer} is not a multiple of 8`);
    this.consumer = this.loadConsumer();
  }

  /** Records reserved and not yet submitted or discarded. */
  get outstanding(): number {
    return this.outstandingCount;
  }

  /** Bytes the kernel has not drained yet (records still reserved included). */
  available(): number {
    this.checkOpen();
    this.consumer = this.loadConsumer();
    return this.producer - this.consumer;
  }

  position(): { consumer: bigint; producer: bigint } {
    this.checkOpen();
    return { consumer: Atomics.load(this.consumerPos, 0), producer: Atomics.load(this.producerPos, 0) };
  }

  /**
   * Room for a `size`-byte record, or undefined when the ring is too full now
   * (the kernel's drain frees space). Throws RecordSizeError for a size the
   * ring can never take.
   */
  reserve(size: number): UserRecord | undefined {
    this.checkOpen();
    if (!(size >= 1 && size <= this.maxRecordSize && Number.isInteger(size))) throw new RecordSizeError(size, this.maxRecordSize);
    const span = (size + RINGBUF_HEADER_SIZE + 7) & ~7;
    // The whole ring may fill up: the kernel tells empty from full by
    // consumer_pos >= producer_pos, not by keeping a byte free.
    if (this.size - (this.producer - this.consumer) < span) {
      this.consumer = this.loadConsumer();
      if (this.size - (this.producer - this.consumer) < span) return undefined;
    }
    const offset = this.producer & this.mask;
    // Aligned headers never straddle the end: the first copy holds them all.
    this.headers[offset >>> 2] = (size | RINGBUF_BUSY_BIT) >>> 0;
    this.headers[(offset >>> 2) + 1] = 0; // pg_off: the kernel ignores it in user rings
    this.publish(this.producer + span);
    this.outstandingCount++;
    // The payload follows the header in the double mapping, so a record that
    // wraps is contiguous (the kernel reads it at the same bytes).
    return new UserRecord(this, offset + RINGBUF_HEADER_SIZE, size);
  }

  /** reserve + copy + submit; false when the ring is too full now. */
  write(bytes: Uint8Array): boolean {
    // A string or an array has a length too, but copies in as zeros.
    const record = this.reserve(checkBytes(bytes, `${this.what} write()`).length);
    if (!record) return false;
    this.bytes.set(bytes, record.offset);
    record.submit();
    return true;
  }

  /** Stops the producer: reserve() and the records still reserved throw ClosedError from now on. */
  close(): void {
    this.closed = true;
  }

  /** @internal the end of UserRecord.submit/discard */
  finish(record: UserRecord, header: number): void {
    this.checkOpen();
    if (record.state !== 'reserved') throw new TsbpfError(`${this.what}: record already ${record.state}`);
    // One store of the final header (a release: the payload is written before
    // it). The kernel sees BUSY or the finished record, never a mix.
    storeRelease(this.headers, (record.offset - RINGBUF_HEADER_SIZE) >>> 2, header);
    this.outstandingCount--;
  }

  /**
   * Stores producer_pos, after the headers it covers (a release). The kernel
   * reads it in one 64-bit load; a BigInt store would cost an allocation per
   * record, so the halves are stored apart, low first. The high half changes
   * once per 4 GiB, and in between the kernel may see the new low half with
   * the old high one: a position below its consumer_pos (the ring is at
   * most 2 GiB), which it reads as "no records yet", never as records to read.
   */
  private publish(position: number): void {
    const high = Math.floor(position / 2 ** 32);
    storeRelease(this.producerWords, LOW_WORD, position >>> 0);
    if (high !== this.producerWords[HIGH_WORD]) storeRelease(this.producerWords, HIGH_WORD, high);
    this.producer = position;
  }

  private loadConsumer(): number {
    const consumer = Number(Atomics.load(this.consumerPos, 0));
    const used = this.producer - consumer;
    if (used < 0 || used > this.size) this.corrupt(`consumer_pos ${consumer} is not within one ring (${this.size} bytes) behind producer_pos ${this.producer}`);
    return consumer;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(this.what);
  }

  private corrupt(why: string): never {
    throw new RingCorruptionError(`${this.what}: ${why}`);
  }
}
