/**
 * The default point runner: one full virtual-time migration through the engine's runScenario,
 * with the run's seed as the guest's seed.
 */
import type { MigrationResult } from '../migration/result';
import { setPath } from './points';
import type { RunPointOptions } from './runner';

type RunScenario = (input: unknown, options?: { signal?: AbortSignal }) => Promise<MigrationResult>;

function engine(): RunScenario {
  // Resolved at first use so sweeps with another runner never load the engine.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('../migration/index') as { runScenario?: RunScenario };
  if (typeof mod.runScenario !== 'function')
    throw new Error('sweep: the migration engine exports no runScenario');
  return mod.runScenario;
}

export async function runPoint(
  scenario: unknown,
  seed: number,
  options: RunPointOptions,
): Promise<MigrationResult> {
  if (options.mode === 'fast')
    throw new Error('sweep: the engine has no metadata-only (fast) mode yet; use mode full');
  const seeded = setPath(scenario as Record<string, unknown>, 'guest.seed', seed);
  return engine()(seeded, { signal: options.signal });
}
