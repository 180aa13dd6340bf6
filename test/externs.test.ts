// __kconfig and __ksym externs (programs/test_externs.bpf.c), resolved against the running kernel.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TsbpfError, VerifierError } from '../src/errors.ts';
import { kernelVersionCode, parseKernelConfig } from '../src/loader/externs.ts';
import { BpfObject, type LoadOptions } from '../src/loader/object.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { needsRoot, programBytes, programPath } from './helpers.ts';

test('externs are classified, and __kconfig values get a deterministic layout', () => {
  const spec = ObjectSpec.parse(programBytes('test_externs'));
  const kinds = Object.fromEntries([...spec.externs.values()].map((e) => [e.name, e.kind]));
  assert.deepEqual(kinds, {
    LINUX_KERNEL_VERSION: 'kconfig', CONFIG_HZ: 'kconfig', CONFIG_BPF_SYSCALL: 'kconfig', CONFIG_TSBPF_DOES_NOT_EXIST: 'kconfig',
    schedule: 'untyped-ksym', bpf_prog_active: 'typed-ksym', bpf_task_from_pid: 'kfunc', bpf_task_release: 'kfunc',
  });
  // 4-byte values first (by name), then the 1-byte bools (by name).
  const layout = [...spec.externs.values()].filter((e) => e.kind === 'kconfig').map((e) => [e.name, e.offset]);
  assert.deepEqual(layout.sort((a, b) => Number(a[1]) - Number(b[1])), [['CONFIG_HZ', 0], ['LINUX_KERNEL_VERSION', 4], ['CONFIG_BPF_SYSCALL', 8], ['CONFIG_TSBPF_DOES_NOT_EXIST', 9]]);
  assert.equal(spec.map('.kconfig').valueSize, 16);
  assert.equal(spec.externs.get('CONFIG_TSBPF_DOES_NOT_EXIST')?.weak, true);
});

test('kernel configs and versions are parsed like the kernel writes them', () => {
  const config = parseKernelConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=0x10\nCONFIG_D="text"\n');
  assert.deepEqual([...config], [['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_C', '0x10'], ['CONFIG_D', '"text"']]);
  assert.equal(kernelVersionCode('6.18.44-fc-v669'), (6 << 16) + (18 << 8) + 44);
  assert.equal(kernelVersionCode('5.4.300'), (5 << 16) + (4 << 8) + 255);
});

function runExterns(options: LoadOptions = {}) {
  using object = BpfObject.open(programPath('test_externs'), options);
  const context = Buffer.alloc(4);
  context.writeInt32LE(process.pid);
  object.program('read_externs').testRun({ context });
  const read = (name: string) => object.readVariable(name);
  return { kernelVersion: read('kernel_version'), hz: read('hz'), hasBpfSyscall: read('has_bpf_syscall'), missing: read('has_missing_option'), schedule: read('schedule_address'), foundTask: read('found_task') };
}

test('the program sees the kernel version, CONFIG_* values, kallsyms addresses, and calls kfuncs', (t) => {
  if (!needsRoot(t)) return;
  const config = parseKernelConfig(gunzipSync(readFileSync('/proc/config.gz')).toString());
  const scheduleLine = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((line) => / [tT] schedule$/.test(line))!;
  assert.deepEqual(runExterns(), {
    kernelVersion: kernelVersionCode(release()),
    hz: Number(config.get('CONFIG_HZ')),
    hasBpfSyscall: 1,
    missing: 0,
    schedule: BigInt(`0x${scheduleLine.split(' ')[0]}`),
    foundTask: 1,
  });
});

test('a configuration given by the caller replaces the kernel\'s; a missing strong value is an error', (t) => {
  if (!needsRoot(t)) return;
  const values = runExterns({ kernelConfig: { CONFIG_HZ: '1000', CONFIG_BPF_SYSCALL: 'n', CONFIG_TSBPF_DOES_NOT_EXIST: 'y' } });
  assert.equal(values.hz, 1000);
  assert.equal(values.hasBpfSyscall, 0);
  assert.equal(values.missing, 1);
  assert.throws(() => runExterns({ kernelConfig: { CONFIG_BPF_SYSCALL: 'y' } }), (e: unknown) => e instanceof TsbpfError && /CONFIG_HZ is not in the given configuration/.test(e.message));
  assert.throws(() => runExterns({ kernelConfig: { CONFIG_HZ: 'fast', CONFIG_BPF_SYSCALL: 'y' } }), /CONFIG_HZ=fast: not a number/);
});

test('a kernel config path that is missing, not gzip, or a gzip bomb is a TsbpfError', (t) => {
  if (!needsRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-kconfig-'));
  t.after(() => rmSync(dir, { recursive: true }));
  assert.throws(() => runExterns({ kernelConfig: join(dir, 'missing') }), /kernel config: cannot read .*missing \(ENOENT\)/);
  writeFileSync(join(dir, 'plain.gz'), 'CONFIG_HZ=1000\n');
  assert.throws(() => runExterns({ kernelConfig: join(dir, 'plain.gz') }), (e: unknown) => e instanceof TsbpfError && /plain\.gz is not a gzip file/.test(e.message));
  writeFileSync(join(dir, 'bomb.gz'), gzipSync(Buffer.alloc(65 << 20)));
  assert.throws(() => runExterns({ kernelConfig: join(dir, 'bomb.gz') }), (e: unknown) => e instanceof TsbpfError && /bomb\.gz is not a gzip file of at most 67108864 bytes/.test(e.message));
  writeFileSync(join(dir, 'config.gz'), gzipSync('CONFIG_HZ=300\nCONFIG_BPF_SYSCALL=y\n'));
  assert.equal(runExterns({ kernelConfig: join(dir, 'config.gz') }).hz, 300);
});

test('typed __ksym variables resolve to kernel BTF ids', (t) => {
  if (!needsRoot(t)) return;
  let object: BpfObject;
  try {
    object = BpfObject.open(programPath('test_externs'), { programs: ['read_typed_ksym'] });
  } catch (error) {
    // The kernel finds the variable's address through kallsyms, which lists data only with CONFIG_KALLSYMS_ALL.
    if (error instanceof VerifierError && /failed to find the address for kernel symbol 'bpf_prog_active'/.test(error.log)) {
      return t.skip('this kernel is built without CONFIG_KALLSYMS_ALL: it cannot resolve typed __ksym variables');
    }
    throw error;
  }
  using loaded = object;
  loaded.program('read_typed_ksym').testRun({ context: Buffer.alloc(4) });
  assert.equal(loaded.readVariable('prog_active_seen'), 1);
});
