// SPDX-License-Identifier: GPL-2.0
/* Deliberately wrong: dereferences a map lookup result without checking it
 * for NULL, which the verifier must refuse. Used by the error tests. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("socket")
int missing_null_check(void *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	*value += 1; /* no NULL check: rejected (a hash lookup can return NULL) */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
