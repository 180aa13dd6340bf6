// SPDX-License-Identifier: GPL-2.0
/* Drives the ring buffer from BPF_PROG_TEST_RUN for tsbpf's tests: a SYSCALL
 * program that bpf_loop()s over `count` records of varying sizes, discarding
 * some, and reports how many reservations the full ring refused. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_RECORD 2048

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} ring SEC(".maps");

/* Input and output of one run, passed as the program's context. */
struct run_args {
	__u32 count;         /* records to attempt */
	__u32 first_seq;     /* sequence number of the first record */
	__u32 min_size;      /* record sizes cycle through [min_size, max_size] */
	__u32 max_size;
	__u32 discard_every; /* every Nth record is reserved and discarded; 0: never */
	__u32 submit_flags;  /* BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP / 0 */
	__u32 submitted;     /* out */
	__u32 discarded;     /* out */
	__u32 failed;        /* out: reservations refused (ring full) */
};

/* Record layout: seq, size, then byte i of the record holds i & 0xff. User
 * space fills the pattern before running; the program writes the head. */
struct record_head {
	__u32 seq;
	__u32 size;
};
__u8 scratch[MAX_RECORD] = {};

#define DISCARD_MARK 0xd15ca2d

static long produce_one(__u64 index, struct run_args *state)
{
	__u32 seq = state->first_seq + (__u32)index;
	if (state->discard_every && seq % state->discard_every == 0) {
		struct record_head *head = bpf_ringbuf_reserve(&ring, 64, 0);
		if (!head) {
			state->failed++;
			return 0;
		}
		head->seq = DISCARD_MARK;
		head->size = 64;
		bpf_ringbuf_discard(head, state->submit_flags);
		state->discarded++;
		return 0;
	}
	__u32 span = state->max_size - state->min_size + 1;
	__u32 size = state->min_size + (seq * 7919u) % (span ? span : 1);
	if (size < sizeof(struct record_head))
		size = sizeof(struct record_head);
	if (size > MAX_RECORD)
		size = MAX_RECORD;
	struct record_head *head = (struct record_head *)scratch;
	head->seq = seq;
	head->size = size;
	if (bpf_ringbuf_output(&ring, scratch, size, state->submit_flags))
		state->failed++;
	else
		state->submitted++;
	return 0;
}

SEC("syscall")
int produce(struct run_args *args)
{
	struct run_args state = *args;
	state.submitted = state.discarded = state.failed = 0;
	/* args->count, not state.count: clang may pass state.count in a register
	 * whose upper half holds first_seq, and the inlined bpf_loop compares
	 * all 64 bits against its limit. */
	bpf_loop(args->count, produce_one, &state, 0);
	args->submitted = state.submitted;
	args->discarded = state.discarded;
	args->failed = state.failed;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
