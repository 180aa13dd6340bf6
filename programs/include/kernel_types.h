/* The few kernel types tsbpf's programs use, declared by hand instead of a
 * multi-megabyte vmlinux.h. preserve_access_index makes clang emit CO-RE
 * relocations for every field access, so the loader fixes the offsets against
 * the running kernel's BTF: only the field names matter here, not the layout. */
#ifndef TSBPF_KERNEL_TYPES_H
#define TSBPF_KERNEL_TYPES_H

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

/* Context of the syscalls/sys_enter_* tracepoints: the layout is the
 * tracepoint's format file (/sys/kernel/tracing/events/syscalls/.../format),
 * a stable ABI. */
struct syscall_enter_ctx {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	int syscall_nr;
	unsigned long args[6];
};

#endif
