// SPDX-License-Identifier: MIT
/* The C anchor for `make bench`'s load benchmark: libbpf opens, loads (CO-RE
 * against the running kernel's BTF) and attaches a BPF object, then tears it
 * all down.
 *
 *   load_attach cold OBJECT
 *   load_attach warm OBJECT ROUNDS WARMUP
 *
 * One round is bpf_object__open_file(OBJECT), bpf_object__load(),
 * bpf_program__attach() for each program (time to "running"), then
 * bpf_link__destroy() for each link and bpf_object__close() (time to "gone").
 * libbpf parses /sys/kernel/btf/vmlinux inside every bpf_object__load() of an
 * object with CO-RE relocations and frees it at the end of the load; the
 * first load of a process also probes kernel features (cached afterwards).
 * `cold` times the first round of this process (bench/run.sh runs many fresh
 * processes); `warm` times ROUNDS rounds after WARMUP untimed ones. Prints
 * one JSON line; the same fields as bench/load-attach.ts. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

#define MAX_LINKS 16

struct sample {
	uint64_t open_ns; /* bpf_object__open_file: read and parse the ELF and its BTF */
	uint64_t load_ns; /* bpf_object__load: kernel BTF, maps, CO-RE, programs */
	uint64_t attach_ns; /* bpf_program__attach for every program */
	uint64_t close_ns; /* bpf_link__destroy for every link, bpf_object__close */
	uint64_t running_ns; /* open + load + attach */
	int programs;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "load_attach: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Only warnings reach stderr (libbpf's default also prints its info messages). */
static int print_warnings(enum libbpf_print_level level, const char *format, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, format, args) : 0;
}

static void round_once(const char *path, struct sample *s)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_program *prog;
	int n = 0, err;

	uint64_t start = now_ns();
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("bpf_object__open_file", errno);
	uint64_t opened = now_ns();
	if ((err = bpf_object__load(obj)))
		die("bpf_object__load", err);
	uint64_t loaded = now_ns();
	bpf_object__for_each_program(prog, obj) {
		if (n == MAX_LINKS)
			die("too many programs", E2BIG);
		if (!(links[n++] = bpf_program__attach(prog)))
			die(bpf_program__name(prog), errno);
	}
	uint64_t attached = now_ns();
	for (int i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	uint64_t closed = now_ns();

	s->open_ns = opened - start;
	s->load_ns = loaded - opened;
	s->attach_ns = attached - loaded;
	s->close_ns = closed - attached;
	s->running_ns = attached - start;
	s->programs = n;
}

int main(int argc, char **argv)
{
	int cold = argc == 3 && strcmp(argv[1], "cold") == 0;
	int warm = argc == 5 && strcmp(argv[1], "warm") == 0;
	if (!cold && !warm) {
		fprintf(stderr, "usage: %s cold OBJECT | warm OBJECT ROUNDS WARMUP\n", argv[0]);
		return 2;
	}
	const char *path = argv[2];
	struct sample s;

	libbpf_set_print(print_warnings);
	if (cold) {
		round_once(path, &s);
		printf("{\"bench\":\"load-attach\",\"impl\":\"libbpf\",\"variant\":\"libbpf\",\"phase\":\"cold\",\"programs\":%d,"
		       "\"runningNs\":%llu,\"openNs\":%llu,\"loadNs\":%llu,\"attachNs\":%llu,\"closeNs\":%llu}\n",
		       s.programs, (unsigned long long)s.running_ns, (unsigned long long)s.open_ns,
		       (unsigned long long)s.load_ns, (unsigned long long)s.attach_ns, (unsigned long long)s.close_ns);
		return 0;
	}

	int rounds = atoi(argv[3]), warmup = atoi(argv[4]);
	if (rounds < 1 || warmup < 0)
		die("ROUNDS must be at least 1", EINVAL);
	uint64_t *v[5];
	for (int i = 0; i < 5; i++)
		if (!(v[i] = calloc(rounds, sizeof(uint64_t))))
			die("calloc", ENOMEM);
	for (int round = 0; round < warmup + rounds; round++) {
		round_once(path, &s);
		if (round < warmup)
			continue;
		v[0][round - warmup] = s.running_ns;
		v[1][round - warmup] = s.open_ns;
		v[2][round - warmup] = s.load_ns;
		v[3][round - warmup] = s.attach_ns;
		v[4][round - warmup] = s.close_ns;
	}
	double running = median(v[0], rounds); /* sorts: v[0][0] is then the best */
	printf("{\"bench\":\"load-attach\",\"impl\":\"libbpf\",\"variant\":\"libbpf\",\"phase\":\"warm\",\"programs\":%d,\"rounds\":%d,"
	       "\"medianRunningNs\":%.0f,\"bestRunningNs\":%llu,\"medianOpenNs\":%.0f,\"medianLoadNs\":%.0f,\"medianAttachNs\":%.0f,"
	       "\"medianCloseNs\":%.0f}\n",
	       s.programs, rounds, running, (unsigned long long)v[0][0], median(v[1], rounds), median(v[2], rounds),
	       median(v[3], rounds), median(v[4], rounds));
	for (int i = 0; i < 5; i++)
		free(v[i]);
	return 0;
}
