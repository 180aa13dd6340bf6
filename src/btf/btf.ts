// BTF: the type information clang puts in `.BTF` and the kernel exposes in
// /sys/kernel/btf. Parsing is lazy: the constructor only validates the header
// and records where each type starts (one pass over the bytes); a type is
// decoded when first asked for, and names are found by searching the string
// section. That keeps the kernel's 126k types cheap to open.
import { decodeCStringAt } from '../cstring.js';
import { BtfError } from '../errors.js';

export const BTF_MAGIC = 0xeb9f;

export const Kind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;
export type KindName = Lowercase<keyof typeof Kind>;
const kindNames: KindName[] = [];
for (const [name, value] of Object.entries(Kind)) kindNames[value] = name.toLowerCase() as KindName;

export interface Member {
  readonly name: string;
  readonly type: number;
  readonly bitOffset: number;
  /** Non-zero for bitfields. */
  readonly bitSize: number;
}

export interface Param {
  readonly name: string;
  readonly type: number;
}

export interface EnumValue {
  readonly name: string;
  readonly value: bigint;
}

export interface VarSecInfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

interface Base<K extends KindName | 'void'> {
  readonly id: number;
  readonly kind: K;
  readonly name: string;
}
export interface IntType extends Base<'int'> {
  readonly size: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
  readonly bitOffset: number;
  readonly bits: number;
}
export interface RefType extends Base<'ptr' | 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'> {
  readonly type: number;
}
export interface ArrayType extends Base<'array'> {
  readonly type: number;
  readonly indexType: number;
  readonly nelems: number;
}
export interface CompositeType extends Base<'struct' | 'union'> {
  readonly size: number;
  readonly members: readonly Member[];
}
export interface EnumType extends Base<'enum' | 'enum64'> {
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly EnumValue[];
}
export interface FwdType extends Base<'fwd'> {
  readonly union: boolean;
}
export interface FuncType extends Base<'func'> {
  readonly type: number;
  /** 0 static, 1 global, 2 extern */
  readonly linkage: number;
}
export interface FuncProtoType extends Base<'func_proto'> {
  readonly returnType: number;
  readonly params: readonly Param[];
}
export interface VarType extends Base<'var'> {
  readonly type: number;
  /** 0 static, 1 global, 2 extern */
  readonly linkage: number;
}
export interface DatasecType extends Base<'datasec'> {
  readonly size: number;
  readonly vars: readonly VarSecInfo[];
}
export interface FloatType extends Base<'float'> {
  readonly size: number;
}
export interface DeclTagType extends Base<'decl_tag'> {
  readonly type: number;
  /** -1 when the tag applies to the type itself, else the member or parameter index. */
  readonly componentIndex: number;
}
export interface VoidType extends Base<'void'> {}

export type BtfType =
  | VoidType
  | IntType
  | RefType
  | ArrayType
  | CompositeType
  | EnumType
  | FwdType
  | FuncType
  | FuncProtoType
  | VarType
  | DatasecType
  | FloatType
  | DeclTagType;

/** The BtfType variant whose `kind` can be K (e.g. CompositeType for 'struct'). */
export type TypeOfKind<K extends KindName> = BtfType extends infer T ? (T extends { kind: infer TK } ? (K extends TK ? T : never) : never) : never;

const HEADER_MIN = 24;
const TYPE_HEADER = 12;
/** Bounds chains of typedefs/modifiers; deeper chains are cycles or hostile input. */
const MAX_RESOLVE_DEPTH = 32;

export class Btf {
  readonly littleEndian: boolean;
  /** Ids this BTF defines: [firstId, firstId + count). Split BTF continues its base's ids. */
  readonly firstId: number;
  readonly count: number;
  private readonly view: DataView;
  private readonly typesStart: number;
  private readonly typesEnd: number;
  private readonly stringsStart: number;
  private readonly stringsLength: number;
  private readonly offsets: Uint32Array;
  /** Types decoded so far, by index (a Map: a program asks for a few hundred of the kernel's 126k). */
  private readonly decoded = new Map<number, BtfType>();
  private readonly nameCache = new Map<string, number[]>();
  private readonly essentialNameCache = new Map<string, number[]>();
  /** The type section as 32-bit words, when byte order and alignment allow (the fast path). */
  private readonly words: Uint32Array | undefined;

  constructor(
    readonly bytes: Uint8Array,
    readonly base?: Btf,
  ) {
    if (bytes.length < HEADER_MIN) throw new BtfError(`BTF too short for a header (${bytes.length} bytes)`);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magicLE = this.view.getUint16(0, true);
    if (magicLE === BTF_MAGIC) this.littleEndian = true;
    else if (this.view.getUint16(0, false) === BTF_MAGIC) this.littleEndian = false;
    else throw new BtfError(`bad BTF magic 0x${magicLE.toString(16)}`);
    const version = bytes[2];
    if (version !== 1) throw new BtfError(`unsupported BTF version ${version}`);
    const hdrLen = this.u32(4);
    if (hdrLen < HEADER_MIN || hdrLen > bytes.length) throw new BtfError(`bad BTF header length ${hdrLen}`);
    const typeOff = this.u32(8);
    const typeLen = this.u32(12);
    const strOff = this.u32(16);
    const strLen = this.u32(20);
    this.typesStart = hdrLen + typeOff;
    this.typesEnd = this.typesStart + typeLen;
    this.stringsStart = hdrLen + strOff;
    this.stringsLength = strLen;
    if (this.typesStart + typeLen > bytes.length) throw new BtfError(`BTF type section (${typeLen} bytes at ${this.typesStart}) runs past the end (${bytes.length})`);
    if (this.stringsStart + strLen > bytes.length) throw new BtfError(`BTF string section (${strLen} bytes at ${this.stringsStart}) runs past the end (${bytes.length})`);
    if (strLen > 0 && bytes[this.stringsStart + strLen - 1] !== 0) throw new BtfError('BTF string section is not NUL-terminated');
    if (!base && strLen > 0 && bytes[this.stringsStart] !== 0) throw new BtfError('BTF string section does not start with an empty string');
    this.firstId = base ? base.firstId + base.count : 1;
    this.words = this.littleEndian && (bytes.byteOffset + this.typesStart) % 4 === 0
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, (this.typesStart + typeLen) >>> 2)
      : undefined;
    this.offsets = this.indexTypes(this.typesStart, typeLen);
    this.count = this.offsets.length;
  }

  /** Bytes in the string section (split BTF's string offsets start here). */
  get stringSectionSize(): number {
    return this.stringsLength;
  }

  /** Number of the last id plus one: ids range over [1, end). */
  get end(): number {
    return this.firstId + this.count;
  }

  /**
   * One pass recording where each type starts; checks each type fits. The
   * kernel's 126k types make this the cost of a cold parse, so the loop reads
   * 32-bit words straight from a Uint32Array when byte order and alignment
   * allow (several times faster than DataView calls, before and after the
   * JIT) and sizes come from typed tables.
   */
  private indexTypes(start: number, length: number): Uint32Array {
    const words = this.words;
    const offsets = new Uint32Array(Math.ceil(length / TYPE_HEADER));
    let count = 0;
    const end = start + length;
    for (let at = start; at < end; ) {
      if (at + TYPE_HEADER > end) throw new BtfError(`truncated BTF type header at offset ${at - start}`);
      const info = words ? words[(at + 4) >>> 2]! : this.u32(at + 4);
      const kind = (info >>> 24) & 0x1f;
      const fixed = TRAILING_FIXED[kind]!;
      if (fixed < 0) throw new BtfError(`BTF type ${this.firstId + count} has unknown kind ${kind}`);
      const next = at + TYPE_HEADER + fixed + TRAILING_PER_ITEM[kind]! * (info & 0xffff);
      if (next > end) throw new BtfError(`BTF type ${this.firstId + count} (${kindNames[kind]}, vlen ${info & 0xffff}) runs past the end of the type section`);
      offsets[count++] = at;
      at = next;
    }
    return offsets.subarray(0, count);
  }

  /** The string at `offset` in the string section (split BTF: offsets continue the base's). */
  string(offset: number): string {
    if (this.base) {
      const baseLength = this.base.stringsLength;
      if (offset < baseLength) return this.base.string(offset);
      offset -= baseLength;
    }
    if (offset >= this.stringsLength) throw new BtfError(`BTF string offset ${offset} is past the end of the string section`);
    return decodeCStringAt(this.bytes, this.stringsStart + offset, this.stringsLength - offset);
  }

  /** The type with this id; id 0 is void. */
  type(id: number): BtfType {
    if (id === 0) return VOID;
    if (id < this.firstId) {
      if (this.base) return this.base.type(id);
    } else if (id < this.end) {
      const index = id - this.firstId;
      let type = this.decoded.get(index);
      if (!type) this.decoded.set(index, (type = this.decode(id, this.offsets[index]!)));
      return type;
    }
    throw new BtfError(`BTF type id ${id} does not exist (ids end at ${this.end - 1})`);
  }

  /** Byte offset in `bytes` where this BTF's own type `id` is encoded. */
  typeOffset(id: number): number {
    const at = this.offsets[id - this.firstId];
    if (at === undefined) throw new BtfError(`BTF type id ${id} is not defined here`);
    return at;
  }

  /** Kind of a type without decoding it. */
  kindOf(id: number): KindName | 'void' {
    if (id === 0) return 'void';
    if (id < this.firstId && this.base) return this.base.kindOf(id);
    const at = this.offsets[id - this.firstId];
    if (at === undefined) throw new BtfError(`BTF type id ${id} does not exist`);
    return kindNames[(this.u32(at + 4) >>> 24) & 0x1f]!;
  }

  /** Ids of every type with this name (this BTF and its base), optionally of one kind. */
  idsByName(name: string, kind?: KindName): number[] {
    let ids = this.nameCache.get(name);
    if (!ids) {
      ids = this.ownTypesNamed(this.nameOffsets(name, false));
      this.nameCache.set(name, ids);
    }
    const all = this.base ? [...this.base.idsByName(name), ...ids] : ids;
    return kind ? all.filter((id) => this.kindOf(id) === kind) : all;
  }

  /**
   * Ids of every type whose name is `name`, or `name` plus a `___flavour`
   * suffix (how CO-RE names variants of one kernel type), in this BTF and its base.
   */
  idsByEssentialName(name: string): number[] {
    let own = this.essentialNameCache.get(name);
    if (!own) {
      own = this.ownTypesNamed(this.nameOffsets(name, true));
      this.essentialNameCache.set(name, own);
    }
    return this.base ? [...this.base.idsByEssentialName(name), ...own] : own;
  }

  /*
   * Finding types by name: rather than visiting the name of each of the
   * kernel's 126k types (a JS loop that a cold process runs in the
   * interpreter), two native substring searches — Buffer.indexOf, at memory
   * speed — find the name in the string section, then the types whose name_off
   * holds its offset.
   */

  /**
   * name_off values (split BTF: its own strings follow its base's) of the
   * strings equal to `name` or, when `flavoured`, whose essential name is `name`.
   */
  private nameOffsets(name: string, flavoured: boolean): number[] {
    if (name === '') return [];
    const wanted = Buffer.from(`\0${name}`);
    const offsets = this.base ? this.base.stringOffsets(wanted, name, flavoured) : [];
    const baseLength = this.base ? this.base.stringsLength : 0;
    for (const offset of this.stringOffsets(wanted, name, flavoured)) offsets.push(baseLength + offset);
    return offsets;
  }

  /** nameOffsets() in this BTF's own string section; `wanted` is NUL + name. */
  private stringOffsets(wanted: Buffer, name: string, flavoured: boolean): number[] {
    const { bytes, stringsStart, stringsLength } = this;
    const strings = Buffer.from(bytes.buffer, bytes.byteOffset + stringsStart, stringsLength);
    const offsets: number[] = [];
    const consider = (offset: number) => {
      const next = strings[offset + wanted.length - 1];
      const matches = next === 0
        ? !flavoured || essentialName(name) === name
        : flavoured && next === UNDERSCORE && essentialName(decodeCStringAt(strings, offset, stringsLength - offset)) === name;
      if (matches) offsets.push(offset);
    };
    // Every string but the first follows the NUL that ends the one before it.
    if (strings.subarray(0, wanted.length - 1).equals(wanted.subarray(1))) consider(0);
    for (let at = strings.indexOf(wanted); at >= 0; at = strings.indexOf(wanted, at + 1)) consider(at + 1);
    return offsets;
  }

  /** Ids of this BTF's own types whose name_off is one of `nameOffsets`, in id order. */
  private ownTypesNamed(nameOffsets: readonly number[]): number[] {
    const ids: number[] = [];
    const { bytes, offsets } = this;
    const types = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pattern = Buffer.alloc(4);
    for (const nameOffset of nameOffsets) {
      if (this.littleEndian) pattern.writeUInt32LE(nameOffset);
      else pattern.writeUInt32BE(nameOffset);
      // The 4 bytes also turn up inside other fields; only hits where a type starts count.
      for (let at = types.indexOf(pattern, this.typesStart); at >= 0 && at < this.typesEnd; at = types.indexOf(pattern, at + 1)) {
        const index = binarySearch(offsets, at);
        if (index >= 0) ids.push(this.firstId + index);
      }
    }
    return nameOffsets.length > 1 ? ids.sort((a, b) => a - b) : ids;
  }

  /** The single type with this name and kind, or undefined. */
  typeByName<K extends KindName>(name: string, kind: K): TypeOfKind<K> | undefined {
    const id = this.idsByName(name, kind)[0];
    return id === undefined ? undefined : (this.type(id) as TypeOfKind<K>);
  }

  /** Follows typedefs and qualifiers (const, volatile, restrict, type tags). */
  skipQualifiers(id: number): BtfType {
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const type = this.type(id);
      switch (type.kind) {
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
          id = type.type;
          continue;
        default:
          return type;
      }
    }
    throw new BtfError(`BTF type ${id}: typedef/qualifier chain deeper than ${MAX_RESOLVE_DEPTH} (cycle?)`);
  }

  /** Size in bytes of a type, as sizeof() would give it. */
  sizeof(id: number): number {
    let multiplier = 1;
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const type = this.skipQualifiers(id);
      switch (type.kind) {
        case 'int':
        case 'struct':
        case 'union':
        case 'enum':
        case 'enum64':
        case 'datasec':
        case 'float':
          return multiplier * type.size;
        case 'ptr':
          return multiplier * 8;
        case 'array':
          multiplier *= type.nelems;
          if (multiplier > 0xffffffff) throw new BtfError(`BTF array type ${type.id} is larger than 4 GiB`);
          id = type.type;
          continue;
        case 'var':
          id = type.type;
          continue;
        default:
          throw new BtfError(`BTF type ${type.id} (${type.kind}) has no size`);
      }
    }
    throw new BtfError(`BTF type ${id}: array nesting deeper than ${MAX_RESOLVE_DEPTH} (cycle?)`);
  }

  private decode(id: number, at: number): BtfType {
    const name = this.string(this.u32(at));
    const info = this.u32(at + 4);
    const kind = kindNames[(info >>> 24) & 0x1f]!;
    const vlen = info & 0xffff;
    const kflag = info >>> 31 === 1;
    const sizeOrType = this.u32(at + 8);
    const data = at + TYPE_HEADER;
    const ref = (typeId: number) => this.checkId(typeId, id);
    switch (kind) {
      case 'int': {
        const encoding = this.u32(data);
        const flags = (encoding >>> 24) & 0xf;
        return { id, kind, name, size: sizeOrType, signed: (flags & 1) !== 0, char: (flags & 2) !== 0, bool: (flags & 4) !== 0, bitOffset: (encoding >>> 16) & 0xff, bits: encoding & 0xff };
      }
      case 'ptr':
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        return { id, kind, name, type: ref(sizeOrType) };
      case 'array':
        return { id, kind, name, type: ref(this.u32(data)), indexType: ref(this.u32(data + 4)), nelems: this.u32(data + 8) };
      case 'struct':
      case 'union': {
        // Arrays of the exact size: push() would leave spare capacity on every one of the kernel's types.
        const members = new Array<Member>(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = data + i * 12;
          const offset = this.u32(m + 8);
          members[i] = {
            name: this.string(this.u32(m)),
            type: ref(this.u32(m + 4)),
            bitOffset: kflag ? offset & 0xffffff : offset,
            bitSize: kflag ? offset >>> 24 : 0,
          };
        }
        return { id, kind, name, size: sizeOrType, members };
      }
      case 'enum': {
        const values = new Array<EnumValue>(vlen);
        for (let i = 0; i < vlen; i++) {
          const raw = this.u32(data + i * 8 + 4);
          values[i] = { name: this.string(this.u32(data + i * 8)), value: BigInt(kflag ? raw | 0 : raw) };
        }
        return { id, kind, name, size: sizeOrType, signed: kflag, values };
      }
      case 'enum64': {
        const values = new Array<EnumValue>(vlen);
        for (let i = 0; i < vlen; i++) {
          const e = data + i * 12;
          const value = (BigInt(this.u32(e + 8)) << 32n) | BigInt(this.u32(e + 4));
          values[i] = { name: this.string(this.u32(e)), value: kflag ? BigInt.asIntN(64, value) : value };
        }
        return { id, kind, name, size: sizeOrType, signed: kflag, values };
      }
      case 'fwd':
        return { id, kind, name, union: kflag };
      case 'func':
        return { id, kind, name, type: ref(sizeOrType), linkage: vlen };
      case 'func_proto': {
        const params = new Array<Param>(vlen);
        for (let i = 0; i < vlen; i++) params[i] = { name: this.string(this.u32(data + i * 8)), type: ref(this.u32(data + i * 8 + 4)) };
        return { id, kind, name, returnType: ref(sizeOrType), params };
      }
      case 'var':
        return { id, kind, name, type: ref(sizeOrType), linkage: this.u32(data) };
      case 'datasec': {
        const vars = new Array<VarSecInfo>(vlen);
        for (let i = 0; i < vlen; i++) {
          const v = data + i * 12;
          vars[i] = { type: ref(this.u32(v)), offset: this.u32(v + 4), size: this.u32(v + 8) };
        }
        return { id, kind, name, size: sizeOrType, vars };
      }
      case 'float':
        return { id, kind, name, size: sizeOrType };
      case 'decl_tag':
        return { id, kind, name, type: ref(sizeOrType), componentIndex: this.view.getInt32(data, this.littleEndian) };
    }
    throw new BtfError(`BTF type ${id} has unknown kind`);
  }

  private checkId(typeId: number, from: number): number {
    if (typeId >= this.end) throw new BtfError(`BTF type ${from} refers to type ${typeId}, which does not exist`);
    return typeId;
  }

  private u32(at: number): number {
    return this.view.getUint32(at, this.littleEndian);
  }
}

const VOID: VoidType = { id: 0, kind: 'void', name: 'void' };
const UNDERSCORE = 0x5f;

/** Index of `value` in the ascending `sorted`, or −1. */
function binarySearch(sorted: Uint32Array, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = sorted[middle]!;
    if (found === value) return middle;
    if (found < value) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

/** `task_struct___v2` → `task_struct`: CO-RE ignores a "flavour" suffix after the last `___`. */
export function essentialName(name: string): string {
  // Greedy: the separator found is the last one with a non-underscore on both sides.
  const flavoured = /^(.*[^_])___[^_]/s.exec(name);
  return flavoured ? flavoured[1]! : name;
}

/** Bytes after the 12-byte common header: fixed part plus vlen × per-item part, by kind (fixed −1: unknown kind). */
const TRAILING_FIXED = new Int8Array(32).fill(-1);
const TRAILING_PER_ITEM = new Uint8Array(32);
for (const kind of [Kind.PTR, Kind.FWD, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC, Kind.FLOAT, Kind.TYPE_TAG]) TRAILING_FIXED[kind] = 0;
for (const kind of [Kind.INT, Kind.VAR, Kind.DECL_TAG]) TRAILING_FIXED[kind] = 4;
TRAILING_FIXED[Kind.ARRAY] = 12;
for (const kind of [Kind.STRUCT, Kind.UNION, Kind.DATASEC, Kind.ENUM64]) {
  TRAILING_FIXED[kind] = 0;
  TRAILING_PER_ITEM[kind] = 12;
}
for (const kind of [Kind.ENUM, Kind.FUNC_PROTO]) {
  TRAILING_FIXED[kind] = 0;
  TRAILING_PER_ITEM[kind] = 8;
}
