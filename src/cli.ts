#!/usr/bin/env node
// The tsbpf command line: dispatches to src/commands/*.
import { SyscallError, TsbpfError } from './errors.js';
import type { Command } from './commands/command.js';
import { execsnoopCommand } from './commands/execsnoop.js';
import { opensnoopCommand } from './commands/opensnoop.js';
import { inspectCommand } from './commands/inspect.js';
import { loadCommand } from './commands/load.js';

const commands: readonly Command[] = [execsnoopCommand, opensnoopCommand, inspectCommand, loadCommand];

const usage = `usage: tsbpf <command> [options]

commands:
${commands.map((c) => c.usage).join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return name === undefined ? 1 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`tsbpf: unknown command '${name}'\n${usage}`);
    return 1;
  }
  return command.run(rest);
}

// `tsbpf opensnoop | head`: a closed pipe ends the output, not in a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof TsbpfError) {
      console.error(`tsbpf: ${error.message}`);
      if (error instanceof SyscallError && error.code === 'EPERM' && process.getuid?.() !== 0) console.error('tsbpf: run it as root (sudo)');
      process.exitCode = 1;
    } else if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`tsbpf: ${error.message}\n${usage}`);
      process.exitCode = 2;
    } else {
      throw error;
    }
  },
);
