// What every `tsbpf <command>` provides to the dispatcher in cli.ts.
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

/** An AbortSignal that fires on Ctrl-C, SIGTERM, or after `seconds` when given. */
export function stopSignal(seconds: number | undefined): AbortSignal {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  if (seconds !== undefined) setLongTimeout(() => stop.abort(), seconds * 1000, { unref: true });
  return stop.signal;
}
