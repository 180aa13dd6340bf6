// `tsbpf inspect` and `tsbpf load --pin`, as other tools and people call them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeFd, objGet } from '../src/syscall/index.ts';
import { needsRoot, programPath } from './helpers.ts';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsbpf = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' });

test('inspect --json describes programs, maps, global data and CO-RE relocations without a kernel', () => {
  const result = tsbpf('inspect', programPath('execsnoop'), '--json');
  assert.equal(result.status, 0, result.stderr);
  const description = JSON.parse(result.stdout);
  assert.deepEqual(description.programs, [{
    name: 'execsnoop', section: 'tracepoint/syscalls/sys_enter_execve', type: 'TRACEPOINT', attachType: null,
    attachTo: 'syscalls/sys_enter_execve', instructions: description.programs[0].instructions, coreRelocations: { FIELD_BYTE_OFFSET: 2 },
  }]);
  assert.ok(description.programs[0].instructions > 100);
  const events = description.maps.find((m: { name: string }) => m.name === 'events');
  assert.deepEqual(events, { name: 'events', type: 'RINGBUF', keySize: 0, valueSize: 0, maxEntries: 262144, flags: 0, keyType: null, valueType: null });
  const rodata = description.dataSections.find((s: { name: string }) => s.name === '.rodata');
  assert.deepEqual(rodata.variables, [
    { name: 'target_pid', offset: 0, size: 4, type: 'const volatile __u32' },
    { name: 'target_comm', offset: 4, size: 16, type: 'const volatile char[16]' },
  ]);
});

test('inspect prints text, and refuses what is not an object', () => {
  const text = tsbpf('inspect', programPath('test_externs'));
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /read_externs {2}section syscall {2}type SYSCALL/);
  assert.match(text.stdout, /bpf_task_from_pid {2}kfunc {2}struct task_struct \* \(int\)/);
  const bad = tsbpf('inspect', cli);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not an ELF file/);
  const device = tsbpf('inspect', '/dev/zero');
  assert.equal(device.status, 1);
  assert.match(device.stderr, /inspect: \/dev\/zero is a character device, not a file/);
});

test('load --pin pins every program and map in bpffs, like bpftool prog loadall', (t) => {
  if (!needsRoot(t)) return;
  const dir = `/sys/fs/bpf/tsbpf-test-${process.pid}`;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = tsbpf('load', programPath('execsnoop'), '--pin', dir);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['execsnoop', 'maps']);
  assert.deepEqual(readdirSync(`${dir}/maps`).sort(), ['_bss', '_rodata', 'events']);
  // The pins outlive the process that made them.
  const fd = objGet(`${dir}/execsnoop`);
  assert.ok(fd > 0);
  closeFd(fd);
});

test('load exits non-zero with the verifier\'s whole explanation, and pins nothing', (t) => {
  if (!needsRoot(t)) return;
  const dir = `/sys/fs/bpf/tsbpf-test-${process.pid}-bad`;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = tsbpf('load', programPath('verifier_reject'), '--pin', dir);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /R0 invalid mem access 'map_value_or_null'/);
  assert.match(result.stderr, /\*value \+= 1;.*@ verifier_reject\.bpf\.c:\d+/);
  assert.match(result.stderr, /program 'missing_null_check' rejected by the verifier/);
  assert.ok(!existsSync(dir), 'the directories made for it are gone too');
});

test('load --pin refuses a path that is not a directory with a message, and pins nothing there', (t) => {
  if (!needsRoot(t)) return;
  const dir = `/sys/fs/bpf/tsbpf-test-${process.pid}-file`;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(tsbpf('load', programPath('execsnoop'), '--pin', dir).status, 0);
  // A pinned program is a file in bpffs.
  const result = tsbpf('load', programPath('execsnoop'), '--pin', `${dir}/execsnoop`);
  assert.equal(result.status, 1);
  assert.equal(result.stderr, `tsbpf: load: cannot make directory ${dir}/execsnoop/maps: part of that path exists and is not a directory\n`);
  assert.deepEqual(readdirSync(`${dir}/maps`).sort(), ['_bss', '_rodata', 'events']);
});

test('snoop --pid takes a decimal process id below pid_max, refused before anything is printed', () => {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (const pid of ['0x10', '99999999999', String(pidMax), '0']) {
    const result = tsbpf('execsnoop', '--pid', pid, '--duration', '0.01');
    assert.equal(result.status, 1, pid);
    assert.equal(result.stdout, '', pid);
    assert.equal(result.stderr, `tsbpf: --pid: expected a process id (a decimal number from 1 to ${pidMax - 1}), got '${pid}'\n`);
  }
});
