// Shared by the tests: where the committed objects are, and skipping with a
// reason where the kernel side cannot run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { ElfFile, SHT_SYMTAB } from '../src/elf/elf.ts';

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

const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;

/** Where a section's header is in an object's bytes, to rewrite e.g. sh_type (+4) or sh_size (+32). */
export function sectionHeaderAt(bytes: Uint8Array, name: string): number {
  const elf = new ElfFile(bytes);
  const section = elf.section(name);
  if (!section) throw new Error(`no section ${name}`);
  const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
  return shoff + section.index * SECTION_HEADER_SIZE;
}

/** Where a symbol's entry is in an object's bytes, to rewrite st_value (+8) or st_size (+16). */
export function symbolEntryAt(bytes: Uint8Array, name: string): number {
  const elf = new ElfFile(bytes);
  const symbol = elf.symbols.find((s) => s.name === name);
  if (!symbol) throw new Error(`no symbol ${name}`);
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
  return symtab.offset + symbol.index * SYMBOL_SIZE;
}
