// Perf buffers (BPF_MAP_TYPE_PERF_EVENT_ARRAY): PerfReader over rings filled
// by hand, then PerfBuffer against the real kernel, with samples produced by a
// raw tracepoint program run on a chosen CPU (programs/perfbuf_test.bpf.c) and
// by an execve() tracepoint.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, chmodSync, mkdtempSync, readFile, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { decodeCString } from '../src/cstring.ts';
import { ClosedError, RingCorruptionError, TsbpfError } from '../src/errors.ts';
import { BpfObject } from '../src/loader/object.ts';
import { parseCpuList, possibleCpus } from '../src/cpus.ts';
import { PerfBuffer, type PerfBufferOptions } from '../src/ringbuf/perf-buffer.ts';
import { PERF_RECORD_LOST, PERF_RECORD_SAMPLE, PerfReader, type SampleCallback } from '../src/ringbuf/perf-reader.ts';
import type { Subscription } from '../src/ringbuf/waiter.ts';
import { closeFd, mapCreate, mapInfoByFd } from '../src/syscall/index.ts';
import { needsRoot, programPath } from './helpers.ts';

const PAGE = 4096;
const HEAD_OFFSET = 1024;
const TAIL_OFFSET = 1032;

/** The raw size the kernel reports for `size` bytes: padded so that the u32 size field plus the bytes end 8-byte aligned. */
const paddedLength = (size: number) => ((size + 4 + 7) & ~7) - 4;

/** A perf ring written by hand with the kernel's record rules, for PerfReader. */
class HandRing {
  readonly buffer: ArrayBuffer;
  private readonly page: DataView;
  private readonly data: Uint8Array;
  head = 0;

  constructor(readonly size: number, options: { describeData?: boolean } = {}) {
    this.buffer = new ArrayBuffer(PAGE + size);
    this.page = new DataView(this.buffer);
    this.data = new Uint8Array(this.buffer, PAGE, size);
    if (options.describeData ?? true) {
      this.page.setBigUint64(1040, BigInt(PAGE), true);
      this.page.setBigUint64(1048, BigInt(size), true);
    }
  }

  get tail(): number {
    return Number(this.page.getBigUint64(TAIL_OFFSET, true));
  }

  reader(cpu = 0, onLost?: (count: number, cpu: number) => void): PerfReader {
    return new PerfReader(this.buffer, cpu, PAGE, onLost);
  }

  /** Appends a record (8-byte header, then `body`, zero-padded to 8 bytes); `declaredSize` overrides the header's size. */
  record(type: number, body: Uint8Array, declaredSize?: number): void {
    const length = (8 + body.length + 7) & ~7;
    const bytes = new Uint8Array(length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, type, true);
    view.setUint16(6, declaredSize ?? length, true);
    bytes.set(body, 8);
    for (let i = 0; i < length; i++) this.data[(this.head + i) % this.size] = bytes[i]!;
    this.head += length;
    this.page.setBigUint64(HEAD_OFFSET, BigInt(this.head), true);
  }

  sample(raw: Uint8Array): void {
    const body = new Uint8Array(4 + paddedLength(raw.length));
    new DataView(body.buffer).setUint32(0, paddedLength(raw.length), true);
    body.set(raw, 4);
    this.record(PERF_RECORD_SAMPLE, body);
  }

  lost(count: number): void {
    const body = new DataView(new ArrayBuffer(16));
    body.setBigUint64(0, 7n, true); // the event id
    body.setBigUint64(8, BigInt(count), true);
    this.record(PERF_RECORD_LOST, new Uint8Array(body.buffer));
  }

  /** Moves data_head without writing anything, as a corrupt kernel page would. */
  setHead(head: number): void {
    this.head = head;
    this.page.setBigUint64(HEAD_OFFSET, BigInt(head), true);
  }
}

/** `length` bytes: the sequence number, then byte i = (seq + i) & 0xff. */
function payload(seq: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seq + i) & 0xff;
  if (length >= 4) new DataView(bytes.buffer).setUint32(0, seq, true);
  return bytes;
}

test('PerfReader: samples of many sizes, some running past the ring end, arrive in order and contiguous', () => {
  const ring = new HandRing(512);
  const reader = ring.reader(3);
  let produced = 0;
  let received = 0;
  const check: SampleCallback = (view, offset, length, cpu) => {
    assert.equal(cpu, 3);
    const seq = view.getUint32(offset, true);
    assert.equal(seq, received, 'in order, once');
    const size = 4 + ((seq * 37) % 150);
    assert.equal(length, paddedLength(size));
    for (let i = 4; i < size; i++) {
      if (view.getUint8(offset + i) !== ((seq + i) & 0xff)) assert.fail(`sample ${seq}: byte ${i}`);
    }
    received++;
  };
  for (let round = 0; round < 300; round++) {
    // Fill up to about 400 of the 512 bytes, then drain.
    while (ring.head - ring.tail < 250) ring.sample(payload(produced, 4 + ((produced++ * 37) % 150)));
    reader.read(check);
    assert.equal(ring.tail, ring.head, 'data_tail published up to data_head');
  }
  assert.equal(received, produced);
  assert.ok(ring.head > 100 * ring.size, 'went round the ring many times');
  const stats = reader.stats();
  assert.equal(stats.samples, produced);
  assert.ok(stats.wrapped > 10, `${stats.wrapped} samples ran past the end`);
});

test('PerfReader: a record whose header fills the last 8 bytes has its size field at the ring start', () => {
  const ring = new HandRing(64);
  const reader = ring.reader();
  ring.sample(payload(9, 44)); // 8 + 4 + 44 = 56 bytes
  assert.equal(reader.read(() => {}), 1);
  ring.sample(payload(10, 20)); // header at 56..63, size field at 0, bytes at 4..23
  const seen: number[] = [];
  reader.read((view, offset, length) => {
    seen.push(view.getUint32(offset, true), length);
    for (let i = 4; i < 20; i++) assert.equal(view.getUint8(offset + i), (10 + i) & 0xff);
  });
  assert.deepEqual(seen, [10, 20]);
  assert.equal(reader.stats().wrapped, 1);
  assert.equal(ring.tail, 56 + 32);
});

test('PerfReader: lost records reach onLost with 64-bit counts; other record types are passed over', () => {
  const ring = new HandRing(256);
  const lost: [number, number][] = [];
  const reader = ring.reader(1, (count, cpu) => lost.push([count, cpu]));
  ring.sample(payload(0, 8));
  ring.lost(5);
  ring.record(4 /* PERF_RECORD_THROTTLE */, new Uint8Array(16));
  ring.lost(2 ** 32 + 3);
  ring.sample(payload(1, 8));
  const seqs: number[] = [];
  assert.equal(reader.read((view, offset) => { seqs.push(view.getUint32(offset, true)); }), 2);
  assert.deepEqual(seqs, [0, 1]);
  assert.deepEqual(lost, [[5, 1], [2 ** 32 + 3, 1]]);
  assert.deepEqual(reader.stats(), { samples: 2, lost: 2 ** 32 + 8, wrapped: 0, skipped: 1 });
});

test('PerfReader: data_offset/data_size left 0 (kernels before 4.1) mean the rest of the mapping after one page', () => {
  const ring = new HandRing(1024, { describeData: false });
  const reader = ring.reader();
  assert.equal(reader.size, 1024);
  ring.sample(payload(42, 16));
  let seq = -1;
  reader.read((view, offset) => { seq = view.getUint32(offset, true); });
  assert.equal(seq, 42);
});

test('PerfReader: budget, throwing callbacks and nested reads', () => {
  const ring = new HandRing(1024);
  const reader = ring.reader();
  for (let seq = 0; seq < 10; seq++) ring.sample(payload(seq, 8));
  const seqs: number[] = [];
  const collect: SampleCallback = (view, offset) => { seqs.push(view.getUint32(offset, true)); };
  assert.equal(reader.read(collect, 0), 0);
  assert.throws(() => reader.read(collect, Number.NaN), (e: unknown) => e instanceof TsbpfError && /budget is NaN/.test(e.message));
  assert.equal(reader.read(collect, 3), 3);
  assert.equal(ring.tail, 3 * 24, 'data_tail stops after the last sample delivered');
  assert.throws(() => reader.read(() => { throw new Error('boom'); }), /boom/);
  assert.equal(ring.tail, 4 * 24, 'the sample whose callback threw counts as read');
  assert.throws(() => reader.read(() => { reader.read(collect); }), TsbpfError);
  assert.equal(reader.read(collect), 5);
  assert.deepEqual(seqs, [0, 1, 2, 5, 6, 7, 8, 9]);
  assert.equal(reader.hasData(), false);
  assert.equal(reader.available(), 0);
  // A long backlog hands space back while it is read (every quarter ring here), not only at its end.
  for (let seq = 0; seq < 40; seq++) ring.sample(payload(seq, 8));
  const start = ring.tail;
  const tails: number[] = [];
  assert.equal(reader.read(() => { tails.push(ring.tail - start); }), 40);
  assert.deepEqual([tails[10], tails[11], tails[39]], [0, 264, 3 * 264], 'published after every 11 samples (264 bytes >= 256)');
  assert.equal(ring.tail - start, 40 * 24);
  // A callback returning false stops the read after its sample, wherever the sample falls in the hot loop.
  for (let stopAt = 0; stopAt < 3; stopAt++) {
    for (let seq = 0; seq < 4; seq++) ring.sample(payload(seq, 8));
    const before = ring.tail;
    let calls = 0;
    assert.equal(reader.read(() => calls++ !== stopAt), stopAt + 1);
    assert.equal(reader.callbackStopped, true, `stopped by sample ${stopAt}`);
    assert.equal(ring.tail - before, (stopAt + 1) * 24, 'data_tail stops after the sample whose callback returned false');
    assert.equal(reader.read(() => {}), 3 - stopAt);
    assert.equal(reader.callbackStopped, false);
  }
  // Budgets across the quarter-ring chunks: 25 then the other 15.
  for (let seq = 0; seq < 40; seq++) ring.sample(payload(seq, 8));
  assert.equal(reader.read(() => {}, 25), 25);
  assert.equal(reader.read(() => {}, 2 ** 40), 15);

  // Lost records between the samples do not hold publication back to the end of the batch.
  for (let seq = 0; seq < 20; seq++) {
    ring.sample(payload(seq, 8));
    ring.lost(1);
  }
  const mixedStart = ring.tail;
  const mixed: number[] = [];
  assert.equal(reader.read(() => { mixed.push(ring.tail - mixedStart); }), 20);
  assert.ok(mixed.at(-1)! > 0 && mixed.at(-1)! < 20 * 48, `data_tail moved on while reading: ${mixed.join(',')}`);

  // stop() from onLost (as closing the buffer there does): nothing is read after the lost record.
  const stopping = new HandRing(1024);
  let stoppingReader: PerfReader | undefined;
  stoppingReader = stopping.reader(0, () => stoppingReader!.stop());
  stopping.sample(payload(1, 8));
  stopping.lost(3);
  stopping.sample(payload(2, 8));
  const got: number[] = [];
  assert.equal(stoppingReader.read((view, offset) => { got.push(view.getUint32(offset, true)); }), 1);
  assert.deepEqual(got, [1]);
  assert.equal(stopping.tail, 24 + 24, 'the sample and the lost record count as read, the next sample stays');
});

test('PerfReader: corrupt rings throw RingCorruptionError instead of looping', () => {
  // `goodSamples` valid samples first: the corrupt record then falls elsewhere in the hot loop (it reads two a turn).
  const corrupt = (setup: (ring: HandRing) => void, why: RegExp, goodSamples = 0) => {
    const ring = new HandRing(256);
    for (let seq = 0; seq < goodSamples; seq++) ring.sample(payload(seq, 8));
    setup(ring);
    let delivered = 0;
    assert.throws(() => ring.reader().read(() => { delivered++; }), (error: unknown) => error instanceof RingCorruptionError && why.test(error.message));
    assert.equal(delivered, goodSamples);
  };
  for (const goodSamples of [0, 1, 2]) {
    corrupt((ring) => ring.record(PERF_RECORD_SAMPLE, new Uint8Array(8), 0), /record of 0 bytes/, goodSamples);
    corrupt((ring) => ring.record(PERF_RECORD_SAMPLE, new Uint8Array(8), 12), /record of 12 bytes/, goodSamples);
    corrupt((ring) => ring.record(PERF_RECORD_SAMPLE, new Uint8Array(16), 20), /record of 20 bytes/, goodSamples);
    corrupt((ring) => { ring.sample(payload(0, 100)); ring.setHead(ring.head - 48); }, /record of 112 bytes \(64 bytes produced/, goodSamples);
    corrupt((ring) => {
      const body = new Uint8Array(8);
      new DataView(body.buffer).setUint32(0, 200, true);
      ring.record(PERF_RECORD_SAMPLE, body);
    }, /sample of 200 bytes in a 16-byte record/, goodSamples);
    corrupt((ring) => ring.record(PERF_RECORD_LOST, new Uint8Array(8)), /lost record of 16 bytes/, goodSamples);
  }
  corrupt((ring) => ring.setHead(4), /positions are not multiples of 8/);
  corrupt((ring) => ring.setHead(300), /300 bytes pending in a 256-byte ring/);
  corrupt((ring) => {
    ring.sample(payload(0, 8));
    ring.reader().read(() => {});
    ring.setHead(8);
  }, /data_head is behind data_tail/);
  // A sample record too short for its raw size field, in the ring's last 8 bytes (nothing after it to read).
  corrupt((ring) => {
    ring.record(99, new Uint8Array(240));
    ring.record(PERF_RECORD_SAMPLE, new Uint8Array(0));
  }, /sample record of 8 bytes, too short/);
  // A data area that is not a power of two, or does not fit the mapping.
  const odd = new ArrayBuffer(PAGE + 768);
  new DataView(odd).setBigUint64(1048, 768n, true);
  new DataView(odd).setBigUint64(1040, BigInt(PAGE), true);
  assert.throws(() => new PerfReader(odd, 0, PAGE), RingCorruptionError);
  // Over 1 GiB: the hot loop's offsets would not stay small integers.
  const huge = new ArrayBuffer(PAGE + 2 ** 31);
  new DataView(huge).setBigUint64(1048, BigInt(2 ** 31), true);
  new DataView(huge).setBigUint64(1040, BigInt(PAGE), true);
  assert.throws(() => new PerfReader(huge, 0, PAGE), RingCorruptionError);
  const short = new ArrayBuffer(PAGE + 512);
  new DataView(short).setBigUint64(1048, 1024n, true);
  assert.throws(() => new PerfReader(short, 0, PAGE), RingCorruptionError);
});

test('parseCpuList reads sysfs CPU lists and rejects anything else', () => {
  assert.deepEqual(parseCpuList('0-1,4\n'), [0, 1, 4]);
  assert.deepEqual(parseCpuList('0'), [0]);
  assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
  for (const bad of ['', '1-0', 'a', '0,,1', '0-']) assert.throws(() => parseCpuList(bad), TsbpfError, bad);
});

// ---- against the kernel ----------------------------------------------------

const MAX_SAMPLE = 2048;
const BPF_F_TEST_RUN_ON_CPU = 1;
const ENOSPC = 28;
const ENOENT = 2;

interface Run {
  count: number;
  firstSeq: number;
  minSize?: number;
  maxSize?: number;
}

interface Producer {
  object: BpfObject;
  buffer: PerfBuffer;
  /** Runs `produce` on `cpu`; returns what bpf_perf_event_output() accepted and refused in this run. */
  run: (cpu: number, args: Run) => { sent: number; failed: number; lastError: number };
}

function openProducer(t: TestContext, options: PerfBufferOptions = {}): Producer | undefined {
  if (!needsRoot(t)) return undefined;
  const object = BpfObject.open(programPath('perfbuf_test'), { programs: ['produce'] });
  t.after(() => object.close());
  object.writeVariable('scratch', Array.from({ length: MAX_SAMPLE }, (_, i) => i & 0xff));
  const program = object.program('produce');
  const buffer = object.perfBuffer('samples', options);
  const run = (cpu: number, args: Run) => {
    const sentBefore = object.readVariable('sent') as bigint;
    const failedBefore = object.readVariable('failed') as bigint;
    const context = Buffer.alloc(32);
    [args.count, args.firstSeq, args.minSize ?? 8, args.maxSize ?? 8].forEach((value, i) => context.writeBigUInt64LE(BigInt(value), i * 8));
    program.testRun({ context, flags: BPF_F_TEST_RUN_ON_CPU, cpu });
    return {
      sent: Number((object.readVariable('sent') as bigint) - sentBefore),
      failed: Number((object.readVariable('failed') as bigint) - failedBefore),
      lastError: Number(object.readVariable('last_error') as bigint),
    };
  };
  return { object, buffer, run };
}

/** openProducer() for a test that needs two CPUs or more: with one, it skips, saying why. */
function openProducerOnCpus(t: TestContext, why: string, options: PerfBufferOptions = {}): Producer | undefined {
  const producer = openProducer(t, options);
  if (producer && producer.buffer.cpus.length < 2) {
    t.skip(`one online CPU (${producer.buffer.cpus.join(',')}): ${why}`);
    return undefined;
  }
  return producer;
}

function expectedSize(seq: number, min: number, max: number): number {
  return Math.min(MAX_SAMPLE, Math.max(8, min + (Math.imul(seq, 7919) >>> 0) % (max - min + 1)));
}

/** Each CPU's samples numbered from cpu << 20: checks order per CPU, sizes and payload bytes. */
class SampleChecker {
  readonly next = new Map<number, number>();
  count = 0;
  constructor(private readonly min: number, private readonly max: number) {}

  check: SampleCallback = (view, offset, length, cpu) => {
    const seq = view.getUint32(offset, true);
    assert.equal(seq, this.next.get(cpu) ?? cpu << 20, `CPU ${cpu}: samples arrive once and in order`);
    const size = expectedSize(seq, this.min, this.max);
    assert.equal(view.getUint32(offset + 4, true), size, `sample ${seq}: size written by the program`);
    assert.equal(length, paddedLength(size), `sample ${seq}: length as the kernel pads it`);
    for (let i = 8; i < size; i++) {
      if (view.getUint8(offset + i) !== (i & 0xff)) assert.fail(`sample ${seq}: byte ${i} is ${view.getUint8(offset + i)}`);
    }
    this.next.set(cpu, seq + 1);
    this.count++;
  };
}

test('samples from every CPU arrive in order and intact, many wrapping the end of their ring', (t) => {
  const producer = openProducer(t, { pagesPerCpu: 2 });
  if (!producer) return;
  const { buffer, run } = producer;
  assert.deepEqual(buffer.cpus, parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')));
  const checker = new SampleChecker(8, 1500);
  const seq = new Map(buffer.cpus.map((cpu) => [cpu, cpu << 20]));
  let produced = 0;
  for (let round = 0; round < 200; round++) {
    for (const cpu of buffer.cpus) {
      // 5 samples of at most 1512 bytes fit the 8 KiB ring.
      assert.deepEqual(run(cpu, { count: 5, firstSeq: seq.get(cpu)!, minSize: 8, maxSize: 1500 }), { sent: 5, failed: 0, lastError: 0 });
      seq.set(cpu, seq.get(cpu)! + 5);
      produced += 5;
    }
    assert.equal(buffer.consume(checker.check), 5 * buffer.cpus.length);
  }
  assert.equal(checker.count, produced);
  const stats = buffer.stats();
  assert.equal(stats.samples, produced);
  assert.equal(stats.lost, 0);
  for (const cpu of stats.perCpu) {
    assert.equal(cpu.samples, 1000);
    assert.ok(cpu.wrapped > 10, `CPU ${cpu.cpu}: ${cpu.wrapped} samples ran past the ring end`);
  }
  t.diagnostic(`${produced} samples, ${stats.wrapped} copied because they wrapped`);
});

test('a full 1+1-page ring drops samples; onLost reports them, and delivered + lost == produced', (t) => {
  const lost = new Map<number, number>();
  const producer = openProducer(t, { pagesPerCpu: 1, onLost: (count, cpu) => lost.set(cpu, (lost.get(cpu) ?? 0) + count) });
  if (!producer) return;
  const { buffer, run } = producer;
  const delivered = new Map<number, number>();
  const count: SampleCallback = (_view, _offset, _length, cpu) => { delivered.set(cpu, (delivered.get(cpu) ?? 0) + 1); };
  for (const cpu of buffer.cpus) {
    const flood = run(cpu, { count: 100, firstSeq: 0, minSize: 200, maxSize: 200 });
    assert.ok(flood.failed > 0, 'the ring filled up');
    assert.equal(flood.sent + flood.failed, 100);
    assert.equal(flood.lastError, -ENOSPC);
    buffer.consume(count);
    assert.equal(delivered.get(cpu), flood.sent);
    // The kernel writes its lost record before the next sample that fits.
    assert.equal(lost.get(cpu), undefined);
    assert.deepEqual(run(cpu, { count: 1, firstSeq: 100, minSize: 200, maxSize: 200 }), { sent: 1, failed: 0, lastError: -ENOSPC });
    buffer.consume(count);
    assert.equal(lost.get(cpu), flood.failed, `CPU ${cpu}: lost samples as the program counted them`);
    assert.equal(delivered.get(cpu)! + lost.get(cpu)!, 101);
  }
  const stats = buffer.stats();
  assert.equal(stats.lost, [...lost.values()].reduce((a, b) => a + b, 0));
  for (const cpu of stats.perCpu) assert.equal(cpu.lost, lost.get(cpu.cpu));
});

test('closing a subscription from onLost stops delivery on every CPU, not only the one being read', async (t) => {
  let subscription: Subscription | undefined;
  const afterClose: number[] = [];
  const producer = openProducerOnCpus(t, 'needs samples waiting on a second CPU', { pagesPerCpu: 1, onLost: () => subscription?.close() });
  if (!producer) return;
  const { buffer, run } = producer;
  const [first, second] = buffer.cpus as [number, number];
  assert.ok(run(first, { count: 100, firstSeq: 0, minSize: 200, maxSize: 200 }).failed > 0, 'the first CPU ring filled up');
  buffer.consume(() => {});
  run(first, { count: 1, firstSeq: 100, minSize: 200, maxSize: 200 }); // a lost record, then this sample
  run(second, { count: 3, firstSeq: 200 });
  const delivered: number[] = [];
  subscription = buffer.subscribe((view, offset) => {
    (subscription!.closed ? afterClose : delivered).push(view.getUint32(offset, true));
  }, { checkIntervalMs: Infinity });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(subscription.closed, true);
  assert.deepEqual(afterClose, [], 'nothing delivered after the subscription closed');
  assert.deepEqual(delivered, [], 'onLost on the first CPU came before any sample');
  assert.equal(buffer.consume(() => {}), 4, 'the samples stay for the next reader');
});

test('consume() honours its budget and starts the next call after the CPU that used it up', (t) => {
  const producer = openProducerOnCpus(t, 'no CPUs to take turns');
  if (!producer) return;
  const { buffer, run } = producer;
  const checker = new SampleChecker(8, 8);
  for (const cpu of buffer.cpus) run(cpu, { count: 30, firstSeq: cpu << 20 });
  /** The CPUs of the samples one consume() delivers. */
  const cpusOf = (budget: number) => {
    const cpus: number[] = [];
    const delivered = buffer.consume((view, offset, length, cpu) => { checker.check(view, offset, length, cpu); cpus.push(cpu); }, budget);
    assert.equal(delivered, cpus.length);
    return cpus;
  };
  assert.equal(buffer.consume(checker.check, 0), 0);
  assert.throws(() => buffer.consume(checker.check, Number.NaN), (e: unknown) => e instanceof TsbpfError && /budget is NaN/.test(e.message));
  assert.deepEqual(cpusOf(10), Array(10).fill(buffer.cpus[0]));
  assert.deepEqual(cpusOf(10), Array(10).fill(buffer.cpus[1]));
  assert.equal(cpusOf(Infinity).length, 30 * buffer.cpus.length - 20);
  assert.equal(checker.count, 30 * buffer.cpus.length);
  run(buffer.cpus[1]!, { count: 1, firstSeq: 0 });
  assert.throws(() => buffer.consume(() => { buffer.consume(() => {}); }), TsbpfError, 'nested consume is refused');
});

test('a callback that returns false pauses like a budget: the next consume() starts after its CPU, so a busy CPU cannot starve the others', (t) => {
  const producer = openProducerOnCpus(t, 'no CPUs to take turns');
  if (!producer) return;
  const { buffer, run } = producer;
  const checker = new SampleChecker(8, 8);
  for (const cpu of buffer.cpus) run(cpu, { count: 5, firstSeq: cpu << 20 });
  const firstCpus: number[] = [];
  for (let i = 0; i < buffer.cpus.length; i++) {
    assert.equal(buffer.consume((view, offset, length, cpu) => {
      checker.check(view, offset, length, cpu);
      firstCpus.push(cpu);
      return false;
    }), 1);
  }
  assert.deepEqual(firstCpus, buffer.cpus, 'each CPU in turn');
  assert.equal(buffer.consume(checker.check), 5 * buffer.cpus.length - buffer.cpus.length, 'nothing lost or repeated');
  assert.equal(checker.count, 5 * buffer.cpus.length);
});

test('poll() times out with 0 when nothing comes, and delivers what arrives while it waits', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { buffer, run } = producer;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  assert.equal(await buffer.poll(() => {}, 200), 0);
  const waited = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  assert.ok(waited >= 190, `waited ${waited} ms`);
  assert.ok((cpu.user + cpu.system) / 1000 < 100, `CPU used while waiting: ${(cpu.user + cpu.system) / 1000} ms`);
  const last = buffer.cpus.at(-1)!;
  setTimeout(() => run(last, { count: 3, firstSeq: last << 20 }), 30);
  const checker = new SampleChecker(8, 8);
  assert.equal(await buffer.poll(checker.check, 5000), 3);
  assert.equal(buffer.stats().wakeups, 1);
});

test('wait() wakes on a sample written right after it started, even from an I/O callback, and ends on abort', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { buffer, run } = producer;
  for (const cpu of buffer.cpus) {
    // Written before the event loop has registered the watch: perf hands that wake-up to the registration itself.
    const started = performance.now();
    const waiting = buffer.wait({ timeoutMs: 3000 });
    run(cpu, { count: 1, firstSeq: 0 });
    assert.equal(await waiting, true);
    assert.ok(performance.now() - started < 1000, 'woke without waiting for the timeout');
    assert.equal(buffer.consume(() => {}), 1);
    // A real wake-up resumes us inside libuv's poll phase; wait again from there.
    setTimeout(() => run(cpu, { count: 1, firstSeq: 0 }), 20);
    assert.equal(await buffer.wait({ timeoutMs: 3000 }), true);
    assert.equal(buffer.consume(() => {}), 1);
    const again = buffer.wait({ timeoutMs: 3000 });
    run(cpu, { count: 1, firstSeq: 0 });
    assert.equal(await again, true);
    assert.equal(buffer.consume(() => {}), 1);
  }
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  assert.equal(await buffer.wait({ signal: controller.signal }), false, 'abort ends the wait');
  assert.equal(await buffer.wait({ signal: AbortSignal.abort() }), false);
});

test('subscribe() delivers every CPU\'s samples from inside the wake-ups until closed', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { buffer, run } = producer;
  const checker = new SampleChecker(8, 600);
  const subscription = buffer.subscribe(checker.check, { checkIntervalMs: Number.POSITIVE_INFINITY });
  let expected = 0;
  for (const cpu of buffer.cpus) {
    // One CPU's samples straight away, before the event loop has registered the watch; the others later.
    const produce = () => {
      const { sent, failed } = run(cpu, { count: 40, firstSeq: cpu << 20, minSize: 8, maxSize: 600 });
      assert.equal(failed, 0);
      expected += sent;
    };
    if (cpu === buffer.cpus[0]) produce();
    else setTimeout(produce, 10);
  }
  const deadline = Date.now() + 5000;
  while (checker.count < 40 * buffer.cpus.length) {
    if (Date.now() > deadline) assert.fail(`${checker.count} of ${40 * buffer.cpus.length} samples delivered`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.equal(checker.count, expected);
  if (buffer.cpus.length > 1) assert.ok(buffer.stats().wakeups >= 1, 'the later samples came with a wake-up');
  subscription.close();
  run(buffer.cpus[0]!, { count: 1, firstSeq: buffer.cpus[0]! << 20 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(checker.count, expected, 'nothing delivered after close()');
});

test('subscribe(): a budget leaves nothing behind (perf fds report readiness once), and subscribing from an I/O callback misses nothing', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { buffer, run } = producer;
  const cpu = buffer.cpus[0]!;
  const until = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 3000;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  const checker = new SampleChecker(8, 8);
  const budgeted = buffer.subscribe(checker.check, { budget: 1, checkIntervalMs: Number.POSITIVE_INFINITY });
  run(cpu, { count: 10, firstSeq: cpu << 20 });
  await until(() => checker.count === 10, 'all 10 samples, one a turn of the event loop');
  budgeted.close();

  // From an I/O callback: the check after subscribe() must come after the event loop watches the fds.
  const late = new SampleChecker(8, 8);
  await new Promise<void>((resolve, reject) => {
    readFile('/proc/self/stat', () => {
      try {
        const subscription = buffer.subscribe(late.check, { checkIntervalMs: Number.POSITIVE_INFINITY });
        setImmediate(() => run(cpu, { count: 1, firstSeq: cpu << 20 }));
        until(() => late.count === 1, 'the sample written right after subscribing').then(() => { subscription.close(); resolve(); }, reject);
      } catch (error) {
        reject(error);
      }
    });
  });

  // A callback that closes its subscription gets no sample more; the rest stay in the ring.
  let got = 0;
  run(cpu, { count: 5, firstSeq: cpu << 20 });
  const closing = buffer.subscribe(() => {
    got++;
    closing.close();
  });
  await until(() => got > 0, 'the first sample');
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(got, 1);
  assert.equal(buffer.consume(() => {}), 4);
});

test('records() yields copies one at a time, CPUs in turn; breaking out loses nothing', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { buffer, run } = producer;
  for (const cpu of buffer.cpus) run(cpu, { count: 100, firstSeq: cpu << 20, minSize: 16, maxSize: 16 });
  const checker = new SampleChecker(16, 16);
  const cpus: number[] = [];
  for await (const sample of buffer.records({ signal: AbortSignal.timeout(10_000) })) {
    assert.equal(buffer.stats().samples, checker.count + 1, 'only the sample yielded has left the rings');
    checker.check(new DataView(sample.data.buffer), 0, sample.data.length, sample.cpu);
    cpus.push(sample.cpu);
    if (checker.count === 50) break;
  }
  assert.deepEqual(cpus.slice(0, buffer.cpus.length), buffer.cpus, 'CPUs take turns');
  // Aborting ends a waiting iterator; the samples left are the next ones, in order.
  const controller = new AbortController();
  for await (const sample of buffer.records({ signal: controller.signal })) {
    checker.check(new DataView(sample.data.buffer), 0, sample.data.length, sample.cpu);
    if (checker.count === 100 * buffer.cpus.length) setTimeout(() => controller.abort(), 30);
  }
  assert.equal(checker.count, 100 * buffer.cpus.length);
  // Samples written while the iterator waits arrive too.
  const cpu = buffer.cpus.at(-1)!;
  setTimeout(() => run(cpu, { count: 1, firstSeq: checker.next.get(cpu)!, minSize: 16, maxSize: 16 }), 30);
  for await (const sample of buffer.records({ signal: AbortSignal.timeout(5000) })) {
    checker.check(new DataView(sample.data.buffer), 0, sample.data.length, sample.cpu);
    break;
  }
  assert.equal(checker.count, 100 * buffer.cpus.length + 1);
});

test('close() takes the events out of the map, unmaps the rings and refuses use', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { object, buffer, run } = producer;
  const map = object.map('samples');
  const cpu = buffer.cpus[0]!;
  assert.equal(run(cpu, { count: 1, firstSeq: 0, minSize: 64, maxSize: 64 }).sent, 1);
  let kept: DataView | undefined;
  let keptOffset = 0;
  buffer.consume((view, offset) => { kept = view; keptOffset = offset; });
  assert.equal(kept!.getUint32(keptOffset + 4, true), 64);
  buffer.close();
  assert.equal(buffer.closed, true);
  assert.equal(kept!.getUint32(keptOffset + 4, true), 0, 'the old view reads the placeholder, not freed memory');
  assert.throws(() => buffer.consume(() => {}), ClosedError);
  assert.throws(() => buffer.stats(), ClosedError);
  await assert.rejects(buffer.wait({ timeoutMs: 10 }), ClosedError);
  await assert.rejects(buffer.poll(() => {}, 10), ClosedError);
  for await (const _ of buffer.records()) assert.fail('a closed buffer yields nothing');
  buffer.close();
  // The slots are empty: deleting finds nothing, and the program's output fails with ENOENT.
  for (const slot of buffer.cpus) assert.equal(map.delete(new Uint8Array(new Uint32Array([slot]).buffer)), false, `slot ${slot}`);
  assert.deepEqual(run(cpu, { count: 2, firstSeq: 0 }), { sent: 0, failed: 2, lastError: -ENOENT });
  // A new buffer on the same map works again.
  using again = map.perfBuffer();
  assert.equal(run(cpu, { count: 2, firstSeq: cpu << 20 }).sent, 2);
  assert.equal(again.consume(new SampleChecker(8, 8).check), 2);
});

test('bad options and maps are refused with typed errors', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { object, buffer } = producer;
  const map = object.map('samples');
  assert.throws(() => map.perfBuffer(), /already has an open perf buffer/);
  buffer.close();
  for (const pagesPerCpu of [0, 3, 6, 1.5, -4, Number.NaN]) {
    assert.throws(() => map.perfBuffer({ pagesPerCpu }), (error: unknown) => error instanceof TsbpfError && /pagesPerCpu/.test(error.message), String(pagesPerCpu));
  }
  assert.throws(() => map.perfBuffer({ wakeupEvents: 0 }), /wakeupEvents/);
  const other = [...object.maps.values()].find((candidate) => candidate.name !== 'samples')!;
  assert.throws(() => other.perfBuffer(), /not a perf event array/);
  assert.throws(() => new PerfBuffer(other.name, other.fd), /not a perf event array/);
  // Nothing was left half-open: a buffer can still be made.
  map.perfBuffer({ pagesPerCpu: 4 }).close();
});

test('a map declared without max_entries gets a slot per possible CPU; CPUs past max_entries get no ring', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { object } = producer;
  assert.equal(mapInfoByFd(object.map('samples').fd).u32('max_entries'), Math.max(...possibleCpus()) + 1);
  const fd = mapCreate({ map_type: 4, key_size: 4, value_size: 4, max_entries: 1 }, 'one_slot');
  t.after(() => closeFd(fd));
  using buffer = new PerfBuffer('one_slot', fd);
  assert.deepEqual(buffer.cpus, [0]);
  assert.deepEqual(buffer.stats().perCpu.map((cpu) => cpu.cpu), [0]);
});

test('an execve() tracepoint sends {pid, comm, filename} through a perf buffer', async (t) => {
  if (!needsRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-perf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, `pb${process.pid.toString(36)}`);
  copyFileSync('/bin/true', binary);
  chmodSync(binary, 0o755);
  using object = BpfObject.open(programPath('perfbuf_test'), { programs: ['execve'] });
  const buffer = object.perfBuffer('execs');
  object.program('execve').attach();
  const pids = new Set<number>();
  const timer = setInterval(() => {
    const child = spawn(binary, [], { stdio: 'ignore' });
    if (child.pid) pids.add(child.pid);
  }, 100);
  t.after(() => clearInterval(timer));
  const comm = readFileSync('/proc/self/comm', 'utf8').trim();
  let found: { pid: number; comm: string; filename: string } | undefined;
  for await (const sample of buffer.records({ signal: AbortSignal.timeout(10_000) })) {
    assert.equal(sample.data.length, paddedLength(4 + 16 + 64));
    const event = {
      pid: new DataView(sample.data.buffer, sample.data.byteOffset).getUint32(0, true),
      comm: decodeCString(sample.data.subarray(4, 20)),
      filename: decodeCString(sample.data.subarray(20, 84)),
    };
    if (event.filename === binary && pids.has(event.pid)) {
      found = event;
      break;
    }
  }
  clearInterval(timer);
  assert.ok(found, `the exec of ${binary} was seen`);
  assert.equal(found.comm, comm, 'comm is still the parent\'s at sys_enter_execve');
});
