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

export interface SectionSource {
  readonly name: string;
  readonly type: number;
  readonly flags?: number;
  readonly data: Uint8Array;
  readonly link?: number;
  readonly info?: number;
  readonly entsize?: number;
}

/**
 * A little-endian ELF64 relocatable BPF object holding `sections` (indexes
 * from 1, after the null section) and a section name table after them.
 */
export function elfObject(sections: readonly SectionSource[]): Uint8Array {
  const EHDR_SIZE = 64;
  const EM_BPF = 247;
  const SHT_STRTAB = 3;
  const names = stringTable(['.shstrtab', ...sections.map((s) => s.name)]);
  const all = [...sections, { name: '.shstrtab', type: SHT_STRTAB, data: names.bytes }];
  const offsets: number[] = [];
  let end = EHDR_SIZE;
  for (const section of all) {
    end = Math.ceil(end / 8) * 8;
    offsets.push(end);
    end += section.data.length;
  }
  const shoff = Math.ceil(end / 8) * 8;
  const bytes = new Uint8Array(shoff + (all.length + 1) * SECTION_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */]);
  view.setUint16(16, 1 /* ET_REL */, true);
  view.setUint16(18, EM_BPF, true);
  view.setUint32(20, 1, true);
  view.setBigUint64(40, BigInt(shoff), true);
  view.setUint16(52, EHDR_SIZE, true);
  view.setUint16(58, SECTION_HEADER_SIZE, true);
  view.setUint16(60, all.length + 1, true);
  view.setUint16(62, all.length, true);
  all.forEach((section, i) => {
    bytes.set(section.data, offsets[i]!);
    const at = shoff + (i + 1) * SECTION_HEADER_SIZE;
    view.setUint32(at, names.offsets.get(section.name)!, true);
    view.setUint32(at + 4, section.type, true);
    view.setBigUint64(at + 8, BigInt(section.flags ?? 0), true);
    view.setBigUint64(at + 24, BigInt(offsets[i]!), true);
    view.setBigUint64(at + 32, BigInt(section.data.length), true);
    view.setUint32(at + 40, section.link ?? 0, true);
    view.setUint32(at + 44, section.info ?? 0, true);
    view.setBigUint64(at + 48, 8n, true);
    view.setBigUint64(at + 56, BigInt(section.entsize ?? 0), true);
  });
  return bytes;
}

/** An ELF string table holding `strings`, and where each one starts. */
export function stringTable(strings: readonly string[]): { bytes: Uint8Array; offsets: Map<string, number> } {
  const offsets = new Map<string, number>();
  let text = '\0';
  for (const string of strings) {
    if (offsets.has(string)) continue;
    offsets.set(string, text.length);
    text += `${string}\0`;
  }
  return { bytes: new TextEncoder().encode(text), offsets };
}
