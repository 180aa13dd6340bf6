// SPDX-License-Identifier: GPL-2.0
/* CO-RE against the running kernel, for the differential test
 * (test/differential.test.ts): field offsets (nested, arrays, members inside
 * the kernel's anonymous unions), field sizes, field existence (a field that
 * exists and one that does not, through ___flavour structs), type existence
 * and size, type ids, enum values (32- and 64-bit kernel enums, declared here
 * with wrong values on purpose) and bitfields read with
 * BPF_CORE_READ_BITFIELD_PROBED. The local types are minimal: only names
 * matter; offsets and values come from the kernel's BTF. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
	unsigned int in_execve: 1;
	unsigned int in_iowait: 1;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

/* The same kernel struct under another name: `state` was renamed `__state`
 * in 5.14, so on this kernel it does not exist. */
struct task_struct___old {
	long state;
	int pid;
} __attribute__((preserve_access_index));

struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

/* In the kernel, `next` is inside an anonymous struct in an anonymous union
 * and `fclone` is a 2-bit bitfield. */
struct sk_buff {
	struct sk_buff *next;
	unsigned int len;
	unsigned char cloned: 1;
	unsigned char fclone: 2;
} __attribute__((preserve_access_index));

/* Kernel enums with deliberately wrong local values: the relocations must
 * put the kernel's values in. */
enum pid_type {
	PIDTYPE_PID = 10,
	PIDTYPE_TGID = 11,
	PIDTYPE_SID = 13,
};

enum pid_type___flavour {
	PIDTYPE_PGID___flavour = 20,
	PIDTYPE_TSBPF_MISSING___flavour = 21,
};

/* An ENUM64 in the kernel (values near 2^64). */
enum perf_callchain_context {
	PERF_CONTEXT_KERNEL = 0x100000000ULL,
	PERF_CONTEXT_USER = 0x200000000ULL,
};

struct tsbpf_no_such_type {
	int x;
};

struct core_results {
	__u64 offsets[6];
	__u64 sizes[3];
	__u64 exists[4];
	__u64 types[5];
	__u64 enums[6];
	__u64 bits[4];
	__u64 reads[4];
};

struct core_results results;

SEC("raw_tp/sys_enter")
int core_task(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent;
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	char c;

	results.offsets[0] = bpf_core_field_offset(task->pid);
	results.offsets[1] = bpf_core_field_offset(task->tgid);
	results.offsets[2] = bpf_core_field_offset(task->comm);
	results.offsets[3] = bpf_core_field_offset(task->real_parent);
	results.offsets[4] = bpf_core_field_offset(skb->next);
	results.offsets[5] = bpf_core_field_offset(skb->len);

	results.sizes[0] = bpf_core_field_size(task->comm);
	results.sizes[1] = bpf_core_field_size(task->pid);
	results.sizes[2] = bpf_core_field_size(skb->len);

	results.exists[0] = bpf_core_field_exists(task->pid);
	results.exists[1] = bpf_core_field_exists(((struct task_struct___old *)task)->state);
	results.exists[2] = bpf_core_field_exists(((struct task_struct___new *)task)->__state);
	results.exists[3] = bpf_core_field_exists(((struct task_struct___old *)task)->pid);

	results.types[0] = bpf_core_type_exists(struct task_struct);
	results.types[1] = bpf_core_type_exists(struct tsbpf_no_such_type);
	results.types[2] = bpf_core_type_size(struct task_struct);
	results.types[3] = bpf_core_type_size(struct sk_buff);
	results.types[4] = bpf_core_type_id_kernel(struct task_struct);

	results.enums[0] = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
	results.enums[1] = bpf_core_enum_value(enum pid_type, PIDTYPE_SID);
	results.enums[2] = bpf_core_enum_value_exists(enum pid_type___flavour, PIDTYPE_PGID___flavour);
	results.enums[3] = bpf_core_enum_value_exists(enum pid_type___flavour, PIDTYPE_TSBPF_MISSING___flavour);
	results.enums[4] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_KERNEL);
	results.enums[5] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_USER);

	results.bits[0] = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	results.bits[1] = BPF_CORE_READ_BITFIELD_PROBED(task, in_iowait);
	results.bits[2] = BPF_CORE_READ_BITFIELD_PROBED(skb, fclone);
	results.bits[3] = BPF_CORE_READ_BITFIELD_PROBED(skb, cloned);

	/* Reads through the relocated offsets, nested and into an array. */
	results.reads[0] = BPF_CORE_READ(task, real_parent, real_parent, tgid);
	parent = BPF_CORE_READ(task, real_parent);
	results.reads[1] = BPF_CORE_READ(parent, pid);
	bpf_core_read(&c, 1, &task->comm[2]);
	results.reads[2] = c;
	/* Guarded access to a field this kernel lacks: the relocation fails and
	 * its instruction is poisoned, in a branch the verifier removes. */
	if (bpf_core_field_exists(((struct task_struct___old *)task)->state))
		results.reads[3] = BPF_CORE_READ((struct task_struct___old *)task, state);
	else
		results.reads[3] = BPF_CORE_READ((struct task_struct___new *)task, __state);
	return 0;
}

/* A tracepoint program reading the same kernel fields, so the relocations
 * are resolved for two programs of one object. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int core_tracepoint(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	results.reads[0] = BPF_CORE_READ(task, tgid) + bpf_core_enum_value(enum pid_type, PIDTYPE_PID);
	results.bits[0] = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
