// Decoded BTF types → BTF bytes (the inverse of btf.ts): a header, the type
// records in id order and a deduplicated string table. Used to check that
// decoding loses nothing, and to build BTF in tests.
import { BTF_MAGIC, Kind, type Btf, type BtfType } from './btf.js';

const HEADER_SIZE = 24;

class StringTable {
  private readonly offsets = new Map<string, number>([['', 0]]);
  private readonly chunks: Uint8Array[];
  private length: number;
  private readonly encoder = new TextEncoder();

  /** Split BTF continues its base's string offsets (and reuses its empty string). */
  constructor(private readonly baseLength: number) {
    this.chunks = baseLength ? [] : [new Uint8Array(1)];
    this.length = baseLength ? 0 : 1;
  }

  offset(text: string): number {
    let offset = this.offsets.get(text);
    if (offset === undefined) {
      offset = this.baseLength + this.length;
      const bytes = this.encoder.encode(`${text}\0`);
      this.chunks.push(bytes);
      this.length += bytes.length;
      this.offsets.set(text, offset);
    }
    return offset;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/**
 * Encodes `types` as little-endian BTF: ids 1, 2, … in order (`void` is not
 * listed), or, given a base, split BTF whose ids and strings continue the base's.
 */
export function encodeBtf(types: readonly BtfType[], base?: Btf): Uint8Array {
  const strings = new StringTable(base?.stringSectionSize ?? 0);
  const words: number[] = [];
  const header = (name: string, kind: number, vlen: number, kflag: boolean, sizeOrType: number) => {
    words.push(strings.offset(name), ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType);
  };
  for (const type of types) {
    switch (type.kind) {
      case 'void':
        throw new Error('void is type 0 and is not encoded');
      case 'int':
        header(type.name, Kind.INT, 0, false, type.size);
        words.push((((type.signed ? 1 : 0) | (type.char ? 2 : 0) | (type.bool ? 4 : 0)) << 24) | (type.bitOffset << 16) | type.bits);
        break;
      case 'ptr':
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        header(type.name, Kind[type.kind.toUpperCase() as Uppercase<typeof type.kind>], 0, false, type.type);
        break;
      case 'array':
        header(type.name, Kind.ARRAY, 0, false, 0);
        words.push(type.type, type.indexType, type.nelems);
        break;
      case 'struct':
      case 'union': {
        const bitfields = type.members.some((m) => m.bitSize > 0);
        header(type.name, type.kind === 'struct' ? Kind.STRUCT : Kind.UNION, type.members.length, bitfields, type.size);
        for (const m of type.members) words.push(strings.offset(m.name), m.type, bitfields ? (m.bitSize << 24) | m.bitOffset : m.bitOffset);
        break;
      }
      case 'enum':
        header(type.name, Kind.ENUM, type.values.length, type.signed, type.size);
        for (const v of type.values) words.push(strings.offset(v.name), Number(BigInt.asUintN(32, v.value)));
        break;
      case 'enum64':
        header(type.name, Kind.ENUM64, type.values.length, type.signed, type.size);
        for (const v of type.values) {
          const unsigned = BigInt.asUintN(64, v.value);
          words.push(strings.offset(v.name), Number(unsigned & 0xffffffffn), Number(unsigned >> 32n));
        }
        break;
      case 'fwd':
        header(type.name, Kind.FWD, 0, type.union, 0);
        break;
      case 'func':
        header(type.name, Kind.FUNC, type.linkage, false, type.type);
        break;
      case 'func_proto':
        header(type.name, Kind.FUNC_PROTO, type.params.length, false, type.returnType);
        for (const p of type.params) words.push(strings.offset(p.name), p.type);
        break;
      case 'var':
        header(type.name, Kind.VAR, 0, false, type.type);
        words.push(type.linkage);
        break;
      case 'datasec':
        header(type.name, Kind.DATASEC, type.vars.length, false, type.size);
        for (const v of type.vars) words.push(v.type, v.offset, v.size);
        break;
      case 'float':
        header(type.name, Kind.FLOAT, 0, false, type.size);
        break;
      case 'decl_tag':
        header(type.name, Kind.DECL_TAG, 0, false, type.type);
        words.push(type.componentIndex >>> 0);
        break;
    }
  }
  const stringBytes = strings.bytes();
  const typeBytes = words.length * 4;
  const out = new Uint8Array(HEADER_SIZE + typeBytes + stringBytes.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, BTF_MAGIC, true);
  out[2] = 1; // version
  view.setUint32(4, HEADER_SIZE, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, typeBytes, true);
  view.setUint32(16, typeBytes, true);
  view.setUint32(20, stringBytes.length, true);
  words.forEach((word, i) => view.setUint32(HEADER_SIZE + i * 4, word >>> 0, true));
  out.set(stringBytes, HEADER_SIZE + typeBytes);
  return out;
}
