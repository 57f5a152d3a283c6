/**
 * The model against the simulator on a few scenarios, in full mode (pages with contents, sent
 * and verified) and in fast mode: verdict, rounds, downtime, data and total time within
 * tolerances that fail when a mechanism is missing. The negative tests break one on purpose
 * (zero pages costed as whole pages, as the textbook model does; a fast-mode run's pages costed
 * as stored ones) and show the same check catches it. bench/predict-accuracy.bench.ts runs the
 * same comparison over 64 scenarios.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';
import { predictScenario, type ModelFaults } from '../../src/model/index';

const example = (file: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', file), 'utf8'));

/** The guest: 256 MiB, about half of it zero pages, a 64 MiB working set, 64 MiB/s. */
const HALF_ZERO = {
  guest: {
    memory: '256MiB',
    fill: { populated: '130MiB', content: 'random' },
    workload: { kind: 'uniform', offset: 0, size: '64MiB', rate: '3072pages/s' },
  },
  migration: { encodings: 'zero', 'downtime-limit': '300ms', 'max-bandwidth': '64MiB/s' },
};

/**
 * Sparse pages: a 1 or 2 MiB region of a half-filled guest takes 64-byte writes through a 16 s
 * bulk round, so its zero pages hold many small writes when they go, and the stop-and-copy (on
 * a link twice max-bandwidth) is mostly them. Stored bytes, generated pages and fast mode's
 * states cost such pages differently; the model must follow the run's backing.
 */
const sparse = (memory: string, region: string, rate: string, bandwidth: string, run: object) => ({
  guest: {
    memory,
    fill: { populated: '50%', content: 'random' },
    workload: { kind: 'uniform', size: region, rate, writeSize: 64 },
  },
  migration: { 'downtime-limit': '1s', 'max-bandwidth': bandwidth, timeout: '60s', 'stop-rule': 'round' },
  run,
});
const SPARSE_FAST = sparse('128MiB', '2MiB', '8MiB/s', '4MiB/s', { mode: 'fast', bandwidth: '8MiB/s' });
const SPARSE_GENERATED = sparse('64MiB', '1MiB', '4MiB/s', '2MiB/s', {
  backing: 'generated',
  bandwidth: '4MiB/s',
});

/** Never converges (λ ≈ 4 on a 64 MiB set, round rule): cancelled at the timeout. */
const NEVER = {
  guest: {
    memory: '256MiB',
    vcpus: 2,
    fill: { populated: '60%', content: 'text' },
    workload: { kind: 'uniform', size: '64MiB', rate: '200MiB/s' },
  },
  migration: { 'downtime-limit': '100ms', 'max-bandwidth': '48MiB/s', 'stop-rule': 'round', timeout: '12s' },
  run: { mode: 'fast' },
};

/**
 * multifd on a link faster than one sender thread (issue 19's CPU model): 256 MiB/s per channel
 * against 100 Gbit/s, so one channel is CPU-bound and four share the work.
 */
const multifd = (channels: number) => ({
  guest: {
    memory: '1GiB',
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'hotcold', rate: '256MiB/s', hot: '128MiB' },
  },
  migration: {
    'max-bandwidth': '1000Gbit/s',
    'downtime-limit': '300ms',
    'max-rounds': 30,
    multifd: true,
    'multifd-channels': channels,
    'encode-rate': '256MiB/s',
  },
  run: { mode: 'fast', bandwidth: '100Gbit/s' },
});

const CASES: [string, unknown][] = [
  ['half-zero guest, zero pages only', HALF_ZERO],
  ['sparse pages, fast mode', SPARSE_FAST],
  ['sparse pages, generated backing', SPARSE_GENERATED],
  ['never converges: cancelled at the timeout', NEVER],
  ['hot/cold database, text, 2 vCPUs', example('hotcold-db/scenario.json')],
  ['memory hog under auto-converge', example('memory-hog/auto-converge.json')],
  ['QEMU incrementer', example('incrementer/converge.json')],
  ['multifd, one channel CPU-bound', multifd(1)],
  ['multifd, four channels', multifd(4)],
];

interface Errors {
  outcome: boolean;
  rounds: number;
  totalTime: number;
  bytes: number;
  downtime: number;
}

function compare(input: unknown, result: MigrationResult, faults?: ModelFaults): Errors {
  const p = predictScenario(parseScenario(input), { bands: false, faults });
  const rel = (model: number, actual: number) => Math.abs(model - actual) / actual;
  return {
    outcome: p.run.status === result.status && p.run.converged === result.precopy.converged,
    rounds: Math.abs(p.run.rounds.length - result.precopy.rounds.length),
    totalTime: rel(p.run.totalTime, result['total-time']),
    bytes: rel(p.run.precopyBytes + p.run.downtimeBytes, result.ram.transferred),
    // A cancelled migration has no downtime on either side.
    downtime: result.downtime > 0 ? rel(p.run.downtime, result.downtime) : p.run.downtime,
  };
}

describe('the model against the simulator', () => {
  const results = new Map<string, MigrationResult>();
  beforeAll(async () => {
    for (const [name, input] of CASES) results.set(name, await runScenario(input));
  }, 120_000);

  it.each(CASES)('%s: verdict, rounds ±1, time and data within 5 %, downtime within 15 %', (name, input) => {
    const e = compare(input, results.get(name)!);
    expect({
      name,
      ...e,
      ok: e.outcome && e.rounds <= 1 && e.totalTime <= 0.05 && e.bytes <= 0.05 && e.downtime <= 0.15,
    }).toMatchObject({ ok: true });
  });

  it("fails the same check when the senders' CPU is left out, as the textbook model does (negative)", () => {
    const [name, input] = CASES.find(([n]) => n === 'multifd, one channel CPU-bound')!;
    const withoutCpu = multifd(1);
    withoutCpu.migration.multifd = false;
    delete (withoutCpu.migration as Partial<typeof withoutCpu.migration>)['encode-rate'];
    const e = compare(withoutCpu, results.get(name)!);
    expect(e.totalTime).toBeGreaterThan(0.5);
    expect(input).not.toEqual(withoutCpu);
  });

  it('fails the same check when a fast-mode run is costed as stored pages (negative)', () => {
    const e = compare(SPARSE_FAST, results.get('sparse pages, fast mode')!, { ignoreBacking: true });
    expect(e.downtime).toBeGreaterThan(0.3);
  });

  it('fails the same check when zero pages are costed as whole pages (negative)', () => {
    const [name, input] = CASES[0]!;
    const e = compare(input, results.get(name)!, { zeroPagesAsData: true });
    expect(e.bytes).toBeGreaterThan(0.5);
    expect(e.totalTime).toBeGreaterThan(0.05);
  });
});
