/**
 * `precopy predict [scenario.json] [flags]`: the analytic model of research §5.2 alone, instant.
 * It reads the same scenario and flags as `run`: V_mem = memory, D = the workload's rate, the
 * writable working set = the workload's write region, R = max-bandwidth capped by the link.
 */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import type { WorkloadSpec } from '../guest/spec';
import { predict, type ModelOutput } from '../migration/model';
import {
  DEFAULT_VIRTUAL_BANDWIDTH,
  parseScenario,
  ScenarioError,
  type Scenario,
} from '../migration/scenario';
import { formatBytes } from '../util/units';
import { readScenarioFile, usageError } from './run';
import { addScenarioOptions, scenarioFlags } from './scenario-options';

/** The most distinct bytes a workload can dirty in any interval, when it has one region. */
function workingSet(workload: WorkloadSpec): number | undefined {
  switch (workload.kind) {
    case 'uniform':
    case 'sequential':
    case 'incrementer':
      return workload.size;
    case 'hotcold':
      return undefined; // the cold share keeps writing new pages: no hard cap
    default:
      return undefined;
  }
}

export function predictScenarioModel(s: Scenario): ModelOutput {
  const w = s.guest.workload;
  if (!('rate' in w))
    throw usageError(
      `guest.workload: predict needs a workload with one rate (not ${w.kind}); give --workload and --rate`,
    );
  const link = s.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH;
  return predict({
    memory: s.guest.memory,
    rate: Math.min(s.migration['max-bandwidth'], link),
    dirtyRate: w.rate,
    downtimeLimit: s.migration['downtime-limit'],
    workingSet: workingSet(w),
    maxRounds: s.migration['max-rounds'],
    finalRate: link,
  });
}

export function formatPrediction(m: ModelOutput): string {
  const MiB = 2 ** 20;
  const lines = [
    `λ = D/R           ${m.lambda.toFixed(4)}`,
    `threshold         ${formatBytes(m.threshold)} (R × downtime-limit)`,
    `rounds            ${m.rounds} after the bulk round${m.converges ? '' : ' (round cap: does not converge)'}`,
    ...m.perRound.map(
      (r, i) =>
        `  round ${String(r.round).padStart(2)}        ${(r.bytes / MiB).toFixed(2).padStart(10)} MiB  ${r.duration.toFixed(1).padStart(9)} ms${i === m.perRound.length - 1 ? '  (stop-and-copy)' : ''}`,
    ),
    `downtime          ${m.downtime.toFixed(1)} ms`,
    `data              ${(m.bytes / MiB).toFixed(2)} MiB`,
    `total time        ${(m.totalTime / 1000).toFixed(3)} s`,
  ];
  return lines.join('\n') + '\n';
}

export function predictCommand(): Command {
  const command = new Command('predict')
    .description('Predict rounds, downtime, data and time with the analytic model (instant)')
    .argument('[scenario]', 'scenario JSON file {guest, migration, run}')
    .option('--json <file>', 'write the prediction as JSON')
    .exitOverride();
  addScenarioOptions(command);
  return command.action((file: string | undefined, options: Record<string, unknown>) => {
    let scenario: Scenario;
    try {
      scenario = parseScenario(readScenarioFile(file), scenarioFlags(options));
    } catch (e) {
      if (e instanceof ScenarioError) throw usageError(e.message);
      throw e;
    }
    const model = predictScenarioModel(scenario);
    process.stdout.write(formatPrediction(model));
    if (typeof options.json === 'string') writeFileSync(options.json, JSON.stringify(model, null, 2) + '\n');
  });
}
