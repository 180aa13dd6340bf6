// ELF bytes → ObjectSpec: programs (linked with their subprograms), maps and
// global data, BTF. A pure, deterministic function of the bytes; everything
// that depends on the running kernel happens in load.ts.
import { decodeCString } from '../cstring.js';
import { Btf } from '../btf/btf.js';
import { parseBtfExt, type BtfExt, type CoreRelo, type FuncInfo, type LineInfo } from '../btf/ext.js';
import {
  EM_BPF, EM_NONE, ElfFile, SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS, SHN_UNDEF, STT_FUNC, STT_SECTION,
  type ElfSymbol, type Relocation, type Section,
} from '../elf/elf.js';
import { getByName, NotFoundError, ObjectError } from '../errors.js';
import { encodeValue } from '../btf/values.js';
import { compileDecoder, type RecordDecoder } from '../btf/decoder.js';
import { btfForKernel } from './btf-fixup.js';
import { collectExterns, KCONFIG_MAP, type ExternSpec } from './externs.js';
import { Insns, INSN_SIZE, OP_CALL, PSEUDO_FUNC } from './insn.js';
import { btfMaps, checkRingSize, dataKind, dataMap, legacyMaps, type MapSpec, type VariableSpec } from './maps.js';
import { AttachType, BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, programKind, ProgType, type ProgramKind } from './sections.js';

const R_BPF_64_64 = 1;
const R_BPF_64_32 = 10;

/** An instruction that must point at a map once maps exist: ld_imm64 of a map fd or of an address in a data map. */
export interface MapReference {
  readonly insn: number;
  readonly map: string;
  /** undefined: the map itself (BPF_PSEUDO_MAP_FD); a number: that byte offset in its value (BPF_PSEUDO_MAP_VALUE). */
  readonly valueOffset: number | undefined;
}

/** An instruction naming a kernel symbol: ld_imm64 of a `__ksym` variable, or a call of a kfunc. */
export interface ExternReference {
  readonly insn: number;
  readonly name: string;
}

/** A CO-RE relocation, its instruction index in the linked program. */
export interface ProgramCoreRelo extends CoreRelo {
  readonly insn: number;
}

export interface ProgramSpec {
  readonly name: string;
  readonly section: string;
  readonly kind: ProgramKind;
  readonly type: number;
  readonly expectedAttachType: number;
  readonly flags: number;
  /** Linked instructions: the entry function, then each subprogram it reaches. */
  readonly insns: Uint8Array;
  readonly mapReferences: readonly MapReference[];
  readonly externReferences: readonly ExternReference[];
  readonly coreRelos: readonly ProgramCoreRelo[];
  /** func_info/line_info with instruction indexes (not bytes) in the linked program. */
  readonly funcInfo: readonly FuncInfo[];
  readonly lineInfo: readonly LineInfo[];
}

interface BpfFunction {
  readonly symbol: ElfSymbol;
  readonly section: Section;
  /** Byte range in the section. */
  readonly start: number;
  readonly end: number;
}

/** What linking looks up for every instruction, indexed once per object. */
interface LinkTables {
  /** Functions by section index, then start offset. */
  readonly functions: ReadonlyMap<number, ReadonlyMap<number, BpfFunction>>;
  /** Relocations by the index of the section they patch, then offset. */
  readonly relocations: ReadonlyMap<number, ReadonlyMap<number, Relocation>>;
}

export class ObjectSpec {
  readonly license: string;
  readonly kernelVersion: number;
  readonly programs: ReadonlyMap<string, ProgramSpec>;
  readonly maps: ReadonlyMap<string, MapSpec>;
  /** `__kconfig` and `__ksym` externs, by name. */
  readonly externs: ReadonlyMap<string, ExternSpec>;
  readonly btf: Btf | undefined;
  /** BTF as the kernel must receive it (DATASEC sizes and offsets filled in). */
  readonly btfForKernel: Uint8Array | undefined;
  readonly btfExt: BtfExt | undefined;

  private constructor(readonly elf: ElfFile) {
    if (elf.machine !== EM_BPF && elf.machine !== EM_NONE) throw new ObjectError(`not a BPF object (ELF machine ${elf.machine})`);
    if (!elf.hasSymbolTable) throw new ObjectError('the object has no symbol table (stripped with --strip-all?)');
    const license = elf.section('license');
    if (!license) throw new ObjectError("no 'license' section: add `char LICENSE[] SEC(\"license\") = \"GPL\";`");
    this.license = decodeCString(license.data);
    const version = elf.section('version');
    // (A NOBITS section has a size but no bytes.)
    if (version && version.data.length < 4) throw new ObjectError(`the 'version' section holds ${version.data.length} bytes, not a u32 kernel version`);
    this.kernelVersion = version ? new DataView(version.data.buffer, version.data.byteOffset).getUint32(0, true) : 0;

    const btfSection = elf.section('.BTF');
    this.btf = btfSection ? new Btf(btfSection.data.slice()) : undefined;
    const extSection = elf.section('.BTF.ext');
    this.btfExt = extSection && this.btf ? parseBtfExt(extSection.data, this.btf) : undefined;
    const { externs, kconfigMap } = collectExterns(elf, this.btf);
    this.externs = externs;
    this.btfForKernel = this.btf ? btfForKernel(this.btf, elf, externs, kconfigMap?.valueSize ?? 0) : undefined;

    this.maps = byName([...this.collectMaps(), ...(kconfigMap ? [kconfigMap] : [])], 'map');
    this.programs = byName(this.collectPrograms(), 'program');
  }

  static parse(bytes: Uint8Array): ObjectSpec {
    return new ObjectSpec(new ElfFile(bytes));
  }

  program(name: string): ProgramSpec {
    return getByName(this.programs, 'program', name);
  }

  map(name: string): MapSpec {
    return getByName(this.maps, 'map', name);
  }

  /**
   * A decoder for records of `struct name` (or union, or typedef of one) from
   * the object's BTF: `(view, offset) => object`, compiled once.
   */
  recordDecoder(name: string): RecordDecoder {
    if (!this.btf) throw new ObjectError('the object has no BTF to decode records with');
    const id = ['struct', 'union', 'typedef'].flatMap((kind) => this.btf!.idsByName(name, kind as 'struct'))[0];
    if (id === undefined) throw new NotFoundError('struct, union or typedef', name, []);
    return compileDecoder(this.btf, id);
  }

  /** Finds a global variable by name in any data section. */
  variable(name: string): { map: MapSpec; variable: VariableSpec } {
    const all: string[] = [];
    for (const map of this.maps.values()) {
      const variable = map.data?.variables.get(name);
      if (variable) return { map, variable };
      if (map.data) all.push(...map.data.variables.keys());
    }
    throw new NotFoundError('global variable', name, all);
  }

  /**
   * Sets `const volatile` globals (in `.rodata`) before load, so the verifier
   * sees them as constants. Values are checked against the variables' BTF types.
   */
  setConstants(values: Record<string, unknown>): this {
    this.writeConstants(values, (map) => map.data!.bytes);
    return this;
  }

  /** Initial contents of every data map, with `constants` applied to copies (the spec is unchanged). */
  dataContents(constants: Record<string, unknown>): Map<string, Uint8Array> {
    const contents = new Map<string, Uint8Array>();
    for (const map of this.maps.values()) if (map.data) contents.set(map.name, map.data.bytes.slice());
    this.writeConstants(constants, (map) => contents.get(map.name)!);
    return contents;
  }

  private writeConstants(values: Record<string, unknown>, bytesOf: (map: MapSpec) => Uint8Array): void {
    for (const [name, value] of Object.entries(values)) {
      const { map, variable } = this.variable(name);
      if (map.data!.kind !== 'rodata') throw new ObjectError(`'${name}' is in ${map.name}, not .rodata: write it after load instead`);
      if (!this.btf || variable.typeId === 0) throw new ObjectError(`'${name}' has no BTF type; cannot check the value`);
      bytesOf(map).set(encodeValue(this.btf, variable.typeId, value, name), variable.offset);
    }
  }

  private collectMaps(): MapSpec[] {
    const maps: MapSpec[] = [];
    for (const section of this.elf.sections) {
      if (section.name === '.maps') maps.push(...btfMaps(this.elf, section, this.btf));
      else if (section.name === 'maps') maps.push(...legacyMaps(this.elf, section));
      else if ((section.type === SHT_PROGBITS || section.type === SHT_NOBITS) && (section.flags & SHF_ALLOC) && section.size > 0) {
        const kind = dataKind(section.name);
        if (kind) maps.push(dataMap(this.elf, section, kind, this.btf));
      }
    }
    maps.forEach(checkRingSize);
    return maps;
  }

  private collectPrograms(): ProgramSpec[] {
    const functions = this.collectFunctions();
    const tables = this.linkTables(functions);
    const programs: ProgramSpec[] = [];
    for (const fn of functions) {
      if (fn.section.name === '.text') continue;
      const kind = programKind(fn.section.name);
      if (!kind) throw new ObjectError(`program '${fn.symbol.name}': unknown section name '${fn.section.name}'`);
      programs.push(new Linker(this, tables).link(fn, kind));
    }
    return programs;
  }

  private linkTables(functions: readonly BpfFunction[]): LinkTables {
    const functionsBySection = new Map<number, Map<number, BpfFunction>>();
    for (const fn of functions) {
      const byStart = functionsBySection.get(fn.section.index) ?? new Map<number, BpfFunction>();
      functionsBySection.set(fn.section.index, byStart);
      if (!byStart.has(fn.start)) byStart.set(fn.start, fn);
    }
    const relocations = new Map<number, Map<number, Relocation>>();
    for (const [sectionIndex, list] of this.elf.relocations()) {
      const section = this.elf.sections[sectionIndex]!;
      // Code is patched whole instructions at a time: one in the middle of an instruction would be skipped.
      const misplaced = section.flags & SHF_EXECINSTR ? list.find((r) => r.offset % INSN_SIZE !== 0) : undefined;
      if (misplaced) throw new ObjectError(`${section.name}+${misplaced.offset}: a relocation is not on an instruction boundary`);
      relocations.set(sectionIndex, new Map(list.map((r) => [r.offset, r])));
    }
    return { functions: functionsBySection, relocations };
  }

  /** Every function of every executable section, with its byte range. */
  private collectFunctions(): BpfFunction[] {
    const functions: BpfFunction[] = [];
    for (const section of this.elf.sections) {
      if (section.type !== SHT_PROGBITS || !(section.flags & SHF_EXECINSTR) || section.size === 0) continue;
      if (section.size % INSN_SIZE !== 0) throw new ObjectError(`section ${section.name}: size ${section.size} is not a whole number of instructions`);
      const symbols = this.elf.symbols
        .filter((s) => s.sectionIndex === section.index && s.type === STT_FUNC)
        .sort((a, b) => a.value - b.value);
      symbols.forEach((symbol, i) => {
        const end = symbol.size > 0 ? symbol.value + symbol.size : (symbols[i + 1]?.value ?? section.size);
        if (symbol.value % INSN_SIZE || end % INSN_SIZE || end > section.size || end <= symbol.value) {
          throw new ObjectError(`function '${symbol.name}' has a bad range [${symbol.value}, ${end}) in ${section.name}`);
        }
        if (section.name !== '.text' && symbol.bind === 0) {
          throw new ObjectError(`function '${symbol.name}' in ${section.name} is static: programs must be global (move helpers to .text)`);
        }
        functions.push({ symbol, section, start: symbol.value, end });
      });
    }
    return functions;
  }

  /** The map that owns a symbol in `.maps`, `maps` or a data section. */
  mapForSymbol(symbol: ElfSymbol, sectionIndex: number): MapSpec | undefined {
    for (const map of this.maps.values()) {
      if (map.symbolSection !== sectionIndex) continue;
      if (map.data || symbol.type === STT_SECTION || map.symbolOffset === symbol.value) return map;
    }
    return undefined;
  }
}

/** A function being copied and relocated; `next` is where relocation resumes once a callee it placed is linked. */
interface PendingFunction {
  readonly fn: BpfFunction;
  /** Its first instruction's index in the linked program. */
  readonly base: number;
  readonly insns: Insns;
  next: number;
}

/** Links one entry function with every subprogram it calls or takes the address of. */
class Linker {
  private length = 0;
  private readonly placed = new Map<BpfFunction, number>();
  /** Placed functions not yet relocated to their end, the innermost callee last. */
  private readonly pending: PendingFunction[] = [];
  private readonly code: { start: number; bytes: Uint8Array }[] = [];
  private readonly mapReferences: MapReference[] = [];
  private readonly externReferences: ExternReference[] = [];
  private readonly coreRelos: ProgramCoreRelo[] = [];
  private readonly funcInfo: FuncInfo[] = [];
  private readonly lineInfo: LineInfo[] = [];

  constructor(
    private readonly spec: ObjectSpec,
    private readonly tables: LinkTables,
  ) {}

  link(entry: BpfFunction, kind: ProgramKind): ProgramSpec {
    this.place(entry);
    // A loop over an explicit stack, not recursion: a valid object may chain thousands of calls.
    while (this.pending.length > 0) {
      const current = this.pending.at(-1)!;
      if (!this.relocate(current)) continue;
      this.pending.pop();
      this.code.push({ start: current.base, bytes: current.insns.bytes });
      this.rebaseExtInfo(current.fn, current.base);
    }
    const insns = new Uint8Array(this.length);
    for (const { start, bytes } of this.code) insns.set(bytes, start * INSN_SIZE);
    const byInsn = (a: { insnOffset: number }, b: { insnOffset: number }) => a.insnOffset - b.insnOffset;
    return {
      name: entry.symbol.name,
      section: entry.section.name,
      kind,
      type: ProgType[kind.type],
      expectedAttachType: kind.attachType ? AttachType[kind.attachType] : 0,
      flags: (kind.sleepable ? BPF_F_SLEEPABLE : 0) | (kind.frags ? BPF_F_XDP_HAS_FRAGS : 0),
      insns,
      mapReferences: this.mapReferences,
      externReferences: this.externReferences,
      coreRelos: this.coreRelos,
      funcInfo: this.funcInfo.sort(byInsn),
      lineInfo: this.lineInfo.sort(byInsn),
    };
  }

  /**
   * The instruction index of `fn` in the linked program. A function seen for
   * the first time is appended and linked before its caller goes on, so its
   * own callees follow it before the caller's next one (depth first) —
   * libbpf's layout, which keeps program tags and the kernel's translated
   * code identical to it.
   */
  private place(fn: BpfFunction): number {
    let start = this.placed.get(fn);
    if (start === undefined) {
      start = this.length / INSN_SIZE;
      this.placed.set(fn, start);
      this.length += fn.end - fn.start;
      this.pending.push({ fn, base: start, insns: new Insns(fn.section.data.slice(fn.start, fn.end)), next: 0 });
    }
    return start;
  }

  /**
   * Resolves calls and ld_imm64 references of a copied function, from where
   * it stopped. Returns false when it stops early because it placed a new
   * function, which must be linked first.
   */
  private relocate(pending: PendingFunction): boolean {
    const { fn, insns, base } = pending;
    const relocs = this.tables.relocations.get(fn.section.index);
    const depth = this.pending.length;
    while (pending.next < insns.count) {
      const i = pending.next;
      const where = `${fn.symbol.name}+${i}`;
      const width = insns.isLdImm64(i) ? 2 : 1;
      // Its second half would be whatever follows the function, patched at load.
      if (i + width > insns.count) throw new ObjectError(`${where}: ld_imm64 is cut in half by the end of the function`);
      pending.next += width;
      const reloc = relocs?.get(fn.start + i * INSN_SIZE);
      if (reloc?.symbol.sectionIndex === SHN_UNDEF) {
        this.referenceExtern(insns, i, base, reloc.symbol, where);
      } else if (insns.isPseudoCall(i)) {
        const target = this.callTarget(fn, i, insns.imm(i), reloc, where);
        insns.setImm(i, this.place(target) - (base + i) - 1);
      } else if (reloc) {
        if (reloc.type !== R_BPF_64_64 && reloc.type !== R_BPF_64_32) throw new ObjectError(`${where}: unsupported relocation type ${reloc.type}`);
        if (!insns.isLdImm64(i)) throw new ObjectError(`${where}: relocation against '${reloc.symbol.name}' on an instruction that is not ld_imm64 or call`);
        this.relocateLoad(insns, i, base, reloc, where);
      }
      if (this.pending.length > depth) return false;
    }
    return true;
  }

  private callTarget(fn: BpfFunction, i: number, imm: number, reloc: Relocation | undefined, where: string): BpfFunction {
    let section = fn.section;
    let targetOffset: number;
    if (!reloc) {
      targetOffset = fn.start + (i + imm + 1) * INSN_SIZE;
    } else {
      section = this.sectionOf(reloc.symbol, where);
      // Static callees are relocated against the section symbol; global ones against the function (imm = -1).
      targetOffset = reloc.symbol.type === STT_SECTION ? reloc.symbol.value + (imm + 1) * INSN_SIZE : reloc.symbol.value;
    }
    return this.functionAt(section, targetOffset, where);
  }

  private relocateLoad(insns: Insns, i: number, base: number, reloc: Relocation, where: string): void {
    const symbol = reloc.symbol;
    const section = this.sectionOf(symbol, where);
    const imm = insns.imm(i);
    if (section.flags & SHF_EXECINSTR) {
      // The address of a function: a callback for bpf_loop and friends.
      const target = this.functionAt(section, symbol.type === STT_SECTION ? symbol.value + imm : symbol.value, where);
      insns.setSrcReg(i, PSEUDO_FUNC);
      insns.setImm(i, this.place(target) - (base + i) - 1);
      return;
    }
    const map = this.spec.mapForSymbol(symbol, section.index);
    if (!map) throw new ObjectError(`${where}: '${symbol.name || section.name}' in ${section.name} is not a map or global data`);
    if (map.data) {
      this.mapReferences.push({ insn: base + i, map: map.name, valueOffset: symbol.value + imm });
    } else {
      if (symbol.bind === 0 && symbol.type !== STT_SECTION) throw new ObjectError(`${where}: map '${symbol.name}' is static; maps must be global`);
      this.mapReferences.push({ insn: base + i, map: map.name, valueOffset: undefined });
    }
  }

  private referenceExtern(insns: Insns, i: number, base: number, symbol: ElfSymbol, where: string): void {
    const extern = this.spec.externs.get(symbol.name);
    if (!extern) throw new ObjectError(`${where}: '${symbol.name}' is not defined in the object`);
    const isCall = insns.opcode(i) === OP_CALL;
    if (isCall !== (extern.kind === 'kfunc')) throw new ObjectError(`${where}: extern '${symbol.name}' is used as a ${isCall ? 'function' : 'variable'} but declared otherwise`);
    if (!isCall && !insns.isLdImm64(i)) throw new ObjectError(`${where}: extern '${symbol.name}' on an instruction that is not ld_imm64`);
    if (extern.kind === 'kconfig') this.mapReferences.push({ insn: base + i, map: KCONFIG_MAP, valueOffset: extern.offset + insns.imm(i) });
    else this.externReferences.push({ insn: base + i, name: extern.name });
  }

  private rebaseExtInfo(fn: BpfFunction, base: number): void {
    const ext = this.spec.btfExt;
    if (!ext) return;
    const inRange = (record: { insnOffset: number }) => record.insnOffset >= fn.start && record.insnOffset < fn.end;
    const index = (record: { insnOffset: number }) => base + (record.insnOffset - fn.start) / INSN_SIZE;
    for (const record of ext.funcInfo.get(fn.section.name) ?? []) {
      if (inRange(record)) this.funcInfo.push({ ...record, insnOffset: index(record) });
    }
    for (const record of ext.lineInfo.get(fn.section.name) ?? []) {
      if (inRange(record)) this.lineInfo.push({ ...record, insnOffset: index(record) });
    }
    for (const record of ext.coreRelos.get(fn.section.name) ?? []) {
      if (inRange(record)) this.coreRelos.push({ ...record, insn: index(record) });
    }
  }

  private sectionOf(symbol: ElfSymbol, where: string): Section {
    const section = this.spec.elf.sections[symbol.sectionIndex];
    if (!section) throw new ObjectError(`${where}: symbol '${symbol.name}' is in section ${symbol.sectionIndex}, which does not exist`);
    return section;
  }

  private functionAt(section: Section, offset: number, where: string): BpfFunction {
    const fn = this.tables.functions.get(section.index)?.get(offset);
    if (!fn) throw new ObjectError(`${where}: no function starts at ${section.name}+${offset}`);
    return fn;
  }
}

function byName<T extends { name: string }>(items: T[], what: string): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) {
    if (map.has(item.name)) throw new ObjectError(`two ${what}s are named '${item.name}'`);
    map.set(item.name, item);
  }
  return map;
}
