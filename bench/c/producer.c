// SPDX-License-Identifier: MIT
/* The producer shared by the streaming and wake-up latency benchmarks of
 * `make bench`: the libbpf anchors (bench/c/ringbuf_{stream,latency}.c) and
 * tsbpf (bench/ringbuf-{stream,latency}.ts) all start this binary with the
 * `produce` program of programs/ringbuf_stream.bpf.o as fd 3, so both
 * consumers face the same producer, on its own CPU.
 *
 *   producer CPU stream SECONDS BATCH FLAGS [RATE]
 *                                             BPF_PROG_TEST_RUN in a loop for SECONDS,
 *                                             BATCH reservations a run, submitted with FLAGS;
 *                                             with RATE (records/s, 0: as fast as it can), a run
 *                                             starts only when the attempts so far are due
 *   producer CPU ping SAMPLES INTERVAL_US     one stamped record every INTERVAL_US
 *
 * then the end record, retried until the ring has room. Prints one JSON line:
 * attempted and produced records, and when producing started and stopped
 * (CLOCK_MONOTONIC ns, the consumers' clock). */
#include "producer.h"
#include <sched.h>
#include <time.h>
#include "bench.h"

static const int prog_fd = 3;

/* Sleeps until CLOCK_MONOTONIC reaches `ns`: absolute deadlines, so a late wake-up does not shift the ones after it. */
static void sleep_until(uint64_t ns)
{
	struct timespec at = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
}

int main(int argc, char **argv)
{
	int stream = (argc == 6 || argc == 7) && strcmp(argv[2], "stream") == 0;
	if (!stream && !(argc == 5 && strcmp(argv[2], "ping") == 0)) {
		fprintf(stderr, "usage: %s CPU stream SECONDS BATCH FLAGS [RATE] | CPU ping SAMPLES INTERVAL_US  (fd 3: the program)\n", argv[0]);
		return 2;
	}
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(atoi(argv[1]), &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		die("sched_setaffinity", errno);

	uint64_t seq = 0, attempted = 0, produced = 0, start = now_ns(), end;
	if (stream) {
		uint64_t stop = start + (uint64_t)(atof(argv[3]) * 1e9);
		uint32_t batch = strtoul(argv[4], NULL, 0), flags = strtoul(argv[5], NULL, 0);
		double rate = argc == 7 ? atof(argv[6]) : 0;
		do {
			if (rate > 0)
				sleep_until(start + (uint64_t)(attempted * 1e9 / rate));
			produced += produce_once(prog_fd, OP_STREAM, batch, flags, &seq);
			attempted += batch;
		} while ((end = now_ns()) < stop);
	} else {
		uint64_t samples = strtoull(argv[3], NULL, 0), interval = strtoull(argv[4], NULL, 0) * 1000;
		for (attempted = 0; attempted < samples; attempted++) {
			sleep_until(start + (attempted + 1) * interval);
			produced += produce_once(prog_fd, OP_PING, 1, 0, &seq);
		}
		end = now_ns();
	}
	/* A consumer that fell behind leaves the ring full: wait for room. */
	for (int tries = 0; produce_once(prog_fd, OP_END, 1, 0, &seq) == 0; tries++) {
		if (tries == 100000)
			die("no room for the end record after 10 s: is anyone consuming?", ETIMEDOUT);
		struct timespec pause = { .tv_nsec = 100000 };
		nanosleep(&pause, NULL);
	}
	printf("{\"attempted\":%llu,\"produced\":%llu,\"startNs\":%llu,\"endNs\":%llu}\n", (unsigned long long)attempted,
	       (unsigned long long)produced, (unsigned long long)start, (unsigned long long)end);
	return 0;
}
