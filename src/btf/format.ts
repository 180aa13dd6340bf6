// C-like names of BTF types, for people: "struct event", "unsigned int",
// "char[16]", "const struct task_struct *".
import type { Btf } from './btf.js';

const MAX_DEPTH = 16;

export function typeName(btf: Btf, id: number, depth = 0): string {
  if (depth > MAX_DEPTH) return '…';
  const type = btf.type(id);
  switch (type.kind) {
    case 'void':
      return 'void';
    case 'int':
    case 'float':
    case 'typedef':
      return type.name;
    case 'struct':
    case 'union':
    case 'enum':
      return type.name ? `${type.kind} ${type.name}` : `anonymous ${type.kind}`;
    case 'enum64':
      return type.name ? `enum ${type.name}` : 'anonymous enum';
    case 'fwd':
      return `${type.union ? 'union' : 'struct'} ${type.name}`;
    case 'ptr':
      return `${typeName(btf, type.type, depth + 1)} *`;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${type.kind} ${typeName(btf, type.type, depth + 1)}`;
    case 'type_tag':
      return typeName(btf, type.type, depth + 1);
    case 'array':
      return `${typeName(btf, type.type, depth + 1)}[${type.nelems}]`;
    case 'func_proto':
      return `${typeName(btf, type.returnType, depth + 1)} (${type.params.map((p) => typeName(btf, p.type, depth + 1)).join(', ')})`;
    default:
      return `${type.kind} ${type.name}`;
  }
}
