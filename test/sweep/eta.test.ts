import { fmtEta, sweepEta } from '../../src/sweep/eta';

describe('sweep ETA', () => {
  it('counts only the runs this invocation finished: resumed runs do not make it jump', () => {
    // 40 of 100 runs resumed from the results file; none of this invocation's finished yet.
    expect(sweepEta({ doneAtStart: 40, done: 40, total: 100, elapsedMs: 5_000 })).toBeNull();
    expect(fmtEta(null)).toBe('–');
    // 2 runs in 10 s: 58 to go take 290 s (counting the resumed 40 would say 4 s... then jump).
    expect(sweepEta({ doneAtStart: 40, done: 42, total: 100, elapsedMs: 10_000 })).toBe(290_000);
    expect(sweepEta({ doneAtStart: 0, done: 100, total: 100, elapsedMs: 1 })).toBe(0);
    expect(sweepEta({ doneAtStart: 100, done: 100, total: 100, elapsedMs: 0 })).toBe(0);
  });

  it('reads as a duration at every scale', () => {
    expect(fmtEta(42_000)).toBe('42.0 s');
    expect(fmtEta(185_000)).toBe('3 min 05 s');
    expect(fmtEta(3_599_600)).toBe('1 h 00 min');
    expect(fmtEta(2 * 3600_000 + 7 * 60_000)).toBe('2 h 07 min');
  });
});
