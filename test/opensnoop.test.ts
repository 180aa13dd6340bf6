// opensnoop end to end: uniquely named files are opened (openat from this
// process, openat2 from a tiny C program compiled here) and must be reported
// with the caller's identity, flags and path; the filters run in the kernel.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, closeSync, constants, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ObjectSpec } from '../src/object/spec.ts';
import {
  decodeOpenEvent,
  formatOpenEvent,
  octalFlags,
  OPEN_EVENT_SIZE,
  openFlagNames,
  OPENSNOOP_HEADER,
  runOpensnoop,
  type OpenEvent,
} from '../src/tools/opensnoop.ts';
import { needsRoot, programBytes } from './helpers.ts';

const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | O_CLOEXEC;
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** A fresh directory and a name nobody else opens, short enough to be a comm. */
function scratch(t: TestContext): { dir: string; unique: (prefix: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-open-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const unique = (prefix: string) => `${prefix}${process.pid.toString(36)}${(n++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 15);
  return { dir, unique };
}

/** A copy of /bin/cat under a unique name: its comm, and it opens the files it is given. */
function uniqueCat(dir: string, name: string): string {
  const path = join(dir, name);
  copyFileSync('/bin/cat', path);
  chmodSync(path, 0o755);
  return path;
}

interface Trace {
  /** The events `keep` accepted, in ring order. */
  kept: OpenEvent[];
  /** The first kept event `until` accepted. */
  found: OpenEvent | undefined;
}

/**
 * Runs opensnoop with `filter`, calls `trigger` at once and then every 200 ms
 * until an event satisfies `until` or `deadlineMs` passes.
 */
async function trace(
  filter: { pid?: number; comm?: string },
  trigger: () => void,
  keep: (event: OpenEvent) => boolean,
  until: (event: OpenEvent) => boolean,
  deadlineMs = 10_000,
): Promise<Trace> {
  const stop = new AbortController();
  const result: Trace = { kept: [], found: undefined };
  const done = runOpensnoop({
    ...filter,
    signal: stop.signal,
    onEvent: (event) => {
      if (!keep(event)) return;
      result.kept.push(event);
      if (result.found === undefined && until(event)) {
        result.found = event;
        stop.abort();
      }
    },
  });
  const timer = setInterval(trigger, 200);
  const guard = setTimeout(() => stop.abort(), deadlineMs);
  try {
    trigger();
    await done;
  } finally {
    clearInterval(timer);
    clearTimeout(guard);
  }
  return result;
}

test('the record layout of the decoder is struct event of opensnoop.bpf.o', () => {
  const spec = ObjectSpec.parse(programBytes('opensnoop'));
  const struct = spec.btf!.typeByName('event', 'struct')!;
  assert.equal(struct.size, OPEN_EVENT_SIZE);
  const at = Object.fromEntries(struct.members.map((m) => [m.name, m.bitOffset / 8]));
  const view = new DataView(new ArrayBuffer(OPEN_EVENT_SIZE));
  view.setUint32(at.pid!, 11, true);
  view.setUint32(at.ppid!, 22, true);
  view.setUint32(at.uid!, 33, true);
  view.setInt32(at.dirfd!, -100, true);
  view.setBigUint64(at.flags!, 0o2000101n, true);
  view.setUint32(at.syscall!, 1, true);
  view.setUint32(at.mode!, 0o640, true);
  new TextEncoder().encodeInto('cat', new Uint8Array(view.buffer, at.comm!, 16));
  new TextEncoder().encodeInto('/etc/passwd', new Uint8Array(view.buffer, at.filename!, 256));
  assert.deepEqual(decodeOpenEvent(view, 0), {
    pid: 11, ppid: 22, uid: 33, comm: 'cat', syscall: 'openat2', dirfd: -100, flags: 0o2000101, mode: 0o640, filename: '/etc/passwd',
  });
  const syscalls = spec.btf!.typeByName('open_syscall', 'enum')!;
  assert.deepEqual(syscalls.values.map((v) => [v.name, v.value]), [['OPEN_SYSCALL_OPENAT', 0n], ['OPEN_SYSCALL_OPENAT2', 1n]]);
  assert.deepEqual([...spec.programs.keys()].sort(), ['opensnoop_openat', 'opensnoop_openat2']);
});

test('flags are printed in octal (table) and as O_* names (--json)', () => {
  assert.equal(octalFlags(0), '00000000');
  assert.equal(octalFlags(O_CLOEXEC), '02000000');
  assert.equal(octalFlags(O_PATH | O_CLOEXEC), '012000000');
  assert.equal(openFlagNames(0), 'O_RDONLY');
  assert.equal(openFlagNames(CREATE_FLAGS), 'O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC');
  assert.equal(openFlagNames(constants.O_RDWR | constants.O_SYNC), 'O_RDWR|O_SYNC');
  assert.equal(openFlagNames(constants.O_DSYNC), 'O_RDONLY|O_DSYNC');
  assert.equal(openFlagNames(O_PATH | constants.O_DIRECTORY | O_CLOEXEC), 'O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_PATH');
  assert.equal(openFlagNames(0o20000000 | constants.O_DIRECTORY | constants.O_RDWR), 'O_RDWR|O_TMPFILE');
  assert.equal(openFlagNames(3), 'O_ACCMODE');
  assert.equal(openFlagNames(2 ** 40 + 1), 'O_WRONLY|020000000000000');
  const event: OpenEvent = { pid: 1, ppid: 0, uid: 0, comm: 'init', syscall: 'openat', dirfd: -100, flags: O_CLOEXEC, mode: 0, filename: '/x' };
  assert.equal(formatOpenEvent(event).indexOf('/x'), OPENSNOOP_HEADER.indexOf('FILENAME'));
  assert.equal(formatOpenEvent({ ...event, dirfd: 7, flags: O_PATH | O_CLOEXEC }).indexOf('/x'), OPENSNOOP_HEADER.indexOf('FILENAME'));
  assert.match(formatOpenEvent(event), /^1 +0 +0 +init +openat +CWD +02000000 +\/x$/);
});

test('an openat from this process is reported with its pid, ppid, uid, comm, flags, mode and path', async (t) => {
  if (!needsRoot(t)) return;
  const { dir, unique } = scratch(t);
  const file = join(dir, unique('f'));
  const result = await trace(
    {},
    () => closeSync(openSync(file, 'w', 0o640)),
    (e) => e.filename === file,
    () => true,
  );
  const event = result.found;
  assert.ok(event, 'the open was reported');
  assert.deepEqual(event, {
    pid: process.pid,
    ppid: process.ppid,
    uid: process.getuid!(),
    // fs.openSync runs on the main thread, whose name /proc/self/comm shows.
    comm: readFileSync('/proc/self/comm', 'utf8').trim(),
    syscall: 'openat',
    dirfd: -100,
    flags: CREATE_FLAGS, // libuv adds O_CLOEXEC
    mode: 0o640,
    filename: file,
  });
});

const OPENAT2_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
/* openat2 DIR NAME: creates DIR/NAME with openat2(2) relative to a directory
 * fd, prints that fd. Exit 3: the kernel has no openat2. */
int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int dirfd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		perror(argv[1]);
		return 2;
	}
	struct open_how how = { .flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, .mode = 0640 };
	long fd = syscall(SYS_openat2, dirfd, argv[2], &how, sizeof(how));
	if (fd < 0) {
		fprintf(stderr, "openat2: %s\n", strerror(errno));
		return errno == ENOSYS ? 3 : 1;
	}
	printf("%d\n", dirfd);
	return 0;
}
`;

test('an openat2 (flags from struct open_how in user memory) is reported, with its directory fd', async (t) => {
  if (!needsRoot(t)) return;
  if (spawnSync('cc', ['--version']).error) return t.skip('no C compiler (cc) to build the openat2 caller');
  const { dir, unique } = scratch(t);
  const comm = unique('o2');
  const binary = join(dir, comm);
  writeFileSync(join(dir, 'openat2.c'), OPENAT2_C);
  const build = spawnSync('cc', ['-O2', '-o', binary, join(dir, 'openat2.c')], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const name = 'created-by-openat2';

  const runs: SpawnSyncReturns<string>[] = [];
  const result = await trace(
    {},
    () => void runs.push(spawnSync(binary, [dir, name], { encoding: 'utf8' })),
    (e) => e.comm === comm,
    (e) => e.syscall === 'openat2',
  );
  if (runs[0]?.status === 3) return t.skip(`this kernel has no openat2: ${runs[0].stderr.trim()}`);
  assert.equal(runs[0]?.status, 0, runs[0]?.stderr);
  const event = result.found;
  assert.ok(event, 'the openat2 was reported');
  const run = runs.find((r) => r.pid === event.pid);
  assert.ok(run, 'the pid is one of the runs');
  assert.deepEqual(event, {
    pid: run.pid,
    ppid: process.pid,
    uid: process.getuid!(),
    comm,
    syscall: 'openat2',
    dirfd: Number(run.stdout),
    flags: CREATE_FLAGS,
    mode: 0o640,
    filename: name,
  });
  // Its open of the directory, just before, went through openat.
  const dirOpen = result.kept.find((e) => e.pid === run.pid && e.filename === dir);
  assert.ok(dirOpen, 'the directory open was reported');
  assert.equal(dirOpen.syscall, 'openat');
  assert.equal(openFlagNames(dirOpen.flags), 'O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_PATH');
});

test('--comm keeps only the opens of threads with that name, in the kernel', async (t) => {
  if (!needsRoot(t)) return;
  const { dir, unique } = scratch(t);
  const comm = unique('c');
  const cat = uniqueCat(dir, comm);
  const mine = join(dir, unique('mine'));
  const theirs = join(dir, unique('theirs'));
  writeFileSync(theirs, '');
  // This process opens `mine` first (dropped), then the cat copy opens `theirs` (kept).
  const result = await trace(
    { comm },
    () => {
      closeSync(openSync(mine, 'w'));
      spawnSync(cat, [theirs], { stdio: 'ignore' });
    },
    () => true,
    (e) => e.filename === theirs,
  );
  assert.ok(result.found, 'the cat copy opening the file was reported');
  assert.ok(result.kept.every((e) => e.comm === comm), `only ${comm}: ${JSON.stringify(result.kept.slice(0, 3))}`);
  assert.ok(!result.kept.some((e) => e.filename === mine));
});

test('--pid keeps only the opens of that process, in the kernel', async (t) => {
  if (!needsRoot(t)) return;
  const { dir, unique } = scratch(t);
  const child = join(dir, unique('child'));
  const own = join(dir, unique('own'));
  const mine = join(dir, unique('mine'));
  for (const file of [child, own]) writeFileSync(file, '');
  // For each line read, the shell opens `child` in a forked subshell (another
  // pid: dropped), then `own` itself (its pid: kept).
  const shell = spawn('/bin/sh', ['-c', 'while read line; do (: < "$1"); : < "$2"; done', 'sh', child, own], { stdio: ['pipe', 'ignore', 'ignore'] });
  shell.stdin.on('error', () => {}); // it may die early; the assertions say so
  t.after(() => shell.kill());
  const result = await trace(
    { pid: shell.pid },
    () => {
      closeSync(openSync(mine, 'w'));
      shell.stdin.write('\n');
    },
    () => true,
    (e) => e.filename === own,
  );
  shell.stdin.end();
  assert.ok(result.found, 'the shell opening the file was reported');
  assert.ok(result.kept.every((e) => e.pid === shell.pid), `only pid ${shell.pid}: ${JSON.stringify(result.kept.slice(0, 3))}`);
  assert.ok(!result.kept.some((e) => e.filename === child || e.filename === mine));
});

test('the CLI prints a header and aligned lines, and --json objects with flag names', async (t) => {
  if (!needsRoot(t)) return;
  const { dir, unique } = scratch(t);
  const comm = unique('c');
  const cat = uniqueCat(dir, comm);
  const file = join(dir, unique('f'));
  writeFileSync(file, '');
  // Runs the CLI until a line about `file` came (then Ctrl-C), or 10 s passed.
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', cli, 'opensnoop', '--duration', '10', '--comm', comm, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      let timer: NodeJS.Timeout | undefined;
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // The header (or, with --json, nothing) comes first; the program is attached right after.
        timer ??= setInterval(() => spawnSync(cat, [file], { stdio: 'ignore' }), 250);
        if (stdout.includes(file)) child.kill('SIGINT');
      });
      if (args.includes('--json')) timer = setInterval(() => spawnSync(cat, [file], { stdio: 'ignore' }), 250);
      child.on('exit', (code) => {
        clearInterval(timer);
        resolve({ code, stdout });
      });
    });

  const text = await run([]);
  assert.equal(text.code, 0);
  const lines = text.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^PID\s+PPID\s+UID\s+COMM\s+SYSCALL\s+DIRFD\s+FLAGS\s+FILENAME$/);
  const line = lines.find((l) => l.endsWith(file));
  assert.ok(line, text.stdout);
  assert.equal(line.indexOf(file), lines[0]!.indexOf('FILENAME'));
  const [, ppid, uid, name, syscall, dirfd, flags] = line.split(/\s+/);
  assert.deepEqual([ppid, uid, name, syscall, dirfd], [String(process.pid), String(process.getuid!()), comm, 'openat', 'CWD']);
  assert.match(flags!, /^0[0-7]{7}$/);
  assert.ok(lines.slice(1).every((l) => l.split(/\s+/)[3] === comm), 'only the --comm lines');

  const json = await run(['--json']);
  assert.equal(json.code, 0);
  const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as OpenEvent & { flagNames: string });
  const event = events.find((e) => e.filename === file);
  assert.ok(event, json.stdout);
  assert.equal(event.comm, comm);
  assert.equal(event.ppid, process.pid);
  assert.equal(event.flagNames, openFlagNames(event.flags));
  assert.match(event.flagNames, /^O_RDONLY/);
});
