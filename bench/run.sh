#!/usr/bin/env bash
# `make bench`: tsbpf against libbpf (Debian's libbpf-dev, through small C
# anchors in bench/c/ built here with gcc), in one run, five benchmarks:
#
# ringbuf  Ring buffer drain throughput on the same BPF object
#          (programs/ringbuf_bench.bpf.o). For each record size, the libbpf
#          anchor (bench/c/ringbuf_drain.c) and then tsbpf
#          (bench/ringbuf-drain.ts, one process per mode) each fill a 64 MiB
#          ring with BPF_PROG_TEST_RUN and time draining it, ROUNDS times
#          after WARMUP rounds; DRAIN_RUNS processes each, taking turns (this
#          VM's speed drifts by tens of percent over seconds: turns put both
#          sides through the same drift).
# perf     Perf buffer drain throughput, the same way, side by side with libbpf's
#          perf_buffer: for each payload size, bench/c/perfbuf_drain.c and
#          bench/perfbuf-drain.ts, both on CPU 1, fill CPU 0's ring (the
#          ring bench's RING_BYTES) with programs/perfbuf_bench.bpf.o run on
#          CPU 0 (BPF_F_TEST_RUN_ON_CPU) and time one drain of it, ROUNDS
#          times after WARMUP rounds, DRAIN_RUNS processes each; then each size's perf buffer rate beside
#          the ring bench's, when both ran. (A producer on the consumer's CPU
#          would pay a self-IPI wake-up per sample: 1.2 us instead of 0.2.)
# stream   Ring buffer streaming: bench/c/producer.c, pinned to a CPU of its
#          own, runs programs/ringbuf_stream.bpf.o with BPF_PROG_TEST_RUN in a
#          loop for STREAM_SECONDS (64-byte records, as fast as the kernel
#          takes them; failed reservations counted through tsbpf.h) into a
#          STREAM_RING_BYTES ring, while the consumer, on CPU 0, keeps up if
#          it can: libbpf (bench/c/ringbuf_stream.c) or tsbpf
#          (bench/ringbuf-stream.ts), STREAM_RUNS processes each, taking turns.
#          STREAM_CONFIGS is a list of MODE:PRODUCER_CPU[:RATE]; busy =
#          BPF_RB_NO_WAKEUP and a consumer spinning on consume(), wakeup =
#          default wake-ups and a consumer sleeping in epoll (libbpf
#          ring_buffer__poll, tsbpf await ring.poll()). Producer CPU 0 shares
#          the consumer's CPU. RATE paces the producer (records/s): unpaced,
#          how fast each consumer lets the producer go decides who drops, so the
#          paced runs ask the target's question: at a rate libbpf keeps up
#          with, does tsbpf too, with 0 drops?
# latency  Wake-up latency: the same producer submits one record every
#          LATENCY_INTERVAL_US (LATENCY_SAMPLES after LATENCY_WARMUP), stamped
#          with bpf_ktime_get_ns(); the consumer, asleep on CPU 0, takes
#          CLOCK_MONOTONIC in its callback: libbpf ring_buffer__poll
#          (bench/c/ringbuf_latency.c) or tsbpf (bench/ringbuf-latency.ts)
#          with await ring.poll() and with ring.subscribe(), LATENCY_RUNS
#          processes each.
# btf      Parse /sys/kernel/btf/vmlinux and look up struct task_struct
#          (bench/c/btf_parse.c, bench/btf-parse.ts): cold = the first parse
#          of a fresh process, COLD_RUNS processes each; warm = BTF_ROUNDS
#          parses in one process after BTF_WARMUP; and the memory the parsed
#          BTF keeps in tsbpf (node --expose-gc).
# load     Open, load (CO-RE against the kernel's BTF) and attach
#          programs/opensnoop.bpf.o, then close it (bench/c/load_attach.c,
#          bench/load-attach.ts): cold over COLD_RUNS fresh processes, warm =
#          LOAD_ROUNDS rounds in one process after LOAD_WARMUP, and tsbpf warm
#          again re-parsing the kernel BTF every round as libbpf does.
#
# Cold times are taken inside each process: node's start-up and module loading
# are not in tsbpf's cold numbers (the notes under the tables give them).
#
#   BENCHES="ringbuf perf stream latency btf load" PAYLOADS="56 8 1016" ROUNDS=15 WARMUP=3 DRAIN_RUNS=3 \
#   STREAM_CONFIGS="busy:1 wakeup:1 wakeup:0 wakeup:1:2000000 wakeup:1:4000000 wakeup:1:8000000" STREAM_SECONDS=2 STREAM_RUNS=3 STREAM_RING_BYTES=4194304 \
#   LATENCY_SAMPLES=3000 LATENCY_WARMUP=200 LATENCY_INTERVAL_US=1000 LATENCY_RUNS=3 \
#   COLD_RUNS=11 BTF_ROUNDS=30 BTF_WARMUP=5 LOAD_ROUNDS=20 LOAD_WARMUP=3 bash bench/run.sh   (the defaults)
#
# Payload bytes per record; the 8-byte ring header comes on top, so the
# defaults are 64-byte (the headline), 16-byte and 1 KiB records. Raw JSON
# lines go to build/bench/{results,stream,latency,btf,load}.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHES=${BENCHES:-ringbuf perf stream latency btf load}
PAYLOADS=${PAYLOADS:-56 8 1016}
ROUNDS=${ROUNDS:-15}
WARMUP=${WARMUP:-3}
DRAIN_RUNS=${DRAIN_RUNS:-3}
COLD_RUNS=${COLD_RUNS:-11}
BTF_ROUNDS=${BTF_ROUNDS:-30}
BTF_WARMUP=${BTF_WARMUP:-5}
LOAD_ROUNDS=${LOAD_ROUNDS:-20}
LOAD_WARMUP=${LOAD_WARMUP:-3}
STREAM_CONFIGS=${STREAM_CONFIGS:-busy:1 wakeup:1 wakeup:0 wakeup:1:2000000 wakeup:1:4000000 wakeup:1:8000000}
STREAM_SECONDS=${STREAM_SECONDS:-2}
STREAM_RUNS=${STREAM_RUNS:-3}
STREAM_RING_BYTES=${STREAM_RING_BYTES:-$((4 << 20))}
STREAM_BATCH=4096 # reservations per BPF_PROG_TEST_RUN
STREAM_WARMUP=20  # rounds of half a ring, produced and drained in the consumer's process before the producer starts
LATENCY_SAMPLES=${LATENCY_SAMPLES:-3000}
LATENCY_WARMUP=${LATENCY_WARMUP:-200}
LATENCY_INTERVAL_US=${LATENCY_INTERVAL_US:-1000}
LATENCY_RUNS=${LATENCY_RUNS:-3}
RING_BYTES=$((64 << 20))
OBJECT=programs/ringbuf_bench.bpf.o
LOAD_OBJECT=programs/opensnoop.bpf.o
STREAM_OBJECT=programs/ringbuf_stream.bpf.o
PERF_OBJECT=programs/perfbuf_bench.bpf.o
KERNEL_BTF=/sys/kernel/btf/vmlinux
OUT=build/bench

die() { echo "bench: $*" >&2; exit 1; }
wants() { [[ " $BENCHES " == *" $1 "* ]]; }
[ "$(id -u)" -eq 0 ] || die "must run as root (BPF_PROG_TEST_RUN, map creation, attaching)"
command -v gcc >/dev/null || die "gcc is missing (make tools, or apt-get install gcc)"
command -v node >/dev/null || die "node is missing"
[ -e /usr/include/bpf/libbpf.h ] || die "libbpf headers are missing (make tools, or apt-get install libbpf-dev)"
[ -e node_modules/tsx/package.json ] || die "node_modules/tsx is missing (make deps)"
[ -e "$OBJECT" ] || die "$OBJECT is missing (make programs)"
[ -e "$LOAD_OBJECT" ] || die "$LOAD_OBJECT is missing (make programs)"
[ -e "$STREAM_OBJECT" ] || die "$STREAM_OBJECT is missing (make programs)"
[ -e "$PERF_OBJECT" ] || die "$PERF_OBJECT is missing (make programs)"
if wants stream || wants latency; then
  [ "$(nproc)" -ge 2 ] || die "stream and latency need 2 CPUs: the consumer on CPU 0, the producer on CPU 1"
  command -v taskset >/dev/null || die "taskset is missing (apt-get install util-linux)"
fi
if wants perf; then
  [ "$(nproc)" -ge 2 ] || die "perf needs 2 CPUs: the consumer on CPU 1, the producer on CPU 0"
  command -v taskset >/dev/null || die "taskset is missing (apt-get install util-linux)"
fi
if wants btf || wants load; then [ -r "$KERNEL_BTF" ] || die "$KERNEL_BTF is missing (a kernel without CONFIG_DEBUG_INFO_BTF)"; fi

mkdir -p "$OUT"
for anchor in ringbuf_drain perfbuf_drain ringbuf_stream ringbuf_latency producer btf_parse load_attach; do
  gcc -O2 -Wall -Wextra -o "$OUT/$anchor" "bench/c/$anchor.c" -lbpf || die "building the libbpf anchor $anchor failed"
done
ts() { node --import tsx "$@"; }
# The consumers of stream and latency, node's threads included, on CPU 0 (the producer pins itself).
on_cpu0() { taskset -c 0 "$@"; }
versions="$(uname -r), node $(node --version), libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?'), $(nproc) CPUs"

start=$SECONDS
if wants ringbuf; then
  results="$OUT/results.jsonl"
  : >"$results"
  for payload in $PAYLOADS; do
    modes="zero-copy copy copy-into"
    # The typed decoder reads struct bench_event, 56 bytes.
    [ "$payload" -eq 56 ] && modes="$modes decode"
    echo "bench: ringbuf, payload $payload: $DRAIN_RUNS turns of libbpf, tsbpf $modes" >&2
    for _ in $(seq "$DRAIN_RUNS"); do
      "$OUT/ringbuf_drain" "$OBJECT" "$payload" "$ROUNDS" "$WARMUP" "$RING_BYTES" >>"$results"
      for mode in $modes; do
        ts bench/ringbuf-drain.ts --object "$OBJECT" --payload "$payload" --mode "$mode" \
          --rounds "$ROUNDS" --warmup "$WARMUP" --ring-bytes "$RING_BYTES" >>"$results"
      done
    done
  done
  ringbuf_s=$((SECONDS - start))
fi

if wants perf; then
  perf_start=$SECONDS
  perf="$OUT/perf.jsonl"
  : >"$perf"
  perf_pages=$((RING_BYTES / $(getconf PAGESIZE)))
  for payload in $PAYLOADS; do
    echo "bench: perf, payload $payload: $DRAIN_RUNS turns of libbpf, tsbpf" >&2
    for _ in $(seq "$DRAIN_RUNS"); do
      taskset -c 1 "$OUT/perfbuf_drain" "$PERF_OBJECT" "$payload" "$ROUNDS" "$WARMUP" "$perf_pages" >>"$perf"
      taskset -c 1 node --import tsx bench/perfbuf-drain.ts --object "$PERF_OBJECT" --payload "$payload" \
        --rounds "$ROUNDS" --warmup "$WARMUP" --pages "$perf_pages" >>"$perf"
    done
  done
  perf_s=$((SECONDS - perf_start))
fi

if wants stream; then
  stream_start=$SECONDS
  stream="$OUT/stream.jsonl"
  : >"$stream"
  for config in $STREAM_CONFIGS; do
    IFS=: read -r mode cpu rate <<<"$config"
    rate=${rate:-0}
    pace=$([ "$rate" = 0 ] && echo unpaced || echo "paced at $rate records/s")
    echo "bench: stream, $mode, producer on CPU $cpu, $pace: $STREAM_RUNS runs of ${STREAM_SECONDS} s each (libbpf and tsbpf taking turns)" >&2
    for _ in $(seq "$STREAM_RUNS"); do
      on_cpu0 "$OUT/ringbuf_stream" "$STREAM_OBJECT" "$OUT/producer" "$cpu" "$mode" "$STREAM_SECONDS" "$STREAM_BATCH" "$STREAM_RING_BYTES" "$STREAM_WARMUP" "$rate" >>"$stream"
      on_cpu0 node --import tsx bench/ringbuf-stream.ts --object "$STREAM_OBJECT" --producer "$OUT/producer" --producer-cpu "$cpu" \
        --mode "$mode" --seconds "$STREAM_SECONDS" --batch "$STREAM_BATCH" --ring-bytes "$STREAM_RING_BYTES" --warmup "$STREAM_WARMUP" --rate "$rate" >>"$stream"
    done
  done
  stream_s=$((SECONDS - stream_start))
fi

if wants latency; then
  latency_start=$SECONDS
  latency="$OUT/latency.jsonl"
  : >"$latency"
  echo "bench: latency, $LATENCY_RUNS runs of $LATENCY_SAMPLES samples each, one every $LATENCY_INTERVAL_US us (libbpf and tsbpf taking turns)" >&2
  for _ in $(seq "$LATENCY_RUNS"); do
    on_cpu0 "$OUT/ringbuf_latency" "$STREAM_OBJECT" "$OUT/producer" 1 "$LATENCY_SAMPLES" "$LATENCY_WARMUP" "$LATENCY_INTERVAL_US" >>"$latency"
    for mode in poll subscribe; do
      on_cpu0 node --import tsx bench/ringbuf-latency.ts --mode "$mode" --object "$STREAM_OBJECT" --producer "$OUT/producer" --producer-cpu 1 \
        --samples "$LATENCY_SAMPLES" --warmup "$LATENCY_WARMUP" --interval-us "$LATENCY_INTERVAL_US" >>"$latency"
    done
  done
  latency_s=$((SECONDS - latency_start))
fi

if wants btf; then
  btf_start=$SECONDS
  btf="$OUT/btf.jsonl"
  : >"$btf"
  echo "bench: btf, $COLD_RUNS fresh processes each (libbpf and tsbpf taking turns), then warm, then tsbpf memory" >&2
  for _ in $(seq "$COLD_RUNS"); do
    "$OUT/btf_parse" cold "$KERNEL_BTF" >>"$btf"
    ts bench/btf-parse.ts --mode cold --path "$KERNEL_BTF" >>"$btf"
  done
  "$OUT/btf_parse" warm "$BTF_ROUNDS" "$BTF_WARMUP" "$KERNEL_BTF" >>"$btf"
  ts bench/btf-parse.ts --mode warm --rounds "$BTF_ROUNDS" --warmup "$BTF_WARMUP" --path "$KERNEL_BTF" >>"$btf"
  node --expose-gc --import tsx bench/btf-parse.ts --mode memory --path "$KERNEL_BTF" >>"$btf"
  btf_s=$((SECONDS - btf_start))
fi

if wants load; then
  load_start=$SECONDS
  load="$OUT/load.jsonl"
  : >"$load"
  echo "bench: load, $COLD_RUNS fresh processes each (libbpf and tsbpf taking turns), then warm (libbpf, tsbpf, tsbpf re-parsing BTF)" >&2
  for _ in $(seq "$COLD_RUNS"); do
    "$OUT/load_attach" cold "$LOAD_OBJECT" >>"$load"
    ts bench/load-attach.ts --mode cold --object "$LOAD_OBJECT" >>"$load"
  done
  "$OUT/load_attach" warm "$LOAD_OBJECT" "$LOAD_ROUNDS" "$LOAD_WARMUP" >>"$load"
  ts bench/load-attach.ts --mode warm --object "$LOAD_OBJECT" --rounds "$LOAD_ROUNDS" --warmup "$LOAD_WARMUP" >>"$load"
  ts bench/load-attach.ts --mode warm --object "$LOAD_OBJECT" --rounds "$LOAD_ROUNDS" --warmup "$LOAD_WARMUP" --reparse-btf >>"$load"
  load_s=$((SECONDS - load_start))
fi

if wants ringbuf; then
  echo
  echo "Ring buffer drain, 64 MiB ring filled by BPF_PROG_TEST_RUN; each callback reads a record's low 32-bit sequence number"
  echo "$versions; $DRAIN_RUNS processes a side taking turns, $ROUNDS rounds each after $WARMUP warm-up; best = fastest round, mean = all records / all drain time;" \
    "ratio = tsbpf/libbpf mean records/s (lowest-highest of the processes side by side)"
  echo
  ts bench/table.ts ringbuf "$results"
  echo
  echo "copy: new Uint8Array(...).slice() per record; copy-into: one preallocated buffer (scratch.set); decode: a plain object per record from the decoder compiled from BTF for struct bench_event (64 B records only). $ringbuf_s s; raw results in $results"
fi

if wants perf; then
  echo
  echo "Perf buffer drain, CPU 0's $((RING_BYTES >> 20)) MiB ring ($perf_pages pages a CPU) filled by BPF_PROG_TEST_RUN on CPU 0, drained on CPU 1;" \
    "each callback reads a sample's low 32-bit sequence number"
  echo "$versions; $DRAIN_RUNS processes a side taking turns, $ROUNDS rounds each after $WARMUP warm-up; best = fastest round, mean = all samples / all drain time;" \
    "ratio = tsbpf/libbpf mean samples/s (lowest-highest of the processes side by side)"
  echo
  if wants ringbuf; then ts bench/table.ts perf "$perf" "$results"; else ts bench/table.ts perf "$perf"; fi
  echo
  echo "libbpf: perf_buffer__new + perf_buffer__consume; tsbpf: object.perfBuffer() + consume(). $perf_s s; raw results in $perf"
fi

if wants stream; then
  echo
  echo "Ring buffer streaming, 64-byte records (56 payload + 8 header), $((STREAM_RING_BYTES >> 20)) MiB ring: bench/c/producer.c offers records" \
    "as fast as the kernel takes them for $STREAM_SECONDS s (BPF_PROG_TEST_RUN, $STREAM_BATCH reservations a run); the consumer runs on CPU 0"
  echo "$versions; $STREAM_RUNS runs each, libbpf and tsbpf taking turns; median (min-max) over the runs;" \
    "rate = records delivered / (end record received - producer start); drops = failed reservations (tsbpf.h counter) / attempted"
  echo
  ts bench/table.ts stream "$stream"
  echo
  echo "busy: BPF_RB_NO_WAKEUP, libbpf ring_buffer__consume / tsbpf consume() in a loop (nobody sleeps, so wake-ups would only cost the producer);" \
    "wakeup: default wake-ups, libbpf ring_buffer__poll / tsbpf await ring.poll(). Unpaced, the producer's own speed depends on the consumer" \
    "on the other CPU (they share the ring's cache lines: see 'offered'), so who drops depends on how fast each consumer lets the producer go;" \
    "paced, the producer offers the same rate to both: 0 drops wherever libbpf has 0 is the target. $stream_s s; raw results in $stream"
fi

if wants latency; then
  echo
  echo "Ring buffer wake-up latency: one record every $LATENCY_INTERVAL_US us from bench/c/producer.c on CPU 1, submitted with default wake-up" \
    "to a consumer asleep on CPU 0; bpf_ktime_get_ns() before the submit to CLOCK_MONOTONIC in the callback"
  echo "$versions; $LATENCY_RUNS runs of $LATENCY_SAMPLES samples (after $LATENCY_WARMUP) each, libbpf and tsbpf taking turns;" \
    "median (min-max) over the runs of each run's percentiles; x libbpf = ratio of the medians (lower is better)"
  echo
  ts bench/table.ts latency "$latency"
  echo
  echo "libbpf: ring_buffer__poll (epoll_wait); tsbpf: uv_poll on the event loop through koffi, then await ring.poll() resumes on a promise," \
    "ring.subscribe() calls back inside the wake-up. $latency_s s; raw results in $latency"
fi

if wants btf; then
  echo
  echo "Kernel BTF: parse $KERNEL_BTF ($(stat -c %s "$KERNEL_BTF") bytes) and look up struct task_struct"
  echo "$versions; libbpf: btf__parse + btf__find_by_name_kind + btf__free; tsbpf: map (or read) the file + new Btf + typeByName"
  echo "cold = first parse in a fresh process ($COLD_RUNS processes; tsbpf timed inside the process, node start-up excluded);" \
    "warm = $BTF_ROUNDS parses in one process after $BTF_WARMUP; x libbpf = tsbpf/libbpf median time (lower is better)"
  echo
  ts bench/table.ts btf "$btf"
  echo
  echo "libbpf's 'find' stops at the first match and returns an id; tsbpf's lookup finds every type of that name (idsByName: the name in the string section, then its offset in the type section, two native substring searches) and decodes the struct." \
    "Memory: process.memoryUsage() deltas after gc(); retained = heapUsed + external. $btf_s s; raw results in $btf"
fi

if wants load; then
  echo
  echo "Open + load + attach $LOAD_OBJECT (2 tracepoint programs, CO-RE task->real_parent->tgid against the kernel's BTF), then close"
  echo "$versions; libbpf: bpf_object__open_file + bpf_object__load + bpf_program__attach each; tsbpf: BpfObject.open (ObjectSpec.parse + BpfObject.load) + attachAll"
  echo "cold = first round in a fresh process ($COLD_RUNS processes; tsbpf timed inside the process, node start-up excluded);" \
    "warm = $LOAD_ROUNDS rounds in one process after $LOAD_WARMUP; times to 'attached'; x libbpf = median time ratio (lower is better)"
  echo
  ts bench/table.ts load "$load"
  echo
  echo "Both sides parse the kernel BTF inside a cold load (libbpf's first load also probes kernel features). Warm, libbpf parses it" \
    "again in every bpf_object__load; tsbpf keeps it per process, so 'tsbpf re-parsing' passes a new Btf as targetBtf each round to do libbpf's work."
  echo "close (not in the ratios): detaching the tracepoints waits for RCU grace periods in the kernel, on both sides. $load_s s; raw results in $load"
fi
echo
echo "bench: $((SECONDS - start)) s in all"
