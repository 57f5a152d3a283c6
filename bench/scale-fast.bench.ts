/**
 * Fast mode at scale (issue 13's goal table): simulated seconds per wall second, wall time per
 * guest page and peak RSS of whole fast-mode migrations (metadata backing: the MMU, guest,
 * tracker, engine and a counting session, no page bytes), each point in a fresh process.
 * - flat-4/16/64/256: one shape scaled with the guest (hot set 1/16 of memory, dirty rate and
 *   bandwidth in proportion, so lambda and the simulated time stay put): wall per page should not
 *   grow with the size (goal: largest / smallest ≤ 1.5). flat-64 is the issue's 64 GiB point
 *   (hotcold, 4 GiB hot @ 500 MiB/s, 10 Gbit/s, 300 ms; goal ≥ 10x real time, RSS ≤ 1 GiB).
 * - 256GiB: 16 GiB hot @ 2 GiB/s, 100 Gbit/s (goal ≥ 5x, RSS ≤ 3 GiB).
 * - 1TiB: 16 GiB hot @ 2 GiB/s, 100 Gbit/s (goal: completes, RSS ≤ 6 GiB).
 * Baselines in the same run: the scenario model's migration time for the point, and a bare loop
 * visiting each page's one-byte state once per round (the floor of any page-level simulator).
 * `PRECOPY_BENCH_POINTS=flat-4,flat-16` runs a subset.
 */
import { performance } from 'node:perf_hooks';
import { parseScenario, predictScenario, runScenario } from '../src/migration/index';
import { bareLoopMs, runInFreshProcesses } from './common';

const GiB = 1024 ** 3;

function point(memoryGiB: number, hot: string, rate: string, bandwidth: string): unknown {
  return {
    guest: { memory: `${memoryGiB}GiB`, workload: { kind: 'hotcold', rate, hot } },
    migration: { 'max-bandwidth': bandwidth, 'downtime-limit': '300ms' },
    run: { bandwidth, mode: 'fast' },
  };
}

/** The 64 GiB point scaled to `memoryGiB`: hot set, rate and bandwidth in proportion. */
function scaled(memoryGiB: number): unknown {
  const k = memoryGiB / 64;
  return point(memoryGiB, `${4 * k * 1024}MiB`, `${500 * k}MiB/s`, `${10 * k}Gbit/s`);
}

const POINTS: Record<string, { input: unknown; goal: string }> = {
  'flat-4': { input: scaled(4), goal: 'wall per page within 1.5x of the other flat points' },
  'flat-16': { input: scaled(16), goal: 'wall per page within 1.5x of the other flat points' },
  'flat-64': { input: scaled(64), goal: '≥ 10 simulated s per wall s, RSS ≤ 1 GiB' },
  'flat-256': { input: scaled(256), goal: 'wall per page within 1.5x of the other flat points' },
  '256GiB': {
    input: point(256, '16GiB', '2GiB/s', '100Gbit/s'),
    goal: '≥ 5 simulated s per wall s, RSS ≤ 3 GiB',
  },
  '1TiB': { input: point(1024, '16GiB', '2GiB/s', '100Gbit/s'), goal: 'completes, RSS ≤ 6 GiB' },
};

interface Run {
  wallMs: number;
  simulatedMs: number;
  maxRssMiB: number;
  status: string;
  rounds: number;
}

async function measurePoint(name: string): Promise<Run> {
  const start = performance.now();
  const result = await runScenario(POINTS[name]!.input);
  return {
    wallMs: performance.now() - start,
    simulatedMs: result['total-time'],
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    status: result.status,
    rounds: result.precopy.rounds.length,
  };
}

async function main(): Promise<void> {
  if (process.env.PRECOPY_BENCH_CHILD) {
    process.stdout.write(JSON.stringify(await measurePoint(process.env.PRECOPY_BENCH_POINT!)) + '\n');
    return;
  }
  const wanted = process.env.PRECOPY_BENCH_POINTS?.split(',') ?? Object.keys(POINTS);
  const figures = [];
  for (const name of wanted) {
    process.env.PRECOPY_BENCH_POINT = name;
    const run = (runInFreshProcesses(__filename, 1, () => null) as unknown as Run[])[0]!;
    const scenario = parseScenario(POINTS[name]!.input);
    const pages = scenario.guest.memory / 4096;
    const loopMs = bareLoopMs(pages, run.rounds);
    figures.push({
      point: name,
      goal: POINTS[name]!.goal,
      memoryGiB: scenario.guest.memory / GiB,
      status: run.status,
      rounds: run.rounds,
      simulatedPerWall: run.simulatedMs / run.wallMs,
      simulatedMs: run.simulatedMs,
      wallMs: run.wallMs,
      wallNsPerPage: (run.wallMs * 1e6) / pages,
      maxRssGiB: run.maxRssMiB / 1024,
      baselines: {
        model: {
          name: 'the scenario model (src/model): migration time',
          totalMs: predictScenario(scenario, { bands: false }).run.totalTime,
        },
        bareLoop: {
          name: 'visit each page state once per round',
          wallMs: loopMs,
          simulatedPerWall: run.simulatedMs / loopMs,
        },
      },
    });
  }
  const flat = figures.filter((f) => f.point.startsWith('flat-')).map((f) => f.wallNsPerPage);
  const flatness = flat.length > 1 ? Math.max(...flat) / Math.min(...flat) : null;
  process.stdout.write(
    JSON.stringify(
      { bench: 'scale-fast', flatness: { largestOverSmallest: flatness, goal: '≤ 1.5' }, figures },
      null,
      2,
    ) + '\n',
  );
}

void main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
