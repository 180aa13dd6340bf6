// SPDX-License-Identifier: GPL-2.0
/* Producer of the perf buffer drain benchmark of `make bench`, shared by the
 * tsbpf and libbpf consumers (bench/perfbuf-drain.ts, bench/c/perfbuf_drain.c).
 *
 * A raw tracepoint program, so that BPF_PROG_TEST_RUN can run it on the CPU
 * whose ring is filled (BPF_F_TEST_RUN_ON_CPU; SYSCALL programs cannot call
 * bpf_perf_event_output()). It bpf_loop()s `count` samples of `payload` bytes
 * into the current CPU's ring, each starting with its u64 sequence number,
 * and stops at the first one refused. raw_tp test runs have no context out,
 * so the number written is the return value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_PAYLOAD 4096

/* No max_entries: one slot per possible CPU, made by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

/* The sample's bytes: the sequence number, then zeros. */
__u8 scratch[MAX_PAYLOAD] = {};

struct fill_state {
	void *ctx;
	__u64 seq;
	__u32 payload;
	__u32 produced;
};

static long output_one(__u64 index, struct fill_state *state)
{
	__u32 payload = state->payload;

	/* The bound the verifier needs, here where the size is used. */
	if (payload > MAX_PAYLOAD)
		return 1;
	*(__u64 *)scratch = state->seq;
	if (bpf_perf_event_output(state->ctx, &samples, BPF_F_CURRENT_CPU, scratch, payload))
		return 1; /* ring full: stop */
	state->seq++;
	state->produced++;
	return 0;
}

/* Context (BPF_PROG_TEST_RUN ctx_in): u64 count, first sequence number, payload bytes. */
SEC("raw_tp")
int produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct fill_state state = {
		.ctx = ctx,
		.seq = ctx->args[1],
		.payload = ctx->args[2],
	};
	bpf_loop(ctx->args[0], output_one, &state, 0);
	return state.produced;
}

char LICENSE[] SEC("license") = "GPL";
