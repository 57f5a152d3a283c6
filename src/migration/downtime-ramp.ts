/**
 * A downtime limit that rises over the migration, as orchestrators ramp QEMU's (research §4):
 * nova steps it up in time (`live_migration_downtime` reached in `_steps` steps, one every
 * `_delay` × GiB), KubeVirt VEP 291 per iteration. Both start at limit / steps and add
 * limit / steps per step until the limit itself.
 */
import type { DowntimeRamp } from './scenario';

export interface RampParams {
  ramp: DowntimeRamp;
  /** The limit the ramp ends at (ms). */
  limit: number;
  steps: number;
  /** nova: ms between steps. */
  interval: number;
}

/** The limit in force after `elapsedMs` of live migration and `roundsDone` closed rounds. */
export function rampedLimit(p: RampParams, elapsedMs: number, roundsDone: number): number {
  if (p.ramp === 'none') return p.limit;
  const step = p.ramp === 'nova' ? Math.floor(elapsedMs / p.interval) : roundsDone;
  return Math.min(p.limit, (p.limit / p.steps) * (1 + step));
}
