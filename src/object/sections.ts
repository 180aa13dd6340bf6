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
  LWT_IN: 10,
  LWT_OUT: 11,
  LWT_XMIT: 12,
  SOCK_OPS: 13,
  SK_SKB: 14,
  CGROUP_DEVICE: 15,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19,
  LIRC_MODE2: 20,
  SK_REUSEPORT: 21,
  FLOW_DISSECTOR: 22,
  CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24,
  CGROUP_SOCKOPT: 25,
  TRACING: 26,
  STRUCT_OPS: 27,
  EXT: 28,
  LSM: 29,
  SK_LOOKUP: 30,
  SYSCALL: 31,
  NETFILTER: 32,
} as const;
export type ProgTypeName = keyof typeof ProgType;

/** enum bpf_attach_type (names without BPF_); test/sections.test.ts checks them against kernel BTF. */
export const AttachType = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  CGROUP_SOCK_OPS: 3,
  SK_SKB_STREAM_PARSER: 4,
  SK_SKB_STREAM_VERDICT: 5,
  CGROUP_DEVICE: 6,
  SK_MSG_VERDICT: 7,
  CGROUP_INET4_BIND: 8,
  CGROUP_INET6_BIND: 9,
  CGROUP_INET4_CONNECT: 10,
  CGROUP_INET6_CONNECT: 11,
  CGROUP_INET4_POST_BIND: 12,
  CGROUP_INET6_POST_BIND: 13,
  CGROUP_UDP4_SENDMSG: 14,
  CGROUP_UDP6_SENDMSG: 15,
  LIRC_MODE2: 16,
  FLOW_DISSECTOR: 17,
  CGROUP_SYSCTL: 18,
  CGROUP_UDP4_RECVMSG: 19,
  CGROUP_UDP6_RECVMSG: 20,
  CGROUP_GETSOCKOPT: 21,
  CGROUP_SETSOCKOPT: 22,
  TRACE_RAW_TP: 23,
  TRACE_FENTRY: 24,
  TRACE_FEXIT: 25,
  MODIFY_RETURN: 26,
  LSM_MAC: 27,
  TRACE_ITER: 28,
  CGROUP_INET4_GETPEERNAME: 29,
  CGROUP_INET6_GETPEERNAME: 30,
  CGROUP_INET4_GETSOCKNAME: 31,
  CGROUP_INET6_GETSOCKNAME: 32,
  XDP_DEVMAP: 33,
  CGROUP_INET_SOCK_RELEASE: 34,
  XDP_CPUMAP: 35,
  SK_LOOKUP: 36,
  XDP: 37,
  SK_SKB_VERDICT: 38,
  SK_REUSEPORT_SELECT: 39,
  SK_REUSEPORT_SELECT_OR_MIGRATE: 40,
  PERF_EVENT: 41,
  TRACE_KPROBE_MULTI: 42,
  LSM_CGROUP: 43,
  STRUCT_OPS: 44,
  NETFILTER: 45,
  TCX_INGRESS: 46,
  TCX_EGRESS: 47,
  TRACE_UPROBE_MULTI: 48,
  CGROUP_UNIX_CONNECT: 49,
  CGROUP_UNIX_SENDMSG: 50,
  CGROUP_UNIX_RECVMSG: 51,
  CGROUP_UNIX_GETPEERNAME: 52,
  CGROUP_UNIX_GETSOCKNAME: 53,
  NETKIT_PRIMARY: 54,
  NETKIT_PEER: 55,
  TRACE_KPROBE_SESSION: 56,
  TRACE_UPROBE_SESSION: 57,
} as const;
export type AttachTypeName = keyof typeof AttachType;

export const BPF_F_SLEEPABLE = 1 << 4;
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

export interface SectionDef {
  readonly pattern: string;
  readonly type: ProgTypeName;
  readonly attachType?: AttachTypeName;
  readonly sleepable?: boolean;
  /** XDP programs that accept multi-buffer packets (BPF_F_XDP_HAS_FRAGS). */
  readonly frags?: boolean;
}

type Def = [pattern: string, type: ProgTypeName, attachType?: AttachTypeName, flag?: 'sleepable' | 'frags'];

/** libbpf's section names (its section_defs), as data. Longest matching pattern wins. */
const defs: SectionDef[] = ([
  ['socket', 'SOCKET_FILTER'],
  ['sk_reuseport/migrate', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT_OR_MIGRATE'],
  ['sk_reuseport', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT'],
  ['kprobe+', 'KPROBE'],
  ['uprobe+', 'KPROBE'],
  ['uprobe.s+', 'KPROBE', undefined, 'sleepable'],
  ['kretprobe+', 'KPROBE'],
  ['uretprobe+', 'KPROBE'],
  ['uretprobe.s+', 'KPROBE', undefined, 'sleepable'],
  ['kprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI'],
  ['kretprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI'],
  ['kprobe.session+', 'KPROBE', 'TRACE_KPROBE_SESSION'],
  ['uprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI'],
  ['uretprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI'],
  ['uprobe.session+', 'KPROBE', 'TRACE_UPROBE_SESSION'],
  ['uprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', 'sleepable'],
  ['uretprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', 'sleepable'],
  ['uprobe.session.s+', 'KPROBE', 'TRACE_UPROBE_SESSION', 'sleepable'],
  ['ksyscall+', 'KPROBE'],
  ['kretsyscall+', 'KPROBE'],
  ['usdt+', 'KPROBE'],
  ['usdt.s+', 'KPROBE', undefined, 'sleepable'],
  ['tc/ingress', 'SCHED_CLS', 'TCX_INGRESS'],
  ['tc/egress', 'SCHED_CLS', 'TCX_EGRESS'],
  ['tcx/ingress', 'SCHED_CLS', 'TCX_INGRESS'],
  ['tcx/egress', 'SCHED_CLS', 'TCX_EGRESS'],
  ['tc', 'SCHED_CLS'],
  ['classifier', 'SCHED_CLS'],
  ['action', 'SCHED_ACT'],
  ['netkit/primary', 'SCHED_CLS', 'NETKIT_PRIMARY'],
  ['netkit/peer', 'SCHED_CLS', 'NETKIT_PEER'],
  ['tracepoint+', 'TRACEPOINT'],
  ['tp+', 'TRACEPOINT'],
  ['raw_tracepoint+', 'RAW_TRACEPOINT'],
  ['raw_tp+', 'RAW_TRACEPOINT'],
  ['raw_tracepoint.w+', 'RAW_TRACEPOINT_WRITABLE'],
  ['raw_tp.w+', 'RAW_TRACEPOINT_WRITABLE'],
  ['tp_btf+', 'TRACING', 'TRACE_RAW_TP'],
  ['fentry+', 'TRACING', 'TRACE_FENTRY'],
  ['fmod_ret+', 'TRACING', 'MODIFY_RETURN'],
  ['fexit+', 'TRACING', 'TRACE_FEXIT'],
  ['fentry.s+', 'TRACING', 'TRACE_FENTRY', 'sleepable'],
  ['fmod_ret.s+', 'TRACING', 'MODIFY_RETURN', 'sleepable'],
  ['fexit.s+', 'TRACING', 'TRACE_FEXIT', 'sleepable'],
  ['freplace+', 'EXT'],
  ['lsm+', 'LSM', 'LSM_MAC'],
  ['lsm.s+', 'LSM', 'LSM_MAC', 'sleepable'],
  ['lsm_cgroup+', 'LSM', 'LSM_CGROUP'],
  ['iter+', 'TRACING', 'TRACE_ITER'],
  ['iter.s+', 'TRACING', 'TRACE_ITER', 'sleepable'],
  ['syscall', 'SYSCALL', undefined, 'sleepable'],
  ['xdp.frags/devmap', 'XDP', 'XDP_DEVMAP', 'frags'],
  ['xdp/devmap', 'XDP', 'XDP_DEVMAP'],
  ['xdp.frags/cpumap', 'XDP', 'XDP_CPUMAP', 'frags'],
  ['xdp/cpumap', 'XDP', 'XDP_CPUMAP'],
  ['xdp.frags', 'XDP', 'XDP', 'frags'],
  ['xdp', 'XDP', 'XDP'],
  ['perf_event', 'PERF_EVENT'],
  ['lwt_in', 'LWT_IN'],
  ['lwt_out', 'LWT_OUT'],
  ['lwt_xmit', 'LWT_XMIT'],
  ['lwt_seg6local', 'LWT_SEG6LOCAL'],
  ['sockops', 'SOCK_OPS', 'CGROUP_SOCK_OPS'],
  ['sk_skb/stream_parser', 'SK_SKB', 'SK_SKB_STREAM_PARSER'],
  ['sk_skb/stream_verdict', 'SK_SKB', 'SK_SKB_STREAM_VERDICT'],
  ['sk_skb/verdict', 'SK_SKB', 'SK_SKB_VERDICT'],
  ['sk_skb', 'SK_SKB'],
  ['sk_msg', 'SK_MSG', 'SK_MSG_VERDICT'],
  ['lirc_mode2', 'LIRC_MODE2', 'LIRC_MODE2'],
  ['flow_dissector', 'FLOW_DISSECTOR', 'FLOW_DISSECTOR'],
  ['cgroup_skb/ingress', 'CGROUP_SKB', 'CGROUP_INET_INGRESS'],
  ['cgroup_skb/egress', 'CGROUP_SKB', 'CGROUP_INET_EGRESS'],
  ['cgroup/skb', 'CGROUP_SKB'],
  ['cgroup/sock_create', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE'],
  ['cgroup/sock_release', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_RELEASE'],
  ['cgroup/sock', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE'],
  ['cgroup/post_bind4', 'CGROUP_SOCK', 'CGROUP_INET4_POST_BIND'],
  ['cgroup/post_bind6', 'CGROUP_SOCK', 'CGROUP_INET6_POST_BIND'],
  ['cgroup/bind4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_BIND'],
  ['cgroup/bind6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_BIND'],
  ['cgroup/connect4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_CONNECT'],
  ['cgroup/connect6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_CONNECT'],
  ['cgroup/connect_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_CONNECT'],
  ['cgroup/sendmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_SENDMSG'],
  ['cgroup/sendmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_SENDMSG'],
  ['cgroup/sendmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_SENDMSG'],
  ['cgroup/recvmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_RECVMSG'],
  ['cgroup/recvmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_RECVMSG'],
  ['cgroup/recvmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_RECVMSG'],
  ['cgroup/getpeername4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETPEERNAME'],
  ['cgroup/getpeername6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETPEERNAME'],
  ['cgroup/getpeername_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETPEERNAME'],
  ['cgroup/getsockname4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETSOCKNAME'],
  ['cgroup/getsockname6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETSOCKNAME'],
  ['cgroup/getsockname_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETSOCKNAME'],
  ['cgroup/sysctl', 'CGROUP_SYSCTL', 'CGROUP_SYSCTL'],
  ['cgroup/getsockopt', 'CGROUP_SOCKOPT', 'CGROUP_GETSOCKOPT'],
  ['cgroup/setsockopt', 'CGROUP_SOCKOPT', 'CGROUP_SETSOCKOPT'],
  ['cgroup/dev', 'CGROUP_DEVICE', 'CGROUP_DEVICE'],
  ['struct_ops+', 'STRUCT_OPS'],
  ['struct_ops.s+', 'STRUCT_OPS', undefined, 'sleepable'],
  ['sk_lookup', 'SK_LOOKUP', 'SK_LOOKUP'],
  ['netfilter', 'NETFILTER', 'NETFILTER'],
] satisfies Def[]).map(([pattern, type, attachType, flag]): SectionDef => ({ pattern, type, attachType, sleepable: flag === 'sleepable', frags: flag === 'frags' }));

export interface ProgramKind {
  readonly type: ProgTypeName;
  readonly attachType: AttachTypeName | undefined;
  readonly sleepable: boolean;
  readonly frags: boolean;
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
  return { type: def.type, attachType: def.attachType, sleepable: def.sleepable ?? false, frags: def.frags ?? false, target, optional };
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
