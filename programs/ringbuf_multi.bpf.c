// SPDX-License-Identifier: GPL-2.0
/* Three ring buffers in one object, for tsbpf's RingBufferSet tests: a
 * SYSCALL program run with BPF_PROG_TEST_RUN writes `count` records into the
 * ring it is told to. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct ring_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024);
};
struct ring_map ring_a SEC(".maps"), ring_b SEC(".maps"), ring_c SEC(".maps");

struct multi_args {
	__u32 ring;         /* 0, 1 or 2: ring_a, ring_b, ring_c */
	__u32 count;        /* records to write */
	__u32 first_seq;
	__u32 submit_flags; /* BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP / 0 */
	__u32 submitted;    /* out */
	__u32 failed;       /* out: the ring was full */
};

/* 16-byte records: which ring, a sequence number, and a check value. */
struct multi_record {
	__u32 ring;
	__u32 seq;
	__u64 check; /* seq * 31 + ring */
};

static long write_one(__u64 index, struct multi_args *state)
{
	struct multi_record record = {
		.ring = state->ring,
		.seq = state->first_seq + (__u32)index,
	};
	record.check = (__u64)record.seq * 31 + record.ring;
	long error;
	if (state->ring == 0)
		error = bpf_ringbuf_output(&ring_a, &record, sizeof(record), state->submit_flags);
	else if (state->ring == 1)
		error = bpf_ringbuf_output(&ring_b, &record, sizeof(record), state->submit_flags);
	else
		error = bpf_ringbuf_output(&ring_c, &record, sizeof(record), state->submit_flags);
	if (error)
		state->failed++;
	else
		state->submitted++;
	return 0;
}

SEC("syscall")
int produce(struct multi_args *args)
{
	struct multi_args state = *args;
	state.submitted = state.failed = 0;
	/* args->count, not state.count: see ringbuf_test.bpf.c. */
	bpf_loop(args->count, write_one, &state, 0);
	args->submitted = state.submitted;
	args->failed = state.failed;
	return 0;
}

/* The largest record a 16 KiB ring takes is 16 KiB - 16 bytes: the record
 * plus its 8-byte header, rounded up to 8, must stay below the ring's size. */
#define LARGE_MAX (16 * 1024)
__u8 large[LARGE_MAX] = {};

struct large_args {
	__u32 size;  /* bytes of `large` to output into ring_c */
	__s32 error; /* out: bpf_ringbuf_output()'s result */
};

SEC("syscall")
int output_large(struct large_args *args)
{
	__u32 size = args->size;
	if (size > LARGE_MAX)
		size = LARGE_MAX;
	args->error = bpf_ringbuf_output(&ring_c, large, size, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
