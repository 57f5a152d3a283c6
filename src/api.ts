/**
 * precopy as a library (`require('precopy')`, package.json `exports`): the same entry points
 * the command line uses, returning the same shapes it writes with `--json`.
 *
 *   const { runScenario, predict, runSweep, MigrationControl } = require('precopy');
 *   const result = await runScenario({ guest: { memory: '64MiB', workload: { kind: 'idle' } } });
 *
 * examples/library/ has a plain Node script, run by the test suite.
 */
import { predictionResult, predictScenario as predictParsed } from './model/index';
import { parseScenario } from './migration/scenario';
import { defaultWorkers, runSweepLocal, type SweepProgress } from './sweep/local';
import { expandSweep } from './sweep/points';
import { ENGINE_RUNNER } from './sweep/runner';
import { parseSweepSpec, type SweepSpec } from './sweep/spec';
import { ResultsStore, type RunRecord } from './sweep/store';

export {
  ControlError,
  MigrationControl,
  parseScenario,
  runScenario,
  ScenarioError,
  type ControlState,
  type LiveParameters,
  type MigrationEvent,
  type MigrationResult,
  type ParameterChange,
  type ParameterRequest,
  type RoundStats,
  type RunScenarioOptions,
  type Scenario,
} from './migration/index';
export type { MigrationStatus } from './migration/result';
export { SweepSpecError, type SweepSpec } from './sweep/spec';
export type { RunRecord } from './sweep/store';
export type { SweepProgress } from './sweep/local';

/**
 * The model's prediction for a scenario (throws ScenarioError naming a bad field), in
 * `precopy run`'s result shape with the verdict and bands under `precopy.model`: what
 * `precopy predict --json` writes.
 */
export function predict(input: unknown): ReturnType<typeof predictionResult> {
  return predictionResult(predictParsed(parseScenario(input)));
}

export interface RunSweepOptions {
  /** The results file (JSON lines): runs already in it are kept and not run again. */
  out: string;
  /** Worker threads; default: every core. */
  workers?: number;
  /** Override the spec's mode (full | fast). */
  mode?: 'full' | 'fast';
  /** Abort: stop dispatching; finished runs stay in `out`. */
  signal?: AbortSignal;
  onProgress?: (progress: SweepProgress) => void;
}

/**
 * Run every point of a sweep spec (the JSON `precopy sweep` reads; throws SweepSpecError) on
 * local worker threads, as `precopy sweep` does, and return every record of the results file:
 * each with its point, coordinates, seed and `result` (a MigrationResult) or `error`.
 */
export async function runSweep(
  spec: unknown,
  options: RunSweepOptions,
): Promise<{ records: RunRecord[]; progress: SweepProgress }> {
  const parsed: SweepSpec = parseSweepSpec(spec);
  const runs = expandSweep(parsed, options.mode ?? parsed.mode);
  const store = new ResultsStore(options.out);
  try {
    const progress = await runSweepLocal(runs, store, {
      runner: ENGINE_RUNNER,
      workers: options.workers ?? defaultWorkers(),
      signal: options.signal,
      onProgress: options.onProgress,
    });
    return { records: store.all(), progress };
  } finally {
    store.close();
  }
}
