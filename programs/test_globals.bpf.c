// SPDX-License-Identifier: GPL-2.0
/* Global data of every kind for the differential test
 * (test/differential.test.ts): .data, .bss, .rodata (const volatile),
 * string literals in .rodata.str1.1, static const arrays in .rodata, custom
 * .data.* and .rodata.* sections, arrays and structs at non-zero offsets. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
	__u32 first;
	__u64 second;
};

/* .data */
__u64 data_counter = 7;
struct pair data_pairs[3] = { { 1, 2 }, { 3, 4 }, { 5, 6 } };

/* .bss */
__u64 bss_total;
struct pair bss_last;
char bss_text[32];

/* .rodata: const volatile, so the verifier sees constants and prunes. */
const volatile __u32 ro_limit = 100;
const volatile struct pair ro_pair = { 11, 22 };
const volatile __u8 ro_enabled = 1;
const volatile __u8 ro_disabled = 0;

/* Custom sections: each is a map of its own. */
__u64 custom_counter SEC(".data.custom") = 3;
struct pair custom_pairs[2] SEC(".data.custom") = { { 8, 9 }, { 10, 11 } };
const volatile __u32 custom_ro[4] SEC(".rodata.custom") = { 100, 200, 300, 400 };
const volatile char custom_name[8] SEC(".rodata.custom") = "tsbpf";

/* A static (local symbol) global, referenced through the section symbol. */
static __u32 static_hits;

SEC("syscall")
int globals_syscall(void *ctx)
{
	static const char fmt[] = "counter %llu limit %u";
	__u64 args[2] = { data_counter, ro_limit };
	long len;

	if (ro_disabled)
		bss_total = 0xdead; /* pruned: ro_disabled is 0 */
	if (ro_enabled)
		data_counter++;
	for (int i = 0; i < 3; i++)
		bss_total += data_pairs[i].first * data_pairs[i].second;
	bss_last.first = ro_pair.first;
	bss_last.second = ro_pair.second + custom_ro[2];
	custom_counter += custom_pairs[1].second;
	static_hits++;

	/* Format strings must come from read-only maps: fmt is in .rodata,
	 * the literal below in .rodata.str1.1. */
	len = bpf_snprintf(bss_text, sizeof(bss_text), fmt, args, sizeof(args));
	if (len < 0)
		return 1;
	len = bpf_snprintf(bss_text, sizeof(bss_text), "%llu", args, sizeof(args[0]));
	return len < 0 ? 2 : 0;
}

SEC("raw_tp/sys_enter")
int globals_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	const char *wanted = "bash";
	char comm[16];

	bpf_get_current_comm(comm, sizeof(comm));
	/* A string literal passed to a helper as a constant string. */
	if (bpf_strncmp(comm, 5, wanted) == 0)
		__sync_fetch_and_add(&custom_counter, 1);
	if (bpf_strncmp(comm, 6, "tsbpf") == 0 && custom_name[0] == 't')
		__sync_fetch_and_add(&bss_total, ctx->args[1] < ro_limit ? 1 : 2);
	static_hits += 2;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
