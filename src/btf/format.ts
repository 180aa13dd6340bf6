// C-like names of BTF types, for people: "struct event", "unsigned int",
// "char[16]", "const struct task_struct *".
import type { Btf } from './btf.js';

const MAX_DEPTH = 16;
/**
 * Roughly how many characters a name may take. Function prototypes repeat
 * what their parameters point to, so crafted BTF can make a full name grow
 * exponentially; past the limit, what is left reads '…'.
 */
const MAX_LENGTH = 512;

export function typeName(btf: Btf, id: number): string {
  return describe(btf, id, 0, { remaining: MAX_LENGTH });
}

function describe(btf: Btf, id: number, depth: number, budget: { remaining: number }): string {
  if (depth > MAX_DEPTH || budget.remaining <= 0) return '…';
  const type = btf.type(id);
  // Each type pays for its own name and a few characters of punctuation.
  budget.remaining -= type.name.length + 4;
  const inner = (innerId: number) => describe(btf, innerId, depth + 1, budget);
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
      return `${inner(type.type)} *`;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${type.kind} ${inner(type.type)}`;
    case 'type_tag':
      return inner(type.type);
    case 'array':
      return `${inner(type.type)}[${type.nelems}]`;
    case 'func_proto': {
      const returned = inner(type.returnType);
      const params: string[] = [];
      // Once the budget is spent, one '…' stands for all the parameters left.
      for (const param of type.params) {
        params.push(inner(param.type));
        if (budget.remaining <= 0) break;
      }
      return `${returned} (${params.join(', ')}${params.length < type.params.length ? ', …' : ''})`;
    }
    default:
      return `${type.kind} ${type.name}`;
  }
}
