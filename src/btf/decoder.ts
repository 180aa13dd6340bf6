// Record decoders generated from BTF: for a struct type, one JS function that
// reads every field at its fixed offset and returns a plain object — numbers,
// bigints for 64-bit integers, pointers and bitfields wider than 32 bits, strings from char arrays (up to
// the NUL), arrays, nested objects, and unions as DataViews over their bytes.
// The function is compiled once per type (new Function), so decoding a record
// is one bounds check, then a straight run of DataView reads with no lookups.
import { decodeCStringAt } from '../cstring.js';
import { BtfError } from '../errors.js';
import type { Btf, BtfType, Member } from './btf.js';
import { checkDecodable, checkLayout, checkRoom, isCharArray, isSignedBitfield, lendsMembers, readBitfield } from './values.js';

export type RecordDecoder = (view: DataView, offset: number) => Record<string, unknown>;

/** Arrays longer than this, or whose elements make more JS values than UNROLL_VALUES, are read by a loop rather than written out element by element. */
const UNROLL_LIMIT = 16;
const UNROLL_VALUES = 64;

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
  bits: readBitfield,
};

/** Compiles a decoder for the struct (or union) `typeId` of `btf`. */
export function compileDecoder(btf: Btf, typeId: number): RecordDecoder {
  const type = btf.skipQualifiers(typeId);
  if (type.kind !== 'struct' && type.kind !== 'union') throw new BtfError(`records are structs or unions, not ${type.kind} ${type.name}`);
  // Members are checked to lie within the record here, so one bounds check per record covers every read.
  checkDecodable(btf, typeId);
  const size = btf.sizeof(typeId);
  // The bounds check is in the compiled code: a call around it cost more than reading a small record's fields.
  const body = `if (!(o >= 0 && v.byteLength - o >= ${size})) tooShort(v, o);\nreturn ${new SourceWriter(btf, type).expression(typeId, 'o')};`;
  const compiled = new Function('v', 'o', 'h', 'tooShort', body) as
    (view: DataView, offset: number, h: typeof helpers, tooShort: (view: DataView, offset: number) => void) => Record<string, unknown>;
  const tooShort = (view: DataView, offset: number) => checkRoom(view.byteLength, offset, size, type);
  return (view, offset) => compiled(view, offset, helpers, tooShort);
}

/**
 * Values the generated source reads one by one. Kernel structs need at most a
 * few thousand; the limit stops types that reuse a struct many times per level
 * from growing the source exponentially with their nesting.
 */
const MAX_READS = 1 << 16;

class SourceWriter {
  private reads = 0;

  constructor(
    private readonly btf: Btf,
    private readonly record: BtfType,
  ) {}

  /** JS source that reads the value of type `typeId` at byte offset `at` (an expression over `o`). */
  expression(typeId: number, at: string): string {
    this.count();
    const btf = this.btf;
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
        if (isCharArray(btf, type)) return `h.string(v, ${at}, ${type.nelems})`;
        const stride = btf.sizeof(type.type);
        // Small arrays are written out, a loop reads the others: written-out copies of big elements would multiply the source at every level.
        if (type.nelems <= UNROLL_LIMIT && type.nelems * checkLayout(btf, type.type) <= UNROLL_VALUES) {
          return `[${Array.from({ length: type.nelems }, (_, i) => this.expression(type.type, `${at} + ${i * stride}`)).join(', ')}]`;
        }
        return `h.array(${type.nelems}, ${stride}, ${at}, (o) => ${this.expression(type.type, 'o')})`;
      }
      case 'struct':
        return `({ ${this.fields(type.members, at)} })`;
      case 'union':
        return `h.view(v, ${at}, ${type.size})`;
      default:
        throw new BtfError(`values of ${type.kind} ${type.name} cannot be decoded`);
    }
  }

  /** `name: read, …` for members at `at`; an anonymous struct or union lends its members to the enclosing object. */
  private fields(members: readonly Member[], at: string): string {
    const parts: string[] = [];
    for (const member of members) {
      const memberAt = `${at} + ${member.bitOffset / 8}`;
      const memberType = this.btf.skipQualifiers(member.type);
      if (member.bitSize) {
        this.count();
        parts.push(`${key(member.name)}: h.bits(v, ${at}, ${member.bitOffset}, ${member.bitSize}, ${isSignedBitfield(memberType)})`);
      } else if (lendsMembers(member, memberType)) {
        parts.push(this.fields(memberType.members, memberAt));
      } else {
        parts.push(`${key(member.name)}: ${this.expression(member.type, memberAt)}`);
      }
    }
    return parts.filter(Boolean).join(', ');
  }

  private count(): void {
    if (++this.reads > MAX_READS) throw new BtfError(`a decoder for ${this.record.kind} ${this.record.name} would read more than ${MAX_READS} values one by one`);
  }
}

/** An object-literal key: `__proto__: x` would set the prototype, the computed `["__proto__"]: x` makes a property like any other. */
function key(name: string): string {
  return name === '__proto__' ? `[${JSON.stringify(name)}]` : JSON.stringify(name);
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
