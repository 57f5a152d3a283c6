/** The default runner against the real engine: seeds reach the guest, results verify. Fast mode: test/sweep/fast.test.ts. */
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
    migration: { 'max-bandwidth': '128MiB/s', 'downtime-limit': '30ms', 'max-rounds': 10 },
    run: { bandwidth: '1Gbit/s' },
  },
  seeds: [3, 4],
});

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-engine-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs each seed as guest.seed through runScenario, verified', async () => {
  const runs = expandSweep(spec);
  const store = new ResultsStore(join(dir, 'r.jsonl'));
  await runSweepLocal(runs, store, { runner: ENGINE_RUNNER, workers: 1 });
  const records = store.all();
  store.close();
  expect(records.map((r) => r.error)).toEqual([undefined, undefined]);
  for (const r of records) {
    expect(r.result!.status).toBe('completed');
    expect(r.result!.precopy.verification?.passed).toBe(true);
    expect((r.result!.precopy.scenario as { guest: { seed: number } }).guest.seed).toBe(r.seed);
  }
  expect(records[0]!.result!.ram.transferred).not.toBe(records[1]!.result!.ram.transferred);
});
