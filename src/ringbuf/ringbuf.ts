// A BPF_MAP_TYPE_RINGBUF map mapped into this process and read with
// RingConsumer, with waiting on the Node event loop.
//
// Two mappings, as the kernel allows them: the consumer page read-write at
// offset 0, and the producer page plus the data area mapped twice, read-only,
// at one page in. Sizes come from the kernel (map info), not from the spec.
import { basename } from 'node:path';
import { ClosedError, TsbpfError } from '../errors.js';
import { releaseAllOrThrow } from '../release.js';
import { closeFd, mapInfoByFd, objGet, PAGE_SIZE, PROT_READ, PROT_WRITE, SharedMapping } from '../syscall/index.js';
import { RingConsumer, type ConsumerStats, type RecordCallback } from './consumer.js';
import { FdWaiter, stopWhenClosed, subscriptionBudget, waitTimeout, type SubscribeOptions, type Subscription, type WaitOptions } from './waiter.js';

export type { SubscribeOptions, Subscription, WaitOptions };

const BPF_MAP_TYPE_RINGBUF = 27;
/** Overwrite mode (kernels after 6.18): producers overwrite the oldest records. */
export const BPF_F_RB_OVERWRITE = 1 << 19;


export class RingBuffer {
  readonly size: number;
  private readonly consumerPage: SharedMapping;
  private readonly producerPages: SharedMapping;
  private readonly consumer: RingConsumer;
  private readonly waiter: FdWaiter;
  private closed = false;
  private ownedFd: number | undefined;
  private readonly closeHooks = new Set<() => void>();

  /**
   * @param readDropped reads the ring's drop counter, when the BPF side keeps
   *   one (programs/include/tsbpf.h): reservations that failed because the ring was full
   */
  constructor(
    readonly name: string,
    /** The ring's map fd (owned by its map, not by this object). */
    readonly mapFd: number,
    private readonly readDropped?: () => bigint,
  ) {
    const info = mapInfoByFd(mapFd);
    if (info.u32('type') !== BPF_MAP_TYPE_RINGBUF) throw new TsbpfError(`map '${name}' is not a ring buffer (map type ${info.u32('type')})`);
    if (info.u32('map_flags') & BPF_F_RB_OVERWRITE) {
      // Records can then be overwritten while being read; reading them needs the overwrite position too.
      throw new TsbpfError(`ring buffer '${name}' is in overwrite mode (BPF_F_RB_OVERWRITE), which tsbpf's consumer does not read yet`);
    }
    this.size = info.u32('max_entries');
    this.consumerPage = SharedMapping.map(mapFd, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, `ring buffer '${name}' consumer page`);
    try {
      this.producerPages = SharedMapping.map(mapFd, PAGE_SIZE, PAGE_SIZE + 2 * this.size, PROT_READ, `ring buffer '${name}' data`);
    } catch (error) {
      this.consumerPage.release();
      throw error;
    }
    this.consumer = new RingConsumer({
      consumerPos: new BigUint64Array(this.consumerPage.buffer, 0, 1),
      producerPos: new BigUint64Array(this.producerPages.buffer, 0, 1),
      data: this.producerPages.buffer,
      dataOffset: PAGE_SIZE,
      size: this.size,
    });
    this.waiter = new FdWaiter(mapFd, `ring buffer '${name}'`);
  }

  /**
   * The ring buffer pinned at `path` in bpffs (by `tsbpf load --pin`,
   * `BpfMap.pin()` or any other loader). Reading starts from the positions in
   * shared memory: where the previous consumer left off. The fd opened here
   * is closed with the ring.
   */
  static openPinned(path: string): RingBuffer {
    const fd = objGet(path);
    try {
      const ring = new RingBuffer(basename(path), fd);
      ring.ownedFd = fd;
      return ring;
    } catch (error) {
      closeFd(fd);
      throw error;
    }
  }

  /** Delivers every committed record now (at most `budget`); returns how many. Never waits. */
  consume(callback: RecordCallback, budget?: number): number {
    this.checkOpen();
    return this.consumer.consume(callback, budget);
  }

  /** Bytes produced and not yet consumed (includes records still being written). */
  available(): number {
    this.checkOpen();
    return this.consumer.available();
  }

  /**
   * The ring's state now, as bpf_ringbuf_query() gives it to BPF programs:
   * size, bytes not yet consumed, and both positions.
   */
  query(): { size: number; available: number; consumerPos: bigint; producerPos: bigint } {
    const { consumer, producer } = this.positions();
    return { size: this.size, available: Number(producer - consumer), consumerPos: consumer, producerPos: producer };
  }

  /**
   * Records, bytes, discarded records and BUSY stalls seen by this consumer,
   * wake-ups of wait(), and records the producers dropped because the ring was
   * full — counted by the BPF program through programs/include/tsbpf.h
   * (undefined when the program does not use it: the kernel itself keeps no count).
   */
  stats(): ConsumerStats & { wakeups: number; dropped: number | undefined } {
    this.checkOpen();
    const dropped = this.readDropped?.();
    return { ...this.consumer.stats(), wakeups: this.waiter.wakeups, dropped: dropped === undefined ? undefined : Number(dropped) };
  }

  /** consumer_pos and producer_pos as they are in shared memory now. */
  positions(): { consumer: bigint; producer: bigint } {
    this.checkOpen();
    return this.consumer.position();
  }

  /**
   * Resolves true as soon as there is something to read, false on timeout or
   * abort. Waiting uses the map fd's readiness on the event loop; it is
   * level-triggered and checks the ring first, so no wake-up is lost.
   */
  wait(options: WaitOptions = {}): Promise<boolean> {
    this.checkOpen();
    return this.waiter.wait(() => this.consumer.available() > 0, options);
  }

  /** Waits up to `timeoutMs` for records, then delivers them; returns how many. */
  async poll(callback: RecordCallback, timeoutMs: number, budget?: number): Promise<number> {
    waitTimeout(timeoutMs); // a bad timeout is an error whether or not records are waiting
    const delivered = this.consume(callback, budget);
    if (delivered > 0 || !(await this.wait({ timeoutMs }))) return delivered;
    return this.consume(callback, budget);
  }

  /**
   * Delivers records to `callback` as they arrive, called from inside the
   * event loop's wake-up (no promise in between: libbpf's latency), at most
   * `budget` per wake-up (the rest come at the next turn of the loop), until
   * the subscription or the ring is closed — from inside the callback too:
   * no record is delivered after that. A callback returning false pauses the
   * drain until the next turn of the loop. Excludes wait() and poll() meanwhile.
   */
  subscribe(callback: RecordCallback, options: SubscribeOptions = {}): Subscription {
    this.checkOpen();
    const budget = subscriptionBudget(options.budget);
    let stopped = false;
    const deliver = stopWhenClosed(callback, () => subscription.closed, () => (stopped = true));
    const subscription = this.waiter.subscribe(() => {
      stopped = false;
      return this.consumer.consume(deliver, budget) >= budget || stopped;
    }, options, () => this.consumer.stop());
    return subscription;
  }


  /**
   * Yields a copy of every record until the signal aborts or the ring is
   * closed. A record leaves the ring only when it is yielded, so breaking out
   * of the loop loses nothing, and the backlog stays in the ring, never in
   * JS memory: the consumer's pace governs.
   */
  async *records(options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    let record: Uint8Array | undefined;
    const bytes = this.consumer.bytes;
    const take: RecordCallback = (_view, offset, length) => {
      record = bytes.slice(offset, offset + length);
    };
    while (!this.closed && !options.signal?.aborted) {
      record = undefined;
      this.consume(take, 1);
      if (record) {
        yield record;
        continue;
      }
      // Still empty (or the head record is mid-write): let the event loop run.
      if (this.consumer.available() > 0) await new Promise((resolve) => setImmediate(resolve));
      else await this.wait({ signal: options.signal });
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    return this.records();
  }

  /** Unmaps the ring. Views handed out earlier stay safe to touch: they read zeros. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const hooks = [...this.closeHooks];
    this.closeHooks.clear();
    const ownedFd = this.ownedFd;
    releaseAllOrThrow([
      // Sets let go of the fd while it still names this ring: once closed, its number may name another.
      ...hooks,
      // Closed from inside a callback: the consume() in progress stops before it reads the released mapping.
      () => this.consumer.stop(),
      () => this.waiter.close(),
      () => this.consumerPage.release(),
      () => this.producerPages.release(),
      ...(ownedFd === undefined ? [] : [() => closeFd(ownedFd)]),
    ]);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Runs `hook` when the ring is closed, first thing (RingBufferSet takes the
   * ring out of its epoll instance then); returns what cancels it.
   * @internal
   */
  whenClosed(hook: () => void): () => void {
    this.closeHooks.add(hook);
    return () => this.closeHooks.delete(hook);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`ring buffer '${this.name}'`);
  }
}
