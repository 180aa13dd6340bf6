// Prints bench/run.sh's results (JSON lines from bench/c/ringbuf_drain.c and
// bench/ringbuf-drain.ts) as one table: a row per record size, libbpf first,
// then each tsbpf mode with its throughput ratio to libbpf (mean records/s).
import { readFileSync } from 'node:fs';

interface Result {
  impl: 'libbpf' | 'tsbpf';
  mode: string;
  payload: number;
  recordBytes: number;
  recordsPerRound: number;
  rounds: number;
  bestNsPerRecord: number;
  meanNsPerRecord: number;
  meanRecordsPerSec: number;
}

const MODES = ['zero-copy', 'copy', 'copy-into'];
const results: Result[] = readFileSync(process.argv[2]!, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
const sizes = [...new Set(results.map((r) => r.recordBytes))];
const find = (impl: string, mode: string, bytes: number) => results.find((r) => r.impl === impl && r.mode === mode && r.recordBytes === bytes);

const header = ['record size', 'records/round', 'libbpf best ns/rec', 'libbpf mean M rec/s'];
for (const mode of MODES) header.push(`tsbpf ${mode} best ns/rec`, 'mean M rec/s', 'ratio');
const rows = sizes.map((bytes) => {
  const anchor = find('libbpf', 'zero-copy', bytes);
  const row = [`${bytes} B`, String(anchor?.recordsPerRound ?? '-'), ns(anchor), mrps(anchor)];
  for (const mode of MODES) {
    const r = find('tsbpf', mode, bytes);
    row.push(ns(r), mrps(r), r && anchor ? `${(r.meanRecordsPerSec / anchor.meanRecordsPerSec).toFixed(2)}x` : '-');
  }
  return row;
});

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
for (const row of rows) console.log(line(row));

function ns(r: Result | undefined): string {
  return r ? r.bestNsPerRecord.toFixed(1) : '-';
}

function mrps(r: Result | undefined): string {
  return r ? (r.meanRecordsPerSec / 1e6).toFixed(1) : '-';
}
