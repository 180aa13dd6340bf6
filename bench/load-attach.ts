// tsbpf's side of `make bench`'s load benchmark: open, load (CO-RE against
// the running kernel's BTF) and attach programs/opensnoop.bpf.o, then close
// it all. bench/c/load_attach.c does the same with libbpf; bench/run.sh runs both.
//
//   node --import tsx bench/load-attach.ts --mode cold [--reparse-btf]
//   node --import tsx bench/load-attach.ts --mode warm [--rounds 20] [--warmup 3] [--reparse-btf]
//
// One round is BpfObject.open(path) — done here as its two steps,
// ObjectSpec.parse(readFileSync(path)) ("open") and BpfObject.load(spec)
// ("load"), to time them apart — then attachAll() (time to "running"), then
// close() (detaches and releases everything: time to "gone").
// tsbpf parses the kernel's BTF on the first CO-RE relocation of a process and
// keeps it: `cold` (the first round of a fresh process, node's start-up and
// module loading not counted) pays for that parse, `warm` rounds (after
// WARMUP untimed ones) do not. With --reparse-btf each round parses the
// kernel's BTF itself and passes it as `targetBtf`, inside the timed "load",
// as libbpf does on every bpf_object__load(). Prints one JSON line with the
// C anchor's fields.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { BpfObject, Btf, KERNEL_BTF_PATH, ObjectSpec, type LoadOptions } from '../src/index.ts';
import { nowNs, summarize, timedRounds } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'cold' },
    object: { type: 'string', default: new URL('../programs/opensnoop.bpf.o', import.meta.url).pathname },
    rounds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'reparse-btf': { type: 'boolean', default: false },
  },
});
const reparse = args['reparse-btf'];
const common = { bench: 'load-attach', impl: 'tsbpf', variant: reparse ? 'tsbpf-reparse' : 'tsbpf', phase: args.mode };

interface Sample {
  programs: number;
  openNs: number;
  loadNs: number;
  attachNs: number;
  closeNs: number;
  runningNs: number;
  /** Time since node started, when attached. */
  processMs: number;
}

function roundOnce(): Sample {
  const start = nowNs();
  const spec = ObjectSpec.parse(readFileSync(args.object));
  const opened = nowNs();
  const options: LoadOptions = reparse ? { targetBtf: new Btf(readFileSync(KERNEL_BTF_PATH)) } : {};
  const object = BpfObject.load(spec, options);
  const loaded = nowNs();
  const links = object.attachAll();
  const attached = nowNs();
  const processMs = Number(performance.now().toFixed(1));
  object.close(); // closes the programs' links too
  const closed = nowNs();
  return {
    programs: links.length,
    openNs: opened - start,
    loadNs: loaded - opened,
    attachNs: attached - loaded,
    closeNs: closed - attached,
    runningNs: attached - start,
    processMs,
  };
}

switch (args.mode) {
  case 'cold': {
    const sample = roundOnce();
    console.log(JSON.stringify({ ...common, ...sample }));
    break;
  }
  case 'warm': {
    const rounds = Number(args.rounds);
    const samples = timedRounds(rounds, Number(args.warmup), roundOnce);
    console.log(JSON.stringify({
      ...common,
      programs: samples[0]!.programs,
      rounds,
      ...summarize(samples, ['runningNs', 'openNs', 'loadNs', 'attachNs', 'closeNs']),
    }));
    break;
  }
  default:
    throw new Error('--mode must be cold or warm');
}
