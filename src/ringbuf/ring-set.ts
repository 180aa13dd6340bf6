// Many ring buffers served by one wake-up source, like libbpf's ring_buffer
// with several rings: every ring's map fd sits in one epoll instance and the
// epoll fd is watched on the Node event loop, so any ring's wake-up wakes the
// set. Only rings with data are drained. Which ones have data is read from
// their positions in shared memory (two loads a ring, cheaper than an
// epoll_wait call), which also finds records of BPF_RB_NO_WAKEUP producers
// that epoll never hears about. Rings can come from any number of objects.
import { ClosedError, SyscallError, TsbpfError } from '../errors.js';
import { Epoll, EPOLLIN } from '../syscall/index.js';
import type { RecordCallback } from './consumer.js';
import type { RingBuffer } from './ringbuf.js';
import { FdWaiter, stopWhenClosed, subscriptionBudget, waitTimeout, type SubscribeOptions, type Subscription, type WaitOptions } from './waiter.js';

/** A record copied out of one of the set's rings. */
export interface RingRecord {
  ring: RingBuffer;
  data: Uint8Array;
}

interface Member {
  ring: RingBuffer;
  onRecord: RecordCallback | undefined;
  /** Cancels the ring's close hook, which takes it out of the set. */
  forget: () => void;
}

export class RingBufferSet {
  private readonly epoll = new Epoll();
  private readonly waiter = new FdWaiter(this.epoll.fd, 'ring buffer set');
  // A ring's index here is its epoll key.
  private members: (Member | undefined)[] = [];
  // Where the next budget-limited drain starts, so a busy ring cannot starve the others.
  private nextIndex = 0;
  private closed = false;

  /**
   * Adds a ring; `onRecord` receives its records in consume() and poll()
   * (records() copies them instead and does not need one).
   */
  add(ring: RingBuffer, onRecord?: RecordCallback): this {
    this.checkOpen();
    if (ring.isClosed) throw new ClosedError(`ring buffer '${ring.name}'`);
    if (this.members.some((member) => member?.ring === ring)) throw new TsbpfError(`ring buffer '${ring.name}' is already in this set`);
    const index = this.members.length;
    this.epoll.add(ring.mapFd, index, EPOLLIN, `ring buffer '${ring.name}'`);
    // A closed ring leaves while its fd is still its own: by then another ring may get the same fd number (and be added).
    this.members.push({ ring, onRecord, forget: ring.whenClosed(() => this.drop(index)) });
    return this;
  }

  /** Takes a ring out of the set (the ring itself stays open). */
  remove(ring: RingBuffer): void {
    this.checkOpen();
    const index = this.members.findIndex((member) => member?.ring === ring);
    if (index < 0) throw new TsbpfError(`ring buffer '${ring.name}' is not in this set`);
    this.drop(index);
  }

  get rings(): RingBuffer[] {
    return this.present().map(([, member]) => member.ring);
  }

  /**
   * Drains every ring now, at most `budget` records in all (taken from the
   * rings in turn, starting after the ring where the last budget ran out or
   * a callback returned false, which stops the drain as it stops one ring's);
   * returns how many were delivered. Never waits.
   */
  consume(budget = Number.POSITIVE_INFINITY): number {
    this.checkOpen();
    return this.drainUntilStopped(this.present().map(([index]) => index), budget, () => this.closed).delivered;
  }

  /**
   * Waits up to `timeoutMs` until a ring has records, then drains only the
   * rings that are ready (at most `budget` records); returns how many were
   * delivered (0 on timeout).
   */
  async poll(timeoutMs: number, budget = Number.POSITIVE_INFINITY): Promise<number> {
    this.checkOpen();
    waitTimeout(timeoutMs); // a bad timeout is an error whether or not records are waiting
    const delivered = this.drainUntilStopped(this.readyIndexes(), budget, () => this.closed).delivered;
    if (delivered > 0 || !(await this.wait({ timeoutMs }))) return delivered;
    return this.drainUntilStopped(this.readyIndexes(), budget, () => this.closed).delivered;
  }

  /** Resolves true as soon as any ring has something to read, false on timeout or abort. */
  wait(options: WaitOptions = {}): Promise<boolean> {
    this.checkOpen();
    return this.waiter.wait(() => this.present().some(([, member]) => member.ring.available() > 0), options);
  }

  /**
   * Drains the rings that are ready, with their add() callbacks, from inside
   * each wake-up of the set (at most `budget` records a wake-up), until the
   * subscription or the set is closed: RingBuffer.subscribe() for many rings.
   */
  subscribe(options: SubscribeOptions = {}): Subscription {
    this.checkOpen();
    const budget = subscriptionBudget(options.budget);
    const subscription = this.waiter.subscribe(() => {
      const { delivered, stopped } = this.drainUntilStopped(this.readyIndexes(), budget, () => subscription.closed);
      return delivered >= budget || stopped;
    }, options);
    return subscription;
  }


  /**
   * Yields a copy of every record of every ring, tagged with its ring and
   * taken from the rings in turn, until the signal aborts or the set is
   * closed. A record leaves its ring only when it is yielded, so breaking out
   * of the loop loses nothing, and the backlog stays in the rings, never in
   * JS memory: the consumer's pace governs.
   */
  async *records(options: { signal?: AbortSignal } = {}): AsyncGenerator<RingRecord> {
    let record: RingRecord | undefined;
    const take = (ring: RingBuffer): RecordCallback => (view, offset, length) => {
      record = { ring, data: new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + length)) };
    };
    while (!this.closed && !options.signal?.aborted) {
      record = undefined;
      const ready = this.readyIndexes();
      this.drain(ready, 1, take);
      if (record) {
        yield record;
        continue;
      }
      // Ready but nothing delivered: the head record is mid-write; let the event loop run.
      if (ready.length > 0) await new Promise((resolve) => setImmediate(resolve));
      else await this.wait({ signal: options.signal });
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<RingRecord> {
    return this.records();
  }

  stats(): { wakeups: number } {
    return { wakeups: this.waiter.wakeups };
  }

  /** Stops watching the rings (which stay open: they belong to their objects). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiter.close();
    this.epoll.close();
    for (const member of this.members) member?.forget();
    this.members = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Drains the rings at `indexes` in turn, at most `budget` records in all,
   * through their callbacks or `callbackFor`'s; stops early, after a ring's
   * consume(), once `stopped()` holds.
   */
  private drain(
    indexes: number[],
    budget: number,
    callbackFor?: (ring: RingBuffer, onRecord: RecordCallback | undefined) => RecordCallback | undefined,
    stopped?: () => boolean,
  ): number {
    if (Number.isNaN(budget)) throw new TsbpfError('the budget is NaN, not a number of records');
    if (indexes.length === 0 || budget <= 0) return 0;
    indexes.sort((a, b) => a - b);
    // Start at the first ready ring at or after nextIndex, wrapping around.
    const first = Math.max(0, indexes.findIndex((index) => index >= this.nextIndex));
    let delivered = 0;
    for (let i = 0; i < indexes.length; i++) {
      const index = indexes[(first + i) % indexes.length]!;
      const member = this.members[index];
      if (!member) continue;
      const onRecord = callbackFor ? callbackFor(member.ring, member.onRecord) : member.onRecord;
      if (!onRecord) throw new TsbpfError(`ring buffer '${member.ring.name}' was added without a callback: pass one to add(), or use records()`);
      delivered += member.ring.consume(onRecord, budget - delivered);
      if (delivered >= budget || stopped?.()) {
        this.nextIndex = index + 1;
        return delivered;
      }
    }
    return delivered;
  }

  /**
   * drain() with the add() callbacks, which stops — as one ring's consume()
   * does — after a record whose callback returned false, and after the record
   * in hand once `closed()` holds (closed from inside a callback).
   */
  private drainUntilStopped(indexes: number[], budget: number, closed: () => boolean): { delivered: number; stopped: boolean } {
    let stopped = false;
    const delivered = this.drain(indexes, budget, (_ring, onRecord) => onRecord && stopWhenClosed(onRecord, closed, () => (stopped = true)), () => stopped);
    return { delivered, stopped };
  }

  private readyIndexes(): number[] {
    return this.present().filter(([, member]) => member.ring.available() > 0).map(([index]) => index);
  }

  /** The rings in the set, with their epoll keys (a ring leaves when it is closed). */
  private present(): [number, Member][] {
    const present: [number, Member][] = [];
    this.members.forEach((member, index) => {
      if (member) present.push([index, member]);
    });
    return present;
  }

  private drop(index: number): void {
    const member = this.members[index];
    if (!member) return;
    this.members[index] = undefined;
    member.forget();
    try {
      this.epoll.remove(member.ring.mapFd, `ring buffer '${member.ring.name}'`);
    } catch (error) {
      // The fd was closed behind the ring's back, which took it out of the epoll set: EBADF, or ENOENT once its number names another file.
      if (!(error instanceof SyscallError && (error.code === 'EBADF' || error.code === 'ENOENT'))) throw error;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('ring buffer set');
  }
}
