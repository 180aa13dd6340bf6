import { EXECSNOOP_HEADER, formatExecEvent, runExecsnoop } from '../tools/execsnoop.js';
import { snoopCommand } from './snoop.js';

export const execsnoopCommand = snoopCommand({
  name: 'execsnoop',
  summary: 'print every program started on this machine',
  header: EXECSNOOP_HEADER,
  format: formatExecEvent,
  run: runExecsnoop,
});
