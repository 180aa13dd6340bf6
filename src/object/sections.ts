// ELF section name (libbpf's SEC() convention) → program type, expected
// attach type and flags. A pattern ending in '+' matches the bare prefix or
// prefix + '/…'; ending in '/' requires the part after it; otherwise the name
// must equal the pattern. A leading '?' (don't auto-load) is ignored here.

export const ProgType = {
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  CGROUP_SOCK: 9,
  SK_SKB: 14,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
  RAW_TRACEPOINT_WRITABLE: 24,
  TRACING: 26,
  STRUCT_OPS: 27,
  EXT: 28,
  LSM: 29,
  SK_LOOKUP: 30,
  SYSCALL: 31,
  NETFILTER: 32,
} as const;
export type ProgTypeName = keyof typeof ProgType;

export const AttachType = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  TRACE_RAW_TP: 23,
  TRACE_FENTRY: 24,
  TRACE_FEXIT: 25,
  MODIFY_RETURN: 26,
  LSM_MAC: 27,
  TRACE_ITER: 28,
  XDP: 37,
  PERF_EVENT: 41,
  TRACE_KPROBE_MULTI: 42,
  SK_LOOKUP: 36,
  NETFILTER: 45,
} as const;
export type AttachTypeName = keyof typeof AttachType;

export const BPF_F_SLEEPABLE = 1 << 4;
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

export interface SectionDef {
  readonly pattern: string;
  readonly type: ProgTypeName;
  readonly attachType?: AttachTypeName;
  readonly sleepable?: boolean;
}

/** How each attach kind is reached; informs Program.attach(). */
const defs: SectionDef[] = [
  { pattern: 'socket', type: 'SOCKET_FILTER' },
  { pattern: 'sk_reuseport', type: 'SOCKET_FILTER' },
  { pattern: 'kprobe+', type: 'KPROBE' },
  { pattern: 'kretprobe+', type: 'KPROBE' },
  { pattern: 'uprobe+', type: 'KPROBE' },
  { pattern: 'uretprobe+', type: 'KPROBE' },
  { pattern: 'uprobe.s+', type: 'KPROBE', sleepable: true },
  { pattern: 'uretprobe.s+', type: 'KPROBE', sleepable: true },
  { pattern: 'kprobe.multi+', type: 'KPROBE', attachType: 'TRACE_KPROBE_MULTI' },
  { pattern: 'kretprobe.multi+', type: 'KPROBE', attachType: 'TRACE_KPROBE_MULTI' },
  { pattern: 'tc', type: 'SCHED_CLS' },
  { pattern: 'classifier', type: 'SCHED_CLS' },
  { pattern: 'action', type: 'SCHED_ACT' },
  { pattern: 'tracepoint+', type: 'TRACEPOINT' },
  { pattern: 'tp+', type: 'TRACEPOINT' },
  { pattern: 'raw_tracepoint+', type: 'RAW_TRACEPOINT' },
  { pattern: 'raw_tp+', type: 'RAW_TRACEPOINT' },
  { pattern: 'raw_tracepoint.w+', type: 'RAW_TRACEPOINT_WRITABLE' },
  { pattern: 'raw_tp.w+', type: 'RAW_TRACEPOINT_WRITABLE' },
  { pattern: 'tp_btf+', type: 'TRACING', attachType: 'TRACE_RAW_TP' },
  { pattern: 'fentry+', type: 'TRACING', attachType: 'TRACE_FENTRY' },
  { pattern: 'fmod_ret+', type: 'TRACING', attachType: 'MODIFY_RETURN' },
  { pattern: 'fexit+', type: 'TRACING', attachType: 'TRACE_FEXIT' },
  { pattern: 'fentry.s+', type: 'TRACING', attachType: 'TRACE_FENTRY', sleepable: true },
  { pattern: 'fmod_ret.s+', type: 'TRACING', attachType: 'MODIFY_RETURN', sleepable: true },
  { pattern: 'fexit.s+', type: 'TRACING', attachType: 'TRACE_FEXIT', sleepable: true },
  { pattern: 'freplace+', type: 'EXT' },
  { pattern: 'lsm+', type: 'LSM', attachType: 'LSM_MAC' },
  { pattern: 'lsm.s+', type: 'LSM', attachType: 'LSM_MAC', sleepable: true },
  { pattern: 'iter+', type: 'TRACING', attachType: 'TRACE_ITER' },
  { pattern: 'iter.s+', type: 'TRACING', attachType: 'TRACE_ITER', sleepable: true },
  { pattern: 'syscall', type: 'SYSCALL', sleepable: true },
  { pattern: 'xdp', type: 'XDP', attachType: 'XDP' },
  { pattern: 'perf_event', type: 'PERF_EVENT' },
  { pattern: 'cgroup_skb/ingress', type: 'CGROUP_SKB', attachType: 'CGROUP_INET_INGRESS' },
  { pattern: 'cgroup_skb/egress', type: 'CGROUP_SKB', attachType: 'CGROUP_INET_EGRESS' },
  { pattern: 'cgroup/skb', type: 'CGROUP_SKB' },
  { pattern: 'cgroup/sock_create', type: 'CGROUP_SOCK', attachType: 'CGROUP_INET_SOCK_CREATE' },
  { pattern: 'cgroup/sock', type: 'CGROUP_SOCK', attachType: 'CGROUP_INET_SOCK_CREATE' },
  { pattern: 'sk_lookup', type: 'SK_LOOKUP', attachType: 'SK_LOOKUP' },
  { pattern: 'struct_ops+', type: 'STRUCT_OPS' },
  { pattern: 'netfilter', type: 'NETFILTER', attachType: 'NETFILTER' },
];

export interface ProgramKind {
  readonly type: ProgTypeName;
  readonly attachType: AttachTypeName | undefined;
  readonly sleepable: boolean;
  /** The part after the prefix and '/', e.g. "syscalls/sys_enter_execve" for "tracepoint/syscalls/sys_enter_execve". */
  readonly target: string | undefined;
  /** True when the section started with '?': load only when asked for. */
  readonly optional: boolean;
}

export function programKind(section: string): ProgramKind | undefined {
  const optional = section.startsWith('?');
  const name = optional ? section.slice(1) : section;
  let best: { def: SectionDef; target: string | undefined } | undefined;
  for (const def of defs) {
    const target = matchPattern(def.pattern, name);
    if (target === null) continue;
    if (!best || def.pattern.length > best.def.pattern.length) best = { def, target };
  }
  if (!best) return undefined;
  const { def, target } = best;
  return { type: def.type, attachType: def.attachType, sleepable: def.sleepable ?? false, target, optional };
}

/** undefined: matched with no target; null: no match. */
function matchPattern(pattern: string, name: string): string | undefined | null {
  if (pattern.endsWith('+')) {
    const prefix = pattern.slice(0, -1);
    if (name === prefix) return undefined;
    return name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : null;
  }
  if (pattern.endsWith('/')) return name.startsWith(pattern) && name.length > pattern.length ? name.slice(pattern.length) : null;
  return name === pattern ? undefined : null;
}
