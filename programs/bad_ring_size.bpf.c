// SPDX-License-Identifier: GPL-2.0
/* A ring buffer whose size the kernel can never accept (not a power of two):
 * tsbpf refuses it while parsing, before anything reaches the kernel. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 12 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(void *ctx)
{
	__u64 *record = bpf_ringbuf_reserve(&events, sizeof(*record), 0);
	if (record)
		bpf_ringbuf_submit(record, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
