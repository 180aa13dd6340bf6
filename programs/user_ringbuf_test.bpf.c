// SPDX-License-Identifier: GPL-2.0
/* The kernel side of tsbpf's user ring buffer tests: a SYSCALL program, run
 * with BPF_PROG_TEST_RUN, drains the ring user space wrote into and checks
 * every record on the way (order, length, payload), keeping totals in
 * globals that the tests read back. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_RECORD 2048

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 64 * 1024);
} ring SEC(".maps");

extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;

/* Input and output of one run, passed as the program's context. */
struct drain_args {
	__u64 flags;      /* bpf_user_ringbuf_drain flags: BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP */
	__u32 stop_after; /* the callback stops the drain after this many records; 0: never */
	__u32 pad;
	__s64 ret;        /* out: what bpf_user_ringbuf_drain returned */
};

/* Record layout written by the tests: seq, size, then byte i (i >= 8) of the
 * record holds (seq + i) & 0xff, so bytes left over from an older record
 * never pass for new ones. */
struct record_head {
	__u32 seq;
	__u32 size;
};

/* Totals over every drain since load (or since the test reset them). */
__u64 records;
__u64 seq_sum;
__u64 payload_bytes;
__u32 next_seq;
__u32 out_of_order;
__u32 bad_size;
__u32 bad_bytes;
__s64 last_ret;

__u8 scratch[MAX_RECORD];

struct drain_ctx {
	__u32 stop_after;
	__u32 seen;
};

static long check_record(struct bpf_dynptr *record, struct drain_ctx *ctx)
{
	__u32 size = bpf_dynptr_size(record);
	struct record_head *head = bpf_dynptr_data(record, 0, sizeof(*head));

	records++;
	payload_bytes += size;
	ctx->seen++;
	if (!head) {
		bad_size++;
		goto next;
	}
	__u32 seq = head->seq;
	if (seq != next_seq)
		out_of_order++;
	next_seq = seq + 1;
	seq_sum += seq;
	if (head->size != size)
		bad_size++;
	/* Longer records are checked on their first MAX_RECORD bytes. */
	__u32 checked = size < MAX_RECORD ? size : MAX_RECORD;
	if (bpf_dynptr_read(scratch, checked, record, 0, 0)) {
		bad_size++;
		goto next;
	}
	for (__u32 i = sizeof(*head); i < MAX_RECORD; i++) {
		if (i >= checked)
			break;
		if (scratch[i] != (__u8)(seq + i))
			bad_bytes++;
	}
next:
	return ctx->stop_after && ctx->seen >= ctx->stop_after;
}

SEC("syscall")
int drain(struct drain_args *args)
{
	struct drain_ctx ctx = { .stop_after = args->stop_after };

	last_ret = bpf_user_ringbuf_drain(&ring, check_record, &ctx, args->flags);
	args->ret = last_ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
