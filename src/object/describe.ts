// A plain description of an ObjectSpec — what `tsbpf inspect` prints.
import { typeName } from '../btf/format.js';
import { CoreKind } from './core.js';
import { MapType } from './maps.js';
import type { ObjectSpec } from './spec.js';

export interface ObjectDescription {
  license: string;
  programs: { name: string; section: string; type: string; attachType: string | null; attachTo: string | null; instructions: number; coreRelocations: Record<string, number> }[];
  maps: { name: string; type: string; keySize: number; valueSize: number; maxEntries: number; flags: number; keyType: string | null; valueType: string | null }[];
  dataSections: { name: string; kind: string; size: number; variables: { name: string; offset: number; size: number; type: string | null }[] }[];
  externs: { name: string; kind: string; weak: boolean; type: string | null }[];
}

const mapTypeNames = new Map<number, string>(Object.entries(MapType).map(([name, value]) => [value, name]));
const coreKindNames = new Map<number, string>(Object.entries(CoreKind).map(([name, value]) => [value, name]));

export function describeObject(spec: ObjectSpec): ObjectDescription {
  const btfType = (id: number) => (spec.btf && id ? typeName(spec.btf, id) : null);
  const maps = [...spec.maps.values()];
  return {
    license: spec.license,
    programs: [...spec.programs.values()].map((program) => {
      const coreRelocations: Record<string, number> = {};
      for (const relo of program.coreRelos) {
        const kind = coreKindNames.get(relo.kind) ?? `kind ${relo.kind}`;
        coreRelocations[kind] = (coreRelocations[kind] ?? 0) + 1;
      }
      return {
        name: program.name,
        section: program.section,
        type: program.kind.type,
        attachType: program.kind.attachType ?? null,
        attachTo: program.kind.target ?? null,
        instructions: program.insns.length / 8,
        coreRelocations,
      };
    }),
    maps: maps.map((map) => ({
      name: map.name,
      type: mapTypeNames.get(map.type) ?? `type ${map.type}`,
      keySize: map.keySize,
      valueSize: map.valueSize,
      maxEntries: map.maxEntries,
      flags: map.flags,
      keyType: btfType(map.btfKeyTypeId),
      valueType: btfType(map.btfValueTypeId),
    })),
    dataSections: maps.filter((map) => map.data).map((map) => ({
      name: map.name,
      kind: map.data!.kind,
      size: map.valueSize,
      variables: [...map.data!.variables.values()].sort((a, b) => a.offset - b.offset).map((v) => ({ name: v.name, offset: v.offset, size: v.size, type: btfType(v.typeId) })),
    })),
    externs: [...spec.externs.values()].map((e) => ({ name: e.name, kind: e.kind, weak: e.weak, type: btfType(e.typeId) })),
  };
}

/** The description as aligned text. */
export function formatDescription(d: ObjectDescription): string {
  const lines: string[] = [`license: ${d.license}`, '', 'programs:'];
  for (const p of d.programs) {
    const relos = Object.entries(p.coreRelocations).map(([kind, count]) => `${kind}×${count}`).join(', ');
    lines.push(`  ${p.name}  section ${p.section}  type ${p.type}${p.attachType ? `  attach ${p.attachType}` : ''}  ${p.instructions} insns${relos ? `  CO-RE: ${relos}` : ''}`);
  }
  lines.push('', 'maps:');
  for (const m of d.maps) {
    const types = m.keyType || m.valueType ? `  key ${m.keyType ?? '-'}  value ${m.valueType ?? '-'}` : '';
    lines.push(`  ${m.name}  ${m.type}  key ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}  flags 0x${m.flags.toString(16)}${types}`);
  }
  if (d.dataSections.length) lines.push('', 'global data:');
  for (const s of d.dataSections) {
    lines.push(`  ${s.name} (${s.kind}, ${s.size} bytes)`);
    for (const v of s.variables) lines.push(`    +${v.offset}  ${v.name}  ${v.type ?? `${v.size} bytes`}`);
  }
  if (d.externs.length) lines.push('', 'externs:');
  for (const e of d.externs) lines.push(`  ${e.name}  ${e.kind}${e.weak ? ' (weak)' : ''}${e.type ? `  ${e.type}` : ''}`);
  return lines.join('\n');
}
