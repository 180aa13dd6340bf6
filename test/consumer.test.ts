// The consumer over plain memory (no kernel): the protocol's edge cases, and
// corrupted shared memory that must give a typed error, never a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingCorruptionError, TsbpfError } from '../src/errors.ts';
import { RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RingConsumer } from '../src/ringbuf/consumer.ts';

const SIZE = 4096;

/** A ring laid out like the kernel's mapping: positions, and the data area twice (writes go to both copies). */
function fakeRing() {
  const consumerPos = new BigUint64Array(1);
  const producerPos = new BigUint64Array(1);
  const data = new ArrayBuffer(2 * SIZE);
  const bytes = new Uint8Array(data);
  const write = (position: number, values: Uint8Array) => {
    for (let i = 0; i < values.length; i++) {
      const at = (position + i) % SIZE;
      bytes[at] = values[i]!;
      bytes[at + SIZE] = values[i]!;
    }
  };
  const header = (length: number, flags = 0) => {
    const h = new Uint8Array(8);
    new DataView(h.buffer).setUint32(0, (length | flags) >>> 0, true);
    return h;
  };
  /** Appends a record at producer_pos and returns where it starts. */
  const produce = (payload: number[], flags = 0) => {
    const at = Number(producerPos[0]);
    write(at, header(payload.length, flags));
    write(at + 8, Uint8Array.from(payload));
    producerPos[0] = BigInt(at + ((payload.length + 8 + 7) & ~7));
    return at;
  };
  const consumer = new RingConsumer({ consumerPos, producerPos, data, dataOffset: 0, size: SIZE });
  const drain = (budget?: number) => {
    const seen: number[][] = [];
    consumer.consume((view, offset, length) => {
      seen.push(Array.from(new Uint8Array(view.buffer, view.byteOffset + offset, length)));
    }, budget);
    return seen;
  };
  return { consumerPos, producerPos, write, header, produce, consumer, drain };
}

test('a BUSY record holds back the ones after it; a discarded one is skipped', () => {
  const ring = fakeRing();
  ring.produce([1]);
  const busy = ring.produce([2, 2], RINGBUF_BUSY_BIT);
  ring.produce([3]);
  assert.deepEqual(ring.drain(), [[1]]);
  assert.equal(ring.consumerPos[0], 16n, 'consumer_pos stops at the BUSY record');
  ring.write(busy, ring.header(2, RINGBUF_DISCARD_BIT)); // the producer discards it
  assert.deepEqual(ring.drain(), [[3]]);
  assert.equal(ring.consumerPos[0], ring.producerPos[0]);
});

test('a record that wraps past the end is read whole through the second mapping', () => {
  const ring = fakeRing();
  ring.producerPos[0] = ring.consumerPos[0] = BigInt(SIZE - 16);
  const payload = Array.from({ length: 40 }, (_, i) => i);
  ring.produce(payload);
  assert.deepEqual(ring.drain(), [payload]);
  assert.equal(ring.consumerPos[0], BigInt(SIZE - 16 + 48));
});

test('positions far beyond 2^32 keep working (they only grow)', () => {
  const ring = fakeRing();
  const start = 2 ** 40 + 8;
  ring.producerPos[0] = ring.consumerPos[0] = BigInt(start);
  ring.produce([7, 7, 7]);
  ring.produce([8]);
  assert.deepEqual(ring.drain(1), [[7, 7, 7]]);
  assert.deepEqual(ring.drain(), [[8]]);
  assert.equal(ring.consumerPos[0], BigInt(start + 32));
});

test('corrupted shared memory gives a RingCorruptionError, not a hang or an out-of-bounds read', () => {
  const cases: [string, (ring: ReturnType<typeof fakeRing>) => void, RegExp][] = [
    // After 0, 1 or 2 good records: the hot loop reads two records a turn, so the bad one falls in either half.
    ...[0, 1, 2].map((good): [string, (ring: ReturnType<typeof fakeRing>) => void, RegExp] => [`length past the producer after ${good} records`, (ring) => {
      for (let i = 0; i < good; i++) ring.produce([9]);
      ring.write(ring.produce([1]), ring.header(4000));
    }, /longer than the 16 bytes produced/]),
    ['discarded record past the producer', (ring) => { ring.produce([9]); ring.write(ring.produce([1]), ring.header(4000, RINGBUF_DISCARD_BIT)); }, /longer than the 16 bytes produced/],
    ['producer not on a record boundary', (ring) => { ring.produce([1]); ring.producerPos[0] = ring.producerPos[0]! + 4n; }, /positions are not multiples of 8/],
    ['consumer not on a record boundary', (ring) => { ring.produce([1]); ring.consumerPos[0] = 4n; }, /positions are not multiples of 8/],
    ['producer more than a ring ahead', (ring) => { ring.producerPos[0] = BigInt(SIZE * 3); }, /pending in a 4096-byte ring/],
    ['consumer past the producer', (ring) => { ring.produce([1]); ring.consumerPos[0] = 64n; }, /consumer_pos is past producer_pos/],
  ];
  for (const [name, corrupt, message] of cases) {
    const ring = fakeRing();
    corrupt(ring);
    assert.throws(() => ring.drain(), (e: unknown) => e instanceof RingCorruptionError && message.test(e.message), name);
  }
});

test('a ring size that is not a power of two is refused', () => {
  const memory = { consumerPos: new BigUint64Array(1), producerPos: new BigUint64Array(1), data: new ArrayBuffer(2 * 3000), dataOffset: 0, size: 3000 };
  assert.throws(() => new RingConsumer(memory), RingCorruptionError);
});

test('consume() from inside its own callback is refused (it would deliver records twice)', () => {
  const ring = fakeRing();
  ring.produce([1]);
  ring.produce([2]);
  assert.throws(() => ring.consumer.consume(() => { ring.consumer.consume(() => {}); }), /from inside one of its callbacks/);
  // The outer call counted its record as consumed; the consumer still works.
  assert.deepEqual(ring.drain(), [[2]]);
});

test('budgets hold across the chunks a drain is cut into; stop() ends it at the record in hand', () => {
  // A 4 KiB ring publishes consumer_pos every 1 KiB: 64 records of 16 bytes per chunk.
  const fill = (ring: ReturnType<typeof fakeRing>, count: number) => {
    for (let i = 0; i < count; i++) ring.produce([i & 0xff]);
  };
  const ring = fakeRing();
  fill(ring, 200);
  assert.equal(ring.drain(150).length, 150, 'a budget spanning three chunks');
  assert.equal(ring.drain(2 ** 40).length, 50, 'a budget beyond any count');
  fill(ring, 10);
  assert.equal(ring.drain(2.5).length, 3, 'a fractional budget rounds up, as `delivered >= budget` did');
  assert.throws(() => ring.consumer.consume(() => {}, Number.NaN), (e: unknown) => e instanceof TsbpfError && /budget is NaN/.test(e.message));
  fill(ring, 200);
  let seen = 0;
  const delivered = ring.consumer.consume(() => {
    if (++seen === 100) ring.consumer.stop();
  });
  assert.equal(delivered, 100, 'stop() in the second chunk');
  assert.equal(ring.drain().length, 107, 'the rest, then nothing twice');
  assert.equal(ring.consumer.stats().records, 150 + 50 + 3 + 100 + 107);
});

test('a 1 GiB ring (the largest Node can map) reads records at the end of its data area and across the wrap; 2 GiB is refused', () => {
  const size = 2 ** 30;
  const data = new ArrayBuffer(2 * size); // untouched pages cost no memory
  const view = new DataView(data);
  for (const copy of [0, size]) {
    view.setUint32(copy + size - 16, 4, true); // the last record before the wrap: its payload is the area's last 8 bytes
    view.setUint32(copy + size - 8, 0xfeedface, true);
    view.setUint32(copy, 12, true); // the first one after it
    view.setUint32(copy + 8, 0xc0ffee, true);
  }
  const consumerPos = 3 * size - 16;
  const memory = { consumerPos: new BigUint64Array([BigInt(consumerPos)]), producerPos: new BigUint64Array([BigInt(consumerPos + 40)]), data, dataOffset: 0, size };
  const seen: number[][] = [];
  assert.equal(new RingConsumer(memory).consume((v, offset, length) => { seen.push([offset, length, v.getUint32(offset, true)]); }), 2);
  assert.deepEqual(seen, [[size - 8, 4, 0xfeedface], [8, 12, 0xc0ffee]]);
  assert.equal(memory.consumerPos[0], BigInt(consumerPos + 40));
  assert.throws(() => new RingConsumer({ ...memory, size: 2 ** 31 }), (error: Error) => error instanceof RingCorruptionError && /between 8 bytes and 1 GiB/.test(error.message));
  // A corrupt length at the end of the area: offset + length is 2^31, past what a 32-bit integer holds.
  for (const copy of [0, size]) view.setUint32(copy + size - 8, 2 ** 30 - 1, true);
  const corrupt = { ...memory, consumerPos: new BigUint64Array([BigInt(3 * size - 8)]), producerPos: new BigUint64Array([BigInt(3 * size + 8)]) };
  let delivered = 0;
  assert.throws(() => new RingConsumer(corrupt).consume(() => { delivered++; }), (error: Error) => error instanceof RingCorruptionError && /longer than the 16 bytes produced/.test(error.message));
  assert.equal(delivered, 0);
  assert.equal(corrupt.consumerPos[0], BigInt(3 * size - 8), 'consumer_pos stays at the corrupt record');
});
