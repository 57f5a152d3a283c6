/**
 * The in-run predictor: the scenario model re-fitted after every round. Its ETA after the first
 * rounds lands within tolerance of what happens, the completion it implies never moves earlier
 * than the previous prediction's band (and, with the clamp switched off, a measurement that
 * contradicts the model shows that it would), and every round keeps its prediction and error.
 */
import fc from 'fast-check';
import { runScenario } from '../../src/migration/index';
import { Predictor, type MeasuredRound } from '../../src/migration/predictor';
import { predictionErrors } from '../../src/migration/result';
import type { MigrationResult, RoundStats } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';
import { runViewFromResult } from '../../src/viz/run-view';
import { summarize } from '../../src/viz/summary';

const HOG = {
  guest: {
    memory: '64MiB',
    seed: 5,
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'uniform', rate: '96MiB/s' },
  },
  migration: { 'max-bandwidth': '32MiB/s', timeout: '20s', 'auto-converge': true },
  run: { bandwidth: '1Gbit/s' },
};

const live = (r: MigrationResult) => r.precopy.rounds.filter((x) => !x.final);
const end = (x: RoundStats) => x.start + x.duration;

describe('the in-run predictor', () => {
  let hog: MigrationResult;
  beforeAll(async () => {
    hog = await runScenario(HOG, { mode: 'fast' });
  }, 60_000);

  it('keeps a prediction with its band, downtime and outcome for every live round, and scores each', () => {
    const rounds = live(hog);
    expect(rounds.length).toBeGreaterThan(5);
    for (const r of rounds) {
      expect(r.predictedEta).not.toBeNull();
      expect(r.predictedEtaBand!.low).toBeLessThanOrEqual(r.predictedEta! + 1e-6);
      expect(r.predictedEtaBand!.high).toBeGreaterThanOrEqual(r.predictedEta! - 1e-6);
      expect(r.predictedOutcome).toBeDefined();
    }
    expect(hog.precopy.predictionError.map((e) => e.round)).toEqual(rounds.map((r) => r.round));
    expect(hog.precopy.predictorError).toBeUndefined();
  });

  it('predicts the end of an auto-converged migration within 10 % of the time left after round 1', () => {
    const after1 = hog.precopy.predictionError.find((e) => e.round === 1)!;
    expect(Math.abs(after1.etaRelative!)).toBeLessThan(0.1);
    expect(after1.rounds).not.toBeNull();
    expect(Math.abs(after1.rounds!)).toBeLessThanOrEqual(2);
  });

  it('never moves the completion earlier than the previous band allows (property over scenarios)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rate: fc.integer({ min: 20, max: 120 }),
          size: fc.constantFrom('16MiB', '32MiB', '64MiB'),
          stopRule: fc.constantFrom('qemu', 'round', 'stall'),
          autoConverge: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async (p) => {
          const r = await runScenario(
            {
              guest: {
                memory: '64MiB',
                seed: p.seed,
                workload: { kind: 'uniform', rate: `${p.rate}MiB/s`, size: p.size },
              },
              migration: {
                'max-bandwidth': '32MiB/s',
                'stop-rule': p.stopRule,
                'auto-converge': p.autoConverge,
                timeout: '15s',
              },
            },
            { mode: 'fast' },
          );
          const rounds = live(r);
          for (let k = 1; k < rounds.length; k++) {
            const before = rounds[k - 1]!;
            const now = rounds[k]!;
            const earliest = end(before) + before.predictedEtaBand!.low;
            expect(end(now) + now.predictedEta!).toBeGreaterThanOrEqual(Math.min(earliest, end(now)) - 1e-6);
          }
        },
      ),
      { numRuns: 6, seed: 14 },
    );
  }, 120_000);

  /** The hog's first two rounds as measured, with round 1 saying the dirty set all but vanished. */
  function contradicting(): [MeasuredRound, MeasuredRound] {
    const rounds = live(hog);
    const at = (k: number, remainingPages: number): MeasuredRound => ({
      rounds: rounds.slice(0, k + 1),
      time: end(rounds[k]!),
      remainingPages,
      throttle: rounds[k]!.throttle,
      bandwidth: rounds[k]!.sendRate / 1000,
      threshold: rounds[k]!.threshold,
      totalPages: rounds.slice(0, k + 1).reduce((n, r) => n + r.pagesSent, 0),
      totalBytes: rounds.slice(0, k + 1).reduce((n, r) => n + r.bytesWire, 0),
    });
    return [at(0, rounds[0]!.remaining / 4096), at(1, 1)];
  }

  it('holds the completion at the previous band when a round contradicts the model', () => {
    const [first, second] = contradicting();
    const p = new Predictor(parseScenario(HOG));
    const a = p.afterRound(first);
    const b = p.afterRound(second);
    expect(second.time + b.eta).toBeGreaterThanOrEqual(first.time + a.etaBand.low - 1e-6);
  });

  it('without the clamp the same round moves the completion back past the band (negative)', () => {
    const [first, second] = contradicting();
    const p = new Predictor(parseScenario(HOG), { unclampedEta: true });
    const a = p.afterRound(first);
    const b = p.afterRound(second);
    expect(second.time + b.eta).toBeLessThan(first.time + a.etaBand.low);
  });

  it("the run's summary says how far off the first prediction was", () => {
    const item = summarize(runViewFromResult('hog', hog)).find((i) => i.label === 'first prediction')!;
    const first = hog.precopy.predictionError[0]!;
    expect(item.value).toContain(`after round 0`);
    expect(item.value).toContain(`(${(first.etaRelative! * 100).toFixed(1)} %)`);
  });

  it('scores rounds, ETA (absolute and over the time left) and downtime', () => {
    const rounds = [
      {
        round: 0,
        start: 0,
        duration: 4000,
        predictedRoundsLeft: 2,
        predictedEta: 950,
        predictedDowntime: 160,
        final: false,
      },
      {
        round: 1,
        start: 4000,
        duration: 780,
        predictedRoundsLeft: 1,
        predictedEta: 160,
        predictedDowntime: 150,
        final: false,
      },
      { round: 2, start: 4780, duration: 150, predictedRoundsLeft: 0, predictedEta: 0, final: true },
    ];
    expect(predictionErrors(rounds, 4930, 150)).toEqual([
      { round: 0, rounds: 0, eta: 20, etaRelative: 20 / 930, downtime: 10 },
      { round: 1, rounds: 0, eta: 10, etaRelative: 10 / 150, downtime: 0 },
    ]);
  });
});
