// The committed BPF objects are what `make programs` builds, byte for byte.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

test('make programs rebuilds every committed object identically, from any directory', (t) => {
  if (spawnSync('clang-19', ['--version']).error) return t.skip('clang-19 not installed (apt-get install clang-19 llvm-19 libbpf-dev)');
  const copy = mkdtempSync(join(tmpdir(), 'tsbpf-programs-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(root, 'programs'), join(copy, 'programs'), { recursive: true, filter: (source) => !source.endsWith('.bpf.o') });
  cpSync(join(root, 'Makefile'), join(copy, 'Makefile'));
  const make = spawnSync('make', ['-s', 'programs'], { cwd: copy, encoding: 'utf8' });
  assert.equal(make.status, 0, make.stderr);
  const objects = readdirSync(join(root, 'programs')).filter((name) => name.endsWith('.bpf.o'));
  const sources = readdirSync(join(root, 'programs')).filter((name) => name.endsWith('.bpf.c'));
  assert.equal(objects.length, sources.length, 'every source has its committed object');
  for (const name of objects) {
    assert.ok(readFileSync(join(copy, 'programs', name)).equals(readFileSync(join(root, 'programs', name))), `${name} differs from a fresh build`);
  }
});
