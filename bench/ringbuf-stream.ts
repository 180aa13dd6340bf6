// tsbpf's side of the streaming benchmark of `make bench`: RingBuffer consumes
// what bench/c/producer.c offers, as fast as it can, from another CPU;
// bench/c/ringbuf_stream.c does the same with libbpf.
//
//   node --import tsx bench/ringbuf-stream.ts --producer build/bench/producer --mode busy [--seconds 2] [--ring-bytes 4194304] [--rate 0]
//
// Modes:
//   busy    the producer submits with BPF_RB_NO_WAKEUP and this consumer
//           spins on consume(), never yielding to the event loop;
//   wakeup  default wake-ups, and this consumer awaits poll(): it sleeps on
//           the event loop whenever it has caught up.
// --rate: records/s the producer paces itself to (0: as fast as it can).
// Warm-up rounds of half a ring, produced here and drained, come first (so the
// callback runs optimized code). The callback checks that sequence numbers
// follow each other; delivered records are checked against what the producer
// submitted and drops against ring.stats().dropped. Prints one JSON line with
// the same fields as the C anchor, and the ring's wake-ups and BUSY stalls.
import { parseArgs } from 'node:util';
import { BPF_RB_NO_WAKEUP, type RecordCallback } from '../src/index.ts';
import { loadProducerObject, OP_STREAM, PAYLOAD, produceOnce, startProducer } from './producer.ts';
import { nowNs } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    object: { type: 'string', default: new URL('../programs/ringbuf_stream.bpf.o', import.meta.url).pathname },
    producer: { type: 'string', default: new URL('../build/bench/producer', import.meta.url).pathname },
    'producer-cpu': { type: 'string', default: '1' },
    mode: { type: 'string', default: 'busy' },
    seconds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '4096' },
    'ring-bytes': { type: 'string', default: String(4 << 20) },
    warmup: { type: 'string', default: '20' },
    rate: { type: 'string', default: '0' },
  },
});
if (args.mode !== 'busy' && args.mode !== 'wakeup') throw new Error('--mode must be busy or wakeup');
const busy = args.mode === 'busy';
const seconds = Number(args.seconds);
const ringBytes = Number(args['ring-bytes']);

using object = loadProducerObject(args.object, ringBytes);
const program = object.program('produce');
using ring = object.ringBuffer('ring');

// [records, out of order, low 32 bits of the sequence number expected next]:
// a typed array, like the C side's struct, so updates never allocate.
const RECORDS = 0;
const MISORDERED = 1;
const NEXT = 2;
const tally = new Float64Array(3);
let done = false; // the end record arrived
const onRecord: RecordCallback = (view, offset, length) => {
  if (length !== PAYLOAD) {
    done = true;
    return false;
  }
  const seq = view.getUint32(offset, true);
  if (seq !== tally[NEXT]) tally[MISORDERED]!++;
  tally[NEXT] = (seq + 1) >>> 0;
  tally[RECORDS]!++;
};

let seq = 0;
for (let round = 0; round < Number(args.warmup); round++) {
  seq = produceOnce(program, OP_STREAM, ringBytes / 2 / (PAYLOAD + 8), BPF_RB_NO_WAKEUP, seq).seq;
  ring.consume(onRecord);
}
if (tally[MISORDERED] !== 0 || tally[RECORDS] !== seq) throw new Error('warm-up records lost or out of order');
tally.fill(0);
const droppedBefore = ring.stats().dropped!;

const result = startProducer(args.producer, args['producer-cpu'], program, ['stream', args.seconds, args.batch, String(busy ? BPF_RB_NO_WAKEUP : 0), args.rate]);
const deadline = nowNs() + (seconds + 30) * 1e9;
const timedOut = () => {
  if (nowNs() > deadline) throw new Error("no end record 30 s after the producer's time was up");
};
if (busy) {
  let idle = 0;
  // The clock only now and then: it is not free.
  while (!done) if (ring.consume(onRecord) === 0 && (++idle & 1023) === 0) timedOut();
} else {
  while (!done) if ((await ring.poll(onRecord, 100)) === 0) timedOut();
}
const end = nowNs();
const producer = await result;
const stats = ring.stats();
const dropped = stats.dropped! - droppedBefore;

if (tally[MISORDERED] !== 0 || tally[RECORDS] !== producer.produced || dropped !== producer.attempted - producer.produced) {
  throw new Error(`delivered ${tally[RECORDS]} (${tally[MISORDERED]} out of order), produced ${producer.produced}, dropped ${dropped}, attempted ${producer.attempted}`);
}
console.log(JSON.stringify({
  bench: 'stream',
  impl: 'tsbpf',
  mode: args.mode,
  producerCpu: Number(args['producer-cpu']),
  rate: Number(args.rate),
  ringBytes,
  recordBytes: PAYLOAD + 8,
  seconds: Number(((end - producer.startNs) / 1e9).toFixed(3)),
  delivered: tally[RECORDS],
  dropped,
  attempted: producer.attempted,
  recordsPerSec: Math.round((tally[RECORDS]! * 1e9) / (end - producer.startNs)),
  offeredPerSec: Math.round((producer.attempted * 1e9) / (producer.endNs - producer.startNs)),
  wakeups: stats.wakeups,
  busyStalls: stats.busyStalls,
}));
