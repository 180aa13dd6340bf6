import { formatOpenEvent, openFlagNames, OPENSNOOP_HEADER, runOpensnoop } from '../tools/opensnoop.js';
import { snoopCommand } from './snoop.js';

export const opensnoopCommand = snoopCommand({
  name: 'opensnoop',
  summary: 'print every file opened on this machine (openat, openat2)',
  notes: '                           (with flagNames: the flags as O_* names)',
  header: OPENSNOOP_HEADER,
  format: formatOpenEvent,
  json: (event) => ({ ...event, flagNames: openFlagNames(event.flags) }),
  run: runOpensnoop,
});
