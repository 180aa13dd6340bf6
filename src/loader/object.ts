// ObjectSpec → live kernel objects: BTF, maps (global data filled in and
// `.rodata` frozen), then programs (CO-RE against the target BTF, map
// references patched with fds), in that order.
import type { Btf } from '../btf/btf.js';
import { decodeValue, encodeValue } from '../btf/values.js';
import { checkInteger, cString, U32_MAX } from '../check.js';
import { getByName, SyscallError, TsbpfError, VerifierError } from '../errors.js';
import { attachBtfId, needsAttachBtfId } from '../object/attach-target.js';
import { applyCoreRelocations, describeCoreFailure, POISON_HELPER, type CoreFailure } from '../object/core.js';
import { KCONFIG_MAP } from '../object/externs.js';
import { Insns, OP_CALL, PSEUDO_BTF_ID, PSEUDO_KFUNC_CALL, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE } from '../object/insn.js';
import { checkRingSize, MapType, type MapSpec } from '../object/maps.js';
import type { ProgramSpec } from '../object/spec.js';
import { ObjectSpec } from '../object/spec.js';
import { possibleCpus } from '../cpus.js';
import { readRegularFile } from '../regular-file.js';
import { releaseAll, releaseAllOrThrow } from '../release.js';
import type { PerfBuffer, PerfBufferOptions } from '../ringbuf/perf-buffer.js';
import { BPF_F_RB_OVERWRITE, type RingBuffer } from '../ringbuf/ringbuf.js';
import type { UserRingBuffer } from '../ringbuf/user-ringbuf.js';
import { btfLoad, closeFd, mapCreate, mapFreeze, mapUpdate, PAGE_SIZE, progLoad } from '../syscall/index.js';
import type { Link } from '../attach/link.js';
import { kconfigContents, resolveKsyms, type KernelConfig, type KsymValue } from './externs.js';
import { loadBtfFile } from './kernel-btf.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';

/** Name suffix of the drop counters programs/include/tsbpf.h keeps next to each ring. */
export const DROP_COUNTER_SUFFIX = '__tsbpf_dropped';

export interface LoadOptions {
  /** Values for `const volatile` globals in `.rodata`, checked against their BTF types. */
  constants?: Record<string, unknown>;
  /** Load only these programs (default: every program whose section does not start with '?'). */
  programs?: readonly string[];
  /** Target BTF for CO-RE: a parsed Btf or a file path (default: the running kernel's). */
  targetBtf?: Btf | string;
  /** Kernel configuration for `__kconfig` externs (default: /proc/config.gz, then /boot/config-<release>). */
  kernelConfig?: KernelConfig;
}

/** A loaded object: its maps and programs, released together by close(). */
export class BpfObject {
  private closed = false;

  private constructor(
    readonly spec: ObjectSpec,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
    private readonly btfFd: number | undefined,
  ) {}

  /** Reads, parses and loads a BPF object file. */
  static open(path: string, options: LoadOptions = {}): BpfObject {
    return BpfObject.load(ObjectSpec.parse(readRegularFile(path, 'BPF object')), options);
  }

  static load(spec: ObjectSpec, options: LoadOptions = {}): BpfObject {
    const opened: { close(): void }[] = [];
    try {
      const btfFd = spec.btfForKernel ? btfLoad(spec.btfForKernel) : undefined;
      if (btfFd !== undefined) opened.push({ close: () => closeFd(btfFd) });
      const contents = spec.dataContents(options.constants ?? {});
      const kconfig = contents.get(KCONFIG_MAP);
      if (kconfig) contents.set(KCONFIG_MAP, kconfigContents(spec, kconfig, options.kernelConfig));
      const maps = new Map<string, BpfMap>();
      for (const mapSpec of spec.maps.values()) {
        const map = createMap(mapSpec, spec.btf, btfFd, contents.get(mapSpec.name));
        opened.push(map);
        maps.set(map.name, map);
      }
      const target = lazyTargetBtf(options.targetBtf);
      const ksyms = resolveKsyms([...spec.externs.values()], () => loadBtfFile());
      const programs = new Map<string, BpfProgram>();
      for (const programSpec of selectPrograms(spec, options.programs)) {
        const program = new BpfProgram(programSpec, loadProgram(spec, programSpec, { maps, ksyms, btfFd, target, kernel: () => loadBtfFile() }));
        opened.push(program);
        programs.set(program.name, program);
      }
      return new BpfObject(spec, maps, programs, btfFd);
    } catch (error) {
      // The failure that stopped the load says more than any while undoing it.
      releaseAll(opened.reverse().map((resource) => () => resource.close()));
      throw error;
    }
  }

  map(name: string): BpfMap {
    return getByName(this.maps, 'map', name);
  }

  program(name: string): BpfProgram {
    return getByName(this.programs, 'program', name);
  }

  /**
   * The ring buffer map `name`, mapped for reading. When the program counts
   * failed reservations with programs/include/tsbpf.h (a global
   * `<name>__tsbpf_dropped`), the ring's stats() report them as `dropped`.
   */
  ringBuffer(name: string): RingBuffer {
    const counter = `${name}${DROP_COUNTER_SUFFIX}`;
    const counted = [...this.spec.maps.values()].some((map) => map.data?.variables.has(counter));
    return this.map(name).ringBuffer(counted ? () => this.readVariable(counter) as bigint : undefined);
  }

  /** The user ring buffer map `name` (BPF_MAP_TYPE_USER_RINGBUF), mapped for writing. */
  userRingBuffer(name: string): UserRingBuffer {
    return this.map(name).userRingBuffer();
  }

  /** The perf event array `name`, with a ring per online CPU (see PerfBuffer). */
  perfBuffer(name: string, options?: PerfBufferOptions): PerfBuffer {
    return this.map(name).perfBuffer(options);
  }

  /** Reads a global variable (`.data`, `.bss`, `.rodata`) as a JS value from its BTF type. */
  readVariable(name: string): unknown {
    const { map, variable } = this.spec.variable(name);
    const value = this.map(map.name).lookup(new Uint8Array(4));
    if (!value) throw new TsbpfError(`global data map ${map.name} has no element`);
    if (!this.spec.btf || variable.typeId === 0) return value.slice(variable.offset, variable.offset + variable.size);
    return decodeValue(this.spec.btf, variable.typeId, value, variable.offset);
  }

  /** Writes a global variable in `.data` or `.bss` (a read-modify-write of its section). */
  writeVariable(name: string, value: unknown): void {
    const { map, variable } = this.spec.variable(name);
    if (map.data?.kind === 'rodata') throw new TsbpfError(`'${name}' is read-only after load: pass it in LoadOptions.constants`);
    if (!this.spec.btf || variable.typeId === 0) throw new TsbpfError(`'${name}' has no BTF type`);
    const live = this.map(map.name);
    const key = new Uint8Array(4);
    const section = live.lookup(key)!;
    section.set(encodeValue(this.spec.btf, variable.typeId, value, name), variable.offset);
    live.update(key, section);
  }

  /** Attaches every loaded program whose section says where (tracepoint/…, raw_tp/…). */
  attachAll(): Link[] {
    return [...this.programs.values()].filter((p) => p.spec.kind.target !== undefined).map((p) => p.attach());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const btfFd = this.btfFd;
    releaseAllOrThrow([
      ...[...this.programs.values(), ...this.maps.values()].map((part) => () => part.close()),
      ...(btfFd === undefined ? [] : [() => closeFd(btfFd)]),
    ]);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function selectPrograms(spec: ObjectSpec, names: readonly string[] | undefined): ProgramSpec[] {
  if (names) return names.map((name) => spec.program(name));
  return [...spec.programs.values()].filter((p) => !p.kind.optional);
}

function lazyTargetBtf(target: Btf | string | undefined): () => Btf {
  if (target !== undefined && typeof target !== 'string') return () => target;
  return () => loadBtfFile(target);
}

/** Object names the kernel accepts: 15 characters of [A-Za-z0-9_.]. */
function kernelName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

/** libbpf's rule: a perf event array declared without max_entries gets a slot per possible CPU. */
function maxEntries(spec: MapSpec): number {
  if (spec.type !== MapType.PERF_EVENT_ARRAY || spec.maxEntries !== 0) return spec.maxEntries;
  return Math.max(...possibleCpus()) + 1;
}

/** MapSpec fields the kernel takes as u32s. */
const U32_MAP_FIELDS = ['type', 'keySize', 'valueSize', 'maxEntries', 'flags', 'numaNode', 'btfKeyTypeId', 'btfValueTypeId'] as const;

function createMap(spec: MapSpec, btf: Btf | undefined, btfFd: number | undefined, contents: Uint8Array | undefined): BpfMap {
  // A spec edited after parsing can hold anything: 2^32 + 16 entries must not become 16, nor a 4.5-byte key 4.
  for (const field of U32_MAP_FIELDS) checkInteger(spec[field], 0, U32_MAX, `map '${spec.name}' ${field}`);
  if (spec.type === MapType.RINGBUF || spec.type === MapType.USER_RINGBUF) {
    // Checked again: a spec can be changed after parsing. A power of two of at least a page is a multiple of the page size.
    checkRingSize(spec);
    if (spec.maxEntries < PAGE_SIZE) {
      throw new TsbpfError(`ring buffer '${spec.name}': max_entries ${spec.maxEntries} is smaller than this machine's page size (${PAGE_SIZE})`);
    }
  }
  const withBtf = btfFd !== undefined && (spec.btfValueTypeId !== 0 || spec.btfKeyTypeId !== 0);
  const fd = createOrExplain(spec, {
    map_type: spec.type,
    key_size: spec.keySize,
    value_size: spec.valueSize,
    max_entries: maxEntries(spec),
    map_flags: spec.flags,
    numa_node: spec.numaNode,
    map_name: kernelName(spec.name),
    map_extra: spec.mapExtra,
    btf_fd: withBtf ? btfFd : 0,
    btf_key_type_id: withBtf ? spec.btfKeyTypeId : 0,
    btf_value_type_id: withBtf ? spec.btfValueTypeId : 0,
  });
  try {
    const map = new BpfMap(spec, fd, btf);
    if (contents) {
      map.update(new Uint8Array(4), contents);
      // Read-only for programs and, once frozen, for user space too: the verifier may then trust the values.
      if (spec.data?.kind === 'rodata' || spec.data?.kind === 'kconfig') mapFreeze(fd);
    }
    return map;
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

function createOrExplain(spec: MapSpec, attr: Parameters<typeof mapCreate>[0]): number {
  try {
    return mapCreate(attr, spec.name);
  } catch (error) {
    const overwrite = spec.type === MapType.RINGBUF && (spec.flags & BPF_F_RB_OVERWRITE) !== 0;
    if (overwrite && error instanceof SyscallError && error.code === 'EINVAL') {
      throw new TsbpfError(`ring buffer '${spec.name}' asks for overwrite mode (BPF_F_RB_OVERWRITE), which this kernel does not support (Linux 6.19 added it)`, { cause: error });
    }
    throw error;
  }
}

interface LoadContext {
  readonly maps: ReadonlyMap<string, BpfMap>;
  readonly ksyms: ReadonlyMap<string, KsymValue | undefined>;
  readonly btfFd: number | undefined;
  /** Target BTF for CO-RE, parsed when first needed. */
  readonly target: () => Btf;
  /** The running kernel's BTF (attach targets are its ids, whatever the CO-RE target). */
  readonly kernel: () => Btf;
}

function loadProgram(spec: ObjectSpec, program: ProgramSpec, { maps, ksyms, btfFd, target, kernel }: LoadContext): number {
  let insns: Uint8Array = program.insns.slice();
  let coreFailures: CoreFailure[] = [];
  if (program.coreRelos.length > 0) {
    if (!spec.btf) throw new TsbpfError(`program '${program.name}' has CO-RE relocations but the object has no BTF`);
    ({ insns, failures: coreFailures } = applyCoreRelocations(insns, program.coreRelos, spec.btf, target()));
  }
  const code = new Insns(insns);
  for (const reference of program.mapReferences) {
    const map = maps.get(reference.map);
    if (!map) throw new TsbpfError(`program '${program.name}' uses map '${reference.map}', which was not created`);
    if (reference.valueOffset === undefined) {
      code.setSrcReg(reference.insn, PSEUDO_MAP_FD);
    } else {
      code.setSrcReg(reference.insn, PSEUDO_MAP_VALUE);
      code.setImm(reference.insn + 1, reference.valueOffset);
    }
    code.setImm(reference.insn, map.fd);
  }
  for (const reference of program.externReferences) patchKsym(code, reference.insn, ksyms.get(reference.name));
  const withBtf = btfFd !== undefined && program.funcInfo.length > 0;
  try {
    return progLoad({
      prog_type: program.type,
      expected_attach_type: program.expectedAttachType,
      prog_flags: program.flags,
      prog_name: kernelName(program.name),
      attach_btf_id: needsAttachBtfId(program.kind) ? attachBtfId(kernel(), program) : 0,
      insns,
      insn_cnt: code.count,
      license: cString(spec.license, 'license'),
      kern_version: spec.kernelVersion,
      prog_btf_fd: withBtf ? btfFd : 0,
      func_info_rec_size: withBtf ? 8 : 0,
      func_info: withBtf ? encodeFuncInfo(program) : null,
      func_info_cnt: withBtf ? program.funcInfo.length : 0,
      line_info_rec_size: withBtf && program.lineInfo.length ? 16 : 0,
      line_info: withBtf && program.lineInfo.length ? encodeLineInfo(program) : null,
      line_info_cnt: withBtf ? program.lineInfo.length : 0,
    }, program.name);
  } catch (error) {
    if (error instanceof VerifierError && coreFailures.length > 0) {
      const notes = coreFailures.map((failure) => `CO-RE relocation failed: ${describeCoreFailure(failure)}`);
      throw new VerifierError(error.call, error.errno, error.code, error.program, error.log, notes);
    }
    throw error;
  }
}

/** Points an ld_imm64 or a call at a kernel symbol; a weak symbol the kernel lacks becomes 0 (or a poisoned call). */
function patchKsym(code: Insns, insn: number, value: KsymValue | undefined): void {
  if (code.opcode(insn) === OP_CALL) {
    const kfunc = value?.kind === 'kfunc' ? value.btfId : undefined;
    code.setSrcReg(insn, kfunc === undefined ? 0 : PSEUDO_KFUNC_CALL);
    code.setOff(insn, 0);
    code.setImm(insn, kfunc ?? POISON_HELPER);
  } else if (value?.kind === 'btf-var') {
    code.setSrcReg(insn, PSEUDO_BTF_ID);
    code.setImm(insn, value.btfId);
    code.setImm(insn + 1, 0); // BTF object fd: 0 is vmlinux
  } else {
    code.setSrcReg(insn, 0);
    code.setImm64(insn, value?.kind === 'address' ? value.address : 0n);
  }
}

function encodeFuncInfo(program: ProgramSpec): Uint8Array {
  const bytes = Buffer.alloc(program.funcInfo.length * 8);
  program.funcInfo.forEach((info, i) => {
    bytes.writeUInt32LE(info.insnOffset, i * 8);
    bytes.writeUInt32LE(info.typeId, i * 8 + 4);
  });
  return bytes;
}

function encodeLineInfo(program: ProgramSpec): Uint8Array {
  const bytes = Buffer.alloc(program.lineInfo.length * 16);
  program.lineInfo.forEach((info, i) => {
    bytes.writeUInt32LE(info.insnOffset, i * 16);
    bytes.writeUInt32LE(info.fileNameOffset, i * 16 + 4);
    bytes.writeUInt32LE(info.lineOffset, i * 16 + 8);
    bytes.writeUInt32LE(((info.lineNumber << 10) | info.column) >>> 0, i * 16 + 12);
  });
  return bytes;
}
