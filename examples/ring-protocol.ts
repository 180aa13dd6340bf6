// The BPF ring buffer protocol, step by step, with no kernel and no root:
// RingSimulator does what kernel/bpf/ringbuf.c does for a BPF program's
// bpf_ringbuf_reserve/submit/discard, and the very RingConsumer that reads a
// kernel ring reads it. Each step prints both positions and the records in
// the ring, so every rule can be watched as it applies.
//
//   npx tsx examples/ring-protocol.ts
import { RingConsumer, RingSimulator, BPF_RB_NO_WAKEUP } from '../src/index.ts';

const ring = new RingSimulator(64); // a 64-byte data area: small, so it wraps soon
const consumer = new RingConsumer(ring.memory);
const text = (view: DataView, offset: number, length: number) =>
  new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + offset, length));

/** Prints the positions and every record between them, as their headers say. */
function show(step: string): void {
  console.log(`\n${step}`);
  const consumerPos = ring.consumerPos;
  const producerPos = ring.producerPos;
  console.log(`  consumer_pos ${consumerPos}  producer_pos ${producerPos}  (${producerPos - consumerPos} of ${ring.size} bytes in use)`);
  for (let at = consumerPos; at < producerPos; ) {
    const header = ring.readHeader(at);
    const span = (header.length + 8 + 7) & ~7;
    const state = header.busy ? 'BUSY (still being written)' : header.discard ? 'DISCARD (skipped by the consumer)' : 'committed';
    console.log(`  record at ${at} (offset ${Number(at) & ring.mask}): ${header.length} bytes + 8-byte header, takes ${span}: ${state}`);
    at += BigInt(span);
  }
}

/** Reserves `payload.length` bytes and writes them, as a BPF program would between reserve and submit. */
function reserve(payload: string) {
  const record = ring.reserve(payload.length);
  if (!record) return null;
  ring.write(record, new TextEncoder().encode(payload));
  return record;
}

function consume(): void {
  const delivered = consumer.consume((view, offset, length) => console.log(`  -> delivered "${text(view, offset, length)}"`));
  console.log(`  consume() delivered ${delivered}; consumer_pos is now ${ring.consumerPos}`);
}

show('An empty ring: both positions are equal.');

const first = reserve('hello')!;
show('reserve(5): producer_pos moves on at once; the header says BUSY until the program submits.');
consume();
console.log('  (nothing delivered: the consumer stops at a BUSY record, and every record behind it waits)');

const second = reserve('world!!')!;
console.log(`\nsubmit of the second record would wake the consumer: ${ring.commit(second)}`);
console.log('  (no: the kernel wakes the consumer only when the record it waits on — the oldest — is committed)');
console.log(`submit of the first record wakes the consumer: ${ring.commit(first)}`);
show('Both committed.');
consume();

const dropped = reserve('nope')!;
ring.discard(dropped);
const kept = reserve('yes')!;
ring.commit(kept, BPF_RB_NO_WAKEUP);
show('discard(), then a record submitted with BPF_RB_NO_WAKEUP (nobody is woken: the consumer must poll).');
consume();

show('The ring is empty again: positions only grow; offset = position & (size - 1).');
ring.commit(reserve('this one moves us on by 40 bytes')!);
consume();
const wrapping = reserve('a record that wraps')!;
ring.commit(wrapping);
show(`reserve(19) at offset ${wrapping.offset}: its ${wrapping.span} bytes run past the end of the 64-byte area.`);
console.log('  The kernel maps the data area twice in a row, so the record is contiguous for the consumer all the same.');
consume();

let fitted = 0;
while (reserve('fill up') !== null) fitted++;
console.log(`\nReserving 7-byte records until one is refused: ${fitted} fit.`);
show('Full: a reservation needs producer_pos - consumer_pos to stay below the ring size (so full and empty never look alike).');
console.log(`  reserve(7) now: ${reserve('refused') === null ? 'refused (the program sees NULL and counts a drop)' : 'accepted?!'}`);
console.log('  The reserved records are still BUSY (never submitted here), so the consumer cannot free anything either:');
consume();
