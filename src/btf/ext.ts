// BTF.ext: per-section func_info, line_info and CO-RE relocation records that
// clang writes next to `.BTF`. Instruction offsets are kept in bytes, as in
// the file; callers divide by 8 when they need instruction indexes.
import { BtfError } from '../errors.js';
import { BTF_MAGIC, type Btf } from './btf.js';

export interface FuncInfo {
  readonly insnOffset: number;
  readonly typeId: number;
}

export interface LineInfo {
  readonly insnOffset: number;
  /** Offset of the file name in the string section. */
  readonly fileNameOffset: number;
  /** Offset of the source line's text in the string section (decoded only when asked: btf.string()). */
  readonly lineOffset: number;
  readonly lineNumber: number;
  readonly column: number;
}

export interface CoreRelo {
  readonly insnOffset: number;
  readonly typeId: number;
  readonly accessString: string;
  readonly kind: number;
}

export interface BtfExt {
  /** Keyed by ELF section name. */
  readonly funcInfo: ReadonlyMap<string, readonly FuncInfo[]>;
  readonly lineInfo: ReadonlyMap<string, readonly LineInfo[]>;
  readonly coreRelos: ReadonlyMap<string, readonly CoreRelo[]>;
}

const MIN_HEADER = 24;
// Every record starts with insn_off, a byte offset that must name a whole BPF instruction.
const INSN_SIZE = 8;

export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  if (bytes.length < MIN_HEADER) throw new BtfError(`.BTF.ext too short for a header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getUint16(0, true) === BTF_MAGIC;
  if (!le && view.getUint16(0, false) !== BTF_MAGIC) throw new BtfError('bad .BTF.ext magic');
  const u32 = (at: number) => view.getUint32(at, le);
  const hdrLen = u32(4);
  if (hdrLen < MIN_HEADER || hdrLen > bytes.length) throw new BtfError(`bad .BTF.ext header length ${hdrLen}`);

  const subsection = <T>(offField: number, minRecord: number, read: (at: number) => T): Map<string, T[]> => {
    const result = new Map<string, T[]>();
    if (offField + 8 > hdrLen) return result;
    const start = hdrLen + u32(offField);
    const length = u32(offField + 4);
    if (length === 0) return result;
    const end = start + length;
    if (end > bytes.length || length < 4) throw new BtfError(`.BTF.ext subsection at ${start} (${length} bytes) runs past the end`);
    const recordSize = u32(start);
    if (recordSize < minRecord) throw new BtfError(`.BTF.ext record size ${recordSize} is smaller than ${minRecord}`);
    for (let at = start + 4; at < end; ) {
      if (at + 8 > end) throw new BtfError('.BTF.ext section header truncated');
      const section = btf.string(u32(at));
      const count = u32(at + 4);
      at += 8;
      if (at + count * recordSize > end) throw new BtfError(`.BTF.ext: ${count} records for ${section} run past the end`);
      const records: T[] = [];
      for (let i = 0; i < count; i++, at += recordSize) {
        if (u32(at) % INSN_SIZE !== 0) throw new BtfError(`.BTF.ext: a record for ${section} has insn_off ${u32(at)}, not on an instruction boundary`);
        records.push(read(at));
      }
      result.set(section, records);
    }
    return result;
  };

  return {
    funcInfo: subsection(8, 8, (at) => ({ insnOffset: u32(at), typeId: u32(at + 4) })),
    lineInfo: subsection(16, 16, (at) => {
      const lineCol = u32(at + 12);
      return { insnOffset: u32(at), fileNameOffset: u32(at + 4), lineOffset: u32(at + 8), lineNumber: lineCol >>> 10, column: lineCol & 0x3ff };
    }),
    coreRelos: subsection(24, 16, (at) => ({ insnOffset: u32(at), typeId: u32(at + 4), accessString: btf.string(u32(at + 8)), kind: u32(at + 12) })),
  };
}
