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
    let object: BpfObject;
    try {
      object = BpfObject.open(positionals[0]!, { targetBtf: values.btf });
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      // The whole log: the error message keeps only its end.
      console.error(error.log.trimEnd());
      for (const note of error.notes) console.error(note);
      console.error(`tsbpf: program '${error.program}' rejected by the verifier (${error.code})`);
      return 1;
    }
    using loaded = object;
    mkdirSync(join(dir, 'maps'), { recursive: true });
    const pinned: string[] = [];
    try {
      for (const program of loaded.programs.values()) program.pin(pinPath(dir, program.name, pinned));
      for (const map of loaded.maps.values()) map.pin(pinPath(join(dir, 'maps'), map.name, pinned));
    } catch (error) {
      for (const path of pinned) rmSync(path, { force: true });
      throw error;
    }
    console.log(`pinned ${loaded.programs.size} programs in ${dir} and ${loaded.maps.size} maps in ${join(dir, 'maps')}`);
    return 0;
  },
};

/** bpffs refuses names with dots ('.rodata'): they become underscores, as libbpf does. */
function pinPath(dir: string, name: string, pinned: string[]): string {
  const path = join(dir, name.replace(/\./g, '_'));
  pinned.push(path);
  return path;
}
