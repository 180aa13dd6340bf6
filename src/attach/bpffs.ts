// The BPF file system, where objects are pinned; mounted when missing.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TsbpfError } from '../errors.js';
import { mountPseudoFs } from '../syscall/index.js';

export const BPFFS_ROOT = '/sys/fs/bpf';

function bpffsMounts(): string[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').map((line) => line.split(' ')).filter((f) => f[2] === 'bpf').map((f) => f[1]!);
}

/** Makes sure `path` lies in a bpffs, mounting one on /sys/fs/bpf when none is there. */
export function ensureBpffs(path: string): void {
  const absolute = resolve(path);
  const inside = (mount: string) => absolute === mount || absolute.startsWith(`${mount}/`);
  if (bpffsMounts().some(inside)) return;
  if (!inside(BPFFS_ROOT)) throw new TsbpfError(`${absolute} is not in a BPF file system; pin under ${BPFFS_ROOT}`);
  mountPseudoFs('bpf', BPFFS_ROOT);
}
