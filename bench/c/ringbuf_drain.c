// SPDX-License-Identifier: MIT
/* The C anchor for `make bench`: libbpf drains the ring buffer that
 * programs/ringbuf_bench.bpf.o fills with BPF_PROG_TEST_RUN.
 *
 *   ringbuf_drain OBJECT PAYLOAD_BYTES ROUNDS WARMUP_ROUNDS [RING_BYTES]
 *
 * Each round fills the ring (one test run; the program stops when the ring is
 * full), then times one ring_buffer__consume() whose callback reads the low
 * 32 bits of every record's u64 sequence number and adds them up. The count
 * and the sum are checked against what the program reports. Prints one JSON
 * line; the same fields as bench/ringbuf-drain.ts. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

struct bench_args { /* the program's context: programs/ringbuf_bench.bpf.c */
	uint32_t count;
	uint32_t produced;
	uint64_t seq;
};

struct tally {
	uint64_t records;
	uint64_t sum;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct tally *t = ctx;
	uint32_t seq;

	(void)size;
	memcpy(&seq, data, sizeof(seq)); /* low half of the little-endian u64 */
	t->sum += seq;
	t->records++;
	return 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ringbuf_drain: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Writes `value` into the `.rodata` variable `name`, found through BTF. */
static void set_rodata_u32(struct bpf_object *obj, const char *name, uint32_t value)
{
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;
	size_t size;
	int id, i;

	if (!rodata || !btf)
		die("no .rodata map or no BTF in the object", ENOENT);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		die("no .rodata DATASEC in BTF", -id);
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const char *var = btf__name_by_offset(btf, btf__type_by_id(btf, vs->type)->name_off);
		if (strcmp(var, name) != 0)
			continue;
		const void *initial = bpf_map__initial_value(rodata, &size);
		if (!initial || vs->offset + sizeof(value) > size || vs->size != sizeof(value))
			die("payload_size is not a u32 inside .rodata", EINVAL);
		unsigned char *copy = malloc(size);
		memcpy(copy, initial, size);
		memcpy(copy + vs->offset, &value, sizeof(value));
		int err = bpf_map__set_initial_value(rodata, copy, size);
		free(copy);
		if (err)
			die("bpf_map__set_initial_value", err);
		return;
	}
	die("variable not found in .rodata", ENOENT);
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: %s OBJECT PAYLOAD_BYTES ROUNDS WARMUP_ROUNDS [RING_BYTES]\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	uint32_t payload = strtoul(argv[2], NULL, 0);
	int rounds = atoi(argv[3]), warmup = atoi(argv[4]);
	uint32_t ring_bytes = argc > 5 ? strtoul(argv[5], NULL, 0) : 64u << 20;
	uint32_t record = (payload + 8 + 7) & ~7u;
	int err;

	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("bpf_object__open_file", errno);
	struct bpf_map *ring_map = bpf_object__find_map_by_name(obj, "ring");
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "produce");
	if (!ring_map || !prog)
		die("map 'ring' or program 'produce' not found", ENOENT);
	if ((err = bpf_map__set_max_entries(ring_map, ring_bytes)))
		die("bpf_map__set_max_entries", err);
	set_rodata_u32(obj, "payload_size", payload);
	if ((err = bpf_object__load(obj)))
		die("bpf_object__load", err);

	struct tally tally = { 0 };
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(ring_map), on_record, &tally, NULL);
	if (!rb)
		die("ring_buffer__new", errno);

	uint64_t seq = 0, records = 0, total_ns = 0, total_records = 0;
	double best = 1e300; /* ns per record */
	for (int round = 0; round < warmup + rounds; round++) {
		struct bench_args args = { .count = 1u << 23 /* bpf_loop's limit */, .seq = seq };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
		if ((err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)))
			die("bpf_prog_test_run_opts", err);
		if (args.produced == 0 || (uint64_t)args.produced * record > ring_bytes || args.seq - seq != args.produced)
			die("the program produced an unexpected number of records", EPROTO);

		tally.records = tally.sum = 0;
		uint64_t start = now_ns();
		int got = ring_buffer__consume(rb);
		uint64_t elapsed = now_ns() - start;

		uint64_t n = args.produced;
		uint64_t want_sum = n * seq + n * (n - 1) / 2; /* seq stays below 2^32 */
		if (got < 0 || (uint64_t)got != n || tally.records != n || tally.sum != want_sum) {
			fprintf(stderr, "ringbuf_drain: round %d: consumed %d (callback saw %llu, sum %llu), produced %llu (sum %llu)\n", round,
				got, (unsigned long long)tally.records, (unsigned long long)tally.sum, (unsigned long long)n,
				(unsigned long long)want_sum);
			return 1;
		}
		seq = args.seq;
		if (round < warmup)
			continue;
		records = n;
		total_ns += elapsed;
		total_records += n;
		if ((double)elapsed / n < best)
			best = (double)elapsed / n;
	}
	ring_buffer__free(rb);
	bpf_object__close(obj);

	printf("{\"impl\":\"libbpf\",\"mode\":\"zero-copy\",\"payload\":%u,\"recordBytes\":%u,\"recordsPerRound\":%llu,"
	       "\"rounds\":%d,\"bestNsPerRecord\":%.3f,\"meanNsPerRecord\":%.3f,\"meanRecordsPerSec\":%.0f}\n",
	       payload, record, (unsigned long long)records, rounds, best,
	       (double)total_ns / total_records, total_records * 1e9 / total_ns);
	return 0;
}
