import { parseArgs } from 'node:util';
import { TsbpfError } from '../errors.js';
import { describeObject, formatDescription } from '../object/describe.js';
import { ObjectSpec } from '../object/spec.js';
import { readRegularFile } from '../regular-file.js';
import type { Command } from './command.js';

export const inspectCommand: Command = {
  name: 'inspect',
  usage: `  inspect OBJ   programs, maps, global data, externs and CO-RE relocations of a BPF object (no kernel needed)
      --json               as one JSON document`,

  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
    if (positionals.length !== 1) throw new TsbpfError('inspect: give exactly one object file');
    const description = describeObject(ObjectSpec.parse(readRegularFile(positionals[0]!, 'inspect')));
    console.log(values.json ? JSON.stringify(description, null, 2) : formatDescription(description));
    return 0;
  },
};
