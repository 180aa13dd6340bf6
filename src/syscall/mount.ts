import { fail, raw } from './libc.js';

/** mount(2) of a pseudo file system (tracefs, bpffs) with no source device. */
export function mountPseudoFs(fsType: string, target: string): void {
  if (raw.mount(fsType, target, fsType, 0, null) < 0) fail('mount', `${fsType} on ${target}`);
}
