// SPDX-License-Identifier: MIT
/* The C anchor of `make bench`'s perf buffer drain: libbpf's perf_buffer
 * drains CPU 0's ring, which programs/perfbuf_bench.bpf.o fills with
 * BPF_PROG_TEST_RUN.
 *
 *   perfbuf_drain OBJECT PAYLOAD_BYTES ROUNDS WARMUP_ROUNDS PAGES_PER_CPU
 *
 * Each round fills CPU 0's ring with as many samples as it holds (one test
 * run on CPU 0, BPF_F_TEST_RUN_ON_CPU), then times one perf_buffer__consume()
 * whose sample callback reads the low 32 bits of every sample's u64 sequence
 * number and adds them up. The count and the sum are checked. Prints one JSON
 * line; the same fields as bench/perfbuf-drain.ts. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

#define CPU 0
#define MAX_PAYLOAD 4096 /* programs/perfbuf_bench.bpf.c */

struct tally {
	uint64_t samples;
	uint64_t sum;
	uint64_t lost;
};

static void on_sample(void *ctx, int cpu, void *data, uint32_t size)
{
	struct tally *t = ctx;
	uint32_t seq;

	(void)cpu;
	(void)size;
	memcpy(&seq, data, sizeof(seq)); /* low half of the little-endian u64 */
	t->sum += seq;
	t->samples++;
}

static void on_lost(void *ctx, int cpu, __u64 count)
{
	(void)cpu;
	((struct tally *)ctx)->lost += count;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "perfbuf_drain: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s OBJECT PAYLOAD_BYTES ROUNDS WARMUP_ROUNDS PAGES_PER_CPU\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	uint64_t payload = strtoull(argv[2], NULL, 0);
	int rounds = atoi(argv[3]), warmup = atoi(argv[4]);
	uint64_t pages = strtoull(argv[5], NULL, 0);
	/* The perf header, the u32 raw size, the payload, padded to 8 bytes. */
	uint64_t record = (8 + 4 + payload + 7) & ~7ull;
	/* The kernel keeps one byte of the ring free: a full ring holds this many. */
	uint64_t count = (pages * sysconf(_SC_PAGESIZE) - 1) / record;
	int err;

	if (payload < 8 || payload > MAX_PAYLOAD)
		die("PAYLOAD_BYTES must be 8 to 4096 (a u64 sequence number first)", EINVAL);
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("bpf_object__open_file", errno);
	if ((err = bpf_object__load(obj)))
		die("bpf_object__load", err);
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "samples");
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "produce");
	if (!map || !prog)
		die("map 'samples' or program 'produce' not found", ENOENT);

	struct tally tally = { 0 };
	struct perf_buffer *pb = perf_buffer__new(bpf_map__fd(map), pages, on_sample, on_lost, &tally, NULL);
	if (!pb)
		die("perf_buffer__new", errno);

	uint64_t seq = 0, total_ns = 0, total_samples = 0;
	double best = 1e300; /* ns per sample */
	for (int round = 0; round < warmup + rounds; round++) {
		uint64_t args[3] = { count, seq, payload };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args),
			    .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = CPU);
		if ((err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)))
			die("bpf_prog_test_run_opts", err);
		if (opts.retval != count) {
			fprintf(stderr, "perfbuf_drain: round %d: the program wrote %u of %llu samples\n", round, opts.retval,
				(unsigned long long)count);
			return 1;
		}

		tally.samples = tally.sum = 0;
		uint64_t start = now_ns();
		err = perf_buffer__consume(pb);
		uint64_t elapsed = now_ns() - start;

		uint64_t want_sum = count * seq + count * (count - 1) / 2;
		if (err < 0 || tally.samples != count || tally.sum != want_sum || tally.lost) {
			fprintf(stderr, "perfbuf_drain: round %d: consume returned %d, callback saw %llu (sum %llu, lost %llu), produced %llu (sum %llu)\n",
				round, err, (unsigned long long)tally.samples, (unsigned long long)tally.sum,
				(unsigned long long)tally.lost, (unsigned long long)count, (unsigned long long)want_sum);
			return 1;
		}
		seq += count;
		if (round < warmup)
			continue;
		total_ns += elapsed;
		total_samples += count;
		if ((double)elapsed / count < best)
			best = (double)elapsed / count;
	}
	perf_buffer__free(pb);
	bpf_object__close(obj);

	printf("{\"impl\":\"libbpf\",\"payload\":%llu,\"recordBytes\":%llu,\"pages\":%llu,\"samplesPerRound\":%llu,\"rounds\":%d,"
	       "\"bestNsPerSample\":%.3f,\"meanNsPerSample\":%.3f,\"meanSamplesPerSec\":%.0f}\n",
	       (unsigned long long)payload, (unsigned long long)record, (unsigned long long)pages, (unsigned long long)count,
	       rounds, best, (double)total_ns / total_samples, total_samples * 1e9 / total_ns);
	return 0;
}
