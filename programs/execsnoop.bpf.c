// SPDX-License-Identifier: GPL-2.0
/* execsnoop: one ring buffer record for every execve() on the machine, with
 * the filters of include/snoop_filters.h. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "include/kernel_types.h"
#include "include/snoop_filters.h"
#include "include/tsbpf.h"

#define FILENAME_LEN 256

struct event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	char comm[TASK_COMM_LEN];
	char filename[FILENAME_LEN];
};

TSBPF_RINGBUF(events, 256 * 1024);

SEC("tracepoint/syscalls/sys_enter_execve")
int execsnoop(struct syscall_enter_ctx *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (target_pid && pid != target_pid)
		return 0;

	char comm[TASK_COMM_LEN];
	bpf_get_current_comm(comm, sizeof(comm));
	if (target_comm[0] && !comm_matches(comm))
		return 0;

	struct event *event = tsbpf_ringbuf_reserve(events, sizeof(*event), 0);
	if (!event)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	event->pid = pid;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->uid = (__u32)bpf_get_current_uid_gid();
	__builtin_memcpy(event->comm, comm, sizeof(comm));
	bpf_probe_read_user_str(event->filename, sizeof(event->filename), (const char *)ctx->args[0]);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
