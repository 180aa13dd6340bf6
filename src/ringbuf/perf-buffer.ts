// A BPF_MAP_TYPE_PERF_EVENT_ARRAY map read like libbpf's perf_buffer: one
// PERF_COUNT_SW_BPF_OUTPUT perf event per online CPU, its ring mapped and
// read with PerfReader, its fd stored in the map at key = CPU (where
// bpf_perf_event_output(…, BPF_F_CURRENT_CPU, …) looks), and every event in
// one epoll instance, so a single FdWaiter wakes the event loop for all CPUs.
//
// A perf fd's readiness is not level-triggered: perf_poll() hands out each
// wake-up once and resets it, so whoever polls first takes it. The event
// loop's poll of the epoll fd takes it when the watch is registered (epoll
// polls an fd as it is added, then again before reporting it): a sample
// written between wait()'s check and that registration wakes nobody. So
// which CPUs have data is read from each ring's data_head (a load per CPU,
// cheaper than epoll_wait() anyway), never asked of epoll, and wait() looks
// at the rings again once the watch is surely registered.
import { onlineCpus } from '../cpus.js';
import { ClosedError, TsbpfError } from '../errors.js';
import { releaseAll } from '../release.js';
import {
  closeFd, Epoll, EPOLLIN, ioctl, mapDelete, mapInfoByFd, mapUpdate, PAGE_SIZE, PERF_ATTR_FLAG_DISABLED, PERF_COUNT_SW_BPF_OUTPUT,
  PERF_EVENT_IOC_ENABLE, PERF_SAMPLE_RAW, PERF_TYPE_SOFTWARE, perfEventOpen, PROT_READ, PROT_WRITE, SharedMapping,
} from '../syscall/index.js';
import { PerfReader, type LostCallback, type PerfReaderStats, type SampleCallback } from './perf-reader.js';
import { FdWaiter, stopWhenClosed, subscriptionBudget, waitTimeout, type SubscribeOptions, type Subscription, type WaitOptions } from './waiter.js';

const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
const DEFAULT_PAGES_PER_CPU = 64;

export interface PerfBufferOptions {
  /** Data pages of each CPU's ring: a power of two (default 64); one control page is added. */
  pagesPerCpu?: number;
  /**
   * Wake a waiter after this many samples on a CPU (default 1). Larger values
   * save wake-ups; samples below the count wait for the next one, or a timeout.
   */
  wakeupEvents?: number;
  /**
   * Told of samples the kernel dropped because a CPU's ring was full. The
   * kernel reports them in the ring, before the next sample it manages to
   * write there, whichever way the buffer is read (consume, poll, records).
   */
  onLost?: LostCallback;
}

/** A sample copied out of the ring. */
export interface PerfSample {
  cpu: number;
  /** The raw bytes, padded by the kernel (see SampleCallback). */
  data: Uint8Array;
}

export interface PerfBufferStats extends PerfReaderStats {
  /** Times wait() was woken by the kernel. */
  wakeups: number;
  perCpu: (PerfReaderStats & { cpu: number })[];
}

interface CpuRing {
  readonly cpu: number;
  readonly fd: number;
  readonly mapping: SharedMapping;
  readonly reader: PerfReader;
}

export class PerfBuffer {
  /** The CPUs with a ring: online ones below the map's max_entries. */
  readonly cpus: readonly number[];
  readonly pagesPerCpu: number;
  private readonly rings: CpuRing[] = [];
  private readonly epoll: Epoll;
  private readonly waiter: FdWaiter;
  /** Where the next consume() starts, so a budget (or a callback returning false) does not always favour the first CPUs. */
  private next = 0;
  private consuming = false;
  /** A callback of the consume() in progress, or its onLost, closed the buffer or a subscription. */
  private stopRequested = false;
  private released = false;

  constructor(
    readonly name: string,
    private readonly mapFd: number,
    options: PerfBufferOptions = {},
  ) {
    const pages = options.pagesPerCpu ?? DEFAULT_PAGES_PER_CPU;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0 || pages > 2 ** 30 / PAGE_SIZE) {
      throw new TsbpfError(`perf buffer '${name}': pagesPerCpu ${pages} must be a power of two (1, 2, 4, …) the kernel can map`);
    }
    const wakeupEvents = options.wakeupEvents ?? 1;
    if (!Number.isInteger(wakeupEvents) || wakeupEvents < 1 || wakeupEvents > 0xffffffff) {
      throw new TsbpfError(`perf buffer '${name}': wakeupEvents ${wakeupEvents} must be a positive integer`);
    }
    this.pagesPerCpu = pages;
    const info = mapInfoByFd(mapFd);
    if (info.u32('type') !== BPF_MAP_TYPE_PERF_EVENT_ARRAY) throw new TsbpfError(`map '${name}' is not a perf event array (map type ${info.u32('type')})`);
    // Like libbpf: CPUs the map has no slot for get no ring.
    this.cpus = onlineCpus().filter((cpu) => cpu < info.u32('max_entries'));
    if (this.cpus.length === 0) throw new TsbpfError(`perf buffer '${name}': max_entries ${info.u32('max_entries')} leaves no online CPU a slot`);
    this.epoll = new Epoll();
    this.waiter = new FdWaiter(this.epoll.fd, `perf buffer '${name}'`);
    try {
      for (const cpu of this.cpus) this.openRing(cpu, wakeupEvents, options.onLost);
    } catch (error) {
      // The failure that stopped the set-up says more than any while undoing it.
      this.release();
      throw error;
    }
  }

  get closed(): boolean {
    return this.released;
  }

  /**
   * Delivers the samples written so far on every CPU, each CPU's in order, at
   * most `budget` in all; returns how many. Never waits.
   */
  consume(onSample: SampleCallback, budget = Number.POSITIVE_INFINITY): number {
    this.checkOpen();
    if (Number.isNaN(budget)) throw new TsbpfError('consume(): the budget is NaN, not a number of samples');
    // A nested call would read other CPUs while one is mid-read: refuse it as PerfReader does.
    if (this.consuming) throw new TsbpfError('consume() called from inside one of its callbacks');
    this.consuming = true;
    this.stopRequested = false;
    const rings = this.rings;
    let delivered = 0;
    try {
      for (let i = 0; i < rings.length && delivered < budget; i++) {
        const index = (this.next + i) % rings.length;
        const reader = rings[index]!.reader;
        delivered += reader.read(onSample, budget - delivered);
        // A callback that returns false pauses like a budget: the next call starts with the next CPU, or this one would starve the others.
        if (delivered >= budget || reader.callbackStopped) this.next = (index + 1) % rings.length;
        if (reader.callbackStopped || this.stopRequested) break;
      }
      return delivered;
    } finally {
      this.consuming = false;
    }
  }

  /** Ends a consume() in progress after the sample (or lost record) being delivered, on every CPU. */
  private stopReading(): void {
    this.stopRequested = true;
    for (const ring of this.rings) ring.reader.stop();
  }

  /** Waits up to `timeoutMs` for samples, then delivers them; returns how many. */
  async poll(onSample: SampleCallback, timeoutMs: number, budget?: number): Promise<number> {
    waitTimeout(timeoutMs); // a bad timeout is an error whether or not samples are waiting
    const delivered = this.consume(onSample, budget);
    if (delivered > 0 || !(await this.wait({ timeoutMs }))) return delivered;
    return this.consume(onSample, budget);
  }

  /**
   * Resolves true as soon as some CPU's ring has something to read, false on
   * timeout or abort. The rings are checked first, and again once the event
   * loop surely watches the epoll fd (see the top of this file), so no
   * wake-up is lost.
   */
  async wait(options: WaitOptions = {}): Promise<boolean> {
    this.checkOpen();
    const pending = () => this.rings.some((ring) => ring.reader.hasData());
    const found = new AbortController();
    const cancelRecheck = afterNextPollPhase(() => {
      if (pending()) found.abort();
    });
    try {
      const signal = options.signal ? AbortSignal.any([options.signal, found.signal]) : found.signal;
      return (await this.waiter.wait(pending, { timeoutMs: options.timeoutMs, signal })) || found.signal.aborted;
    } finally {
      cancelRecheck();
    }
  }

  /**
   * Delivers samples to `onSample` as they arrive, from inside each wake-up
   * (at most `budget` a wake-up), until the subscription or the buffer is
   * closed; see RingBuffer.subscribe().
   */
  subscribe(onSample: SampleCallback, options: SubscribeOptions = {}): Subscription {
    this.checkOpen();
    const budget = subscriptionBudget(options.budget);
    let stopped = false;
    const deliver = stopWhenClosed(onSample, () => subscription.closed, () => (stopped = true));
    const subscription = this.waiter.subscribe(() => {
      stopped = false;
      return this.consume(deliver, budget) >= budget || stopped;
    }, options, () => this.stopReading());
    return subscription;
  }


  /**
   * Yields a copy of every sample until the signal aborts or the buffer is
   * closed. A sample leaves its ring only when it is yielded, so breaking out
   * of the loop loses nothing, and the backlog stays in the rings, never in
   * JS memory: the consumer's pace governs. CPUs take turns.
   */
  async *records(options: { signal?: AbortSignal } = {}): AsyncGenerator<PerfSample> {
    let sample: PerfSample | undefined;
    const take: SampleCallback = (view, offset, length, cpu) => {
      sample = { cpu, data: new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + length)) };
    };
    while (!this.released && !options.signal?.aborted) {
      sample = undefined;
      this.consume(take, 1);
      if (sample) yield sample;
      else await this.wait({ signal: options.signal });
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<PerfSample> {
    return this.records();
  }

  /** Samples, lost samples, wrapped and skipped records over all CPUs and per CPU, and wake-ups. */
  stats(): PerfBufferStats {
    this.checkOpen();
    const perCpu = this.rings.map((ring) => ({ cpu: ring.cpu, ...ring.reader.stats() }));
    const total = (key: keyof PerfReaderStats) => perCpu.reduce((sum, cpu) => sum + cpu[key], 0);
    return { samples: total('samples'), lost: total('lost'), wrapped: total('wrapped'), skipped: total('skipped'), wakeups: this.waiter.wakeups, perCpu };
  }

  /**
   * Takes the events out of the map, unmaps the rings and closes the fds.
   * Views handed out earlier stay safe to touch: they read zeros.
   */
  close(): void {
    if (this.released) return;
    const errors = this.release();
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private openRing(cpu: number, wakeupEvents: number, onLost: LostCallback | undefined): void {
    const what = `perf buffer '${this.name}' CPU ${cpu}`;
    const fd = perfEventOpen({
      type: PERF_TYPE_SOFTWARE,
      config: PERF_COUNT_SW_BPF_OUTPUT,
      sample_type: PERF_SAMPLE_RAW,
      sample_period: 1,
      wakeup_events: wakeupEvents,
      flags: PERF_ATTR_FLAG_DISABLED,
    }, -1, cpu, what);
    let mapping: SharedMapping;
    try {
      // Writable: the kernel then treats the ring as one we consume (data_tail), never overwriting unread records.
      mapping = SharedMapping.map(fd, 0, (1 + this.pagesPerCpu) * PAGE_SIZE, PROT_READ | PROT_WRITE, what);
    } catch (error) {
      closeFd(fd);
      throw error;
    }
    this.rings.push({ cpu, fd, mapping, reader: new PerfReader(mapping.buffer, cpu, PAGE_SIZE, onLost) });
    this.epoll.add(fd, cpu, EPOLLIN, what);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0, what);
    mapUpdate(this.mapFd, u32(cpu), u32(fd));
  }

  /** Releases whatever is open, even after a failure half-way; returns the errors met on the way. */
  private release(): unknown[] {
    this.released = true;
    return releaseAll([
      () => this.waiter.close(),
      // Closed from inside a callback: the read in progress stops before it reads the released mapping.
      () => this.stopReading(),
      ...this.rings.flatMap((ring) => [
        // The map holds the event too: take it out so the event goes when its fd closes.
        () => mapDelete(this.mapFd, u32(ring.cpu)),
        () => ring.mapping.release(),
        () => closeFd(ring.fd),
      ]),
      () => this.epoll.close(),
    ]);
  }

  private checkOpen(): void {
    if (this.released) throw new ClosedError(`perf buffer '${this.name}'`);
  }
}

/**
 * Runs `callback` after the event loop has been through a poll phase, where
 * libuv registers the watches started before it; returns a cancel function.
 * Two immediates: the first may run before that poll phase (when started
 * from an I/O callback), the second runs in the check phase after it.
 */
function afterNextPollPhase(callback: () => void): () => void {
  let immediate = setImmediate(() => {
    immediate = setImmediate(callback);
  });
  return () => clearImmediate(immediate);
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
