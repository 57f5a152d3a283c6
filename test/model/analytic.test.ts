import { analyticModel as predict } from '../../src/model/analytic';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const golden = { memory: 4 * GiB, rate: GiB, dirtyRate: 200 * MiB, downtimeLimit: 300 };

describe('the analytic model (research §5.2)', () => {
  it('reproduces the golden case: λ 0.195, n 2, 800 MiB then 156 MiB, 153 ms, 5052 MiB, 4.93 s', () => {
    const m = predict(golden);
    expect(m.lambda).toBeCloseTo(0.1953, 4);
    expect(m.threshold / MiB).toBeCloseTo(307.2, 1);
    expect(m.rounds).toBe(2);
    expect(m.closedFormRounds).toBe(2);
    expect(m.converges).toBe(true);
    expect(m.perRound.map((r) => r.bytes / MiB)).toEqual([4096, 800, 156.25]);
    expect(m.downtime).toBeCloseTo(152.6, 1);
    expect(m.bytes / MiB).toBeCloseTo(5052.25, 2);
    expect(m.totalTime / 1000).toBeCloseTo(4.934, 3);
  });

  it('agrees with the closed form n = ⌈ln(V_thd/V_mem)/ln λ⌉ across λ', () => {
    for (const d of [10, 50, 100, 300, 500, 800]) {
      const m = predict({ ...golden, dirtyRate: d * MiB });
      expect([d, m.rounds]).toEqual([d, m.closedFormRounds]);
    }
  });

  it('adds the resume time to downtime and total time', () => {
    const m = predict({ ...golden, resume: 20 });
    expect(m.downtime).toBeCloseTo(172.6, 1);
    expect(m.totalTime / 1000).toBeCloseTo(4.954, 3);
  });

  it('needs WWS < R × downtime-limit with a working set, not just λ < 1 (QEMU test guest)', () => {
    const wws = 25_344 * 4096;
    const slow = predict({
      memory: wws,
      rate: 3e6,
      dirtyRate: 1e9,
      downtimeLimit: 1,
      workingSet: wws,
      maxRounds: 30,
    });
    expect(slow.converges).toBe(false);
    expect(slow.rounds).toBe(30);
    const fast = predict({
      memory: wws,
      rate: 125e6,
      dirtyRate: 1e9,
      downtimeLimit: 30_000,
      workingSet: wws,
    });
    expect(fast.converges).toBe(true);
    // λ = 8 > 1, yet the whole working set fits the 3.75 GB threshold: straight to stop-and-copy.
    expect(fast.lambda).toBe(8);
    expect(fast.rounds).toBe(1);
  });

  it('caps the rounds and reports no convergence when λ ≥ 1 without a working set', () => {
    const m = predict({ ...golden, dirtyRate: 2 * GiB, maxRounds: 5 });
    expect(m.converges).toBe(false);
    expect(m.rounds).toBe(5);
    expect(m.closedFormRounds).toBeNull();
  });

  it('rejects nonsense with the field name', () => {
    expect(() => predict({ ...golden, rate: 0 })).toThrow(/rate must be/);
    expect(() => predict({ ...golden, memory: -1 })).toThrow(/memory must be/);
  });
});
