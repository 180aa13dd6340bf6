// RingSimulator (the kernel's producer rules in TypeScript) and, through it,
// RingConsumer: unit tests of the producer rules, then property-based tests
// (fast-check) that run the real consumer against arbitrary interleavings of
// reservations, writes, commits, discards and consumer steps, and against
// corrupted shared memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import fc from 'fast-check';
import { RingCorruptionError, TsbpfError } from '../src/errors.ts';
import { RingConsumer } from '../src/ringbuf/consumer.ts';
import {
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  EAGAIN,
  EINVAL,
  RINGBUF_MAX_RECORD_SIZE,
  RingSimulator,
  type RingReservation,
} from '../src/ringbuf/simulator.ts';

// ---------------------------------------------------------------------------
// Helpers

/** Payload byte `i` of record `id`: differs between records, so stale or misplaced bytes show. */
function patternByte(id: number, i: number): number {
  const x = (Math.imul(id + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  return (x ^ (x >>> 13) ^ (x >>> 24)) & 0xff;
}

function pattern(id: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = patternByte(id, i);
  return bytes;
}

/** Every record the consumer delivers now, as byte arrays. */
function drain(consumer: RingConsumer, budget?: number): number[][] {
  const seen: number[][] = [];
  consumer.consume((view, offset, length) => {
    seen.push(Array.from(new Uint8Array(view.buffer, view.byteOffset + offset, length)));
  }, budget);
  return seen;
}

// A consume call that loops forever would hang the whole suite; run each one
// under a vm timeout instead, which interrupts even a synchronous loop.
const boundedContext = vm.createContext({ run: (): unknown => undefined });
const boundedScript = new vm.Script('run()');
const HANG_MS = 500;
class HangError extends Error {}

function bounded<T>(run: () => T): T {
  boundedContext.run = run;
  try {
    return boundedScript.runInContext(boundedContext, { timeout: HANG_MS }) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new HangError(`consume did not return within ${HANG_MS} ms`);
    throw error;
  }
}

/** fast-check settings: the failing check's message goes into the report with the counterexample. */
const runs = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, includeErrorInReport: true });

const u32Bytes = (value: number) => new Uint8Array(Uint32Array.of(value >>> 0).buffer);

// ---------------------------------------------------------------------------
// Unit tests: the producer rules

test('reserve writes a BUSY header and moves producer_pos; commit clears BUSY', () => {
  const sim = new RingSimulator(4096);
  const consumer = new RingConsumer(sim.memory);
  const record = sim.reserve(5)!;
  assert.ok(record);
  assert.equal(record.position, 0n);
  assert.equal(record.span, 16);
  assert.deepEqual(sim.readHeader(0), { length: 5, busy: true, discard: false, pageOffset: 3 });
  assert.equal(sim.producerPos, 16n);
  assert.equal(sim.memory.producerPos[0], 16n);
  assert.equal(consumer.available(), 16);
  assert.deepEqual(drain(consumer), [], 'nothing is delivered while the record is BUSY');
  assert.equal(consumer.stats().busyStalls, 1);
  sim.write(record, [1, 2, 3, 4, 5]);
  sim.commit(record);
  assert.deepEqual(sim.readHeader(0), { length: 5, busy: false, discard: false, pageOffset: 3 });
  assert.equal(record.state, 'committed');
  assert.deepEqual(drain(consumer), [[1, 2, 3, 4, 5]]);
  assert.equal(sim.consumerPos, 16n);
});

test('records are 8-byte aligned: a record takes round_up(size + 8, 8) bytes', () => {
  const sim = new RingSimulator(4096);
  const spans = [0, 1, 7, 8, 9, 16, 17].map((size) => sim.reserve(size)!.span);
  assert.deepEqual(spans, [8, 16, 16, 16, 24, 24, 32]);
  assert.equal(sim.producerPos, BigInt(spans.reduce((a, b) => a + b)));
});

test('the largest record is ring size - 16 bytes: producer_pos stays at most size - 1 ahead', () => {
  for (const size of [16, 4096, 65536]) {
    const sim = new RingSimulator(size);
    assert.equal(sim.reserve(size - 15), null, `${size}: a record taking the whole ring is refused`);
    assert.equal(sim.reserve(size + 1), null, `${size}: longer than the ring`);
    const largest = sim.reserve(size - 16);
    assert.ok(largest, `${size}: ${size - 16} bytes fit in an empty ring`);
    assert.equal(largest.span, size - 8);
    assert.equal(sim.reserve(0), null, `${size}: not even an empty record fits after it`);
    sim.commit(largest);
    const consumer = new RingConsumer(sim.memory);
    assert.equal(drain(consumer)[0]!.length, size - 16);
  }
  const sim = new RingSimulator(4096);
  assert.equal(sim.reserve(RINGBUF_MAX_RECORD_SIZE + 1), null, 'more than UINT_MAX / 4');
  assert.equal(sim.reserve(8, 1), null, 'reserve takes no flags');
  assert.throws(() => sim.reserve(-1), RangeError);
});

test('a full ring refuses reservations until the consumer frees space', () => {
  const sim = new RingSimulator(4096);
  const consumer = new RingConsumer(sim.memory);
  let count = 0;
  while (sim.output(pattern(count, 56)) === 0) count++;
  assert.equal(count, 63, '63 records of 64 bytes: a 64th would fill the ring exactly, one byte too many');
  // 4032 bytes used, at most 4095 may be: room for 63 more, so a 56-byte span (48-byte payload).
  assert.equal(sim.output(pattern(99, 49)), -EAGAIN);
  assert.equal(sim.reserve(49), null);
  assert.equal(sim.output(pattern(63, 48)), 0);
  assert.equal(sim.output([]), -EAGAIN, 'not even a bare header: 4096 bytes ahead is a full ring');
  assert.equal(sim.output([], 4), -EINVAL, 'output refuses unknown flags');
  assert.equal(sim.available(), 4088n);
  assert.equal(drain(consumer, 1).length, 1);
  assert.equal(sim.output(pattern(64, 56)), 0, 'one record consumed makes room for one');
  const all = drain(consumer);
  assert.equal(all.length, 64);
  assert.deepEqual(all.at(-2), Array.from(pattern(63, 48)));
  assert.deepEqual(all.at(-1), Array.from(pattern(64, 56)));
  assert.equal(sim.available(), 0n);
});

test('records are read in reservation order: a BUSY record holds back later committed ones', () => {
  const sim = new RingSimulator(4096);
  const consumer = new RingConsumer(sim.memory);
  const [a, b, c] = [1, 2, 3].map((n) => {
    const record = sim.reserve(n)!;
    sim.write(record, new Array<number>(n).fill(n));
    return record;
  }) as [RingReservation, RingReservation, RingReservation];
  sim.commit(c);
  sim.discard(b);
  assert.deepEqual(drain(consumer), []);
  assert.equal(sim.consumerPos, 0n, 'consumer_pos stays at the BUSY record');
  sim.commit(a);
  assert.deepEqual(drain(consumer), [[1], [3, 3, 3]]);
  assert.deepEqual(consumer.stats(), { records: 2, bytes: 48, discarded: 1, busyStalls: 1 });
});

test('a record that wraps past the end lands in both copies and is read whole', () => {
  const sim = new RingSimulator(4096, { position: 4096 * 5 - 16 });
  const consumer = new RingConsumer(sim.memory);
  const payload = pattern(7, 40);
  const record = sim.reserve(40)!;
  assert.equal(record.offset, 4096 - 16);
  sim.write(record, payload);
  sim.commit(record);
  // What the double mapping shows: the first copy holds the tail at offset 0,
  // the second copy continues right after the end of the first.
  const data = new Uint8Array(sim.memory.data, sim.memory.dataOffset, 2 * 4096);
  assert.deepEqual(data.subarray(4096 - 8, 4096 + 32), payload, 'contiguous across the end');
  assert.deepEqual(data.subarray(0, 32), payload.subarray(8), 'the tail in the first copy');
  assert.deepEqual(data.subarray(4096, 4096 + 32), payload.subarray(8), 'and in the second');
  assert.deepEqual(drain(consumer), [Array.from(payload)]);
  assert.equal(sim.consumerPos, BigInt(4096 * 5 - 16 + 48));
});

test('positions beyond 2^32 keep working (a reused or pinned ring)', () => {
  const start = 2 ** 40 + 4096 - 8;
  const sim = new RingSimulator(4096, { position: start });
  const consumer = new RingConsumer(sim.memory);
  const seen: number[][] = [];
  for (let id = 0; id < 200; id++) {
    if (sim.output(pattern(id, id % 50)) !== 0) {
      seen.push(...drain(consumer, 20));
      assert.equal(sim.output(pattern(id, id % 50)), 0);
    }
  }
  seen.push(...drain(consumer));
  assert.deepEqual(seen, Array.from({ length: 200 }, (_, id) => Array.from(pattern(id, id % 50))));
  assert.equal(sim.consumerPos, sim.producerPos);
});

test('pending_pos: a record still BUSY limits the ring even if consumer_pos moved past it', () => {
  const sim = new RingSimulator(4096);
  const busy = sim.reserve(2000)!;
  sim.commit(sim.reserve(1000)!);
  // A broken consumer jumps over the BUSY record.
  sim.memory.consumerPos[0] = sim.producerPos;
  // 2008 bytes fit after consumer_pos, but the new record would overwrite the
  // first one, still being written: refused (the CVE-2024-41009 fix).
  assert.equal(sim.reserve(2000), null);
  assert.equal(sim.pendingPos, 0n);
  sim.commit(busy);
  assert.ok(sim.reserve(2000), 'once it is committed the space is free');
  assert.equal(sim.pendingPos, 3016n);
});

test('the wake-up rule: FORCE always, NO_WAKEUP never, by default only when the consumer waits at this record', () => {
  const woken: bigint[] = [];
  const sim = new RingSimulator(4096, { onWakeup: (record) => woken.push(record.position) });
  const consumer = new RingConsumer(sim.memory);
  const [a, b, c, d] = [0, 0, 0, 0].map(() => sim.reserve(8)!) as [RingReservation, RingReservation, RingReservation, RingReservation];
  assert.equal(sim.commit(b), false, 'the consumer is at a, not b');
  assert.equal(sim.commit(c, BPF_RB_FORCE_WAKEUP), true, 'FORCE wakes whatever the position');
  assert.equal(sim.commit(a, BPF_RB_NO_WAKEUP), false, 'NO_WAKEUP never wakes, even at the consumer');
  assert.equal(drain(consumer).length, 3);
  assert.equal(sim.discard(d), true, 'a discard at the consumer wakes it too');
  assert.equal(sim.wakeups, 2);
  assert.deepEqual(woken, [32n, 48n], 'c (forced), then d');
  // The kernel compares offsets in the data area: a consumer that caught up
  // one ring later is still "at" the record.
  const late = new RingSimulator(4096, { position: 4096 * 3 });
  const e = late.reserve(0)!;
  assert.equal(late.commit(e), true);
  assert.equal(late.output([1], BPF_RB_NO_WAKEUP), 0);
  assert.equal(late.wakeups, 1);
});

test('the verifier rules a program cannot break: writes stay in the record, one release', () => {
  const sim = new RingSimulator(4096);
  const record = sim.reserve(4)!;
  assert.throws(() => sim.write(record, [1, 2, 3], 2), RangeError);
  sim.write(record, [1, 2], 2);
  sim.commit(record);
  assert.throws(() => sim.commit(record), TsbpfError);
  assert.throws(() => sim.discard(record), TsbpfError);
  assert.throws(() => sim.write(record, [1]), TsbpfError);
  assert.throws(() => new RingSimulator(3000), RangeError);
  assert.throws(() => new RingSimulator(4096, { position: 4 }), RangeError);
});

test('consume(callback, 0) delivers nothing', () => {
  const sim = new RingSimulator(4096);
  sim.output([1]);
  const consumer = new RingConsumer(sim.memory);
  assert.equal(consumer.consume(() => {}, 0), 0);
});

// ---------------------------------------------------------------------------
// Property: the consumer against the simulator, any interleaving

type ProducerCommand =
  | { kind: 'reserve'; size: number }
  | { kind: 'output'; size: number; flags: number }
  | { kind: 'write'; pick: number; from: number; length: number }
  | { kind: 'finish'; pick: number; discard: boolean; flags: number };
/**
 * A consumer step. The producer runs concurrently with the consumer: `during`
 * are producer steps taken while the consumer is between two records (one
 * from each callback), so records are reserved and committed mid-batch.
 */
type ConsumeCommand = { kind: 'consume'; budget: number; stopAt: number; throwAt: number; during: readonly ProducerCommand[] };
type Command = ProducerCommand | ConsumeCommand;

/** Record sizes for a ring of `ring` bytes: mostly small, some large, some just fitting or not, some far too big. */
function sizeArbitrary(ring: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 24 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: Math.max(0, ring >> 3) }) },
    { weight: 2, arbitrary: fc.integer({ min: ring >> 3, max: ring >> 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: Math.max(0, ring - 40), max: ring + 8 }) },
    { weight: 1, arbitrary: fc.constantFrom(RINGBUF_MAX_RECORD_SIZE, RINGBUF_MAX_RECORD_SIZE + 1, 2 ** 32) },
  );
}

const flagsArbitrary = fc.constantFrom(0, 0, BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP);

function producerCommandArbitrary(ring: number): fc.Arbitrary<ProducerCommand> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('reserve' as const), size: sizeArbitrary(ring) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('output' as const), size: sizeArbitrary(ring), flags: flagsArbitrary }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), pick: fc.nat(), from: fc.nat(), length: fc.nat() }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), discard: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), flags: flagsArbitrary }) },
  );
}

function commandArbitrary(ring: number): fc.Arbitrary<Command> {
  const consume: fc.Arbitrary<ConsumeCommand> = fc.record({
    kind: fc.constant('consume' as const),
    budget: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(Number.POSITIVE_INFINITY)),
    stopAt: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
    throwAt: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
    during: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(producerCommandArbitrary(ring), { maxLength: 8 }) }),
  });
  return fc.oneof({ weight: 4, arbitrary: producerCommandArbitrary(ring) }, { weight: 1, arbitrary: consume });
}

/** Start positions: new ring, somewhere, just below 2^32, far beyond it. */
const startArbitrary = fc.oneof(
  fc.constant(0),
  fc.nat({ max: 1 << 17 }).map((n) => n * 8),
  fc.nat({ max: 1 << 13 }).map((n) => 2 ** 32 - n * 8),
  fc.nat({ max: 1 << 20 }).map((n) => 2 ** 45 + n * 8),
);

interface ModelRecord {
  id: number;
  handle: RingReservation;
  position: number;
  size: number;
  span: number;
  state: 'open' | 'committed' | 'discarded';
  pattern: Uint8Array;
  /** Which payload bytes the producer wrote (only those have a known value). */
  written: Uint8Array;
  delivered: number;
}

class CallbackThrew extends Error {}

/**
 * Runs `commands` against a simulator and a consumer, checking the consumer
 * against a model after every step; then completes every open record and
 * drains the ring. Throws (an assertion) on any disagreement.
 */
function runScenario(ring: number, start: number, commands: readonly Command[]): void {
  const sim = new RingSimulator(ring, { position: start });
  const consumer = new RingConsumer(sim.memory);
  const records: ModelRecord[] = [];
  let nextId = 0;
  let cursor = 0; // index of the first record the consumer has not passed
  let deliveredTotal = 0;
  let stalls = 0;
  const consumerPos = () => Number(sim.memory.consumerPos[0]);
  const producerPos = () => Number(sim.producerPos);
  const openRecords = () => records.filter((r) => r.state === 'open');

  /** The kernel's reserve decision, from the model: is there room for `size`? */
  const shouldFit = (size: number) => {
    if (size > RINGBUF_MAX_RECORD_SIZE) return false;
    const span = Math.ceil((size + 8) / 8) * 8;
    if (span > ring) return false;
    const newProducer = producerPos() + span;
    const pending = openRecords()[0]?.position ?? producerPos();
    return newProducer - consumerPos() <= ring - 1 && newProducer - pending <= ring - 1;
  };

  const addRecord = (handle: RingReservation, size: number, expectedPosition: number): ModelRecord => {
    // Reservations are handed out in order, back to back.
    assert.equal(handle.position, BigInt(expectedPosition), 'reserved at producer_pos');
    const id = nextId++;
    const record: ModelRecord = {
      id,
      handle,
      position: expectedPosition,
      size,
      span: handle.span,
      state: 'open',
      pattern: pattern(id, size),
      written: new Uint8Array(size),
      delivered: 0,
    };
    records.push(record);
    return record;
  };

  const skipDiscarded = () => {
    while (records[cursor]?.state === 'discarded') cursor++;
  };

  const consume = ({ budget, stopAt, throwAt, during }: Omit<ConsumeCommand, 'kind'>) => {
    let calls = 0;
    let stopped = false;
    let last: ModelRecord | undefined;
    const callback = (view: DataView, offset: number, length: number) => {
      calls++;
      skipDiscarded();
      const record = records[cursor];
      assert.ok(record, `delivered a record at offset ${offset} that was never reserved`);
      assert.equal(record.state, 'committed', `record #${record.id} delivered while ${record.state} (the consumer got ahead of a BUSY record)`);
      assert.equal(record.delivered, 0, `record #${record.id} delivered twice`);
      // Within the data area (both copies), exactly where the record is.
      assert.equal(view.byteLength, 2 * ring);
      assert.equal(offset, (record.position % ring) + 8, `record #${record.id} at the wrong offset`);
      assert.equal(length, record.size, `record #${record.id} has the wrong length`);
      assert.ok(offset >= 0 && offset + length <= 2 * ring, `record #${record.id} out of the data area`);
      const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, length);
      for (let i = 0; i < length; i++) {
        if (record.written[i] && bytes[i] !== record.pattern[i]) assert.fail(`record #${record.id} byte ${i} is ${bytes[i]}, expected ${record.pattern[i]}`);
      }
      record.delivered++;
      cursor++;
      last = record;
      // The producer acts while the consumer is between records.
      const step = during[calls - 1];
      if (step) produce(step);
      if (calls === throwAt) {
        stopped = true;
        throw new CallbackThrew();
      }
      if (calls === stopAt) {
        stopped = true;
        return false;
      }
      return undefined;
    };
    const before = consumerPos();
    let returned: number | undefined;
    try {
      returned = bounded(() => consumer.consume(callback, budget));
    } catch (error) {
      if (!(error instanceof CallbackThrew)) throw error;
    }
    if (returned !== undefined) assert.equal(returned, calls, 'consume returns how many it delivered');
    deliveredTotal += calls;
    if (stopped || calls >= budget) {
      // Stopped right after a record (it counts as consumed, even if the
      // callback threw): consumer_pos is just past it.
      assert.equal(consumerPos(), last!.position + last!.span, 'consumer_pos after the last delivered record');
    } else {
      // Drained: up to the first BUSY record, or to producer_pos.
      skipDiscarded();
      const next = records[cursor];
      if (next) {
        assert.equal(next.state, 'open', `consume stopped before record #${next.id}, ${next.state}`);
        stalls++;
      }
      assert.equal(consumerPos(), next ? next.position : producerPos(), 'consumer_pos after draining');
    }
    assert.ok(consumerPos() >= before, 'consumer_pos never goes back');
    const discarded = records.slice(0, cursor).filter((r) => r.state === 'discarded').length;
    assert.deepEqual(consumer.stats(), { records: deliveredTotal, bytes: consumerPos() - start, discarded, busyStalls: stalls });
  };

  const pick = <T>(list: readonly T[], n: number): T | undefined => (list.length ? list[n % list.length] : undefined);

  const finish = (record: ModelRecord, discard: boolean, flags: number) => {
    const atConsumer = consumerPos() % ring === record.position % ring;
    const expectWake = (flags & BPF_RB_FORCE_WAKEUP) !== 0 || (atConsumer && !(flags & BPF_RB_NO_WAKEUP));
    const woke = discard ? sim.discard(record.handle, flags) : sim.commit(record.handle, flags);
    assert.equal(woke, expectWake, 'the wake-up rule');
    record.state = discard ? 'discarded' : 'committed';
  };

  function produce(command: ProducerCommand): void {
    switch (command.kind) {
      case 'reserve': {
        const expected = shouldFit(command.size);
        const position = producerPos();
        const handle = sim.reserve(command.size);
        assert.equal(handle !== null, expected, `reserve(${command.size}) at producer ${position}, consumer ${consumerPos()}`);
        if (handle) addRecord(handle, command.size, position);
        else assert.equal(producerPos(), position, 'a failed reserve leaves producer_pos alone');
        break;
      }
      case 'output': {
        const expected = shouldFit(command.size);
        const position = producerPos();
        if (!expected) {
          // Refused before a byte is read, so a stand-in of the right length will do.
          assert.equal(sim.output({ length: command.size }, command.flags), -EAGAIN);
          break;
        }
        const wokeBefore = sim.wakeups;
        assert.equal(sim.output(pattern(nextId, command.size), command.flags), 0);
        const record = addRecord({ position: BigInt(position), offset: position % ring, size: command.size, span: Math.ceil((command.size + 8) / 8) * 8, state: 'committed' }, command.size, position);
        record.written.fill(1);
        record.state = 'committed';
        const atConsumer = consumerPos() % ring === position % ring;
        const expectWake = (command.flags & BPF_RB_FORCE_WAKEUP) !== 0 || (atConsumer && !(command.flags & BPF_RB_NO_WAKEUP));
        assert.equal(sim.wakeups - wokeBefore, expectWake ? 1 : 0, 'output follows the wake-up rule');
        break;
      }
      case 'write': {
        const record = pick(openRecords(), command.pick);
        if (!record) break;
        const from = command.from % (record.size + 1);
        const length = command.length % (record.size - from + 1);
        sim.write(record.handle, record.pattern.subarray(from, from + length), from);
        record.written.fill(1, from, from + length);
        break;
      }
      case 'finish': {
        const record = pick(openRecords(), command.pick);
        if (record) finish(record, command.discard, command.flags);
        break;
      }
    }
  }

  for (const command of commands) {
    if (command.kind === 'consume') consume(command);
    else produce(command);
    // Invariants of an honest consumer and the kernel's producer.
    assert.ok(producerPos() - consumerPos() <= ring - 1, 'producer_pos at most size - 1 ahead');
    assert.equal(sim.memory.producerPos[0], sim.producerPos);
    const firstOpen = openRecords()[0];
    if (firstOpen) assert.ok(consumerPos() <= firstOpen.position, 'consumer_pos never passes a BUSY record');
  }

  // Complete every open record (newest first: out of order), then drain.
  for (const record of openRecords().reverse()) finish(record, record.id % 3 === 0, 0);
  consume({ budget: Number.POSITIVE_INFINITY, stopAt: 0, throwAt: 0, during: [] });
  assert.equal(consumerPos(), producerPos(), 'everything consumed');
  for (const record of records) {
    assert.equal(record.delivered, record.state === 'committed' ? 1 : 0, `record #${record.id} (${record.state}) delivered ${record.delivered} times`);
  }
}

test('property: every committed record is delivered once, in order, intact; discarded ones never; never past BUSY (4 KiB ring)', () => {
  fc.assert(
    fc.property(startArbitrary, fc.array(commandArbitrary(4096), { minLength: 1, maxLength: 120, size: 'max' }), (start, commands) => {
      runScenario(4096, start, commands);
    }),
    runs(500),
  );
});

test('property: the same on tiny rings (16 to 256 bytes: constant wrapping) and on 8 to 64 KiB rings', () => {
  const arbitrary = fc.constantFrom(16, 32, 64, 128, 256, 8192, 16384, 32768, 65536).chain((ring) =>
    fc.tuple(fc.constant(ring), startArbitrary, fc.array(commandArbitrary(ring), { minLength: 1, maxLength: 80, size: 'max' })),
  );
  fc.assert(
    fc.property(arbitrary, ([ring, start, commands]) => {
      runScenario(ring, start, commands);
    }),
    runs(400),
  );
});

// ---------------------------------------------------------------------------
// Property: the default wake-up rule loses nothing

type WakeCommand = { kind: 'reserve'; size: number } | { kind: 'finish'; pick: number; discard: boolean; force: boolean } | { kind: 'run' };

test('property: a consumer that only runs when woken still gets every record (default and FORCE flags)', () => {
  const ring = 1024;
  const command: fc.Arbitrary<WakeCommand> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('reserve' as const), size: sizeArbitrary(ring) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), discard: fc.boolean(), force: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('run' as const) }) },
  );
  fc.assert(
    fc.property(startArbitrary, fc.array(command, { maxLength: 80, size: 'max' }), (start, commands) => {
      let woken = false;
      const sim = new RingSimulator(ring, { position: start, onWakeup: () => (woken = true) });
      const consumer = new RingConsumer(sim.memory);
      const open: RingReservation[] = [];
      let committed = 0;
      let delivered = 0;
      // The wake-up is deferred in the kernel (irq_work): the consumer runs
      // at some later point, and then drains everything it can.
      const runIfWoken = () => {
        if (!woken) return;
        woken = false;
        delivered += bounded(() => consumer.consume(() => {}));
      };
      for (const c of commands) {
        if (c.kind === 'reserve') {
          const record = sim.reserve(c.size);
          if (record) open.push(record);
        } else if (c.kind === 'finish') {
          if (!open.length) continue;
          const [record] = open.splice(c.pick % open.length, 1) as [RingReservation];
          const flags = c.force ? BPF_RB_FORCE_WAKEUP : 0;
          if (c.discard) sim.discard(record, flags);
          else {
            sim.commit(record, flags);
            committed++;
          }
        } else runIfWoken();
      }
      for (const record of open.reverse()) {
        sim.commit(record);
        committed++;
      }
      runIfWoken();
      assert.equal(delivered, committed, 'every committed record was delivered without a consume that nothing woke');
      assert.equal(sim.consumerPos, sim.producerPos);
    }),
    runs(400),
  );
});

test('with NO_WAKEUP a waiting consumer is not woken (the caller must poll with a timeout)', () => {
  const sim = new RingSimulator(4096);
  assert.equal(sim.output([1], BPF_RB_NO_WAKEUP), 0);
  assert.equal(sim.wakeups, 0);
  assert.equal(new RingConsumer(sim.memory).available(), 16, 'the data is there all the same');
});

// ---------------------------------------------------------------------------
// Property: corrupted memory gives RingCorruptionError or records, never a hang or another error

type Corruption =
  | { kind: 'bytes'; offset: number; bytes: Uint8Array; oneCopy: boolean }
  | { kind: 'header'; pick: number; value: number }
  | { kind: 'producer'; rings: number; delta: number }
  | { kind: 'producerAny'; value: bigint }
  | { kind: 'consumer'; delta: number };

test('property: corrupted headers and positions give RingCorruptionError or records, never a hang or another error', () => {
  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), offset: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }), oneCopy: fc.boolean() }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('header' as const),
        pick: fc.nat(),
        value: fc.oneof(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: 1 << 17 }),
          fc.tuple(fc.integer({ min: 0, max: 1 << 17 }), fc.constantFrom(0, 0x40000000, 0x80000000, 0xc0000000)).map(([n, bits]) => (n | bits) >>> 0),
          fc.constantFrom(0x3fffffff, 0x3ffffff8, 0x7fffffff, 0xffffffff),
        ),
      }),
    },
    {
      // producer_pos near consumer_pos + 0..3 rings: around the "more than a ring pending" limit.
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('producer' as const), rings: fc.integer({ min: 0, max: 3 }), delta: fc.integer({ min: -64, max: 64 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('producerAny' as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('consumer' as const), delta: fc.integer({ min: -64, max: 4096 }) }) },
  );
  const scenario = fc.record({
    ring: fc.constantFrom(16, 64, 256, 4096, 8192, 65536),
    start: startArbitrary,
    sizes: fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.constantFrom('commit', 'discard', 'busy')), { maxLength: 40, size: 'max' }),
    consumedFirst: fc.nat({ max: 10 }),
    corruptions: fc.array(corruption, { minLength: 1, maxLength: 6 }),
    steps: fc.array(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(Number.POSITIVE_INFINITY)), { minLength: 1, maxLength: 4 }),
  });
  fc.assert(
    fc.property(scenario, ({ ring, start, sizes, consumedFirst, corruptions, steps }) => {
      const sim = new RingSimulator(ring, { position: start });
      const consumer = new RingConsumer(sim.memory);
      const positions: bigint[] = [];
      for (const [size, end] of sizes) {
        const record = sim.reserve(size);
        if (!record) continue;
        positions.push(record.position);
        sim.write(record, pattern(positions.length, size));
        if (end === 'commit') sim.commit(record);
        else if (end === 'discard') sim.discard(record);
      }
      if (consumedFirst) consumer.consume(() => {}, consumedFirst);
      for (const c of corruptions) {
        const memory = sim.memory;
        if (c.kind === 'bytes') {
          if (c.oneCopy) {
            // Memory a real double mapping could not show: the copies disagree.
            const at = c.offset % (2 * ring);
            new Uint8Array(memory.data, memory.dataOffset, 2 * ring).set(c.bytes.subarray(0, 2 * ring - at), at);
          } else sim.writeData(c.offset, c.bytes);
        } else if (c.kind === 'header') {
          // Mostly the records not yet consumed: those the consumer will read.
          const pending = positions.filter((p) => p >= memory.consumerPos[0]!);
          const choices = pending.length && c.pick % 4 !== 0 ? pending : positions;
          const position = choices.length ? choices[c.pick % choices.length]! : BigInt(c.pick * 8);
          sim.writeData(Number(position % BigInt(ring)), u32Bytes(c.value));
        } else if (c.kind === 'producer') {
          memory.producerPos[0] = BigInt.asUintN(64, memory.consumerPos[0]! + BigInt(c.rings * ring + c.delta));
        } else if (c.kind === 'producerAny') {
          memory.producerPos[0] = c.value;
        } else {
          memory.consumerPos[0] = BigInt.asUintN(64, memory.consumerPos[0]! + BigInt(c.delta));
        }
      }
      for (const budget of steps) {
        let calls = 0;
        try {
          bounded(() =>
            consumer.consume((view, offset, length) => {
              calls++;
              // Never out of the data area, and never more records in one call
              // than the ring can hold (producer_pos does not move meanwhile).
              assert.equal(view.byteLength, 2 * ring);
              assert.ok(Number.isInteger(offset) && Number.isInteger(length), 'integral offset and length');
              assert.ok(offset >= 8 && length >= 0 && offset + length <= 2 * ring, `record [${offset}, ${offset + length}) out of the ${2 * ring}-byte data area`);
              assert.ok(length <= ring - 8, `a ${length}-byte record cannot fit in a ${ring}-byte ring`);
              assert.ok(calls <= ring / 8, 'more records delivered than the ring can hold');
            }, budget),
          );
        } catch (error) {
          if (error instanceof RingCorruptionError) continue;
          throw error;
        }
      }
    }),
    runs(500),
  );
});

test('examples/ring-protocol.ts walks through the protocol as it claims (the simulator and the real consumer)', () => {
  const script = fileURLToPath(new URL('../examples/ring-protocol.ts', import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const out = result.stdout;
  const order = [
    'BUSY (still being written)', 'consume() delivered 0', 'submit of the second record would wake the consumer: false',
    'submit of the first record wakes the consumer: true', '-> delivered "hello"', '-> delivered "world!!"',
    'DISCARD (skipped by the consumer)', '-> delivered "yes"', 'reserve(19) at offset 40: its 32 bytes run past the end',
    '-> delivered "a record that wraps"', 'Reserving 7-byte records until one is refused: 3 fit.', 'reserve(7) now: refused',
  ];
  let from = 0;
  for (const line of order) {
    const at = out.indexOf(line, from);
    assert.ok(at >= 0, `expected "${line}" after offset ${from} in:\n${out}`);
    from = at + line.length;
  }
  assert.ok(!out.includes('delivered "nope"'), 'the discarded record is never delivered');
});
