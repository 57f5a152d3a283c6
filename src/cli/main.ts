/**
 * The `precopy` command line: one commander program, one module per subcommand.
 * Exit codes: 0 success, 1 a migration that did not complete and verify, 2 bad usage.
 */
import { Command, CommanderError } from 'commander';
import { predictCommand } from './predict';
import { runCommand } from './run';
import { sweepCommand } from './sweep';
import { workerCommand } from './worker';
import { destCommand } from './dest';
import { viewCommand } from './view';
import { reportCommand } from './report';
import { importQmpCommand } from './import-qmp';
import { VERSION as WIRE_VERSION } from '../wire/constants';
import { version } from '../../package.json';

/** `precopy --version`: the package and the wire protocol it speaks (source and destination must agree). */
export const VERSION_LINE = `precopy ${version} (wire protocol v${WIRE_VERSION})`;

export function buildProgram(): Command {
  const program = new Command('precopy')
    .description('A lab for pre-copy live migration over a simulated KVM TDP MMU')
    .version(VERSION_LINE, '-V, --version', 'print the version and the wire protocol version')
    .exitOverride()
    .showHelpAfterError();
  // Subcommands register here, one line each.
  program.addCommand(sweepCommand());
  program.addCommand(workerCommand());
  program.addCommand(destCommand());
  program.addCommand(runCommand());
  program.addCommand(predictCommand());
  program.addCommand(viewCommand());
  program.addCommand(reportCommand());
  program.addCommand(importQmpCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`precopy: ${(e as Error).message}\n`);
    process.exitCode = process.exitCode || 1;
  }
}
