// SPDX-License-Identifier: GPL-2.0
/* opensnoop: one ring buffer record for every openat() and openat2() on the
 * machine, taken at syscall entry (so also for opens that then fail).
 * Two programs, one per syscall tracepoint, share the `events` ring buffer,
 * the filters of include/snoop_filters.h; records the full ring refused are
 * counted by include/tsbpf.h. */
#include <linux/bpf.h>
#include <linux/openat2.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "include/kernel_types.h"
#include "include/snoop_filters.h"
#include "include/tsbpf.h"

#define FILENAME_LEN 256

/* Which system call a record comes from (struct event's syscall). */
enum open_syscall {
	OPEN_SYSCALL_OPENAT = 0,
	OPEN_SYSCALL_OPENAT2 = 1,
};

/* One record, 304 bytes, no padding (decoded by src/tools/opensnoop.ts). */
struct event {
	__u32 pid;			/* process id (tgid) of the caller */
	__u32 ppid;			/* its parent's tgid, read with CO-RE */
	__u32 uid;			/* real uid of the caller */
	__s32 dirfd;			/* first argument: AT_FDCWD (-100) or a directory fd */
	__u64 flags;			/* O_* flags as passed (openat2: open_how.flags) */
	enum open_syscall syscall;	/* 4 bytes */
	__u32 mode;			/* creation mode as passed (openat2: open_how.mode) */
	char comm[TASK_COMM_LEN];	/* command name of the calling thread */
	char filename[FILENAME_LEN];	/* path as passed (relative to dirfd), truncated; empty if unreadable */
};

/* Never used: puts struct event (and enum open_syscall) in the object's BTF,
 * where user space and test/opensnoop.test.ts can check the record layout. */
struct event *event_layout __attribute__((unused));

/* Opens are far more frequent than execs: room for about 3,400 records. */
TSBPF_RINGBUF(events, 1024 * 1024);

/* Applies the filters, reserves a record and fills what both syscalls share:
 * args[0] is the directory fd, args[1] the user pointer to the path. Returns
 * NULL when the open is filtered out or the ring buffer is full; otherwise the
 * caller sets flags and mode, then submits. */
static __always_inline struct event *start_event(const struct syscall_enter_ctx *ctx, __u32 syscall)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (target_pid && pid != target_pid)
		return NULL;

	char comm[TASK_COMM_LEN];
	bpf_get_current_comm(comm, sizeof(comm));
	if (target_comm[0] && !comm_matches(comm))
		return NULL;

	struct event *event = tsbpf_ringbuf_reserve(events, sizeof(*event), 0);
	if (!event)
		return NULL;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	event->pid = pid;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->uid = (__u32)bpf_get_current_uid_gid();
	event->dirfd = (__s32)ctx->args[0];
	event->syscall = syscall;
	__builtin_memcpy(event->comm, comm, sizeof(comm));
	/* Fails (empty filename) when the path's page is not in memory yet: this
	 * program cannot sleep, so it cannot fault it in. */
	if (bpf_probe_read_user_str(event->filename, sizeof(event->filename), (const char *)ctx->args[1]) < 0)
		event->filename[0] = 0;
	return event;
}

/* openat(int dfd, const char *filename, int flags, umode_t mode) */
SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_openat(struct syscall_enter_ctx *ctx)
{
	struct event *event = start_event(ctx, OPEN_SYSCALL_OPENAT);
	if (!event)
		return 0;
	/* The kernel only looks at the low 32 bits (int) and 16 bits (umode_t). */
	event->flags = (__u32)ctx->args[2];
	event->mode = (__u16)ctx->args[3];
	bpf_ringbuf_submit(event, 0);
	return 0;
}

/* openat2(int dfd, const char *filename, struct open_how *how, size_t usize):
 * flags and mode are the first two u64 of struct open_how, in user memory. An
 * unreadable `how` (the call then fails with EFAULT) is recorded as zeros. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int opensnoop_openat2(struct syscall_enter_ctx *ctx)
{
	struct event *event = start_event(ctx, OPEN_SYSCALL_OPENAT2);
	if (!event)
		return 0;
	struct open_how how = {};
	bpf_probe_read_user(&how, __builtin_offsetof(struct open_how, resolve), (const void *)ctx->args[2]);
	event->flags = how.flags;
	event->mode = (__u32)how.mode;
	bpf_ringbuf_submit(event, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
