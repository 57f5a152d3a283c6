/**
 * `precopy run [scenario.json] [flags]`: one migration end to end. Flags have the scenario
 * fields' names and override the file. Unless `--dest URL` (or `--transport inproc`) is given,
 * it starts its own destination process and migrates to it over WebSocket.
 * Exit: 0 completed and verified; 1 cancelled, failed or not verified (reason on stderr);
 * 2 bad usage (the scenario error names the field).
 */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { runScenario } from '../migration/index';
import { planMemory } from '../migration/memory-plan';
import type { MigrationResult } from '../migration/result';
import { applyFlags, parseScenario, ScenarioError } from '../migration/scenario';
import { startDestinationProcess, type DestinationProcess } from './dest-process';
import { addScenarioOptions, scenarioFlags } from './scenario-options';
import { readScenarioFile, usageError } from './usage';
import { roundsCsv, startDashboard, TerminalView, type Dashboard } from '../viz/index';

export { readScenarioFile, usageError } from './usage';

/** Why a result does not count as success, or null when it does. */
export function failureReason(result: MigrationResult): string | null {
  if (result.status !== 'completed') return `${result.status}: ${result['error-desc'] ?? 'no reason given'}`;
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
    .exitOverride();
  addScenarioOptions(command);
  return command.action(async (file: string | undefined, options: RunOptions) => {
    const raw = readScenarioFile(file);
    const flags = scenarioFlags(options);
    const run = (applyFlags(raw, flags).run ?? {}) as Record<string, unknown>;
    // Two processes by default: the command line's migration goes over WebSocket (fast mode has no link).
    if (run.transport === undefined && run.mode !== 'fast') flags.transport = 'ws';
    let scenario;
    try {
      scenario = parseScenario(raw, flags);
      // Refuse what cannot fit in this machine's memory before anything starts.
      planMemory(scenario, scenario.run.mode);
    } catch (e) {
      if (e instanceof ScenarioError) throw usageError(e.message);
      throw e;
    }
    let dest: DestinationProcess | undefined;
    if (scenario.run.transport === 'ws' && scenario.run.dest === undefined) {
      dest = await startDestinationProcess(scenario.guest.memory);
      flags.dest = dest.url;
      flags.token = dest.token;
    }
    // Rows (and, in a TTY, the progress bar with per-round charts) on stdout; nothing with --quiet.
    const view = options.quiet ? undefined : new TerminalView({ stream: process.stdout });
    const dashboard = options.dashboard ? await startDashboard({ title: file ?? 'precopy run' }) : undefined;
    if (dashboard) process.stderr.write(`precopy: dashboard at ${dashboard.url}\n`);
    let result: MigrationResult;
    try {
      result = await runScenario(applyFlags(raw, flags), {
        onEvent: (e) => {
          view?.onEvent(e);
          dashboard?.publish(e);
        },
      });
    } finally {
      await dest?.stop();
    }
    view?.finish(result);
    if (options.json) writeFileSync(options.json, JSON.stringify(result, null, 2) + '\n');
    if (options.csv) writeFileSync(options.csv, roundsCsv(result));
    const reason = failureReason(result);
    if (reason !== null) {
      process.stderr.write(`precopy: migration ${reason}\n`);
      process.exitCode = 1;
    }
    const warnings = result.precopy.warnings ?? [];
    for (const warning of warnings) process.stderr.write(`precopy: warning: ${warning}\n`);
    if (options.strict && warnings.length > 0) process.exitCode = 1;
    if (dashboard) await serveUntilInterrupted(dashboard);
  });
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
