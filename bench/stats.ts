// Small helpers shared by the benchmarks and bench/table.ts.

/** Median (the mean of the middle two for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nanoseconds on a monotonic clock (CLOCK_MONOTONIC, as the C anchors use). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** The warm-phase summary the benchmarks print: median and best of each timed part, per round. */
export function summarize<K extends string>(samples: readonly Record<K, number>[], parts: readonly K[]): Record<string, number> {
  const summary: Record<string, number> = {};
  for (const part of parts) {
    const values = samples.map((sample) => sample[part]);
    const suffix = part.replace(/^./, (c) => c.toUpperCase());
    summary[`median${suffix}`] = Math.round(median(values));
    summary[`best${suffix}`] = Math.min(...values);
  }
  return summary;
}

/** Runs `once` warmup + rounds times and keeps the samples of the timed rounds. */
export function timedRounds<T>(rounds: number, warmup: number, once: () => T): T[] {
  const samples: T[] = [];
  for (let round = 0; round < warmup + rounds; round++) {
    const sample = once();
    if (round >= warmup) samples.push(sample);
  }
  return samples;
}
