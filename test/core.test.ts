// CO-RE relocation: test/fixtures/core/program.c is compiled at test time and
// relocated against the BTF of target.c (same type names, other layouts) and
// against the running kernel's BTF; the patched instructions are checked.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Btf, type BtfType } from '../src/btf/btf.ts';
import { encodeBtf } from '../src/btf/writer.ts';
import { ElfFile } from '../src/elf/elf.ts';
import { applyCoreRelocations, CoreKind, describeCoreFailure, type CoreFailure, type CoreResult } from '../src/object/core.ts';
import { Insns, OP_CALL } from '../src/object/insn.ts';
import { ObjectSpec, type ProgramCoreRelo, type ProgramSpec } from '../src/object/spec.ts';

const CLANG = 'clang-19';
const clangInstalled = spawnSync(CLANG, ['--version']).error === undefined;
const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

let buildDir: string | undefined;
const objects = new Map<string, Uint8Array>();
after(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

/** test/fixtures/core/<name>.c compiled for BPF (once per run). */
function compile(name: string): Uint8Array {
  let bytes = objects.get(name);
  if (!bytes) {
    buildDir ??= mkdtempSync(join(tmpdir(), 'tsbpf-core-'));
    const source = fileURLToPath(new URL(`fixtures/core/${name}.c`, import.meta.url));
    const output = join(buildDir, `${name}.o`);
    const result = spawnSync(CLANG, ['-target', 'bpf', '-g', '-O2', '-I/usr/include/x86_64-linux-gnu', '-c', source, '-o', output], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${CLANG} failed on ${name}.c:\n${result.stderr}`);
    bytes = readFileSync(output);
    objects.set(name, bytes);
  }
  return bytes;
}

function objectBtf(name: string): Btf {
  return new Btf(new ElfFile(compile(name)).section('.BTF')!.data.slice());
}

interface Relocated {
  readonly program: ProgramSpec;
  readonly local: Btf;
  readonly result: CoreResult;
  readonly insns: Insns;
}

function relocate(programName: string, target: Btf, object = 'program'): Relocated {
  const spec = ObjectSpec.parse(compile(object));
  const program = spec.program(programName);
  const result = applyCoreRelocations(program.insns, program.coreRelos, spec.btf!, target);
  return { program, local: spec.btf!, result, insns: new Insns(result.insns) };
}

/** The program's one relocation of this kind, local type name and access string. */
function relocation(r: Relocated, kind: number, typeName: string, access: string): ProgramCoreRelo {
  const found = r.program.coreRelos.filter((relo) => relo.kind === kind && r.local.type(relo.typeId).name === typeName && relo.accessString === access);
  assert.equal(found.length, 1, `one relocation of kind ${kind} for ${typeName} "${access}" (found ${found.length})`);
  return found[0]!;
}

/** What the relocated instruction now carries (immediate, offset or 64-bit immediate); the relocation must have succeeded. */
function value(r: Relocated, kind: number, typeName: string, access: string): bigint {
  const { insn } = relocation(r, kind, typeName, access);
  const failed = r.result.failures.find((f) => f.insn === insn);
  assert.equal(failed, undefined, failed && describeCoreFailure(failed));
  if (r.insns.isLdImm64(insn)) return r.insns.imm64(insn);
  const instructionClass = r.insns.opcode(insn) & 0x07;
  const isMemoryAccess = instructionClass >= 0x01 && instructionClass <= 0x03;
  return BigInt(isMemoryAccess ? r.insns.off(insn) : r.insns.imm(insn));
}

/** The failure of that relocation; its instruction must be poisoned. */
function failure(r: Relocated, kind: number, typeName: string, access: string): CoreFailure {
  const { insn } = relocation(r, kind, typeName, access);
  const found = r.result.failures.find((f) => f.insn === insn);
  assert.ok(found, `relocation at instruction ${insn} should have failed`);
  assertPoisoned(r.insns, insn);
  return found;
}

/** Replaced by `call 0xbad2310`, a helper that does not exist. */
function assertPoisoned(insns: Insns, insn: number): void {
  assert.equal(insns.opcode(insn), OP_CALL);
  assert.equal(insns.imm(insn), 195896080);
}

/** The first type of this name and kind (narrow `.kind` at the call site). */
function named(btf: Btf, name: string, kind: 'struct' | 'enum'): BtfType {
  const id = btf.idsByName(name, kind)[0];
  assert.ok(id !== undefined, `no ${kind} ${name}`);
  return btf.type(id);
}

function needsClang(t: TestContext): boolean {
  if (clangInstalled) return true;
  t.skip(`${CLANG} not installed`);
  return false;
}

const { FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64, FIELD_RSHIFT_U64 } = CoreKind;
const { TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES, ENUMVAL_EXISTS, ENUMVAL_VALUE } = CoreKind;

test('field offsets follow members by name: reordered, nested, anonymous, array elements', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('fields', objectBtf('target'));
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:0'), 16n, 'a moved from 0 to 16');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:1'), 8n, 'b stayed at 8');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:2:1'), 44n, 'in.y: in at 40, y second in the target inner');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:3:1'), 32n, 'u2: an anonymous union locally, inside an anonymous struct in the target');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:4:1'), 52n, 's2: anonymous struct locally, plain member in the target');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:5:2'), 64n, 'arr[2]: 56 + 2 * 4');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:14:5'), 148n, 'tail[5] of a flexible array: 128 + 5 * 4');
  assert.equal(value(r, FIELD_BYTE_SIZE, 'point', '0:1'), 8n);
  assert.equal(value(r, FIELD_BYTE_SIZE, 'point', '0:5'), 24n, 'arr has 6 ints in the target');
});

test('field existence: present gives 1, missing gives 0', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('fields', objectBtf('target'));
  assert.equal(value(r, FIELD_EXISTS, 'point', '0:1'), 1n);
  assert.equal(value(r, FIELD_EXISTS, 'point', '0:10'), 0n, 'gone is not in the target');
});

test('a missing field, an incompatible field and an out-of-bounds index poison their instruction', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('fields', objectBtf('target'));
  const missing = failure(r, FIELD_BYTE_OFFSET, 'point', '0:10');
  assert.equal(missing.kindName, 'FIELD_BYTE_OFFSET');
  assert.equal(missing.typeName, 'struct point');
  assert.match(missing.reason, /no field 'gone'/);
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'point', '0:11').reason, /field 'kind_changed' has an incompatible type/);
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'point', '0:6:5').reason, /index 5 is out of bounds for an array of 2/);
  assert.equal(r.result.failures.length, 3);
  assert.match(describeCoreFailure(missing), /^instruction \d+: CO-RE FIELD_BYTE_OFFSET relocation of struct point \(access "0:10"\) failed: .*no field 'gone'/);
});

test('loads get the new offset, and a new size only for unsigned integers and pointers', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('loads', objectBtf('target'));
  const LDX_W = 0x61;
  const LDX_DW = 0x79;
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:0'), 16n);
  assert.equal(r.insns.opcode(relocation(r, FIELD_BYTE_OFFSET, 'point', '0:0').insn), LDX_W);
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:12'), 88n);
  assert.equal(r.insns.opcode(relocation(r, FIELD_BYTE_OFFSET, 'point', '0:12').insn), LDX_DW, 'grows: unsigned int → unsigned long long, the load widens');
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'point', '0:13').reason, /only pointers and unsigned integers/, 'grows_signed: int → long cannot be widened');
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'point', '0:10').reason, /no field 'gone'/);
});

test('bitfields: offset and size of the containing load, shifts and signedness', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('bitfields', objectBtf('target'));
  // bf_signed: bits 1000..1008, an int → the 4-byte load at 124 (bits 992..1023).
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:8'), 124n);
  assert.equal(value(r, FIELD_BYTE_SIZE, 'point', '0:8'), 4n);
  assert.equal(value(r, FIELD_LSHIFT_U64, 'point', '0:8'), 47n, '64 - (1000 + 9 - 992)');
  assert.equal(value(r, FIELD_RSHIFT_U64, 'point', '0:8'), 55n, '64 - 9');
  assert.equal(value(r, FIELD_SIGNED, 'point', '0:8'), 1n);
  // bf_lo: bits 1009..1011, unsigned, same load.
  assert.equal(value(r, FIELD_LSHIFT_U64, 'point', '0:7'), 44n, '64 - (1009 + 3 - 992)');
  assert.equal(value(r, FIELD_RSHIFT_U64, 'point', '0:7'), 61n);
  assert.equal(value(r, FIELD_SIGNED, 'point', '0:7'), 0n);
  // bf_wide: bits 960..999 of an unsigned long long → the 8-byte load at 120.
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point', '0:9'), 120n);
  assert.equal(value(r, FIELD_BYTE_SIZE, 'point', '0:9'), 8n);
  assert.equal(value(r, FIELD_LSHIFT_U64, 'point', '0:9'), 24n);
  // packed_bits.hi: bits 6..10 of an unsigned char: one byte is too small, the load doubles to 2 bytes.
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'packed_bits', '0:1'), 0n);
  assert.equal(value(r, FIELD_BYTE_SIZE, 'packed_bits', '0:1'), 2n);
  assert.equal(value(r, FIELD_LSHIFT_U64, 'packed_bits', '0:1'), 53n, '64 - (6 + 5)');
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'too_wide', '0:1').reason, /cannot be read with one 8-byte load/);
  // A plain field: signed int → long, still signed.
  assert.equal(value(r, FIELD_SIGNED, 'point', '0:13'), 1n);
  assert.equal(r.result.failures.length, 1);
});

test('type existence, size, ids and matches', (t) => {
  if (!needsClang(t)) return;
  const target = objectBtf('target');
  const r = relocate('types', target);
  assert.equal(value(r, TYPE_EXISTS, 'point', '0'), 1n);
  assert.equal(value(r, TYPE_EXISTS, 'only_local', '0'), 0n);
  assert.equal(value(r, TYPE_SIZE, 'point', '0'), 128n);
  assert.equal(value(r, TYPE_SIZE, 'only_local', '0'), 0n, 'libbpf gives 0 for the size of a type the target lacks');
  assert.equal(value(r, TYPE_ID_LOCAL, 'point', '0'), BigInt(named(r.local, 'point', 'struct').id));
  assert.equal(value(r, TYPE_ID_TARGET, 'point', '0'), BigInt(named(target, 'point', 'struct').id));
  assert.equal(value(r, TYPE_EXISTS, 'counter_t', '0'), 1n, 'a typedef to an int of another size is compatible');
  assert.equal(value(r, TYPE_SIZE, 'counter_t', '0'), 8n);
  assert.equal(value(r, TYPE_MATCHES, 'counter_t', '0'), 0n, 'but does not match: sizes differ');
  assert.equal(value(r, TYPE_MATCHES, 'matchme', '0'), 1n, 'members found by name; a forward-declared struct behind a pointer matches');
  assert.equal(value(r, TYPE_MATCHES, 'nomatch', '0'), 0n, 'int vs unsigned int');
  assert.equal(value(r, TYPE_EXISTS, 'nomatch', '0'), 1n);
  assert.deepEqual(r.result.failures, []);
});

test('enum values: existence, 32- and 64-bit values, signedness', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('enums', objectBtf('target'));
  assert.equal(value(r, ENUMVAL_EXISTS, 'color', '1'), 1n, 'GREEN');
  assert.equal(value(r, ENUMVAL_EXISTS, 'color', '3'), 0n, 'PURPLE is not in the target');
  assert.equal(value(r, ENUMVAL_VALUE, 'color', '2'), 10n, 'BLUE: 2 locally, 10 in the target');
  assert.equal(value(r, ENUMVAL_VALUE, 'sign', '0'), BigInt.asUintN(64, -7n), 'NEG: -1 locally, -7 in the target, sign-extended');
  assert.equal(value(r, ENUMVAL_VALUE, 'wide', '1'), 0xfffffffff0000000n, 'enum64, unsigned');
  assert.equal(value(r, ENUMVAL_VALUE, 'grow', '0'), 0x200000000n, 'a 32-bit enum locally, enum64 in the target');
  assert.match(failure(r, ENUMVAL_VALUE, 'color', '3').reason, /no enumerator 'PURPLE'/);
  const { insn } = relocation(r, ENUMVAL_VALUE, 'color', '3');
  assertPoisoned(r.insns, insn + 1);
});

test('flavours: ___suffix is ignored on both sides; candidates must agree', (t) => {
  if (!needsClang(t)) return;
  const r = relocate('flavours', objectBtf('target'));
  assert.equal(value(r, FIELD_EXISTS, 'point___old', '0:0'), 0n, 'the target has b, not old_b');
  assert.equal(value(r, FIELD_EXISTS, 'point___new', '0:0'), 1n);
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'point___new', '0:1'), 16n, 'point___new.a is point.a');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'renamed', '0:0'), 4n, 'found as renamed___x in the target');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'twin', '0:0'), 4n, 'twin and twin___2 agree');
  assert.match(failure(r, FIELD_BYTE_OFFSET, 'amb', '0:0').reason, /ambiguous.*amb.*amb___2/);
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'pruned', '0:0'), 0n, 'only pruned has a…');
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'pruned', '0:1'), 4n, '…so pruned___2 no longer counts for b');
});

test('an instruction that does not hold the local value is refused', (t) => {
  if (!needsClang(t)) return;
  const spec = ObjectSpec.parse(compile('program'));
  const program = spec.program('fields');
  const relo = program.coreRelos.find((r) => r.kind === FIELD_BYTE_OFFSET && r.accessString === '0:1')!;
  const insns = program.insns.slice();
  new Insns(insns).setImm(relo.insn, 12345);
  const { insns: patched, failures } = applyCoreRelocations(insns, [relo], spec.btf!, objectBtf('target'));
  assert.equal(failures.length, 1);
  assert.match(failures[0]!.reason, /immediate is 12345, but the local BTF gives 8/);
  assertPoisoned(new Insns(patched), relo.insn);
});

test('malformed relocations fail without throwing and leave the input untouched', (t) => {
  if (!needsClang(t)) return;
  const spec = ObjectSpec.parse(compile('program'));
  const program = spec.program('fields');
  const original = program.insns.slice();
  const base = program.coreRelos.find((r) => r.kind === FIELD_BYTE_OFFSET && r.accessString === '0:1')!;
  const target = objectBtf('target');
  const bad: [Partial<ProgramCoreRelo>, RegExp][] = [
    [{ accessString: '0:999' }, /struct point has 15 members, no member #999/],
    [{ accessString: '0:1:2' }, /neither a struct, a union nor an array/],
    [{ accessString: '0:5:4' }, /index 4 is out of bounds for an array of 4/],
    [{ accessString: 'x:1' }, /malformed access string/],
    [{ accessString: '' }, /malformed access string/],
    [{ kind: 42 }, /unknown relocation kind 42/],
    [{ kind: TYPE_SIZE }, /type relocations take the access string "0"/],
    [{ kind: ENUMVAL_VALUE, accessString: '0' }, /enum value relocation on struct point/],
    [{ typeId: 99999 }, /does not exist/],
    [{ insn: 100000 }, /outside the program/],
  ];
  for (const [change, reason] of bad) {
    const relo = { ...base, ...change };
    const { insns, failures } = applyCoreRelocations(program.insns, [relo], spec.btf!, target);
    assert.equal(failures.length, 1, JSON.stringify(change));
    assert.match(failures[0]!.reason, reason);
    if (relo.insn === base.insn) assertPoisoned(new Insns(insns), relo.insn);
  }
  assert.deepEqual(program.insns, original);
});

// Hostile BTF built in memory: WIDTH-wide, DEPTH-deep type graphs that a
// plain recursive search (libbpf's) walks WIDTH^DEPTH times: seconds at
// these sizes, hours a few levels deeper. Searched once per type, they take
// milliseconds.
const WIDTH = 4;
const DEPTH = 12;
const CRAFTED_TIME_LIMIT_MS = 1000;

const intType = (id: number, size = 4): BtfType => ({ id, kind: 'int', name: 'int', size, signed: true, char: false, bool: false, bitOffset: 0, bits: size * 8 });
const structType = (id: number, name: string, members: readonly (readonly [name: string, type: number, bitOffset?: number])[]): BtfType =>
  ({ id, kind: 'struct', name, size: 16, members: members.map(([memberName, type, bitOffset = 0]) => ({ name: memberName, type, bitOffset, bitSize: 0 })) });

/** Relocates one `r0 = imm` instruction (imm: what clang left there), within the time limit; its new immediate and any failure. */
function relocateCrafted(local: BtfType[], target: BtfType[], relo: { typeId: number; accessString: string; kind: number }, imm: number) {
  const insns = new Insns(new Uint8Array(8));
  insns.bytes[0] = 0xb7;
  insns.setImm(0, imm);
  const [localBtf, targetBtf] = [new Btf(encodeBtf(local)), new Btf(encodeBtf(target))];
  const started = performance.now();
  const result = applyCoreRelocations(insns.bytes, [{ ...relo, insn: 0, insnOffset: 0 }], localBtf, targetBtf);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < CRAFTED_TIME_LIMIT_MS, `relocation took ${elapsed.toFixed(0)} ms`);
  return { imm: new Insns(result.insns).imm(0), reasons: result.failures.map((f) => f.reason) };
}

/** A struct whose WIDTH anonymous members each hold the previous type, DEPTH levels over `inner`. */
function nestAnonymous(types: BtfType[], inner: number): number {
  let below = inner;
  for (let level = 0; level < DEPTH; level++) {
    types.push(structType(types.length + 1, '', Array.from({ length: WIDTH }, () => ['', below] as const)));
    below = types.length;
  }
  return below;
}

test('crafted target BTF: nested anonymous members are searched once each', () => {
  const local = [intType(1), structType(2, 't', [['x', 1]])];
  const target = [intType(1), structType(2, '', [['y', 1]])];
  const nested = nestAnonymous(target, 2);
  target.push(structType(target.length + 1, 't', [...Array.from({ length: WIDTH }, () => ['', nested] as const), ['x', 1, 64]]));
  assert.deepEqual(relocateCrafted(local, target, { typeId: 2, accessString: '0:0', kind: FIELD_BYTE_OFFSET }, 0), { imm: 8, reasons: [] });
});

test('crafted target BTF: duplicate member names and fanned-out parameters are compared once per pair of types', () => {
  // TYPE_MATCHES: each target level has WIDTH members named 'a'; only the innermost differs (int vs long).
  const local: BtfType[] = [intType(1), structType(2, 's0', [['v', 1]])];
  const target: BtfType[] = [intType(1), intType(2, 8), structType(3, 's0', [['v', 2]])];
  for (let level = 1; level <= DEPTH; level++) {
    local.push(structType(local.length + 1, `s${level}`, [['a', local.length]]));
    target.push(structType(target.length + 1, `s${level}`, Array.from({ length: WIDTH }, () => ['a', target.length] as const)));
  }
  assert.deepEqual(relocateCrafted(local, target, { typeId: local.length, accessString: '0', kind: TYPE_MATCHES }, 1), { imm: 0, reasons: [] });

  // TYPE_EXISTS: function prototypes whose WIDTH parameters each point to the level below.
  const prototypes = (): BtfType[] => {
    const types: BtfType[] = [intType(1), { id: 2, kind: 'func_proto', name: '', returnType: 1, params: [] }];
    for (let level = 0; level < DEPTH; level++) {
      types.push({ id: types.length + 1, kind: 'ptr', name: '', type: types.length });
      types.push({ id: types.length + 1, kind: 'func_proto', name: '', returnType: 1, params: Array.from({ length: WIDTH }, () => ({ name: 'p', type: types.length })) });
    }
    types.push({ id: types.length + 1, kind: 'typedef', name: 'fp', type: types.length });
    return types;
  };
  const fp = prototypes();
  assert.deepEqual(relocateCrafted(fp, prototypes(), { typeId: fp.length, accessString: '0', kind: TYPE_EXISTS }, 1), { imm: 1, reasons: [] });
});

test('crafted BTF: a relocation that needs too many comparisons fails, naming the budget', () => {
  const members = (count: number) => Array.from({ length: count }, (_, i) => [`m${i}`, 1] as const);
  const local = [intType(1), structType(2, 'big', members(1100))];
  const target = [intType(1), structType(2, 'big', members(1000))];
  const { reasons } = relocateCrafted(local, target, { typeId: 2, accessString: '0', kind: TYPE_MATCHES }, 1);
  assert.equal(reasons.length, 1);
  assert.match(reasons[0]!, /more than 1000000 steps, the budget of one relocation/);
});

test('against the running kernel: offsets equal the kernel BTF, flavours pick the right field', (t) => {
  if (!needsClang(t)) return;
  if (!existsSync(KERNEL_BTF)) return t.skip(`${KERNEL_BTF} not available`);
  const kernel = new Btf(readFileSync(KERNEL_BTF));
  const r = relocate('kernel', kernel, 'kernel');
  const task = named(kernel, 'task_struct', 'struct');
  assert.ok(task.kind === 'struct');
  const memberOffset = (name: string) => BigInt(task.members.find((m) => m.name === name)!.bitOffset / 8);
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'task_struct', '0:1'), memberOffset('real_parent'));
  assert.equal(value(r, FIELD_BYTE_OFFSET, 'task_struct', '0:0'), memberOffset('tgid'));
  assert.equal(value(r, FIELD_BYTE_SIZE, 'task_struct', '0:0'), 4n);
  assert.equal(value(r, TYPE_SIZE, 'task_struct', '0'), BigInt(task.size));
  const hasState = task.members.some((m) => m.name === 'state');
  assert.equal(value(r, FIELD_EXISTS, 'task_struct___old', '0:0'), hasState ? 1n : 0n);
  assert.equal(value(r, FIELD_EXISTS, 'task_struct___new', '0:0'), hasState ? 0n : 1n);
  const pidType = named(kernel, 'pid_type', 'enum');
  assert.ok(pidType.kind === 'enum');
  assert.equal(value(r, ENUMVAL_VALUE, 'pid_type', '0'), pidType.values.find((v) => v.name === 'PIDTYPE_SID')!.value);
  assert.deepEqual(r.result.failures, []);
});
