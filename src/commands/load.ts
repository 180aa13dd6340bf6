import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBpffs } from '../attach/bpffs.js';
import { TsbpfError, VerifierError } from '../errors.js';
import { BpfObject } from '../loader/object.js';
import type { Command } from './command.js';

export const loadCommand: Command = {
  name: 'load',
  usage: `  load OBJ --pin DIR   load every map and program and pin them in bpffs (programs in DIR, maps in DIR/maps)
      --btf FILE           target BTF for CO-RE instead of the running kernel's`,

  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { pin: { type: 'string' }, btf: { type: 'string' } } });
    if (positionals.length !== 1 || !values.pin) throw new TsbpfError('load: usage: tsbpf load OBJ --pin DIR');
    const dir = values.pin;
    ensureBpffs(dir);
    // Made before loading, so that a path which cannot be a directory is refused before anything is loaded.
    const created = makeDirectories(join(dir, 'maps'));
    let pinned = false;
    try {
      pinned = loadAndPin(positionals[0]!, values.btf, dir);
    } finally {
      // A failed load leaves nothing behind, not even the directories it made.
      if (!pinned && created) rmSync(created, { recursive: true, force: true });
    }
    return pinned ? 0 : 1;
  },
};

/** `mkdir -p`, as a TsbpfError when it cannot be done; the first directory it made, if any. */
function makeDirectories(path: string): string | undefined {
  try {
    return mkdirSync(path, { recursive: true });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'part of that path exists and is not a directory' : (error as Error).message;
    throw new TsbpfError(`load: cannot make directory ${path}: ${reason}`);
  }
}

/** Whether everything was loaded and pinned; a verifier rejection is explained on stderr. */
function loadAndPin(path: string, targetBtf: string | undefined, dir: string): boolean {
  let object: BpfObject;
  try {
    object = BpfObject.open(path, { targetBtf });
  } catch (error) {
    if (!(error instanceof VerifierError)) throw error;
    // The whole log: the error message keeps only its end.
    console.error(error.log.trimEnd());
    for (const note of error.notes) console.error(note);
    console.error(`tsbpf: program '${error.program}' rejected by the verifier (${error.code})`);
    return false;
  }
  using loaded = object;
  const pinned: string[] = [];
  try {
    for (const program of loaded.programs.values()) program.pin(pinPath(dir, program.name, pinned));
    for (const map of loaded.maps.values()) map.pin(pinPath(join(dir, 'maps'), map.name, pinned));
  } catch (error) {
    for (const path of pinned) rmSync(path, { force: true });
    throw error;
  }
  console.log(`pinned ${loaded.programs.size} programs in ${dir} and ${loaded.maps.size} maps in ${join(dir, 'maps')}`);
  return true;
}

/** bpffs refuses names with dots ('.rodata'): they become underscores, as libbpf does. */
function pinPath(dir: string, name: string, pinned: string[]): string {
  const path = join(dir, name.replace(/\./g, '_'));
  pinned.push(path);
  return path;
}
