// Converting between JS values and the bytes of a BTF type: integers (bigint
// for 64-bit), enums (by value or enumerator name), char arrays as strings,
// arrays, structs as plain objects. Used to set `.rodata` constants with their
// types checked, and to read global variables back.
import { decodeCString } from '../cstring.js';
import { BtfError, TsbpfError } from '../errors.js';
import type { ArrayType, Btf, BtfType, CompositeType, Member } from './btf.js';

const MAX_DEPTH = 32;
/**
 * JS values (numbers, strings, objects, array elements; an array counts itself
 * too) that decoding one value may build: a u32[2^24 - 1] (64 MiB) still
 * decodes, while arrays of zero-size elements by the billion — no bytes to run
 * out of — are refused before they exhaust the heap.
 */
export const MAX_VALUES = 1 << 24;

export function encodeValue(btf: Btf, typeId: number, value: unknown, what: string): Uint8Array {
  checkLayout(btf, typeId);
  const bytes = new Uint8Array(btf.sizeof(typeId));
  writeValue(btf, typeId, value, new DataView(bytes.buffer), 0, what);
  return bytes;
}

export function decodeValue(btf: Btf, typeId: number, bytes: Uint8Array, offset = 0): unknown {
  checkDecodable(btf, typeId);
  checkRoom(bytes.byteLength, offset, btf.sizeof(typeId), btf.skipQualifiers(typeId));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readValue(btf, typeId, view, offset);
}

/** Refuses types whose values cannot be decoded from their sizeof() bytes (see checkLayout) or would build more than MAX_VALUES values. */
export function checkDecodable(btf: Btf, typeId: number): void {
  const values = checkLayout(btf, typeId);
  if (values > MAX_VALUES) throw new BtfError(`a value of ${describe(btf.skipQualifiers(typeId))} decodes to ${values} values, more than ${MAX_VALUES}`);
}

/** Refuses bytes that end before a value of `size` bytes at `offset` does (checked once, so reads need no checks of their own). */
export function checkRoom(byteLength: number, offset: number, size: number, type: BtfType): void {
  if (!(offset >= 0 && byteLength - offset >= size)) {
    throw new TsbpfError(`${describe(type)} is ${size} bytes, but ${byteLength} bytes from offset ${offset} leave ${Math.max(byteLength - offset, 0)}`);
  }
}

/** Char arrays are strings (up to the NUL), not arrays of numbers. */
export function isCharArray(btf: Btf, type: ArrayType): boolean {
  const element = btf.skipQualifiers(type.type);
  return element.kind === 'int' && element.size === 1 && (element.char || element.name === 'char');
}

/** Bitfield members are ints or enums: a signed one is sign-extended. */
export function isSignedBitfield(type: BtfType): boolean {
  return (type.kind === 'int' || type.kind === 'enum' || type.kind === 'enum64') && type.signed;
}

/** An anonymous struct or union member lends its members to the object that holds it. */
export function lendsMembers(member: Member, type: BtfType): type is CompositeType {
  return member.name === '' && (type.kind === 'struct' || type.kind === 'union');
}

/** A bitfield `bitSize` bits wide at `bitOffset` bits from `at`: wider than 32 bits, a bigint, as 64-bit integers are. */
export function readBitfield(view: DataView, at: number, bitOffset: number, bitSize: number, signed: boolean): number | bigint {
  let value = 0n;
  const first = Math.floor(bitOffset / 8);
  const last = Math.floor((bitOffset + bitSize - 1) / 8);
  for (let i = last; i >= first; i--) value = (value << 8n) | BigInt(view.getUint8(at + i));
  value = (value >> BigInt(bitOffset - first * 8)) & ((1n << BigInt(bitSize)) - 1n);
  if (signed) value = BigInt.asIntN(bitSize, value);
  return bitSize > 32 ? value : Number(value);
}

/** How a type's values decode: `values` JS values, objects and arrays `height` levels deep, `names` the properties of a struct or union. */
interface Shape {
  readonly values: number;
  readonly height: number;
  readonly names: readonly string[];
}

/**
 * Checks that a value of `typeId` lies within its sizeof() bytes — every member
 * inside its struct or union, byte-aligned unless a bitfield, no bitfield wider
 * than its type — that no object gets a member name twice (C forbids it) and that
 * nesting stays within MAX_DEPTH levels; returns how many JS values decoding one
 * builds. Each type is measured once, so this is linear in the number of types
 * even where nesting makes the values exponential.
 */
export function checkLayout(btf: Btf, typeId: number): number {
  return new LayoutChecker(btf).shape(typeId, 0).values;
}

class LayoutChecker {
  private readonly shapes = new Map<number, Shape>();

  constructor(private readonly btf: Btf) {}

  shape(typeId: number, depth: number): Shape {
    if (depth > MAX_DEPTH) throw new BtfError(`type ${typeId} nests deeper than ${MAX_DEPTH} levels`);
    const type = this.btf.skipQualifiers(typeId);
    let shape = this.shapes.get(type.id);
    if (!shape) {
      shape = this.measure(type, depth);
      this.shapes.set(type.id, shape);
    }
    if (depth + shape.height > MAX_DEPTH) throw new BtfError(`${describe(type)} nests deeper than ${MAX_DEPTH} levels`);
    return shape;
  }

  private measure(type: BtfType, depth: number): Shape {
    if (type.kind === 'array' && !isCharArray(this.btf, type)) {
      const element = this.shape(type.type, depth + 1);
      return { values: 1 + type.nelems * element.values, height: element.height + 1, names: [] };
    }
    if (type.kind !== 'struct' && type.kind !== 'union') return { values: 1, height: 0, names: [] };
    let values = 1;
    let height = 0;
    const names = new Set<string>();
    const name = (key: string) => {
      if (names.has(key)) throw new BtfError(`${describe(type)} has two members named '${key}'`);
      names.add(key);
    };
    for (const member of type.members) {
      const memberType = this.btf.skipQualifiers(member.type);
      this.checkPlace(type, member, memberType);
      if (member.bitSize) {
        values += 1;
        name(member.name);
        continue;
      }
      const shape = this.shape(member.type, depth + 1);
      height = Math.max(height, shape.height + 1);
      if (lendsMembers(member, memberType)) {
        values += shape.values - 1;
        shape.names.forEach(name);
      } else {
        values += shape.values;
        name(member.name);
      }
    }
    return { values, height, names: [...names] };
  }

  private checkPlace(parent: CompositeType, member: Member, type: BtfType): void {
    const where = `${describe(parent)} member '${member.name}'`;
    if (member.bitSize) {
      if (type.kind !== 'int' && type.kind !== 'enum' && type.kind !== 'enum64') throw new BtfError(`${where}: a bitfield of ${describe(type)}`);
      if (member.bitSize > type.size * 8) throw new BtfError(`${where}: a ${member.bitSize}-bit bitfield of ${type.size}-byte ${describe(type)}`);
      if (member.bitOffset + member.bitSize > parent.size * 8) throw new BtfError(`${where}: bits ${member.bitOffset}..${member.bitOffset + member.bitSize - 1} end past its ${parent.size} bytes`);
      return;
    }
    if (member.bitOffset % 8) throw new BtfError(`${where}: at bit ${member.bitOffset}, not on a byte boundary`);
    const end = member.bitOffset / 8 + this.btf.sizeof(member.type);
    if (end > parent.size) throw new BtfError(`${where}: ends at byte ${end}, past its ${parent.size} bytes`);
  }
}

function writeValue(btf: Btf, typeId: number, value: unknown, view: DataView, at: number, what: string): void {
  const type = btf.skipQualifiers(typeId);
  const wrong = (expected: string): never => {
    throw new BtfError(`${what}: expected ${expected} for ${describe(type)}, got ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  };
  switch (type.kind) {
    case 'int':
    case 'enum':
    case 'enum64': {
      let number: bigint;
      if (typeof value === 'boolean') number = value ? 1n : 0n;
      else if (typeof value === 'number' && Number.isInteger(value)) number = BigInt(value);
      else if (typeof value === 'bigint') number = value;
      else if (typeof value === 'string' && type.kind !== 'int') {
        const named = type.values.find((v) => v.name === value);
        if (!named) throw new BtfError(`${what}: '${value}' is not an enumerator of ${describe(type)} (${type.values.map((v) => v.name).join(', ')})`);
        number = named.value;
      } else return wrong('an integer');
      const bits = type.size * 8;
      const signed = type.kind === 'int' ? type.signed : type.signed || number < 0n;
      const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
      const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
      if (number < min || number > max) throw new BtfError(`${what}: ${number} does not fit in ${describe(type)} (${min}..${max})`);
      writeInt(view, at, type.size, number);
      return;
    }
    case 'ptr':
      if (typeof value !== 'bigint' && typeof value !== 'number') return wrong('an address');
      view.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);
      return;
    case 'float':
      if (typeof value !== 'number') return wrong('a number');
      if (type.size === 4) view.setFloat32(at, value, true);
      else if (type.size === 8) view.setFloat64(at, value, true);
      else throw new BtfError(`${what}: ${type.size}-byte floats are not supported`);
      return;
    case 'array': {
      const element = btf.skipQualifiers(type.type);
      const elementSize = btf.sizeof(type.type);
      if (typeof value === 'string' && element.kind === 'int' && element.size === 1) {
        const text = new TextEncoder().encode(value);
        if (text.length >= type.nelems) throw new BtfError(`${what}: '${value}' is ${text.length} bytes; ${describe(type)} holds at most ${type.nelems - 1} plus NUL`);
        new Uint8Array(view.buffer, view.byteOffset + at, type.nelems).fill(0).set(text);
        return;
      }
      if (!Array.isArray(value) && !ArrayBuffer.isView(value)) return wrong('an array');
      const items = Array.from(value as ArrayLike<unknown>);
      if (items.length > type.nelems) throw new BtfError(`${what}: ${items.length} elements for ${describe(type)}`);
      items.forEach((item, i) => writeValue(btf, type.type, item, view, at + i * elementSize, `${what}[${i}]`));
      return;
    }
    case 'struct': {
      if (typeof value !== 'object' || value === null) return wrong('an object');
      const record = value as Record<string, unknown>;
      const known = new Set(type.members.map((m) => m.name));
      for (const key of Object.keys(record)) if (!known.has(key)) throw new BtfError(`${what}: ${describe(type)} has no member '${key}'`);
      for (const member of type.members) {
        if (!Object.hasOwn(record, member.name)) continue;
        if (member.bitSize) throw new BtfError(`${what}.${member.name}: bitfields cannot be set`);
        writeValue(btf, member.type, record[member.name], view, at + member.bitOffset / 8, `${what}.${member.name}`);
      }
      return;
    }
    default:
      throw new BtfError(`${what}: values of ${describe(type)} cannot be set`);
  }
}

function readValue(btf: Btf, typeId: number, view: DataView, at: number): unknown {
  const type = btf.skipQualifiers(typeId);
  switch (type.kind) {
    case 'int':
      if (type.bool) return view.getUint8(at) !== 0;
      return readInt(view, at, type.size, type.signed);
    case 'enum':
    case 'enum64':
      return readInt(view, at, type.size, type.signed);
    case 'ptr':
      return view.getBigUint64(at, true);
    case 'float':
      return type.size === 4 ? view.getFloat32(at, true) : view.getFloat64(at, true);
    case 'array': {
      if (isCharArray(btf, type)) return decodeCString(new Uint8Array(view.buffer, view.byteOffset + at, type.nelems));
      const size = btf.sizeof(type.type);
      return Array.from({ length: type.nelems }, (_, i) => readValue(btf, type.type, view, at + i * size));
    }
    case 'struct':
    case 'union': {
      const result: Record<string, unknown> = {};
      readMembers(btf, type.members, view, at, result);
      return result;
    }
    default:
      throw new BtfError(`values of ${describe(type)} cannot be read`);
  }
}

function readMembers(btf: Btf, members: readonly Member[], view: DataView, at: number, result: Record<string, unknown>): void {
  for (const member of members) {
    const memberType = btf.skipQualifiers(member.type);
    if (member.bitSize) {
      setOwn(result, member.name, readBitfield(view, at, member.bitOffset, member.bitSize, isSignedBitfield(memberType)));
    } else if (lendsMembers(member, memberType)) {
      readMembers(btf, memberType.members, view, at + member.bitOffset / 8, result);
    } else {
      setOwn(result, member.name, readValue(btf, member.type, view, at + member.bitOffset / 8));
    }
  }
}

/** A member named `__proto__` is a property like any other: plain assignment would set the object's prototype instead. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function readInt(view: DataView, at: number, size: number, signed: boolean): number | bigint {
  switch (size) {
    case 1: return signed ? view.getInt8(at) : view.getUint8(at);
    case 2: return signed ? view.getInt16(at, true) : view.getUint16(at, true);
    case 4: return signed ? view.getInt32(at, true) : view.getUint32(at, true);
    case 8: return signed ? view.getBigInt64(at, true) : view.getBigUint64(at, true);
    default: {
      let value = 0n;
      for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(view.getUint8(at + i));
      return signed ? BigInt.asIntN(size * 8, value) : value;
    }
  }
}

function writeInt(view: DataView, at: number, size: number, value: bigint): void {
  let unsigned = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++, unsigned >>= 8n) view.setUint8(at + i, Number(unsigned & 0xffn));
}

function describe(type: BtfType): string {
  return type.name ? `${type.kind} ${type.name}` : `anonymous ${type.kind}`;
}
