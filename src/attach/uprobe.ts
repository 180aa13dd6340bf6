// SEC("uprobe/<binary>:<function>[+<offset>]") and SEC("uretprobe/…"), or
// attachUprobe() with the same parts: a perf event of the uprobe PMU at the
// function's offset in the binary's file (from its ELF symbols), in every
// process that runs the binary or in one; the program attached as to a
// tracepoint.
import { readFileSync } from 'node:fs';
import { ElfFile } from '../elf/elf.js';
import { TsbpfError } from '../errors.js';
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

function readBinary(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TsbpfError(`uprobe: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
}

/** The parts of a uprobe section's target: "<binary>:<function>[+<offset>]" (libbpf's form). */
export function parseUprobeTarget(section: string, target: string | undefined): UprobeTarget {
  const match = target === undefined ? null : /^(.+):([A-Za-z_][\w.@]*)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
  if (!match) throw new TsbpfError(`SEC("${section}"): expected <prefix>/<binary>:<function>[+<offset>], or attach it with attachUprobe()`);
  return { binary: match[1]!, function: match[2]!, offset: match[3] ? Number(match[3]) : 0 };
}

export function attachUprobe(programFd: number, target: UprobeTarget): Link {
  const retprobe = target.retprobe ?? false;
  if (retprobe && target.offset && target.function) throw new TsbpfError(`uretprobe on ${target.binary}:${target.function}: a return probe takes no offset`);
  let offset = target.offset ?? 0;
  if (target.function) offset += new ElfFile(readBinary(target.binary)).functionFileOffset(target.function);
  const description = `${retprobe ? 'uretprobe' : 'uprobe'} ${target.binary}:${target.function ?? `0x${offset.toString(16)}`}`;
  const perfFd = openProbeEvent('uprobe', { target: target.binary, offset, retprobe, pid: target.pid }, description);
  try {
    return attachToPerfEvent(programFd, perfFd, description);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}
