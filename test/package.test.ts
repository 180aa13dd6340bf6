// The packed tarball, installed with --ignore-scripts in an empty folder,
// is imported by plain node (no tsx, no compiler) and runs execsnoop.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needsRoot } from './helpers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const consumer = `
import { spawn } from 'node:child_process';
import { BpfObject, EXECSNOOP_OBJECT, decodeExecEvent, VerifierError } from 'tsbpf';

if (typeof VerifierError !== 'function') throw new Error('error classes are exported');
const object = BpfObject.open(EXECSNOOP_OBJECT);
object.program('execsnoop').attach();
const ring = object.ringBuffer('events');
const child = spawn('/bin/true', ['from-the-tarball']);
const deadline = Date.now() + 10000;
let found;
while (!found && Date.now() < deadline) {
  await ring.wait({ timeoutMs: 500 });
  ring.consume((view, offset) => {
    const event = decodeExecEvent(view, offset);
    if (event.pid === child.pid) found = event;
  });
}
object.close();
console.log(JSON.stringify(found));
`;

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

test('npm pack, then install --ignore-scripts in an empty folder: plain node imports tsbpf and runs execsnoop', (t) => {
  if (!needsRoot(t)) return;
  const work = mkdtempSync(join(tmpdir(), 'tsbpf-package-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  run('npm', ['pack', '--pack-destination', work, '--silent'], root);
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');
  const app = join(work, 'app');
  run('mkdir', [app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball)], app);
  const installed = readdirSync(join(app, 'node_modules', 'tsbpf'));
  assert.ok(installed.includes('dist') && installed.includes('programs'));
  assert.ok(!readdirSync(join(app, 'node_modules')).includes('typescript'), 'no compiler at run time');
  writeFileSync(join(app, 'main.mjs'), consumer);
  const event = JSON.parse(run(process.execPath, ['main.mjs'], app)) as { filename: string; ppid: number };
  assert.equal(event.filename, '/bin/true');
  const help = spawnSync(join(app, 'node_modules', '.bin', 'tsbpf'), ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /execsnoop/);
});

test('the tarball holds a fresh build and what runs, not test objects, stale output or source maps without their sources', () => {
  // Left by an earlier build of a module that has since been renamed or removed.
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, 'dist', 'stale-from-an-old-build.js'), 'export {};\n');
  const [packed] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--silent'], root)) as [{ files: { path: string }[] }];
  const paths = packed.files.map((file) => file.path);
  assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts') && paths.includes('dist/cli.js'));
  assert.ok(!paths.includes('dist/stale-from-an-old-build.js'), 'the build starts from an empty dist/');
  assert.deepEqual(paths.filter((path) => path.endsWith('.map')), [], 'no source maps pointing at src/, which is not packed');
  assert.deepEqual(paths.filter((path) => path.startsWith('programs/') && !path.startsWith('programs/include/')).sort(), [
    'programs/execsnoop.bpf.c', 'programs/execsnoop.bpf.o', 'programs/opensnoop.bpf.c', 'programs/opensnoop.bpf.o',
  ], 'only the objects the tools load, with their sources');
  assert.deepEqual(paths.filter((path) => /^(test|bench|examples|scripts|src)\//.test(path)), []);
});
