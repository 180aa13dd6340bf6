// SPDX-License-Identifier: GPL-2.0
/* Externs resolved by the loader: __kconfig values (kernel version, CONFIG_*
 * options, a weak option this kernel lacks), an untyped __ksym (an address
 * from kallsyms), a typed __ksym (a per-CPU variable in kernel BTF) and kfuncs
 * (kernel functions called by BTF id). The programs copy what they see into
 * .bss for the test to read. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct;

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig;
extern char CONFIG_LOCALVERSION[16] __kconfig __weak;
extern _Bool CONFIG_TSBPF_DOES_NOT_EXIST __kconfig __weak;

extern const void schedule __ksym;
extern const int bpf_prog_active __ksym;

extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
extern void bpf_task_release(struct task_struct *task) __ksym;

__u32 kernel_version;
__u32 hz;
__u32 has_bpf_syscall;
__u32 has_missing_option;
__u64 schedule_address;
__u32 prog_active_seen;
__u32 found_task;

struct externs_args {
	int pid; /* a process for the kfunc to find */
};

SEC("syscall")
int read_externs(struct externs_args *args)
{
	kernel_version = LINUX_KERNEL_VERSION;
	hz = CONFIG_HZ;
	has_bpf_syscall = CONFIG_BPF_SYSCALL;
	has_missing_option = CONFIG_TSBPF_DOES_NOT_EXIST;
	schedule_address = (__u64)&schedule;
	struct task_struct *task = bpf_task_from_pid(args->pid);
	if (task) {
		found_task = 1;
		bpf_task_release(task);
	}
	return 0;
}

/* Optional ('?'): the kernel resolves typed __ksym variables through kallsyms,
 * which lists data symbols only with CONFIG_KALLSYMS_ALL. */
SEC("?syscall")
int read_typed_ksym(void *ctx)
{
	prog_active_seen = bpf_per_cpu_ptr(&bpf_prog_active, 0) != 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
