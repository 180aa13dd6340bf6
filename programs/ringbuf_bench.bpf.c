// SPDX-License-Identifier: GPL-2.0
/* Producer for `make bench`, shared by the tsbpf and libbpf consumers: one
 * BPF_PROG_TEST_RUN reserves and submits `count` fixed-size records without
 * waking anyone, as fast as the kernel allows. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} ring SEC(".maps");

/* Payload bytes per record (the 8-byte header comes on top); set before load. */
const volatile __u32 payload_size = 56;

struct bench_args {
	__u32 count;    /* records to produce */
	__u32 produced; /* out */
	__u64 seq;      /* in: first sequence number; out: next one */
};

static long produce_one(__u64 index, struct bench_args *state)
{
	__u64 *record = bpf_ringbuf_reserve(&ring, payload_size, 0);
	if (!record)
		return 1; /* ring full: stop */
	*record = state->seq++;
	bpf_ringbuf_submit(record, BPF_RB_NO_WAKEUP);
	state->produced++;
	return 0;
}

SEC("syscall")
int produce(struct bench_args *args)
{
	struct bench_args state = *args;
	state.produced = 0;
	/* args->count, not state.count: see ringbuf_test.bpf.c. */
	bpf_loop(args->count, produce_one, &state, 0);
	args->produced = state.produced;
	args->seq = state.seq;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
