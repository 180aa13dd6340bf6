// The command line shared by the snoop tools: the same options, a header,
// one line (or JSON object) per event, lost events reported at the end.
import { parseArgs } from 'node:util';
import { TsbpfError } from '../errors.js';
import type { SnoopOptions, TracerSummary } from '../tools/tracer.js';
import { positiveNumber, processId, stopSignal, type Command } from './command.js';

export interface SnoopCommandSpec<Event> {
  name: string;
  /** One line: what the tool prints. */
  summary: string;
  /** Extra usage lines (indented like the options), e.g. what --json adds. */
  notes?: string;
  header: string;
  format: (event: Event) => string;
  /** The object printed by --json (default: the event itself). */
  json?: (event: Event) => unknown;
  run: (options: SnoopOptions<Event>) => Promise<TracerSummary>;
}

export function snoopCommand<Event>(spec: SnoopCommandSpec<Event>): Command {
  return {
    name: spec.name,
    usage: `  ${spec.name.padEnd(11)} ${spec.summary}
      --duration SECONDS   stop after this long (default: until Ctrl-C)
      --pid PID            only this process id
      --comm NAME          only tasks with this command name
      --json               one JSON object per line instead of columns${spec.notes ? `\n${spec.notes}` : ''}`,

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
      const pid = values.pid === undefined ? undefined : processId('--pid', values.pid);
      if (values.comm !== undefined && Buffer.byteLength(values.comm) > 15) throw new TsbpfError('--comm: command names are at most 15 bytes');

      const json = spec.json ?? ((event: Event) => event);
      if (!values.json) console.log(spec.header);
      const { lost } = await spec.run({
        pid,
        comm: values.comm,
        signal: stopSignal(duration),
        onEvent: (event) => console.log(values.json ? JSON.stringify(json(event)) : spec.format(event)),
      });
      if (lost > 0n) console.error(`tsbpf: ${lost} events lost (ring buffer full)`);
      return 0;
    },
  };
}
