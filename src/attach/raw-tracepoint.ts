// SEC("raw_tp/<name>"): BPF_RAW_TRACEPOINT_OPEN by tracepoint name.
import { TsbpfError } from '../errors.js';
import { rawTracepointOpen } from '../syscall/index.js';
import { Link } from './link.js';

export function attachRawTracepoint(programFd: number, name: string | undefined): Link {
  if (!name) throw new TsbpfError('raw tracepoint programs need a name: SEC("raw_tp/<name>")');
  return new Link(`raw_tp ${name}`, rawTracepointOpen(name, programFd));
}
