// A reader for ELF64 files: header, sections, symbols and REL relocations —
// what a BPF object is made of — and the dynamic symbols of executables and
// shared libraries, where uprobes go. Every offset is checked against
// the buffer, so truncated or hostile input gives an ElfError, never a crash.
// (The npm package `elfy` reads ELF64 fields at the wrong offsets and parses
// neither symbols nor relocations; see README.)
import { decodeCStringAt } from '../cstring.js';
import { ElfError } from '../errors.js';

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_GNU_IFUNC = 10;
export const EM_NONE = 0;
export const EM_BPF = 247;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;

export interface Section {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  /** Where the section is loaded in memory (executables and libraries; 0 in relocatable objects). */
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
  /** The section's bytes (empty for NOBITS: `.bss` has a size but no file contents). */
  readonly data: Uint8Array;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly bind: number;
  readonly type: number;
  readonly visibility: number;
  readonly sectionIndex: number;
  readonly value: number;
  readonly size: number;
}

export interface Relocation {
  /** Byte offset inside the target section. */
  readonly offset: number;
  readonly type: number;
  readonly symbol: ElfSymbol;
}

export class ElfFile {
  readonly littleEndian: boolean;
  readonly machine: number;
  readonly type: number;
  readonly sections: readonly Section[];
  readonly symbols: readonly ElfSymbol[];
  private readonly view: DataView;

  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    // A plain Uint8Array view, so that section data's slice() copies (Buffer's slice() does not).
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
      throw new ElfError('not an ELF file (bad magic)');
    }
    if (bytes.length < EHDR_SIZE) throw new ElfError(`truncated ELF header (${bytes.length} bytes)`);
    if (bytes[4] !== 2) throw new ElfError(`not a 64-bit ELF (EI_CLASS ${bytes[4]})`);
    if (bytes[5] !== 1 && bytes[5] !== 2) throw new ElfError(`unknown ELF byte order (EI_DATA ${bytes[5]})`);
    this.littleEndian = bytes[5] === 1;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.type = this.u16(16);
    this.machine = this.u16(18);
    const shoff = this.u64(40);
    const shentsize = this.u16(58);
    const shnum = this.u16(60);
    const shstrndx = this.u16(62);
    if (shnum === 0) throw new ElfError('no section headers');
    if (shentsize !== SHDR_SIZE) throw new ElfError(`unexpected section header size ${shentsize}`);
    this.checkRange(shoff, shnum * SHDR_SIZE, 'section header table');

    const headers = [];
    for (let index = 0; index < shnum; index++) headers.push(this.readSectionHeader(index, shoff + index * SHDR_SIZE));
    const names = headers[shstrndx];
    if (!names || names.type !== SHT_STRTAB) throw new ElfError(`section name table index ${shstrndx} is not a string table`);
    this.sections = headers.map((h) => ({ ...h, name: cString(names.data, h.nameOffset, 'section name') }));

    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    this.symbols = symtab ? this.readSymbols(symtab) : [];
  }

  get hasSymbolTable(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB);
  }

  section(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The dynamic symbol table (.dynsym) of an executable or shared library; empty when there is none. */
  dynamicSymbols(): ElfSymbol[] {
    const dynsym = this.sections.find((s) => s.type === SHT_DYNSYM);
    return dynsym ? this.readSymbols(dynsym) : [];
  }

  /**
   * Where function `name` starts in the file, as a uprobe wants it: its
   * address made relative to its section's place in the file. Looks in
   * .symtab, then .dynsym (stripped binaries keep only that), as libbpf does;
   * IFUNC resolvers count as functions.
   */
  functionFileOffset(name: string): number {
    const isFunction = (symbol: ElfSymbol) =>
      symbol.name === name && (symbol.type === STT_FUNC || symbol.type === STT_GNU_IFUNC) && symbol.sectionIndex !== SHN_UNDEF;
    const symbol = this.symbols.find(isFunction) ?? this.dynamicSymbols().find(isFunction);
    if (!symbol) throw new ElfError(`no function '${name}' defined in the ELF symbols (.symtab, .dynsym)`);
    const section = this.sections[symbol.sectionIndex];
    if (!section || symbol.value < section.addr || symbol.value >= section.addr + section.size) {
      throw new ElfError(`function '${name}' (at 0x${symbol.value.toString(16)}) lies outside its section ${symbol.sectionIndex}`);
    }
    return symbol.value - section.addr + section.offset;
  }

  /** The REL relocations applying to each section, keyed by target section index. */
  relocations(): Map<number, Relocation[]> {
    const result = new Map<number, Relocation[]>();
    for (const section of this.sections) {
      if (section.type !== SHT_REL) continue;
      if (section.entsize !== REL_SIZE) throw new ElfError(`${section.name}: relocation entry size ${section.entsize}, expected ${REL_SIZE}`);
      if (!this.sections[section.info]) throw new ElfError(`${section.name}: target section ${section.info} does not exist`);
      const list: Relocation[] = [];
      for (let at = 0; at + REL_SIZE <= section.data.length; at += REL_SIZE) {
        const base = section.offset + at;
        // r_info: the symbol index in its high 32 bits, the relocation type in its low 32.
        const [type, symbolIndex] = this.halves(base + 8);
        const symbol = this.symbols[symbolIndex];
        if (!symbol) throw new ElfError(`${section.name}: relocation refers to symbol ${symbolIndex}, which does not exist`);
        list.push({ offset: this.u64(base), type, symbol });
      }
      result.set(section.info, list);
    }
    return result;
  }

  private readSectionHeader(index: number, at: number) {
    const type = this.u32(at + 4);
    const offset = this.u64(at + 24);
    const size = this.u64(at + 32);
    const header = {
      index,
      nameOffset: this.u32(at),
      type,
      flags: this.u64(at + 8),
      addr: this.u64(at + 16),
      offset,
      size,
      link: this.u32(at + 40),
      info: this.u32(at + 44),
      addralign: this.u64(at + 48),
      entsize: this.u64(at + 56),
      data: new Uint8Array(0) as Uint8Array,
    };
    if (type !== SHT_NOBITS && index !== 0) {
      this.checkRange(offset, size, `section ${index}`);
      header.data = this.bytes.subarray(offset, offset + size);
    }
    return header;
  }

  private readSymbols(symtab: Section): ElfSymbol[] {
    if (symtab.entsize !== SYM_SIZE) throw new ElfError(`symbol table entry size ${symtab.entsize}, expected ${SYM_SIZE}`);
    const strtab = this.sections[symtab.link];
    if (!strtab || strtab.type !== SHT_STRTAB) throw new ElfError(`symbol table links to section ${symtab.link}, not a string table`);
    const symbols: ElfSymbol[] = [];
    for (let index = 0; (index + 1) * SYM_SIZE <= symtab.size; index++) {
      const at = symtab.offset + index * SYM_SIZE;
      const info = this.bytes[at + 4]!;
      symbols.push({
        index,
        name: cString(strtab.data, this.u32(at), 'symbol name'),
        bind: info >> 4,
        type: info & 0xf,
        visibility: this.bytes[at + 5]! & 0x3,
        sectionIndex: this.u16(at + 6),
        value: this.u64(at + 8),
        size: this.u64(at + 16),
      });
    }
    return symbols;
  }

  private checkRange(offset: number, length: number, what: string): void {
    if (offset + length > this.bytes.length) {
      throw new ElfError(`${what} (offset ${offset}, ${length} bytes) lies past the end of the file (${this.bytes.length} bytes): truncated?`);
    }
  }

  private u16(at: number): number {
    return this.view.getUint16(at, this.littleEndian);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, this.littleEndian);
  }

  /** The low and high 32-bit halves of a 64-bit field (two reads: no BigInt on the way). */
  private halves(at: number): [low: number, high: number] {
    const first = this.u32(at);
    const second = this.u32(at + 4);
    return this.littleEndian ? [first, second] : [second, first];
  }

  /** A 64-bit offset or size as a Number; larger than any buffer we can hold means hostile input. */
  private u64(at: number): number {
    const [low, high] = this.halves(at);
    if (high > 0x1fffff) throw new ElfError(`64-bit field at offset ${at} is out of range (${this.view.getBigUint64(at, this.littleEndian)})`);
    return high * 2 ** 32 + low;
  }
}

function cString(table: Uint8Array, offset: number, what: string): string {
  if (offset >= table.length) {
    if (offset === 0) return '';
    throw new ElfError(`${what} offset ${offset} is past the end of its string table`);
  }
  return decodeCStringAt(table, offset, table.length - offset);
}
