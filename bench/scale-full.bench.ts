/**
 * Full mode at scale (issue 13's goal table): simulated seconds per wall second and peak RSS of
 * whole migrations whose pages really travel (generated or stored, zero-detected, lz4, framed,
 * decoded, verified by digests), each point in fresh processes (median of the runs).
 * - golden: examples/golden/golden-round.json (4 GiB; goal ≥ 5 simulated s per wall s);
 * - 64 GiB: hotcold, 4 GiB hot @ 500 MiB/s, 10 Gbit/s, 300 ms (goal ≥ 1×, RSS ≤ 2 GiB, verified).
 * Baselines in the same run: the scenario model's migration time for the point (is the simulated
 * time sensible?), and a bare loop visiting each page's state once per round (the floor of any
 * page-level simulator, as simulated seconds per wall second).
 * `PRECOPY_BENCH_POINTS=golden` runs a subset.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseScenario, predictScenario, runScenario } from '../src/migration/index';
import { bareLoopMs, median, runInFreshProcesses } from './common';

const POINTS: Record<string, { input: unknown; goal: string; runs: number }> = {
  golden: {
    input: JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'golden', 'golden-round.json'), 'utf8')),
    goal: '≥ 5 simulated s per wall s',
    runs: 3,
  },
  '64GiB-generated': {
    input: {
      guest: { memory: '64GiB', workload: { kind: 'hotcold', rate: '500MiB/s', hot: '4GiB' } },
      migration: { 'max-bandwidth': '10Gbit/s', 'downtime-limit': '300ms' },
      run: { bandwidth: '10Gbit/s', backing: 'generated' },
    },
    goal: '≥ 1 simulated s per wall s, RSS ≤ 2 GiB, verified',
    runs: 1,
  },
};

interface Run {
  wallMs: number;
  simulatedMs: number;
  maxRssMiB: number;
  verified: boolean;
  backing: string | undefined;
  rounds: number;
  pagesVisited: number;
}

async function measurePoint(name: string): Promise<Run> {
  const point = POINTS[name]!;
  const start = performance.now();
  const result = await runScenario(point.input);
  const wallMs = performance.now() - start;
  return {
    wallMs,
    simulatedMs: result['total-time'],
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    verified: result.precopy.verification?.passed === true,
    backing: result.precopy.memory?.backing,
    rounds: result.precopy.rounds.length,
    pagesVisited: (result.ram.total / 4096) * result.precopy.rounds.length,
  };
}

async function main(): Promise<void> {
  const wanted = process.env.PRECOPY_BENCH_POINTS?.split(',') ?? Object.keys(POINTS);
  if (process.env.PRECOPY_BENCH_CHILD) {
    process.stdout.write(JSON.stringify(await measurePoint(process.env.PRECOPY_BENCH_POINT!)) + '\n');
    return;
  }
  const figures = [];
  for (const name of wanted) {
    const point = POINTS[name]!;
    process.env.PRECOPY_BENCH_POINT = name;
    const runs = runInFreshProcesses(__filename, point.runs, () => null) as unknown as Run[];
    const wall = median(runs.map((r) => r.wallMs));
    const run = runs.find((r) => r.wallMs === wall)!;
    const scenario = parseScenario(point.input);
    const model = predictScenario(scenario, { bands: false }).run;
    const loopMs = bareLoopMs(scenario.guest.memory / 4096, run.rounds);
    figures.push({
      point: name,
      goal: point.goal,
      simulatedPerWall: run.simulatedMs / wall,
      simulatedMs: run.simulatedMs,
      wallMs: wall,
      maxRssGiB: run.maxRssMiB / 1024,
      verified: run.verified,
      backing: run.backing,
      runs: runs.map((r) => ({ wallMs: Math.round(r.wallMs), simulatedPerWall: r.simulatedMs / r.wallMs })),
      baselines: {
        model: { name: 'the scenario model (src/model): migration time', totalMs: model.totalTime },
        bareLoop: {
          name: 'visit each page state once per round',
          wallMs: loopMs,
          simulatedPerWall: run.simulatedMs / loopMs,
        },
      },
    });
  }
  process.stdout.write(JSON.stringify({ bench: 'scale-full', figures }, null, 2) + '\n');
}

void main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
