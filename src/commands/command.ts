// What every `tsbpf <command>` provides to the dispatcher in cli.ts.
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { setLongTimeout } from '../timers.js';

export interface Command {
  readonly name: string;
  /** Usage lines shown by `tsbpf --help`, options indented under the command. */
  readonly usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

export function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new TsbpfError(`${flag}: expected a positive number, got '${text}'`);
  return value;
}

/** The kernel's highest pid_max (PID_MAX_LIMIT on 64-bit), for when /proc does not tell. */
const PID_MAX_LIMIT = 4 * 1024 * 1024;

/** A process id: decimal digits only, from 1 to below the kernel's pid_max. */
export function processId(flag: string, text: string): number {
  const pidMax = kernelPidMax();
  const pid = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(pid >= 1 && pid < pidMax)) throw new TsbpfError(`${flag}: expected a process id (a decimal number from 1 to ${pidMax - 1}), got '${text}'`);
  return pid;
}

function kernelPidMax(): number {
  try {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    return Number.isInteger(pidMax) && pidMax > 1 ? pidMax : PID_MAX_LIMIT;
  } catch {
    return PID_MAX_LIMIT;
  }
}

/** An AbortSignal that fires on Ctrl-C, SIGTERM, or after `seconds` when given. */
export function stopSignal(seconds: number | undefined): AbortSignal {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  if (seconds !== undefined) setLongTimeout(() => stop.abort(), seconds * 1000, { unref: true });
  return stop.signal;
}
