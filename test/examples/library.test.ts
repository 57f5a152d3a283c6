/**
 * precopy as a library: package.json's `exports` entry loads in a plain Node process (no
 * ts-node, no jest), the documented examples run, and `runScenario` returns exactly what
 * `precopy run --json` writes for the same scenario.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { checkResult } from '../../src/viz/result-file';

const ROOT = join(__dirname, '..', '..');
let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-library-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function node(...args: string[]) {
  return spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
}

it("require('precopy') in plain Node gives the documented entry points", () => {
  const r = node(
    '-e',
    `const p = require(${JSON.stringify(ROOT)}); console.log(Object.keys(p).sort().join(' '))`,
  );
  expect(r.stderr).toBe('');
  const names = r.stdout.trim().split(' ');
  for (const name of [
    'runScenario',
    'predict',
    'runSweep',
    'MigrationControl',
    'parseScenario',
    'ScenarioError',
  ])
    expect(names).toContain(name);
});

it('examples/library/run.js: predicts, runs with a live set-parameters, writes a result view and report read', () => {
  const out = join(dir, 'result.json');
  const r = node(join(ROOT, 'examples', 'library', 'run.js'), out);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^model: converges in \d+ rounds\nrun: {3}completed in \d+ rounds/);
  expect(r.stdout).toMatch(/max-bandwidth 64 MiB\/s from \d+ ms/);
  expect(r.stdout).toMatch(/verified: true/);
  const result = JSON.parse(readFileSync(out, 'utf8'));
  expect(() => checkResult(result, 'library result')).not.toThrow();
  expect(result.precopy.parameterChanges).toHaveLength(1);
});

it('runScenario returns what precopy run --json writes, byte for byte', async () => {
  const scenario = {
    guest: {
      memory: '16MiB',
      seed: 2,
      fill: { populated: '50%', content: 'random' },
      workload: { kind: 'uniform', rate: '8MiB/s' },
    },
    migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms' },
    run: { clock: 'virtual', transport: 'inproc', bandwidth: '1Gbit/s' },
  };
  const file = join(dir, 'scenario.json');
  writeFileSync(file, JSON.stringify(scenario));
  const cliJson = join(dir, 'cli.json');
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await main(['run', file, '--quiet', '--json', cliJson]);
  } finally {
    write.mockRestore();
  }
  expect(process.exitCode ?? 0).toBe(0);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's own entry, as a user loads it
  const library = require(ROOT) as typeof import('../../src/api');
  const result = await library.runScenario(scenario);
  expect(JSON.stringify(result, null, 2) + '\n').toBe(readFileSync(cliJson, 'utf8'));
  expect(library.predict(scenario).precopy.model.verdict.text).toMatch(/^converges in \d+ rounds$/);
});

it('runSweep runs every point on worker threads, resumes from its results file, and names a bad field', () => {
  const out = join(dir, 'sweep.jsonl');
  const script = `
    const { runSweep, SweepSpecError } = require(${JSON.stringify(ROOT)});
    const spec = {
      base: { guest: { memory: '64MiB', workload: { kind: 'uniform', rate: '16MiB/s' } }, run: { mode: 'fast' } },
      grid: { 'migration.max-bandwidth': ['64MiB/s', '256MiB/s'] },
      seeds: 1,
    };
    (async () => {
      const first = await runSweep(spec, { out: ${JSON.stringify(out)}, workers: 1 });
      const again = await runSweep(spec, { out: ${JSON.stringify(out)}, workers: 1 });
      let bad;
      try { await runSweep({ ...spec, seeds: 0 }, { out: ${JSON.stringify(out)} }); } catch (e) { bad = e; }
      console.log(JSON.stringify({
        statuses: first.records.map((r) => r.result.status),
        times: first.records.map((r) => r.result['total-time']),
        progress: [first.progress, again.progress],
        lines: require('fs').readFileSync(${JSON.stringify(out)}, 'utf8').trim().split('\\n').length,
        bad: bad instanceof SweepSpecError ? bad.message : String(bad),
      }));
    })();`;
  const r = node('-e', script);
  expect(r.stderr).toBe('');
  const got = JSON.parse(r.stdout);
  expect(got.statuses).toEqual(['completed', 'completed']);
  // Four times the bandwidth: the faster link finishes sooner.
  expect(got.times[1]).toBeLessThan(got.times[0]);
  expect(got.progress).toEqual([
    { done: 2, total: 2, lost: 0 },
    { done: 2, total: 2, lost: 0 },
  ]);
  expect(got.lines).toBe(2); // the second call ran nothing again
  expect(got.bad).toMatch(/seeds/);
});
