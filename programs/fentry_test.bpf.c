// SPDX-License-Identifier: GPL-2.0
/* fentry and fexit on do_sys_openat2 for tsbpf's tests, counting the opens of
 * one process. Some kernels refuse to load them (EPERM, EOPNOTSUPP, ENOTSUPP):
 * the tests then skip, naming the refusal. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid;

__u64 entries;
__u64 exits;

static __always_inline int from_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* ctx: do_sys_openat2's arguments, then (fexit) its return value. */
SEC("fentry/do_sys_openat2")
int on_entry(__u64 *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&entries, 1);
	return 0;
}

SEC("fexit/do_sys_openat2")
int on_exit(__u64 *ctx)
{
	if (from_target())
		__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
