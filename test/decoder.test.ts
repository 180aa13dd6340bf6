// Record decoders compiled from BTF, checked on hand-built BTF (every kind a
// record can hold) and on the real opensnoop record against its hand decoder.
import { decodeCString, decodeCStringAt } from '../src/cstring.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Btf, type BtfType } from '../src/btf/btf.ts';
import { compileDecoder } from '../src/btf/decoder.ts';
import { decodeValue, encodeValue } from '../src/btf/values.ts';
import { encodeBtf } from '../src/btf/writer.ts';
import { BtfError, TsbpfError } from '../src/errors.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { decodeOpenEvent } from '../src/tools/opensnoop.ts';
import { programBytes } from './helpers.ts';

const int = (id: number, name: string, size: number, signed: boolean, extra: Partial<{ char: boolean; bool: boolean }> = {}): BtfType =>
  ({ id, kind: 'int', name, size, signed, char: extra.char ?? false, bool: extra.bool ?? false, bitOffset: 0, bits: size * 8 });
const member = (name: string, type: number, bitOffset: number, bitSize = 0) => ({ name, type, bitOffset, bitSize });

// struct record {
//   u32 pid;                 // 0
//   u32 flags:3, mode:5;     // 4 (bits 32..39)
//   s16 delta:4;             // bits 40..43, signed
//   union { u32 p; u16 q; }; // 8, anonymous: members lifted
//   struct inner { u16 a; u8 b; } in;  // 12
//   u16 samples[20];         // 16
//   char name[8];            // 56
//   u64 big;                 // 64
//   s16 neg;                 // 72
//   void *ptr;               // 80
//   double ratio;            // 88
//   _Bool ok;                // 96
//   union u { u32 x; u8 y[4]; } un;    // 100
// } // 104
const types: BtfType[] = [
  int(1, 'u32', 4, false),
  int(2, 's16', 2, true),
  int(3, 'u16', 2, false),
  int(4, 'u8', 1, false),
  int(5, 'char', 1, true, { char: true }),
  int(6, 'u64', 8, false),
  { id: 7, kind: 'float', name: 'double', size: 8 },
  int(8, '_Bool', 1, false, { bool: true }),
  { id: 9, kind: 'union', name: '', size: 4, members: [member('p', 1, 0), member('q', 3, 0)] },
  { id: 10, kind: 'struct', name: 'inner', size: 4, members: [member('a', 3, 0), member('b', 4, 16)] },
  { id: 11, kind: 'array', name: '', type: 3, indexType: 1, nelems: 20 },
  { id: 12, kind: 'array', name: '', type: 5, indexType: 1, nelems: 8 },
  { id: 13, kind: 'ptr', name: '', type: 0 },
  { id: 14, kind: 'array', name: '', type: 4, indexType: 1, nelems: 4 },
  { id: 15, kind: 'union', name: 'u', size: 4, members: [member('x', 1, 0), member('y', 14, 0)] },
  { id: 16, kind: 'struct', name: 'record', size: 104, members: [
    member('pid', 1, 0), member('flags', 1, 32, 3), member('mode', 1, 35, 5), member('delta', 2, 40, 4), member('', 9, 64),
    member('in', 10, 96), member('samples', 11, 128), member('name', 12, 448), member('big', 6, 512), member('neg', 2, 576),
    member('ptr', 13, 640), member('ratio', 7, 704), member('ok', 8, 768), member('un', 15, 800),
  ] },
  { id: 17, kind: 'typedef', name: 'record_t', type: 16 },
];

test('a compiled decoder reads every kind a record can hold', () => {
  const btf = new Btf(encodeBtf(types));
  const decode = compileDecoder(btf, 17);
  const bytes = new Uint8Array(8 + 104); // a record at offset 8, as in a ring's data area
  const view = new DataView(bytes.buffer);
  const o = 8;
  view.setUint32(o, 4242, true);
  view.setUint8(o + 4, 0b10110_101); // flags = 5, mode = 22
  view.setUint8(o + 5, 0b1110); // delta = -2
  view.setUint32(o + 8, 0x00020001, true);
  view.setUint16(o + 12, 7, true);
  view.setUint8(o + 14, 9);
  for (let i = 0; i < 20; i++) view.setUint16(o + 16 + i * 2, i * 3, true);
  bytes.set(new TextEncoder().encode('bash\0zz'), o + 56);
  view.setBigUint64(o + 64, 2n ** 63n + 5n, true);
  view.setInt16(o + 72, -300, true);
  view.setBigUint64(o + 80, 0xffff8881_00000000n, true);
  view.setFloat64(o + 88, 0.25, true);
  view.setUint8(o + 96, 1);
  view.setUint32(o + 100, 0x04030201, true);
  const record = decode(view, o);
  const union = record.un as DataView;
  delete record.un;
  assert.deepEqual(record, {
    pid: 4242, flags: 5, mode: 22, delta: -2, p: 0x00020001, q: 1, in: { a: 7, b: 9 },
    samples: Array.from({ length: 20 }, (_, i) => i * 3), name: 'bash', big: 2n ** 63n + 5n, neg: -300,
    ptr: 0xffff8881_00000000n, ratio: 0.25, ok: true,
  });
  assert.ok(union instanceof DataView);
  assert.deepEqual([union.byteLength, union.getUint8(0), union.getUint32(0, true)], [4, 1, 0x04030201]);
});

test('only structs and unions are records', () => {
  const btf = new Btf(encodeBtf(types));
  assert.throws(() => compileDecoder(btf, 1), BtfError);
});

test("opensnoop's struct event, decoded from the object's own BTF, matches the hand decoder", () => {
  const spec = ObjectSpec.parse(programBytes('opensnoop'));
  const decode = spec.recordDecoder('event');
  const bytes = new Uint8Array(304);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 11, true);
  view.setUint32(4, 1, true);
  view.setUint32(8, 1000, true);
  view.setInt32(12, -100, true);
  view.setBigUint64(16, 0o2101n, true);
  view.setUint32(24, 1, true);
  view.setUint32(28, 0o640, true);
  bytes.set(new TextEncoder().encode('cat'), 32);
  bytes.set(new TextEncoder().encode('/etc/passwd'), 48);
  const generic = decode(view, 0);
  const hand = decodeOpenEvent(view, 0) as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(generic)) {
    const expected = hand[field === 'syscall' ? 'syscall' : field];
    if (typeof value === 'bigint') assert.equal(Number(value), Number(expected), field);
    else if (field !== 'syscall') assert.equal(value, expected, field);
  }
  assert.equal(generic.filename, '/etc/passwd');
  assert.equal(generic.comm, 'cat');
  assert.throws(() => spec.recordDecoder('no_such_struct'), /no struct, union or typedef named 'no_such_struct'/);
});

test('C strings: ASCII built in JS (in chunks when long), UTF-8 through TextDecoder, up to the NUL or the end', () => {
  const bytes = (text: string, size: number) => {
    const out = new Uint8Array(size + 4).fill(0x41); // neighbours that must not leak in
    out.fill(0, 2, 2 + size);
    out.set(Buffer.from(text).subarray(0, size), 2);
    return out;
  };
  const cases: [string, number][] = [['', 16], ['bash', 16], ['systemd-journal', 16], ['sixteen chars!!!', 16], ['naïve café', 16],
    ['x'.repeat(32), 32], ['y'.repeat(33), 33], ['/usr/lib/x86_64-linux-gnu/libc.so.6', 256], ['/tmp/日本語/ファイル', 64],
    ['abc'.repeat(5000), 15001], ['z'.repeat(4096), 4096], ['long, then ü'.repeat(400), 6000]];
  for (const [text, size] of cases) {
    assert.equal(decodeCStringAt(bytes(text, size), 2, size), text, `${JSON.stringify(text)} in ${size} bytes`);
  }
  assert.equal(decodeCString(Buffer.from('no terminator')), 'no terminator');
  assert.equal(decodeCString(Buffer.from('stop\0here')), 'stop');
  assert.equal(decodeCString(Buffer.from(`${'a'.repeat(100)}\0${'b'.repeat(100)}`)), 'a'.repeat(100), 'a long string ends at its NUL');
});

test('16-byte char arrays (comm names) come from a cache keyed by all their bytes: never a stale or mixed-up string', () => {
  const btf = new Btf(encodeBtf([
    int(1, 'u32', 4, false),
    int(2, 'char', 1, true, { char: true }),
    { id: 3, kind: 'array', name: '', type: 2, indexType: 1, nelems: 16 },
    { id: 4, kind: 'struct', name: 'event', size: 20, members: [member('pid', 1, 0), member('comm', 3, 32)] },
  ]));
  const decode = compileDecoder(btf, 4);
  // More distinct values than the cache has slots, names alike in their first 12 bytes, names equal up to their NUL, UTF-8, a full 16 bytes with no NUL.
  const names = Array.from({ length: 700 }, (_, i) => (i % 2 ? `proc-${i}` : `long-prefix-${i}`));
  names.push('bash', 'bash', 'systemd-journal', 'naïve', 'sixteen-chars!!!');
  const bytes = new Uint8Array(20 * names.length * 3);
  const view = new DataView(bytes.buffer);
  const expected: string[] = [];
  for (let round = 0; round < 3; round++) {
    names.forEach((name, i) => {
      const at = 20 * (round * names.length + i);
      view.setUint32(at, i, true);
      const comm = new Uint8Array(16);
      comm.set(Buffer.from(name).subarray(0, 16));
      // Different junk after the NUL from round to round: the same name, other bytes.
      if (name.length < 15) comm[15] = round;
      bytes.set(comm, at + 4);
      expected.push(name);
    });
  }
  const decoded = expected.map((_, i) => decode(view, 20 * i).comm);
  assert.deepEqual(decoded, expected);
});

const u32 = int(1, 'u32', 4, false);
const struct = (id: number, name: string, size: number, members: ReturnType<typeof member>[]): BtfType => ({ id, kind: 'struct', name, size, members });
const array = (id: number, type: number, nelems: number): BtfType => ({ id, kind: 'array', name: '', type, indexType: 1, nelems });
/** Decodes `bytes` as type `typeId` both ways: the compiled decoder and decodeValue. */
const decodeBoth = (btf: Btf, typeId: number, bytes: Uint8Array) => [compileDecoder(btf, typeId)(new DataView(bytes.buffer), 0), decodeValue(btf, typeId, bytes)];

test('members outside their struct, bitfields wider than their type and bytes shorter than the type are typed errors', () => {
  const pastEnd = new Btf(encodeBtf([u32, struct(2, 's', 4, [member('x', 1, 800)])]));
  assert.throws(() => compileDecoder(pastEnd, 2), BtfError);
  assert.throws(() => decodeValue(pastEnd, 2, new Uint8Array(4)), BtfError);
  assert.throws(() => encodeValue(pastEnd, 2, { x: 1 }, 'v'), BtfError);
  const wideBitfield = new Btf(encodeBtf([u32, struct(2, 's', 4, [member('b', 1, 0, 200)])]));
  assert.throws(() => compileDecoder(wideBitfield, 2), /200-bit bitfield of 4-byte/);
  assert.throws(() => decodeValue(wideBitfield, 2, new Uint8Array(4)), BtfError);
  const bitfieldPastEnd = new Btf(encodeBtf([u32, struct(2, 's', 4, [member('b', 1, 30, 4)])]));
  assert.throws(() => compileDecoder(bitfieldPastEnd, 2), /end past its 4 bytes/);
  const pair = new Btf(encodeBtf([int(1, 'u64', 8, false), struct(2, 's', 16, [member('a', 1, 0), member('b', 1, 64)])]));
  const decode = compileDecoder(pair, 2);
  for (const [length, offset] of [[8, 0], [24, 9], [16, -1]] as const) {
    assert.throws(() => decode(new DataView(new ArrayBuffer(length)), offset), (e) => e instanceof TsbpfError && /struct s is 16 bytes/.test(e.message));
  }
  assert.deepEqual(decode(new DataView(new ArrayBuffer(24)), 8), { a: 0n, b: 0n });
  assert.throws(() => decodeValue(pair, 2, new Uint8Array(8)), TsbpfError);
  assert.throws(() => decodeValue(pair, 2, new Uint8Array(16), 1), TsbpfError);
});

test('nesting that multiplies values is refused or looped over, never exponential source, a stack overflow or an exhausted heap', () => {
  // struct s15 { struct s14 m0, …, m15; } … down to u32: 16^16 values from 64 bytes of types.
  const fanOut: BtfType[] = [u32];
  for (let level = 0; level < 16; level++) {
    fanOut.push(struct(level + 2, `s${level}`, 4, Array.from({ length: 16 }, (_, i) => member(`m${i}`, level + 1, 0))));
  }
  const wide = new Btf(encodeBtf(fanOut));
  assert.throws(() => compileDecoder(wide, 17), /more than 16777216/);
  assert.throws(() => compileDecoder(wide, 5), /would read more than 65536 values one by one/);
  assert.throws(() => decodeValue(wide, 17, new Uint8Array(4)), /more than 16777216/);
  // u32[16][16][16][16]: 65536 values, past the reads a decoder may write out, so loops around one written-out row.
  const grid: BtfType[] = [u32];
  for (let level = 0; level < 4; level++) grid.push(array(level + 2, level + 1, 16));
  grid.push(struct(6, 'grid', 4 << 16, [member('cells', 5, 0)]));
  const source = new Btf(encodeBtf(grid));
  const bytes = new Uint8Array(4 << 16);
  new DataView(bytes.buffer).setUint32(bytes.length - 4, 7, true);
  for (const decoded of decodeBoth(source, 6, bytes)) assert.equal((decoded as { cells: number[][][][] }).cells[15]![15]![15]![15], 7);
  // struct s { struct s; }: an anonymous member of its own type.
  const selfContaining = new Btf(encodeBtf([u32, struct(2, 's', 4, [member('', 2, 0)])]));
  assert.throws(() => compileDecoder(selfContaining, 2), /nests deeper than/);
  assert.throws(() => decodeValue(selfContaining, 2, new Uint8Array(4)), /nests deeper than/);
  // struct e {}; struct s { struct e a[4294967295]; }: no bytes run out, so the count of values is what stops it.
  const empty = new Btf(encodeBtf([u32, struct(2, 'e', 0, []), array(3, 2, 0xffffffff), struct(4, 's', 0, [member('a', 3, 0)])]));
  assert.throws(() => compileDecoder(empty, 4), /decodes to 4294967297 values/);
  assert.throws(() => decodeValue(empty, 4, new Uint8Array(0)), /decodes to 4294967297 values/);
});

test('every member is an own property: __proto__ included; encodeValue sees only own properties; a name twice is refused', () => {
  const inner = struct(2, 'inner', 4, [member('polluted', 1, 0)]);
  const protoStruct = new Btf(encodeBtf([u32, inner, struct(3, 's', 8, [member('__proto__', 2, 0), member('x', 1, 32)])]));
  const protoInt = new Btf(encodeBtf([u32, struct(2, 's', 8, [member('__proto__', 1, 0), member('x', 1, 32)])]));
  const bytes = new Uint8Array([7, 0, 0, 0, 9, 0, 0, 0]);
  for (const [btf, id, proto] of [[protoStruct, 3, { polluted: 7 }], [protoInt, 2, 7]] as const) {
    for (const decoded of decodeBoth(btf, id, bytes) as Record<string, unknown>[]) {
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.deepEqual(Object.keys(decoded), ['__proto__', 'x']);
      assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, proto);
    }
  }
  const inheritedNames = new Btf(encodeBtf([u32, struct(2, 's', 8, [member('constructor', 1, 0), member('x', 1, 32)])]));
  assert.deepEqual([...encodeValue(inheritedNames, 2, { x: 5 }, 'v')], [0, 0, 0, 0, 5, 0, 0, 0]);
  const twice = new Btf(encodeBtf([u32, struct(2, 's', 8, [member('x', 1, 0), member('x', 1, 32)])]));
  assert.throws(() => compileDecoder(twice, 2), /two members named 'x'/);
  // C forbids it through anonymous members too.
  const lent = new Btf(encodeBtf([u32, struct(2, '', 4, [member('x', 1, 0)]), struct(3, 's', 8, [member('x', 1, 0), member('', 2, 32)])]));
  assert.throws(() => decodeValue(lent, 3, new Uint8Array(8)), /two members named 'x'/);
});

test('bitfields wider than 32 bits are bigints, as 64-bit integers are; narrower ones numbers', () => {
  const btf = new Btf(encodeBtf([int(1, 'u64', 8, false), int(2, 's64', 8, true), struct(3, 's', 16, [member('big', 1, 0, 60), member('small', 1, 60, 4), member('neg', 2, 64, 33)])]));
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, (0xan << 60n) | ((1n << 59n) + 1n), true);
  view.setBigUint64(8, (1n << 33n) - 2n, true);
  for (const decoded of decodeBoth(btf, 3, bytes)) assert.deepEqual(decoded, { big: (1n << 59n) + 1n, small: 0xa, neg: -2n });
});
