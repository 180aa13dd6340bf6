import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf, type BtfType } from '../src/btf/btf.ts';
import { parseBtfExt } from '../src/btf/ext.ts';
import { typeName } from '../src/btf/format.ts';
import { decodeValue, encodeValue } from '../src/btf/values.ts';
import { encodeBtf } from '../src/btf/writer.ts';
import { ElfFile } from '../src/elf/elf.ts';
import { BtfError } from '../src/errors.ts';
import { KERNEL_BTF_PATH, loadBtfFile } from '../src/loader/kernel-btf.ts';
import { programBytes } from './helpers.ts';

function objectBtf(name: string): { btf: Btf; ext: Uint8Array } {
  const elf = new ElfFile(programBytes(name));
  return { btf: new Btf(elf.section('.BTF')!.data.slice()), ext: elf.section('.BTF.ext')!.data };
}

test('decodes the BTF of a committed object: maps, datasecs, functions', () => {
  const { btf } = objectBtf('execsnoop');
  const maps = btf.typeByName('.maps', 'datasec');
  assert.ok(maps);
  const eventsVar = btf.type(maps.vars[0]!.type);
  assert.equal(eventsVar.kind, 'var');
  assert.equal(eventsVar.name, 'events');
  const rodata = btf.typeByName('.rodata', 'datasec')!;
  const names = rodata.vars.map((v) => btf.type(v.type).name);
  assert.deepEqual(names, ['target_pid', 'target_comm']);
  const fn = btf.typeByName('execsnoop', 'func')!;
  const proto = btf.type(fn.type);
  assert.equal(proto.kind, 'func_proto');
  const task = btf.typeByName('task_struct', 'struct')!;
  assert.deepEqual(task.members.map((m) => m.name), ['tgid', 'real_parent']);
  assert.equal(btf.sizeof(task.id), 16);
});

test('reads BTF.ext func_info, line_info and CO-RE relocations', () => {
  const { btf, ext } = objectBtf('execsnoop');
  const info = parseBtfExt(ext, btf);
  const section = 'tracepoint/syscalls/sys_enter_execve';
  assert.equal(info.funcInfo.get(section)?.[0]?.insnOffset, 0);
  const lines = info.lineInfo.get(section)!;
  assert.ok(lines.length > 10);
  assert.ok(lines.some((l) => btf.string(l.lineOffset).includes('bpf_ringbuf_reserve')));
  // Source paths are relative (make programs maps the build directory to '.').
  const files = [...new Set(lines.map((l) => btf.string(l.fileNameOffset)))];
  assert.ok(files.includes('./execsnoop.bpf.c') && files.some((f) => f.endsWith('include/snoop_filters.h')), files.join());
  assert.ok(files.every((f) => f.startsWith('./')), files.join());
  const relos = info.coreRelos.get(section)!;
  assert.equal(relos.length, 2);
  assert.deepEqual(relos.map((r) => [btf.type(r.typeId).name, r.accessString, r.kind]), [['task_struct', '0:1', 0], ['task_struct', '0:0', 0]]);
});

test('a BTF.ext record whose insn_off is not on an instruction boundary is a BtfError', () => {
  const { btf, ext } = objectBtf('execsnoop');
  // Header offsets of the func_info, line_info and CO-RE relocation subsections.
  for (const [subsection, headerField] of [['func_info', 8], ['line_info', 16], ['core_relo', 24]] as const) {
    const copy = ext.slice();
    const view = new DataView(copy.buffer);
    const firstRecord = view.getUint32(4, true) + view.getUint32(headerField, true) + 4 + 8; // record size, then sec_name_off and num_info
    view.setUint32(firstRecord, view.getUint32(firstRecord, true) + 4, true);
    assert.throws(() => parseBtfExt(copy, btf), (e: unknown) => e instanceof BtfError && /not on an instruction boundary/.test(e.message), subsection);
  }
});

test('encodes and decodes values against BTF types, refusing what does not fit', () => {
  const { btf } = objectBtf('execsnoop');
  const rodata = btf.typeByName('.rodata', 'datasec')!;
  const [pidVar, commVar] = rodata.vars.map((v) => btf.type(v.type));
  assert.ok(pidVar?.kind === 'var' && commVar?.kind === 'var');
  const pid = encodeValue(btf, pidVar.type, 4242, 'target_pid');
  assert.deepEqual([...pid], [0x92, 0x10, 0, 0]);
  assert.equal(decodeValue(btf, pidVar.type, pid), 4242);
  assert.throws(() => encodeValue(btf, pidVar.type, -1, 'target_pid'), /does not fit/);
  assert.throws(() => encodeValue(btf, pidVar.type, 2 ** 32, 'target_pid'), /does not fit/);
  assert.throws(() => encodeValue(btf, pidVar.type, 'x', 'target_pid'), /expected an integer/);
  const comm = encodeValue(btf, commVar.type, 'bash', 'target_comm');
  assert.equal(comm.length, 16);
  assert.equal(decodeValue(btf, commVar.type, comm), 'bash');
  assert.throws(() => encodeValue(btf, commVar.type, 'a-name-too-long-for-comm', 'target_comm'), /at most 15/);
});

test('malformed BTF gives a BtfError, never a crash or a hang', () => {
  const { btf } = objectBtf('ringbuf_test');
  const good = btf.bytes;
  const mutate = (edit: (view: DataView) => void) => {
    const copy = good.slice();
    edit(new DataView(copy.buffer, copy.byteOffset, copy.byteLength));
    return copy;
  };
  const typeLen = new DataView(good.buffer, good.byteOffset, good.byteLength).getUint32(12, true);
  const cases: [string, Uint8Array][] = [
    ['too short', good.slice(0, 10)],
    ['bad magic', mutate((v) => v.setUint16(0, 0x1234, true))],
    ['type section past the end', mutate((v) => v.setUint32(12, 1 << 30, true))],
    ['string section past the end', mutate((v) => v.setUint32(20, 1 << 30, true))],
    ['huge vlen', mutate((v) => v.setUint32(24 + 4, (4 << 24) | 0xffff, true))],
    ['unknown kind', mutate((v) => v.setUint32(24 + 4, 31 << 24, true))],
    ['truncated types', mutate((v) => v.setUint32(12, typeLen - 3, true))],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => {
      const parsed = new Btf(bytes);
      for (let id = 1; id < parsed.end; id++) parsed.type(id);
    }, BtfError, name);
  }
});

test('reference cycles and dangling ids are reported, not followed forever', () => {
  // Two typedefs pointing at each other, and a pointer to a type that does not exist.
  const strings = new TextEncoder().encode('\0a\0b\0');
  const types = new DataView(new ArrayBuffer(36));
  const typedef = 8 << 24;
  types.setUint32(0, 1, true); types.setUint32(4, typedef, true); types.setUint32(8, 2, true);
  types.setUint32(12, 3, true); types.setUint32(16, typedef, true); types.setUint32(20, 1, true);
  types.setUint32(24, 0, true); types.setUint32(28, 2 << 24, true); types.setUint32(32, 99, true);
  const bytes = new Uint8Array(24 + 36 + strings.length);
  const header = new DataView(bytes.buffer);
  header.setUint16(0, 0xeb9f, true); bytes[2] = 1; header.setUint32(4, 24, true);
  header.setUint32(8, 0, true); header.setUint32(12, 36, true); header.setUint32(16, 36, true); header.setUint32(20, strings.length, true);
  bytes.set(new Uint8Array(types.buffer), 24);
  bytes.set(strings, 60);
  const btf = new Btf(bytes);
  assert.throws(() => btf.skipQualifiers(1), /cycle/);
  assert.throws(() => btf.sizeof(2), /cycle/);
  assert.throws(() => btf.type(3), /does not exist/);
});

test('type names stay short: function prototypes whose parameters fan out end in …', () => {
  // A pointer to a prototype of 8 parameters, each a pointer to the level below, 6 levels: 8^6 leaves in full.
  const types: BtfType[] = [
    { id: 1, kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    { id: 2, kind: 'func_proto', name: '', returnType: 1, params: [] },
  ];
  for (let level = 0; level < 6; level++) {
    types.push({ id: types.length + 1, kind: 'ptr', name: '', type: types.length });
    types.push({ id: types.length + 1, kind: 'func_proto', name: '', returnType: 1, params: Array.from({ length: 8 }, () => ({ name: 'p', type: types.length })) });
  }
  types.push({ id: types.length + 1, kind: 'ptr', name: '', type: types.length });
  types.push({ id: types.length + 1, kind: 'const', name: '', type: 3 });
  const btf = new Btf(encodeBtf(types));
  const name = typeName(btf, types.length - 1);
  assert.ok(name.length < 1000, `${name.length} characters`);
  assert.match(name, /^int \(int \(int \(.*…/);
  assert.equal(typeName(btf, types.length), 'const int () *', 'short names are whole');
});

test('parses every type of the running kernel BTF', (t) => {
  const path = '/sys/kernel/btf/vmlinux';
  if (!existsSync(path)) return t.skip('this kernel exposes no BTF at /sys/kernel/btf/vmlinux');
  const btf = new Btf(readFileSync(path));
  assert.ok(btf.count > 10_000);
  const kinds = new Set<string>();
  for (let id = 1; id < btf.end; id++) kinds.add(btf.type(id).kind);
  for (const kind of ['int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'enum64']) {
    assert.ok(kinds.has(kind), `kernel BTF has ${kind}`);
  }
  const task = btf.typeByName('task_struct', 'struct')!;
  const parent = task.members.find((m) => m.name === 'real_parent')!;
  assert.equal(btf.skipQualifiers(parent.type).kind, 'ptr');
  assert.equal(btf.sizeof(btf.typeByName('bpf_attr', 'union')!.id) >= 120, true);
});

test('a BTF file given by path is copied, not mapped: cut short afterwards, it cannot kill the process with SIGBUS', (t) => {
  if (!existsSync(KERNEL_BTF_PATH)) return t.skip(`this kernel exposes no BTF at ${KERNEL_BTF_PATH}`);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-'));
  try {
    const path = join(dir, 'vmlinux');
    copyFileSync(KERNEL_BTF_PATH, path);
    const btf = loadBtfFile(path);
    truncateSync(path, 0);
    // Parsing is lazy: the lookup reads the types only now.
    assert.equal(btf.typeByName('task_struct', 'struct')?.id, loadBtfFile().typeByName('task_struct', 'struct')?.id);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('every kind of the kernel BTF round-trips: decode, encode, decode again gives the same types', (t) => {
  const path = '/sys/kernel/btf/vmlinux';
  if (!existsSync(path)) return t.skip('this kernel exposes no BTF at /sys/kernel/btf/vmlinux');
  const original = new Btf(readFileSync(path));
  const types = Array.from({ length: original.count }, (_, i) => original.type(i + 1));
  const encoded = encodeBtf(types);
  const again = new Btf(encoded);
  assert.equal(again.count, original.count);
  // Same type records byte for byte (names aside: the string table is rebuilt), hence the same size.
  const typeSection = (btf: Btf) => new DataView(btf.bytes.buffer, btf.bytes.byteOffset, btf.bytes.byteLength).getUint32(12, true);
  assert.equal(typeSection(again), typeSection(original));
  for (let id = 1; id < original.end; id++) {
    const [a, b] = [original.type(id), again.type(id)];
    if (JSON.stringify(a, bigints) !== JSON.stringify(b, bigints)) assert.fail(`type ${id} changed: ${JSON.stringify(a, bigints)} → ${JSON.stringify(b, bigints)}`);
  }
});

test('object BTF round-trips too', () => {
  for (const name of ['execsnoop', 'test_core', 'test_globals', 'test_externs']) {
    const { btf } = objectBtf(name);
    const again = new Btf(encodeBtf(Array.from({ length: btf.count }, (_, i) => btf.type(i + 1))));
    for (let id = 1; id < btf.end; id++) assert.deepEqual(again.type(id), btf.type(id), `${name} type ${id}`);
  }
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

test('split BTF (as module BTF) continues its base\'s type ids and strings', () => {
  const base = new Btf(encodeBtf([
    { id: 1, kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    { id: 2, kind: 'struct', name: 'task_struct', size: 8, members: [{ name: 'pid', type: 1, bitOffset: 0, bitSize: 0 }] },
  ]));
  const split = new Btf(encodeBtf([
    { id: 3, kind: 'ptr', name: '', type: 2 },
    // Reuses base strings ('pid') and adds its own ('module_thing').
    { id: 4, kind: 'struct', name: 'module_thing', size: 16, members: [{ name: 'pid', type: 1, bitOffset: 0, bitSize: 0 }, { name: 'task', type: 3, bitOffset: 64, bitSize: 0 }] },
    { id: 5, kind: 'struct', name: 'task_struct___module', size: 4, members: [] },
  ], base), base);
  assert.equal(split.firstId, 3);
  assert.equal(split.end, 6);
  assert.equal(split.type(2).name, 'task_struct', 'base ids resolve through the split BTF');
  const thing = split.typeByName('module_thing', 'struct')!;
  assert.deepEqual(thing.members.map((m) => [m.name, split.sizeof(m.type)]), [['pid', 4], ['task', 8]]);
  assert.deepEqual(split.idsByName('task_struct'), [2]);
  assert.deepEqual(split.idsByEssentialName('task_struct'), [2, 5]);
  assert.throws(() => split.type(6), /does not exist/);
});

test('lookups by name find exactly the types a full walk finds (kernel BTF: names that are also field values, flavours)', (t) => {
  const path = '/sys/kernel/btf/vmlinux';
  if (!existsSync(path)) return t.skip('this kernel exposes no BTF at /sys/kernel/btf/vmlinux');
  const btf = new Btf(readFileSync(path));
  const byName = new Map<string, number[]>();
  for (let id = 1; id < btf.end; id++) {
    const { name } = btf.type(id);
    if (name) byName.set(name, [...(byName.get(name) ?? []), id]);
  }
  // Every 50th name, plus names whose string offsets are small numbers that also occur as sizes and offsets.
  const names = [...byName.keys()].filter((_, i) => i % 50 === 0);
  names.push('task_struct', 'file', 'int', 'u32', 'list_head', 'no_such_type_anywhere');
  for (const name of names) {
    assert.deepEqual(btf.idsByName(name), byName.get(name) ?? [], name);
    assert.deepEqual(btf.idsByEssentialName(name), byName.get(name) ?? [], `essential ${name}`);
  }
  assert.deepEqual(btf.idsByName(''), []);
});

test('lookups by name: flavours, duplicate strings, split BTF naming types with its base\'s strings, big-endian BTF', () => {
  const int = { kind: 'int', name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 } as const;
  const types = [
    { id: 1, ...int },
    { id: 2, kind: 'struct', name: 'thing', size: 4, members: [{ name: 'thing', type: 1, bitOffset: 0, bitSize: 0 }] },
    { id: 3, kind: 'struct', name: 'thing___v2', size: 4, members: [] },
    { id: 4, kind: 'struct', name: 'thing___v2___x', size: 4, members: [] },
    { id: 5, kind: 'struct', name: 'thing_other', size: 4, members: [] },
    { id: 6, kind: 'typedef', name: 'thing', type: 2 },
  ] as const;
  const plain = encodeBtf([...types]);
  for (const btf of [new Btf(plain), new Btf(duplicateStrings(plain)), new Btf(toBigEndian(plain))]) {
    assert.deepEqual(btf.idsByName('thing'), [2, 6]);
    assert.deepEqual(btf.idsByName('thing', 'struct'), [2]);
    assert.deepEqual(btf.idsByName('thing___v2'), [3]);
    assert.deepEqual(btf.idsByEssentialName('thing'), [2, 3, 6]);
    // The last ___ ends the essential name: thing___v2___x is a flavour of thing___v2, and thing___v2 itself is not.
    assert.deepEqual(btf.idsByEssentialName('thing___v2'), [4]);
    assert.deepEqual(btf.idsByName('thin'), []);
  }
  const base = new Btf(plain);
  // The split BTF's struct is named with a string only the base has; its own first string is a name too.
  const split = new Btf(encodeBtf([
    { id: 7, kind: 'struct', name: 'thing_other', size: 8, members: [] },
    { id: 8, kind: 'struct', name: 'module_only', size: 8, members: [] },
  ], base), base);
  assert.deepEqual(split.idsByName('thing_other'), [5, 7]);
  assert.deepEqual(split.idsByName('module_only'), [8]);
  assert.deepEqual(split.idsByEssentialName('thing'), [2, 3, 6]);
});

/** The same BTF with its string section written twice (clang deduplicates strings; nothing requires it). */
function duplicateStrings(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdrLen = view.getUint32(4, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  const out = new Uint8Array(bytes.length + strLen);
  out.set(bytes.subarray(0, hdrLen + strOff + strLen));
  out.set(strings, hdrLen + strOff + strLen);
  const outView = new DataView(out.buffer);
  outView.setUint32(20, strLen * 2, true);
  // Every third type's name points at the second copy, the others at the first.
  const again = new Btf(bytes);
  for (let id = 1; id < again.end; id++) {
    const at = again.typeOffset(id);
    const nameOff = view.getUint32(at, true);
    if (nameOff !== 0 && id % 3 === 0) outView.setUint32(at, nameOff + strLen, true);
  }
  return out;
}

/** The same BTF in big-endian byte order: the magic and every 32-bit header and type word swapped. */
function toBigEndian(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const outView = new DataView(out.buffer);
  outView.setUint16(0, view.getUint16(0, true), false);
  const hdrLen = view.getUint32(4, true);
  for (let at = 4; at < hdrLen; at += 4) outView.setUint32(at, view.getUint32(at, true), false);
  const typeStart = hdrLen + view.getUint32(8, true);
  const typeEnd = typeStart + view.getUint32(12, true);
  for (let at = typeStart; at < typeEnd; at += 4) outView.setUint32(at, view.getUint32(at, true), false);
  return out;
}
