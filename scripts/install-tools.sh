#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when missing:
# gcc (uapi offset checks, C benchmark anchor), clang-19/llvm-19 and
# libbpf-dev (rebuilding programs/ and the CO-RE fixtures), bpftool.
# Running tsbpf itself needs none of them.
set -euo pipefail
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v clang-19 >/dev/null || missing+=(clang-19)
command -v llvm-strip-19 >/dev/null || missing+=(llvm-19)
[ -e /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || missing+=(bpftool)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-tools: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
