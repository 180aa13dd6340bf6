// SPDX-License-Identifier: GPL-2.0
/* Legacy `maps` section definitions (struct bpf_map_def) next to BTF-defined
 * `.maps` in one object. libbpf 1.x refuses the whole object ("legacy map
 * definitions in 'maps' section are not supported"); tsbpf loads both kinds.
 * The differential test asserts exactly that. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 16,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} btf_hash SEC(".maps");

__u64 mixed_total;

SEC("socket")
int legacy_mixed(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *count = bpf_map_lookup_elem(&legacy_counts, &key);
	__u64 *seen = bpf_map_lookup_elem(&btf_hash, &key);
	__u32 *flag = bpf_map_lookup_elem(&legacy_hash, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	if (seen)
		mixed_total += *seen;
	if (flag)
		mixed_total += *flag;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
