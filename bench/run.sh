#!/usr/bin/env bash
# `make bench`: tsbpf against libbpf (Debian's libbpf-dev, through small C
# anchors in bench/c/ built here with gcc), in one run, three benchmarks:
#
# ringbuf  Ring buffer drain throughput on the same BPF object
#          (programs/ringbuf_bench.bpf.o). For each record size, the libbpf
#          anchor (bench/c/ringbuf_drain.c) and then tsbpf
#          (bench/ringbuf-drain.ts, one process per mode) each fill a 64 MiB
#          ring with BPF_PROG_TEST_RUN and time draining it, ROUNDS times
#          after WARMUP rounds.
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
#   BENCHES="ringbuf btf load" PAYLOADS="56 8 1016" ROUNDS=15 WARMUP=3 \
#   COLD_RUNS=11 BTF_ROUNDS=30 BTF_WARMUP=5 LOAD_ROUNDS=20 LOAD_WARMUP=3 bash bench/run.sh   (the defaults)
#
# Payload bytes per record; the 8-byte ring header comes on top, so the
# defaults are 64-byte (the headline), 16-byte and 1 KiB records. Raw JSON
# lines go to build/bench/{results,btf,load}.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHES=${BENCHES:-ringbuf btf load}
PAYLOADS=${PAYLOADS:-56 8 1016}
ROUNDS=${ROUNDS:-15}
WARMUP=${WARMUP:-3}
COLD_RUNS=${COLD_RUNS:-11}
BTF_ROUNDS=${BTF_ROUNDS:-30}
BTF_WARMUP=${BTF_WARMUP:-5}
LOAD_ROUNDS=${LOAD_ROUNDS:-20}
LOAD_WARMUP=${LOAD_WARMUP:-3}
RING_BYTES=$((64 << 20))
OBJECT=programs/ringbuf_bench.bpf.o
LOAD_OBJECT=programs/opensnoop.bpf.o
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
if wants btf || wants load; then [ -r "$KERNEL_BTF" ] || die "$KERNEL_BTF is missing (a kernel without CONFIG_DEBUG_INFO_BTF)"; fi

mkdir -p "$OUT"
for anchor in ringbuf_drain btf_parse load_attach; do
  gcc -O2 -Wall -Wextra -o "$OUT/$anchor" "bench/c/$anchor.c" -lbpf || die "building the libbpf anchor $anchor failed"
done
ts() { node --import tsx "$@"; }
versions="$(uname -r), node $(node --version), libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?'), $(nproc) CPUs"

start=$SECONDS
if wants ringbuf; then
  results="$OUT/results.jsonl"
  : >"$results"
  for payload in $PAYLOADS; do
    echo "bench: ringbuf, payload $payload: libbpf, tsbpf zero-copy, copy, copy-into" >&2
    "$OUT/ringbuf_drain" "$OBJECT" "$payload" "$ROUNDS" "$WARMUP" "$RING_BYTES" >>"$results"
    for mode in zero-copy copy copy-into; do
      ts bench/ringbuf-drain.ts --object "$OBJECT" --payload "$payload" --mode "$mode" \
        --rounds "$ROUNDS" --warmup "$WARMUP" --ring-bytes "$RING_BYTES" >>"$results"
    done
  done
  ringbuf_s=$((SECONDS - start))
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
  echo "$versions; $ROUNDS rounds after $WARMUP warm-up; best = fastest round, mean = all records / all drain time; ratio = tsbpf/libbpf mean records/s"
  echo
  ts bench/table.ts ringbuf "$results"
  echo
  echo "copy: new Uint8Array(...).slice() per record; copy-into: one preallocated buffer (scratch.set). $ringbuf_s s; raw results in $results"
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
  echo "libbpf's 'find' stops at the first match and returns an id; tsbpf's lookup scans every name (idsByName) and decodes the struct." \
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
