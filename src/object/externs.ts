// Externs: symbols the object uses but the kernel defines. clang puts them in
// two BTF DATASECs: `.kconfig` (`__kconfig`: kernel configuration values,
// which the loader places in a read-only map) and `.ksyms` (`__ksym`: kernel
// variables and functions, resolved to addresses or kernel BTF ids).
// Pure: what each extern is and where `.kconfig` values go; the values
// themselves come from the running kernel at load (src/loader/externs.ts).
import type { Btf } from '../btf/btf.js';
import { SHN_UNDEF, STB_WEAK, type ElfFile } from '../elf/elf.js';
import { ObjectError } from '../errors.js';
import { BPF_F_RDONLY_PROG, MapType, type MapSpec, type VariableSpec } from './maps.js';

export const KCONFIG_MAP = '.kconfig';

export type ExternKind =
  /** A `__kconfig` value, at `offset` in the `.kconfig` map. */
  | 'kconfig'
  /** A `__ksym` variable with a type: the kernel's BTF id of that variable. */
  | 'typed-ksym'
  /** A `__ksym` declared `void`: its address from /proc/kallsyms. */
  | 'untyped-ksym'
  /** A `__ksym` function: called by its kernel BTF id. */
  | 'kfunc';

export interface ExternSpec {
  readonly name: string;
  readonly kind: ExternKind;
  /** Weak externs the kernel lacks resolve to zero instead of failing the load. */
  readonly weak: boolean;
  /** Local BTF type: the variable's type, or the function's prototype. */
  readonly typeId: number;
  /** kconfig only: byte offset and size in the `.kconfig` map. */
  readonly offset: number;
  readonly size: number;
}

export interface Externs {
  readonly externs: ReadonlyMap<string, ExternSpec>;
  /** The map holding `__kconfig` values, when there are any. */
  readonly kconfigMap: MapSpec | undefined;
}

export function collectExterns(elf: ElfFile, btf: Btf | undefined): Externs {
  const undefinedSymbols = elf.symbols.filter((s) => s.sectionIndex === SHN_UNDEF && s.name !== '' && s.index !== 0);
  const externs = new Map<string, ExternSpec>();
  if (undefinedSymbols.length === 0) return { externs, kconfigMap: undefined };
  if (!btf) throw new ObjectError(`extern '${undefinedSymbols[0]!.name}' needs BTF to be resolved: compile with -g`);

  const declared = new Map<string, { section: string; typeId: number; func: boolean }>();
  for (const section of ['.kconfig', '.ksyms']) {
    const datasec = btf.typeByName(section, 'datasec');
    for (const info of datasec?.vars ?? []) {
      const type = btf.type(info.type);
      if (type.kind === 'var') declared.set(type.name, { section, typeId: type.type, func: false });
      else if (type.kind === 'func') declared.set(type.name, { section, typeId: type.type, func: true });
    }
  }

  const kconfig: { name: string; weak: boolean; typeId: number; size: number; align: number }[] = [];
  for (const symbol of undefinedSymbols) {
    const declaration = declared.get(symbol.name);
    if (!declaration) throw new ObjectError(`extern '${symbol.name}' is neither __kconfig nor __ksym`);
    const weak = symbol.bind === STB_WEAK;
    if (declaration.section === '.kconfig') {
      const size = btf.sizeof(declaration.typeId);
      kconfig.push({ name: symbol.name, weak, typeId: declaration.typeId, size, align: alignmentOf(btf, declaration.typeId) });
      continue;
    }
    const kind: ExternKind = declaration.func ? 'kfunc' : btf.skipQualifiers(declaration.typeId).kind === 'void' ? 'untyped-ksym' : 'typed-ksym';
    externs.set(symbol.name, { name: symbol.name, kind, weak, typeId: declaration.typeId, offset: 0, size: 0 });
  }
  if (kconfig.length === 0) return { externs, kconfigMap: undefined };

  // Most aligned first, then smaller first, then by name: the layout depends on nothing but the object.
  kconfig.sort((a, b) => b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let end = 0;
  const variables = new Map<string, VariableSpec>();
  for (const value of kconfig) {
    const offset = Math.ceil(end / value.align) * value.align;
    externs.set(value.name, { name: value.name, kind: 'kconfig', weak: value.weak, typeId: value.typeId, offset, size: value.size });
    variables.set(value.name, { name: value.name, offset, size: value.size, typeId: value.typeId });
    end = offset + value.size;
  }
  const valueSize = Math.ceil(end / 8) * 8;
  const kconfigMap: MapSpec = {
    name: KCONFIG_MAP,
    type: MapType.ARRAY,
    keySize: 4,
    valueSize,
    maxEntries: 1,
    flags: BPF_F_RDONLY_PROG,
    numaNode: 0,
    mapExtra: 0n,
    pinning: 0,
    btfKeyTypeId: 0,
    btfValueTypeId: btf.typeByName('.kconfig', 'datasec')?.id ?? 0,
    symbolSection: SHN_UNDEF,
    symbolOffset: 0,
    data: { kind: 'kconfig', bytes: new Uint8Array(valueSize), variables },
  };
  return { externs, kconfigMap };
}

function alignmentOf(btf: Btf, typeId: number): number {
  const type = btf.skipQualifiers(typeId);
  if (type.kind === 'array') return alignmentOf(btf, type.type);
  return Math.min(8, Math.max(1, btf.sizeof(type.id)));
}
