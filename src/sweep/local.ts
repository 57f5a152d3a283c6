/**
 * Local mode: the sweep's pending runs on a pool of worker threads on this machine, each result
 * appended to the results file the moment it arrives. Aborting (Ctrl-C) stops dispatching and
 * drops only the runs in flight; everything finished is already on disk.
 */
import { availableParallelism } from 'node:os';
import { WorkerPool, type PoolOutcome } from './pool';
import type { SweepRun } from './points';
import type { ResultsStore, RunRecord } from './store';

export interface SweepProgress {
  done: number;
  total: number;
  /** Runs that could not finish (a thread died); they stay pending for the next rerun. */
  lost: number;
}

export interface LocalSweepOptions {
  runner: string;
  /** Worker threads; default: every core. */
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (p: SweepProgress) => void;
}

export function defaultWorkers(): number {
  return availableParallelism();
}

export function toRecord(
  run: Pick<SweepRun, 'id' | 'point' | 'coords' | 'seed' | 'mode'>,
  outcome: PoolOutcome,
): RunRecord {
  const { id, point, coords, seed, mode } = run;
  return outcome.result
    ? { id, point, coords, seed, mode, result: outcome.result }
    : { id, point, coords, seed, mode, error: outcome.error };
}

/** Run every run not yet in the store. Resolves with the final progress (also when aborted). */
export async function runSweepLocal(
  runs: SweepRun[],
  store: ResultsStore,
  options: LocalSweepOptions,
): Promise<SweepProgress> {
  const pending = runs.filter((r) => !store.has(r.id));
  const progress: SweepProgress = { done: runs.length - pending.length, total: runs.length, lost: 0 };
  options.onProgress?.({ ...progress });
  if (pending.length === 0 || options.signal?.aborted) return progress;
  const pool = new WorkerPool(Math.min(options.workers ?? defaultWorkers(), pending.length), options.runner);
  const stop = () => void pool.close();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    await Promise.all(
      pending.map((run) =>
        pool.run(run).then(
          (outcome) => {
            store.add(toRecord(run, outcome));
            progress.done++;
            options.onProgress?.({ ...progress });
          },
          () => {
            if (options.signal?.aborted) return;
            progress.lost++;
            options.onProgress?.({ ...progress });
          },
        ),
      ),
    );
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await pool.close();
  }
  return progress;
}
