// SEC("tp_btf/…"), fentry/fexit/fmod_ret and lsm: the target was fixed when
// the program was loaded (attach_btf_id), so attaching is a BPF link of the
// program's expected attach type (5.x), or BPF_RAW_TRACEPOINT_OPEN without a
// name where the kernel has no such link.
import { SyscallError } from '../errors.js';
import { linkCreate, rawTracepointOpen } from '../syscall/index.js';
import { Link } from './link.js';

export function attachTracing(programFd: number, attachType: number, description: string): Link {
  try {
    return new Link(description, linkCreate({ prog_fd: programFd, target_fd: 0, attach_type: attachType }));
  } catch (error) {
    if (!(error instanceof SyscallError) || error.code !== 'EINVAL') throw error;
  }
  return new Link(description, rawTracepointOpen(null, programFd));
}
