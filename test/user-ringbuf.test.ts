// User ring buffers: the producer over plain memory (read back with
// RingConsumer, which follows the same rules as the kernel's drain), then
// against the real kernel, where a SYSCALL program run with BPF_PROG_TEST_RUN
// drains the ring and checks every record (programs/user_ringbuf_test.bpf.c).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { ClosedError, RingCorruptionError, TsbpfError } from '../src/errors.ts';
import { BpfObject } from '../src/loader/object.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RingConsumer } from '../src/ringbuf/consumer.ts';
import { RecordSizeError, UserRingProducer, type UserRecord } from '../src/ringbuf/user-producer.ts';
import { UserRingBuffer } from '../src/ringbuf/user-ringbuf.ts';
import { needsRoot, programBytes, programPath } from './helpers.ts';

const BPF_RB_NO_WAKEUP = 1;
const BPF_RB_FORCE_WAKEUP = 2;

/** Record layout of the tests: seq, size, then byte i (i >= 8) holds (seq + i) & 0xff. */
function fillAt(bytes: Uint8Array, offset: number, size: number, seq: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, size);
  view.setUint32(0, seq, true);
  view.setUint32(4, size, true);
  for (let i = 8; i < size; i++) bytes[offset + i] = (seq + i) & 0xff;
}

/** Fills a record through its own views. */
function fill(record: UserRecord, seq: number): void {
  fillAt(record.bytes, 0, record.size, seq);
  assert.equal(record.view.getUint32(4, true), record.size);
}

function checkRecord(bytes: Uint8Array, seq: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getUint32(0, true), seq, 'records arrive once and in order');
  assert.equal(view.getUint32(4, true), bytes.length, `length of record ${seq}`);
  for (let i = 8; i < bytes.length; i++) {
    if (bytes[i] !== ((seq + i) & 0xff)) assert.fail(`record ${seq}: byte ${i} is ${bytes[i]}`);
  }
}

// ---- Over plain memory ----

/** A user ring in an ArrayBuffer; `kernel` reads it by the drain's rules. */
function plainRing(size: number, start = 0n) {
  const consumerPos = new BigUint64Array([start]);
  const producerPos = new BigUint64Array([start]);
  const data = new ArrayBuffer(2 * size);
  new Uint8Array(data).fill(0xee); // what older records would have left
  const memory = { consumerPos, producerPos, data, dataOffset: 0, size };
  const producer = new UserRingProducer(memory, 'test ring');
  const kernel = new RingConsumer(memory);
  const headers = new Uint32Array(data);
  const header = (position: bigint | number) => headers[(Number(position) & (size - 1)) >>> 2]!;
  const drain = (budget?: number) => {
    const records: Uint8Array[] = [];
    kernel.consume((view, offset, length) => {
      records.push(new Uint8Array(view.buffer, view.byteOffset + offset, length).slice());
    }, budget);
    return records;
  };
  return { memory, producer, kernel, header, drain };
}

/** The payload's sequence number. */
const seqOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);

test('reserve writes a BUSY header, then producer_pos moves by the 8-byte-aligned record size', () => {
  const { memory, producer, header } = plainRing(4096);
  const records: UserRecord[] = [];
  let position = 0;
  for (const [size, span] of [[1, 16], [5, 16], [8, 16], [13, 24], [16, 24], [100, 112]] as const) {
    const record = producer.reserve(size)!;
    assert.equal(record.offset, position + 8, 'the payload follows its header');
    assert.equal(record.bytes.length, size);
    assert.equal(record.view.byteLength, size);
    assert.equal(header(position), (size | RINGBUF_BUSY_BIT) >>> 0);
    assert.equal(new Uint32Array(memory.data)[(position >>> 2) + 1], 0, 'pg_off');
    position += span;
    assert.equal(memory.producerPos[0], BigInt(position));
    records.push(record);
  }
  assert.equal(producer.outstanding, 6);
  records[0]!.submit();
  records[1]!.discard();
  assert.equal(header(0), 1, 'submit clears BUSY');
  assert.equal(header(16), (5 | RINGBUF_DISCARD_BIT) >>> 0, 'discard clears BUSY and sets DISCARD');
  assert.deepEqual(records.slice(0, 3).map((r) => r.state), ['submitted', 'discarded', 'reserved']);
  assert.equal(producer.outstanding, 4);
  assert.equal(producer.available(), position);
  assert.deepEqual(producer.position(), { consumer: 0n, producer: BigInt(position) });
});

test('records finished out of order are read in reservation order; a reserved one holds back the rest', () => {
  const { producer, drain } = plainRing(4096);
  const [a, b, c] = [producer.reserve(24)!, producer.reserve(40)!, producer.reserve(8)!];
  [a, b, c].forEach(fill);
  c.submit();
  b.submit();
  assert.deepEqual(drain(), [], 'nothing passes the first record while it is reserved');
  a.submit();
  const records = drain();
  assert.equal(records.length, 3);
  records.forEach(checkRecord);
  assert.equal(producer.available(), 0);
});

test('discarded records are skipped', () => {
  const { producer, drain } = plainRing(4096);
  for (let seq = 0; seq < 10; seq++) {
    const record = producer.reserve(16 + seq)!;
    fill(record, seq);
    if (seq % 3 === 0) record.discard();
    else record.submit();
  }
  assert.deepEqual(drain().map(seqOf), [1, 2, 4, 5, 7, 8]);
});

test('records wrap the ring end contiguously, many times round, from any start position', () => {
  // Positions cross 2^32 too: producer_pos is stored as two 32-bit halves.
  for (const start of [0n, 4096n * 1000n - 8n, 2n ** 32n - 3n * 4096n, 2n ** 40n + 8n]) {
    const { producer, drain, kernel } = plainRing(4096, start);
    let seq = 0;
    let next = 0;
    let wrapped = 0;
    for (let round = 0; round < 200; round++) {
      for (;;) {
        const size = 8 + ((seq * 7919) % 700);
        const record = producer.reserve(size);
        if (!record) break;
        if (record.offset + size > 4096) wrapped++;
        fill(record, seq++);
        record.submit();
      }
      for (const bytes of drain()) checkRecord(bytes, next++);
    }
    assert.equal(next, seq);
    assert.ok(wrapped > 100, `${wrapped} records wrapped`);
    assert.equal(kernel.position().producer - start, BigInt(kernel.stats().bytes));
  }
});

test('a full ring refuses reservations without throwing, and takes them again once drained', () => {
  const { producer, drain, memory } = plainRing(4096);
  // 64 records of 56 + 8 bytes fill it to the last byte: the kernel needs no
  // free byte to tell a full ring from an empty one.
  for (let seq = 0; seq < 64; seq++) {
    const record = producer.reserve(56)!;
    fill(record, seq);
    record.submit();
  }
  assert.equal(producer.reserve(1), undefined);
  assert.equal(producer.write(new Uint8Array(1)), false);
  assert.equal(memory.producerPos[0], 4096n, 'a refused reservation leaves producer_pos alone');
  assert.equal(producer.available(), 4096);
  assert.equal(drain(32).length, 32);
  for (let i = 0; i < 32; i++) assert.equal(producer.write(new Uint8Array(56)), true);
  assert.equal(producer.write(new Uint8Array(1)), false);
  assert.equal(drain().length, 64);
});

test('sizes the ring can never take are RecordSizeErrors', () => {
  const { producer } = plainRing(4096);
  assert.equal(producer.maxRecordSize, 4088);
  for (const size of [0, -1, 1.5, Number.NaN, 4089, 2 ** 32]) {
    assert.throws(() => producer.reserve(size), (error: unknown) => error instanceof RecordSizeError && error instanceof TsbpfError && error.limit === 4088);
  }
  assert.throws(() => producer.write(new Uint8Array(0)), RecordSizeError);
  const whole = producer.reserve(4088)!;
  assert.equal(producer.available(), 4096, 'a record as large as the ring less its header fills it');
  whole.submit();
  assert.equal(new UserRingProducer({ ...plainRing(2 ** 26).memory }).maxRecordSize, 0xffffff, 'the kernel drains at most 2^24 - 1 bytes per record');
});

test('write() takes only a Uint8Array: a string or an array has a length but would copy in as zeros', () => {
  const { producer, memory } = plainRing(4096);
  for (const bytes of ['hello', [1, 2, 3], new Uint16Array(2), {}]) {
    assert.throws(() => producer.write(bytes as Uint8Array), (e: unknown) => e instanceof TsbpfError && /^test ring write\(\): expected a Uint8Array/.test(e.message), String(bytes));
  }
  assert.equal(memory.producerPos[0], 0n, 'nothing reserved');
  assert.equal(producer.write(Buffer.from('hello')), true);
});

test('finishing a record twice is refused; after close everything is ClosedError', () => {
  const { producer } = plainRing(4096);
  const record = producer.reserve(8)!;
  record.submit();
  assert.throws(() => record.submit(), /already submitted/);
  assert.throws(() => record.discard(), /already submitted/);
  const open = producer.reserve(8)!;
  producer.close();
  assert.throws(() => producer.reserve(8), ClosedError);
  assert.throws(() => open.submit(), ClosedError);
  assert.throws(() => producer.available(), ClosedError);
  assert.equal(open.state, 'reserved');
});

test('positions that break the protocol are RingCorruptionErrors', () => {
  const size = 4096;
  const memory = (consumer: bigint, producer: bigint) => ({
    consumerPos: new BigUint64Array([consumer]), producerPos: new BigUint64Array([producer]), data: new ArrayBuffer(2 * size), dataOffset: 0, size,
  });
  assert.throws(() => new UserRingProducer(memory(0n, 12n)), RingCorruptionError);
  assert.throws(() => new UserRingProducer(memory(16n, 8n)), RingCorruptionError);
  assert.throws(() => new UserRingProducer(memory(0n, 8192n)), RingCorruptionError);
  assert.throws(() => new UserRingProducer({ ...memory(0n, 0n), size: 4000 }), RingCorruptionError);
  const ring = plainRing(size);
  ring.memory.consumerPos[0] = 1_000_000n;
  assert.throws(() => ring.producer.available(), RingCorruptionError);
});

type Command =
  | { kind: 'reserve'; size: number }
  | { kind: 'finish'; pick: number; discard: boolean }
  | { kind: 'drain' };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reserve' as const), size: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2040 })) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), discard: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drain' as const) }) },
);

test('any interleaving of reservations, finishes and drains matches a model of the kernel drain', () => {
  const size = 2048;
  fc.assert(
    fc.property(fc.nat(2 ** 20).map((n) => BigInt(n * 8)), fc.array(commandArbitrary, { maxLength: 300 }), (start, commands) => {
      const { producer, drain } = plainRing(size, start);
      // Every record not yet drained, in reservation order.
      const queue: { seq: number; span: number; record: UserRecord }[] = [];
      let used = 0;
      let seq = 0;
      for (const command of commands) {
        if (command.kind === 'reserve') {
          const span = (command.size + 15) & ~7;
          const record = producer.reserve(command.size);
          assert.equal(record !== undefined, size - used >= span, `reserve(${command.size}) with ${size - used} bytes free`);
          if (!record) continue;
          if (command.size >= 8) fill(record, seq);
          queue.push({ seq: seq++, span, record });
          used += span;
        } else if (command.kind === 'finish') {
          const open = queue.filter((entry) => entry.record.state === 'reserved');
          const entry = open[command.pick % Math.max(1, open.length)];
          if (command.discard) entry?.record.discard();
          else entry?.record.submit();
        } else {
          const expected: { seq: number; size: number }[] = [];
          while (queue[0] && queue[0].record.state !== 'reserved') {
            const entry = queue.shift()!;
            used -= entry.span;
            if (entry.record.state === 'submitted') expected.push({ seq: entry.seq, size: entry.record.size });
          }
          const records = drain();
          assert.deepEqual(records.map((bytes) => bytes.length), expected.map((entry) => entry.size));
          records.forEach((bytes, i) => bytes.length >= 8 && checkRecord(bytes, expected[i]!.seq));
        }
        assert.equal(producer.outstanding, queue.filter((entry) => entry.record.state === 'reserved').length);
        assert.equal(producer.available(), used);
      }
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
});

// ---- Against the kernel ----

/** The test object, its user ring, and a drain run through BPF_PROG_TEST_RUN. */
function openRing(t: TestContext) {
  if (!needsRoot(t)) return undefined;
  const object = BpfObject.open(programPath('user_ringbuf_test'));
  t.after(() => object.close());
  const ring = object.userRingBuffer('ring');
  const program = object.program('drain');
  /** Runs bpf_user_ringbuf_drain(flags) and returns what it returned: records drained or -errno. */
  const drain = (flags = 0, stopAfter = 0): number => {
    const context = Buffer.alloc(24);
    context.writeBigUInt64LE(BigInt(flags), 0);
    context.writeUInt32LE(stopAfter, 8);
    program.testRun({ context });
    const drained = context.readBigInt64LE(16);
    assert.equal(object.readVariable('last_ret'), drained);
    return Number(drained);
  };
  /** What the BPF callback saw, over every drain so far. */
  const totals = () => {
    const read = (name: string) => Number(object.readVariable(name) as number | bigint);
    return {
      records: read('records'), seqSum: read('seq_sum'), payloadBytes: read('payload_bytes'),
      outOfOrder: read('out_of_order'), badSize: read('bad_size'), badBytes: read('bad_bytes'),
    };
  };
  /** Writes record `seq` of `size` bytes; false when the ring is too full. */
  const produce = (seq: number, size: number): boolean => {
    const record = ring.reserve(size);
    if (!record) return false;
    // Through the record's views, or (odd records) through the ring's.
    if (seq % 2) fillAt(ring.bytes, record.offset, size, seq);
    else fill(record, seq);
    record.submit();
    return true;
  };
  /** Fills the ring to the last byte with 56-byte records (64 with the header). */
  const fillUp = () => {
    let seq = 0;
    while (produce(seq, 56)) seq++;
    assert.equal(seq, ring.size / 64);
    return seq;
  };
  return { object, ring, drain, totals, produce, fillUp };
}

test('the kernel drains records of many sizes, wrapping the ring end many times, intact and in order', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, totals, produce } = opened;
  assert.equal(ring.size, 64 * 1024);
  assert.equal(ring.maxRecordSize, 64 * 1024 - 8);
  let seq = 0;
  let seqSum = 0;
  let bytes = 0;
  let drained = 0;
  let wrapped = 0;
  for (let round = 0; round < 60; round++) {
    for (;;) {
      const size = 8 + ((seq * 7919) % 1500);
      const { producerPos } = ring.query();
      if (!produce(seq, size)) break;
      if (Number(producerPos % 65536n) + 8 + size > ring.size) wrapped++;
      seqSum += seq++;
      bytes += size;
    }
    drained += drain();
    assert.equal(ring.query().available, 0);
  }
  // One record as large as the ring allows: the ring's whole data area.
  assert.ok(produce(seq, ring.maxRecordSize), 'a record of maxRecordSize fits an empty ring');
  assert.equal(ring.query().free, 0);
  assert.equal(drain(), 1);
  seqSum += seq++;
  bytes += ring.maxRecordSize;
  assert.equal(drained + 1, seq);
  assert.ok(wrapped >= 30, `${wrapped} records wrapped the ring end`);
  assert.deepEqual(totals(), { records: seq, seqSum, payloadBytes: bytes, outOfOrder: 0, badSize: 0, badBytes: 0 });
  t.diagnostic(`${seq} records, ${(bytes / ring.size).toFixed(0)} trips around a ${ring.size}-byte ring, ${wrapped} wrapped`);
});

test('the BPF checker notices a wrong payload byte (so the other tests can fail)', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, totals } = opened;
  const record = ring.reserve(100)!;
  fill(record, 0);
  record.bytes[77]! ^= 1;
  record.submit();
  assert.equal(drain(), 1);
  assert.equal(totals().badBytes, 1);
});

test('the kernel skips discarded records and stops at one still reserved', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, totals, produce } = opened;
  const first = ring.reserve(16)!;
  fill(first, 0);
  const dropped = ring.reserve(32)!;
  fill(dropped, 1000);
  dropped.discard();
  assert.ok(produce(1, 24), 'room for a third record');
  assert.equal(ring.query().outstanding, 1);
  assert.equal(drain(), 0, 'the first record is still BUSY');
  assert.equal(ring.query().consumerPos, 0n);
  first.submit();
  assert.equal(drain(), 2, 'the drain counts records handed to the callback, not discarded ones');
  assert.deepEqual(totals(), { records: 2, seqSum: 1, payloadBytes: 40, outOfOrder: 0, badSize: 0, badBytes: 0 });
  assert.equal(ring.query().available, 0);
});

test('a callback that stops the drain leaves the rest for the next one', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { drain, totals, produce } = opened;
  for (let seq = 0; seq < 10; seq++) assert.ok(produce(seq, 8 + seq), `record ${seq} fits`);
  assert.equal(drain(0, 3), 3);
  assert.equal(drain(), 7);
  assert.equal(totals().records, 10);
  assert.equal(totals().outOfOrder, 0);
});

test('a full ring refuses reservations (undefined, no exception); after a drain there is room again', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, fillUp, produce } = opened;
  const count = fillUp();
  assert.equal(ring.reserve(1), undefined);
  assert.equal(ring.write(new Uint8Array(8)), false);
  assert.deepEqual(ring.query(), { size: ring.size, available: ring.size, free: 0, consumerPos: 0n, producerPos: BigInt(ring.size), outstanding: 0 });
  assert.equal(drain(0, 10), 10);
  for (let seq = count; seq < count + 10; seq++) assert.ok(produce(seq, 56), `record ${seq} fits in the drained space`);
  assert.equal(produce(count + 10, 56), false);
  assert.equal(drain(), count);
});

test('reserveBlocking resolves when a drain frees space', async (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, fillUp } = opened;
  fillUp();
  const started = performance.now();
  setTimeout(() => drain(), 50);
  const record = await ring.reserveBlocking(56, { timeoutMs: 5000 });
  assert.ok(record, 'a record once the drain made room');
  const waited = performance.now() - started;
  assert.ok(waited >= 40 && waited < 4000, `waited ${waited.toFixed(0)} ms`);
  assert.ok(ring.wakeups >= 1, 'the drain woke the waiter');
  record.discard();
  // With room already, no waiting at all.
  const quick = await ring.reserveBlocking(8, { timeoutMs: 0 });
  assert.ok(quick, 'no wait with room in the ring');
  quick.submit();
});

test('reserveBlocking resolves undefined on timeout and on abort', async (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, produce } = opened;
  // 8 bytes stay free: the map fd reads as writable all along, and the wait
  // must still sleep instead of spinning.
  assert.ok(produce(0, 48), 'an empty ring takes a record');
  for (let seq = 1; produce(seq, 56); seq++);
  assert.equal(ring.query().free, 8);
  let started = performance.now();
  assert.equal(await ring.reserveBlocking(56, { timeoutMs: 100 }), undefined);
  assert.ok(performance.now() - started >= 95, 'reserveBlocking waited for its timeout');
  assert.equal(ring.wakeups, 0, 'no wake-up without a drain');
  assert.equal(await ring.reserveBlocking(56, { timeoutMs: 0 }), undefined);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  started = performance.now();
  assert.equal(await ring.reserveBlocking(56, { signal: controller.signal }), undefined);
  const waited = performance.now() - started;
  assert.ok(waited >= 40 && waited < 2000, `aborted after ${waited.toFixed(0)} ms`);
  assert.equal(await ring.reserveBlocking(56, { signal: AbortSignal.abort() }), undefined);
  assert.equal(ring.query().outstanding, 0);
  // NaN is refused; a timeout past Node's longest timer (2^31 - 1 ms) used to fire after 1 ms, again and again.
  await assert.rejects(ring.reserveBlocking(56, { timeoutMs: Number.NaN }), (error: Error) => error instanceof TsbpfError && /timeoutMs is NaN/.test(error.message));
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  assert.equal(await ring.reserveBlocking(56, { timeoutMs: 2 ** 31, signal: AbortSignal.timeout(100) }), undefined);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings, [], 'no timer Node had to cut short');
});

test('only drains that wake user space end the wait: not BPF_RB_NO_WAKEUP; BPF_RB_FORCE_WAKEUP even with nothing drained', async (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring, drain, produce } = opened;
  // A record held in front makes a drain free nothing; 8 bytes stay free, so
  // the map fd reads as writable (a completely full ring never does).
  const held = ring.reserve(48)!;
  fill(held, 0);
  let seq = 1;
  while (produce(seq, 56)) seq++;
  assert.equal(ring.query().free, 8);
  const wakeups = ring.wakeups;
  setTimeout(() => assert.equal(drain(BPF_RB_FORCE_WAKEUP), 0), 30);
  setTimeout(() => {
    held.submit();
    assert.equal(drain(BPF_RB_NO_WAKEUP), seq);
    assert.equal(ring.query().available, 0);
  }, 80);
  const started = performance.now();
  const record = await ring.reserveBlocking(56, { timeoutMs: 400 });
  const waited = performance.now() - started;
  assert.ok(record, 'the last try after the timeout finds the room');
  assert.ok(waited >= 390, `the NO_WAKEUP drain did not end the wait (${waited.toFixed(0)} ms)`);
  assert.equal(ring.wakeups - wakeups, 1, 'the FORCE_WAKEUP drain woke the waiter once, for nothing');
  record.discard();
});

test('sizes the ring can never take are RecordSizeErrors', async (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { ring } = opened;
  for (const size of [0, -8, 2.5, ring.maxRecordSize + 1, 2 ** 31]) {
    assert.throws(() => ring.reserve(size), RecordSizeError);
    await assert.rejects(ring.reserveBlocking(size, { timeoutMs: 10 }), RecordSizeError);
  }
  assert.throws(() => ring.write(new Uint8Array(0)), RecordSizeError);
  assert.equal(ring.query().producerPos, 0n);
});

test('close: use after it is ClosedError, records still reserved do not crash, a pending wait resolves undefined', async (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { object, ring, drain, fillUp } = opened;
  assert.equal(object.userRingBuffer('ring'), ring, 'one instance per map');
  fillUp();
  const pending = ring.reserveBlocking(56, { timeoutMs: 5000 });
  ring.close();
  assert.equal(await pending, undefined);

  // A new mapping of the same map carries on where the closed one stopped.
  const again = new UserRingBuffer('ring', object.map('ring').fd);
  assert.equal(again.query().producerPos, BigInt(ring.size));
  assert.equal(drain(), ring.size / 64);
  const record = again.reserve(64)!;
  again.close();
  again.close();
  assert.throws(() => again.reserve(8), ClosedError);
  assert.throws(() => again.write(new Uint8Array(8)), ClosedError);
  assert.throws(() => again.query(), ClosedError);
  await assert.rejects(again.reserveBlocking(8), ClosedError);
  assert.throws(() => record.submit(), ClosedError);
  assert.throws(() => record.discard(), ClosedError);
  record.bytes.fill(1);
  assert.equal(record.view.getUint8(0), 1, 'the bytes are a harmless private page now');
});

test('a map that is not a user ring buffer is a typed error', (t) => {
  const opened = openRing(t);
  if (!opened) return;
  const { object } = opened;
  const bss = [...object.maps.values()].find((map) => map.spec.data)!;
  assert.throws(() => new UserRingBuffer(bss.name, bss.fd), { name: 'TsbpfError', message: /is not a user ring buffer \(map type 2\)/ });
  assert.throws(() => bss.userRingBuffer(), TsbpfError);
  assert.throws(() => object.userRingBuffer('nope'), /no map named 'nope'/);
  assert.throws(() => object.ringBuffer('ring'), TsbpfError, 'a user ring is not a kernel ring');
  const kernelRing = BpfObject.open(programPath('ringbuf_test'));
  t.after(() => kernelRing.close());
  assert.throws(() => new UserRingBuffer('ring', kernelRing.map('ring').fd), /map type 27/);
  assert.throws(() => kernelRing.map('ring').userRingBuffer(), TsbpfError);
});

test('the loader creates user ring maps only with a power-of-two, page-multiple size', (t) => {
  if (!needsRoot(t)) return;
  for (const size of [3 * 4096, 2048]) {
    const spec = ObjectSpec.parse(programBytes('user_ringbuf_test'));
    spec.map('ring').maxEntries = size;
    assert.throws(() => BpfObject.load(spec), (error: unknown) => error instanceof TsbpfError && /'ring'.*max_entries \d+.*power of two/.test(error.message));
  }
});
