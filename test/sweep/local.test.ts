import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSweepLocal, type SweepProgress } from '../../src/sweep/local';
import { expandSweep } from '../../src/sweep/points';
import { parseSweepSpec } from '../../src/sweep/spec';
import { ResultsStore } from '../../src/sweep/store';
import { summarise } from '../../src/sweep/aggregate';
import { fakeResult } from './fixtures/fake-runner';

const RUNNER = join(__dirname, 'fixtures', 'fake-runner.ts');

const spec = parseSweepSpec({
  base: { guest: { memory: '1GiB', workload: { kind: 'uniform' } }, run: { bandwidth: '1GiB/s' } },
  grid: {
    'guest.workload.rate': ['100MiB/s', '400MiB/s', '900MiB/s'],
    'migration.downtime-limit': [50, 300],
  },
  seeds: 3,
});

describe('local sweep on worker threads', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-local-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every point once on two threads with the results the runner gives in-process', async () => {
    const runs = expandSweep(spec);
    const store = new ResultsStore(join(dir, 'r.jsonl'));
    const seen: SweepProgress[] = [];
    const progress = await runSweepLocal(runs, store, {
      runner: RUNNER,
      workers: 2,
      onProgress: (p) => seen.push(p),
    });
    store.close();
    expect(progress).toEqual({ done: 18, total: 18, lost: 0 });
    expect(seen.map((p) => p.done)).toEqual([...Array(19).keys()]);
    const stored = new ResultsStore(join(dir, 'r.jsonl'));
    for (const run of runs)
      expect(stored.all().find((r) => r.id === run.id)?.result).toEqual(fakeResult(run.scenario, run.seed));
    stored.close();
  });

  it('resumes: a rerun runs only what is missing', async () => {
    const runs = expandSweep(spec);
    const file = join(dir, 'r.jsonl');
    const first = new ResultsStore(file);
    for (const run of runs.slice(0, 10)) first.add({ ...run, result: fakeResult(run.scenario, run.seed) });
    first.close();
    const store = new ResultsStore(file);
    const progress = await runSweepLocal(runs, store, { runner: RUNNER, workers: 2 });
    store.close();
    expect(progress.done).toBe(18);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(18);
    expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(18);
  });

  it('records a runner error as the run outcome, and summarises mean and spread over seeds', async () => {
    const bad = parseSweepSpec({ ...spec, grid: { 'guest.explode': [false, true] }, seeds: 2 });
    const store = new ResultsStore(join(dir, 'e.jsonl'));
    await runSweepLocal(expandSweep(bad), store, { runner: RUNNER, workers: 1 });
    const [ok, failed] = summarise(
      store.all().sort((a, b) => Number(a.coords['guest.explode']) - Number(b.coords['guest.explode'])),
    );
    store.close();
    expect(failed!.errors).toEqual([
      'seed 1: fake runner: guest.explode is set',
      'seed 2: fake runner: guest.explode is set',
    ]);
    expect(failed!.metrics).toBeNull();
    expect(ok!.seeds).toEqual([1, 2]);
  });

  it('a thread that dies loses only its point: it stays pending and a fresh thread takes the rest', async () => {
    const crashing = parseSweepSpec({
      ...spec,
      grid: { 'guest.crash': [true, false], 'guest.workload.rate': ['100MiB/s', '200MiB/s'] },
      seeds: 1,
    });
    const runs = expandSweep(crashing);
    const store = new ResultsStore(join(dir, 'c.jsonl'));
    const progress = await runSweepLocal(runs, store, { runner: RUNNER, workers: 1 });
    // On one thread the two crashing points go first: the points after them still finish.
    expect(progress).toEqual({ done: 2, total: 4, lost: 2 });
    expect(store.all().map((r) => r.coords['guest.crash'])).toEqual([false, false]);
    for (const run of runs.filter((r) => r.coords['guest.crash'] === true))
      expect(store.has(run.id)).toBe(false);
    store.close();
  });

  it('an aborted sweep keeps every run that finished, and nothing half-written', async () => {
    process.env.FAKE_RUNNER_DELAY_MS = '40';
    try {
      const runs = expandSweep(spec);
      const file = join(dir, 'a.jsonl');
      const store = new ResultsStore(file);
      const abort = new AbortController();
      const progress = await runSweepLocal(runs, store, {
        runner: RUNNER,
        workers: 2,
        signal: abort.signal,
        onProgress: (p) => p.done === 5 && abort.abort(),
      });
      store.close();
      expect(progress.done).toBeGreaterThanOrEqual(5);
      expect(progress.done).toBeLessThan(18);
      const reopened = new ResultsStore(file);
      expect(reopened.size).toBe(progress.done);
      expect(reopened.tornLinesDropped).toBe(0);
      reopened.close();
    } finally {
      delete process.env.FAKE_RUNNER_DELAY_MS;
    }
  });
});

describe('summaries', () => {
  it('follow the sweep order when given, whatever order the results came in', () => {
    const runs = expandSweep(spec);
    const records = runs.map((r) => ({ ...r, result: fakeResult(r.scenario, r.seed) })).reverse();
    const order = [...new Set(runs.map((r) => r.point))];
    expect(summarise(records, order).map((s) => s.point)).toEqual(order);
    expect(summarise(records).map((s) => s.point)).toEqual([...order].reverse());
  });

  it('mean and sample standard deviation over seeds', () => {
    const runs = expandSweep(
      parseSweepSpec({ ...spec, grid: { 'guest.workload.rate': ['300MiB/s'] }, seeds: [1, 2, 3] }),
    );
    const records = runs.map((r) => ({ ...r, result: fakeResult(r.scenario, r.seed) }));
    const [summary] = summarise(records);
    const times = records.map((r) => r.result['total-time']);
    const mean = times.reduce((a, b) => a + b) / 3;
    expect(summary!.metrics!.totalTime.mean).toBeCloseTo(mean, 9);
    expect(summary!.metrics!.totalTime.sd).toBeCloseTo(
      Math.sqrt(times.reduce((a, t) => a + (t - mean) ** 2, 0) / 2),
      9,
    );
    expect(summary!.metrics!.totalTime.sd).toBeGreaterThan(0);
  });
});
