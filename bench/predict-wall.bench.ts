/**
 * `precopy predict`'s wall time (issue 14's goal: ≤ 300 ms for any scenario).
 * - In process: predictScenario (with its band runs, as the command runs it) on every scenario
 *   of the accuracy set (bench/predict-scenarios.ts) and on the examples, one after the other in
 *   this process (each scenario's seed and content give it its own cost tables; the first call
 *   also pays the JIT's warm-up and is reported apart): median and max.
 * - The command: `bin/precopy.js predict FILE` on the five slowest of those, against the same
 *   run's baseline, the same command with a bad flag (`--vcpus 0`: node start-up, loading the CLI
 *   and the model, parsing the scenario, exit 2 before any modelling): the difference is what
 *   predicting costs a user on top of starting the command.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseScenario } from '../src/migration/index';
import { predictScenario } from '../src/model/index';
import { median } from './common';
import { benchScenarios } from './predict-scenarios';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'bin', 'precopy.js');

/** The examples' scenario files (sweeps and recorded results aside). */
function examples(): { name: string; input: unknown }[] {
  const out: { name: string; input: unknown }[] = [];
  const dir = join(ROOT, 'examples');
  for (const sub of readdirSync(dir, { withFileTypes: true })) {
    if (!sub.isDirectory() || sub.name === 'sweeps') continue;
    for (const file of readdirSync(join(dir, sub.name)).filter((f) => f.endsWith('.json'))) {
      const input = JSON.parse(readFileSync(join(dir, sub.name, file), 'utf8')) as unknown;
      try {
        parseScenario(input);
        out.push({ name: `examples/${sub.name}/${file}`, input });
      } catch {
        // not a scenario (a result, a trace's companion...)
      }
    }
  }
  return out;
}

function all(): { name: string; input: unknown }[] {
  return [...benchScenarios().map((s) => ({ name: s.name, input: s.input as unknown })), ...examples()];
}

/** Wall ms of one command (a bad-usage exit counts: the baseline is one). */
function timeCommand(args: string[]): number {
  const start = performance.now();
  try {
    execFileSync(CLI, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as { status?: number }).status !== 2) throw e;
  }
  return performance.now() - start;
}

function main(): void {
  const scenarios = all();
  const inProcess = scenarios.map((s) => {
    const start = performance.now();
    predictScenario(parseScenario(s.input));
    const ms = performance.now() - start;
    process.stderr.write(`${ms.toFixed(0).padStart(6)} ms  ${s.name}\n`);
    return { name: s.name, ms, input: s.input };
  });
  const slowest = [...inProcess].sort((a, b) => b.ms - a.ms).slice(0, 5);
  const dir = mkdtempSync(join(tmpdir(), 'precopy-predict-wall-'));
  try {
    const commands = slowest.map((s, i) => {
      const file = join(dir, `s${i}.json`);
      writeFileSync(file, JSON.stringify(s.input));
      const baseline = timeCommand(['predict', file, '--vcpus', '0']);
      const predict = timeCommand(['predict', file]);
      return { name: s.name, predictMs: Math.round(predict), baselineBadFlagMs: Math.round(baseline) };
    });
    const ms = inProcess.slice(1).map((r) => r.ms);
    process.stdout.write(
      JSON.stringify({
        goal: '<= 300 ms for any scenario',
        inProcess: {
          scenarios: ms.length,
          firstCallMs: Math.round(inProcess[0]!.ms),
          medianMs: Math.round(median(ms)),
          maxMs: Math.round(Math.max(...ms)),
          slowest: slowest.map((s) => ({ name: s.name, ms: Math.round(s.ms) })),
        },
        command: commands.map((c) => ({ ...c, overBaselineMs: c.predictMs - c.baselineBadFlagMs })),
      }) + '\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
