// Ring buffer edge cases: sizes refused while parsing, the largest record a
// ring takes, overwrite mode, and a pinned ring picked up where it was left.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { ObjectError, TsbpfError, UnsupportedError } from '../src/errors.ts';
import { ensureBpffs, BPFFS_ROOT } from '../src/attach/bpffs.ts';
import { BpfObject } from '../src/loader/object.ts';
import { checkRingSize, MapType, type MapSpec } from '../src/object/maps.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { BPF_F_RB_OVERWRITE, RingBuffer } from '../src/ringbuf/ringbuf.ts';
import { needsRoot, programBytes, programPath } from './helpers.ts';

const RING_SIZE = 16 * 1024;

test('a ring size that is not a power of two of at least a page is refused while parsing', () => {
  assert.throws(() => ObjectSpec.parse(programBytes('bad_ring_size')),
    (error: Error) => error instanceof ObjectError && /ring buffer 'events': max_entries 12288 is not a power of two .*e\.g\. 8192 or 16384/.test(error.message));
  const ring = ObjectSpec.parse(programBytes('ringbuf_multi')).maps.get('ring_a')!;
  const sized = (type: number, maxEntries: number): MapSpec => ({ ...ring, type, maxEntries });
  assert.throws(() => checkRingSize(sized(MapType.RINGBUF, 2048)), /at least 4096/);
  assert.throws(() => checkRingSize(sized(MapType.USER_RINGBUF, 0)), /at least 4096/);
  assert.throws(() => checkRingSize(sized(MapType.RINGBUF, 3 * 4096)), /e\.g\. 8192 or 16384/);
  // Sizes a u32 cannot hold, or that are not integers, are not cut down to one that passes.
  assert.throws(() => checkRingSize(sized(MapType.RINGBUF, 2 ** 32 + 4096)), /max_entries 4294971392 .*at most 2147483648/);
  assert.throws(() => checkRingSize(sized(MapType.RINGBUF, 2 ** 32)), ObjectError);
  assert.throws(() => checkRingSize(sized(MapType.RINGBUF, 4096.5)), /e\.g\. 4096 or 8192/);
  assert.throws(() => checkRingSize(sized(MapType.USER_RINGBUF, Number.NaN)), /at least 4096/);
  checkRingSize(sized(MapType.RINGBUF, 1 << 30));
  checkRingSize(sized(MapType.RINGBUF, 2 ** 31));
  checkRingSize(sized(MapType.HASH, 12345)); // only rings are checked
});

test('the largest record (ring size - 16 bytes) is delivered whole across the wrap; one byte more is refused', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('ringbuf_multi'));
  t.after(() => object.close());
  object.writeVariable('large', Array.from({ length: RING_SIZE }, (_, i) => (i * 13) & 0xff));
  const output = (size: number) => {
    const context = Buffer.alloc(8);
    context.writeUInt32LE(size, 0);
    object.program('output_large').testRun({ context });
    return context.readInt32LE(4);
  };
  const ring = object.ringBuffer('ring_c');
  const lengths: number[] = [];
  const check = (view: DataView, offset: number, length: number) => {
    lengths.push(length);
    for (let i = 0; i < length; i++) {
      if (view.getUint8(offset + i) !== ((i * 13) & 0xff)) assert.fail(`byte ${i} of a ${length}-byte record`);
    }
  };
  // Move the consumer off 0, so the big record wraps past the end of the data area.
  assert.equal(output(100), 0);
  assert.equal(ring.consume(check), 1);
  assert.equal(output(RING_SIZE - 16), 0, 'the largest record fits');
  assert.equal(ring.consume(check), 1);
  assert.deepEqual(lengths, [100, RING_SIZE - 16]);
  assert.ok(output(RING_SIZE - 15) < 0, 'one byte more can never fit');
  assert.equal(ring.available(), 0);
});

test('a 2 GiB ring (4 GiB + a page to map) is a typed error, not a process abort in koffi', (t) => {
  if (!needsRoot(t)) return;
  const spec = ObjectSpec.parse(programBytes('ringbuf_multi'));
  (spec.maps.get('ring_a') as MapSpec).maxEntries = 2 ** 31;
  const object = BpfObject.load(spec); // the kernel makes it (and frees it on close)
  t.after(() => object.close());
  assert.throws(() => object.ringBuffer('ring_a'), (error: Error) => error instanceof UnsupportedError &&
    /ring buffer 'ring_a' data: cannot map 4294971392 bytes, more than Node can view \(4 GiB at most\)/.test(error.message));
  assert.equal(object.ringBuffer('ring_b').size, 16 * 1024, 'the object\'s other rings still map');
});

test('overwrite-mode rings get a clear error, from this kernel or from the consumer', (t) => {
  if (!needsRoot(t)) return;
  const spec = ObjectSpec.parse(programBytes('ringbuf_multi'));
  (spec.maps.get('ring_b') as MapSpec).flags |= BPF_F_RB_OVERWRITE;
  let object: BpfObject;
  try {
    object = BpfObject.load(spec);
  } catch (error) {
    // Linux 6.18 and older refuse the flag.
    assert.ok(error instanceof TsbpfError);
    assert.match(error.message, /ring buffer 'ring_b' asks for overwrite mode \(BPF_F_RB_OVERWRITE\), which this kernel does not support/);
    return;
  }
  t.after(() => object.close());
  assert.throws(() => object.ringBuffer('ring_b'), /overwrite mode .* does not read yet/);
});

/** A directory of its own in bpffs, and ringbuf_multi loaded; both gone after the test. Needs root. */
function pinDirAndObject(t: TestContext): { dir: string; object: BpfObject } | undefined {
  if (!needsRoot(t)) return undefined;
  ensureBpffs(BPFFS_ROOT);
  const dir = mkdtempSync(`${BPFFS_ROOT}/tsbpf-ring-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const object = BpfObject.open(programPath('ringbuf_multi'));
  t.after(() => object.close());
  return { dir, object };
}

test('a pinned ring opened again starts from the positions in shared memory', (t) => {
  const opened = pinDirAndObject(t);
  if (!opened) return;
  const { dir, object } = opened;
  const context = Buffer.alloc(24);
  [0, 10, 0, 0].forEach((value, i) => context.writeUInt32LE(value, i * 4));
  object.program('produce').testRun({ context });
  object.map('ring_a').pin(`${dir}/ring_a`);

  const seqs: number[] = [];
  const collect = (view: DataView, offset: number) => {
    seqs.push(view.getUint32(offset + 4, true));
  };
  const first = object.ringBuffer('ring_a');
  assert.equal(first.consume(collect, 4), 4);
  const left = first.positions();
  first.close();

  const again = RingBuffer.openPinned(`${dir}/ring_a`);
  t.after(() => again.close());
  assert.equal(again.name, 'ring_a');
  assert.deepEqual(again.positions(), left, 'the reopened ring sees the positions the first consumer published');
  assert.equal(again.consume(collect), 6);
  assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'nothing delivered twice, nothing skipped');
  assert.throws(() => RingBuffer.openPinned(`${dir}/nothing-here`), /BPF_OBJ_GET\) failed: ENOENT/);
});

test('a pin path with a NUL byte is refused: the kernel would read the path only up to it', (t) => {
  const opened = pinDirAndObject(t);
  if (!opened) return;
  const { dir, object } = opened;
  const ring = object.map('ring_a');
  const refused = (e: unknown) => e instanceof TsbpfError && /^pin(ned)? path ".*\\u0000.*" is not a path/.test(e.message);
  assert.throws(() => ring.pin(`${dir}/ring_a\0/../../elsewhere`), refused);
  assert.throws(() => object.program('produce').pin(`${dir}/produce\0`), refused);
  assert.deepEqual(readdirSync(dir), [], 'nothing pinned at the path cut at the NUL');

  ring.pin(`${dir}/ring_a`);
  assert.throws(() => RingBuffer.openPinned(`${dir}/ring_a\0anything`), refused, 'not the ring at the path cut at the NUL');
  assert.throws(() => ring.pin(''), /^TsbpfError: pin path "" is not a path/);
});
