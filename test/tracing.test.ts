// Attach kinds beyond tracepoints, on the real kernel: BTF tracepoints
// (tp_btf), kprobes/kretprobes and fentry/fexit. Programs typed by the
// kernel's BTF are loaded against it (attach_btf_id) as libbpf does. Where this
// kernel refuses a kind (no kprobe PMU; fentry/fexit refused with EPERM), the
// test says so and skips.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { attachKprobe } from '../src/attach/kprobe.ts';
import type { Link } from '../src/attach/link.ts';
import { attachUprobe, parseUprobeTarget } from '../src/attach/uprobe.ts';
import { ElfFile } from '../src/elf/elf.ts';
import { Btf } from '../src/btf/btf.ts';
import { ElfError, ObjectError, SyscallError, TsbpfError, UnsupportedError } from '../src/errors.ts';
import { BpfObject } from '../src/loader/object.ts';
import { attachBtfId, needsAttachBtfId } from '../src/object/attach-target.ts';
import { programKind } from '../src/object/sections.ts';
import { needsRoot, programPath } from './helpers.ts';

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

test('BTF-typed programs are loaded against the kernel type libbpf would pick', (t) => {
  if (!existsSync(KERNEL_BTF)) return t.skip(`this kernel exposes no BTF at ${KERNEL_BTF}`);
  const kernel = new Btf(readFileSync(KERNEL_BTF));
  const resolve = (section: string) => {
    const kind = programKind(section)!;
    assert.ok(needsAttachBtfId(kind), section);
    const id = attachBtfId(kernel, { name: 'prog', kind });
    const type = kernel.type(id);
    return `${type.kind} ${type.name}`;
  };
  assert.equal(resolve('fentry/do_sys_openat2'), 'func do_sys_openat2');
  assert.equal(resolve('fexit.s/do_sys_openat2'), 'func do_sys_openat2');
  assert.equal(resolve('fmod_ret/do_sys_openat2'), 'func do_sys_openat2');
  assert.equal(resolve('tp_btf/sched_process_exec'), 'typedef btf_trace_sched_process_exec');
  if (kernel.idsByName('bpf_lsm_file_open').length) assert.equal(resolve('lsm/file_open'), 'func bpf_lsm_file_open');
  assert.equal(needsAttachBtfId(programKind('tracepoint/syscalls/sys_enter_openat')!), false);
  assert.equal(needsAttachBtfId(programKind('kprobe/do_sys_openat2')!), false);
  assert.throws(() => attachBtfId(kernel, { name: 'prog', kind: programKind('fentry/no_such_function_here')! }),
    (e: unknown) => e instanceof ObjectError && /no func 'no_such_function_here'/.test(e.message));
  assert.throws(() => attachBtfId(kernel, { name: 'prog', kind: programKind('fentry')! }), /names no target/);
});

/** A shell that execs `true` when told to: a process whose tgid is known before its exec. */
async function execLater(): Promise<{ pid: number; exec: () => Promise<void> }> {
  const child = spawn('/bin/sh', ['-c', 'read line; exec /bin/true'], { stdio: ['pipe', 'ignore', 'inherit'] });
  await once(child, 'spawn');
  return {
    pid: child.pid!,
    exec: async () => {
      child.stdin!.end('go\n');
      await once(child, 'exit');
    },
  };
}

test('tp_btf: loaded against btf_trace_sched_process_exec, attached by a BPF link, counts one exec', async (t) => {
  if (!needsRoot(t)) return;
  const shell = await execLater();
  const object = BpfObject.open(programPath('tracing_test'), { constants: { target_tgid: shell.pid }, programs: ['count_exec'] });
  t.after(() => object.close());
  const program = object.program('count_exec');
  const kernel = new Btf(readFileSync(KERNEL_BTF));
  assert.equal(program.info().attachBtfId, kernel.idsByName('btf_trace_sched_process_exec', 'typedef')[0]);
  const link = program.attach();
  await shell.exec();
  assert.equal(object.readVariable('execs'), 1n);
  assert.ok((object.readVariable('all_execs') as bigint) >= 1n);
  link.close();
  const before = object.readVariable('all_execs');
  await (await execLater()).exec();
  assert.equal(object.readVariable('all_execs'), before, 'no exec is counted once the link is closed');
});

/** Opens /dev/null `count` times from this process. */
function openDevNull(count: number): void {
  for (let i = 0; i < count; i++) closeSync(openSync('/dev/null', 'r'));
}

test('kprobe and kretprobe on do_sys_openat2 count this process\'s opens (kprobe PMU)', (t) => {
  if (!needsRoot(t)) return;
  const object = BpfObject.open(programPath('tracing_test'), { constants: { target_tgid: process.pid }, programs: ['count_open', 'count_open_return'] });
  t.after(() => object.close());
  try {
    object.program('count_open').attach();
  } catch (error) {
    if (error instanceof UnsupportedError) return t.skip(`kprobes cannot be attached on this kernel: ${error.message}`);
    throw error;
  }
  object.program('count_open_return').attach();
  openDevNull(5);
  assert.ok((object.readVariable('opens') as bigint) >= 5n, `opens: ${object.readVariable('opens')}`);
  assert.ok((object.readVariable('open_returns') as bigint) >= 5n, `returns: ${object.readVariable('open_returns')}`);
});

test('a kprobe target that is not a function name is refused before any system call', () => {
  const noProgram = -1;
  assert.throws(() => attachKprobe(noProgram, 'not a function', false), /expected kprobe\/<function>\[\+<offset>\]/);
  assert.throws(() => attachKprobe(noProgram, undefined, false), /expected kprobe\/<function>/);
  assert.throws(() => attachKprobe(noProgram, 'do_sys_openat2+8', true), /a return probe takes no offset/);
});

/** The C library this process runs, as /proc/self/maps names it. */
function libcPath(): string | undefined {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').map((line) => line.split(/\s+/)[5]).find((file) => file && /\/libc\.so\.6$/.test(file));
}

test('uprobe and uretprobe on libc\'s open() count this process\'s opens, in this process only', (t) => {
  if (!needsRoot(t)) return;
  const libc = libcPath();
  if (!libc) return t.skip('this process maps no libc.so.6 (not glibc?)');
  const object = BpfObject.open(programPath('tracing_test'), { constants: { target_tgid: process.pid }, programs: ['count_call', 'count_return'] });
  t.after(() => object.close());
  let calls: Link;
  try {
    calls = object.program('count_call').attachUprobe({ binary: libc, function: 'open', pid: process.pid });
  } catch (error) {
    if (error instanceof UnsupportedError) return t.skip(`uprobes cannot be attached on this kernel: ${error.message}`);
    throw error;
  }
  object.program('count_return').attachUprobe({ binary: libc, function: 'open' });
  openDevNull(5);
  calls.close();
  const counted = object.readVariable('user_calls') as bigint;
  assert.ok(counted >= 5n, `calls: ${counted}`);
  assert.ok((object.readVariable('user_returns') as bigint) >= 5n, `returns: ${object.readVariable('user_returns')}`);
  openDevNull(3);
  assert.equal(object.readVariable('user_calls'), counted, 'nothing counted once the link is closed');
});

test('uprobe targets: libbpf\'s section form, file offsets from ELF symbols, and clear refusals', () => {
  assert.deepEqual(parseUprobeTarget('uprobe//usr/bin/bash:main+4', '/usr/bin/bash:main+4'), { binary: '/usr/bin/bash', function: 'main', offset: 4 });
  assert.deepEqual(parseUprobeTarget('uprobe//lib/libc.so.6:malloc', '/lib/libc.so.6:malloc'), { binary: '/lib/libc.so.6', function: 'malloc', offset: 0 });
  assert.throws(() => parseUprobeTarget('uprobe//bin/sh', '/bin/sh'), /expected <prefix>\/<binary>:<function>/);
  assert.throws(() => parseUprobeTarget('uprobe', undefined), /attachUprobe\(\)/);
  const libc = libcPath();
  if (!libc) return;
  // open's file offset, checked against what the dynamic linker mapped: the executable mapping's file offset range holds it.
  const elf = new ElfFile(readFileSync(libc));
  const offset = elf.functionFileOffset('open');
  const text = elf.sections.find((section) => section.name === '.text')!;
  assert.ok(offset >= text.offset && offset < text.offset + text.size, `open at file offset ${offset}`);
  assert.throws(() => elf.functionFileOffset('no_such_function_in_libc'), /no function 'no_such_function_in_libc'/);
  assert.throws(() => attachUprobe(-1, { binary: libc, function: 'open', offset: 4, retprobe: true }), /a return probe takes no offset/);
  assert.throws(() => attachUprobe(-1, { binary: '/no/such/binary', function: 'open' }), (e: unknown) => e instanceof TsbpfError && /cannot read \/no\/such\/binary \(ENOENT\)/.test(e.message));
  assert.throws(() => attachUprobe(-1, { binary: '/proc/self/status', function: 'open' }), (e: unknown) => e instanceof ElfError && /uprobe on \/proc\/self\/status: not an ELF file/.test(e.message));
  assert.throws(() => attachUprobe(-1, { binary: libc, function: 'no_such_function_in_libc' }), new RegExp(`uprobe on ${libc}: no function`));
  assert.throws(() => attachUprobe(-1, { binary: libc }), /give a function, an offset, or both/);
  for (const offset of [-5, 1.5, Number.NaN]) assert.throws(() => attachUprobe(-1, { binary: libc, function: 'open', offset }), /is not a non-negative integer/, String(offset));
  assert.throws(() => attachUprobe(-1, { binary: libc, function: '' }), /function "" is not a name/);
  for (const pid of [1.5, 0, -1, 2 ** 32 + 1]) assert.throws(() => attachUprobe(-1, { binary: libc, function: 'open', pid }), /is not a process id/, String(pid));
  assert.throws(() => attachUprobe(-1, { binary: `${libc}\0junk`, function: 'open' }), /is not a path/);
});

test('fentry and fexit on do_sys_openat2 count this process\'s opens', (t) => {
  if (!needsRoot(t)) return;
  let object: BpfObject;
  try {
    object = BpfObject.open(programPath('fentry_test'), { constants: { target_tgid: process.pid } });
  } catch (error) {
    if (error instanceof SyscallError && ['EPERM', 'ENOTSUPP', 'EOPNOTSUPP'].includes(error.code)) {
      return t.skip(`this kernel refuses to load fentry/fexit programs (${error.code} from BPF_PROG_LOAD, as root)`);
    }
    throw error;
  }
  t.after(() => object.close());
  object.attachAll();
  openDevNull(5);
  assert.ok((object.readVariable('entries') as bigint) >= 5n);
  assert.ok((object.readVariable('exits') as bigint) >= 5n);
});
