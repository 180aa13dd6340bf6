// Checks every field of every Layout in src/syscall/layout.ts twice, in two
// independent ways: against the installed uapi headers (a C program printing
// offsetof/sizeof, compiled with cc) and against the running kernel's BTF.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Btf, type CompositeType } from '../src/btf/btf.js';
import { TsbpfError } from '../src/errors.js';
import * as layoutModule from '../src/syscall/layout.js';
import type { Field, FieldKind, Layout } from '../src/syscall/layout.js';

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

const expectedSize: Record<FieldKind, number> = { u32: 4, u64: 8, ptr: 8, name: 16, bits: 8 };

/**
 * A 'bits' field is a word of bitfields, which has no C member of its own:
 * we locate the word through one bitfield known to live in it.
 */
const bitfieldInWord: Record<string, string> = {
  'struct perf_event_attr flags': 'disabled',
};

const layouts = Object.entries(layoutModule).filter((entry): entry is [string, Layout] => isLayout(entry[1]));

function isLayout(value: unknown): value is Layout {
  return typeof value === 'object' && value !== null && 'struct' in value && 'size' in value && 'fields' in value;
}

/** What to look up in C or BTF: a member designator, or a bitfield whose 8-byte word we want. */
interface Probe {
  readonly struct: string;
  readonly member: string;
  readonly bitfield: boolean;
}

interface Placement {
  readonly offset: number;
  readonly size: number;
}

/** Where a measurement says a probe lives; undefined when the struct has no such member. */
type Measure = (probe: Probe) => Placement | undefined;

function probeFor(struct: string, field: Field): Probe {
  if (field.kind !== 'bits') return { struct, member: field.member, bitfield: false };
  const member = bitfieldInWord[`${struct} ${field.member}`];
  assert.ok(member, `no bitfield known for the 'bits' field ${struct} ${field.member}: add one to bitfieldInWord`);
  return { struct, member, bitfield: true };
}

const probeKey = (probe: Probe) => `${probe.struct} ${probe.member}`;

function allProbes(): Probe[] {
  const probes = new Map<string, Probe>();
  for (const [, layout] of layouts) {
    for (const field of Object.values(layout.fields)) {
      const probe = probeFor(layout.struct, field);
      probes.set(probeKey(probe), probe);
    }
  }
  return [...probes.values()];
}

/** Compares a layout with a measurement: mismatches, and the members the measurement does not know. */
function compareLayout(layout: Layout, measure: Measure): { mismatches: string[]; unknown: string[] } {
  const mismatches: string[] = [];
  const unknown: string[] = [];
  for (const [name, field] of Object.entries(layout.fields)) {
    const where = `${name} (${layout.struct} ${field.member})`;
    const actual = measure(probeFor(layout.struct, field));
    if (!actual) unknown.push(where);
    else if (actual.offset !== field.offset || actual.size !== expectedSize[field.kind]) {
      mismatches.push(`${where}: layout says offset ${field.offset} size ${expectedSize[field.kind]} (${field.kind}), actual offset ${actual.offset} size ${actual.size}`);
    }
  }
  return { mismatches, unknown };
}

/** A shifted offset must be reported: guards against a comparison that passes everything. */
function assertShiftedOffsetIsCaught(measure: Measure): void {
  const { mapElemAttr } = layoutModule;
  const shifted: Layout = { ...mapElemAttr, fields: { ...mapElemAttr.fields, value: { ...mapElemAttr.fields.value, offset: 20 } } };
  const { mismatches } = compareLayout(shifted, measure);
  assert.equal(mismatches.length, 1, `expected exactly the shifted field to mismatch, got ${JSON.stringify(mismatches)}`);
  assert.match(mismatches[0]!, /^value .*layout says offset 20 .*actual offset 16 /);
}

async function checkEveryLayout(t: TestContext, measure: Measure, onUnknown: (subtest: TestContext, unknown: string[]) => void): Promise<void> {
  await t.test('self-check: a wrong offset fails', () => assertShiftedOffsetIsCaught(measure));
  for (const [layoutName, layout] of layouts) {
    await t.test(layoutName, (subtest) => {
      const { mismatches, unknown } = compareLayout(layout, measure);
      onUnknown(subtest, unknown);
      assert.deepEqual(mismatches, []);
    });
  }
}

// ---- uapi headers, through a C compiler ------------------------------------

function cProbeStatement(probe: Probe, index: number): string {
  const { struct, member } = probe;
  if (!probe.bitfield) {
    return `printf("${index} %zu %zu\\n", __builtin_offsetof(${struct}, ${member}), sizeof(((${struct} *)0)->${member}));`;
  }
  // Set the one bitfield in a zeroed struct and report the 8-byte word its first non-zero byte is in.
  return `{ ${struct} probe; memset(&probe, 0, sizeof probe); probe.${member} = 1; const unsigned char *bytes = (const unsigned char *)&probe; size_t at = 0; while (!bytes[at]) at++; printf("${index} %zu 8\\n", at / 8 * 8); }`;
}

/** The C program, one probe per line; `probeLines[i]` is the 1-based line of probe i (or -1 if left out). */
function cProgram(probes: readonly Probe[], leftOut: ReadonlySet<number>): { source: string; probeLines: number[] } {
  const lines = [
    ...['stddef.h', 'stdio.h', 'string.h', 'linux/version.h', 'linux/bpf.h', 'linux/perf_event.h'].map((header) => `#include <${header}>`),
    'int main(void) {',
    'printf("headers %d.%d\\n", LINUX_VERSION_CODE >> 16, (LINUX_VERSION_CODE >> 8) & 255);',
  ];
  const probeLines = probes.map((probe, index) => {
    if (leftOut.has(index)) return -1;
    lines.push(cProbeStatement(probe, index));
    return lines.length;
  });
  lines.push('return 0;', '}');
  return { source: lines.join('\n') + '\n', probeLines };
}

interface HeaderMeasurement {
  readonly headersVersion: string;
  readonly placements: ReadonlyMap<string, Placement>;
}

/**
 * Compiles and runs the probe program. A first compile may fail on members the
 * (older) headers lack: the probes on the lines with errors are left out and
 * the program compiled again. Any error outside a probe line is a failure.
 */
function measureWithC(probes: readonly Probe[]): HeaderMeasurement {
  const dir = mkdtempSync(os.tmpdir() + '/tsbpf-layout-');
  try {
    const compile = (leftOut: ReadonlySet<number>) => {
      const { source, probeLines } = cProgram(probes, leftOut);
      writeFileSync(path.join(dir, 'probe.c'), source);
      const result = spawnSync('cc', ['-o', 'probe', 'probe.c'], { cwd: dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
      return { ok: result.status === 0, stderr: result.stderr, probeLines };
    };
    let build = compile(new Set());
    if (!build.ok) {
      const errorLines = [...build.stderr.matchAll(/^probe\.c:(\d+):\d+: (?:fatal )?error:/gm)].map((match) => Number(match[1]));
      const failedProbes = new Set(errorLines.map((line) => build.probeLines.indexOf(line)));
      assert.ok(errorLines.length > 0 && !failedProbes.has(-1), `cc failed outside the probes:\n${build.stderr}`);
      build = compile(failedProbes);
      assert.ok(build.ok, `cc failed after leaving out the members the headers lack:\n${build.stderr}`);
    }
    const output = spawnSync(path.join(dir, 'probe'), { encoding: 'utf8' });
    assert.equal(output.status, 0, `probe program failed: ${output.stderr}`);
    const [versionLine = '', ...probeOutput] = output.stdout.trim().split('\n');
    const placements = new Map<string, Placement>();
    for (const line of probeOutput) {
      const [index, offset, size] = line.split(' ').map(Number) as [number, number, number];
      placements.set(probeKey(probes[index]!), { offset, size });
    }
    return { headersVersion: versionLine.replace('headers ', ''), placements };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cCompilerProblem(): string | undefined {
  const result = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (result.error) return result.error.message;
  return result.status === 0 ? undefined : `cc --version exited with ${result.status}`;
}

test('layouts match the installed uapi headers (offsetof/sizeof compiled with cc)', async (t) => {
  const problem = cCompilerProblem();
  if (problem) {
    t.skip(`no C compiler installed: ${problem}`);
    return;
  }
  const { headersVersion, placements } = measureWithC(allProbes());
  await checkEveryLayout(
    t,
    (probe) => placements.get(probeKey(probe)),
    (subtest, unknown) => {
      for (const where of unknown) subtest.diagnostic(`${where}: not in the installed uapi headers (${headersVersion}); checked against kernel BTF only`);
    },
  );
});

// ---- the running kernel's BTF ----------------------------------------------

type FoundMember = { readonly type: number; readonly bitOffset: number; readonly bitSize: number };

/** The kernel's type for a C type name such as "union bpf_attr". */
function kernelComposite(btf: Btf, struct: string): CompositeType {
  const [keyword, name = ''] = struct.split(' ');
  const type = btf.typeByName(name, keyword === 'union' ? 'union' : 'struct');
  assert.ok(type, `kernel BTF has no ${struct}`);
  return type;
}

/** Byte placement of a member designator ("a.b.c"), descending into anonymous struct/union members. */
function btfMeasure(btf: Btf): Measure {
  return (probe) => {
    let composite = kernelComposite(btf, probe.struct);
    let bitOffset = 0;
    let member: FoundMember | undefined;
    for (const part of probe.member.split('.')) {
      member = findMember(btf, composite, part);
      if (!member) return undefined;
      bitOffset += member.bitOffset;
      const type = btf.skipQualifiers(member.type);
      if (type.kind === 'struct' || type.kind === 'union') composite = type;
    }
    if (!member) return undefined;
    if (probe.bitfield) return { offset: Math.floor(bitOffset / 64) * 8, size: 8 };
    assert.ok(member.bitSize === 0 && bitOffset % 8 === 0, `${probe.struct} ${probe.member} is a bitfield in kernel BTF`);
    return { offset: bitOffset / 8, size: btf.sizeof(member.type) };
  };
}

/** The member called `name`, with bitOffset relative to `composite`, searching anonymous members too. */
function findMember(btf: Btf, composite: CompositeType, name: string): FoundMember | undefined {
  for (const member of composite.members) {
    if (member.name === name) return member;
    if (member.name !== '') continue;
    const inner = btf.skipQualifiers(member.type);
    if (inner.kind !== 'struct' && inner.kind !== 'union') continue;
    const found = findMember(btf, inner, name);
    if (found) return { ...found, bitOffset: member.bitOffset + found.bitOffset };
  }
  return undefined;
}

test('layouts match the running kernel BTF', async (t) => {
  if (!existsSync(VMLINUX_BTF)) {
    t.skip(`${VMLINUX_BTF} is missing (kernel built without CONFIG_DEBUG_INFO_BTF?)`);
    return;
  }
  const btf = new Btf(readFileSync(VMLINUX_BTF));
  await checkEveryLayout(t, btfMeasure(btf), (_, unknown) => assert.deepEqual(unknown, [], 'members missing from kernel BTF'));

  for (const struct of new Set(layouts.map(([, layout]) => layout.struct))) {
    const kernelSize = kernelComposite(btf, struct).size;
    const layoutSizes = new Set(layouts.filter(([, layout]) => layout.struct === struct).map(([, layout]) => layout.size));
    for (const size of layoutSizes) {
      if (size !== kernelSize) t.diagnostic(`${struct}: layouts pass ${size} bytes, kernel ${os.release()} has ${kernelSize} (the kernel uses the common prefix and requires any longer tail to be zero)`);
    }
  }
});

test('every layout holds its fields without overlap', () => {
  assert.ok(layouts.length > 0, 'no Layout exported from src/syscall/layout.ts');
  for (const [layoutName, layout] of layouts) {
    const spans = Object.entries(layout.fields)
      .map(([name, field]) => ({ name, start: field.offset, end: field.offset + expectedSize[field.kind] }))
      .sort((a, b) => a.start - b.start);
    spans.forEach((span, index) => {
      const next = spans[index + 1];
      if (next) assert.ok(span.end <= next.start, `${layoutName}: ${span.name} [${span.start}, ${span.end}) overlaps ${next.name} at ${next.start}`);
      assert.ok(span.end <= layout.size, `${layoutName}: ${span.name} ends at ${span.end}, past the layout size ${layout.size}`);
    });
  }
});

test('a number that does not fit its field is a TsbpfError naming the field, never written cut down', () => {
  const { Struct, mapElemAttr, testRunAttr } = layoutModule;
  const attr = new Struct(testRunAttr);
  for (const repeat of [-1, 2 ** 32 + 3, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 5n, '5']) {
    assert.throws(() => attr.set('repeat', repeat as number), (e: unknown) => e instanceof TsbpfError && /^union bpf_attr test\.repeat: expected an integer from 0 to 4294967295, got /.test(e.message), String(repeat));
  }
  assert.equal(attr.set('repeat', 2 ** 32 - 1).u32('repeat'), 2 ** 32 - 1);
  assert.equal(attr.set('repeat', 0).u32('repeat'), 0);

  const elem = new Struct(mapElemAttr);
  for (const flags of [-1, -1n, 2n ** 64n, 0.5, Number.NaN]) {
    assert.throws(() => elem.set('flags', flags), (e: unknown) => e instanceof TsbpfError && /^union bpf_attr flags: expected an integer from 0 to 18446744073709551615/.test(e.message), String(flags));
  }
  assert.equal(elem.set('flags', 2n ** 64n - 1n).u64('flags'), 2n ** 64n - 1n);
  assert.equal(elem.set('flags', 2 ** 53).u64('flags'), 2n ** 53n);
});

test('a pointer field takes only a Uint8Array: no other value becomes an address', () => {
  const { Struct, mapElemAttr } = layoutModule;
  const elem = new Struct(mapElemAttr);
  for (const key of [4096, 4096n, '4096', [4096], new Uint32Array(1), new DataView(new ArrayBuffer(4)), new ArrayBuffer(4), {}]) {
    assert.throws(() => elem.set('key', key as Uint8Array), (e: unknown) => e instanceof TsbpfError && /^union bpf_attr key: expected a Uint8Array \(a Buffer is one\), got /.test(e.message), String(key));
    assert.equal(elem.u64('key'), 0n, 'nothing written');
  }
  assert.notEqual(elem.set('key', Buffer.alloc(4)).u64('key'), 0n);
  assert.notEqual(elem.set('key', new Uint8Array(4)).u64('key'), 0n);
  assert.equal(elem.set('key', new Uint8Array(0)).u64('key'), 0n, 'no bytes: a null pointer');
  assert.equal(elem.set('key', null).u64('key'), 0n);
});
