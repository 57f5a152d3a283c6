/**
 * `precopy run [scenario.json] [flags]`: one migration end to end. Flags have the scenario
 * fields' names and override the file. Unless `--dest URL` (or `--transport inproc`) is given,
 * it starts its own destination process and migrates to it over WebSocket.
 * Exit: 0 completed and verified (fast mode: completed; it has nothing to verify); 1 cancelled, failed or not verified (reason on stderr);
 * 2 bad usage (the scenario error names the field).
 */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { runScenario } from '../migration/index';
import { planMemory } from '../migration/memory-plan';
import type { MigrationResult } from '../migration/result';
import { applyFlags, parseScenario, ScenarioError } from '../migration/scenario';
import { MigrationControl } from '../migration/control';
import { startDestinationProcess, type DestinationProcess } from './dest-process';
import { dashboardToken, refuseTokenFlag, TOKEN_ENV } from './secrets';
import { pacer, parsePace } from './pace';
import { operatorControls } from './signals';
import { addScenarioOptions, scenarioFlags, scenarioUsage } from './scenario-options';
import { readScenarioFile, usageError } from './usage';
import { roundsCsv, startDashboard, TerminalView, type Dashboard } from '../viz/index';

export { readScenarioFile, usageError } from './usage';

/** How long a run waits for its own destination to report the migration's end. */
const DEST_OUTCOME_WAIT_MS = 2000;

/** Why a result does not count as success, or null when it does. */
export function failureReason(result: MigrationResult): string | null {
  if (result.status !== 'completed') return `${result.status}: ${result['error-desc'] ?? 'no reason given'}`;
  // Fast mode sends page metadata, not pages: there is nothing to verify, by design (the
  // summary's "not measured" says so), so a completed fast run is a success.
  if (result.precopy.memory?.mode === 'fast') return null;
  const v = result.precopy.verification;
  if (!v?.passed) return `not verified: ${v?.reason ?? result.precopy.verificationError ?? 'no verdict'}`;
  return null;
}

interface RunOptions {
  json?: string;
  csv?: string;
  quiet?: boolean;
  dashboard?: boolean;
  strict?: boolean;
  pace: string;
  [flag: string]: unknown;
}

export function runCommand(): Command {
  const command = new Command('run')
    .description('Run one migration end to end (a destination process is started unless --dest is given)')
    .argument('[scenario]', 'scenario JSON file {guest, migration, run}')
    .option('--json <file>', 'write the result (query-migrate shape + precopy additions) as JSON')
    .option('--csv <file>', 'write the per-round statistics as CSV')
    .option('--quiet', 'print nothing but errors')
    .option('--strict', 'exit 1 on a warning too (a forced switchover, a downtime over the limit)')
    .option(
      '--dashboard',
      'serve the live dashboard on 127.0.0.1 (URL with its token on stderr); it keeps serving the result until Ctrl-C',
    )
    .option('--pace <pace>', 'virtual time only: max (as fast as it goes), 1x (real time), 10x, Nx', 'max')
    .exitOverride();
  addScenarioOptions(command);
  refuseTokenFlag(command, TOKEN_ENV);
  return command.action(async (file: string | undefined, options: RunOptions) => {
    const raw = readScenarioFile(file);
    const flags = scenarioFlags(options);
    if (process.env[TOKEN_ENV]) flags.token = process.env[TOKEN_ENV];
    // A bad dashboard token is refused before anything starts, not when the dashboard does.
    const dashboardAccess = options.dashboard ? dashboardToken() : undefined;
    let pace;
    try {
      pace = parsePace(options.pace);
    } catch (e) {
      throw usageError((e as Error).message);
    }
    let scenario;
    try {
      // A scenario that is not an object (an array, null, a number) is a usage error too.
      const run = (applyFlags(raw, flags).run ?? {}) as Record<string, unknown>;
      // Two processes by default: the command line's migration goes over WebSocket (fast mode has no link).
      if (run.transport === undefined && run.mode !== 'fast') flags.transport = 'ws';
      scenario = parseScenario(raw, flags);
      // Refuse what cannot fit in this machine's memory before anything starts.
      planMemory(scenario, scenario.run.mode);
    } catch (e) {
      if (e instanceof ScenarioError) throw usageError(scenarioUsage(e, flags));
      throw e;
    }
    // Ctrl-C / SIGTERM cancel (a second exits at once), SIGUSR1 or Enter continue: from here on.
    const control = new MigrationControl();
    let dest: DestinationProcess | undefined;
    const detach = operatorControls(control, {
      err: process.stderr,
      keys: process.stdin,
      exitNow: (signal) => {
        dest?.kill();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      },
    });
    let dashboard: Dashboard | undefined;
    try {
      if (scenario.run.transport === 'ws' && scenario.run.dest === undefined) {
        dest = await startDestinationProcess(scenario.guest.memory);
        flags.dest = dest.url;
        flags.token = dest.token;
      }
      dashboard = await runWith(file, raw, flags, options, { control, pace, dest, dashboardAccess });
    } finally {
      detach();
      await dest?.stop();
    }
    if (dashboard) await serveUntilInterrupted(dashboard);
  });
}

/**
 * Run the migration with its views and outputs (the destination process is the caller's).
 * Returns the dashboard, still serving, when there is one.
 */
async function runWith(
  file: string | undefined,
  raw: unknown,
  flags: ReturnType<typeof scenarioFlags>,
  options: RunOptions,
  run: { control: MigrationControl; pace: number; dest?: DestinationProcess; dashboardAccess?: string },
): Promise<Dashboard | undefined> {
  // Rows (and, in a TTY, the progress bar with per-round charts) on stdout, unless stdout
  // carries `--json -` / `--csv -`; nothing with --quiet.
  const toStdout = options.json === '-' || options.csv === '-';
  const view = options.quiet
    ? undefined
    : new TerminalView({ stream: toStdout ? process.stderr : process.stdout });
  const dashboard = options.dashboard
    ? await startDashboard({ title: file ?? 'precopy run', control: run.control, token: run.dashboardAccess })
    : undefined;
  if (dashboard) process.stderr.write(`precopy: dashboard at ${dashboard.url}\n`);
  const result: MigrationResult = await runScenario(applyFlags(raw, flags), {
    control: run.control,
    pace: pacer(run.pace),
    onEvent: (e) => {
      view?.onEvent(e);
      dashboard?.publish(e);
    },
  });
  // The destination's verdict is in the result; once it has said how it ended, it can go.
  await run.dest?.ended(DEST_OUTCOME_WAIT_MS);
  await run.dest?.stop();
  // What it said (a discard names the source's CANCEL), on stderr beside the summary.
  if (!options.quiet)
    for (const line of run.dest?.lines ?? []) process.stderr.write(`precopy: destination: ${line}\n`);
  view?.finish(result);
  if (options.json) writeOutput(options.json, JSON.stringify(result, null, 2) + '\n');
  if (options.csv) writeOutput(options.csv, roundsCsv(result));
  const reason = failureReason(result);
  if (reason !== null) {
    process.stderr.write(`precopy: migration ${reason}\n`);
    process.exitCode = 1;
  }
  const warnings = result.precopy.warnings ?? [];
  for (const warning of warnings) process.stderr.write(`precopy: warning: ${warning}\n`);
  if (options.strict && warnings.length > 0) process.exitCode = 1;
  return dashboard;
}

/** `-` is stdout. */
function writeOutput(file: string, text: string): void {
  if (file === '-') process.stdout.write(text);
  else writeFileSync(file, text);
}

/** Keep the dashboard up for a look at the finished run; Ctrl-C (or SIGTERM) closes it. */
async function serveUntilInterrupted(dashboard: Dashboard): Promise<void> {
  process.stderr.write('precopy: the dashboard keeps serving the result; Ctrl-C to stop\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
}
