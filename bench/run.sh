#!/usr/bin/env bash
# `make bench`: ring buffer drain throughput, tsbpf against libbpf, on the same
# BPF object (programs/ringbuf_bench.bpf.o) in one run. For each record size,
# the libbpf anchor (bench/c/ringbuf_drain.c) and then tsbpf
# (bench/ringbuf-drain.ts, one process per mode) each fill a 64 MiB ring with
# BPF_PROG_TEST_RUN and time draining it, ROUNDS times after WARMUP rounds.
#
#   PAYLOADS="56 8 1016" ROUNDS=15 WARMUP=3 bash bench/run.sh   (the defaults)
#
# Payload bytes per record; the 8-byte ring header comes on top, so the
# defaults are 64-byte (the headline), 16-byte and 1 KiB records.
set -euo pipefail
cd "$(dirname "$0")/.."

PAYLOADS=${PAYLOADS:-56 8 1016}
ROUNDS=${ROUNDS:-15}
WARMUP=${WARMUP:-3}
RING_BYTES=$((64 << 20))
OBJECT=programs/ringbuf_bench.bpf.o
OUT=build/bench

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (BPF_PROG_TEST_RUN, map creation)"
command -v gcc >/dev/null || die "gcc is missing (make tools, or apt-get install gcc)"
command -v node >/dev/null || die "node is missing"
[ -e /usr/include/bpf/libbpf.h ] || die "libbpf headers are missing (make tools, or apt-get install libbpf-dev)"
[ -e node_modules/tsx/package.json ] || die "node_modules/tsx is missing (make deps)"
[ -e "$OBJECT" ] || die "$OBJECT is missing (make programs)"

mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -o "$OUT/ringbuf_drain" bench/c/ringbuf_drain.c -lbpf || die "building the libbpf anchor failed"
results="$OUT/results.jsonl"
: >"$results"

start=$SECONDS
for payload in $PAYLOADS; do
  echo "bench: payload $payload: libbpf, tsbpf zero-copy, copy, copy-into" >&2
  "$OUT/ringbuf_drain" "$OBJECT" "$payload" "$ROUNDS" "$WARMUP" "$RING_BYTES" >>"$results"
  for mode in zero-copy copy copy-into; do
    node --import tsx bench/ringbuf-drain.ts --object "$OBJECT" --payload "$payload" --mode "$mode" \
      --rounds "$ROUNDS" --warmup "$WARMUP" --ring-bytes "$RING_BYTES" >>"$results"
  done
done

echo
echo "Ring buffer drain, 64 MiB ring filled by BPF_PROG_TEST_RUN; each callback reads a record's low 32-bit sequence number"
echo "$(uname -r), node $(node --version), libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?'), $(nproc) CPUs;" \
  "$ROUNDS rounds after $WARMUP warm-up; best = fastest round, mean = all records / all drain time; ratio = tsbpf/libbpf mean records/s"
echo
node --import tsx bench/table.ts "$results"
echo
echo "copy: new Uint8Array(...).slice() per record; copy-into: one preallocated buffer (scratch.set). $((SECONDS - start)) s; raw results in $results"
