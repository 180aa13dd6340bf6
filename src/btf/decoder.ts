// Record decoders generated from BTF: for a struct type, one JS function that
// reads every field at its fixed offset and returns a plain object — numbers,
// bigints for 64-bit integers and pointers, strings from char arrays (up to
// the NUL), arrays, nested objects, and unions as DataViews over their bytes.
// The function is compiled once per type (new Function), so decoding a record
// is a straight run of DataView reads with no lookups.
import { decodeCStringAt } from '../cstring.js';
import { BtfError } from '../errors.js';
import type { Btf, Member } from './btf.js';

export type RecordDecoder = (view: DataView, offset: number) => Record<string, unknown>;

const MAX_DEPTH = 16;
/** Arrays longer than this are read by a loop rather than written out element by element. */
const UNROLL_LIMIT = 16;

// Bytes of the buffer records were last decoded from: records of a ring all
// share one buffer, so strings are read without a new view per record.
let lastBuffer: ArrayBufferLike | undefined;
let lastBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

// 16-byte char arrays — task comm names (TASK_COMM_LEN) above all — repeat
// from record to record: a direct-mapped cache keyed by all 16 bytes turns
// most of them into four loads and compares (~20 ns instead of ~120).
const COMM_LENGTH = 16;
const CACHE_SLOTS = 256;
const cachedWords = new Uint32Array(CACHE_SLOTS * 4);
// The 16 bytes the key was read from, decoded from here: memory that changes
// under us (a live map value) cannot pair a key with another string.
const commWords = new Uint32Array(4);
const commBytes = new Uint8Array(commWords.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const cachedStrings: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

function decodeString(view: DataView, at: number, length: number): string {
  if (view.buffer !== lastBuffer) {
    lastBuffer = view.buffer;
    lastBytes = new Uint8Array(view.buffer);
  }
  return decodeCStringAt(lastBytes, view.byteOffset + at, length);
}

function swap32(word: number): number {
  return (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0;
}

const helpers = {
  string(view: DataView, at: number, length: number): string {
    if (length !== COMM_LENGTH) return decodeString(view, at, length);
    const w0 = view.getUint32(at, true);
    const w1 = view.getUint32(at + 4, true);
    const w2 = view.getUint32(at + 8, true);
    const w3 = view.getUint32(at + 12, true);
    const slot = (w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 17) ^ Math.imul(w3, 7)) & (CACHE_SLOTS - 1);
    const key = slot * 4;
    const cached = cachedStrings[slot];
    if (cached !== undefined && cachedWords[key] === w0 && cachedWords[key + 1] === w1 && cachedWords[key + 2] === w2 && cachedWords[key + 3] === w3) {
      return cached;
    }
    commWords[0] = w0;
    commWords[1] = w1;
    commWords[2] = w2;
    commWords[3] = w3;
    if (!littleEndian) for (let i = 0; i < 4; i++) commWords[i] = swap32(commWords[i]!);
    const text = decodeCStringAt(commBytes, 0, COMM_LENGTH);
    cachedWords[key] = w0;
    cachedWords[key + 1] = w1;
    cachedWords[key + 2] = w2;
    cachedWords[key + 3] = w3;
    cachedStrings[slot] = text;
    return text;
  },
  array(length: number, stride: number, at: number, read: (at: number) => unknown): unknown[] {
    const out = new Array(length);
    for (let i = 0; i < length; i++) out[i] = read(at + i * stride);
    return out;
  },
  view(view: DataView, at: number, length: number): DataView {
    return new DataView(view.buffer, view.byteOffset + at, length);
  },
  bits(view: DataView, at: number, bitOffset: number, bitSize: number, signed: boolean): number {
    let value = 0n;
    const first = Math.floor(bitOffset / 8);
    const last = Math.floor((bitOffset + bitSize - 1) / 8);
    for (let i = last; i >= first; i--) value = (value << 8n) | BigInt(view.getUint8(at + i));
    value = (value >> BigInt(bitOffset - first * 8)) & ((1n << BigInt(bitSize)) - 1n);
    return Number(signed ? BigInt.asIntN(bitSize, value) : value);
  },
};

/** Compiles a decoder for the struct (or union) `typeId` of `btf`. */
export function compileDecoder(btf: Btf, typeId: number): RecordDecoder {
  const type = btf.skipQualifiers(typeId);
  if (type.kind !== 'struct' && type.kind !== 'union') throw new BtfError(`records are structs or unions, not ${type.kind} ${type.name}`);
  const body = `return ${expression(btf, typeId, 'o', 0)};`;
  const compiled = new Function('v', 'o', 'h', body) as (view: DataView, offset: number, h: typeof helpers) => Record<string, unknown>;
  return (view, offset) => compiled(view, offset, helpers);
}

/** JS source that reads the value of type `typeId` at byte offset `at` (an expression over `o`). */
function expression(btf: Btf, typeId: number, at: string, depth: number): string {
  if (depth > MAX_DEPTH) throw new BtfError(`type ${typeId} nests deeper than ${MAX_DEPTH} levels`);
  const type = btf.skipQualifiers(typeId);
  switch (type.kind) {
    case 'int':
      if (type.bool) return `v.getUint8(${at}) !== 0`;
      return integerRead(type.size, type.signed, at);
    case 'enum':
    case 'enum64':
      return integerRead(type.size, type.signed, at);
    case 'ptr':
      return `v.getBigUint64(${at}, true)`;
    case 'float':
      if (type.size !== 4 && type.size !== 8) throw new BtfError(`${type.size}-byte float ${type.name} cannot be decoded`);
      return `v.getFloat${type.size * 8}(${at}, true)`;
    case 'array': {
      const element = btf.skipQualifiers(type.type);
      if (element.kind === 'int' && element.size === 1 && (element.char || element.name === 'char')) {
        return `h.string(v, ${at}, ${type.nelems})`;
      }
      const stride = btf.sizeof(type.type);
      if (type.nelems <= UNROLL_LIMIT) {
        return `[${Array.from({ length: type.nelems }, (_, i) => expression(btf, type.type, `${at} + ${i * stride}`, depth + 1)).join(', ')}]`;
      }
      return `h.array(${type.nelems}, ${stride}, ${at}, (o) => ${expression(btf, type.type, 'o', depth + 1)})`;
    }
    case 'struct':
      return `({ ${fields(btf, type.members, at, depth)} })`;
    case 'union':
      return `h.view(v, ${at}, ${type.size})`;
    default:
      throw new BtfError(`values of ${type.kind} ${type.name} cannot be decoded`);
  }
}

/** `name: read, …` for members at `at`; an anonymous struct or union lends its members to the enclosing object. */
function fields(btf: Btf, members: readonly Member[], at: string, depth: number): string {
  const parts: string[] = [];
  for (const member of members) {
    const memberAt = `${at} + ${Math.floor(member.bitOffset / 8)}`;
    const memberType = btf.skipQualifiers(member.type);
    if (member.bitSize) {
      const signed = memberType.kind === 'int' && memberType.signed;
      parts.push(`${JSON.stringify(member.name)}: h.bits(v, ${at}, ${member.bitOffset}, ${member.bitSize}, ${signed})`);
    } else if (member.name === '' && (memberType.kind === 'struct' || memberType.kind === 'union')) {
      parts.push(fields(btf, memberType.members, memberAt, depth + 1));
    } else {
      parts.push(`${JSON.stringify(member.name)}: ${expression(btf, member.type, memberAt, depth + 1)}`);
    }
  }
  return parts.filter(Boolean).join(', ');
}

function integerRead(size: number, signed: boolean, at: string): string {
  switch (size) {
    case 1: return `v.get${signed ? 'Int8' : 'Uint8'}(${at})`;
    case 2: return `v.get${signed ? 'Int16' : 'Uint16'}(${at}, true)`;
    case 4: return `v.get${signed ? 'Int32' : 'Uint32'}(${at}, true)`;
    case 8: return `v.get${signed ? 'BigInt64' : 'BigUint64'}(${at}, true)`;
    default: throw new BtfError(`${size}-byte integers cannot be decoded`);
  }
}
