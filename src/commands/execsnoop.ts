import { parseArgs } from 'node:util';
import { TsbpfError } from '../errors.js';
import { EXECSNOOP_HEADER, formatExecEvent, runExecsnoop } from '../tools/execsnoop.js';
import { positiveNumber, stopSignal, type Command } from './command.js';

export const execsnoopCommand: Command = {
  name: 'execsnoop',
  usage: `  execsnoop   print every program started on this machine
      --duration SECONDS   stop after this long (default: until Ctrl-C)
      --pid PID            only this process id
      --comm NAME          only processes with this command name
      --json               one JSON object per line instead of columns`,

  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        duration: { type: 'string' },
        pid: { type: 'string' },
        comm: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const duration = values.duration === undefined ? undefined : positiveNumber('--duration', values.duration);
    const pid = values.pid === undefined ? undefined : positiveNumber('--pid', values.pid);
    if (pid !== undefined && !Number.isInteger(pid)) throw new TsbpfError(`--pid: expected a process id, got '${values.pid}'`);
    if (values.comm !== undefined && Buffer.byteLength(values.comm) > 15) throw new TsbpfError('--comm: command names are at most 15 bytes');

    if (!values.json) console.log(EXECSNOOP_HEADER);
    const { lost } = await runExecsnoop({
      pid,
      comm: values.comm,
      signal: stopSignal(duration),
      onEvent: (event) => console.log(values.json ? JSON.stringify(event) : formatExecEvent(event)),
    });
    if (lost > 0n) console.error(`tsbpf: ${lost} events lost (ring buffer full)`);
    return 0;
  },
};
