// Node's timers wait 2^31 - 1 ms at most: a longer delay fires after 1 ms,
// with a TimeoutOverflowWarning. Longer delays take several timers in a row.

/** The longest delay one Node timer takes, in milliseconds (2^31 - 1). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `callback` once `ms` milliseconds have passed, however many (Infinity:
 * never); returns what cancels it. An unref'd timer does not keep the process alive.
 */
export function setLongTimeout(callback: () => void, ms: number, { unref = false } = {}): () => void {
  let timer: NodeJS.Timeout;
  const start = (left: number) => {
    timer = setTimeout(left > MAX_TIMER_MS ? () => start(left - MAX_TIMER_MS) : callback, Math.min(left, MAX_TIMER_MS));
    if (unref) timer.unref();
  };
  start(ms);
  return () => clearTimeout(timer);
}
