/**
 * `precopy predict [scenario.json] [flags]`: the model's answer for a scenario, without running
 * it (src/model): the verdict first, then the rounds (the first and last few, the rest summed
 * up), then downtime, data and total time, each with its band. It reads the same scenario and
 * flags as `run`; `--json FILE` writes the prediction in `run`'s result shape, so they diff.
 */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { parseScenario, ScenarioError, type Scenario } from '../migration/scenario';
import {
  predictionResult,
  predictScenario,
  type Band,
  type ModelRound,
  type ScenarioPrediction,
} from '../model/index';
import { fmtBytes, fmtMs } from '../viz/format';
import { addScenarioOptions, RUN_ONLY_FLAGS, scenarioFlags, scenarioUsage } from './scenario-options';
import { readScenarioFile, usageError } from './usage';

/** Rounds printed at the start and at the end of the table; the ones between are summed up. */
const HEAD_ROUNDS = 8;
const TAIL_ROUNDS = 3;

function withBand(value: number, band: Band, format: (x: number) => string): string {
  if (format(band.low) === format(band.high)) return format(value);
  return `${format(value)}  (band ${format(band.low)} – ${format(band.high)})`;
}

function row(r: ModelRound): string {
  const zero = r.pagesSent > 0 ? `${Math.round((r.pagesZero / r.pagesSent) * 100)}%` : '–';
  return [
    String(r.round).padStart(5),
    fmtMs(r.start).padStart(9),
    fmtMs(r.duration).padStart(9),
    Math.round(r.pagesSent).toString().padStart(10),
    zero.padStart(5),
    fmtBytes(r.bytesWire).padStart(10),
    (r.final ? 'stop-and-copy' : fmtBytes(r.remaining)).padStart(13),
    `${r.throttle}%`.padStart(9),
  ].join('  ');
}

/** The rounds between head and tail, summed up in one line. */
function summary(rounds: ModelRound[]): string {
  const n = rounds.length;
  const mean = (f: (r: ModelRound) => number) => rounds.reduce((s, r) => s + f(r), 0) / n;
  const throttles = [...new Set(rounds.map((r) => r.throttle))];
  const throttle =
    throttles.length === 1
      ? `throttle ${throttles[0]}%`
      : `throttle ${throttles[0]}% → ${throttles[throttles.length - 1]}%`;
  return `  … ${n} more rounds: ~${fmtMs(mean((r) => r.duration))} and ~${fmtBytes(mean((r) => r.bytesWire))} each, ~${fmtBytes(mean((r) => r.remaining))} left after each, ${throttle}`;
}

export function formatPrediction(p: ScenarioPrediction): string {
  const { run, verdict, bands } = p;
  const lines: string[] = [verdict.text];
  if (verdict.diagnosisText) lines.push(verdict.diagnosisText);
  lines.push('');
  lines.push(
    [
      'round'.padStart(5),
      'start'.padStart(9),
      'duration'.padStart(9),
      'pages'.padStart(10),
      'zero'.padStart(5),
      'wire'.padStart(10),
      'remaining'.padStart(13),
      'throttle'.padStart(9),
    ].join('  '),
  );
  const rounds = run.rounds;
  if (rounds.length <= HEAD_ROUNDS + TAIL_ROUNDS + 1) for (const r of rounds) lines.push(row(r));
  else {
    for (const r of rounds.slice(0, HEAD_ROUNDS)) lines.push(row(r));
    lines.push(summary(rounds.slice(HEAD_ROUNDS, rounds.length - TAIL_ROUNDS)));
    for (const r of rounds.slice(rounds.length - TAIL_ROUNDS)) lines.push(row(r));
  }
  lines.push('');
  const completed = run.status === 'completed';
  lines.push(
    `downtime      ${completed ? withBand(run.downtime, bands.downtime, fmtMs) : '– (the migration is cancelled)'}`,
  );
  lines.push(`data          ${withBand(run.precopyBytes + run.downtimeBytes, bands.bytes, fmtBytes)}`);
  lines.push(`total time    ${withBand(run.totalTime, bands.totalTime, fmtMs)}`);
  if (bands.rounds.high > bands.rounds.low)
    lines.push(`rounds        ${run.rounds.length}  (band ${bands.rounds.low} – ${bands.rounds.high})`);
  if (p.agreement < 1)
    lines.push(`note          the band's runs disagree on the outcome: it lies near a boundary`);
  return lines.join('\n') + '\n';
}

export function predictCommand(): Command {
  const command = new Command('predict')
    .description("Predict the migration's outcome, rounds, downtime, data and time with precopy's model")
    .argument('[scenario]', 'scenario JSON file {guest, migration, run}')
    .option('--json <file>', "write the prediction as JSON, in `precopy run`'s result shape")
    .exitOverride();
  addScenarioOptions(command, RUN_ONLY_FLAGS);
  return command.action((file: string | undefined, options: Record<string, unknown>) => {
    let scenario: Scenario;
    const flags = scenarioFlags(options);
    try {
      scenario = parseScenario(readScenarioFile(file), flags);
    } catch (e) {
      if (e instanceof ScenarioError) throw usageError(scenarioUsage(e, flags));
      throw e;
    }
    const prediction = predictScenario(scenario);
    // `--json -` takes stdout: the table goes to stderr then.
    (options.json === '-' ? process.stderr : process.stdout).write(formatPrediction(prediction));
    if (typeof options.json === 'string') {
      const json = JSON.stringify(predictionResult(prediction), null, 2) + '\n';
      if (options.json === '-') process.stdout.write(json);
      else writeFileSync(options.json, json);
    }
  });
}
