// SPDX-License-Identifier: MIT
/* The C anchor of the wake-up latency benchmark of `make bench`: how long
 * from a submit with default wake-up (the consumer is caught up, so the
 * kernel wakes it) to the consumer's callback, with libbpf's
 * ring_buffer__poll() (epoll_wait). bench/ringbuf-latency.ts is tsbpf's side.
 *
 *   ringbuf_latency OBJECT PRODUCER PRODUCER_CPU SAMPLES WARMUP INTERVAL_US
 *
 * bench/c/producer.c, on PRODUCER_CPU, submits one record every INTERVAL_US,
 * stamped with bpf_ktime_get_ns() just before the submit; the callback takes
 * CLOCK_MONOTONIC first thing. The first WARMUP samples are left out. Prints
 * one JSON line: median, p90, p99 and max; the same fields as tsbpf's side. */
#include "producer.h"
#include <time.h>
#include "bench.h"

struct samples {
	uint64_t *ns;
	uint64_t count, capacity;
	uint64_t stamp; /* the latest record's */
	int done; /* the end record arrived */
};

static int on_record(void *ctx, void *data, size_t size)
{
	uint64_t now = now_ns(), stamp;
	struct samples *s = ctx;

	if (size != PAYLOAD) {
		s->done = 1;
		return 0;
	}
	memcpy(&stamp, (char *)data + 8, sizeof(stamp));
	s->stamp = stamp;
	if (s->count < s->capacity)
		s->ns[s->count++] = now - stamp;
	return 0;
}

/* Nearest rank: the smallest sample with at least fraction p of them at or below it (v sorted). */
static uint64_t percentile(const uint64_t *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * n + 0.999999);
	return v[(rank ? rank : 1) - 1];
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s OBJECT PRODUCER PRODUCER_CPU SAMPLES WARMUP INTERVAL_US\n", argv[0]);
		return 2;
	}
	uint64_t samples = strtoull(argv[4], NULL, 0), warmup = strtoull(argv[5], NULL, 0), interval_us = strtoull(argv[6], NULL, 0);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	int err;
	if (!obj)
		die("bpf_object__open_file", errno);
	if ((err = bpf_object__load(obj)))
		die("bpf_object__load", err);
	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "produce"));
	struct samples s = { .capacity = samples + warmup };
	s.ns = calloc(s.capacity, sizeof(*s.ns));
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")), on_record, &s, NULL);
	if (!rb || !s.ns)
		die("ring_buffer__new", errno);

	/* The two clocks must be one: a stamp taken in the kernel lies between two taken here. */
	uint64_t seq = 0, before = now_ns();
	produce_once(prog_fd, OP_PING, 1, 0, &seq);
	uint64_t after = now_ns();
	ring_buffer__consume(rb);
	if (s.count != 1 || s.stamp < before || s.stamp > after)
		die("bpf_ktime_get_ns() and CLOCK_MONOTONIC disagree", EPROTO);
	s.count = 0;

	char count[24], interval[24];
	snprintf(count, sizeof(count), "%llu", (unsigned long long)(samples + warmup));
	snprintf(interval, sizeof(interval), "%llu", (unsigned long long)interval_us);
	char *producer[] = { argv[2], argv[3], "ping", count, interval, NULL };
	int out;
	pid_t pid = start_producer(producer, prog_fd, &out);
	uint64_t deadline = now_ns() + (samples + warmup) * interval_us * 1000 + 30000000000ull;
	while (!s.done) {
		int got = ring_buffer__poll(rb, 1000);
		if (got < 0 && got != -EINTR)
			die("ring_buffer__poll", got);
		if (got == 0 && now_ns() > deadline)
			die("no end record 30 s after the producer's time was up", ETIMEDOUT);
	}
	struct producer_result producer_result;
	finish_producer(pid, out, &producer_result);
	if (s.count != samples + warmup || producer_result.produced != s.count || read_dropped(obj) != 0) {
		fprintf(stderr, "ringbuf_latency: %llu samples, %llu produced\n", (unsigned long long)s.count, producer_result.produced);
		return 1;
	}

	uint64_t *v = s.ns + warmup;
	double mid = median(v, samples); /* sorts */
	printf("{\"bench\":\"latency\",\"impl\":\"libbpf\",\"samples\":%llu,\"intervalUs\":%llu,\"medianNs\":%.0f,\"p90Ns\":%llu,"
	       "\"p99Ns\":%llu,\"maxNs\":%llu}\n",
	       (unsigned long long)samples, (unsigned long long)interval_us, mid, (unsigned long long)percentile(v, samples, 0.9),
	       (unsigned long long)percentile(v, samples, 0.99), (unsigned long long)v[samples - 1]);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
