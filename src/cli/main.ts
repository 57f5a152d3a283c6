/**
 * The `precopy` command line: one commander program, one module per subcommand.
 * Exit codes: 0 success, 1 a migration that did not complete and verify, 2 bad usage.
 */
import { Command, CommanderError } from 'commander';
import { VERSION as WIRE_VERSION } from '../wire/constants';
import { version } from '../../package.json';

/** `precopy --version`: the package and the wire protocol it speaks (source and destination must agree). */
export const VERSION_LINE = `precopy ${version} (wire protocol v${WIRE_VERSION})`;

/**
 * Each subcommand's module, loaded on demand: a command line that names one loads only that
 * one (`precopy predict` does not pay for the engine, the dashboard or BullMQ).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, typed by `typeof import` */
const COMMANDS: Record<string, () => Command> = {
  sweep: () => (require('./sweep') as typeof import('./sweep')).sweepCommand(),
  worker: () => (require('./worker') as typeof import('./worker')).workerCommand(),
  dest: () => (require('./dest') as typeof import('./dest')).destCommand(),
  run: () => (require('./run') as typeof import('./run')).runCommand(),
  predict: () => (require('./predict') as typeof import('./predict')).predictCommand(),
  view: () => (require('./view') as typeof import('./view')).viewCommand(),
  report: () => (require('./report') as typeof import('./report')).reportCommand(),
  'import-qmp': () => (require('./import-qmp') as typeof import('./import-qmp')).importQmpCommand(),
  'record-qmp': () => (require('./record-qmp') as typeof import('./record-qmp')).recordQmpCommand(),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** The program with every subcommand, or only `only`'s. */
export function buildProgram(only?: string): Command {
  const program = new Command('precopy')
    .description('A lab for pre-copy live migration over a simulated KVM TDP MMU')
    .version(VERSION_LINE, '-V, --version', 'print the version and the wire protocol version')
    .exitOverride()
    .showHelpAfterError();
  // Subcommands register in COMMANDS, one line each.
  for (const [name, load] of Object.entries(COMMANDS))
    if (only === undefined || only === name) program.addCommand(throwingErrors(load()));
  return program;
}

/**
 * Commander exits by itself (code 1) on a bad option unless told to throw: every command does,
 * so main() gives every bad usage exit 2.
 */
function throwingErrors(command: Command): Command {
  command.exitOverride();
  command.showSuggestionAfterError();
  for (const sub of command.commands) throwingErrors(sub);
  return command;
}

export async function main(argv: string[]): Promise<void> {
  const named = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? argv[0] : undefined;
  try {
    const program = buildProgram(named);
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
