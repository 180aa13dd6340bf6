// SPDX-License-Identifier: MIT
/* The C anchor of the streaming benchmark of `make bench`: libbpf consumes
 * what bench/c/producer.c offers, as fast as it can, from another CPU
 * (bench/ringbuf-stream.ts is tsbpf's side).
 *
 *   ringbuf_stream OBJECT PRODUCER PRODUCER_CPU MODE SECONDS BATCH RING_BYTES WARMUP [RATE]
 *
 * MODE busy:   the producer submits with BPF_RB_NO_WAKEUP and this consumer
 *              spins on ring_buffer__consume();
 * MODE wakeup: default wake-ups, and this consumer sleeps in
 *              ring_buffer__poll() (epoll_wait) whenever it has caught up.
 * RATE: records/s the producer paces itself to (default 0: as fast as it can).
 * WARMUP rounds of half a ring, produced here and drained, come first. The
 * callback checks that the sequence numbers follow each other; delivered
 * records are checked against what the producer submitted and drops against
 * ring__tsbpf_dropped. Prints one JSON line; the same fields as tsbpf's side. */
#include "producer.h"
#include <time.h>
#include "bench.h"

struct tally {
	uint64_t records;
	uint64_t misordered;
	uint32_t next; /* the low 32 bits of the sequence number expected next */
	int done;      /* the end record arrived */
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct tally *t = ctx;
	uint32_t seq;

	if (size != PAYLOAD) {
		t->done = 1;
		return 0;
	}
	memcpy(&seq, data, sizeof(seq));
	t->misordered += seq != t->next;
	t->next = seq + 1;
	t->records++;
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc != 9 && argc != 10) || (strcmp(argv[4], "busy") != 0 && strcmp(argv[4], "wakeup") != 0)) {
		fprintf(stderr, "usage: %s OBJECT PRODUCER PRODUCER_CPU busy|wakeup SECONDS BATCH RING_BYTES WARMUP [RATE]\n", argv[0]);
		return 2;
	}
	int busy = strcmp(argv[4], "busy") == 0;
	double seconds = atof(argv[5]);
	uint32_t ring_bytes = strtoul(argv[7], NULL, 0);
	int warmup = atoi(argv[8]);

	struct bpf_object *obj = load_producer_object(argv[1], ring_bytes);
	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "produce"));
	struct tally tally = { 0 };
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")), on_record, &tally, NULL);
	if (!rb)
		die("ring_buffer__new", errno);

	uint64_t seq = 0;
	for (int round = 0; round < warmup; round++) {
		produce_once(prog_fd, OP_STREAM, ring_bytes / 2 / (PAYLOAD + 8), BPF_RB_NO_WAKEUP, &seq);
		ring_buffer__consume(rb);
	}
	if (tally.misordered || tally.records != seq)
		die("warm-up records lost or out of order", EPROTO);
	memset(&tally, 0, sizeof(tally));
	uint64_t dropped_before = read_dropped(obj);

	char flags[16];
	snprintf(flags, sizeof(flags), "%d", busy ? BPF_RB_NO_WAKEUP : 0);
	char *rate = argc == 10 ? argv[9] : "0";
	char *producer[] = { argv[2], argv[3], "stream", argv[5], argv[6], flags, rate, NULL };
	int out;
	pid_t pid = start_producer(producer, prog_fd, &out);
	uint64_t deadline = now_ns() + (uint64_t)((seconds + 30) * 1e9), idle = 0;
	while (!tally.done) {
		int got = busy ? ring_buffer__consume(rb) : ring_buffer__poll(rb, 100);
		if (got < 0 && got != -EINTR)
			die(busy ? "ring_buffer__consume" : "ring_buffer__poll", got);
		/* The clock only now and then: it is not free. */
		if (got == 0 && (++idle & 1023) == 0 && now_ns() > deadline)
			die("no end record 30 s after the producer's time was up", ETIMEDOUT);
	}
	uint64_t end = now_ns();
	struct producer_result producer_result;
	finish_producer(pid, out, &producer_result);
	uint64_t dropped = read_dropped(obj) - dropped_before;

	if (tally.misordered || tally.records != producer_result.produced || dropped != producer_result.attempted - producer_result.produced) {
		fprintf(stderr, "ringbuf_stream: delivered %llu (%llu out of order), produced %llu, dropped %llu, attempted %llu\n",
			(unsigned long long)tally.records, (unsigned long long)tally.misordered, producer_result.produced,
			(unsigned long long)dropped, producer_result.attempted);
		return 1;
	}
	printf("{\"bench\":\"stream\",\"impl\":\"libbpf\",\"mode\":\"%s\",\"producerCpu\":%d,\"rate\":%.0f,\"ringBytes\":%u,\"recordBytes\":%d,\"seconds\":%.3f,"
	       "\"delivered\":%llu,\"dropped\":%llu,\"attempted\":%llu,\"recordsPerSec\":%.0f,\"offeredPerSec\":%.0f}\n",
	       argv[4], atoi(argv[3]), atof(rate), ring_bytes, PAYLOAD + 8, (end - producer_result.start_ns) / 1e9, (unsigned long long)tally.records,
	       (unsigned long long)dropped, producer_result.attempted, tally.records * 1e9 / (end - producer_result.start_ns),
	       producer_result.attempted * 1e9 / (producer_result.end_ns - producer_result.start_ns));
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
