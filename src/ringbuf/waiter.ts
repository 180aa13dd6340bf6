// Waiting for an fd on the Node event loop, with a timeout and an AbortSignal,
// or subscribing to it: what RingBuffer, RingBufferSet, PerfBuffer and
// UserRingBuffer share. The watch is level-triggered and only active while
// someone waits or is subscribed; the caller's readiness check runs first, so
// a record that arrived before the wait began is never missed.
import { TsbpfError } from '../errors.js';
import { FdWatcher } from '../syscall/index.js';
import { MAX_TIMER_MS, setLongTimeout } from '../timers.js';

// koffi calls the watcher's callback from libuv's poll phase without running
// microtasks afterwards (Node does that only for its own callbacks), so the
// code awaiting a resolved wait would resume at the next timer or immediate,
// tens of µs later. Node's own after-callback step runs them now (an exception
// from a nextTick callback there is FdWatcher's to raise again); where it is
// missing, an immediate (run right after the poll phase) does it.
const runTicksAndMicrotasks = (process as unknown as { _tickCallback?: () => void })._tickCallback;
function resumeWaiters(): void {
  if (runTicksAndMicrotasks) runTicksAndMicrotasks.call(process);
  else setImmediate(() => {});
}

export interface WaitOptions {
  /**
   * Give up after this many milliseconds (default, and Infinity: wait until
   * aborted). Negative values do not wait; NaN is an error.
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SubscribeOptions {
  /** Records (samples) delivered per wake-up at most: a positive integer or Infinity (the default); the rest come at the next turn of the event loop. */
  budget?: number;
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

/** The check interval in ms, or undefined for never (Infinity). */
function checkInterval(value: number | undefined): number | undefined {
  const interval = value ?? DEFAULT_CHECK_INTERVAL_MS;
  if (interval === Number.POSITIVE_INFINITY) return undefined;
  if (!Number.isFinite(interval) || interval < 1 || interval > MAX_TIMER_MS) {
    throw new TsbpfError(`checkIntervalMs ${interval} must be between 1 and ${MAX_TIMER_MS} milliseconds, or Infinity`);
  }
  return interval;
}

/**
 * `callback`, made to return false — stopping the drain after the record it
 * was given, which is not lost — once `closed()` holds or when it returned
 * false itself; `onStop` hears of it. (Checked after the callback, so one that
 * closes its own subscription gets no record more.)
 */
export function stopWhenClosed<C extends (...args: never[]) => boolean | void>(callback: C, closed: () => boolean, onStop: () => void): C {
  return ((...args: Parameters<C>) => {
    const result = callback(...args);
    if (result !== false && !closed()) return result;
    onStop();
    return false;
  }) as C;
}

/** A wait's timeout in ms (see WaitOptions), or undefined for none. */
export function waitTimeout(timeoutMs: number | undefined): number | undefined {
  if (timeoutMs === undefined || timeoutMs === Number.POSITIVE_INFINITY) return undefined;
  if (Number.isNaN(timeoutMs)) throw new TsbpfError('timeoutMs is NaN, not a number of milliseconds');
  return Math.max(0, timeoutMs);
}

/** A subscription's per-wake-up budget: a positive integer, or Infinity (the default). */
export function subscriptionBudget(budget: number | undefined): number {
  const value = budget ?? Number.POSITIVE_INFINITY;
  if (value !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(value) && value > 0)) {
    throw new TsbpfError(`budget ${value} must be a positive integer, or Infinity`);
  }
  return value;
}

export class FdWaiter {
  /** Times the fd woke a waiter. */
  wakeups = 0;
  private readonly watcher: FdWatcher;
  private waiting = false;
  private cancel: (() => void) | undefined;
  /** Settles the pending wait() as ready and returns its clean-up; set while one is pending. */
  private wake: (() => () => void) | undefined;
  /** The callback the fd is watched with, while it is. */
  private watchingWith: (() => void) | undefined;

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
    let timeoutMs: number | undefined;
    try {
      timeoutMs = waitTimeout(options.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (isReady()) return Promise.resolve(true);
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve(false);
    this.waiting = true;
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (ready: boolean): boolean => {
        if (settled) return false;
        settled = true;
        this.waiting = false;
        this.cancel = undefined;
        this.wake = undefined;
        resolve(ready);
        return true;
      };
      const cleanUp = () => {
        cancelTimer?.();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (!settle(false)) return;
        cleanUp();
        this.stopWatching();
      };
      const cancelTimer = timeoutMs === undefined ? undefined : setLongTimeout(onAbort, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.cancel = onAbort;
      this.wake = () => {
        settle(true);
        return cleanUp;
      };
      this.watchWith(this.onReadyForWait);
    });
  }

  /**
   * The fd is ready while a wait() is pending. The waiter resumes first;
   * clearing its timer and, unless it (or anyone it resumed) waits again,
   * stopping the watch come after: stopping costs ~6 µs through koffi, and a
   * loop of `await ring.poll()` keeps the watch from one wait to the next.
   */
  private readonly onReadyForWait = () => {
    this.wakeups++;
    const wake = this.wake;
    try {
      if (wake) {
        const cleanUp = wake();
        try {
          resumeWaiters();
        } finally {
          cleanUp();
        }
      }
    } finally {
      // A wait() or subscribe() that started meanwhile keeps (or has replaced) the watch.
      if (!this.waiting && this.watchingWith === this.onReadyForWait) this.stopWatching();
    }
  };

  private watchWith(onReady: () => void): void {
    if (this.watchingWith === onReady) return;
    this.watcher.start(onReady, this.events);
    this.watchingWith = onReady;
  }

  private stopWatching(): void {
    this.watchingWith = undefined;
    this.watcher.stop();
  }

  /**
   * Calls `drain` from inside each wake-up of the fd — no promise between the
   * kernel's wake-up and the records, the shortest latency — and every
   * `checkIntervalMs`, until the subscription is closed. `drain` returns true
   * when it stopped with records left (a budget, a callback returning false):
   * it runs again at the next turn of the event loop, whether or not the fd
   * says so again (perf fds do not). `onClose` runs when the subscription
   * closes (a drain in progress must stop: close() may come from inside one
   * of its callbacks). Excludes wait().
   */
  subscribe(drain: () => boolean, options: SubscribeOptions = {}, onClose?: () => void): Subscription {
    const interval = checkInterval(options.checkIntervalMs);
    if (this.waiting) throw new TsbpfError(`${this.what} already has a waiter`);
    this.waiting = true;
    let active = true;
    let timer: NodeJS.Timeout | undefined;
    let again: NodeJS.Immediate | undefined;
    const close = () => {
      if (!active) return;
      active = false;
      onClose?.();
      this.stopWatching();
      clearInterval(timer);
      clearImmediate(again);
      this.waiting = false;
      this.cancel = undefined;
    };
    const run = () => {
      if (!active) return;
      let more: boolean;
      try {
        more = drain();
      } catch (error) {
        close();
        if (options.onError) options.onError(error);
        else setImmediate(() => { throw error; });
        return;
      }
      if (more && active && !again) again = setImmediate(runAgain);
    };
    const runAgain = () => {
      again = undefined;
      run();
    };
    this.cancel = close;
    try {
      this.watchWith(() => {
        this.wakeups++;
        run();
        resumeWaiters();
      });
    } catch (error) {
      close();
      throw error;
    }
    if (interval !== undefined) timer = setInterval(run, interval);
    // What the fd will not report: records already there, and — perf fds hand
    // out readiness once — what arrives before the event loop watches the fd,
    // which it does at its next poll phase: check in the check phase after it.
    again = setImmediate(() => {
      again = undefined;
      run();
      if (active && !again) again = setImmediate(runAgain);
    });
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
    this.watchingWith = undefined;
    this.watcher.close();
  }
}
