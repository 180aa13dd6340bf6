// execsnoop end to end: a uniquely named program is started and must be reported.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExecsnoop, type ExecEvent } from '../src/tools/execsnoop.ts';
import { needsRoot } from './helpers.ts';

function uniqueTrue(): { path: string; comm: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-'));
  const comm = `tt${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 15);
  const path = join(dir, comm);
  copyFileSync('/bin/true', path);
  spawnSync('chmod', ['755', path]);
  return { path, comm, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('execsnoop reports a program started meanwhile, with its pid, ppid, uid and path', async (t) => {
  if (!needsRoot(t)) return;
  const binary = uniqueTrue();
  t.after(binary.cleanup);
  const stop = new AbortController();
  const seen: ExecEvent[] = [];
  let child: { pid: number | undefined } | undefined;
  const done = runExecsnoop({
    comm: undefined,
    signal: stop.signal,
    onEvent: (event) => {
      if (event.filename === binary.path) {
        seen.push(event);
        stop.abort();
      }
    },
  });
  // Give the loader time to attach, then start the program until it is seen.
  const timer = setInterval(() => {
    const started = spawn(binary.path, [], { stdio: 'ignore' });
    child = { pid: started.pid };
  }, 200);
  const guard = setTimeout(() => stop.abort(), 10_000);
  await done;
  clearInterval(timer);
  clearTimeout(guard);
  assert.ok(seen.length > 0, 'the exec was reported');
  const event = seen[0]!;
  assert.equal(event.filename, binary.path);
  assert.equal(event.ppid, process.pid, 'parent is this test process');
  assert.equal(event.uid, process.getuid!());
  assert.ok(event.pid > 0 && child?.pid !== undefined);
  // comm is still the parent's name at sys_enter_execve: the exec has not happened yet.
  assert.equal(event.comm, 'node');
});

test('--comm keeps only the execs of processes with that name', async (t) => {
  if (!needsRoot(t)) return;
  const binary = uniqueTrue();
  t.after(binary.cleanup);
  const stop = new AbortController();
  const seen: ExecEvent[] = [];
  // node's forked child (comm "node") execs /bin/sh: dropped; that sh execs the copy: kept.
  const script = `exec ${binary.path}`;
  const done = runExecsnoop({ comm: 'sh', pid: undefined, signal: stop.signal, onEvent: (event) => seen.push(event) });
  const timer = setInterval(() => spawn('/bin/sh', ['-c', script], { stdio: 'ignore' }), 200);
  setTimeout(() => stop.abort(), 1500);
  await done;
  clearInterval(timer);
  assert.ok(seen.length > 0);
  assert.ok(seen.every((e) => e.comm === 'sh'), `only sh: ${JSON.stringify(seen.slice(0, 3))}`);
  assert.ok(seen.some((e) => e.filename === binary.path));
});

test('--pid keeps only the execs of that process', async (t) => {
  if (!needsRoot(t)) return;
  const binary = uniqueTrue();
  t.after(binary.cleanup);
  // The shell forks `sleep` (another pid: filtered out), then replaces itself with the copy (its pid: kept).
  const shell = spawn('/bin/sh', ['-c', `sleep 1; exec ${binary.path}`], { stdio: 'ignore' });
  const stop = new AbortController();
  const seen: ExecEvent[] = [];
  shell.on('exit', () => setTimeout(() => stop.abort(), 200));
  await runExecsnoop({ pid: shell.pid, signal: stop.signal, onEvent: (event) => seen.push(event) });
  assert.deepEqual(seen.map((e) => [e.pid, e.filename]), [[shell.pid, binary.path]]);
});

test('the CLI prints a header and aligned lines, and --json objects', (t) => {
  if (!needsRoot(t)) return;
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const binary = uniqueTrue();
  t.after(binary.cleanup);
  const run = (args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'execsnoop', '--duration', '3', ...args], { encoding: 'utf8' } as never);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setInterval(() => spawn(binary.path, [], { stdio: 'ignore' }), 250);
    return new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('exit', (code) => { clearInterval(timer); resolve({ code, stdout }); }));
  };
  return (async () => {
    const text = await run([]);
    assert.equal(text.code, 0);
    const lines = text.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PID\s+PPID\s+UID\s+COMM\s+FILENAME$/);
    const line = lines.find((l) => l.endsWith(binary.path));
    assert.ok(line, text.stdout);
    assert.equal(line.indexOf(binary.path), lines[0]!.indexOf('FILENAME'));
    const json = await run(['--json']);
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as ExecEvent);
    assert.ok(events.some((e) => e.filename === binary.path && e.ppid > 0));
  })();
});

test('Ctrl-C (SIGINT) ends the CLI cleanly', async (t) => {
  if (!needsRoot(t)) return;
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'execsnoop'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The header comes before the program is attached; give it a moment, then interrupt.
  child.stdout.once('data', () => setTimeout(() => child.kill('SIGINT'), 500));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
});
