// Map element access on the real kernel: per-CPU values (one per possible
// CPU, the kernel's layout) and values decoded from the object's BTF, with
// programs/map_values.bpf.o writing them.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { possibleCpus } from '../src/cpus.ts';
import { TsbpfError } from '../src/errors.ts';
import { BpfMap } from '../src/loader/map.ts';
import { BpfObject } from '../src/loader/object.ts';
import { MapType } from '../src/object/maps.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { needsRoot, programBytes, programPath } from './helpers.ts';

const BPF_F_TEST_RUN_ON_CPU = 1;

/** Loads programs/map_values.bpf.o; visit(key, delta, cpu) runs its program once on that CPU. */
function open(t: TestContext): { object: BpfObject; visit: (key: number, delta: number, cpu: number) => void } | undefined {
  if (!needsRoot(t)) return undefined;
  const object = BpfObject.open(programPath('map_values'));
  t.after(() => object.close());
  const visit = (key: number, delta: number, cpu: number) => {
    const context = Buffer.alloc(16);
    context.writeBigUInt64LE(BigInt(key), 0);
    context.writeBigUInt64LE(BigInt.asUintN(64, BigInt(delta)), 8);
    assert.equal(object.program('visit').testRun({ context, flags: BPF_F_TEST_RUN_ON_CPU, cpu }).retval, 0);
  };
  return { object, visit };
}

const u32 = (value: number) => new Uint8Array(new Uint32Array([value]).buffer);
const u64 = (value: bigint) => new Uint8Array(new BigUint64Array([value]).buffer);

test('per-CPU maps: one value per possible CPU, as the program counted them; lookup() and update() refuse them', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { object, visit } = fixture;
  const map = object.map('visits_per_cpu');
  assert.equal(map.perCpu, true);
  const cpus = possibleCpus();
  const last = cpus.at(-1)!;
  visit(0, 1, cpus[0]!);
  visit(0, 1, cpus[0]!);
  visit(2, 1, last); // key 2 counts in slot 0 too
  const counts = map.lookupPerCpu(u32(0))!.map((value) => new BigUint64Array(value.buffer)[0]);
  assert.equal(counts.length, cpus.length);
  const expected = cpus.map((cpu) => BigInt((cpu === cpus[0] ? 2 : 0) + (cpu === last ? 1 : 0)));
  assert.deepEqual(counts, expected);
  assert.deepEqual(map.lookupValue(0), expected, 'decoded from BTF: a u64 per CPU');
  assert.deepEqual(map.lookupPerCpu(u32(1))!.map((value) => [...value]), cpus.map(() => [0, 0, 0, 0, 0, 0, 0, 0]));

  map.updatePerCpu(u32(1), cpus.map((cpu) => u64(BigInt(cpu) * 10n + 7n)));
  assert.deepEqual(map.lookupValue(1), cpus.map((cpu) => BigInt(cpu) * 10n + 7n));
  assert.throws(() => map.lookup(u32(0)), (e: unknown) => e instanceof TsbpfError && /per-CPU.*lookupPerCpu/.test(e.message));
  assert.throws(() => map.update(u32(0), u64(1n)), (e: unknown) => e instanceof TsbpfError && /updatePerCpu/.test(e.message));
  assert.throws(() => map.updatePerCpu(u32(0), [u64(1n)].concat(cpus.length > 1 ? [] : [u64(2n)])), /values for/);
  for (const values of [null, undefined, u64(1n)]) assert.throws(() => map.updatePerCpu(u32(0), values as unknown as Uint8Array[]), (e: unknown) => e instanceof TsbpfError && /takes an array of values/.test(e.message));
  assert.throws(() => object.map('visits').lookupPerCpu(u32(0)), /not a per-CPU map/);
});

test('lookupValue() and decodedEntries() decode struct values with the object\'s BTF; keys can be JS values', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { object, visit } = fixture;
  const visits = object.map('visits');
  assert.equal(visits.lookupValue(7), undefined);
  visit(7, -5, possibleCpus()[0]!);
  visit(7, 12, possibleCpus()[0]!);
  visit(3, 1, possibleCpus()[0]!);
  const value = visits.lookupValue(7) as Record<string, unknown>;
  assert.equal(value.count, 2n);
  assert.equal(value.last_delta, 12);
  assert.equal(value.name, 'first visit');
  assert.deepEqual(value.version, { major: 1, minor: 2 });
  assert.deepEqual(value.flags, [1, 2, 3]);
  const tag = value.tag as DataView;
  assert.equal(tag.getUint32(0, true), 0xdeadbeef, 'unions come as views over their bytes');
  assert.deepEqual(visits.lookupValue(u32(7)), value, 'raw key bytes work too');

  const entries = new Map([...visits.decodedEntries()].map(([key, entry]) => [key, (entry as { count: bigint }).count]));
  assert.deepEqual(entries, new Map([[7, 2n], [3, 1n]]));
  assert.throws(() => visits.lookupValue('seven'), TsbpfError, 'a key that does not fit the BTF key type');
});

test('update flags that are not integers are refused naming the map', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const { object } = fixture;
  const visits = object.map('visits');
  const value = new Uint8Array(visits.spec.valueSize);
  for (const flags of [1.5, Number.NaN, -1]) {
    assert.throws(() => visits.update(u32(0), value, flags), (e: unknown) => e instanceof TsbpfError && /^map 'visits' update flags: expected an integer/.test(e.message), String(flags));
  }
  const perCpu = object.map('visits_per_cpu');
  assert.throws(() => perCpu.updatePerCpu(u32(0), possibleCpus().map(() => u64(0n)), 0.5), /map 'visits_per_cpu' update flags/);
  visits.update(u32(0), value, 1 /* BPF_NOEXIST */);
  assert.throws(() => visits.update(u32(0), value, 1), (e: unknown) => e instanceof TsbpfError && /EEXIST/.test(e.message), 'flags still reach the kernel');
});

test('keys and values that are not Uint8Arrays are refused, not taken for addresses', (t) => {
  const fixture = open(t);
  if (!fixture) return;
  const visits = fixture.object.map('visits');
  const value = new Uint8Array(visits.spec.valueSize);
  // Each has a length of 4, the key size: only its type tells it from a key.
  const keys: unknown[] = [[0, 0, 0, 0], '4096', new Uint32Array(4), Object.assign(new DataView(new ArrayBuffer(4)), { length: 4 })];
  for (const key of keys) {
    const refused = (e: unknown) => e instanceof TsbpfError && /^map 'visits' key: expected a Uint8Array/.test(e.message);
    assert.throws(() => visits.lookup(key as Uint8Array), refused, String(key));
    assert.throws(() => visits.update(key as Uint8Array, value), refused, String(key));
    assert.throws(() => visits.delete(key as Uint8Array), refused, String(key));
  }
  assert.throws(() => visits.update(u32(0), new Uint32Array(visits.spec.valueSize) as unknown as Uint8Array), /^TsbpfError: map 'visits' value: expected a Uint8Array/);
  assert.deepEqual([...visits.keys()], [], 'nothing written');
});

test('maps without BTF types (legacy maps) refuse decoding with a clear error', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('test_legacy_mixed'));
  t.after(() => object.close());
  const legacy = [...object.maps.values()].find((map) => map.spec.btfValueTypeId === 0 && !map.spec.data);
  assert.ok(legacy, 'test_legacy_mixed has a legacy map');
  assert.throws(() => legacy.lookupValue(new Uint8Array(legacy.spec.keySize)), /has no BTF value type/);
});

test('a map sizes its buffers as the kernel does, whatever happens to the spec it was created from', (t) => {
  if (!needsRoot(t)) return;
  const spec = ObjectSpec.parse(programBytes('map_values'));
  const visits = spec.map('visits');
  [visits.btfKeyTypeId, visits.btfValueTypeId] = [0, 0]; // without BTF types the kernel takes any sizes
  [visits.keySize, visits.valueSize] = [64, 4096];
  const object = BpfObject.load(spec, { programs: [] });
  t.after(() => object.close());
  const map = object.map('visits');
  const key = new Uint8Array(64).fill(1);
  map.update(key, new Uint8Array(4096).fill(0x41));

  // Edited after load (to load it again with other sizes, say): the map keeps its own.
  [visits.keySize, visits.valueSize] = [1, 8];
  assert.deepEqual([map.spec.keySize, map.spec.valueSize], [64, 4096]);
  assert.throws(() => ((map.spec as { keySize: number }).keySize = 1), TypeError, 'frozen');
  assert.deepEqual([...map.keys()].map((each) => each.length), [64]);
  assert.equal(map.lookup(key)?.length, 4096);

  // A spec that does not describe the map behind the fd: the kernel's type and sizes win.
  const perCpu = object.map('visits_per_cpu');
  const wrong = new BpfMap({ ...spec.map('visits_per_cpu'), type: MapType.ARRAY, keySize: 1, valueSize: 1 }, perCpu.fd);
  assert.deepEqual([wrong.spec.type, wrong.spec.keySize, wrong.spec.valueSize], [MapType.PERCPU_ARRAY, 4, 8]);
  assert.throws(() => wrong.lookup(u32(0)), /per-CPU/, 'not a single-value buffer the kernel would overrun');
});
