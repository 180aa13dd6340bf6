// tsbpf's side of `make bench`'s kernel BTF benchmark: read
// /sys/kernel/btf/vmlinux, parse it and look up struct task_struct.
// bench/c/btf_parse.c does the same with libbpf; bench/run.sh runs both.
//
//   node --import tsx bench/btf-parse.ts --mode cold
//   node --import tsx bench/btf-parse.ts --mode warm [--rounds 30] [--warmup 5]
//   node --expose-gc --import tsx bench/btf-parse.ts --mode memory
//
// One parse is readBtfBytes(path) (as the loader gets the kernel's BTF: mapped,
// or read where mapping fails) + new Btf(bytes) + typeByName('task_struct',
// 'struct'). `cold` times the first parse of this process, from before
// reading (mapping) to after the lookup: node's start-up and loading the modules
// come before and are not counted (processMs, the time since node started,
// shows what they add). `warm` times ROUNDS parses after WARMUP untimed ones,
// each parse starting from the file again (earlier Btf objects are garbage,
// and collecting them is part of the timed rounds when it happens). `memory`
// measures what the parsed BTF keeps alive — process.memoryUsage() after a
// full GC, before reading, after parse + lookup, and after decoding every
// type with btf.type(id). Prints one JSON line with the C anchor's fields.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Btf } from '../src/btf/btf.ts';
import { KERNEL_BTF_PATH, readBtfBytes } from '../src/loader/kernel-btf.ts';
import { nowNs, summarize, timedRounds } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'cold' },
    path: { type: 'string', default: KERNEL_BTF_PATH },
    rounds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
  },
});
const path = args.path;
const fileBytes = statSync(path).size;
const common = { bench: 'btf-parse', impl: 'tsbpf', phase: args.mode, fileBytes };

interface Sample {
  typeId: number;
  readNs: number;
  indexNs: number;
  lookupNs: number;
  totalNs: number;
}

/** One timed parse + lookup; the Btf comes back apart so that samples kept for statistics do not keep it alive. */
function parseOnce(): [Sample, Btf] {
  const start = nowNs();
  const bytes = readBtfBytes(path);
  const read = nowNs();
  const btf = new Btf(bytes);
  const indexed = nowNs();
  const task = btf.typeByName('task_struct', 'struct');
  const found = nowNs();
  if (!task) throw new Error(`no struct task_struct in ${path}`);
  return [{ typeId: task.id, readNs: read - start, indexNs: indexed - read, lookupNs: found - indexed, totalNs: found - start }, btf];
}

switch (args.mode) {
  case 'cold': {
    const [{ typeId, totalNs, readNs, indexNs, lookupNs }] = parseOnce();
    const processMs = Number(performance.now().toFixed(1));
    console.log(JSON.stringify({ ...common, typeId, totalNs, readNs, indexNs, lookupNs, processMs }));
    break;
  }
  case 'warm': {
    const rounds = Number(args.rounds);
    const samples = timedRounds(rounds, Number(args.warmup), () => parseOnce()[0]);
    const typeId = samples[0]!.typeId;
    const summary = summarize(samples, ['totalNs', 'readNs', 'indexNs', 'lookupNs']);
    console.log(JSON.stringify({ ...common, typeId, rounds, ...summary }));
    break;
  }
  case 'memory': {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('--mode memory needs node --expose-gc');
    const usage = () => {
      gc();
      gc();
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      return { rss, heapUsed, external, arrayBuffers };
    };
    const delta = (after: ReturnType<typeof usage>, before: ReturnType<typeof usage>) => ({
      rss: after.rss - before.rss,
      heapUsed: after.heapUsed - before.heapUsed,
      // external counts ArrayBuffer memory (arrayBuffers is a part of it, not an addition).
      external: after.external - before.external,
      arrayBuffers: after.arrayBuffers - before.arrayBuffers,
      retained: after.heapUsed + after.external - before.heapUsed - before.external,
    });
    const before = usage();
    const [{ typeId }, btf] = parseOnce();
    const parsed = usage();
    for (let id = 1; id < btf.end; id++) btf.type(id);
    const decoded = usage();
    console.log(JSON.stringify({ ...common, typeId, types: btf.count, parse: delta(parsed, before), decoded: delta(decoded, before) }));
    break;
  }
  default:
    throw new Error('--mode must be cold, warm or memory');
}
