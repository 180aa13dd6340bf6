// Where a BTF-typed program hooks in. BPF_PROG_LOAD wants the kernel BTF id of
// the target in attach_btf_id, found by name in the kernel's BTF as libbpf
// does: the function itself for fentry/fexit/fmod_ret, the typedef
// btf_trace_<tracepoint> for tp_btf, bpf_lsm_<hook> for lsm and
// bpf_iter_<name> for iter. Pure: the caller hands in the kernel's BTF.
import type { Btf } from '../btf/btf.js';
import { ObjectError } from '../errors.js';
import type { ProgramKind } from './sections.js';

interface TargetRule {
  /** Prefix of the BTF name: the section's target follows it. */
  prefix: string;
  kind: 'func' | 'typedef';
  /** The section prefix, for messages. */
  section: string;
}

const RULES: Partial<Record<string, TargetRule>> = {
  TRACE_FENTRY: { prefix: '', kind: 'func', section: 'fentry' },
  TRACE_FEXIT: { prefix: '', kind: 'func', section: 'fexit' },
  MODIFY_RETURN: { prefix: '', kind: 'func', section: 'fmod_ret' },
  TRACE_RAW_TP: { prefix: 'btf_trace_', kind: 'typedef', section: 'tp_btf' },
  LSM_MAC: { prefix: 'bpf_lsm_', kind: 'func', section: 'lsm' },
  LSM_CGROUP: { prefix: 'bpf_lsm_', kind: 'func', section: 'lsm_cgroup' },
  TRACE_ITER: { prefix: 'bpf_iter_', kind: 'func', section: 'iter' },
};

/** Whether programs of this kind name a kernel BTF type to load against. */
export function needsAttachBtfId(kind: ProgramKind): boolean {
  return (kind.type === 'TRACING' || kind.type === 'LSM') && kind.attachType !== undefined && RULES[kind.attachType] !== undefined;
}

/**
 * The kernel BTF id of `program`'s target (`kernel`: the running kernel's BTF,
 * whose ids the kernel checks). Only vmlinux is searched, not module BTF.
 */
export function attachBtfId(kernel: Btf, program: { name: string; kind: ProgramKind }): number {
  const rule = program.kind.attachType === undefined ? undefined : RULES[program.kind.attachType];
  if (!rule) throw new ObjectError(`program '${program.name}': ${program.kind.type} programs of attach type ${program.kind.attachType} have no BTF target`);
  const target = program.kind.target;
  if (!target) throw new ObjectError(`program '${program.name}': SEC("${rule.section}") names no target (expected ${rule.section}/<name>)`);
  const name = `${rule.prefix}${target}`;
  const id = kernel.idsByName(name, rule.kind)[0];
  if (id === undefined) {
    throw new ObjectError(`program '${program.name}': the kernel's BTF has no ${rule.kind} '${name}' to attach to (module BTF is not searched)`);
  }
  return id;
}
