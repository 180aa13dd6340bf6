// SPDX-License-Identifier: GPL-2.0
/* The producer of the streaming and wake-up latency benchmarks of `make bench`
 * (bench/ringbuf-stream.ts, bench/ringbuf-latency.ts and their libbpf
 * anchors). One program, run with BPF_PROG_TEST_RUN by bench/c/producer.c on
 * another CPU, so both consumers face the very same producer:
 *
 *   OP_STREAM  attempt `count` reservations back to back; a full ring is
 *              counted in ring__tsbpf_dropped (tsbpf.h) and the loop goes on;
 *   OP_PING    one record stamped with bpf_ktime_get_ns() just before submit;
 *   OP_END     one short record that tells the consumer to stop; a full ring
 *              is not a drop here: the producer tries again.
 *
 * Records carry `payload` bytes: the u64 sequence number first, then (OP_PING)
 * the CLOCK_MONOTONIC time in ns. The end record is shorter than any other. */
#include "include/tsbpf.h"

#define PAYLOAD 56
#define END_PAYLOAD 8

enum { OP_STREAM, OP_PING, OP_END };

TSBPF_RINGBUF(ring, 4 << 20);

struct producer_args {
	__u32 op;
	__u32 count;    /* OP_STREAM: reservations to attempt */
	__u32 flags;    /* bpf_ringbuf_submit() flags: 0 (wake a caught-up consumer) or BPF_RB_NO_WAKEUP */
	__u32 produced; /* out: records submitted */
	__u64 seq;      /* in: sequence number of the next record; out: the one after the last */
};

static long stream_one(__u64 index, struct producer_args *state)
{
	__u64 *record = tsbpf_ringbuf_reserve(ring, PAYLOAD, 0);
	if (!record)
		return 0; /* counted; keep offering records as fast as the kernel takes them */
	record[0] = state->seq++;
	bpf_ringbuf_submit(record, state->flags);
	state->produced++;
	return 0;
}

SEC("syscall")
int produce(struct producer_args *args)
{
	struct producer_args state = *args;
	__u64 *record;

	state.produced = 0;
	switch (args->op) {
	case OP_STREAM:
		/* args->count, not state.count: see ringbuf_test.bpf.c. */
		bpf_loop(args->count, stream_one, &state, 0);
		break;
	case OP_PING:
		record = tsbpf_ringbuf_reserve(ring, PAYLOAD, 0);
		if (!record)
			break;
		record[0] = state.seq++;
		record[1] = bpf_ktime_get_ns();
		bpf_ringbuf_submit(record, state.flags);
		state.produced = 1;
		break;
	case OP_END:
		record = bpf_ringbuf_reserve(&ring, END_PAYLOAD, 0);
		if (!record)
			break;
		record[0] = state.seq;
		/* The consumer may be asleep behind a full ring: wake it whatever its position. */
		bpf_ringbuf_submit(record, BPF_RB_FORCE_WAKEUP);
		state.produced = 1;
		break;
	}
	args->produced = state.produced;
	args->seq = state.seq;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
