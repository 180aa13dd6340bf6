// SPDX-License-Identifier: GPL-2.0
/* Subprograms for the differential test (test/differential.test.ts): static
 * and global functions in .text called from programs in different sections,
 * a subprogram calling another, a global function called from two programs,
 * a bpf_loop callback, two programs in one section and a tail call. The
 * kernel's translated instructions must be the same whether libbpf or tsbpf
 * linked them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

/* Static, called by static_outer only. */
static __noinline int static_inner(int x)
{
	return x * 3 + 1;
}

/* Static, calls another subprogram; called from several programs. */
static __noinline int static_outer(int x)
{
	return static_inner(x) + static_inner(x + 1);
}

/* A second static function, so calls into .text land at different offsets. */
static __noinline __u64 bump(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &slot);
	if (!value)
		return 0;
	return __sync_fetch_and_add(value, 1) + 1;
}

/* Global: verified once on its own, called from two programs. */
__noinline int global_mix(int a, int b)
{
	if (a > b)
		return a - b + static_inner(b);
	return b - a;
}

struct loop_state {
	__u64 sum;
	__u32 limit;
};

static long loop_step(__u64 index, struct loop_state *state)
{
	state->sum += index * 2 + bump(1);
	return index + 1 >= state->limit;
}

SEC("syscall")
int subprogs_syscall(void *ctx)
{
	struct loop_state state = { .sum = 0, .limit = 8 };
	int x = static_outer(5);
	bpf_loop(16, loop_step, &state, 0);
	return x + global_mix(x, 7) + (int)state.sum + (int)bump(0);
}

SEC("socket")
int subprogs_socket(struct __sk_buff *skb)
{
	int x = global_mix(skb->len, 64);
	bump(2);
	bpf_tail_call(skb, &jumps, 0);
	return static_outer(x) & 0xffff;
}

/* A second program in the same section, sharing the subprograms. */
SEC("socket")
int subprogs_socket_2(struct __sk_buff *skb)
{
	return static_inner(skb->protocol) > 0 ? skb->len : 0;
}

SEC("raw_tp/sys_enter")
int subprogs_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_state state = { .sum = 1, .limit = 3 };
	bpf_loop(4, loop_step, &state, 0);
	return static_outer((int)ctx->args[1]) + (int)state.sum;
}

char LICENSE[] SEC("license") = "GPL";
