import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotFoundError, ObjectError } from '../src/errors.ts';
import { Insns } from '../src/object/insn.ts';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType } from '../src/object/maps.ts';
import { AttachType, programKind, ProgType } from '../src/object/sections.ts';
import { Btf } from '../src/btf/btf.ts';
import { existsSync, readFileSync } from 'node:fs';
import { ObjectSpec } from '../src/object/spec.ts';
import { elfObject, programBytes, sectionHeaderAt, stringTable, symbolEntryAt } from './helpers.ts';

test('execsnoop: program, BTF ring buffer, global data maps and CO-RE relocations', () => {
  const spec = ObjectSpec.parse(programBytes('execsnoop'));
  assert.equal(spec.license, 'GPL');
  const program = spec.program('execsnoop');
  assert.equal(program.kind.type, 'TRACEPOINT');
  assert.equal(program.kind.target, 'syscalls/sys_enter_execve');
  const events = spec.map('events');
  assert.equal(events.type, MapType.RINGBUF);
  assert.equal(events.maxEntries, 256 * 1024);
  const rodata = spec.map('.rodata');
  assert.equal(rodata.flags, BPF_F_MMAPABLE | BPF_F_RDONLY_PROG);
  assert.deepEqual([...rodata.data!.variables.keys()], ['target_pid', 'target_comm']);
  assert.equal(spec.map('.bss').data!.kind, 'bss');
  const referenced = new Set(program.mapReferences.map((r) => r.map));
  assert.deepEqual([...referenced].sort(), ['.bss', '.rodata', 'events']);
  // target_comm lives at offset 4 of .rodata: every reference to it carries that offset.
  const commOffsets = new Set(program.mapReferences.filter((r) => r.map === '.rodata').map((r) => r.valueOffset));
  assert.deepEqual([...commOffsets].sort(), [0, 4]);
  assert.equal(program.coreRelos.length, 2);
});

test('legacy maps section (struct bpf_map_def), as in the seed article', () => {
  const spec = ObjectSpec.parse(programBytes('seed_execve_legacy'));
  const buffer = spec.map('buffer');
  assert.equal(buffer.type, MapType.RINGBUF);
  assert.equal(buffer.maxEntries, 4096 * 64);
  assert.deepEqual(spec.program('sys_enter_execve').mapReferences.map((r) => r.map), ['buffer']);
});

test('bpf_loop callbacks are linked after the entry program as BPF_PSEUDO_FUNC', () => {
  const spec = ObjectSpec.parse(programBytes('ringbuf_test'));
  const program = spec.program('produce');
  const insns = new Insns(program.insns);
  const entryLength = spec.elf.symbols.find((s) => s.name === 'produce')!.size / 8; // produce_one() follows it
  const callbackLength = spec.elf.symbols.find((s) => s.name === 'produce_one')!.size / 8;
  assert.equal(insns.count, entryLength + callbackLength);
  assert.ok(insns.count > entryLength);
  const callbackLoad = [...Array(insns.count).keys()].find((i) => insns.isLdImm64(i) && insns.srcReg(i) === 4);
  assert.ok(callbackLoad !== undefined);
  assert.equal(callbackLoad + insns.imm(callbackLoad) + 1, entryLength);
  // func_info for both functions, rebased to instruction indexes of the linked program.
  assert.deepEqual(program.funcInfo.map((f) => f.insnOffset), [0, entryLength]);
});

test('constants are checked against BTF and written into .rodata', () => {
  const spec = ObjectSpec.parse(programBytes('execsnoop'));
  const contents = spec.dataContents({ target_pid: 77, target_comm: 'cat' });
  const rodata = contents.get('.rodata')!;
  assert.equal(new DataView(rodata.buffer).getUint32(0, true), 77);
  assert.equal(new TextDecoder().decode(rodata.subarray(4, 7)), 'cat');
  // dataContents leaves the spec alone; setConstants changes it.
  assert.equal(spec.map('.rodata').data!.bytes[0], 0);
  spec.setConstants({ target_pid: 5 });
  assert.equal(spec.map('.rodata').data!.bytes[0], 5);
  assert.throws(() => spec.setConstants({ target_pid: 'five' }), /expected an integer/);
  assert.throws(() => spec.setConstants({ events__tsbpf_dropped: 1 }), ObjectError);
  assert.throws(() => spec.setConstants({ no_such_thing: 1 }), NotFoundError);
});

test('unknown names list what exists', () => {
  const spec = ObjectSpec.parse(programBytes('execsnoop'));
  assert.throws(() => spec.map('nope'), (e: unknown) => e instanceof NotFoundError && /available: .*events/.test(e.message));
  assert.throws(() => spec.program('nope'), (e: unknown) => e instanceof NotFoundError && /available: execsnoop/.test(e.message));
});

test('an object without a license section is refused', () => {
  assert.throws(() => ObjectSpec.parse(programBytes('no_license')), (e: unknown) => e instanceof ObjectError && /license/.test(e.message));
});

test('section names map to program types like libbpf', () => {
  const cases: [string, string, string | undefined, string | undefined][] = [
    ['tracepoint/syscalls/sys_enter_openat', 'TRACEPOINT', undefined, 'syscalls/sys_enter_openat'],
    ['tp/sched/sched_switch', 'TRACEPOINT', undefined, 'sched/sched_switch'],
    ['raw_tp/sys_enter', 'RAW_TRACEPOINT', undefined, 'sys_enter'],
    ['tp_btf/sched_switch', 'TRACING', 'TRACE_RAW_TP', 'sched_switch'],
    ['fentry/do_unlinkat', 'TRACING', 'TRACE_FENTRY', 'do_unlinkat'],
    ['kprobe/do_sys_openat2', 'KPROBE', undefined, 'do_sys_openat2'],
    ['syscall', 'SYSCALL', undefined, undefined],
    ['xdp', 'XDP', 'XDP', undefined],
    ['?tracepoint/a/b', 'TRACEPOINT', undefined, 'a/b'],
  ];
  for (const [section, type, attachType, target] of cases) {
    const kind = programKind(section);
    assert.deepEqual([kind?.type, kind?.attachType, kind?.target], [type, attachType, target], section);
  }
  assert.equal(programKind('?syscall')?.optional, true);
  assert.equal(programKind('syscall')?.sleepable, true);
  assert.equal(programKind('tracepointx'), undefined);
  assert.equal(programKind('.text'), undefined);
});

test('program, attach and map type numbers are the kernel\'s (enum bpf_prog_type, bpf_attach_type, bpf_map_type in its BTF)', (t) => {
  const path = '/sys/kernel/btf/vmlinux';
  if (!existsSync(path)) return t.skip('this kernel exposes no BTF at /sys/kernel/btf/vmlinux');
  const btf = new Btf(readFileSync(path));
  const values = (name: string, prefix: string) => new Map(btf.typeByName(name, 'enum')!.values.map((v) => [v.name.slice(prefix.length), Number(v.value)]));
  const progTypes = values('bpf_prog_type', 'BPF_PROG_TYPE_');
  for (const [name, value] of Object.entries(ProgType)) assert.equal(progTypes.get(name), value, `BPF_PROG_TYPE_${name}`);
  const attachTypes = values('bpf_attach_type', 'BPF_');
  for (const [name, value] of Object.entries(AttachType)) assert.equal(attachTypes.get(name), value, `BPF_${name}`);
  const mapTypes = values('bpf_map_type', 'BPF_MAP_TYPE_');
  for (const [name, value] of Object.entries(MapType)) assert.equal(mapTypes.get(name), value, `BPF_MAP_TYPE_${name}`);
});

test('the longest section pattern wins, and xdp.frags sets BPF_F_XDP_HAS_FRAGS', () => {
  assert.deepEqual([programKind('xdp.frags/devmap')?.attachType, programKind('xdp.frags/devmap')?.frags], ['XDP_DEVMAP', true]);
  assert.equal(programKind('sk_reuseport/migrate')?.attachType, 'SK_REUSEPORT_SELECT_OR_MIGRATE');
  assert.equal(programKind('uprobe.multi.s//bin/sh:main')?.sleepable, true);
  assert.equal(programKind('cgroup/sock_release')?.attachType, 'CGROUP_INET_SOCK_RELEASE');
  assert.equal(programKind('lsm_cgroup/socket_bind')?.attachType, 'LSM_CGROUP');
});

/** `edit` applied to a private copy of a committed object, through a DataView on its bytes. */
function edited(name: string, edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = programBytes(name);
  edit(new DataView(bytes.buffer), bytes);
  return bytes;
}

function assertRefused(bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => ObjectSpec.parse(bytes), (e: unknown) => e instanceof ObjectError && message.test(e.message));
}

test('a data section larger than a map value can be is refused before anything is allocated', () => {
  // .bss is NOBITS: its size is only a number in the header.
  assertRefused(edited('test_globals', (v, b) => v.setBigUint64(sectionHeaderAt(b, '.bss') + 32, 1n << 40n, true)), /\.bss: 1099511627776 bytes is larger than a map value/);
});

test("a legacy 'maps' section without contents (NOBITS) is refused", () => {
  assertRefused(edited('test_legacy_mixed', (v, b) => v.setUint32(sectionHeaderAt(b, 'maps') + 4, SHT_NOBITS, true)), /'maps' section has no contents/);
});

test('a global variable whose symbol lies outside its section is refused', () => {
  assertRefused(edited('execsnoop', (v, b) => v.setBigUint64(symbolEntryAt(b, 'target_pid') + 8, 0x1000n, true)), /'target_pid' \[4096, 4100\) lies outside \.rodata/);
});

test('a function whose size is not a whole number of instructions is refused', () => {
  assertRefused(edited('test_globals', (v, b) => v.setBigUint64(symbolEntryAt(b, 'globals_raw_tp') + 16, 1n, true)), /'globals_raw_tp' has a bad range \[0, 1\)/);
});

const [SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_REL] = [1, 2, 3, 8, 9];

/**
 * A program whose entry calls f0, which calls f1, … up to f<depth - 1>: global
 * functions in .text, each a call of the one right after it (pc-relative) and
 * an exit; the entry's call is a relocation against f0.
 */
function callChainObject(depth: number): Uint8Array {
  const [CALL, EXIT, MOV_IMM, PSEUDO_CALL] = [0x85, 0x95, 0xb7, 1];
  const [SHF_ALLOC, SHF_EXECINSTR] = [2, 4];
  const [STB_GLOBAL, STT_FUNC, R_BPF_64_32] = [1, 2, 10];
  const FUNCTION_SIZE = 16;
  const code = (...insns: [opcode: number, srcReg: number, imm: number][]) => {
    const bytes = new Uint8Array(insns.length * 8);
    const view = new DataView(bytes.buffer);
    insns.forEach(([opcode, srcReg, imm], i) => {
      view.setUint8(i * 8, opcode);
      view.setUint8(i * 8 + 1, srcReg << 4);
      view.setInt32(i * 8 + 4, imm, true);
    });
    return bytes;
  };
  const chain = Array.from({ length: depth }, (_, i) => (i < depth - 1 ? code([CALL, PSEUDO_CALL, 1], [EXIT, 0, 0]) : code([MOV_IMM, 0, 0], [EXIT, 0, 0])));
  const text = new Uint8Array(depth * FUNCTION_SIZE);
  chain.forEach((bytes, i) => text.set(bytes, i * FUNCTION_SIZE));
  const names = Array.from({ length: depth }, (_, i) => `f${i}`);
  const strings = stringTable([...names, 'entry']);
  // Symbol 0 is null; f<i> is symbol i + 1 in .text (section 1), the entry the last one, in section 2.
  const symbols = new Uint8Array((depth + 2) * 24);
  const symbolView = new DataView(symbols.buffer);
  const setSymbol = (index: number, name: string, section: number, value: number) => {
    const at = index * 24;
    symbolView.setUint32(at, strings.offsets.get(name)!, true);
    symbolView.setUint8(at + 4, (STB_GLOBAL << 4) | STT_FUNC);
    symbolView.setUint16(at + 6, section, true);
    symbolView.setBigUint64(at + 8, BigInt(value), true);
    symbolView.setBigUint64(at + 16, BigInt(FUNCTION_SIZE), true);
  };
  names.forEach((name, i) => setSymbol(i + 1, name, 1, i * FUNCTION_SIZE));
  setSymbol(depth + 1, 'entry', 2, 0);
  const relocation = new Uint8Array(16);
  new DataView(relocation.buffer).setBigUint64(8, (1n << 32n) | BigInt(R_BPF_64_32), true);
  const entrySection = 'tracepoint/syscalls/sys_enter_getpid';
  return elfObject([
    { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: text },
    { name: entrySection, type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: code([CALL, PSEUDO_CALL, -1], [EXIT, 0, 0]) },
    { name: `.rel${entrySection}`, type: SHT_REL, data: relocation, link: 5, info: 2, entsize: 16 },
    { name: 'license', type: SHT_PROGBITS, flags: SHF_ALLOC, data: new TextEncoder().encode('GPL\0') },
    { name: '.symtab', type: SHT_SYMTAB, data: symbols, link: 6, info: 1, entsize: 24 },
    { name: '.strtab', type: SHT_STRTAB, data: strings.bytes },
  ]);
}

test("a 'version' section without the 4 bytes of a kernel version (NOBITS, or short) is refused", () => {
  const withVersion = (version: { type: number; data: Uint8Array }) => elfObject([
    { name: '.symtab', type: SHT_SYMTAB, data: new Uint8Array(24), link: 2, entsize: 24 },
    { name: '.strtab', type: SHT_STRTAB, data: new Uint8Array(1) },
    { name: 'license', type: SHT_PROGBITS, data: new TextEncoder().encode('GPL\0') },
    { name: 'version', ...version },
  ]);
  // NOBITS: the header says 4 bytes, the file has none.
  assertRefused(withVersion({ type: SHT_NOBITS, data: new Uint8Array(4) }), /'version' section holds 0 bytes, not a u32 kernel version/);
  assertRefused(withVersion({ type: SHT_PROGBITS, data: new Uint8Array(2) }), /holds 2 bytes/);
  assert.equal(ObjectSpec.parse(withVersion({ type: SHT_PROGBITS, data: new Uint8Array([0x2a, 0x06, 0x06, 0x00]) })).kernelVersion, 0x6062a);
});

test('a chain of 10,000 calls links, each function right after its caller', () => {
  const depth = 10_000;
  const program = ObjectSpec.parse(callChainObject(depth)).program('entry');
  const insns = new Insns(program.insns);
  assert.equal(insns.count, (depth + 1) * 2);
  for (let call = 0; call < depth; call++) assert.equal(insns.imm(call * 2), 1, `call ${call}`);
});

test('a function ending in the middle of an ld_imm64 is refused', () => {
  // globals_raw_tp cut after the first half of the ld_imm64 at 0x128.
  assertRefused(edited('test_globals', (v, b) => v.setBigUint64(symbolEntryAt(b, 'globals_raw_tp') + 16, 0x130n, true)), /globals_raw_tp\+37: ld_imm64 is cut in half/);
});

test('a relocation in code that is not on an instruction boundary is refused', () => {
  const moved = edited('test_globals', (v, b) => {
    const firstRelocation = Number(v.getBigUint64(sectionHeaderAt(b, '.relraw_tp/sys_enter') + 24, true));
    v.setBigUint64(firstRelocation, v.getBigUint64(firstRelocation, true) + 4n, true);
  });
  assertRefused(moved, /raw_tp\/sys_enter\+\d+: a relocation is not on an instruction boundary/);
});
