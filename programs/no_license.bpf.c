// SPDX-License-Identifier: GPL-2.0
/* An object without a license section, for the error tests. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("syscall")
int unlicensed(void *ctx)
{
	return 0;
}
