// A BPF_MAP_TYPE_USER_RINGBUF map mapped into this process: user space writes
// records with UserRingProducer, a BPF program drains them with
// bpf_user_ringbuf_drain().
//
// Two mappings, as the kernel allows them for user rings: the consumer page
// read-only at offset 0, and the producer page plus the data area mapped
// twice, read-write, at one page in. Sizes come from the kernel (map info).
import { ClosedError, TsbpfError } from '../errors.js';
import { Epoll, EPOLLOUT, mapInfoByFd, PAGE_SIZE, PROT_READ, PROT_WRITE, SharedMapping } from '../syscall/index.js';
import { UserRingProducer, type UserRecord } from './user-producer.js';
import { FdWaiter, waitTimeout, type WaitOptions } from './waiter.js';

const BPF_MAP_TYPE_USER_RINGBUF = 31;
/** Edge-triggered: one event per wake-up of the map's wait queue (epoll(7)). */
const EPOLLET = 0x80000000;

export class UserRingBuffer {
  readonly size: number;
  /** Largest record reserve() accepts. */
  readonly maxRecordSize: number;
  private readonly consumerPage: SharedMapping;
  private readonly producerPages: SharedMapping;
  private readonly producer: UserRingProducer;
  private readonly epoll: Epoll;
  private readonly waiter: FdWaiter;
  private closed = false;

  constructor(
    readonly name: string,
    mapFd: number,
  ) {
    const what = `user ring buffer '${name}'`;
    const info = mapInfoByFd(mapFd);
    if (info.u32('type') !== BPF_MAP_TYPE_USER_RINGBUF) throw new TsbpfError(`map '${name}' is not a user ring buffer (map type ${info.u32('type')})`);
    this.size = info.u32('max_entries');
    const opened: { release(): void }[] = [];
    try {
      this.consumerPage = SharedMapping.map(mapFd, 0, PAGE_SIZE, PROT_READ, `${what} consumer page`);
      opened.push(this.consumerPage);
      this.producerPages = SharedMapping.map(mapFd, PAGE_SIZE, PAGE_SIZE + 2 * this.size, PROT_READ | PROT_WRITE, `${what} data`);
      opened.push(this.producerPages);
      this.producer = new UserRingProducer({
        consumerPos: new BigUint64Array(this.consumerPage.buffer, 0, 1),
        producerPos: new BigUint64Array(this.producerPages.buffer, 0, 1),
        data: this.producerPages.buffer,
        dataOffset: PAGE_SIZE,
        size: this.size,
      }, what);
      // The map fd is writable whenever the ring is not completely full, even
      // if the record we want does not fit: a level-triggered watch would spin.
      // Edge-triggered, it reports each drain that wakes user space.
      this.epoll = new Epoll();
      opened.push({ release: () => this.epoll.close() });
      this.epoll.add(mapFd, 0, (EPOLLOUT | EPOLLET) >>> 0, what);
    } catch (error) {
      for (const resource of opened.reverse()) resource.release();
      throw error;
    }
    this.maxRecordSize = this.producer.maxRecordSize;
    this.waiter = new FdWaiter(this.epoll.fd, what);
  }

  /**
   * Room for a `size`-byte record now, or undefined when the ring is too full
   * (backpressure: retry after the BPF side drains, or use reserveBlocking).
   * Throws RecordSizeError for a size the ring can never take.
   */
  reserve(size: number): UserRecord | undefined {
    this.checkOpen();
    return this.producer.reserve(size);
  }

  /**
   * reserve(), waiting for the BPF program to drain the ring when it is too
   * full. Resolves undefined on timeout (after one last try), on abort, and
   * when the ring is closed meanwhile. Only a drain that wakes user space
   * ends the wait: bpf_user_ringbuf_drain() does when it drained at least one
   * record, unless called with BPF_RB_NO_WAKEUP, and always with
   * BPF_RB_FORCE_WAKEUP. One waiter at a time.
   */
  async reserveBlocking(size: number, options: WaitOptions = {}): Promise<UserRecord | undefined> {
    this.checkOpen();
    const timeoutMs = waitTimeout(options.timeoutMs);
    const { signal } = options;
    if (signal?.aborted) return undefined;
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
    for (;;) {
      // A wake-up from before this attempt says nothing new: forget it, so
      // the wait below lasts until a drain that comes after the attempt.
      this.epoll.ready(1);
      const record = this.producer.reserve(size);
      const left = deadline - performance.now();
      if (record || left <= 0) return record;
      await this.waiter.wait(() => false, { timeoutMs: left, signal });
      if (this.closed || signal?.aborted) return undefined;
    }
  }

  /**
   * The whole data area (both copies), as bytes and as a DataView: a record's
   * payload is at [record.offset, record.offset + record.size). Writing
   * through these saves creating views for every record (record.bytes and
   * record.view cost about as much as the rest of reserve and submit).
   */
  get bytes(): Uint8Array {
    return this.producer.bytes;
  }

  get view(): DataView {
    return this.producer.view;
  }

  /** reserve + copy + submit; false when the ring is too full now. */
  write(bytes: Uint8Array): boolean {
    this.checkOpen();
    return this.producer.write(bytes);
  }

  /**
   * The ring's state now: size, bytes not yet drained (`available`, as
   * bpf_ringbuf_query() gives it to BPF programs), `free` bytes, both
   * positions, and records still reserved.
   */
  query(): { size: number; available: number; free: number; consumerPos: bigint; producerPos: bigint; outstanding: number } {
    const available = this.producer.available();
    const { consumer, producer } = this.producer.position();
    return { size: this.size, available, free: this.size - available, consumerPos: consumer, producerPos: producer, outstanding: this.producer.outstanding };
  }

  /** Times a drain woke reserveBlocking(). */
  get wakeups(): number {
    return this.waiter.wakeups;
  }

  /**
   * Unmaps the ring. Records still reserved throw ClosedError on submit or
   * discard; their byte views stay safe to touch (they read zeros).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.producer.close();
    this.waiter.close();
    this.epoll.close();
    this.consumerPage.release();
    this.producerPages.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`user ring buffer '${this.name}'`);
  }
}
