// Loading committed objects into the running kernel, and the typed errors of
// everything that can go wrong on the way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClosedError, ElfError, NotFoundError, SyscallError, TsbpfError, VerifierError } from '../src/errors.ts';
import { attachRawTracepoint } from '../src/attach/raw-tracepoint.ts';
import { BpfObject } from '../src/loader/object.ts';
import { MapType } from '../src/object/maps.ts';
import { ObjectSpec } from '../src/object/spec.ts';
import { isRoot, needsRoot, programBytes, programPath } from './helpers.ts';

test('execsnoop loads: maps created, .rodata frozen with the constants, .bss readable', (t) => {
  if (!needsRoot(t)) return;
  using object = BpfObject.open(programPath('execsnoop'), { constants: { target_pid: 1234, target_comm: 'sshd' } });
  assert.deepEqual([...object.maps.keys()].sort(), ['.bss', '.rodata', 'events']);
  assert.ok(object.program('execsnoop').fd > 0);
  assert.equal(object.readVariable('target_pid'), 1234);
  assert.equal(object.readVariable('target_comm'), 'sshd');
  assert.equal(object.readVariable('events__tsbpf_dropped'), 0n);
  // Frozen: user space can no longer change .rodata.
  assert.throws(() => object.map('.rodata').update(new Uint8Array(4), new Uint8Array(20)), (e: unknown) => e instanceof SyscallError && e.code === 'EPERM');
  assert.throws(() => object.writeVariable('target_pid', 1), /read-only/);
  object.writeVariable('events__tsbpf_dropped', 41n);
  assert.equal(object.readVariable('events__tsbpf_dropped'), 41n);
});

test('the seed article program loads with its legacy maps section', (t) => {
  if (!needsRoot(t)) return;
  using object = BpfObject.open(programPath('seed_execve_legacy'));
  assert.equal(object.map('buffer').spec.type, MapType.RINGBUF);
  assert.ok(object.program('sys_enter_execve').fd > 0);
});

test('a program the verifier rejects gives a VerifierError with the log and the source line', (t) => {
  if (!needsRoot(t)) return;
  assert.throws(() => BpfObject.open(programPath('verifier_reject')), (error: unknown) => {
    assert.ok(error instanceof VerifierError, String(error));
    assert.equal(error.program, 'missing_null_check');
    assert.equal(error.code, 'EACCES');
    assert.match(error.log, /invalid mem access 'map_value_or_null'/);
    assert.match(error.log, /\*value \+= 1;/, 'line info puts the C source line in the log');
    assert.match(error.message, /rejected by the verifier/);
    return true;
  });
});

test('unknown map and program names are NotFoundErrors; closed objects refuse use', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('execsnoop'));
  assert.throws(() => object.map('nope'), NotFoundError);
  assert.throws(() => object.program('nope'), NotFoundError);
  assert.throws(() => object.ringBuffer('.bss'), /not a ring buffer/);
  object.close();
  object.close(); // idempotent
  assert.throws(() => object.map('events').fd, ClosedError);
  assert.throws(() => object.program('execsnoop').testRun(), ClosedError);
});

test('a ring buffer size that is not a power of two is refused before the kernel sees it', (t) => {
  if (!needsRoot(t)) return;
  const spec = ObjectSpec.parse(programBytes('execsnoop'));
  spec.map('events').maxEntries = 3 * 4096;
  assert.throws(() => BpfObject.load(spec), /max_entries 12288 is not a power of two of at least one page/);
});

test('map sizes that do not fit the kernel\'s u32 fields are refused, never cut down (2^32 + 16 entries are not 16)', (t) => {
  if (!needsRoot(t)) return;
  for (const [field, value] of [['maxEntries', 2 ** 32 + 16], ['maxEntries', -1], ['keySize', 4.5], ['valueSize', Number.NaN], ['flags', 2 ** 32]] as const) {
    const spec = ObjectSpec.parse(programBytes('map_values'));
    spec.map('visits')[field] = value;
    assert.throws(() => BpfObject.load(spec, { programs: [] }),
      (e: unknown) => e instanceof TsbpfError && !(e instanceof SyscallError) && e.message === `map 'visits' ${field}: expected an integer from 0 to 4294967295, got ${value}`);
  }
  const ring = ObjectSpec.parse(programBytes('ringbuf_test'));
  ring.map('ring').maxEntries = 2 ** 32 + 4096;
  assert.throws(() => BpfObject.load(ring, { programs: [] }), /map 'ring' maxEntries: expected an integer/, 'not a 4 KiB ring');
});

test('testRun() options that do not fit a u32 are refused before the kernel runs anything', (t) => {
  if (!needsRoot(t)) return;
  using object = BpfObject.open(programPath('test_subprogs'), { programs: ['subprogs_socket_2'] });
  const program = object.program('subprogs_socket_2');
  const data = new Uint8Array(64);
  // 2^32 + 3 would run 3 times; -1, 4294967295 times inside one system call.
  for (const [option, value] of [['repeat', 2 ** 32 + 3], ['repeat', -1], ['repeat', 1.5], ['cpu', 2 ** 32], ['flags', -1]] as const) {
    assert.throws(() => program.testRun({ data, [option]: value }),
      (e: unknown) => e instanceof TsbpfError && e.message === `testRun() ${option}: expected an integer from 0 to 4294967295, got ${value}`);
  }
  assert.equal(program.testRun({ data, repeat: 3 }).retval, program.testRun({ data }).retval);
});

test('testRun() buffers that are not Uint8Arrays are refused, not taken for addresses', (t) => {
  if (!needsRoot(t)) return;
  using object = BpfObject.open(programPath('test_subprogs'), { programs: ['subprogs_socket_2'] });
  const program = object.program('subprogs_socket_2');
  const data = new Uint8Array(64);
  for (const [option, value, kind] of [['dataOut', [4096], 'Array'], ['data', new DataView(new ArrayBuffer(64)), 'DataView'], ['context', new Uint32Array(4), 'Uint32Array'], ['contextOut', new ArrayBuffer(16), 'ArrayBuffer'], ['dataOut', '4096', '"4096"']] as const) {
    assert.throws(() => program.testRun({ data, [option]: value }),
      (e: unknown) => e instanceof TsbpfError && e.message === `testRun() ${option}: expected a Uint8Array (a Buffer is one), got ${kind}`);
  }
  const dataOut = Buffer.alloc(64);
  assert.equal(program.testRun({ data, dataOut }).dataSizeOut, 64, 'a Buffer is a Uint8Array');
});

test('without privileges, loading fails with EPERM and says what is needed', (t) => {
  const script = fileURLToPath(new URL('./fixtures/load-execsnoop.ts', import.meta.url));
  // As root, drop to nobody for the child; otherwise we already are unprivileged.
  const asNobody = isRoot ? { uid: 65534, gid: 65534 } : {};
  if (isRoot) {
    // A checkout under a private directory (mktemp -d is 0700) is out of nobody's reach.
    const reach = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(script)})`], { encoding: 'utf8', ...asNobody });
    if (reach.error) return t.skip(`cannot drop privileges here: ${reach.error.message}`);
    if (reach.status !== 0) return t.skip(`nobody (uid 65534) cannot read this checkout (${script}): clone it where others can read`);
  }
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', ...asNobody });
  assert.equal(result.status, 3, result.stderr);
  assert.match(result.stdout, /SyscallError bpf\(BPF_\w+\) failed: EPERM .*needs root, or CAP_BPF and CAP_PERFMON/);
});

test('a path to a device, a FIFO or a directory is a TsbpfError at once for every reader of a caller\'s file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-files-'));
  try {
    const fifo = join(dir, 'fifo');
    const made = spawnSync('mkfifo', [fifo], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const script = fileURLToPath(new URL('./fixtures/read-non-files.ts', import.meta.url));
    // Unfixed, the readers block on the FIFO's open and fill memory from /dev/zero: the timeout ends that.
    const result = spawnSync(process.execPath, ['--import', 'tsx', script, '/dev/zero', fifo, dir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.signal, null, `the readers did not finish: ${result.error}`);
    assert.equal(result.status, 0, result.stderr);
    const kinds: Record<string, string> = { '/dev/zero': 'a character device', [fifo]: 'a FIFO', [dir]: 'a directory' };
    const outcomes: { reader: string; path: string; typed: boolean; error: string }[] = JSON.parse(result.stdout);
    assert.equal(outcomes.length, 4 * 3);
    for (const { reader, path, typed, error } of outcomes) {
      assert.ok(typed, `${reader} on ${path}: ${error}`);
      assert.ok(error.includes(`: ${path} is ${kinds[path]}, not a file`), `${reader} on ${path}: ${error}`);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('object files are read as long as fstat says, no further: missing, too big, shorter than said, or sized 0', () => {
  assert.throws(() => BpfObject.open('/no/such/object.o'), (e: unknown) => e instanceof TsbpfError && e.message === 'BPF object: cannot read /no/such/object.o (ENOENT)');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-files-'));
  try {
    // Sparse: 3 GiB by its size, no blocks on disk.
    const huge = join(dir, 'huge.o');
    closeSync(openSync(huge, 'w'));
    truncateSync(huge, 3 * 2 ** 30);
    assert.throws(() => BpfObject.open(huge), (e: unknown) => e instanceof TsbpfError && /huge\.o has 3221225472 bytes, more than tsbpf reads/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true });
  }
  // A sysfs attribute reports a page and ends sooner, as a file cut short while being read does.
  assert.throws(() => BpfObject.open('/sys/devices/system/cpu/online'), (e: unknown) => e instanceof TsbpfError && /online ended after \d+ of the \d+ bytes fstat reported/.test(e.message));
  // procfs reports 0 bytes and has more: read as empty, not followed for as long as it goes on.
  assert.throws(() => BpfObject.open('/proc/self/status'), ElfError);
});

test('strings with a NUL byte are refused before the kernel reads them cut short: a license, a raw tracepoint name', (t) => {
  if (!needsRoot(t)) return;
  const spec = ObjectSpec.parse(programBytes('map_values'));
  (spec as { license: string }).license = 'GPL\0 but not really'; // a spec edited in code
  assert.throws(() => BpfObject.load(spec), (error: Error) => error instanceof TsbpfError && /license "GPL\\u0000 but not really" holds a NUL byte/.test(error.message));
  const object = BpfObject.open(programPath('map_values'));
  t.after(() => object.close());
  assert.throws(() => attachRawTracepoint(object.program('visit').fd, 'sys_enter\0sys_exit'), /raw tracepoint "sys_enter\\u0000sys_exit" holds a NUL byte/);
});

test('close() lets go of every part even when one fails to close (an fd closed behind tsbpf\'s back)', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('ringbuf_multi'));
  const [victim, ...others] = object.maps.values();
  const fds = [...others, ...object.programs.values()].map((part) => part.fd);
  closeSync(victim!.fd);
  assert.throws(() => object.close(), (error: Error) => error instanceof SyscallError && error.code === 'EBADF');
  for (const fd of fds) assert.throws(() => fstatSync(fd), /EBADF/, `fd ${fd} closed too`);
});
