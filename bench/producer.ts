// What bench/ringbuf-stream.ts and bench/ringbuf-latency.ts share, as their
// C anchors share bench/c/producer.h: the context of the `produce` program in
// programs/ringbuf_stream.bpf.c, and starting bench/c/producer.c with that
// program as its fd 3, so tsbpf and libbpf consume from the same producer.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BpfObject, ObjectSpec, type BpfProgram } from '../src/index.ts';

/** Payload bytes of every record but the end record, which is shorter. */
export const PAYLOAD = 56;
export const OP_STREAM = 0;
export const OP_PING = 1;

/** The producer's JSON line: attempted and submitted records, and when it started and stopped producing (CLOCK_MONOTONIC ns). */
export interface ProducerResult {
  attempted: number;
  produced: number;
  startNs: number;
  endNs: number;
}

/** Loads the object with a ring of `ringBytes` (the object's own size when undefined). */
export function loadProducerObject(path: string, ringBytes?: number): BpfObject {
  const spec = ObjectSpec.parse(readFileSync(path));
  if (ringBytes !== undefined) spec.map('ring').maxEntries = ringBytes;
  return BpfObject.load(spec);
}

// struct producer_args { u32 op, count, flags, produced; u64 seq; }, written back by the run.
const context = Buffer.alloc(24);

/** One BPF_PROG_TEST_RUN in this process; returns the records it submitted and the next sequence number. */
export function produceOnce(program: BpfProgram, op: number, count: number, flags: number, seq: number): { produced: number; seq: number } {
  context.writeUInt32LE(op, 0);
  context.writeUInt32LE(count, 4);
  context.writeUInt32LE(flags, 8);
  context.writeUInt32LE(0, 12);
  context.writeBigUInt64LE(BigInt(seq), 16);
  program.testRun({ context });
  return { produced: context.readUInt32LE(12), seq: Number(context.readBigUInt64LE(16)) };
}

/** Starts `producer CPU ARGS...` with the program as its fd 3; resolves to its JSON line once it exits. */
export function startProducer(producer: string, cpu: string, program: BpfProgram, args: readonly string[]): Promise<ProducerResult> {
  const child = spawn(producer, [cpu, ...args], { stdio: ['ignore', 'pipe', 'inherit', program.fd] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(JSON.parse(output) as ProducerResult);
      else reject(new Error(`${producer} ${args.join(' ')} failed (exit ${code ?? signal})`));
    });
  });
}
