/** What the sweep benchmarks share: their points, a timed pass over them, one model evaluation. */
import { performance } from 'node:perf_hooks';
import { analyticModel as predict } from '../src/model/analytic';
import type { SweepRun } from '../src/sweep/points';
import { WorkerPool } from '../src/sweep/pool';
import { ENGINE_RUNNER } from '../src/sweep/runner';
import { parseSweepSpec } from '../src/sweep/spec';

/** A 32 MiB uniform writer at four rates, `seeds` seeds each. */
export function sweepBenchSpec(seeds: number) {
  return parseSweepSpec({
    base: {
      guest: { memory: '32MiB', workload: { kind: 'uniform' } },
      migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': 50 },
      run: { bandwidth: '1GiB/s' },
    },
    grid: { 'guest.workload.rate': ['50MiB/s', '200MiB/s', '400MiB/s', '600MiB/s'] },
    seeds,
  });
}

/** Run every point on `workers` threads, after one warm-up point per thread; throws if any fails. */
export async function throughput(workers: number, runs: SweepRun[]) {
  const start = performance.now();
  const pool = new WorkerPool(workers, ENGINE_RUNNER);
  try {
    // One warm-up point per thread: loading the engine into a thread is a one-off cost.
    await Promise.all(runs.slice(0, workers).map((r) => pool.run({ ...r, id: `warm-${r.id}` })));
    const warm = performance.now();
    const cpuBefore = process.cpuUsage();
    const outcomes = await Promise.all(runs.map((r) => pool.run(r)));
    const elapsed = performance.now() - warm;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const failed = outcomes.filter((o) => o.error !== undefined);
    if (failed.length) throw new Error(`bench: ${failed.length} runs failed: ${failed[0]!.error}`);
    const rounds = outcomes.reduce((n, o) => n + o.result!.precopy.rounds.length, 0);
    return {
      workers,
      points: runs.length,
      rounds,
      startupMs: Math.round(warm - start),
      elapsedMs: Math.round(elapsed),
      pointsPerMinute: (runs.length / elapsed) * 60_000,
      msPerSimulatedRound: cpuMs / rounds,
      /** CPU time this process got per wall second: what the (shared) machine granted. */
      coresGranted: cpuMs / elapsed,
      pointsPerCpuMinute: (runs.length / cpuMs) * 60_000,
      totalBytes: outcomes.reduce((n, o) => n + o.result!.ram.transferred, 0),
    };
  } finally {
    await pool.close();
  }
}

export type Throughput = Awaited<ReturnType<typeof throughput>>;

/** The faster of two passes: the machine is shared, and load drifts. */
export const faster = (a: Throughput, b: Throughput) => (a.pointsPerMinute >= b.pointsPerMinute ? a : b);

/** Milliseconds per evaluation of the §5.2 model (src/model/analytic.ts). */
export function modelEvaluationMs(): number {
  const n = 200_000;
  const start = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++)
    sink += predict({
      memory: 32 * 2 ** 20,
      rate: 2 ** 30,
      dirtyRate: (50 + (i % 550)) * 2 ** 20,
      downtimeLimit: 50,
    }).rounds;
  if (sink < 0) throw new Error('unreachable');
  return (performance.now() - start) / n;
}
