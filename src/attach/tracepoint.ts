// SEC("tracepoint/<category>/<name>"): a perf event on the tracepoint, and
// the program attached to it with a BPF link (5.15+) or, on older kernels,
// the PERF_EVENT_IOC_SET_BPF ioctl.
import { SyscallError, TsbpfError } from '../errors.js';
import {
  closeFd, ioctl, linkCreate, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_TYPE_TRACEPOINT, perfEventOpen,
} from '../syscall/index.js';
import { AttachType } from '../object/sections.js';
import { Link } from './link.js';
import { tracepointId } from './tracefs.js';

export function attachTracepoint(programFd: number, target: string): Link {
  const slash = target.indexOf('/');
  if (slash < 0) throw new TsbpfError(`tracepoint '${target}' must be given as category/name`);
  const category = target.slice(0, slash);
  const name = target.slice(slash + 1);
  const id = tracepointId(category, name);
  const perfFd = perfEventOpen({ type: PERF_TYPE_TRACEPOINT, config: id, sample_period: 1 }, -1, 0, `tracepoint ${target}`);
  try {
    return attachToPerfEvent(programFd, perfFd, `tracepoint ${target}`);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}

/** Attaches a program to an open perf event; the Link owns the perf event fd. */
export function attachToPerfEvent(programFd: number, perfFd: number, description: string): Link {
  try {
    const linkFd = linkCreate({ prog_fd: programFd, target_fd: perfFd, attach_type: AttachType.PERF_EVENT });
    return new Link(description, linkFd, [perfFd]);
  } catch (error) {
    // Kernels before 5.15 have no perf event links: fall back to the ioctls.
    if (!(error instanceof SyscallError) || (error.code !== 'EINVAL' && error.code !== 'EOPNOTSUPP')) throw error;
  }
  ioctl(perfFd, PERF_EVENT_IOC_SET_BPF, programFd, description);
  ioctl(perfFd, PERF_EVENT_IOC_ENABLE, 0, description);
  return new Link(description, perfFd);
}
