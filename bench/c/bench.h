/* Helpers shared by the C anchors of `make bench`. */
#ifndef TSBPF_BENCH_H
#define TSBPF_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorted in place); the mean of the middle two when n is even. */
static inline double median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

#endif
