/* What bench/c/producer.c and the C anchors of the streaming and latency
 * benchmarks share: the context of programs/ringbuf_stream.bpf.c, and (for
 * the anchors) loading it, reading its drop counter and running the producer. */
#ifndef TSBPF_BENCH_PRODUCER_H
#define TSBPF_BENCH_PRODUCER_H

#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* As in programs/ringbuf_stream.bpf.c. */
#define PAYLOAD 56
enum { OP_STREAM, OP_PING, OP_END };
struct producer_args {
	uint32_t op;
	uint32_t count;
	uint32_t flags;
	uint32_t produced;
	uint64_t seq;
};

/* The producer's JSON line. */
struct producer_result {
	unsigned long long attempted, produced, start_ns, end_ns;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* One BPF_PROG_TEST_RUN of the program; returns the records it submitted and advances *seq. */
static inline uint32_t produce_once(int prog_fd, uint32_t op, uint32_t count, uint32_t flags, uint64_t *seq)
{
	struct producer_args args = { .op = op, .count = count, .flags = flags, .seq = *seq };
	/* A syscall program's context is written back into ctx_in. */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN of the produce program", errno);
	*seq = args.seq;
	return args.produced;
}

/* Opens and loads the object with a ring of `ring_bytes`. */
static inline struct bpf_object *load_producer_object(const char *path, uint32_t ring_bytes)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int err;

	if (!obj)
		die("bpf_object__open_file", errno);
	struct bpf_map *ring = bpf_object__find_map_by_name(obj, "ring");
	if (!ring || !bpf_object__find_program_by_name(obj, "produce"))
		die("map 'ring' or program 'produce' not found", ENOENT);
	if ((err = bpf_map__set_max_entries(ring, ring_bytes)))
		die("bpf_map__set_max_entries", err);
	if ((err = bpf_object__load(obj)))
		die("bpf_object__load", err);
	return obj;
}

/* ring__tsbpf_dropped (programs/include/tsbpf.h), read from the kernel's .bss. */
static inline uint64_t read_dropped(struct bpf_object *obj)
{
	struct bpf_map *bss = bpf_object__find_map_by_name(obj, ".bss");
	struct btf *btf = bpf_object__btf(obj);
	int id = btf ? btf__find_by_name_kind(btf, ".bss", BTF_KIND_DATASEC) : -ENOENT;

	if (!bss || id < 0)
		die("no .bss map or no .bss in BTF", ENOENT);
	const struct btf_type *sec = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *var = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, var++) {
		if (strcmp(btf__name_by_offset(btf, btf__type_by_id(btf, var->type)->name_off), "ring__tsbpf_dropped") != 0)
			continue;
		uint32_t key = 0;
		size_t size = bpf_map__value_size(bss);
		unsigned char *value = malloc(size);
		uint64_t dropped;
		if (bpf_map_lookup_elem(bpf_map__fd(bss), &key, value))
			die("reading .bss", errno);
		memcpy(&dropped, value + var->offset, sizeof(dropped));
		free(value);
		return dropped;
	}
	die("ring__tsbpf_dropped not found in .bss", ENOENT);
	return 0;
}

/* Starts `producer ARGS...` with the program as its fd 3 and its stdout on a pipe (*out). */
static inline pid_t start_producer(char *const argv[], int prog_fd, int *out)
{
	int pipe_fds[2];

	if (pipe(pipe_fds))
		die("pipe", errno);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		if (dup2(pipe_fds[1], 1) < 0 || dup2(prog_fd, 3) < 0)
			die("dup2", errno);
		execv(argv[0], argv);
		die(argv[0], errno);
	}
	close(pipe_fds[1]);
	*out = pipe_fds[0];
	return pid;
}

/* Waits for the producer and parses its JSON line. */
static inline void finish_producer(pid_t pid, int out, struct producer_result *result)
{
	char line[256];
	ssize_t got, length = 0;
	int status;

	while ((got = read(out, line + length, sizeof(line) - 1 - length)) > 0)
		length += got;
	close(out);
	line[length] = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the producer failed", ECHILD);
	if (sscanf(line, "{\"attempted\":%llu,\"produced\":%llu,\"startNs\":%llu,\"endNs\":%llu}", &result->attempted,
		   &result->produced, &result->start_ns, &result->end_ns) != 4)
		die("unexpected producer output", EPROTO);
}

#endif
