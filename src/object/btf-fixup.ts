// clang leaves each DATASEC's size and its variables' offsets at zero; the
// ELF section and symbol table know them. The kernel refuses a DATASEC of
// size 0, so they are filled in before BPF_BTF_LOAD.
import type { Btf } from '../btf/btf.js';
import type { ElfFile } from '../elf/elf.js';

export function fixDatasecs(btf: Btf, elf: ElfFile): Uint8Array {
  const bytes = btf.bytes.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = btf.littleEndian;
  for (let id = btf.firstId; id < btf.end; id++) {
    if (btf.kindOf(id) !== 'datasec') continue;
    const datasec = btf.type(id);
    if (datasec.kind !== 'datasec') continue;
    const section = elf.section(datasec.name);
    const at = btf.typeOffset(id);
    view.setUint32(at + 8, section?.size ?? datasec.size, le);
    const placed = datasec.vars.map((info) => {
      const variable = btf.type(info.type);
      const symbol = section && elf.symbols.find((s) => s.sectionIndex === section.index && s.name === variable.name);
      return { ...info, offset: symbol ? symbol.value : info.offset };
    });
    placed.sort((a, b) => a.offset - b.offset);
    placed.forEach((info, i) => {
      const entry = at + 12 + i * 12;
      view.setUint32(entry, info.type, le);
      view.setUint32(entry + 4, info.offset, le);
      view.setUint32(entry + 8, info.size, le);
    });
  }
  return bytes;
}
