import fc from 'fast-check';
import { DirtyMeter } from '../../src/guest';

describe('DirtyMeter', () => {
  it('counts writes and distinct pages per window, against a Set model', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(999), { maxLength: 50 }), { maxLength: 20 }),
        fc.nat(3),
        (batches, resetEvery) => {
          const meter = new DirtyMeter(1000);
          const window = meter.open({ regionPages: 100 });
          let model = new Set<number>();
          let writes = 0;
          batches.forEach((batch, i) => {
            meter.record(Uint32Array.from(batch), 0, batch.length);
            batch.forEach((p) => model.add(p));
            writes += batch.length;
            const sample = resetEvery > 0 && i % resetEvery === 0 ? window.reset() : window.sample();
            expect(sample.distinct).toBe(model.size);
            expect(sample.writes).toBe(writes);
            const byRegion = new Array(10).fill(0);
            model.forEach((p) => byRegion[Math.floor(p / 100)]++);
            expect(sample.byRegion).toEqual(byRegion);
            if (resetEvery > 0 && i % resetEvery === 0) {
              model = new Set();
              writes = 0;
            }
          });
        },
      ),
      { seed: 31, numRuns: 100 },
    );
  });

  it('windows are independent, see only writes after they open, and stop when closed', () => {
    const meter = new DirtyMeter(64);
    const first = meter.open();
    meter.record(Uint32Array.of(1, 2, 2), 0, 3);
    const second = meter.open();
    meter.record(Uint32Array.of(2, 3, 9), 1, 3);
    expect(first.sample()).toMatchObject({ writes: 5, distinct: 4 });
    expect(second.sample()).toMatchObject({ writes: 2, distinct: 2 });
    expect(second.has(3) && !second.has(1)).toBe(true);
    first.close();
    meter.record(Uint32Array.of(40), 0, 1);
    expect(first.sample().writes).toBe(5);
    expect(second.sample().writes).toBe(3);
    expect(meter.writes).toBe(6);
  });
});
