/**
 * Fast (metadata-only) mode against full mode on the same sweep points: points per minute on
 * two worker threads (the baseline is full mode, measured in the same run, alternating full,
 * fast, full, fast and keeping each side's best), the CPU cost of one simulated round in each
 * mode, and fast mode's cost per round against one evaluation of the analytic model (§5.2,
 * src/migration/model.ts predict) as a ratio. Points: the default scenario's content (half the
 * memory text, zero pages + lz4), so fast mode's sizes are the estimated kind, not just exact.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { predict } from '../src/migration/model';
import { expandSweep, type SweepRun } from '../src/sweep/points';
import { WorkerPool } from '../src/sweep/pool';
import { ENGINE_RUNNER } from '../src/sweep/runner';
import { parseSweepSpec } from '../src/sweep/spec';

const WORKERS = 2;
const SPEC = parseSweepSpec({
  base: {
    guest: { memory: '32MiB', workload: { kind: 'uniform' } },
    migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': 50 },
    run: { bandwidth: '1GiB/s' },
  },
  grid: { 'guest.workload.rate': ['50MiB/s', '200MiB/s', '400MiB/s', '600MiB/s'] },
  seeds: 6,
});

async function throughput(runs: SweepRun[]) {
  const pool = new WorkerPool(WORKERS, ENGINE_RUNNER);
  try {
    // One warm-up point per thread: loading the engine into a thread is a one-off cost.
    await Promise.all(runs.slice(0, WORKERS).map((r) => pool.run({ ...r, id: `warm-${r.id}` })));
    const start = performance.now();
    const cpuBefore = process.cpuUsage();
    const outcomes = await Promise.all(runs.map((r) => pool.run(r)));
    const elapsed = performance.now() - start;
    const cpu = process.cpuUsage(cpuBefore);
    const failed = outcomes.filter((o) => o.error !== undefined);
    if (failed.length) throw new Error(`bench: ${failed.length} runs failed: ${failed[0]!.error}`);
    const rounds = outcomes.reduce((n, o) => n + o.result!.precopy.rounds.length, 0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      points: runs.length,
      rounds,
      elapsedMs: Math.round(elapsed),
      pointsPerMinute: (runs.length / elapsed) * 60_000,
      msPerSimulatedRound: cpuMs / rounds,
      totalBytes: outcomes.reduce((n, o) => n + o.result!.ram.transferred, 0),
    };
  } finally {
    await pool.close();
  }
}

function modelEvaluationMs(): number {
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

type Measure = Awaited<ReturnType<typeof throughput>>;
const best = (a: Measure, b: Measure) => (a.pointsPerMinute >= b.pointsPerMinute ? a : b);

async function main() {
  const fullRuns = expandSweep(SPEC, 'full');
  const fastRuns = expandSweep(SPEC, 'fast');
  // Alternate and keep each side's best: the machine is shared, and load drifts.
  let full = await throughput(fullRuns);
  let fast = await throughput(fastRuns);
  full = best(full, await throughput(fullRuns));
  fast = best(fast, await throughput(fastRuns));
  const model = modelEvaluationMs();
  process.stdout.write(
    JSON.stringify({
      pointsPerMinuteFast: Math.round(fast.pointsPerMinute),
      baselinePointsPerMinuteFull: Math.round(full.pointsPerMinute),
      fastVsFullSpeedup: +(fast.pointsPerMinute / full.pointsPerMinute).toFixed(2),
      workers: WORKERS,
      msPerSimulatedRoundFast: +fast.msPerSimulatedRound.toFixed(3),
      msPerSimulatedRoundFull: +full.msPerSimulatedRound.toFixed(3),
      baselineMsPerModelEvaluation: +model.toFixed(5),
      fastRoundVsModelRatio: Math.round(fast.msPerSimulatedRound / model),
      // Estimated sizes (text pages under lz4): fast mode's total bytes against full mode's.
      totalBytesFastOverFull: +(fast.totalBytes / full.totalBytes).toFixed(4),
      loadAverage: loadavg()[0],
      detail: { full, fast },
    }) + '\n',
  );
}

void main();
