/**
 * Fast mode through the sweep machinery: a spec with mode fast runs on the local pool with the
 * default (engine) runner, each run's result is marked metadata-only, equals the full-mode run's
 * rounds where sizes are exact (raw encoding), and a point fast mode cannot model fails with an
 * error naming the field while the rest of the sweep finishes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSweepLocal } from '../../src/sweep/local';
import { expandSweep } from '../../src/sweep/points';
import { ENGINE_RUNNER } from '../../src/sweep/runner';
import { parseSweepSpec } from '../../src/sweep/spec';
import { ResultsStore } from '../../src/sweep/store';

const spec = parseSweepSpec({
  base: {
    guest: { memory: '16MiB', workload: { kind: 'uniform', rate: '64MiB/s' } },
    migration: {
      'max-bandwidth': '128MiB/s',
      'downtime-limit': '30ms',
      'max-rounds': 10,
      encodings: ['raw'],
    },
    run: { bandwidth: '1Gbit/s' },
  },
  grid: { 'run.clock': ['virtual', 'wall'] },
  seeds: [3],
  mode: 'fast',
});

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-fast-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs a mode-fast sweep on the local pool: metadata-only results, full mode’s rounds', async () => {
  const fast = expandSweep(spec);
  const full = expandSweep(spec, 'full').filter((r) => r.coords['run.clock'] === 'virtual');
  const store = new ResultsStore(join(dir, 'r.jsonl'));
  const progress = await runSweepLocal([...fast, ...full], store, { runner: ENGINE_RUNNER, workers: 1 });
  const records = store.all();
  store.close();
  expect(progress).toEqual({ done: 3, total: 3, lost: 0 });
  const fastVirtual = records.find((r) => r.mode === 'fast' && r.coords['run.clock'] === 'virtual')!;
  const fastWall = records.find((r) => r.mode === 'fast' && r.coords['run.clock'] === 'wall')!;
  const fullVirtual = records.find((r) => r.mode === 'full')!;
  expect(fastVirtual.result!.status).toBe('completed');
  expect(fastVirtual.result!.precopy.metadataOnly).toBe(true);
  expect(fastVirtual.result!.precopy.verification).toBeNull();
  expect(fullVirtual.result!.precopy.verification?.passed).toBe(true);
  expect(fastVirtual.result!.precopy.rounds).toEqual(fullVirtual.result!.precopy.rounds);
  expect(fastWall.error).toMatch(/run\.clock: fast \(metadata-only\) mode runs in virtual time only/);
});
