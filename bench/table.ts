// Prints bench/run.sh's results (JSON lines from bench/c/*.c and bench/*.ts)
// as tables, tsbpf beside its libbpf anchor with their ratio:
//
//   node --import tsx bench/table.ts ringbuf build/bench/results.jsonl
//   node --import tsx bench/table.ts perf build/bench/perf.jsonl [build/bench/results.jsonl]
//   node --import tsx bench/table.ts btf build/bench/btf.jsonl
//   node --import tsx bench/table.ts load build/bench/load.jsonl
//   node --import tsx bench/table.ts stream build/bench/stream.jsonl
//   node --import tsx bench/table.ts latency build/bench/latency.jsonl
//
// ringbuf: a row per record size, libbpf first, then each tsbpf mode with its
// throughput ratio to libbpf (mean records/s; higher is better). Each side ran
// in several processes taking turns (DRAIN_RUNS): best = the fastest round of
// all, mean = all records over all drain time, and the ratio is followed by
// the lowest and highest ratio of the processes run side by side.
// perf: the same for the perf buffer drain, then, given the ringbuf results
// of the same run, each size's ring buffer rate over its perf buffer rate.
// btf, load: a row per implementation; cold = the first run of a fresh
// process (median and best over the processes), warm = repeated runs in one
// process (median and best over the rounds); ratios are tsbpf time / libbpf
// time (lower is better), on the medians.
// stream: a row per consumer mode and producer CPU, libbpf beside tsbpf:
// delivered records/s and drops, median (min-max) over the runs.
// latency: a row per implementation, median (min-max) over the runs of each
// run's percentiles; the ratio is on the medians (lower is better).
import { readFileSync } from 'node:fs';
import { median } from './stats.ts';

// One JSON line: numbers and strings, as the C anchors and the TS benchmarks print them.
type Result = Record<string, any>;

interface Summary {
  runs: number;
  median: number;
  best: number;
  /** Median of each part, by name. */
  split: Record<string, number>;
  /** Cold only: median time since node started, in ms. */
  processMs?: number;
}

const [kind, file] = process.argv.length > 3 ? [process.argv[2]!, process.argv[3]!] : ['ringbuf', process.argv[2]!];
const readResults = (path: string): Result[] => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
const results = readResults(file);
const find = (fields: Record<string, string | number>) =>
  results.find((r) => Object.entries(fields).every(([key, value]) => r[key] === value));
const filter = (fields: Record<string, string | number>) =>
  results.filter((r) => Object.entries(fields).every(([key, value]) => r[key] === value));

switch (kind) {
  case 'ringbuf':
    ringbufTable();
    break;
  case 'perf':
    perfTables(process.argv[4]);
    break;
  case 'btf':
    btfTables();
    break;
  case 'load':
    loadTable();
    break;
  case 'stream':
    streamTable();
    break;
  case 'latency':
    latencyTable();
    break;
  default:
    throw new Error(`unknown table '${kind}': ringbuf, perf, btf, load, stream or latency`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

/** A drain benchmark's processes for one side, pooled: the fastest round, and all items over all drain time. */
interface Drain {
  best: number;
  perSec: number;
  perRound: number;
  /** Each process's mean rate, in the order they ran. */
  runs: number[];
}

function pooledDrain(runs: Result[], perRound: string, best: string, perSec: string): Drain | undefined {
  if (runs.length === 0) return undefined;
  const items = runs.map((r) => r[perRound] * r.rounds);
  const seconds = runs.map((r, i) => items[i]! / r[perSec]);
  return {
    best: Math.min(...runs.map((r) => r[best])),
    perSec: items.reduce((a, b) => a + b) / seconds.reduce((a, b) => a + b),
    perRound: runs[0]![perRound],
    runs: runs.map((r) => r[perSec]),
  };
}

/** tsbpf's pooled rate over libbpf's, then the range of the ratios of the processes that ran side by side. */
function drainRatio(r: Drain | undefined, anchor: Drain | undefined): string {
  if (!r || !anchor) return '-';
  const pairs = r.runs.slice(0, anchor.runs.length).map((rate, i) => rate / anchor.runs[i]!);
  const range = pairs.length > 1 ? ` (${Math.min(...pairs).toFixed(2)}-${Math.max(...pairs).toFixed(2)})` : '';
  return `${(r.perSec / anchor.perSec).toFixed(2)}x${range}`;
}

function ringbufTable(): void {
  const MODES = ['zero-copy', 'copy', 'copy-into', 'decode'];
  const sizes = [...new Set(results.map((r) => r.recordBytes))];
  const drain = (fields: Record<string, string | number>) => pooledDrain(filter(fields), 'recordsPerRound', 'bestNsPerRecord', 'meanRecordsPerSec');
  const ns = (r: Drain | undefined) => (r ? r.best.toFixed(1) : '-');
  const mrps = (r: Drain | undefined) => (r ? (r.perSec / 1e6).toFixed(1) : '-');

  const header = ['record size', 'records/round', 'libbpf best ns/rec', 'libbpf mean M rec/s'];
  for (const mode of MODES) header.push(`tsbpf ${mode} best ns/rec`, 'mean M rec/s', 'ratio (per process)');
  const rows = sizes.map((bytes) => {
    const anchor = drain({ impl: 'libbpf', mode: 'zero-copy', recordBytes: bytes });
    const row = [`${bytes} B`, String(anchor?.perRound ?? '-'), ns(anchor), mrps(anchor)];
    for (const mode of MODES) {
      const r = drain({ impl: 'tsbpf', mode, recordBytes: bytes });
      row.push(ns(r), mrps(r), drainRatio(r, anchor));
    }
    return row;
  });
  printTable(header, rows);
}

/** The perf buffer drain table; then, given `ringFile` (the ringbuf bench's results), ring buffer over perf buffer per payload size. */
function perfTables(ringFile: string | undefined): void {
  const payloads = [...new Set(results.map((r) => r.payload as number))];
  const drain = (fields: Record<string, string | number>) => pooledDrain(filter(fields), 'samplesPerRound', 'bestNsPerSample', 'meanSamplesPerSec');
  const ns = (r: Drain | undefined) => (r ? r.best.toFixed(1) : '-');
  const rate = (perSec: number | undefined) => (perSec === undefined ? '-' : (perSec / 1e6).toFixed(1));
  const perfRate = (impl: string, payload: number) => drain({ impl, payload })?.perSec;
  printTable(['payload', 'perf record', 'samples/round', 'libbpf best ns/sample', 'libbpf mean M samples/s', 'tsbpf best ns/sample',
    'tsbpf mean M samples/s', 'ratio (per process)'], payloads.map((payload) => {
    const [anchor, r] = [drain({ impl: 'libbpf', payload }), drain({ impl: 'tsbpf', payload })];
    return [`${payload} B`, `${find({ payload })?.recordBytes} B`, String((anchor ?? r)?.perRound ?? '-'), ns(anchor),
      rate(anchor?.perSec), ns(r), rate(r?.perSec), drainRatio(r, anchor)];
  }));

  console.log();
  if (!ringFile) {
    console.log('ring buffer vs perf buffer: the ring buffer results are missing (the ringbuf bench did not run; BENCHES="ringbuf perf")');
    return;
  }
  const ring = readResults(ringFile);
  const ringRuns = (impl: string, payload: number) => ring.filter((r) => r.impl === impl && r.mode === 'zero-copy' && r.payload === payload);
  const rows = payloads.map((payload) => {
    const row = [`${payload} B`, `${ringRuns('libbpf', payload)[0]?.recordBytes ?? '-'} B / ${find({ payload })?.recordBytes} B`];
    for (const impl of ['libbpf', 'tsbpf']) {
      const ringPerSec = pooledDrain(ringRuns(impl, payload), 'recordsPerRound', 'bestNsPerRecord', 'meanRecordsPerSec')?.perSec;
      const perfPerSec = perfRate(impl, payload);
      row.push(rate(ringPerSec), rate(perfPerSec), times(ratio(ringPerSec, perfPerSec)));
    }
    return row;
  });
  printTable(['payload', 'record ring / perf', 'libbpf ring M/s', 'libbpf perf M/s', 'ring/perf', 'tsbpf ring M/s', 'tsbpf perf M/s', 'ring/perf'], rows);
  console.log('ring/perf = ring buffer mean records/s over perf buffer mean samples/s, drain only (tsbpf: zero-copy). The 2020 kernel benchmark' +
    ' (selftests/bpf bench_ringbufs) found ring buffers ~7-10x faster back-to-back, producer included, where perf buffers lose most:' +
    ' a perf_event_output() per sample, and its wake-up; neither is timed here.');
}

/** Milliseconds, from nanoseconds. */
function ms(ns: number | undefined): string {
  return ns === undefined || Number.isNaN(ns) ? '-' : (ns / 1e6).toFixed(2);
}

function ratio(value: number | undefined, anchor: number | undefined): number | undefined {
  return value === undefined || anchor === undefined ? undefined : value / anchor;
}

function times(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? '-' : `${value.toFixed(2)}x`;
}

/** Cold samples (one line per fresh process) of `fields`, reduced to median and best of `total`, and the medians of `parts`. */
function coldSummary(fields: Record<string, string>, total: string, parts: readonly string[]): Summary | undefined {
  const samples = filter({ ...fields, phase: 'cold' });
  if (samples.length === 0) return undefined;
  const values = samples.map((s) => s[`${total}Ns`]);
  const split = Object.fromEntries(parts.map((part) => [part, median(samples.map((s) => s[`${part}Ns`]))]));
  return { runs: samples.length, median: median(values), best: Math.min(...values), split, processMs: median(samples.map((s) => Number(s.processMs ?? Number.NaN))) };
}

/** The warm line of `fields`, in the same shape as coldSummary. */
function warmSummary(fields: Record<string, string>, total: string, parts: readonly string[]): Summary | undefined {
  const r = find({ ...fields, phase: 'warm' });
  if (!r) return undefined;
  const upper = (part: string) => part.replace(/^./, (c) => c.toUpperCase());
  const split = Object.fromEntries(parts.map((part) => [part, r[`median${upper(part)}Ns`]]));
  return { runs: r.rounds as number, median: r[`median${upper(total)}Ns`], best: r[`best${upper(total)}Ns`], split };
}

function splitText(summary: Summary | undefined, labels: Record<string, string>): string {
  if (!summary) return '-';
  return Object.entries(labels).map(([part, label]) => `${label} ${ms(summary.split[part])}`).join(' + ');
}

/** "met"/"missed" for a ratio against a limit. */
function verdict(value: number | undefined, limit: number): string {
  return value === undefined ? 'not measured' : `${times(value)} (${value <= limit ? 'met' : 'missed'})`;
}

function btfTables(): void {
  const libbpfParts = { parse: 'parse', lookup: 'find' };
  const tsbpfParts = { read: 'read', index: 'index', lookup: 'lookup' };
  const rows: string[][] = [];
  const stats: { cold: Summary | undefined; warm: Summary | undefined }[] = [];
  for (const [impl, parts] of [['libbpf', libbpfParts], ['tsbpf', tsbpfParts]] as const) {
    const cold = coldSummary({ impl }, 'total', Object.keys(parts));
    const warm = warmSummary({ impl }, 'total', Object.keys(parts));
    stats.push({ cold, warm });
    const anchor = stats[0]!;
    rows.push([
      impl,
      String(cold?.runs ?? '-'), ms(cold?.median), ms(cold?.best), splitText(cold, parts),
      String(warm?.runs ?? '-'), ms(warm?.median), ms(warm?.best), splitText(warm, parts),
      impl === 'libbpf' ? '' : times(ratio(cold?.median, anchor.cold?.median)),
      impl === 'libbpf' ? '' : times(ratio(warm?.median, anchor.warm?.median)),
    ]);
  }
  printTable(['', 'cold runs', 'cold median ms', 'cold best ms', 'cold split (medians, ms)', 'warm rounds', 'warm median ms',
    'warm best ms', 'warm split (medians, ms)', 'cold x libbpf', 'warm x libbpf'], rows);
  const ids = new Set(results.filter((r) => r.typeId !== undefined).map((r) => r.typeId));
  const [c, t] = stats;
  console.log(`target, parse + lookup within 2x of libbpf: cold ${verdict(ratio(t?.cold?.median, c?.cold?.median), 2)}, ` +
    `warm ${verdict(ratio(t?.warm?.median, c?.warm?.median), 2)}; task_struct id ${[...ids].join(' vs ')}` +
    `${ids.size === 1 ? ' on both sides' : ' (MISMATCH)'}; tsbpf cold process, node start to lookup done: ${t?.cold?.processMs?.toFixed(0) ?? '-'} ms (median)`);

  console.log();
  const memory = find({ impl: 'tsbpf', phase: 'memory' });
  const fileBytes = Number((memory ?? results[0])?.fileBytes ?? NaN);
  const libbpfHeap = filter({ impl: 'libbpf', phase: 'cold' }).map((r) => r.heapBytes);
  const mib = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? '-' : (bytes / 2 ** 20).toFixed(2));
  const perFile = (bytes: number | undefined) => times(bytes === undefined ? undefined : bytes / fileBytes);
  type Delta = { retained: number; heapUsed: number; external: number; rss: number };
  const parse = memory?.parse as unknown as Delta | undefined;
  const decoded = memory?.decoded as unknown as Delta | undefined;
  const libbpfMedian = libbpfHeap.length ? median(libbpfHeap) : undefined;
  printTable(['kernel BTF in memory', 'retained MiB', 'x file', 'of which JS heap MiB', 'external MiB', 'rss added MiB', 'rss x file'], [
    [`file ${'/sys/kernel/btf/vmlinux'} (${memory?.types ?? '?'} types)`, mib(fileBytes), '1.00x', '', '', '', ''],
    ['libbpf after btf__parse (malloc in use)', mib(libbpfMedian), perFile(libbpfMedian), '', '', '', ''],
    ['tsbpf after parse + lookup', mib(parse?.retained), perFile(parse?.retained), mib(parse?.heapUsed), mib(parse?.external), mib(parse?.rss), perFile(parse?.rss)],
    ['tsbpf after decoding every type', mib(decoded?.retained), perFile(decoded?.retained), mib(decoded?.heapUsed), mib(decoded?.external), mib(decoded?.rss), perFile(decoded?.rss)],
  ]);
  console.log(`target, memory under 3x the file after parse + lookup: ${verdict(parse && parse.retained / fileBytes, 3)}; ` +
    `every type decoded: ${times(decoded && decoded.retained / fileBytes)} (reported, no target)`);
}

function loadTable(): void {
  const parts = { open: 'open', load: 'load', attach: 'attach' };
  const variants = [
    ['libbpf', 'libbpf', 'every load'],
    ['tsbpf', 'tsbpf', 'once per process'],
    ['tsbpf-reparse', 'tsbpf re-parsing', 'every load (targetBtf)'],
  ] as const;
  const stats: Record<string, { cold: Summary | undefined; warm: Summary | undefined }> = {};
  const rows = variants.map(([variant, label, btf]) => {
    const cold = coldSummary({ variant }, 'running', [...Object.keys(parts), 'close']);
    const warm = warmSummary({ variant }, 'running', [...Object.keys(parts), 'close']);
    const anchor = stats.libbpf;
    stats[variant] = { cold, warm };
    return [
      label, btf,
      String(cold?.runs ?? '-'), ms(cold?.median), ms(cold?.best), splitText(cold, parts),
      String(warm?.runs ?? '-'), ms(warm?.median), ms(warm?.best), splitText(warm, parts),
      `${ms(cold?.split.close)} / ${ms(warm?.split.close)}`,
      variant === 'libbpf' ? '' : times(ratio(cold?.median, anchor?.cold?.median)),
      variant === 'libbpf' ? '' : times(ratio(warm?.median, anchor?.warm?.median)),
    ];
  });
  printTable(['', 'kernel BTF parsed', 'cold runs', 'cold median ms', 'cold best ms', 'cold split (medians, ms)', 'warm rounds',
    'warm median ms', 'warm best ms', 'warm split (medians, ms)', 'close ms cold / warm', 'cold x libbpf', 'warm x libbpf'], rows);
  const anchor = stats.libbpf;
  console.log(`target, tsbpf no slower than libbpf (open + load + attach): cold ${verdict(ratio(stats.tsbpf?.cold?.median, anchor?.cold?.median), 1)}, ` +
    `warm ${verdict(ratio(stats.tsbpf?.warm?.median, anchor?.warm?.median), 1)}; ` +
    `warm re-parsing the kernel BTF every load, as libbpf does: ${verdict(ratio(stats['tsbpf-reparse']?.warm?.median, anchor?.warm?.median), 1)}; ` +
    `tsbpf cold process, node start to attached: ${stats.tsbpf?.cold?.processMs?.toFixed(0) ?? '-'} ms (median)`);
}

/** "median (min-max)" of `values`, each shown by `format`. */
function spread(values: number[], format: (value: number) => string): string {
  if (values.length === 0) return '-';
  const [low, high] = [format(Math.min(...values)), format(Math.max(...values))];
  return low === high ? low : `${format(median(values))} (${low}-${high})`;
}

function streamTable(): void {
  const configs = [...new Set(results.map((r) => `${r.mode}:${r.producerCpu}:${r.rate ?? 0}`))];
  const rate = (value: number) => (value / 1e6).toFixed(1);
  const percent = (value: number) => (value === 0 ? '0' : `${(value * 100).toFixed(value < 0.001 ? 3 : 1)}%`);
  const verdicts: string[] = [];
  const rows = configs.map((config) => {
    const [mode, cpu, paced] = config.split(':');
    const label = `${mode === 'busy' ? 'busy-poll' : 'wake-ups'}, producer on CPU ${cpu}${cpu === '0' ? ' (the consumer\'s)' : ''}` +
      (Number(paced) > 0 ? `, paced at ${rate(Number(paced))} M/s` : '');
    const runs = (impl: string) => filter({ impl, mode: mode!, producerCpu: Number(cpu) }).filter((r) => (r.rate ?? 0) === Number(paced));
    const [c, t] = [runs('libbpf'), runs('tsbpf')];
    const rates = (rs: Result[]) => rs.map((r) => r.recordsPerSec as number);
    const drops = (rs: Result[]) => rs.map((r) => r.dropped / r.attempted);
    const offered = (rs: Result[]) => rs.map((r) => r.offeredPerSec as number);
    const ratioValue = ratio(median(rates(t)), median(rates(c)));
    const tsbpfDrops = t.reduce((sum, r) => sum + r.dropped, 0);
    const libbpfDrops = c.reduce((sum, r) => sum + r.dropped, 0);
    const met = ratioValue !== undefined && !Number.isNaN(ratioValue) && ratioValue >= 0.95 && tsbpfDrops === 0;
    verdicts.push(`${label}: ${t.length ? (met ? 'met' : 'missed') : 'not measured'}${libbpfDrops ? ' (libbpf drops too)' : ''}`);
    return [
      label, String(c.length), spread(rates(c), rate), spread(drops(c), percent), spread(offered(c), rate),
      String(t.length), spread(rates(t), rate), spread(drops(t), percent), spread(offered(t), rate), times(ratioValue),
    ];
  });
  printTable(['', 'libbpf runs', 'libbpf M rec/s', 'libbpf drops', 'offered M rec/s', 'tsbpf runs', 'tsbpf M rec/s', 'tsbpf drops',
    'offered M rec/s', 'ratio'], rows);
  console.log('offered = the producer\'s attempts per second in the same run: a failed reservation is cheaper than a record, so a full ring raises it');
  console.log(`target, same rate (ratio >= 0.95) and 0 drops: ${verdicts.join('; ')}`);
}

function latencyTable(): void {
  const us = (ns: number) => (ns / 1e3).toFixed(1);
  const libbpf = median(filter({ impl: 'libbpf' }).map((r) => r.medianNs as number));
  const kinds = [
    { label: 'libbpf ring_buffer__poll', runs: filter({ impl: 'libbpf' }) },
    { label: 'tsbpf await ring.poll()', runs: filter({ impl: 'tsbpf', variant: 'poll' }) },
    { label: 'tsbpf ring.subscribe()', runs: filter({ impl: 'tsbpf', variant: 'subscribe' }) },
  ];
  const ratios: Record<string, number | undefined> = {};
  const rows = kinds.map(({ label, runs }) => {
    const field = (name: string) => runs.map((r) => r[name] as number);
    ratios[label] = ratio(median(field('medianNs')), libbpf);
    return [
      label, String(runs.length), String(runs[0]?.samples ?? '-'), spread(field('medianNs'), us), spread(field('p90Ns'), us),
      spread(field('p99Ns'), us), runs.length ? us(Math.max(...field('maxNs'))) : '-', runs === kinds[0]!.runs ? '' : times(ratios[label]),
    ];
  });
  printTable(['', 'runs', 'samples/run', 'median us', 'p90 us', 'p99 us', 'max us', 'x libbpf'], rows);
  console.log(`target, tsbpf median within 2x of libbpf's: ring.subscribe() ${verdict(ratios[kinds[2]!.label], 2)}; await ring.poll() ${verdict(ratios[kinds[1]!.label], 2)}`);
}
