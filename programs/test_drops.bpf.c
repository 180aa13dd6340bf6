// SPDX-License-Identifier: GPL-2.0
/* Fills a one-page ring through include/tsbpf.h's wrappers, so that the
 * failed reservations show up in user space as RingBuffer.stats().dropped. */
#include "include/tsbpf.h"

TSBPF_RINGBUF(small_ring, 4096);

struct drops_args {
	__u32 count;  /* records to attempt */
	__u32 failed; /* out: reservations the program saw fail */
};

static long reserve_one(__u64 index, struct drops_args *state)
{
	__u64 *record = tsbpf_ringbuf_reserve(small_ring, 120, 0);
	if (!record) {
		state->failed++;
		return 0;
	}
	*record = index;
	bpf_ringbuf_submit(record, 0);
	return 0;
}

SEC("syscall")
int fill(struct drops_args *args)
{
	struct drops_args state = { .failed = 0 };
	bpf_loop(args->count, reserve_one, &state, 0);
	args->failed = state.failed;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
