// Converting between JS values and the bytes of a BTF type: integers (bigint
// for 64-bit), enums (by value or enumerator name), char arrays as strings,
// arrays, structs as plain objects. Used to set `.rodata` constants with their
// types checked, and to read global variables back.
import { decodeCString } from '../cstring.js';
import { BtfError } from '../errors.js';
import type { Btf, BtfType } from './btf.js';

const MAX_DEPTH = 32;

export function encodeValue(btf: Btf, typeId: number, value: unknown, what: string): Uint8Array {
  const bytes = new Uint8Array(btf.sizeof(typeId));
  writeValue(btf, typeId, value, new DataView(bytes.buffer), 0, what, 0);
  return bytes;
}

export function decodeValue(btf: Btf, typeId: number, bytes: Uint8Array, offset = 0): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readValue(btf, typeId, view, offset, 0);
}

function writeValue(btf: Btf, typeId: number, value: unknown, view: DataView, at: number, what: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new BtfError(`${what}: type nesting too deep`);
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
      items.forEach((item, i) => writeValue(btf, type.type, item, view, at + i * elementSize, `${what}[${i}]`, depth + 1));
      return;
    }
    case 'struct': {
      if (typeof value !== 'object' || value === null) return wrong('an object');
      const record = value as Record<string, unknown>;
      const known = new Set(type.members.map((m) => m.name));
      for (const key of Object.keys(record)) if (!known.has(key)) throw new BtfError(`${what}: ${describe(type)} has no member '${key}'`);
      for (const member of type.members) {
        if (!(member.name in record)) continue;
        if (member.bitSize || member.bitOffset % 8) throw new BtfError(`${what}.${member.name}: bitfields cannot be set`);
        writeValue(btf, member.type, record[member.name], view, at + member.bitOffset / 8, `${what}.${member.name}`, depth + 1);
      }
      return;
    }
    default:
      throw new BtfError(`${what}: values of ${describe(type)} cannot be set`);
  }
}

function readValue(btf: Btf, typeId: number, view: DataView, at: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new BtfError('type nesting too deep');
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
      const element = btf.skipQualifiers(type.type);
      if (element.kind === 'int' && element.size === 1 && (element.char || element.name === 'char')) {
        return decodeCString(new Uint8Array(view.buffer, view.byteOffset + at, type.nelems));
      }
      const size = btf.sizeof(type.type);
      return Array.from({ length: type.nelems }, (_, i) => readValue(btf, type.type, view, at + i * size, depth + 1));
    }
    case 'struct':
    case 'union': {
      const result: Record<string, unknown> = {};
      for (const member of type.members) {
        if (member.bitSize) {
          result[member.name] = readBitfield(view, at, member.bitOffset, member.bitSize);
        } else if (member.name === '') {
          Object.assign(result, readValue(btf, member.type, view, at + member.bitOffset / 8, depth + 1));
        } else {
          result[member.name] = readValue(btf, member.type, view, at + member.bitOffset / 8, depth + 1);
        }
      }
      return result;
    }
    default:
      throw new BtfError(`values of ${describe(type)} cannot be read`);
  }
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

function readBitfield(view: DataView, at: number, bitOffset: number, bitSize: number): number {
  let value = 0n;
  const first = Math.floor(bitOffset / 8);
  const last = Math.floor((bitOffset + bitSize - 1) / 8);
  for (let i = last; i >= first; i--) value = (value << 8n) | BigInt(view.getUint8(at + i));
  return Number((value >> BigInt(bitOffset - first * 8)) & ((1n << BigInt(bitSize)) - 1n));
}

function describe(type: BtfType): string {
  return type.name ? `${type.kind} ${type.name}` : `anonymous ${type.kind}`;
}
