// tsbpf's side of `make bench`'s perf buffer drain: PerfBuffer.consume() on
// CPU 0's ring, which programs/perfbuf_bench.bpf.o fills with
// BPF_PROG_TEST_RUN. bench/c/perfbuf_drain.c does the same with libbpf's
// perf_buffer; bench/run.sh runs both.
//
//   node --import tsx bench/perfbuf-drain.ts --payload 56 [--pages 16384] [--rounds 15] [--warmup 3]
//
// Each round fills CPU 0's ring with as many samples as it holds (one test
// run on CPU 0, BPF_F_TEST_RUN_ON_CPU) and times one consume() that drains
// it; the callback reads the low 32 bits of each sample's u64 sequence number
// and adds them up, as the C callback does. The count and the sum are checked.
// Prints one JSON line with the same fields as the C anchor.
import { parseArgs } from 'node:util';
import { BpfObject, type SampleCallback } from '../src/index.ts';
import { PAGE_SIZE } from '../src/syscall/index.ts';

const { values: args } = parseArgs({
  options: {
    object: { type: 'string', default: new URL('../programs/perfbuf_bench.bpf.o', import.meta.url).pathname },
    payload: { type: 'string', default: '56' },
    pages: { type: 'string', default: '16384' },
    rounds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
  },
});
const payload = Number(args.payload);
const pages = Number(args.pages);
const rounds = Number(args.rounds);
const warmup = Number(args.warmup);
if (!(payload >= 8 && payload <= 4096)) throw new Error(`--payload ${args.payload}: 8 to 4096 bytes (a u64 sequence number first; the program's limit)`);
const BPF_F_TEST_RUN_ON_CPU = 1;
const CPU = 0;

// [samples, sum]: a typed array, so the sum never becomes a heap number (see ringbuf-drain.ts).
const tally = new Float64Array(2);
const onSample: SampleCallback = (view, offset) => {
  tally[0]!++;
  tally[1]! += view.getUint32(offset, true);
};

using object = BpfObject.open(args.object);
const program = object.program('produce');
using buffer = object.perfBuffer('samples', { pagesPerCpu: pages });
if (!buffer.cpus.includes(CPU)) throw new Error(`CPU ${CPU} has no ring (online CPUs: ${buffer.cpus.join(',')})`);
// A record: the 8-byte perf header, the u32 raw size, the payload, padded to 8 bytes.
const recordBytes = (8 + 4 + payload + 7) & ~7;
// The kernel keeps one byte of the ring free (head may not catch up with tail): a full ring holds this many.
const count = Math.floor((pages * PAGE_SIZE - 1) / recordBytes);

// u64 count, first sequence number, payload bytes.
const context = Buffer.alloc(24);
let seq = 0;
let best = Number.POSITIVE_INFINITY; // ns per sample
let totalNs = 0;
let totalSamples = 0;
for (let round = 0; round < warmup + rounds; round++) {
  context.writeBigUInt64LE(BigInt(count), 0);
  context.writeBigUInt64LE(BigInt(seq), 8);
  context.writeBigUInt64LE(BigInt(payload), 16);
  const produced = program.testRun({ context, flags: BPF_F_TEST_RUN_ON_CPU, cpu: CPU }).retval;
  if (produced !== count) throw new Error(`round ${round}: the program wrote ${produced} of ${count} samples`);

  tally.fill(0);
  const start = process.hrtime.bigint();
  const delivered = buffer.consume(onSample);
  const elapsed = Number(process.hrtime.bigint() - start);

  const expectedSum = produced * seq + (produced * (produced - 1)) / 2; // exact: far below 2^53
  if (delivered !== produced || tally[0] !== produced || tally[1] !== expectedSum) {
    throw new Error(`round ${round}: consumed ${delivered} (callback saw ${tally[0]}, sum ${tally[1]}), produced ${produced} (sum ${expectedSum})`);
  }
  seq += produced;
  if (round < warmup) continue;
  totalNs += elapsed;
  totalSamples += produced;
  best = Math.min(best, elapsed / produced);
}
const { lost, wrapped } = buffer.stats();
if (lost !== 0) throw new Error(`the kernel reported ${lost} lost samples`);

console.log(JSON.stringify({
  impl: 'tsbpf',
  payload,
  recordBytes,
  pages,
  samplesPerRound: count,
  rounds,
  wrapped,
  bestNsPerSample: Number(best.toFixed(3)),
  meanNsPerSample: Number((totalNs / totalSamples).toFixed(3)),
  meanSamplesPerSec: Math.round((totalSamples * 1e9) / totalNs),
}));
