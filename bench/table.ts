// Prints bench/run.sh's results (JSON lines from bench/c/*.c and bench/*.ts)
// as tables, tsbpf beside its libbpf anchor with their ratio:
//
//   node --import tsx bench/table.ts ringbuf build/bench/results.jsonl
//   node --import tsx bench/table.ts btf build/bench/btf.jsonl
//   node --import tsx bench/table.ts load build/bench/load.jsonl
//
// ringbuf: a row per record size, libbpf first, then each tsbpf mode with its
// throughput ratio to libbpf (mean records/s; higher is better).
// btf, load: a row per implementation; cold = the first run of a fresh
// process (median and best over the processes), warm = repeated runs in one
// process (median and best over the rounds); ratios are tsbpf time / libbpf
// time (lower is better), on the medians.
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
const results: Result[] = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
const find = (fields: Record<string, string | number>) =>
  results.find((r) => Object.entries(fields).every(([key, value]) => r[key] === value));
const filter = (fields: Record<string, string | number>) =>
  results.filter((r) => Object.entries(fields).every(([key, value]) => r[key] === value));

switch (kind) {
  case 'ringbuf':
    ringbufTable();
    break;
  case 'btf':
    btfTables();
    break;
  case 'load':
    loadTable();
    break;
  default:
    throw new Error(`unknown table '${kind}': ringbuf, btf or load`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

function ringbufTable(): void {
  const MODES = ['zero-copy', 'copy', 'copy-into'];
  const sizes = [...new Set(results.map((r) => r.recordBytes))];
  const ns = (r: Result | undefined) => (r ? r.bestNsPerRecord.toFixed(1) : '-');
  const mrps = (r: Result | undefined) => (r ? (r.meanRecordsPerSec / 1e6).toFixed(1) : '-');

  const header = ['record size', 'records/round', 'libbpf best ns/rec', 'libbpf mean M rec/s'];
  for (const mode of MODES) header.push(`tsbpf ${mode} best ns/rec`, 'mean M rec/s', 'ratio');
  const rows = sizes.map((bytes) => {
    const anchor = find({ impl: 'libbpf', mode: 'zero-copy', recordBytes: bytes });
    const row = [`${bytes} B`, String(anchor?.recordsPerRound ?? '-'), ns(anchor), mrps(anchor)];
    for (const mode of MODES) {
      const r = find({ impl: 'tsbpf', mode, recordBytes: bytes });
      row.push(ns(r), mrps(r), r && anchor ? `${(r.meanRecordsPerSec / anchor.meanRecordsPerSec).toFixed(2)}x` : '-');
    }
    return row;
  });
  printTable(header, rows);
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
