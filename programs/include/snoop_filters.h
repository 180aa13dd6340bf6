/* The filters of the snoop tools (execsnoop, opensnoop): read-only globals
 * user space sets before loading, so the verifier sees them as constants and
 * prunes what is disabled. */
#ifndef TSBPF_SNOOP_FILTERS_H
#define TSBPF_SNOOP_FILTERS_H

#define TASK_COMM_LEN 16

/* 0: every process; else only this process id (tgid). */
const volatile __u32 target_pid = 0;
/* Empty: every command; else only tasks whose comm equals it. */
const volatile char target_comm[TASK_COMM_LEN] = {};

static __always_inline int comm_matches(const char *comm)
{
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (comm[i] == 0)
			return 1;
	}
	return 1;
}

#endif
