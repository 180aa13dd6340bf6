// Map specifications, from BTF-defined `.maps`, the legacy `maps` section and
// global data sections. Pure: what the object asks for, before any kernel.
import type { Btf, CompositeType } from '../btf/btf.js';
import type { ElfFile, ElfSymbol, Section } from '../elf/elf.js';
import { STT_OBJECT } from '../elf/elf.js';
import { ObjectError } from '../errors.js';

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  RINGBUF: 27,
  USER_RINGBUF: 31,
} as const;

export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_MMAPABLE = 1 << 10;

/** 'kconfig': values of `__kconfig` externs, filled in by the loader. */
export type DataKind = 'rodata' | 'data' | 'bss' | 'kconfig';

export interface VariableSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** BTF type of the variable (0 when the object has no BTF for it). */
  readonly typeId: number;
}

export interface DataSpec {
  readonly kind: DataKind;
  /** Initial contents; `.rodata` values set before load are written here. */
  readonly bytes: Uint8Array;
  readonly variables: ReadonlyMap<string, VariableSpec>;
}

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  mapExtra: bigint;
  /** 0: none; 1: LIBBPF_PIN_BY_NAME */
  pinning: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** ELF section index and offset of the map's symbol, to resolve relocations. */
  readonly symbolSection: number;
  readonly symbolOffset: number;
  /** Present for maps that back global data (.data, .rodata, .bss …). */
  readonly data?: DataSpec;
}

const LEGACY_DEF_SIZE = 20; // type, key_size, value_size, max_entries, map_flags

function baseMap(name: string, section: number, offset: number): MapSpec {
  return {
    name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, numaNode: 0, mapExtra: 0n, pinning: 0,
    btfKeyTypeId: 0, btfValueTypeId: 0, symbolSection: section, symbolOffset: offset,
  };
}

function mapSymbols(elf: ElfFile, section: Section): ElfSymbol[] {
  return elf.symbols.filter((s) => s.sectionIndex === section.index && s.name !== '' && s.type !== 3 /* STT_SECTION */);
}

/** `struct bpf_map_def` entries of the legacy `maps` section. */
export function legacyMaps(elf: ElfFile, section: Section): MapSpec[] {
  const symbols = mapSymbols(elf, section);
  if (symbols.length === 0) return [];
  // A NOBITS section has a size but no bytes to read definitions from.
  if (section.data.length !== section.size) throw new ObjectError("legacy 'maps' section has no contents in the file (SHT_NOBITS)");
  const stride = section.size / symbols.length;
  if (!Number.isInteger(stride) || stride < LEGACY_DEF_SIZE) {
    throw new ObjectError(`legacy 'maps' section: ${section.size} bytes do not divide into ${symbols.length} map definitions of at least ${LEGACY_DEF_SIZE} bytes`);
  }
  const view = new DataView(section.data.buffer, section.data.byteOffset, section.data.byteLength);
  return symbols.map((symbol) => {
    if (symbol.value + LEGACY_DEF_SIZE > section.size) throw new ObjectError(`legacy map '${symbol.name}' lies outside the 'maps' section`);
    const at = symbol.value;
    const map = baseMap(symbol.name, section.index, symbol.value);
    map.type = view.getUint32(at, true);
    map.keySize = view.getUint32(at + 4, true);
    map.valueSize = view.getUint32(at + 8, true);
    map.maxEntries = view.getUint32(at + 12, true);
    map.flags = view.getUint32(at + 16, true);
    return map;
  });
}

/** Maps declared with `struct { __uint(type, …); … } name SEC(".maps")`: everything is in BTF. */
export function btfMaps(elf: ElfFile, section: Section, btf: Btf | undefined): MapSpec[] {
  const symbols = mapSymbols(elf, section);
  if (symbols.length === 0) return [];
  if (!btf) throw new ObjectError("'.maps' section without BTF: compile with -g");
  const datasec = btf.typeByName('.maps', 'datasec');
  if (!datasec) throw new ObjectError("BTF has no DATASEC for '.maps'");
  const maps: MapSpec[] = [];
  for (const info of datasec.vars) {
    const variable = btf.type(info.type);
    if (variable.kind !== 'var') throw new ObjectError(`'.maps' DATASEC entry ${info.type} is not a VAR`);
    const symbol = symbols.find((s) => s.name === variable.name);
    if (!symbol) throw new ObjectError(`map '${variable.name}' has BTF but no ELF symbol`);
    const definition = btf.skipQualifiers(variable.type);
    if (definition.kind !== 'struct') throw new ObjectError(`map '${variable.name}' is not a struct`);
    maps.push(mapFromBtf(btf, variable.name, definition, symbol));
  }
  return maps;
}

function mapFromBtf(btf: Btf, name: string, definition: CompositeType, symbol: ElfSymbol): MapSpec {
  const map = baseMap(name, symbol.sectionIndex, symbol.value);
  // __uint(name, value) is `int (*name)[value]`: the number is an array length.
  const number = (memberType: number, member: string): number => {
    const pointer = btf.skipQualifiers(memberType);
    if (pointer.kind !== 'ptr') throw new ObjectError(`map '${name}': '${member}' is not declared with __uint()`);
    const array = btf.skipQualifiers(pointer.type);
    if (array.kind !== 'array') throw new ObjectError(`map '${name}': '${member}' is not declared with __uint()`);
    return array.nelems;
  };
  // __type(name, T) is `T *name`.
  const pointee = (memberType: number, member: string): number => {
    const pointer = btf.skipQualifiers(memberType);
    if (pointer.kind !== 'ptr') throw new ObjectError(`map '${name}': '${member}' is not declared with __type()`);
    return pointer.type;
  };
  for (const member of definition.members) {
    switch (member.name) {
      case 'type': map.type = number(member.type, member.name); break;
      case 'max_entries': map.maxEntries = number(member.type, member.name); break;
      case 'map_flags': map.flags = number(member.type, member.name); break;
      case 'numa_node': map.numaNode = number(member.type, member.name); break;
      case 'pinning': map.pinning = number(member.type, member.name); break;
      case 'map_extra': map.mapExtra = BigInt(number(member.type, member.name)); break;
      case 'key_size': map.keySize = number(member.type, member.name); break;
      case 'value_size': map.valueSize = number(member.type, member.name); break;
      case 'key': {
        map.btfKeyTypeId = pointee(member.type, member.name);
        map.keySize = btf.sizeof(map.btfKeyTypeId);
        break;
      }
      case 'value': {
        map.btfValueTypeId = pointee(member.type, member.name);
        map.valueSize = btf.sizeof(map.btfValueTypeId);
        break;
      }
      case 'values':
        throw new ObjectError(`map '${name}': initialised map-in-map and program arrays (values) are not supported yet`);
      default:
        throw new ObjectError(`map '${name}': unknown map attribute '${member.name}'`);
    }
  }
  if (map.type === 0) throw new ObjectError(`map '${name}' has no type`);
  return map;
}

export function dataKind(sectionName: string): Exclude<DataKind, 'kconfig'> | undefined {
  for (const kind of ['rodata', 'data', 'bss'] as const) {
    if (sectionName === `.${kind}` || sectionName.startsWith(`.${kind}.`)) return kind;
  }
  return undefined;
}

// The smallest page size Linux has; the running one is checked at load.
const MIN_PAGE_SIZE = 4096;
// The largest power of two max_entries (a u32) holds.
const MAX_RING_SIZE = 2 ** 31;

/**
 * Ring buffer sizes the kernel can never accept, refused while parsing: a
 * ring's max_entries is its data size, a power of two and at least a page.
 */
export function checkRingSize(map: MapSpec): void {
  if (map.type !== MapType.RINGBUF && map.type !== MapType.USER_RINGBUF) return;
  const size = map.maxEntries;
  // The range first: `&` works on int32s, where 2^32 + 4096 is 4096.
  if (!(Number.isInteger(size) && size >= MIN_PAGE_SIZE && size <= MAX_RING_SIZE) || (size & (size - 1)) !== 0) {
    const smaller = 2 ** Math.floor(Math.log2(Math.min(size, MAX_RING_SIZE)));
    const suggestion = !(size >= MIN_PAGE_SIZE) ? `at least ${MIN_PAGE_SIZE}` : smaller === MAX_RING_SIZE ? `at most ${MAX_RING_SIZE}` : `e.g. ${smaller} or ${smaller * 2}`;
    throw new ObjectError(`ring buffer '${map.name}': max_entries ${size} is not a power of two of at least one page (${suggestion})`);
  }
}

// The kernel's limit on an array map's value_size (array_map_alloc_check:
// E2BIG above INT_MAX). A data section is one such value, so anything larger
// can never load; checking here also keeps a `.bss`, which has no bytes in the
// file, from making us allocate whatever size its header claims.
const MAX_ARRAY_VALUE_SIZE = 2 ** 31 - 1;

/** A global data section as a one-element array map whose value is the section. */
export function dataMap(elf: ElfFile, section: Section, kind: DataKind, btf: Btf | undefined): MapSpec {
  if (section.size > MAX_ARRAY_VALUE_SIZE) {
    throw new ObjectError(`section ${section.name}: ${section.size} bytes is larger than a map value can be (${MAX_ARRAY_VALUE_SIZE})`);
  }
  const datasec = btf?.typeByName(section.name, 'datasec');
  const variables = new Map<string, VariableSpec>();
  for (const symbol of elf.symbols) {
    if (symbol.sectionIndex !== section.index || symbol.type !== STT_OBJECT || symbol.name === '') continue;
    if (symbol.value + symbol.size > section.size) {
      throw new ObjectError(`variable '${symbol.name}' [${symbol.value}, ${symbol.value + symbol.size}) lies outside ${section.name} (${section.size} bytes)`);
    }
    variables.set(symbol.name, { name: symbol.name, offset: symbol.value, size: symbol.size, typeId: 0 });
  }
  if (datasec && btf) {
    for (const info of datasec.vars) {
      const variable = btf.type(info.type);
      const known = variables.get(variable.name);
      if (variable.kind === 'var' && known) variables.set(known.name, { ...known, typeId: variable.type });
    }
  }
  const bytes = new Uint8Array(section.size);
  if (kind !== 'bss') bytes.set(section.data);
  const map = baseMap(section.name, section.index, 0);
  return {
    ...map,
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: section.size,
    maxEntries: 1,
    flags: BPF_F_MMAPABLE | (kind === 'rodata' ? BPF_F_RDONLY_PROG : 0),
    btfValueTypeId: datasec?.id ?? 0,
    data: { kind, bytes, variables },
  };
}
