/**
 * The default point runner: one virtual-time migration through the engine's runScenario, with
 * the run's seed as the guest's seed. Mode full sends and verifies real pages; mode fast runs
 * metadata only (page states and counted sizes, src/migration/metadata.ts). Loaded by path
 * inside worker threads, so sweeps with another runner never load the engine.
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
  return runScenario(setPath(scenario as Record<string, unknown>, 'guest.seed', seed), {
    signal: options.signal,
    mode: options.mode,
  });
}
