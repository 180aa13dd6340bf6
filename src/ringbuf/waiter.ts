// Waiting for an fd on the Node event loop, with a timeout and an AbortSignal,
// or subscribing to it: what RingBuffer, RingBufferSet, PerfBuffer and
// UserRingBuffer share. The watch is level-triggered and only active while
// someone waits or is subscribed; the caller's readiness check runs first, so
// a record that arrived before the wait began is never missed.
import { TsbpfError } from '../errors.js';
import { FdWatcher } from '../syscall/index.js';

// koffi calls the watcher's callback from libuv's poll phase without running
// microtasks afterwards (Node does that only for its own callbacks), so the
// code awaiting a resolved wait would resume at the next timer or immediate,
// tens of µs later. Node's own after-callback step runs them now; where it is
// missing, an immediate (run right after the poll phase) does it.
const runTicksAndMicrotasks = (process as unknown as { _tickCallback?: () => void })._tickCallback;
function resumeWaiters(): void {
  if (runTicksAndMicrotasks) runTicksAndMicrotasks.call(process);
  else setImmediate(() => {});
}

export interface WaitOptions {
  /** Give up after this many milliseconds (default: wait indefinitely, until aborted). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SubscribeOptions {
  /**
   * Also drain every this many milliseconds (default 100; Infinity: never),
   * for producers that never wake anyone (BPF_RB_NO_WAKEUP).
   */
  checkIntervalMs?: number;
  /**
   * Receives an exception thrown while delivering; the subscription is closed
   * first. Without it the exception is raised as an uncaught exception, as an
   * EventEmitter does with an 'error' nobody listens to.
   */
  onError?: (error: unknown) => void;
}

/** Delivery that goes on until close() (or until the buffer is closed). */
export interface Subscription {
  close(): void;
  readonly closed: boolean;
  [Symbol.dispose](): void;
}

const DEFAULT_CHECK_INTERVAL_MS = 100;

export class FdWaiter {
  /** Times the fd woke a waiter. */
  wakeups = 0;
  private readonly watcher: FdWatcher;
  private waiting = false;
  private cancel: (() => void) | undefined;

  constructor(
    fd: number,
    private readonly what: string,
    private readonly events: { readable?: boolean; writable?: boolean } = { readable: true },
  ) {
    this.watcher = new FdWatcher(fd);
  }

  /**
   * Resolves true as soon as `isReady()` holds (checked first) or the fd
   * reports readiness, false on timeout or abort.
   */
  wait(isReady: () => boolean, options: WaitOptions = {}): Promise<boolean> {
    if (this.waiting) return Promise.reject(new TsbpfError(`${this.what} already has a waiter`));
    if (isReady()) return Promise.resolve(true);
    const { timeoutMs, signal } = options;
    if (signal?.aborted) return Promise.resolve(false);
    this.waiting = true;
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const finish = (ready: boolean) => {
        if (settled) return;
        settled = true;
        this.watcher.stop();
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiting = false;
        this.cancel = undefined;
        resolve(ready);
      };
      const onAbort = () => finish(false);
      const timer = timeoutMs !== undefined && Number.isFinite(timeoutMs) ? setTimeout(() => finish(false), Math.max(0, timeoutMs)) : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.cancel = onAbort;
      this.watcher.start(() => {
        this.wakeups++;
        finish(true);
        resumeWaiters();
      }, this.events);
    });
  }

  /**
   * Calls `drain` from inside each wake-up of the fd — no promise between the
   * kernel's wake-up and the records, the shortest latency — and every
   * `checkIntervalMs`, until the subscription is closed. Excludes wait().
   */
  subscribe(drain: () => void, options: SubscribeOptions = {}): Subscription {
    if (this.waiting) throw new TsbpfError(`${this.what} already has a waiter`);
    this.waiting = true;
    let active = true;
    let timer: NodeJS.Timeout | undefined;
    let first: NodeJS.Immediate | undefined;
    const close = () => {
      if (!active) return;
      active = false;
      this.watcher.stop();
      clearInterval(timer);
      clearImmediate(first);
      this.waiting = false;
      this.cancel = undefined;
    };
    const run = () => {
      if (!active) return;
      try {
        drain();
      } catch (error) {
        close();
        if (options.onError) options.onError(error);
        else setImmediate(() => { throw error; });
      }
    };
    this.cancel = close;
    try {
      this.watcher.start(() => {
        this.wakeups++;
        run();
        resumeWaiters();
      }, this.events);
    } catch (error) {
      close();
      throw error;
    }
    const interval = options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    if (Number.isFinite(interval)) timer = setInterval(run, Math.max(1, interval));
    // Whatever the fd will not report: perf fds hand out readiness once, and it may be gone.
    first = setImmediate(run);
    return {
      close,
      get closed() {
        return !active;
      },
      [Symbol.dispose]: close,
    };
  }

  /** Ends a pending wait (it resolves false) or subscription and stops watching for good. */
  close(): void {
    this.cancel?.();
    this.watcher.close();
  }
}
