import { analyticModel as predict } from '../../src/model/analytic';
import { runScenario } from '../../src/migration/index';
import { example, MiB, within } from './load';

describe('examples/golden: the analytic golden case with stop-rule round', () => {
  it('matches research §5.2: 4096 + 800 MiB live, ~156 MiB final, ~153 ms, ~5052 MiB, ~4.93 s', async () => {
    const r = await runScenario(example('golden/golden-round.json'));
    const model = predict({ memory: 4096 * MiB, rate: 1024 * MiB, dirtyRate: 200 * MiB, downtimeLimit: 300 });
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    const rounds = r.precopy.rounds;
    expect(rounds.map((x) => x.final)).toEqual([false, false, true]);
    expect(rounds.map((x) => x.bytesRaw / MiB)).toEqual([4096, expect.any(Number), expect.any(Number)]);
    expect(within(rounds[1]!.bytesRaw / MiB, 800, 0.02)).toEqual([rounds[1]!.bytesRaw / MiB, true]);
    expect(within(rounds[2]!.bytesRaw / MiB, 156.25, 0.02)).toEqual([rounds[2]!.bytesRaw / MiB, true]);
    expect(within(r.downtime, model.downtime, 0.02)).toEqual([r.downtime, true]);
    expect(within(r.ram.transferred / MiB, model.bytes / MiB, 0.02)).toEqual([r.ram.transferred / MiB, true]);
    expect(within(r['total-time'], model.totalTime, 0.02)).toEqual([r['total-time'], true]);
    // The guest's distinct-page rate is the model's D.
    expect(within(rounds[0]!.dirtyRate / MiB, 200, 0.01)).toEqual([rounds[0]!.dirtyRate / MiB, true]);
    // The predictor after the bulk round says: one live round, then stop-and-copy.
    expect(rounds[0]!.predictedRoundsLeft).toBe(2);
    expect(r.precopy.predictionError[0]!.rounds).toBe(0);
  });
});
