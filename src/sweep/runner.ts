/**
 * What a sweep runs per point, injected: a module that exports `runPoint(scenario, seed, options)`.
 * A module path rather than a function because it must load inside worker threads and in
 * `precopy worker` processes on other machines. The default is the migration engine.
 */
import { resolve } from 'node:path';
import type { MigrationResult } from '../migration/result';
import type { SweepMode } from './points';

export interface RunPointOptions {
  mode: SweepMode;
  signal?: AbortSignal;
}

export type RunPoint = (
  scenario: unknown,
  seed: number,
  options: RunPointOptions,
) => Promise<MigrationResult>;

/** The default point runner: the migration engine's runScenario (src/sweep/engine-runner.ts). */
export const ENGINE_RUNNER = resolve(__dirname, 'engine-runner');

/** Load a runner module and return its `runPoint`; the error says what the module lacks. */
export function loadRunPoint(modulePath: string): RunPoint {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(resolve(modulePath)) as { runPoint?: unknown };
  if (typeof mod.runPoint !== 'function')
    throw new TypeError(`sweep runner ${modulePath} must export runPoint(scenario, seed, options)`);
  return mod.runPoint as RunPoint;
}
