// CO-RE ("compile once, run everywhere") relocation. clang records, for each
// instruction that depends on a kernel type's layout, which type and which
// field/enumerator it refers to (relative to the object's own BTF). Here each
// record is resolved against a target BTF (normally the running kernel's) and
// the instruction is rewritten with the target's value: a field offset, a
// size, whether a type exists, an enum value…
//
// The results follow libbpf's (relo_core.c), because BPF programs are written
// against its behaviour. A relocation that cannot be resolved does not abort:
// its instruction is replaced by a call to a helper that does not exist, which
// the verifier only rejects if that instruction is reachable — so programs can
// guard optional fields with bpf_core_field_exists() and friends.
import { essentialName, type ArrayType, type Btf, type BtfType, type CompositeType, type EnumType, type IntType, type Member } from '../btf/btf.js';
import { TsbpfError } from '../errors.js';
import { INSN_SIZE, Insns, OP_CALL } from './insn.js';
import type { ProgramCoreRelo } from './spec.js';

export const CoreKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

const coreKindNames = new Map<number, string>(Object.entries(CoreKind).map(([name, kind]) => [kind, name]));

export interface CoreFailure {
  /** Index of the (now poisoned) instruction in the program. */
  insn: number;
  kind: number;
  /** e.g. "FIELD_BYTE_OFFSET". */
  kindName: string;
  /** The local root type, with its kind: "struct task_struct". */
  typeName: string;
  accessString: string;
  reason: string;
}

export interface CoreResult {
  /** A patched copy of the instructions; the input is left untouched. */
  insns: Uint8Array;
  failures: CoreFailure[];
}

/** The helper number a poisoned instruction calls; the verifier reports "invalid func unknown#195896080". */
export const POISON_HELPER = 0xbad2310;

/**
 * Resolves each relocation of one program against `target` and patches its
 * instruction. Failed relocations poison their instruction and are listed in
 * `failures`; they only matter if the verifier finds the instruction reachable.
 */
export function applyCoreRelocations(insns: Uint8Array, relos: readonly ProgramCoreRelo[], local: Btf, target: Btf): CoreResult {
  const patched = new Insns(insns.slice());
  const failures: CoreFailure[] = [];
  const candidates = new CandidateCache(local, target);
  for (const relo of relos) {
    try {
      patchInstruction(patched, relo.insn, resolve(relo, local, target, candidates));
    } catch (error) {
      if (!(error instanceof TsbpfError)) throw error;
      poison(patched, relo.insn);
      failures.push({
        insn: relo.insn,
        kind: relo.kind,
        kindName: coreKindNames.get(relo.kind) ?? `unknown kind ${relo.kind}`,
        typeName: typeLabel(local, relo.typeId),
        accessString: relo.accessString,
        reason: error.message,
      });
    }
  }
  return { insns: patched.bytes, failures };
}

export function describeCoreFailure(f: CoreFailure): string {
  return `instruction ${f.insn}: CO-RE ${f.kindName} relocation of ${f.typeName} (access "${f.accessString}") failed: ${f.reason}`;
}

/** Why one relocation cannot be applied; caught per relocation and turned into a CoreFailure. */
class RelocationFailure extends TsbpfError {
  override name = 'RelocationFailure';
}

function fail(reason: string): never {
  throw new RelocationFailure(reason);
}

// ---------------------------------------------------------------------------
// Specs: what a relocation refers to, in the local BTF or in a target candidate.

/** One step of a field access path: the root, an array element, or a named member. */
interface Accessor {
  /** For a member: the struct/union that directly holds it; otherwise the (element) type indexed. */
  readonly typeId: number;
  readonly index: number;
  readonly member?: Member;
  /** The member is its struct's last, so a zero-length array there is a flexible array. */
  readonly lastMember?: boolean;
}

interface FieldSpec {
  readonly family: 'field';
  readonly btf: Btf;
  /** Named members and array indexes only: anonymous struct/union members are folded into bitOffset. */
  readonly accessors: readonly Accessor[];
  readonly bitOffset: number;
}

interface TypeSpec {
  readonly family: 'type';
  readonly btf: Btf;
  readonly rootId: number;
}

interface EnumValueSpec {
  readonly family: 'enumval';
  readonly btf: Btf;
  readonly enumType: EnumType;
  readonly index: number;
}

type Spec = FieldSpec | TypeSpec | EnumValueSpec;
type Family = Spec['family'];

/** libbpf's limit on access path length (and so on struct nesting it will follow). */
const MAX_ACCESS_DEPTH = 64;
/** libbpf's bound on type graph recursion when comparing types. */
const MAX_TYPE_DEPTH = 32;
/** Members and types one relocation may examine: far above what real kernels need, and quick to reach. */
const MAX_SEARCH_STEPS = 1_000_000;

function familyOf(kind: number): Family {
  switch (kind) {
    case CoreKind.FIELD_BYTE_OFFSET:
    case CoreKind.FIELD_BYTE_SIZE:
    case CoreKind.FIELD_EXISTS:
    case CoreKind.FIELD_SIGNED:
    case CoreKind.FIELD_LSHIFT_U64:
    case CoreKind.FIELD_RSHIFT_U64:
      return 'field';
    case CoreKind.TYPE_ID_LOCAL:
    case CoreKind.TYPE_ID_TARGET:
    case CoreKind.TYPE_EXISTS:
    case CoreKind.TYPE_SIZE:
    case CoreKind.TYPE_MATCHES:
      return 'type';
    case CoreKind.ENUMVAL_EXISTS:
    case CoreKind.ENUMVAL_VALUE:
      return 'enumval';
    default:
      return fail(`unknown relocation kind ${kind}`);
  }
}

/** "0:1:2" → [0, 1, 2]. */
function parseAccessString(access: string): number[] {
  if (!/^\d+(:\d+)*$/.test(access)) fail(`malformed access string "${access}"`);
  const indexes = access.split(':').map(Number);
  if (indexes.length > MAX_ACCESS_DEPTH) fail(`access string has ${indexes.length} steps (at most ${MAX_ACCESS_DEPTH})`);
  if (indexes.some((index) => index > 0x7fffffff)) fail(`access string "${access}" has an index that does not fit in 31 bits`);
  return indexes;
}

/** The relocation as it reads in the local BTF, validated against it. */
function parseLocalSpec(relo: ProgramCoreRelo, btf: Btf, family: Family): Spec {
  if (family === 'type') {
    if (relo.accessString !== '0') fail(`type relocations take the access string "0", not "${relo.accessString}"`);
    btf.type(relo.typeId);
    return { family, btf, rootId: relo.typeId };
  }
  const path = parseAccessString(relo.accessString);
  const root = btf.skipQualifiers(relo.typeId);
  if (family === 'enumval') {
    if (root.kind !== 'enum' && root.kind !== 'enum64') fail(`enum value relocation on ${typeLabel(btf, root.id)}`);
    const index = path[0]!;
    if (path.length > 1 || index >= root.values.length) fail(`${typeLabel(btf, root.id)} has no enumerator #${relo.accessString}`);
    return { family, btf, enumType: root, index };
  }

  const accessors: Accessor[] = [{ typeId: root.id, index: path[0]! }];
  let bitOffset = path[0]! * btf.sizeof(root.id) * 8;
  let id = root.id;
  for (const index of path.slice(1)) {
    const type = btf.skipQualifiers(id);
    if (isComposite(type)) {
      const member = type.members[index];
      if (!member) fail(`${typeLabel(btf, type.id)} has ${type.members.length} members, no member #${index}`);
      bitOffset += member.bitOffset;
      if (member.name !== '') accessors.push(memberAccessor(type, index));
      id = member.type;
    } else if (type.kind === 'array') {
      const element = arrayElement(btf, type, index, accessors.at(-1)!);
      if (typeof element === 'string') fail(element);
      accessors.push({ typeId: element, index });
      bitOffset += index * btf.sizeof(element) * 8;
      id = element;
    } else {
      fail(`access string "${relo.accessString}" indexes into ${typeLabel(btf, type.id)}, which is neither a struct, a union nor an array`);
    }
  }
  return { family, btf, accessors, bitOffset };
}

function memberAccessor(container: CompositeType, index: number): Accessor & { readonly member: Member } {
  return { typeId: container.id, index, member: container.members[index]!, lastMember: index === container.members.length - 1 };
}

/** The element type id of `array[index]`, or why the index is not allowed. */
function arrayElement(btf: Btf, array: ArrayType, index: number, enclosing: Accessor): number | string {
  // A zero-length array as a struct's last member is a flexible array: any index goes.
  const flexible = array.nelems === 0 && enclosing.lastMember === true;
  if (!flexible && index >= array.nelems) return `index ${index} is out of bounds for an array of ${array.nelems}`;
  return btf.skipQualifiers(array.type).id;
}

/** The same relocation in a target candidate, or the reason the candidate does not fit. */
function matchCandidate(localSpec: Spec, kind: number, target: Btf, candidateId: number, search: TypeSearch): Spec | string {
  switch (localSpec.family) {
    case 'type': {
      const fits = kind === CoreKind.TYPE_MATCHES
        ? typesMatch(localSpec.btf, localSpec.rootId, target, candidateId, false, MAX_TYPE_DEPTH, search)
        : typesCompatible(localSpec.btf, localSpec.rootId, target, candidateId, MAX_TYPE_DEPTH, search);
      return fits ? { family: 'type', btf: target, rootId: candidateId } : kind === CoreKind.TYPE_MATCHES ? 'does not match' : 'not compatible';
    }
    case 'enumval': {
      const enumType = target.skipQualifiers(candidateId);
      if (enumType.kind !== 'enum' && enumType.kind !== 'enum64') return 'not an enum';
      const wanted = essentialName(localSpec.enumType.values[localSpec.index]!.name);
      const index = enumType.values.findIndex((value) => essentialName(value.name) === wanted);
      return index < 0 ? `no enumerator '${wanted}'` : { family: 'enumval', btf: target, enumType, index };
    }
    case 'field':
      return matchFieldPath(localSpec, target, candidateId, search);
  }
}

/** Follows the local access path in the target: members by name, arrays by index. */
function matchFieldPath(localSpec: FieldSpec, target: Btf, candidateId: number, search: TypeSearch): FieldSpec | string {
  const accessors: Accessor[] = [];
  let bitOffset = 0;
  let id = candidateId;
  for (const wanted of localSpec.accessors) {
    const type = target.skipQualifiers(id);
    if (wanted.member) {
      if (!isComposite(type)) return `${typeLabel(target, type.id)} is not a struct or union (looking for field '${wanted.member.name}')`;
      const found = findMember(localSpec.btf, wanted.member, target, type, MAX_ACCESS_DEPTH, search);
      if (found === 'absent') return `no field '${wanted.member.name}'`;
      if (found === 'incompatible') return `field '${wanted.member.name}' has an incompatible type`;
      const accessor = memberAccessor(found.container, found.index);
      accessors.push(accessor);
      bitOffset += found.bitOffset;
      id = accessor.member.type;
    } else {
      // The first accessor indexes the root itself (p[0]); later ones index arrays.
      if (accessors.length > 0) {
        if (type.kind !== 'array') return `${typeLabel(target, type.id)} is not an array`;
        const element = arrayElement(target, type, wanted.index, accessors.at(-1)!);
        if (typeof element === 'string') return element;
        id = element;
      } else {
        id = type.id;
      }
      accessors.push({ typeId: id, index: wanted.index });
      bitOffset += wanted.index * target.sizeof(id) * 8;
    }
  }
  return { family: 'field', btf: target, accessors, bitOffset };
}

interface MemberHit {
  /** The struct/union that directly holds the member (an anonymous one nested in the searched type, maybe). */
  container: CompositeType;
  index: number;
  /** From the start of the searched type. */
  bitOffset: number;
}

type MemberSearchResult = MemberHit | 'absent' | 'incompatible';

/**
 * Finds a field of the local type in a target struct/union by name, looking
 * inside anonymous struct/union members too. A same-named member of an
 * incompatible type ends the search at its level, as in libbpf; an enclosing
 * level then keeps looking.
 */
function findMember(local: Btf, wanted: Member, target: Btf, composite: CompositeType, levels: number, search: TypeSearch): MemberSearchResult {
  if (levels <= 0) fail(`anonymous members nested deeper than ${MAX_ACCESS_DEPTH} in ${typeLabel(target, composite.id)}`);
  return search.members.get(`${wanted.name}:${wanted.type}:${composite.id}`, levels, () => {
    search.spend(composite.members.length);
    let sawIncompatible = false;
    for (const [index, member] of composite.members.entries()) {
      if (member.name === wanted.name) {
        return fieldsCompatible(local, wanted.type, target, member.type) ? { container: composite, index, bitOffset: member.bitOffset } : 'incompatible';
      }
      if (member.name !== '') continue;
      const inner = target.skipQualifiers(member.type);
      if (!isComposite(inner)) continue;
      const found = findMember(local, wanted, target, inner, levels - 1, search);
      if (typeof found === 'object') return { ...found, bitOffset: found.bitOffset + member.bitOffset };
      sawIncompatible ||= found === 'incompatible';
    }
    return sawIncompatible ? 'incompatible' : 'absent';
  });
}

// ---------------------------------------------------------------------------
// Values: what the instruction should hold, computed from a spec.

interface Computed {
  readonly value: bigint;
  /** Whether clang must have put exactly this value in the instruction (computed from the local BTF). */
  readonly checkable: boolean;
  /** BYTE_OFFSET of a non-bitfield: the size and type of the memory a load/store at that offset accesses. */
  readonly access?: { readonly size: number; readonly type: BtfType };
}

function computeValue(kind: number, spec: Spec): Computed {
  switch (spec.family) {
    case 'field':
      return fieldValue(kind, spec);
    case 'type':
      switch (kind) {
        // Type ids change whenever BTF is rewritten (linking, deduplication): never checked.
        case CoreKind.TYPE_ID_LOCAL:
        case CoreKind.TYPE_ID_TARGET:
          return { value: BigInt(spec.rootId), checkable: false };
        case CoreKind.TYPE_SIZE:
          return { value: BigInt(spec.btf.sizeof(spec.rootId)), checkable: true };
        default:
          return { value: 1n, checkable: true };
      }
    case 'enumval':
      return { value: kind === CoreKind.ENUMVAL_VALUE ? spec.enumType.values[spec.index]!.value : 1n, checkable: true };
  }
}

/** The value when no candidate matched; undefined where that is a failure. */
function missingValue(kind: number, family: Family): bigint | undefined {
  // Existence checks answer "no"; type relocations all give 0, as in libbpf.
  return kind === CoreKind.FIELD_EXISTS || kind === CoreKind.ENUMVAL_EXISTS || family === 'type' ? 0n : undefined;
}

function fieldValue(kind: number, spec: FieldSpec): Computed {
  if (kind === CoreKind.FIELD_EXISTS) return { value: 1n, checkable: true };
  const { btf, bitOffset } = spec;
  const last = spec.accessors.at(-1)!;
  if (!last.member) {
    // The path ends at an array element (or the root): only offset and size make sense.
    if (kind === CoreKind.FIELD_BYTE_OFFSET) return { value: BigInt(Math.floor(bitOffset / 8)), checkable: true, access: memoryAccess(btf, last.typeId) };
    if (kind === CoreKind.FIELD_BYTE_SIZE) return { value: BigInt(btf.sizeof(last.typeId)), checkable: true };
    return fail(`${coreKindNames.get(kind)} cannot be applied to an array element`);
  }

  const memberType = btf.skipQualifiers(last.member.type);
  const typeSize = btf.sizeof(memberType.id);
  const bitfield = last.member.bitSize > 0;
  const { byteOffset, byteSize, bitSize } = bitfield
    ? bitfieldLoad(bitOffset, last.member.bitSize, typeSize)
    : { byteOffset: Math.floor(bitOffset / 8), byteSize: typeSize, bitSize: typeSize * 8 };
  // clang may choose a different load for a bitfield than libbpf: only signedness and width are checked.
  switch (kind) {
    case CoreKind.FIELD_BYTE_OFFSET:
      return { value: BigInt(byteOffset), checkable: !bitfield, access: bitfield ? undefined : memoryAccess(btf, memberType.id) };
    case CoreKind.FIELD_BYTE_SIZE:
      return { value: BigInt(byteSize), checkable: !bitfield };
    case CoreKind.FIELD_SIGNED: {
      const signed = (memberType.kind === 'int' || memberType.kind === 'enum' || memberType.kind === 'enum64') && memberType.signed;
      return { value: signed ? 1n : 0n, checkable: true };
    }
    case CoreKind.FIELD_LSHIFT_U64:
      // Little-endian: shift the field's top bit up to bit 63.
      return { value: BigInt(64 - (bitOffset + bitSize - byteOffset * 8)), checkable: !bitfield };
    default: // FIELD_RSHIFT_U64
      return { value: BigInt(64 - bitSize), checkable: true };
  }
}

/** The smallest naturally aligned load, at least the bitfield's declared type in size, that holds the whole bitfield. */
function bitfieldLoad(bitOffset: number, bitSize: number, typeSize: number): { byteOffset: number; byteSize: number; bitSize: number } {
  if (![1, 2, 4, 8].includes(typeSize)) fail(`bitfield of a ${typeSize}-byte type`);
  for (let byteSize = typeSize; byteSize <= 8; byteSize *= 2) {
    const byteOffset = Math.floor(bitOffset / 8 / byteSize) * byteSize;
    if (bitOffset + bitSize - byteOffset * 8 <= byteSize * 8) return { byteOffset, byteSize, bitSize };
  }
  return fail(`bitfield at bit ${bitOffset}, ${bitSize} bits wide, cannot be read with one 8-byte load`);
}

/** Loads and stores access one element of an array field, not the whole array. */
function memoryAccess(btf: Btf, typeId: number): { size: number; type: BtfType } {
  let element = btf.skipQualifiers(typeId);
  for (let depth = 0; element.kind === 'array'; depth++) {
    if (depth >= MAX_TYPE_DEPTH) fail(`arrays nested deeper than ${MAX_TYPE_DEPTH}`);
    element = btf.skipQualifiers(element.type);
  }
  return { size: btf.sizeof(element.id), type: btf.skipQualifiers(typeId) };
}

// ---------------------------------------------------------------------------
// Resolution: candidates, agreement, the value to patch in.

interface Resolution {
  /** What clang put in the instruction, per the local BTF; undefined when not checked. */
  readonly expected: bigint | undefined;
  readonly value: bigint;
  /** A load/store whose field changed size: old and new size, and whether changing the access size is safe. */
  readonly resize?: { readonly from: number; readonly to: number; readonly safe: boolean };
}

function resolve(relo: ProgramCoreRelo, local: Btf, target: Btf, candidates: CandidateCache): Resolution {
  const family = familyOf(relo.kind);
  const localSpec = parseLocalSpec(relo, local, family);
  const localValue = computeValue(relo.kind, localSpec);
  const expected = localValue.checkable ? localValue.value : undefined;
  if (relo.kind === CoreKind.TYPE_ID_LOCAL) return { expected, value: localValue.value };
  if (nameOf(local.type(relo.typeId)) === '') fail('anonymous types cannot be relocated (nothing to look up in the target by name)');

  const matches: { id: number; spec: Spec; computed: Computed }[] = [];
  const mismatches: string[] = [];
  const candidateIds = candidates.get(relo.typeId);
  const search = new TypeSearch();
  for (const id of candidateIds) {
    const spec = matchCandidate(localSpec, relo.kind, target, id, search);
    if (typeof spec === 'string') mismatches.push(`target ${typeLabel(target, id)} [${id}]: ${spec}`);
    else matches.push({ id, spec, computed: computeValue(relo.kind, spec) });
  }

  const [first, ...others] = matches;
  if (!first) {
    const value = missingValue(relo.kind, family);
    if (value === undefined) {
      fail(candidateIds.length === 0 ? `the target has no type named ${essentialName(nameOf(local.type(relo.typeId)))} of a compatible kind` : mismatches.join('; '));
    }
    return { expected, value };
  }
  // Like libbpf, later relocations of the same local type only consider the candidates that fit this one.
  candidates.narrow(relo.typeId, matches.map((match) => match.id));

  for (const other of others) {
    const bitOffsets = [first, other].map(({ spec }) => (spec.family === 'field' ? spec.bitOffset : 0));
    const disagreement = bitOffsets[0] !== bitOffsets[1] ? `field at bit ${bitOffsets[0]} vs ${bitOffsets[1]}`
      : other.computed.value !== first.computed.value ? `${first.computed.value} vs ${other.computed.value}`
      : undefined;
    if (disagreement) {
      fail(`ambiguous: target candidates ${typeLabel(target, first.id)} [${first.id}] and ${typeLabel(target, other.id)} [${other.id}] disagree (${disagreement})`);
    }
  }
  return { expected, value: first.computed.value, resize: accessResize(localValue.access, first.computed.access) };
}

/** Loads of a resized field can follow it only where zero extension keeps the value: pointers and unsigned ints. */
function accessResize(local: Computed['access'], target: Computed['access']): Resolution['resize'] {
  const from = local?.size ?? 0;
  const to = target?.size ?? 0;
  if (from === to) return undefined;
  const bothPointers = local?.type.kind === 'ptr' && target?.type.kind === 'ptr';
  const bothUnsigned = isUnsignedInt(local?.type) && isUnsignedInt(target?.type);
  return { from, to, safe: bothPointers || bothUnsigned };
}

function isUnsignedInt(type: BtfType | undefined): boolean {
  return type?.kind === 'int' && !type.signed;
}

/** Target candidates per local root type: same essential name, compatible kind. */
class CandidateCache {
  private readonly byLocalId = new Map<number, readonly number[]>();

  constructor(
    private readonly local: Btf,
    private readonly target: Btf,
  ) {}

  get(localId: number): readonly number[] {
    let ids = this.byLocalId.get(localId);
    if (!ids) {
      const localType = this.local.type(localId);
      const sameName = this.target.idsByEssentialName(essentialName(nameOf(localType)));
      ids = sameName.filter((id) => {
        const kind = this.target.kindOf(id);
        return !UNRELOCATABLE_KINDS.has(kind) && kindsCompatible(localType.kind, kind);
      });
      this.byLocalId.set(localId, ids);
    }
    return ids;
  }

  narrow(localId: number, ids: readonly number[]): void {
    this.byLocalId.set(localId, ids);
  }
}

/** Kinds that can never be a relocation's root. */
const UNRELOCATABLE_KINDS = new Set(['func', 'func_proto', 'var', 'datasec', 'decl_tag']);

// ---------------------------------------------------------------------------
// Type relations (libbpf's rules).

function isEnumKind(kind: string): boolean {
  return kind === 'enum' || kind === 'enum64';
}

function isComposite(type: BtfType): type is CompositeType {
  return type.kind === 'struct' || type.kind === 'union';
}

/** Same kind, where enum and enum64 count as one. */
function kindsCompatible(a: string, b: string): boolean {
  return a === b || (isEnumKind(a) && isEnumKind(b));
}

/** Btf names void "void"; BTF itself leaves it anonymous, and the rules below rely on that. */
function nameOf(type: BtfType): string {
  return type.kind === 'void' ? '' : type.name;
}

function essentialNamesEqual(a: string, b: string): boolean {
  return essentialName(a) === essentialName(b);
}

/** Can a field of local type `localId` be read where the target has a field of type `targetId`? */
function fieldsCompatible(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < MAX_TYPE_DEPTH; depth++) {
    const l = local.skipQualifiers(localId);
    const t = target.skipQualifiers(targetId);
    if (isComposite(l) && isComposite(t)) return true;
    if (!kindsCompatible(l.kind, t.kind)) return false;
    switch (l.kind) {
      case 'ptr':
      case 'float':
        return true;
      case 'fwd':
      case 'enum':
      case 'enum64': {
        const [localName, targetName] = [nameOf(l), nameOf(t)];
        return localName === '' || targetName === '' || essentialNamesEqual(localName, targetName);
      }
      case 'int':
        // Any size or signedness; only the obsolete ints with a bit offset are refused.
        return l.bitOffset === 0 && (t as IntType).bitOffset === 0;
      case 'array':
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      default:
        return false;
    }
  }
  return fail(`array types nested deeper than ${MAX_TYPE_DEPTH}`);
}

/** libbpf's "compatible" types, used by TYPE_EXISTS, TYPE_SIZE and TYPE_ID_TARGET. */
function typesCompatible(local: Btf, localId: number, target: Btf, targetId: number, level: number, search: TypeSearch): boolean {
  // The root is compared before typedefs are stripped: a typedef only matches a typedef.
  if (!kindsCompatible(local.kindOf(localId), target.kindOf(targetId))) return false;
  return search.compatible.get(`${localId}:${targetId}`, level, () => typeChainsCompatible(local, localId, target, targetId, level, search));
}

function typeChainsCompatible(local: Btf, localId: number, target: Btf, targetId: number, level: number, search: TypeSearch): boolean {
  search.spend(1);
  for (let depth = 0; depth < MAX_TYPE_DEPTH; depth++) {
    const l = local.skipQualifiers(localId);
    const t = target.skipQualifiers(targetId);
    if (!kindsCompatible(l.kind, t.kind)) return false;
    switch (l.kind) {
      case 'void':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'fwd':
        return true;
      case 'int':
        return l.bitOffset === 0 && (t as IntType).bitOffset === 0;
      case 'ptr':
      case 'array':
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      case 'func_proto': {
        const targetProto = t as typeof l;
        if (l.params.length !== targetProto.params.length) return false;
        if (l.params.length > 0 && level <= 0) fail(`function prototypes nested deeper than ${MAX_TYPE_DEPTH}`);
        const paramsCompatible = l.params.every((param, i) =>
          typesCompatible(local, local.skipQualifiers(param.type).id, target, target.skipQualifiers(targetProto.params[i]!.type).id, level - 1, search));
        if (!paramsCompatible) return false;
        localId = l.returnType;
        targetId = targetProto.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  return fail(`type chain deeper than ${MAX_TYPE_DEPTH}`);
}

/**
 * libbpf's stricter "match" (TYPE_MATCHES): names agree at every level; ints
 * agree in size and signedness; arrays in length; every local member or
 * enumerator exists in the target (by name) and matches; behind a pointer a
 * struct/union only needs the same name and kind (a forward declaration will do).
 */
function typesMatch(local: Btf, localId: number, target: Btf, targetId: number, behindPointer: boolean, level: number, search: TypeSearch): boolean {
  if (level <= 0) fail(`types nested deeper than ${MAX_TYPE_DEPTH}`);
  return search.matches.get(`${localId}:${targetId}:${behindPointer}`, level, () => typeChainsMatch(local, localId, target, targetId, behindPointer, level, search));
}

function typeChainsMatch(local: Btf, localId: number, target: Btf, targetId: number, behindPointer: boolean, level: number, search: TypeSearch): boolean {
  search.spend(1);
  for (let depth = 0; depth < MAX_TYPE_DEPTH; depth++) {
    const l = local.skipQualifiers(localId);
    const t = target.skipQualifiers(targetId);
    if (!namesMatch(nameOf(l), nameOf(t))) return false;
    switch (l.kind) {
      case 'void':
        return t.kind === 'void';
      case 'fwd':
        if (t.kind === 'fwd') return t.union === l.union;
        return behindPointer && t.kind === (l.union ? 'union' : 'struct');
      case 'enum':
      case 'enum64':
        return (t.kind === 'enum' || t.kind === 'enum64') && enumsMatch(l, t, search);
      case 'struct':
      case 'union':
        if (behindPointer) return t.kind === l.kind || (t.kind === 'fwd' && t.union === (l.kind === 'union'));
        return t.kind === l.kind && compositesMatch(local, l, target, t, level, search);
      case 'int':
        return t.kind === 'int' && t.size === l.size && t.signed === l.signed;
      case 'ptr':
        if (t.kind !== 'ptr') return false;
        behindPointer = true;
        localId = l.type;
        targetId = t.type;
        continue;
      case 'array':
        if (t.kind !== 'array' || t.nelems !== l.nelems) return false;
        localId = l.type;
        targetId = t.type;
        continue;
      case 'func_proto': {
        if (t.kind !== 'func_proto' || t.params.length !== l.params.length) return false;
        const paramsMatch = l.params.every((param, i) => typesMatch(local, param.type, target, t.params[i]!.type, behindPointer, level - 1, search));
        if (!paramsMatch) return false;
        localId = l.returnType;
        targetId = t.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  return fail(`type chain deeper than ${MAX_TYPE_DEPTH}`);
}

/** Anonymous matches only anonymous; otherwise essential names must be equal. */
function namesMatch(localName: string, targetName: string): boolean {
  return targetName === '' ? localName === '' : essentialNamesEqual(localName, targetName);
}

function enumsMatch(l: EnumType, t: EnumType, search: TypeSearch): boolean {
  search.spend(l.values.length * t.values.length);
  return l.size === t.size && l.values.every((value) => t.values.some((candidate) => namesMatch(value.name, candidate.name)));
}

function compositesMatch(local: Btf, l: CompositeType, target: Btf, t: CompositeType, level: number, search: TypeSearch): boolean {
  search.spend(l.members.length * t.members.length);
  return l.members.every((member) =>
    t.members.some((candidate) => namesMatch(member.name, candidate.name) && typesMatch(local, member.type, target, candidate.type, false, level - 1, search)));
}

/**
 * The type graph work of one relocation. libbpf's recursive searches are
 * exponential on crafted BTF (anonymous members nested in anonymous members,
 * duplicate member names, function parameters fanning out), so results are
 * remembered per pair of types, and a step budget bounds what remains.
 */
class TypeSearch {
  readonly members = new Memo<MemberSearchResult>();
  readonly compatible = new Memo<boolean>();
  readonly matches = new Memo<boolean>();
  private steps = 0;

  spend(steps: number): void {
    this.steps += steps;
    if (this.steps > MAX_SEARCH_STEPS) fail(`comparing types took more than ${MAX_SEARCH_STEPS} steps, the budget of one relocation`);
  }
}

/** Results already worked out, each with the recursion depth it had left. */
class Memo<T> {
  private readonly known = new Map<string, { value: T; levels: number }>();

  get(key: string, levels: number, compute: () => T): T {
    const known = this.known.get(key);
    // Worked out with no more levels left, it did not hit the depth limit: it holds with these.
    if (known && known.levels <= levels) return known.value;
    const value = compute();
    this.known.set(key, { value, levels });
    return value;
  }
}

// ---------------------------------------------------------------------------
// Instructions.

const CLASS_LD = 0x00;
const CLASS_LDX = 0x01;
const CLASS_ST = 0x02;
const CLASS_STX = 0x03;
const CLASS_ALU = 0x04;
const CLASS_ALU64 = 0x07;
const SOURCE_REGISTER = 0x08;
const SIZE_MASK = 0x18;
/** BPF_W, BPF_H, BPF_B, BPF_DW by access size in bytes. */
const SIZE_CODES = new Map([[4, 0x00], [2, 0x08], [1, 0x10], [8, 0x18]]);

function patchInstruction(insns: Insns, index: number, resolution: Resolution): void {
  if (index < 0 || index >= insns.count) fail(`instruction ${index} is outside the program (${insns.count} instructions)`);
  const { expected, value } = resolution;
  const opcode = insns.opcode(index);
  const checkHolds = (held: bigint, what: string) => {
    if (expected !== undefined && BigInt.asUintN(64, held) !== BigInt.asUintN(64, expected)) {
      fail(`the instruction's ${what} is ${held}, but the local BTF gives ${expected}: the object's BTF does not describe its code`);
    }
  };
  switch (opcode & 0x07) {
    case CLASS_ALU:
    case CLASS_ALU64:
      if (opcode & SOURCE_REGISTER) fail(`ALU instruction (opcode 0x${opcode.toString(16)}) has a register operand, no immediate to patch`);
      checkHolds(BigInt(insns.imm(index)), 'immediate');
      insns.setImm(index, Number(BigInt.asIntN(32, value)));
      return;
    case CLASS_LDX:
    case CLASS_ST:
    case CLASS_STX: {
      checkHolds(BigInt(insns.off(index)), 'offset');
      if (value < 0n || value > 0x7fffn) fail(`offset ${value} does not fit in an instruction's 16-bit offset`);
      const newSizeCode = memorySizeCode(insns, index, resolution.resize);
      insns.setOff(index, Number(value));
      insns.bytes[index * INSN_SIZE] = (opcode & ~SIZE_MASK) | newSizeCode;
      return;
    }
    case CLASS_LD: {
      const next = index + 1;
      const wellFormed = insns.isLdImm64(index) && insns.srcReg(index) === 0 && insns.off(index) === 0 &&
        next < insns.count && insns.opcode(next) === 0 && insns.bytes[next * INSN_SIZE + 1] === 0 && insns.off(next) === 0;
      if (!wellFormed) fail(`instruction is not a plain 64-bit immediate load (opcode 0x${opcode.toString(16)})`);
      checkHolds(insns.imm64(index), '64-bit immediate');
      insns.setImm64(index, value);
      return;
    }
    default:
      fail(`cannot patch instruction with opcode 0x${opcode.toString(16)} (only ALU immediates, loads/stores and ld_imm64 carry CO-RE values)`);
  }
}

/** The size bits a load/store must use after relocation. */
function memorySizeCode(insns: Insns, index: number, resize: Resolution['resize']): number {
  const sizeCode = insns.opcode(index) & SIZE_MASK;
  if (!resize) return sizeCode;
  if (!resize.safe) fail(`the field is ${resize.to} bytes in the target but ${resize.from} locally; only pointers and unsigned integers can be read at a different size`);
  if (SIZE_CODES.get(resize.from) !== sizeCode) fail(`the instruction accesses memory at a different size than the field's ${resize.from} bytes`);
  const newSizeCode = SIZE_CODES.get(resize.to);
  if (newSizeCode === undefined) fail(`the field is ${resize.to} bytes in the target, not a size a load or store can have`);
  return newSizeCode;
}

/** Replaces an instruction (both halves of an ld_imm64) with a call to a helper that does not exist. */
function poison(insns: Insns, index: number): void {
  if (index < 0 || index >= insns.count) return;
  const last = insns.isLdImm64(index) ? Math.min(index + 1, insns.count - 1) : index;
  for (let i = index; i <= last; i++) {
    insns.bytes.fill(0, i * INSN_SIZE, (i + 1) * INSN_SIZE);
    insns.bytes[i * INSN_SIZE] = OP_CALL;
    insns.setImm(i, POISON_HELPER);
  }
}

/** "struct foo", for messages; never throws, even for an id the BTF does not have. */
function typeLabel(btf: Btf, id: number): string {
  try {
    const type = btf.type(id);
    return type.kind === 'void' ? 'void' : `${type.kind} ${type.name || '<anon>'}`;
  } catch {
    return `type #${id}`;
  }
}
