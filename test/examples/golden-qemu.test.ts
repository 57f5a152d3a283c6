import { runScenario } from '../../src/migration/index';
import { example, MiB, within } from './load';

describe('examples/golden: the same case with stop-rule qemu (figures worked out in its README)', () => {
  it('syncs at 3.75/4.45/4.60/4.65 s and switches over with 273 MiB: 266.7 ms, 4.917 s, 5035 MiB', async () => {
    const r = await runScenario(example('golden/golden-qemu.json'));
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    const live = r.precopy.rounds.filter((x) => !x.final);
    const ends = live.map((x) => x.start + x.duration);
    [3750, 4450, 4600, 4650].forEach((t, i) => expect([i, Math.abs(ends[i]! - t) <= 5]).toEqual([i, true]));
    expect(
      live.map((x) => x.remaining / MiB).map((v, i) => within(v, [1012.9, 437.4, 314.1, 273.0][i]!, 0.01)[1]),
    ).toEqual([true, true, true, true]);
    expect(within(r.downtime, 266.7, 0.01)).toEqual([r.downtime, true]);
    expect(r.downtime).toBeLessThan(300);
    expect(within(r['total-time'], 4917, 0.01)).toEqual([r['total-time'], true]);
    expect(within(r.ram.transferred / MiB, 5035, 0.01)).toEqual([r.ram.transferred / MiB, true]);
    // Earlier and leaner than the round rule's 4.945 s / 5063 MiB, with a downtime near the limit.
    expect(r['total-time']).toBeLessThan(4940);
    expect(r.ram['dirty-sync-count']).toBe(6); // setup + 4 live syncs + the final one
  });
});
