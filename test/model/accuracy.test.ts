/**
 * The model against the simulator on a few scenarios, in full mode (pages with contents, sent
 * and verified): verdict, rounds, downtime, data and total time within tolerances that fail when
 * a mechanism is missing. The negative test breaks one on purpose (zero pages costed as whole
 * pages, as the textbook model does) and shows the same check catches it.
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

const CASES: [string, unknown][] = [
  ['half-zero guest, zero pages only', HALF_ZERO],
  ['hot/cold database, text, 2 vCPUs', example('hotcold-db/scenario.json')],
  ['memory hog under auto-converge', example('memory-hog/auto-converge.json')],
  ['QEMU incrementer', example('incrementer/converge.json')],
];

interface Errors {
  outcome: boolean;
  rounds: number;
  totalTime: number;
  bytes: number;
  downtime: number;
}

function compare(input: unknown, result: MigrationResult, faults?: Partial<ModelFaults>): Errors {
  const p = predictScenario(parseScenario(input), { bands: false, faults });
  const rel = (model: number, actual: number) => Math.abs(model - actual) / actual;
  return {
    outcome: p.run.status === result.status && p.run.converged === result.precopy.converged,
    rounds: Math.abs(p.run.rounds.length - result.precopy.rounds.length),
    totalTime: rel(p.run.totalTime, result['total-time']),
    bytes: rel(p.run.precopyBytes + p.run.downtimeBytes, result.ram.transferred),
    downtime: rel(p.run.downtime, result.downtime),
  };
}

describe('the model against the simulator (full mode)', () => {
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

  it('fails the same check when zero pages are costed as whole pages (negative)', () => {
    const [name, input] = CASES[0]!;
    const e = compare(input, results.get(name)!, { zeroPagesAsData: true });
    expect(e.bytes).toBeGreaterThan(0.5);
    expect(e.totalTime).toBeGreaterThan(0.05);
  });
});
