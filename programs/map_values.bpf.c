// SPDX-License-Identifier: GPL-2.0
/* Typed and per-CPU map values for tsbpf's tests: a raw tracepoint program,
 * run with BPF_PROG_TEST_RUN on a chosen CPU, records a visit under a key in
 * a hash map whose value is a struct (read back decoded from BTF) and counts
 * visits per CPU in a per-CPU array. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct visit {
	__u64 count;
	__s32 last_delta;
	char name[16];
	struct {
		__u16 major;
		__u16 minor;
	} version;
	__u8 flags[3];
	union {
		__u32 word;
		__u8 bytes[4];
	} tag;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct visit);
} visits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} visits_per_cpu SEC(".maps");

/* ctx: the test run's arguments, { key, delta }. */
SEC("raw_tp")
int visit(__u64 *ctx)
{
	__u32 key = ctx[0];
	__s32 delta = ctx[1];
	struct visit *v = bpf_map_lookup_elem(&visits, &key);

	if (!v) {
		struct visit first = {
			.name = "first visit",
			.version = { .major = 1, .minor = 2 },
			.flags = { 1, 2, 3 },
			.tag = { .word = 0xdeadbeef },
		};
		bpf_map_update_elem(&visits, &key, &first, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&visits, &key);
		if (!v)
			return 1;
	}
	__sync_fetch_and_add(&v->count, 1);
	v->last_delta = delta;

	__u32 slot = key & 1;
	__u64 *count = bpf_map_lookup_elem(&visits_per_cpu, &slot);
	if (count)
		*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
