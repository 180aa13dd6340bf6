// SPDX-License-Identifier: GPL-2.0
/* Attach kinds beyond tracepoints for tsbpf's tests: a BTF tracepoint
 * (tp_btf, loaded against the kernel's btf_trace_sched_process_exec) that
 * counts execs (all of them, and those of one process), a kprobe and a
 * kretprobe on do_sys_openat2 that count its opens (kernels without the
 * kprobe PMU load them but cannot attach them), and a uprobe and a uretprobe
 * that the tests attach to a libc function. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid;

__u64 execs;
__u64 all_execs;
__u64 opens;
__u64 open_returns;
__u64 user_calls;
__u64 user_returns;

static __always_inline int from_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* ctx: the raw tracepoint's arguments (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm). */
SEC("tp_btf/sched_process_exec")
int count_exec(__u64 *ctx)
{
	__sync_fetch_and_add(&all_execs, 1);
	if (from_target())
		__sync_fetch_and_add(&execs, 1);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int count_open(void *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&opens, 1);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int count_open_return(void *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&open_returns, 1);
	return 0;
}

SEC("uprobe")
int count_call(void *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&user_calls, 1);
	return 0;
}

SEC("uretprobe")
int count_return(void *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&user_returns, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
