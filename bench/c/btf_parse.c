// SPDX-License-Identifier: MIT
/* The C anchor for `make bench`'s kernel BTF benchmark: libbpf parses the
 * running kernel's BTF and looks up struct task_struct.
 *
 *   btf_parse cold [PATH]
 *   btf_parse warm ROUNDS WARMUP [PATH]
 *
 * One parse is btf__parse(PATH, NULL) (reads the file, checks the header and
 * indexes the types), btf__find_by_name_kind(btf, "task_struct",
 * BTF_KIND_STRUCT) and btf__free(). `cold` times the first parse of this
 * process (bench/run.sh runs many fresh processes) and also reports what the
 * parsed BTF holds on the malloc heap (mallinfo2, before btf__free); `warm`
 * times ROUNDS parses after WARMUP untimed ones. Prints one JSON line; the same
 * fields as bench/btf-parse.ts. PATH defaults to /sys/kernel/btf/vmlinux. */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bench.h"

struct sample {
	uint64_t parse_ns; /* btf__parse: read + header + type index */
	uint64_t lookup_ns; /* btf__find_by_name_kind */
	uint64_t total_ns; /* both, and btf__free */
	long heap_bytes; /* malloc'd by the parsed BTF (cold only) */
	int type_id;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "btf_parse: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Bytes in use from malloc: small chunks plus mmap()ed large ones (the raw BTF copy). */
static long heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long)(mi.uordblks + mi.hblkhd);
}

static void parse_once(const char *path, struct sample *s, int measure_heap)
{
	long heap_before = measure_heap ? heap_in_use() : 0;
	uint64_t start = now_ns();
	struct btf *btf = btf__parse(path, NULL);
	if (!btf)
		die("btf__parse", errno);
	uint64_t parsed = now_ns();
	int id = btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT);
	uint64_t found = now_ns();
	if (id < 0)
		die("btf__find_by_name_kind(task_struct)", id);
	s->heap_bytes = measure_heap ? heap_in_use() - heap_before : 0;
	btf__free(btf);
	s->total_ns = now_ns() - start;
	s->parse_ns = parsed - start;
	s->lookup_ns = found - parsed;
	s->type_id = id;
}

int main(int argc, char **argv)
{
	int cold = argc >= 2 && strcmp(argv[1], "cold") == 0;
	int warm = argc >= 4 && strcmp(argv[1], "warm") == 0;
	if (!(cold && argc <= 3) && !(warm && argc <= 5)) {
		fprintf(stderr, "usage: %s cold [PATH] | warm ROUNDS WARMUP [PATH]\n", argv[0]);
		return 2;
	}
	const char *path = argc > (cold ? 2 : 4) ? argv[cold ? 2 : 4] : "/sys/kernel/btf/vmlinux";
	struct stat st;
	struct sample s;

	if (stat(path, &st))
		die(path, errno);
	if (cold) {
		parse_once(path, &s, 1);
		printf("{\"bench\":\"btf-parse\",\"impl\":\"libbpf\",\"phase\":\"cold\",\"fileBytes\":%lld,\"typeId\":%d,"
		       "\"totalNs\":%llu,\"parseNs\":%llu,\"lookupNs\":%llu,\"heapBytes\":%ld}\n",
		       (long long)st.st_size, s.type_id, (unsigned long long)s.total_ns, (unsigned long long)s.parse_ns,
		       (unsigned long long)s.lookup_ns, s.heap_bytes);
		return 0;
	}

	int rounds = atoi(argv[2]), warmup = atoi(argv[3]);
	if (rounds < 1 || warmup < 0)
		die("ROUNDS must be at least 1", EINVAL);
	uint64_t *total = calloc(rounds, sizeof(*total)), *parse = calloc(rounds, sizeof(*parse)),
		 *lookup = calloc(rounds, sizeof(*lookup));
	if (!total || !parse || !lookup)
		die("calloc", ENOMEM);
	for (int round = 0; round < warmup + rounds; round++) {
		parse_once(path, &s, 0);
		if (round < warmup)
			continue;
		total[round - warmup] = s.total_ns;
		parse[round - warmup] = s.parse_ns;
		lookup[round - warmup] = s.lookup_ns;
	}
	double total_median = median(total, rounds); /* sorts: total[0] is then the best */
	printf("{\"bench\":\"btf-parse\",\"impl\":\"libbpf\",\"phase\":\"warm\",\"fileBytes\":%lld,\"typeId\":%d,\"rounds\":%d,"
	       "\"medianTotalNs\":%.0f,\"bestTotalNs\":%llu,\"medianParseNs\":%.0f,\"medianLookupNs\":%.0f}\n",
	       (long long)st.st_size, s.type_id, rounds, total_median, (unsigned long long)total[0],
	       median(parse, rounds), median(lookup, rounds));
	free(total);
	free(parse);
	free(lookup);
	return 0;
}
