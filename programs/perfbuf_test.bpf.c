// SPDX-License-Identifier: GPL-2.0
/* Drives perf buffers (BPF_MAP_TYPE_PERF_EVENT_ARRAY) for tsbpf's tests.
 *
 * `produce` is a raw tracepoint program run with BPF_PROG_TEST_RUN, which
 * can run it on a chosen CPU (BPF_F_TEST_RUN_ON_CPU); SYSCALL programs cannot
 * call bpf_perf_event_output(). It bpf_loop()s `count` sequence-numbered
 * samples into the current CPU's ring and counts what the kernel accepted and
 * refused (a full ring), since only the program is told.
 *
 * `execve` is the classic shape: {pid, comm, filename} for every execve(). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/kernel_types.h"

#define MAX_SAMPLE 2048

/* No max_entries, as libbpf-style objects write it: the loader makes one
 * entry per possible CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} execs SEC(".maps");

/* Sample layout: seq, size (as asked, before the kernel's padding), then
 * byte i of the sample holds i & 0xff. User space fills the pattern before
 * running; the program writes the head. */
struct sample_head {
	__u32 seq;
	__u32 size;
};
__u8 scratch[MAX_SAMPLE] = {};

/* Totals over every run, read by the tests. */
__u64 sent = 0;
__u64 failed = 0;
__s64 last_error = 0;

struct loop_state {
	void *ctx;
	__u32 first_seq;
	__u32 min_size; /* sizes cycle through [min_size, max_size] */
	__u32 max_size;
};

static long output_one(__u64 index, struct loop_state *state)
{
	__u32 seq = state->first_seq + (__u32)index;
	__u32 span = state->max_size - state->min_size + 1;
	__u32 size = state->min_size + (seq * 7919u) % (span ? span : 1);
	if (size < sizeof(struct sample_head))
		size = sizeof(struct sample_head);
	if (size > MAX_SAMPLE)
		size = MAX_SAMPLE;
	struct sample_head *head = (struct sample_head *)scratch;
	head->seq = seq;
	head->size = size;
	long error = bpf_perf_event_output(state->ctx, &samples, BPF_F_CURRENT_CPU, scratch, size);
	if (error) {
		__sync_fetch_and_add(&failed, 1);
		last_error = error;
	} else {
		__sync_fetch_and_add(&sent, 1);
	}
	return 0;
}

/* Context (BPF_PROG_TEST_RUN ctx_in): u64 count, first_seq, min_size, max_size. */
SEC("raw_tp")
int produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_state state = {
		.ctx = ctx,
		.first_seq = ctx->args[1],
		.min_size = ctx->args[2],
		.max_size = ctx->args[3],
	};
	bpf_loop(ctx->args[0], output_one, &state, 0);
	return 0;
}

struct exec_event {
	__u32 pid;
	char comm[16];
	char filename[64];
};

SEC("tracepoint/syscalls/sys_enter_execve")
int execve(struct syscall_enter_ctx *ctx)
{
	struct exec_event event = {};
	event.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(event.comm, sizeof(event.comm));
	bpf_probe_read_user_str(event.filename, sizeof(event.filename), (const char *)ctx->args[0]);
	bpf_perf_event_output(ctx, &execs, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
