// The ring buffer consumer against the real kernel: a SYSCALL program run with
// BPF_PROG_TEST_RUN produces records (programs/ringbuf_test.bpf.c).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { ClosedError, TsbpfError } from '../src/errors.ts';
import { BpfObject } from '../src/loader/object.ts';
import type { RingBuffer } from '../src/ringbuf/ringbuf.ts';
import { needsRoot, programPath } from './helpers.ts';

const MAX_RECORD = 2048;
const DISCARD_MARK = 0xd15ca2d;
const BPF_RB_NO_WAKEUP = 1;

interface RunArgs {
  count: number;
  firstSeq: number;
  minSize?: number;
  maxSize?: number;
  discardEvery?: number;
  submitFlags?: number;
}

/** The ring buffer test object, with the payload pattern (byte i = i & 0xff) in place. */
function openProducer(t: TestContext): { object: BpfObject; ring: RingBuffer; run: (args: RunArgs) => { submitted: number; discarded: number; failed: number } } | undefined {
  if (!needsRoot(t)) return undefined;
  const object = BpfObject.open(programPath('ringbuf_test'));
  t.after(() => object.close());
  object.writeVariable('scratch', Array.from({ length: MAX_RECORD }, (_, i) => i & 0xff));
  const program = object.program('produce');
  const run = (args: RunArgs) => {
    const context = Buffer.alloc(36);
    [args.count, args.firstSeq, args.minSize ?? 8, args.maxSize ?? 8, args.discardEvery ?? 0, args.submitFlags ?? 0].forEach((v, i) => context.writeUInt32LE(v, i * 4));
    program.testRun({ context });
    return { submitted: context.readUInt32LE(24), discarded: context.readUInt32LE(28), failed: context.readUInt32LE(32) };
  };
  return { object, ring: object.ringBuffer('ring'), run };
}

function expectedSize(seq: number, min: number, max: number): number {
  const span = max - min + 1;
  return Math.min(MAX_RECORD, Math.max(8, min + (Math.imul(seq, 7919) >>> 0) % span));
}

/** Checks every delivered record: in sequence, right size, payload intact, never a discarded one. */
class RecordChecker {
  next = 0;
  constructor(private readonly min: number, private readonly max: number, private readonly discardEvery: number) {}

  check = (view: DataView, offset: number, length: number): void => {
    while (this.discardEvery && this.next % this.discardEvery === 0) this.next++;
    const seq = view.getUint32(offset, true);
    assert.notEqual(seq, DISCARD_MARK, 'a discarded record was delivered');
    assert.equal(seq, this.next, 'records arrive once and in order');
    assert.equal(length, expectedSize(seq, this.min, this.max), `length of record ${seq}`);
    assert.equal(view.getUint32(offset + 4, true), length);
    for (let i = 8; i < length; i++) {
      if (view.getUint8(offset + i) !== (i & 0xff)) assert.fail(`record ${seq}: byte ${i} is ${view.getUint8(offset + i)}`);
    }
    this.next++;
  };
}

test('records of many sizes wrap the ring many times and arrive once, in order, intact', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  assert.equal(ring.size, 64 * 1024);
  const checker = new RecordChecker(8, 1500, 7);
  let seq = 0;
  let delivered = 0;
  let bytes = 0;
  for (let round = 0; round < 1000 && bytes < 200 * ring.size; round++) {
    const result = run({ count: 40, firstSeq: seq, minSize: 8, maxSize: 1500, discardEvery: 7 });
    assert.deepEqual(result, { submitted: 40 - result.discarded, discarded: result.discarded, failed: 0 });
    seq += 40;
    bytes += ring.available();
    delivered += ring.consume(checker.check);
  }
  assert.ok(bytes >= 200 * ring.size, `${bytes} bytes went through`);
  assert.equal(delivered, seq - Math.ceil(seq / 7));
  assert.equal(ring.available(), 0);
  t.diagnostic(`${delivered} records, ${(bytes / ring.size).toFixed(0)} trips around a ${ring.size}-byte ring`);
});

test('a full ring refuses reservations; the consumer drains it and production resumes', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  const first = run({ count: 2000, firstSeq: 0, minSize: 100, maxSize: 100 });
  assert.ok(first.failed > 0, 'the ring filled up');
  assert.equal(first.submitted + first.failed, 2000);
  const checker = new RecordChecker(100, 100, 0);
  assert.equal(ring.consume(checker.check), first.submitted);
  assert.equal(ring.available(), 0);
  const second = run({ count: 100, firstSeq: first.submitted, minSize: 100, maxSize: 100 });
  assert.equal(second.failed, 0);
  assert.equal(ring.consume(checker.check), 100);
});

test('consume() honours a budget and a callback that stops early', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  run({ count: 50, firstSeq: 0, minSize: 16, maxSize: 16 });
  const checker = new RecordChecker(16, 16, 0);
  assert.equal(ring.consume(checker.check, 10), 10);
  let seen = 0;
  assert.equal(ring.consume((view, offset, length) => { checker.check(view, offset, length); return ++seen < 5; }), 5);
  assert.equal(ring.consume(checker.check), 35);
  assert.equal(checker.next, 50);
});

test('a throwing callback consumes its record and the error propagates', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  run({ count: 3, firstSeq: 0 });
  let calls = 0;
  assert.throws(() => ring.consume(() => { calls++; throw new Error('boom'); }), /boom/);
  assert.equal(calls, 1);
  const seqs: number[] = [];
  ring.consume((view, offset) => { seqs.push(view.getUint32(offset, true)); });
  assert.deepEqual(seqs, [1, 2]);
});

test('wait() sleeps on the event loop without spinning, and wakes up on a submit', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  assert.equal(await ring.wait({ timeoutMs: 300 }), false, 'nothing produced: timeout');
  const waited = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  assert.ok(waited >= 290, `waited ${waited} ms`);
  assert.ok((cpu.user + cpu.system) / 1000 < 100, `CPU used while waiting: ${(cpu.user + cpu.system) / 1000} ms`);

  setTimeout(() => run({ count: 1, firstSeq: 0 }), 50);
  const wakeStart = performance.now();
  assert.equal(await ring.wait({ timeoutMs: 5000 }), true);
  t.diagnostic(`woke ${(performance.now() - wakeStart - 50).toFixed(1)} ms after the submit`);
  assert.equal(ring.consume(() => {}), 1);

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  assert.equal(await ring.wait({ signal: controller.signal }), false, 'abort ends the wait');
});

test('a loop of poll() that ends leaves no watch behind: the process exits by itself', (t) => {
  if (!needsRoot(t)) return;
  const script = fileURLToPath(new URL('./fixtures/poll-then-exit.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.signal, null, `killed after 30 s: the event loop was still held (stderr: ${child.stderr})`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'received 3');
});

test('an exception from a nextTick callback queued by the code wait() resumed is reported, not swallowed or hung on', (t) => {
  if (!needsRoot(t)) return;
  const script = fileURLToPath(new URL('./fixtures/tick-throws-after-wait.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.signal, null, `killed after 30 s (stderr: ${child.stderr})`);
  assert.equal(child.stdout.trim(), 'woke: true');
  assert.equal(child.status, 1, 'an uncaught exception');
  assert.match(child.stderr, /thrown from a nextTick callback/);
});

test('an exception thrown by onError during a wake-up is reported, and does not stay pending inside koffi', (t) => {
  if (!needsRoot(t)) return;
  const script = fileURLToPath(new URL('./fixtures/on-error-throws.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.signal, null, `killed after 30 s (stderr: ${child.stderr})`);
  assert.equal(child.stdout, 'uncaught: thrown by the record callback\nthen an update wrote 7\nand both objects closed\n', child.stderr);
  assert.equal(child.status, 0);
});

test('wait() and poll() timeouts: NaN is refused, negative ones do not wait, ones past 2^31 - 1 ms are waited for (a Node timer would fire after 1 ms)', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring } = producer;
  const isNaNError = (error: Error) => error instanceof TsbpfError && /timeoutMs is NaN/.test(error.message);
  await assert.rejects(ring.wait({ timeoutMs: Number.NaN }), isNaNError);
  await assert.rejects(ring.poll(() => {}, Number.NaN), isNaNError);
  producer.run({ count: 1, firstSeq: 0 });
  await assert.rejects(ring.poll(() => {}, Number.NaN), isNaNError, 'refused with records waiting too');
  assert.equal(ring.consume(() => {}), 1, 'and the record stays');
  const started = performance.now();
  assert.equal(await ring.wait({ timeoutMs: Number.NEGATIVE_INFINITY }), false);
  assert.equal(await ring.poll(() => {}, -1), 0);
  assert.ok(performance.now() - started < 1000, 'negative timeouts do not wait');
  const controller = new AbortController();
  const long = ring.wait({ timeoutMs: 2 ** 31, signal: controller.signal });
  assert.equal(await Promise.race([long, new Promise((resolve) => setTimeout(resolve, 100, 'pending'))]), 'pending');
  controller.abort();
  assert.equal(await long, false);
});

test('records from NO_WAKEUP producers are found: wait() looks at the ring before sleeping', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  assert.equal(ring.consume(() => {}), 0);
  run({ count: 5, firstSeq: 0, submitFlags: BPF_RB_NO_WAKEUP });
  // Data is already there: wait() checks the ring before sleeping.
  assert.equal(await ring.wait({ timeoutMs: 1000 }), true);
  assert.equal(await ring.poll(() => {}, 100), 5);
});

test('for await yields copies of every record until aborted', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  const controller = new AbortController();
  let produced = 0;
  const timer = setInterval(() => {
    run({ count: 10, firstSeq: produced, minSize: 32, maxSize: 32 });
    produced += 10;
  }, 5);
  t.after(() => clearInterval(timer));
  const seqs: number[] = [];
  for await (const record of ring.records({ signal: controller.signal })) {
    assert.equal(record.length, 32);
    seqs.push(new DataView(record.buffer, record.byteOffset).getUint32(0, true));
    if (seqs.length === 100) controller.abort();
  }
  clearInterval(timer);
  assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i));

  // Breaking out of the loop loses nothing: the next record is still in the ring.
  run({ count: 10, firstSeq: produced, minSize: 32, maxSize: 32 });
  const next = Number(ring.positions().consumer);
  for await (const record of ring.records({ signal: AbortSignal.timeout(5000) })) {
    assert.equal(new DataView(record.buffer, record.byteOffset).getUint32(0, true), 100);
    break;
  }
  assert.equal(Number(ring.positions().consumer), next + 40, 'exactly one 32-byte record (+ header) left the ring');
});

/** Resolves when `condition()` holds, checked every few ms; rejects after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

test('subscribe() delivers records from inside each wake-up, without being awaited, until closed', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  const checker = new RecordChecker(8, 300, 0);
  run({ count: 3, firstSeq: 0, minSize: 8, maxSize: 300 });
  const subscription = ring.subscribe(checker.check, { checkIntervalMs: Number.POSITIVE_INFINITY });
  assert.equal(checker.next, 0, 'nothing is delivered before subscribe() returns');
  await assert.rejects(ring.wait({ timeoutMs: 10 }), /already has a waiter/, 'wait() is excluded while subscribed');
  await until(() => checker.next === 3, 'the records written before subscribing');

  const wakeupsBefore = ring.stats().wakeups;
  setTimeout(() => assert.equal(run({ count: 100, firstSeq: 3, minSize: 8, maxSize: 300 }).failed, 0), 20);
  await until(() => checker.next === 103, 'records written later');
  assert.ok(ring.stats().wakeups > wakeupsBefore, 'delivered by a wake-up (no check interval)');

  subscription.close();
  assert.equal(subscription.closed, true);
  run({ count: 2, firstSeq: 103, minSize: 8, maxSize: 300 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(checker.next, 103, 'nothing is delivered after close()');
  assert.equal(ring.consume(checker.check), 2, 'the records stayed in the ring');
  assert.equal(await ring.wait({ timeoutMs: 1 }), false, 'wait() works again');
});

test('subscribe(): NO_WAKEUP records come with the check interval; budgets; a throwing callback; closing the ring', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  const checker = new RecordChecker(8, 8, 0);
  const subscription = ring.subscribe(checker.check, { checkIntervalMs: 10, budget: 3 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const wakeupsBefore = ring.stats().wakeups;
  run({ count: 20, firstSeq: 0, submitFlags: BPF_RB_NO_WAKEUP });
  await until(() => checker.next === 20, 'records nobody was woken for');
  assert.equal(ring.stats().wakeups, wakeupsBefore, 'found by the check interval, not by a wake-up');
  subscription.close();

  const errors: unknown[] = [];
  let calls = 0;
  const failing = ring.subscribe(() => {
    calls++;
    throw new Error('callback failed');
  }, { onError: (error) => errors.push(error) });
  run({ count: 2, firstSeq: 20 });
  await until(() => errors.length === 1, 'the error to reach onError');
  assert.match(String(errors[0]), /callback failed/);
  assert.equal(failing.closed, true, 'a throwing callback ends the subscription');
  assert.equal(calls, 1);
  assert.equal(ring.consume(() => {}), 1, 'the failing record was consumed, the next one kept');

  const last = ring.subscribe(() => {});
  ring.close();
  assert.equal(last.closed, true, 'closing the ring ends its subscription');
  assert.throws(() => ring.subscribe(() => {}), ClosedError);
});

test('subscribe(): closing the subscription or the ring from inside a callback stops delivery at once, losing nothing', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  run({ count: 5, firstSeq: 0, minSize: 16, maxSize: 16 });
  const lengths: number[] = [];
  const subscription = ring.subscribe((_view, _offset, length) => {
    lengths.push(length);
    subscription.close();
  }, { checkIntervalMs: Number.POSITIVE_INFINITY });
  await until(() => lengths.length > 0, 'the first record');
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(lengths, [16], 'one record, then the subscription is closed');
  assert.equal(ring.consume(() => {}), 4, 'the other four are still in the ring');

  run({ count: 5, firstSeq: 5, minSize: 16, maxSize: 16 });
  const seen: number[] = [];
  ring.consume((_view, _offset, length) => {
    seen.push(length);
    ring.close();
  });
  assert.deepEqual(seen, [16], 'closing the ring mid-consume stops it: no empty records read from the released mapping');
  assert.throws(() => ring.subscribe(() => {}), ClosedError);
});

test('subscribe() options are checked: budget a positive integer or Infinity, checkIntervalMs 1..2^31-1 or Infinity', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring } = producer;
  for (const budget of [0, -1, 1.5, Number.NaN]) assert.throws(() => ring.subscribe(() => {}, { budget }), TsbpfError, `budget ${budget}`);
  for (const checkIntervalMs of [0, Number.NaN, 2 ** 31, -5]) assert.throws(() => ring.subscribe(() => {}, { checkIntervalMs }), TsbpfError, `interval ${checkIntervalMs}`);
  ring.subscribe(() => {}, { budget: Number.POSITIVE_INFINITY, checkIntervalMs: Number.POSITIVE_INFINITY }).close();
  ring.subscribe(() => {}, { budget: 3, checkIntervalMs: 2 ** 31 - 1 }).close();
});

test('after close, the ring refuses use and stale views read zeros instead of crashing', (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { object, ring, run } = producer;
  run({ count: 1, firstSeq: 0, minSize: 64, maxSize: 64 });
  let kept: DataView | undefined;
  let keptOffset = 0;
  ring.consume((view, offset) => { kept = view; keptOffset = offset; });
  assert.equal(kept!.getUint32(keptOffset + 4, true), 64);
  object.close();
  assert.throws(() => ring.consume(() => {}), ClosedError);
  assert.throws(() => ring.available(), ClosedError);
  assert.equal(kept!.getUint32(keptOffset + 4, true), 0, 'the old view now reads the placeholder');
});

test('query() and stats() report positions, records, bytes, discards and wake-ups', async (t) => {
  const producer = openProducer(t);
  if (!producer) return;
  const { ring, run } = producer;
  run({ count: 21, firstSeq: 0, minSize: 24, maxSize: 24, discardEvery: 7 });
  const before = ring.query();
  assert.equal(before.size, 64 * 1024);
  assert.equal(before.available, 18 * 32 + 3 * 72);
  assert.equal(before.producerPos - before.consumerPos, BigInt(before.available));
  assert.equal(ring.consume(() => {}), 18);
  setTimeout(() => run({ count: 1, firstSeq: 100, minSize: 24, maxSize: 24 }), 20);
  assert.equal(await ring.wait({ timeoutMs: 5000 }), true);
  ring.consume(() => {});
  assert.deepEqual(ring.stats(), { records: 19, bytes: before.available + 32, discarded: 3, busyStalls: 0, wakeups: 1, dropped: undefined });
  assert.equal(ring.query().available, 0);
});

test('drops counted by the BPF side (programs/include/tsbpf.h) appear in stats().dropped', (t) => {
  if (!needsRoot(t)) return;
  using object = BpfObject.open(programPath('test_drops'));
  const ring = object.ringBuffer('small_ring');
  assert.equal(ring.stats().dropped, 0);
  const context = Buffer.alloc(8);
  context.writeUInt32LE(100, 0);
  object.program('fill').testRun({ context });
  const failed = context.readUInt32LE(4);
  // 128 bytes a record in a 4096-byte ring: 31 fit (the kernel keeps producer − consumer below the size).
  assert.equal(failed, 100 - 31);
  assert.equal(ring.stats().dropped, failed);
  assert.equal(ring.consume(() => {}), 31);
  // The ring of an object without the header has no counter.
  const producer = BpfObject.open(programPath('ringbuf_test'));
  t.after(() => producer.close());
  assert.equal(producer.ringBuffer('ring').stats().dropped, undefined);
});
