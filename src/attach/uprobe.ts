// SEC("uprobe/<binary>:<function>[+<offset>]") and SEC("uretprobe/…"), or
// attachUprobe() with the same parts: a perf event of the uprobe PMU at the
// function's offset in the binary's file (from its ELF symbols), in every
// process that runs the binary or in one; the program attached as to a
// tracepoint.
import { checkPath } from '../check.js';
import { ElfFile } from '../elf/elf.js';
import { ElfError, TsbpfError } from '../errors.js';
import { readRegularFile } from '../regular-file.js';
import { closeFd } from '../syscall/index.js';
import type { Link } from './link.js';
import { openProbeEvent } from './probe-pmu.js';
import { attachToPerfEvent } from './tracepoint.js';

export interface UprobeTarget {
  /** Path of the executable or shared library. */
  binary: string;
  /** A function defined in it; without one, `offset` is a file offset. */
  function?: string;
  /** Bytes past the function's start (or into the file). */
  offset?: number;
  retprobe?: boolean;
  /** Only this process (default: every process). */
  pid?: number;
}

/** Where `name` starts in the file `binary`; errors name the binary. */
function functionOffset(binary: string, name: string): number {
  const bytes = readRegularFile(binary, 'uprobe');
  try {
    return new ElfFile(bytes).functionFileOffset(name);
  } catch (error) {
    if (error instanceof ElfError) throw new ElfError(`uprobe on ${binary}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The parts of a uprobe section's target: "<binary>:<function>[+<offset>]" (libbpf's form). */
export function parseUprobeTarget(section: string, target: string | undefined): UprobeTarget {
  const match = target === undefined ? null : /^(.+):([A-Za-z_][\w.@]*)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
  if (!match) throw new TsbpfError(`SEC("${section}"): expected <prefix>/<binary>:<function>[+<offset>], or attach it with attachUprobe()`);
  return { binary: match[1]!, function: match[2]!, offset: match[3] ? Number(match[3]) : 0 };
}

export function attachUprobe(programFd: number, target: UprobeTarget): Link {
  const binary = checkPath(target.binary, 'uprobe: binary');
  const retprobe = target.retprobe ?? false;
  if (target.function === undefined && target.offset === undefined) throw new TsbpfError(`uprobe on ${binary}: give a function, an offset, or both`);
  if (target.function !== undefined && (typeof target.function !== 'string' || target.function === '')) {
    throw new TsbpfError(`uprobe on ${binary}: function ${JSON.stringify(target.function)} is not a name`);
  }
  if (target.offset !== undefined && !(Number.isSafeInteger(target.offset) && target.offset >= 0)) {
    throw new TsbpfError(`uprobe on ${binary}: offset ${target.offset} is not a non-negative integer`);
  }
  // The kernel takes a pid as a C int: a larger number would be cut down to another process's.
  if (target.pid !== undefined && !(Number.isInteger(target.pid) && target.pid > 0 && target.pid <= 0x7fffffff)) {
    throw new TsbpfError(`uprobe on ${binary}: pid ${target.pid} is not a process id`);
  }
  if (retprobe && target.offset && target.function !== undefined) throw new TsbpfError(`uretprobe on ${binary}:${target.function}: a return probe takes no offset`);
  let offset = target.offset ?? 0;
  if (target.function !== undefined) offset += functionOffset(binary, target.function);
  const description = `${retprobe ? 'uretprobe' : 'uprobe'} ${target.binary}:${target.function ?? `0x${offset.toString(16)}`}`;
  const perfFd = openProbeEvent('uprobe', { target: target.binary, offset, retprobe, pid: target.pid }, description);
  try {
    return attachToPerfEvent(programFd, perfFd, description);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}
