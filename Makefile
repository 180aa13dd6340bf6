# tsbpf — see README.md. `make run` and `make test` do all their own set-up.
CLANG ?= clang-19
STRIP ?= llvm-strip-19
# Debian's libbpf-dev gives <bpf/*.h>; linux-libc-dev gives <linux/*.h> and <asm/*.h>.
BPF_CFLAGS := -target bpf -g -O2 -Wall -Werror -I/usr/include/$(shell gcc -dumpmachine)
BPF_SOURCES := $(wildcard programs/*.bpf.c)
BPF_OBJECTS := $(BPF_SOURCES:.c=.o)

.PHONY: all run test deps tools build programs check bench clean

all: build

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

## Debian packages used by tests and benchmarks only (compilers, libbpf-dev, bpftool).
tools:
	bash scripts/install-tools.sh

## The main job: trace every exec on this machine (Ctrl-C to stop).
run: deps
	node --import tsx src/cli.ts execsnoop $(ARGS)

## Type check, then every test against the running kernel.
test: deps tools
	npx tsc -p .
	bash test/run.sh

build: deps
	npx tsc -p tsconfig.build.json

check: deps
	npx tsc -p .

## BPF objects are committed; this rebuilds them byte for byte
## (clang-19, libbpf-dev: apt-get install clang-19 llvm-19 libbpf-dev).
programs: $(BPF_OBJECTS)

# The source path in BTF line info is made relative (-fdebug-prefix-map), so
# the bytes do not depend on where the clone lives; DWARF is stripped, BTF and
# BTF.ext are kept.
programs/%.bpf.o: programs/%.bpf.c $(wildcard programs/include/*.h)
	cd programs && $(CLANG) $(BPF_CFLAGS) -fdebug-prefix-map=$$PWD=. -c $*.bpf.c -o $*.bpf.o
	$(STRIP) --strip-debug --remove-section=.llvm_addrsig $@

bench: deps tools
	bash bench/run.sh

clean:
	rm -rf dist build *.tgz
