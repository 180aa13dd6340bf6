/* tsbpf's BPF-side header: ring buffers whose failed reservations are
 * counted where user space can see them.
 *
 *   TSBPF_RINGBUF(events, 256 * 1024);
 *   struct event *e = tsbpf_ringbuf_reserve(events, sizeof(*e), 0);
 *
 * The kernel tells only the BPF program that a reservation failed (the ring
 * was full); these wrappers add one to a counter next to the ring, and
 * RingBuffer.stats().dropped in tsbpf reads it: no guessing in user space. */
#ifndef TSBPF_H
#define TSBPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* A ring buffer map `name` of `bytes` bytes, and its drop counter
 * `name__tsbpf_dropped` (a global in .bss, found by the loader by name). */
#define TSBPF_RINGBUF(name, bytes)                                     \
	struct {                                                       \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                    \
		__uint(max_entries, bytes);                            \
	} name SEC(".maps");                                           \
	__u64 name##__tsbpf_dropped

/* bpf_ringbuf_reserve() that counts a failure. */
#define tsbpf_ringbuf_reserve(ring, size, flags)                       \
	({                                                             \
		void *__record = bpf_ringbuf_reserve(&ring, size, flags); \
		if (!__record)                                         \
			__sync_fetch_and_add(&ring##__tsbpf_dropped, 1); \
		__record;                                              \
	})

/* bpf_ringbuf_output() that counts a failure. */
#define tsbpf_ringbuf_output(ring, data, size, flags)                  \
	({                                                             \
		long __error = bpf_ringbuf_output(&ring, data, size, flags); \
		if (__error)                                           \
			__sync_fetch_and_add(&ring##__tsbpf_dropped, 1); \
		__error;                                               \
	})

#endif
