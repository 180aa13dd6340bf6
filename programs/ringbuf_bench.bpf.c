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

/* The 56-byte record the typed-decode benchmark reads (`--mode decode`);
 * with smaller payloads only the sequence number is written. */
struct bench_event {
	__u32 seq;      /* the low half of the u64 sequence number */
	__u32 seq_high;
	__u32 pid;
	__u32 tid;
	__u64 timestamp_ns;
	char comm[16];
	__u32 cpu;
	__u32 uid;
	__u64 flags;
};
/* Puts struct bench_event in the object's BTF, where the decoder finds it. */
struct bench_event *bench_event_type __attribute__((unused));

struct bench_args {
	__u32 count;    /* records to produce */
	__u32 produced; /* out */
	__u64 seq;      /* in: first sequence number; out: next one */
};

static long produce_one(__u64 index, struct bench_args *state)
{
	struct bench_event *event = bpf_ringbuf_reserve(&ring, payload_size, 0);
	if (!event)
		return 1; /* ring full: stop */
	*(__u64 *)event = state->seq++;
	/* payload_size is a constant at load: the verifier drops what does not fit. */
	if (payload_size >= sizeof(*event)) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		event->pid = pid_tgid >> 32;
		event->tid = (__u32)pid_tgid;
		event->timestamp_ns = bpf_ktime_get_ns();
		bpf_get_current_comm(event->comm, sizeof(event->comm));
		event->cpu = bpf_get_smp_processor_id();
		event->uid = (__u32)bpf_get_current_uid_gid();
		event->flags = index;
	}
	bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
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
