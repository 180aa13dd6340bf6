// Perf events of the kprobe and uprobe PMUs (Linux 4.17+): what kprobe.ts and
// uprobe.ts share. The PMU's type number and the config bit that makes a
// return probe are read from sysfs, as the PMU describes itself.
import { existsSync, readFileSync } from 'node:fs';
import { cString } from '../check.js';
import { TsbpfError, UnsupportedError } from '../errors.js';
import { perfEventOpen } from '../syscall/index.js';

export interface ProbeEvent {
  /** kprobe: the kernel function's name; uprobe: the binary's path. */
  target: string;
  /** Bytes past the function (kprobe) or into the file (uprobe). */
  offset: number;
  retprobe: boolean;
  /** uprobes: only this process (default: every process). */
  pid?: number;
}

/** Opens a probe event of `pmu`; throws UnsupportedError when this kernel has no such PMU. */
export function openProbeEvent(pmu: 'kprobe' | 'uprobe', event: ProbeEvent, description: string): number {
  const dir = `/sys/bus/event_source/devices/${pmu}`;
  if (!existsSync(`${dir}/type`)) {
    const legacy = [`/sys/kernel/tracing/${pmu}_events`, `/sys/kernel/debug/tracing/${pmu}_events`].some((path) => existsSync(path));
    throw new UnsupportedError(`${pmu} PMU`, `this kernel has no ${pmu} PMU (${dir}: Linux 4.17+ with CONFIG_${pmu.toUpperCase()}_EVENTS)` +
      (legacy ? `; its tracefs ${pmu}_events interface is not supported by tsbpf` : `, nor ${pmu}_events in tracefs`));
  }
  const pid = event.pid ?? -1;
  return perfEventOpen({
    type: Number(readFileSync(`${dir}/type`, 'utf8').trim()),
    config: event.retprobe ? retprobeBit(dir) : 0,
    kprobe_func: cString(event.target, `${pmu} target`),
    probe_offset: event.offset,
    sample_period: 1,
  }, pid, pid === -1 ? 0 : -1, description);
}

/** The config bit of a return probe, from the PMU's format file ("config:0"). */
function retprobeBit(dir: string): bigint {
  const format = readFileSync(`${dir}/format/retprobe`, 'utf8').trim();
  const bit = /^config:(\d+)$/.exec(format);
  if (!bit) throw new TsbpfError(`unexpected retprobe format '${format}' in ${dir}`);
  return 1n << BigInt(bit[1]!);
}
