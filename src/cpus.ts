// The machine's CPUs as the kernel lists them in sysfs: per-CPU rings and
// per-CPU map values are laid out by these lists.
import { readFileSync } from 'node:fs';
import { TsbpfError } from './errors.js';

/** Parses a kernel CPU list such as "0-3,8,10-11" (sysfs cpu/online, cpu/possible). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (!match || last < first) throw new TsbpfError(`'${text.trim()}' is not a CPU list (like 0-3,8)`);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

export function possibleCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'));
}
