// The object's BTF as the kernel will accept it. clang's output needs three
// kinds of repair before BPF_BTF_LOAD:
// - each DATASEC's size and its variables' offsets are left at zero; the ELF
//   section and symbol table know them (`.kconfig`: the loader's own layout);
// - extern variables and functions (linkage "extern") are refused by the
//   kernel: they become global, untyped ones become ints;
// - the `.ksyms` DATASEC lists functions and untyped variables, which a
//   DATASEC may not hold: it becomes an anonymous struct of ints (same record
//   size), which nothing refers to.
import { Kind, type Btf } from '../btf/btf.js';
import type { ElfFile } from '../elf/elf.js';
import { ObjectError } from '../errors.js';
import type { ExternSpec } from './externs.js';

const LINKAGE_GLOBAL = 1;
const LINKAGE_EXTERN = 2;

export function btfForKernel(btf: Btf, elf: ElfFile, externs: ReadonlyMap<string, ExternSpec>, kconfigSize: number): Uint8Array {
  const bytes = btf.bytes.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = btf.littleEndian;
  const u32 = (at: number) => view.getUint32(at, le);
  const setU32 = (at: number, value: number) => view.setUint32(at, value, le);
  const setInfo = (at: number, kind: number, vlen: number) => setU32(at + 4, (kind << 24) | vlen);
  let intId: number | undefined;
  const anInt = () => (intId ??= findInt(btf));

  for (let id = btf.firstId; id < btf.end; id++) {
    // Only these kinds need repair; decoding the others (structs above all) would be wasted.
    const kind = btf.kindOf(id);
    if (kind !== 'var' && kind !== 'func' && kind !== 'datasec') continue;
    const at = btf.typeOffset(id);
    const type = btf.type(id);
    if (type.kind === 'var' && type.linkage === LINKAGE_EXTERN) {
      setU32(at + 12, LINKAGE_GLOBAL);
      if (btf.skipQualifiers(type.type).kind === 'void') setU32(at + 8, anInt());
    } else if (type.kind === 'func' && type.linkage === LINKAGE_EXTERN) {
      setInfo(at, Kind.FUNC, LINKAGE_GLOBAL);
      nameUnnamedParams(btf, type.type, u32(at), setU32);
    } else if (type.kind === 'datasec' && type.name === '.ksyms') {
      setU32(at, 0);
      setInfo(at, Kind.STRUCT, type.vars.length);
      setU32(at + 8, type.vars.length * 4);
      type.vars.forEach((info, i) => {
        const entry = at + 12 + i * 12;
        setU32(entry, u32(btf.typeOffset(info.type)));
        setU32(entry + 4, anInt());
        setU32(entry + 8, i * 32);
      });
    } else if (type.kind === 'datasec') {
      const isKconfig = type.name === '.kconfig';
      const section = isKconfig ? undefined : elf.section(type.name);
      setU32(at + 8, isKconfig ? kconfigSize : (section?.size ?? type.size));
      const placed = type.vars.map((info) => {
        const name = btf.type(info.type).name;
        if (isKconfig) {
          const extern = externs.get(name);
          return { ...info, offset: extern?.offset ?? info.offset, size: extern?.size ?? info.size };
        }
        const symbol = section && elf.symbols.find((s) => s.sectionIndex === section.index && s.name === name);
        return { ...info, offset: symbol ? symbol.value : info.offset };
      });
      placed.sort((a, b) => a.offset - b.offset);
      placed.forEach((info, i) => {
        const entry = at + 12 + i * 12;
        setU32(entry, info.type);
        setU32(entry + 4, info.offset);
        setU32(entry + 8, info.size);
      });
    }
  }
  return bytes;
}

/** The kernel wants every parameter of a global function named; extern declarations may omit names. */
function nameUnnamedParams(btf: Btf, protoId: number, nameOffset: number, setU32: (at: number, value: number) => void): void {
  const proto = btf.type(protoId);
  if (proto.kind !== 'func_proto') return;
  const at = btf.typeOffset(protoId);
  proto.params.forEach((param, i) => {
    if (param.name === '' && param.type !== 0) setU32(at + 12 + i * 8, nameOffset);
  });
}

function findInt(btf: Btf): number {
  for (let id = btf.firstId; id < btf.end; id++) {
    if (btf.kindOf(id) !== 'int') continue;
    const type = btf.type(id);
    if (type.kind === 'int' && type.size === 4) return id;
  }
  throw new ObjectError('BTF has no 4-byte integer type to stand in for untyped externs');
}
