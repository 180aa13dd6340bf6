// SEC("kprobe/<function>[+<offset>]") and SEC("kretprobe/<function>"): a perf
// event of the kprobe PMU (Linux 4.17+, /sys/bus/event_source/devices/kprobe)
// on every CPU, with the program attached to it as to a tracepoint. Kernels
// that offer only the older tracefs kprobe_events interface are not supported.
import { existsSync, readFileSync } from 'node:fs';
import { TsbpfError, UnsupportedError } from '../errors.js';
import { closeFd, perfEventOpen } from '../syscall/index.js';
import type { Link } from './link.js';
import { attachToPerfEvent } from './tracepoint.js';

const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe';

export function attachKprobe(programFd: number, target: string | undefined, retprobe: boolean): Link {
  const section = retprobe ? 'kretprobe' : 'kprobe';
  const match = target === undefined ? null : /^([A-Za-z_][\w.]*)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
  if (!match) throw new TsbpfError(`SEC("${section}/${target ?? ''}"): expected ${section}/<function>[+<offset>]`);
  const [, func, offset] = match;
  if (retprobe && offset) throw new TsbpfError(`SEC("${section}/${target}"): a return probe takes no offset`);
  const description = `${section} ${target}`;
  const perfFd = perfEventOpen({
    type: kprobePmuType(),
    config: retprobe ? retprobeConfig() : 0,
    kprobe_func: Buffer.from(`${func}\0`),
    probe_offset: offset ? Number(offset) : 0,
    sample_period: 1,
  }, -1, 0, description);
  try {
    return attachToPerfEvent(programFd, perfFd, description);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}

function kprobePmuType(): number {
  if (!existsSync(`${KPROBE_PMU}/type`)) {
    const legacy = ['/sys/kernel/tracing/kprobe_events', '/sys/kernel/debug/tracing/kprobe_events'].some((path) => existsSync(path));
    throw new UnsupportedError('kprobe PMU', `this kernel has no kprobe PMU (${KPROBE_PMU}: Linux 4.17+ with CONFIG_KPROBE_EVENTS)` +
      (legacy ? '; its tracefs kprobe_events interface is not supported by tsbpf' : ', nor kprobe_events in tracefs'));
  }
  return Number(readFileSync(`${KPROBE_PMU}/type`, 'utf8').trim());
}

/** The config bit that makes a kprobe PMU event a return probe, as the PMU describes it ("config:0"). */
function retprobeConfig(): bigint {
  const format = readFileSync(`${KPROBE_PMU}/format/retprobe`, 'utf8').trim();
  const bit = /^config:(\d+)$/.exec(format);
  if (!bit) throw new TsbpfError(`unexpected kprobe PMU retprobe format '${format}'`);
  return 1n << BigInt(bit[1]!);
}
