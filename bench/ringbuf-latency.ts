// tsbpf's side of the wake-up latency benchmark of `make bench`: how long from
// a submit with default wake-up (the consumer is caught up, so the kernel
// wakes it) to the record callback on the Node event loop, with `--mode poll`
// (`await ring.poll()` in a loop: the wake-up resolves a promise) or
// `--mode subscribe` (`ring.subscribe()`: the callback runs inside the
// wake-up); bench/c/ringbuf_latency.c does the same with libbpf's
// ring_buffer__poll().
//
//   node --import tsx bench/ringbuf-latency.ts --producer build/bench/producer [--mode poll|subscribe] [--samples 3000] [--warmup 200] [--interval-us 1000]
//
// bench/c/producer.c submits one record every --interval-us, stamped with
// bpf_ktime_get_ns() just before the submit; the callback takes
// process.hrtime.bigint() first thing. Both are CLOCK_MONOTONIC (libuv's
// uv_hrtime reads it), which is checked here first: a stamp taken in the
// kernel must lie between two taken here. The first --warmup samples are left
// out. Prints one JSON line with the same fields as the C anchor.
import { parseArgs } from 'node:util';
import type { RecordCallback } from '../src/index.ts';
import { loadProducerObject, OP_PING, PAYLOAD, produceOnce, startProducer } from './producer.ts';
import { median, nowNs } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    object: { type: 'string', default: new URL('../programs/ringbuf_stream.bpf.o', import.meta.url).pathname },
    producer: { type: 'string', default: new URL('../build/bench/producer', import.meta.url).pathname },
    'producer-cpu': { type: 'string', default: '1' },
    mode: { type: 'string', default: 'poll' },
    samples: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '200' },
    'interval-us': { type: 'string', default: '1000' },
  },
});
const samples = Number(args.samples);
const warmup = Number(args.warmup);
const intervalUs = Number(args['interval-us']);

using object = loadProducerObject(args.object);
const program = object.program('produce');
using ring = object.ringBuffer('ring');

const latencies = new Float64Array(samples + warmup);
let count = 0;
let stamp = 0; // the latest record's
let done = false; // the end record arrived
const onRecord: RecordCallback = (view, offset, length) => {
  const now = nowNs();
  if (length !== PAYLOAD) {
    done = true;
    return false;
  }
  stamp = Number(view.getBigUint64(offset + 8, true));
  if (count < latencies.length) latencies[count++] = now - stamp;
};

const before = nowNs();
produceOnce(program, OP_PING, 1, 0, 0);
const after = nowNs();
ring.consume(onRecord);
if (count !== 1 || stamp < before || stamp > after) throw new Error('bpf_ktime_get_ns() and process.hrtime.bigint() disagree');
count = 0;

const result = startProducer(args.producer, args['producer-cpu'], program, ['ping', String(samples + warmup), String(intervalUs)]);
const deadline = nowNs() + (samples + warmup) * intervalUs * 1000 + 30e9;
const noEnd = () => new Error("no end record 30 s after the producer's time was up");
if (args.mode === 'subscribe') {
  await new Promise<void>((resolve, reject) => {
    const subscription = ring.subscribe((view, offset, length) => {
      onRecord(view, offset, length);
      if (!done) return;
      subscription.close();
      clearInterval(watchdog);
      resolve();
      return false;
    }, { onError: reject });
    const watchdog = setInterval(() => {
      if (nowNs() <= deadline) return;
      subscription.close();
      clearInterval(watchdog);
      reject(noEnd());
    }, 1000);
  });
} else if (args.mode === 'poll') {
  while (!done) {
    if ((await ring.poll(onRecord, 1000)) === 0 && nowNs() > deadline) throw noEnd();
  }
} else {
  throw new Error('--mode must be poll or subscribe');
}
const producer = await result;
if (count !== samples + warmup || producer.produced !== count || ring.stats().dropped !== 0) {
  throw new Error(`${count} samples, ${producer.produced} produced, ${ring.stats().dropped} dropped`);
}

const sorted = latencies.subarray(warmup).sort();
/** Nearest rank: the smallest sample with at least fraction p of them at or below it. */
const percentile = (p: number) => sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
console.log(JSON.stringify({
  bench: 'latency',
  impl: 'tsbpf',
  variant: args.mode,
  samples,
  intervalUs,
  medianNs: Math.round(median([...sorted])),
  p90Ns: percentile(0.9),
  p99Ns: percentile(0.99),
  maxNs: sorted[sorted.length - 1],
  wakeups: ring.stats().wakeups,
}));
