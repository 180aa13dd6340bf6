// Many ring buffers on one wake-up source (RingBufferSet) against the real
// kernel: three rings of programs/ringbuf_multi.bpf.o and the ring of a
// second object (programs/ringbuf_test.bpf.o), fed with BPF_PROG_TEST_RUN.
import assert from 'node:assert/strict';
import { closeSync, readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { ClosedError, SyscallError, TsbpfError } from '../src/errors.ts';
import { BpfObject } from '../src/loader/object.ts';
import { RingBufferSet } from '../src/ringbuf/ring-set.ts';
import type { RingBuffer } from '../src/ringbuf/ringbuf.ts';
import { needsRoot, programPath } from './helpers.ts';

const BPF_RB_NO_WAKEUP = 1;
const RING_NAMES = ['ring_a', 'ring_b', 'ring_c'] as const;

interface Fixture {
  rings: RingBuffer[];
  /** The ring of a second object, which nothing writes to. */
  other: RingBuffer;
  /** Writes `count` records into rings[ring]; returns how many fitted. */
  produce: (ring: number, count: number, firstSeq?: number, flags?: number) => number;
  set: RingBufferSet;
}

function open(t: TestContext): Fixture | undefined {
  if (!needsRoot(t)) return undefined;
  const object = BpfObject.open(programPath('ringbuf_multi'));
  const otherObject = BpfObject.open(programPath('ringbuf_test'));
  const set = new RingBufferSet();
  t.after(() => {
    set.close();
    object.close();
    otherObject.close();
  });
  const program = object.program('produce');
  const produce = (ring: number, count: number, firstSeq = 0, flags = 0) => {
    const context = Buffer.alloc(24);
    [ring, count, firstSeq, flags].forEach((value, i) => context.writeUInt32LE(value, i * 4));
    program.testRun({ context });
    assert.equal(context.readUInt32LE(20), 0, 'no reservation failed');
    return context.readUInt32LE(16);
  };
  return { rings: RING_NAMES.map((name) => object.ringBuffer(name)), other: otherObject.ringBuffer('ring'), produce, set };
}

/** A callback that checks each record came from `ring`, in sequence, intact. */
function sequenceChecker(ring: number) {
  const seen: number[] = [];
  const onRecord = (view: DataView, offset: number, length: number) => {
    assert.equal(length, 16);
    assert.equal(view.getUint32(offset, true), ring, 'record delivered to its own ring');
    const seq = view.getUint32(offset + 4, true);
    assert.equal(view.getBigUint64(offset + 8, true), BigInt(seq) * 31n + BigInt(ring));
    assert.equal(seq, seen.length, 'records arrive once and in order');
    seen.push(seq);
  };
  return { seen, onRecord };
}

test('poll() drains only the rings that have records, each through its own callback', async (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, other, produce, set } = fixture;
  const checkers = rings.map((_, i) => sequenceChecker(i));
  rings.forEach((ring, i) => set.add(ring, checkers[i]!.onRecord));
  set.add(other, () => assert.fail('nothing was written to the other object\'s ring'));
  assert.deepEqual(set.rings.map((ring) => ring.name), [...RING_NAMES, 'ring']);

  produce(0, 300);
  produce(2, 7);
  assert.equal(await set.poll(1000), 307);
  assert.equal(checkers[0]!.seen.length, 300);
  assert.equal(checkers[1]!.seen.length, 0);
  assert.equal(checkers[2]!.seen.length, 7);
  assert.equal(await set.poll(0), 0, 'nothing left');
});

test('poll() sleeps until any ring is woken, and finds records of NO_WAKEUP producers', async (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  const checker = sequenceChecker(1);
  rings.forEach((ring, i) => set.add(ring, i === 1 ? checker.onRecord : () => assert.fail(`ring ${i} got a record`)));

  const started = Date.now();
  setTimeout(() => produce(1, 5), 50);
  assert.equal(await set.poll(5000), 5, 'woken by the submit, long before the timeout');
  assert.ok(Date.now() - started < 4000);
  assert.equal(set.stats().wakeups, 1);

  produce(1, 3, 5, BPF_RB_NO_WAKEUP);
  assert.equal(await set.poll(5000), 3, 'records nobody was woken for are found before sleeping');
  assert.deepEqual(checker.seen, [0, 1, 2, 3, 4, 5, 6, 7]);

  const quiet = Date.now();
  assert.equal(await set.poll(60), 0, 'timeout with nothing written');
  assert.ok(Date.now() - quiet >= 50);
});

test('subscribe() drains each ready ring through its own callback, on wake-ups and, for NO_WAKEUP rings, with the check interval', async (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  const checkers = rings.map((_, i) => sequenceChecker(i));
  rings.forEach((ring, i) => set.add(ring, checkers[i]!.onRecord));
  const subscription = set.subscribe({ checkIntervalMs: 10 });
  const delivered = () => checkers.map((c) => c.seen.length);
  const until = async (expected: number[]) => {
    const deadline = Date.now() + 5000;
    while (delivered().join() !== expected.join()) {
      if (Date.now() > deadline) assert.fail(`delivered ${delivered().join()}, expected ${expected.join()}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  setTimeout(() => {
    produce(0, 4);
    produce(2, 6);
  }, 20);
  await until([4, 0, 6]);
  produce(1, 5, 0, BPF_RB_NO_WAKEUP);
  await until([4, 5, 6]);
  await assert.rejects(set.wait({ timeoutMs: 10 }), /already has a waiter/);
  set.close();
  assert.equal(subscription.closed, true, 'closing the set ends its subscription');
});

test('a set subscription closed from inside a ring\'s callback delivers nothing more, from that ring or the others', async (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  const got: string[] = [];
  rings.forEach((ring, i) => set.add(ring, () => {
    got.push(`ring${i}`);
    subscription.close();
  }));
  rings.forEach((_, i) => produce(i, 2));
  const subscription = set.subscribe({ checkIntervalMs: Number.POSITIVE_INFINITY });
  const deadline = Date.now() + 3000;
  while (got.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(got.length, 1, `delivered: ${got.join(', ')}`);
  assert.equal(rings.reduce((left, ring) => left + ring.consume(() => {}), 0), 5, 'the other five records stay in their rings');
});

test('a budget is shared out in turn, so a busy ring cannot starve the others', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  const checkers = rings.map((_, i) => sequenceChecker(i));
  rings.forEach((ring, i) => set.add(ring, checkers[i]!.onRecord));
  for (let i = 0; i < 3; i++) produce(i, 100);

  const counts = () => checkers.map((checker) => checker.seen.length);
  assert.equal(set.consume(50), 50);
  assert.deepEqual(counts(), [50, 0, 0]);
  assert.equal(set.consume(50), 50);
  assert.deepEqual(counts(), [50, 50, 0], 'the next drain starts after the ring that used up the budget');
  assert.equal(set.consume(120), 120);
  assert.deepEqual(counts(), [70, 50, 100], 'ring_c first, then ring_a after wrapping around');
  assert.equal(set.consume(0), 0);
  assert.throws(() => set.consume(Number.NaN), /budget is NaN/);
  assert.equal(set.consume(), 80);
  assert.deepEqual(counts(), [100, 100, 100]);
});

test('a callback returning false stops the whole drain, as in one ring; closing the set from a callback stops it too', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  const seen = [0, 0, 0];
  let stopAt: number | undefined;
  rings.forEach((ring, i) => set.add(ring, () => {
    seen[i]!++;
    if (i === stopAt) return false;
  }));
  for (let i = 0; i < 3; i++) produce(i, 5);
  stopAt = 0;
  assert.equal(set.consume(), 1);
  assert.deepEqual(seen, [1, 0, 0], 'nothing from the other rings after the false');
  stopAt = 1;
  assert.equal(set.consume(), 1, 'the next drain starts after the ring that stopped');
  assert.deepEqual(seen, [1, 1, 0]);
  stopAt = undefined;
  assert.equal(set.consume(), 13);
  assert.deepEqual(seen, [5, 5, 5]);

  for (let i = 0; i < 3; i++) produce(i, 5, 5);
  const closing = new RingBufferSet();
  let delivered = 0;
  rings.forEach((ring) => closing.add(ring, () => {
    if (++delivered === 2) closing.close();
  }));
  assert.equal(closing.consume(), 2, 'no record after the close but the one in hand');
  assert.deepEqual(rings.map((ring) => ring.available() > 0), [true, true, true], 'the rest stays in the rings');
  assert.equal(set.consume(), 13);
});

test('for await yields copies from every ring, tagged with the ring, and leaves the backlog in the rings', async (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  rings.forEach((ring) => set.add(ring));
  produce(0, 500);
  produce(1, 2);

  const controller = new AbortController();
  const taken: { ring: string; seq: number }[] = [];
  for await (const { ring, data } of set.records({ signal: controller.signal })) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    taken.push({ ring: ring.name, seq: view.getUint32(4, true) });
    if (taken.length === 6) break;
  }
  assert.deepEqual(taken, [
    { ring: 'ring_a', seq: 0 }, { ring: 'ring_b', seq: 0 }, { ring: 'ring_a', seq: 1 },
    { ring: 'ring_b', seq: 1 }, { ring: 'ring_a', seq: 2 }, { ring: 'ring_a', seq: 3 },
  ], 'the rings take turns');
  // Only what was yielded left the ring: breaking out of the loop loses nothing.
  assert.equal(rings[0]!.available(), (500 - 4) * 24);

  setTimeout(() => produce(2, 1), 30);
  setTimeout(() => controller.abort(), 2000);
  const late: { ring: string; seq: number }[] = [];
  for await (const { ring, data } of set.records({ signal: controller.signal })) {
    late.push({ ring: ring.name, seq: new DataView(data.buffer).getUint32(4, true) });
    if (ring.name === 'ring_c') controller.abort();
  }
  assert.equal(late.length, 497, 'the rest of ring_a, then the record written while waiting');
  assert.deepEqual(late[0], { ring: 'ring_a', seq: 4 });
  assert.deepEqual(late.at(-1), { ring: 'ring_c', seq: 0 });
});

test('membership: duplicates refused, remove(), closed rings leave the set, use after close', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { rings, produce, set } = fixture;
  set.add(rings[0]!, () => {}).add(rings[1]!, () => {});
  assert.throws(() => set.add(rings[0]!), TsbpfError);
  set.remove(rings[1]!);
  assert.throws(() => set.remove(rings[1]!), TsbpfError);
  assert.deepEqual(set.rings.map((ring) => ring.name), ['ring_a']);

  const added = new RingBufferSet();
  t.after(() => added.close());
  added.add(rings[2]!);
  produce(2, 4);
  assert.throws(() => added.consume(), /without a callback/);

  rings[0]!.close();
  produce(0, 1);
  assert.equal(set.consume(), 0, 'a closed ring is skipped');
  assert.deepEqual(set.rings, []);
  assert.throws(() => set.add(rings[0]!), ClosedError);

  set.close();
  assert.throws(() => set.consume(), ClosedError);
  assert.rejects(set.poll(10), ClosedError);
});

test('a ring closed while in a set leaves it before its fd is closed: a new ring that gets the same fd number is still woken for', async (t) => {
  if (!needsRoot(t)) return;
  const set = new RingBufferSet();
  t.after(() => set.close());
  const first = BpfObject.open(programPath('ringbuf_test'));
  const firstRing = first.ringBuffer('ring');
  set.add(firstRing, () => {});
  const reusedFd = firstRing.mapFd;
  first.close();
  const second = BpfObject.open(programPath('ringbuf_test'));
  t.after(() => second.close());
  const secondRing = second.ringBuffer('ring');
  // The kernel gives out the lowest free fd numbers: the same object opened again gets the same ones.
  assert.equal(secondRing.mapFd, reusedFd, 'the new ring has the old one\'s fd number');
  let received = 0;
  set.add(secondRing, () => {
    received++;
  });
  setTimeout(() => {
    const context = Buffer.alloc(36);
    [5, 0, 16, 16, 0, 0].forEach((value, i) => context.writeUInt32LE(value, i * 4));
    second.program('produce').testRun({ context });
  }, 50);
  assert.equal(await set.wait({ timeoutMs: 5000 }), true, 'woken by the new ring');
  assert.equal(set.consume(), 5);
  assert.equal(received, 5);
  assert.deepEqual(set.rings, [secondRing]);
});

test('a ring in a set whose fd was closed behind its back still lets go of its mappings when closed', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('ringbuf_multi'));
  const set = new RingBufferSet();
  t.after(() => set.close());
  const ring = object.ringBuffer('ring_a');
  set.add(ring, () => {});
  const bpfMappings = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.includes('anon_inode:bpf-map')).length;
  const before = bpfMappings();
  assert.ok(before >= 2, 'the ring maps its consumer page and its data');
  closeSync(ring.mapFd);
  assert.throws(() => object.close(), (error: Error) => error instanceof SyscallError && error.code === 'EBADF', 'the map fd close fails');
  assert.equal(ring.isClosed, true);
  assert.equal(bpfMappings(), before - 2, 'both of the ring\'s mappings released');
  assert.deepEqual(set.rings, []);
});
