// SEC("kprobe/<function>[+<offset>]") and SEC("kretprobe/<function>"): a perf
// event of the kprobe PMU on every CPU, with the program attached to it as to
// a tracepoint. Kernels that offer only the older tracefs kprobe_events
// interface are not supported.
import { TsbpfError } from '../errors.js';
import { closeFd } from '../syscall/index.js';
import type { Link } from './link.js';
import { openProbeEvent } from './probe-pmu.js';
import { attachToPerfEvent } from './tracepoint.js';

export function attachKprobe(programFd: number, target: string | undefined, retprobe: boolean): Link {
  const section = retprobe ? 'kretprobe' : 'kprobe';
  const match = target === undefined ? null : /^([A-Za-z_][\w.]*)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
  if (!match) throw new TsbpfError(`SEC("${section}/${target ?? ''}"): expected ${section}/<function>[+<offset>]`);
  const [, func, offset] = match;
  if (retprobe && offset) throw new TsbpfError(`SEC("${section}/${target}"): a return probe takes no offset`);
  const description = `${section} ${target}`;
  const perfFd = openProbeEvent('kprobe', { target: func!, offset: offset ? Number(offset) : 0, retprobe }, description);
  try {
    return attachToPerfEvent(programFd, perfFd, description);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}
