// Finding tracefs, and mounting it where the system has not.
import { existsSync, readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { mountPseudoFs } from '../syscall/index.js';

const TRACEFS = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

let root: string | undefined;

/** The tracefs root, mounting tracefs on /sys/kernel/tracing when it is not mounted anywhere. */
export function tracefsRoot(): string {
  if (root) return root;
  for (const candidate of [TRACEFS, DEBUGFS_TRACING]) {
    if (existsSync(`${candidate}/events`)) return (root = candidate);
  }
  mountPseudoFs('tracefs', TRACEFS);
  return (root = TRACEFS);
}

/** The id of tracepoint `category/name`, from tracefs. */
export function tracepointId(category: string, name: string): number {
  if (!/^[\w.-]+$/.test(category) || !/^[\w.-]+$/.test(name)) throw new TsbpfError(`bad tracepoint name '${category}/${name}'`);
  const path = `${tracefsRoot()}/events/${category}/${name}/id`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new TsbpfError(`tracepoint '${category}/${name}' does not exist (no ${path})`);
  }
  return Number.parseInt(text, 10);
}
