/**
 * A sweep's time to go, from the runs this invocation finished: runs a resumed sweep found
 * already done cost nothing now, so counting them would promise an end that jumps away as soon
 * as real runs start. Before the first run of this invocation ends there is no estimate.
 */
import { fmtMs } from '../viz/format';

export interface EtaInput {
  /** Runs done when this invocation started (resumed from the results file). */
  doneAtStart: number;
  done: number;
  total: number;
  /** Wall ms since this invocation started. */
  elapsedMs: number;
}

/** Milliseconds to go, or null while this invocation has finished nothing. */
export function sweepEta({ doneAtStart, done, total, elapsedMs }: EtaInput): number | null {
  const finished = done - doneAtStart;
  if (finished <= 0) return done >= total ? 0 : null;
  return ((total - done) * elapsedMs) / finished;
}

/** "–", "42.0 s", "3 min 05 s", "2 h 07 min". */
export function fmtEta(ms: number | null): string {
  if (ms === null || ms < 60_000) return fmtMs(ms);
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.round(ms / 60_000);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}
