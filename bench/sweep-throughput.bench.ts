/**
 * Sweep throughput on this machine: points per minute with one worker thread and with two
 * (the issue's goal: speed-up ≥ 1.8× on 2 cores), measured on the same runs in the same
 * process, alternating 1, 2, 1, 2 and keeping each side's best, after each thread has loaded
 * the engine (its one-off start-up is reported apart). Other load on the machine lowers the
 * speed-up: `loadAverage`, the cores the kernel granted, and the work per CPU-second (which
 * load does not change) are printed beside it. Measured twice, in child processes: with V8's
 * default GC, whose helper threads let one worker use ~1.35 cores (capping the speed-up on 2
 * cores near 1.5), and with --single-threaded-gc, where each worker is one core.
 * Also: the cost of one simulated round (full mode) beside one evaluation of the §5.2 model.
 *
 * Fast (metadata-only) mode against full mode on the same points: bench/sweep-fast.bench.ts.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { predict } from '../src/migration/model';
import { parseSweepSpec } from '../src/sweep/spec';
import { expandSweep, type SweepRun } from '../src/sweep/points';
import { WorkerPool } from '../src/sweep/pool';
import { ENGINE_RUNNER } from '../src/sweep/runner';

const SPEC = parseSweepSpec({
  base: {
    guest: { memory: '32MiB', workload: { kind: 'uniform' } },
    migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': 50 },
    run: { bandwidth: '1GiB/s' },
  },
  grid: { 'guest.workload.rate': ['50MiB/s', '200MiB/s', '400MiB/s', '600MiB/s'] },
  seeds: 8,
});

async function throughput(workers: number, runs: SweepRun[]) {
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
      startupMs: Math.round(warm - start),
      elapsedMs: Math.round(elapsed),
      pointsPerMinute: (runs.length / elapsed) * 60_000,
      msPerSimulatedRound: cpuMs / rounds,
      /** CPU time this process got per wall second: what the (shared) machine granted. */
      coresGranted: cpuMs / elapsed,
      pointsPerCpuMinute: (runs.length / cpuMs) * 60_000,
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

/** One measurement in this process: 1 vs 2 workers, alternating, best of two each. */
async function measure() {
  const runs = expandSweep(SPEC);
  // Alternate and keep each side's best: the machine is shared, and load drifts.
  const best = (a: Awaited<ReturnType<typeof throughput>>, b: Awaited<ReturnType<typeof throughput>>) =>
    a.pointsPerMinute >= b.pointsPerMinute ? a : b;
  let one = await throughput(1, runs);
  let two = await throughput(2, runs);
  one = best(one, await throughput(1, runs));
  two = best(two, await throughput(2, runs));
  return {
    pointsPerMinute2Workers: Math.round(two.pointsPerMinute),
    baselinePointsPerMinute1Worker: Math.round(one.pointsPerMinute),
    speedup: +(two.pointsPerMinute / one.pointsPerMinute).toFixed(2),
    loadAverage: loadavg()[0],
    // V8's concurrent GC threads let one worker use more than one core, which caps the speed-up
    // on 2 cores at 2 / coresGranted1Worker; other busy sessions cap what the kernel grants.
    coresGranted1Worker: +one.coresGranted.toFixed(2),
    coresGranted2Workers: +two.coresGranted.toFixed(2),
    // Work per CPU-second, 2 workers over 1: below 1 means running two costs something.
    parallelEfficiency: +(two.pointsPerCpuMinute / one.pointsPerCpuMinute).toFixed(2),
    msPerSimulatedRoundFull: +one.msPerSimulatedRound.toFixed(2),
    detail: { one, two },
  };
}

/** Run `measure` in a child node with extra V8 flags (GC flags cannot change at run time). */
function measureIn(flags: string[]): Awaited<ReturnType<typeof measure>> {
  const out = execFileSync(
    process.execPath,
    [...flags, '-r', 'ts-node/register/transpile-only', __filename, '--measure'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Awaited<ReturnType<typeof measure>>;
}

async function main() {
  if (process.argv.includes('--measure')) {
    process.stdout.write(JSON.stringify(await measure()) + '\n');
    return;
  }
  const defaultGc = measureIn([]);
  const singleGc = measureIn(['--single-threaded-gc']);
  const model = modelEvaluationMs();
  process.stdout.write(
    JSON.stringify({
      // Headline: `node --single-threaded-gc bin/precopy.js sweep`, the recommended way to sweep.
      pointsPerMinute2Workers: singleGc.pointsPerMinute2Workers,
      baselinePointsPerMinute1Worker: singleGc.baselinePointsPerMinute1Worker,
      speedup: singleGc.speedup,
      speedupGoal: 1.8,
      speedupDefaultGc: defaultGc.speedup,
      pointsPerMinute2WorkersDefaultGc: defaultGc.pointsPerMinute2Workers,
      msPerSimulatedRoundFull: singleGc.msPerSimulatedRoundFull,
      baselineMsPerModelEvaluation: +model.toFixed(5),
      roundVsModelRatio: Math.round(singleGc.msPerSimulatedRoundFull / model),
      detail: { singleThreadedGc: singleGc, defaultGc },
    }) + '\n',
  );
}

void main();
