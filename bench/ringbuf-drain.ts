// tsbpf's side of `make bench`: drain throughput of RingBuffer.consume() on
// the ring that programs/ringbuf_bench.bpf.o fills with BPF_PROG_TEST_RUN.
// bench/c/ringbuf_drain.c does the same with libbpf; bench/run.sh runs both.
//
//   node --import tsx bench/ringbuf-drain.ts --payload 56 --mode zero-copy [--rounds 15] [--warmup 3]
//
// Each round fills the ring (one test run: the program stops when the ring is
// full) and times one consume() that drains it. Modes:
//   zero-copy  the callback reads the low 32 bits of each record's u64
//              sequence number from the shared mapping and adds them up
//              (the same work as the C callback);
//   copy       the callback copies each record into a fresh Uint8Array
//              (`.slice()`, as RingBuffer.records() does) and reads the
//              sequence number from the copy;
//   copy-into  the callback copies each record into one preallocated buffer
//              (`scratch.set(new Uint8Array(view.buffer, …))`) and reads the
//              sequence number from there;
//   decode     the callback decodes each record into a plain object with the
//              decoder compiled from the object's BTF for `struct bench_event`
//              (56-byte payloads only: ten fields, a u64 as a bigint, a
//              16-byte string) and reads the sequence number from it.
// The count and the sum are checked against what the program reports. Prints
// one JSON line with the same fields as the C anchor.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BpfObject, ObjectSpec, type RecordCallback } from '../src/index.ts';

const { values: args } = parseArgs({
  options: {
    object: { type: 'string', default: new URL('../programs/ringbuf_bench.bpf.o', import.meta.url).pathname },
    payload: { type: 'string', default: '56' },
    mode: { type: 'string', default: 'zero-copy' },
    rounds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    'ring-bytes': { type: 'string', default: String(64 << 20) },
  },
});
const payload = Number(args.payload);
const rounds = Number(args.rounds);
const warmup = Number(args.warmup);
const ringBytes = Number(args['ring-bytes']);
const recordBytes = (payload + 8 + 7) & ~7;

// [records, sum]: a typed array, like the C side's struct. (A sum kept in a
// `let` outgrows small integers, and then every `+=` allocates a HeapNumber.)
const tally = new Float64Array(2);
const scratch = new Uint8Array(payload);
const scratchWords = new Uint32Array(scratch.buffer, 0, 1);
const callbacks: Record<string, RecordCallback> = {
  'zero-copy': (view, offset) => {
    tally[0]!++;
    tally[1]! += view.getUint32(offset, true);
  },
  copy: (view, offset, length) => {
    const record = new Uint8Array(view.buffer, view.byteOffset + offset, length).slice();
    tally[0]!++;
    tally[1]! += (record[0]! | (record[1]! << 8) | (record[2]! << 16) | (record[3]! << 24)) >>> 0;
  },
  'copy-into': (view, offset, length) => {
    scratch.set(new Uint8Array(view.buffer, view.byteOffset + offset, length));
    tally[0]!++;
    tally[1]! += scratchWords[0]!;
  },
};
const spec = ObjectSpec.parse(readFileSync(args.object));
if (args.mode === 'decode') {
  if (payload !== 56) throw new Error('--mode decode needs --payload 56 (the size of struct bench_event)');
  const decode = spec.recordDecoder('bench_event');
  callbacks.decode = (view, offset) => {
    const event = decode(view, offset);
    tally[0]!++;
    tally[1]! += event.seq as number;
  };
}
const callback = callbacks[args.mode];
if (!callback) throw new Error(`--mode must be one of ${Object.keys(callbacks).join(', ')}, decode`);

spec.map('ring').maxEntries = ringBytes;
using object = BpfObject.load(spec, { constants: { payload_size: payload } });
const program = object.program('produce');
using ring = object.ringBuffer('ring');

// struct bench_args { u32 count; u32 produced; u64 seq; }, written back by the run.
const context = Buffer.alloc(16);
let seq = 0;
let best = Number.POSITIVE_INFINITY; // ns per record
let totalNs = 0;
let totalRecords = 0;
let perRound = 0;
for (let round = 0; round < warmup + rounds; round++) {
  context.writeUInt32LE(1 << 23, 0); // as many as bpf_loop allows: the ring fills first
  context.writeUInt32LE(0, 4);
  context.writeBigUInt64LE(BigInt(seq), 8);
  program.testRun({ context });
  const produced = context.readUInt32LE(4);
  const nextSeq = Number(context.readBigUInt64LE(8));
  if (produced === 0 || produced * recordBytes > ringBytes || nextSeq - seq !== produced) {
    throw new Error(`the program produced ${produced} records (seq ${seq} -> ${nextSeq})`);
  }

  tally.fill(0);
  const start = process.hrtime.bigint();
  const delivered = ring.consume(callback);
  const elapsed = Number(process.hrtime.bigint() - start);

  const expectedSum = produced * seq + (produced * (produced - 1)) / 2; // exact: far below 2^53
  if (delivered !== produced || tally[0] !== produced || tally[1] !== expectedSum) {
    throw new Error(`round ${round}: consumed ${delivered} (callback saw ${tally[0]}, sum ${tally[1]}), produced ${produced} (sum ${expectedSum})`);
  }
  seq = nextSeq;
  if (round < warmup) continue;
  perRound = produced;
  totalNs += elapsed;
  totalRecords += produced;
  best = Math.min(best, elapsed / produced);
}

console.log(JSON.stringify({
  impl: 'tsbpf',
  mode: args.mode,
  payload,
  recordBytes,
  recordsPerRound: perRound,
  rounds,
  bestNsPerRecord: Number(best.toFixed(3)),
  meanNsPerRecord: Number((totalNs / totalRecords).toFixed(3)),
  meanRecordsPerSec: Math.round((totalRecords * 1e9) / totalNs),
}));
