#!/usr/bin/env node
// The tsbpf command line.
import { parseArgs } from 'node:util';
import { SyscallError, TsbpfError } from './errors.js';
import { EXECSNOOP_HEADER, formatExecEvent, runExecsnoop } from './tools/execsnoop.js';

const usage = `usage: tsbpf <command> [options]

commands:
  execsnoop   print every program started on this machine
      --duration SECONDS   stop after this long (default: until Ctrl-C)
      --pid PID            only this process id
      --comm NAME          only processes with this command name
      --json               one JSON object per line instead of columns
`;

async function execsnoop(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string' },
      pid: { type: 'string' },
      comm: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const duration = values.duration === undefined ? undefined : positiveNumber('--duration', values.duration);
  const pid = values.pid === undefined ? undefined : positiveNumber('--pid', values.pid);
  if (pid !== undefined && !Number.isInteger(pid)) throw new TsbpfError(`--pid: expected a process id, got '${values.pid}'`);
  if (values.comm !== undefined && Buffer.byteLength(values.comm) > 15) throw new TsbpfError('--comm: command names are at most 15 bytes');

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const timer = duration === undefined ? undefined : setTimeout(() => stop.abort(), duration * 1000);

  if (!values.json) console.log(EXECSNOOP_HEADER);
  const { lost } = await runExecsnoop({
    pid,
    comm: values.comm,
    signal: stop.signal,
    onEvent: (event) => console.log(values.json ? JSON.stringify(event) : formatExecEvent(event)),
  });
  if (timer) clearTimeout(timer);
  if (lost > 0n) console.error(`tsbpf: ${lost} events lost (ring buffer full)`);
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new TsbpfError(`${flag}: expected a positive number, got '${text}'`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'execsnoop':
      await execsnoop(rest);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`tsbpf: unknown command '${command}'\n${usage}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof TsbpfError) {
      console.error(`tsbpf: ${error.message}`);
      if (error instanceof SyscallError && error.code === 'EPERM' && process.getuid?.() !== 0) console.error('tsbpf: run it as root (sudo)');
      process.exitCode = 1;
    } else if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`tsbpf: ${error.message}\n${usage}`);
      process.exitCode = 2;
    } else {
      throw error;
    }
  },
);
