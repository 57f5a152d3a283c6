/**
 * The default point runner: one full virtual-time migration through the engine's runScenario,
 * with the run's seed as the guest's seed. Loaded by path inside worker threads, so sweeps with
 * another runner never load the engine.
 */
import { runScenario } from '../migration/index';
import type { MigrationResult } from '../migration/result';
import { setPath } from './points';
import type { RunPointOptions } from './runner';

export async function runPoint(
  scenario: unknown,
  seed: number,
  options: RunPointOptions,
): Promise<MigrationResult> {
  // The engine has no metadata-only hook (yet): say so rather than silently run full mode.
  if (options.mode === 'fast')
    throw new Error('sweep: the engine has no metadata-only (fast) mode yet; use mode full');
  return runScenario(setPath(scenario as Record<string, unknown>, 'guest.seed', seed), {
    signal: options.signal,
  });
}
