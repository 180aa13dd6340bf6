// Shared by the tests: where the committed objects are, and skipping with a
// reason where the kernel side cannot run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export function programPath(name: string): string {
  return fileURLToPath(new URL(`../programs/${name}.bpf.o`, import.meta.url));
}

/** A private copy of a committed object's bytes (a plain Uint8Array, safe to mutate). */
export function programBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(programPath(name)));
}

export const isRoot = process.getuid?.() === 0;

/** Skips (with the reason printed) unless we can load BPF programs. */
export function needsRoot(t: TestContext): boolean {
  if (isRoot) return true;
  t.skip('not root: loading BPF programs needs root (or CAP_BPF + CAP_PERFMON)');
  return false;
}
