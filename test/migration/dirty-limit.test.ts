import fc from 'fast-check';
import { DirtyLimit, DIRTYLIMIT_TOLERANCE_RANGE } from '../../src/migration/dirty-limit';

const RING = 4096; // entries: 16 MiB of pages per ring-full
const MiB = 1024 * 1024;
/** Ring entries reaped in one second from a vCPU dirtying `mbps` MB/s. */
const entriesAt = (mbps: number): number => (mbps * MiB) / 4096;

describe('dirty-limit controller (DirtyLimit)', () => {
  it('reads each vCPU’s rate from its ring entries per period', () => {
    const limit = new DirtyLimit({ quota: 1, ringEntries: RING, periodMs: 1000 }, 2);
    limit.adjust([entriesAt(100) * 2, 0], 2000);
    expect(limit.rates[0]).toBeCloseTo(100, 9);
    expect(limit.rates[1]).toBe(0);
  });

  it('far above the quota it steps in proportion, capped at 99 ring-full times', () => {
    const limit = new DirtyLimit({ quota: 50, ringEntries: RING, periodMs: 1000 }, 1);
    limit.adjust([entriesAt(200)], 1000);
    // ring-full time 16 MiB / 200 MB/s = 80 000 µs; 75 % off → 80 000 × 75 / 25.
    expect(limit.penaltyUs[0]).toBeCloseTo(240_000, 6);
    const capped = new DirtyLimit({ quota: 1, ringEntries: RING, periodMs: 1000 }, 1);
    capped.adjust([entriesAt(1000)], 1000);
    expect(capped.penaltyUs[0]).toBeCloseTo(16_000 * 99, 6);
  });

  it('near the quota it steps a tenth of the ring-full time; within 25 MB/s it holds', () => {
    const limit = new DirtyLimit({ quota: 100, ringEntries: RING, periodMs: 1000 }, 1);
    limit.adjust([entriesAt(160)], 1000); // 37.5 % off: fixed step of 100 000 µs / 10
    expect(limit.penaltyUs[0]).toBeCloseTo(10_000, 6);
    limit.adjust([entriesAt(100 + DIRTYLIMIT_TOLERANCE_RANGE)], 1000);
    expect(limit.penaltyUs[0]).toBeCloseTo(10_000, 6);
    limit.adjust([entriesAt(70)], 1000); // below: steps back down, never under 0
    expect(limit.penaltyUs[0]).toBe(0);
  });

  it('reports QEMU’s throttle-time-per-round (largest penalty) and ring-full time (mean rate)', () => {
    const limit = new DirtyLimit({ quota: 1, ringEntries: RING, periodMs: 1000 }, 2);
    limit.adjust([entriesAt(200), entriesAt(0)], 1000);
    expect(limit.throttleTimePerRound).toBe(limit.penaltyUs[0]);
    expect(limit.meanPenaltyUs).toBeCloseTo(limit.penaltyUs[0]! / 2, 6);
    // QEMU divides by the highest rate seen (its static max_dirtyrate): 16 MiB at 200 MB/s.
    expect(limit.ringFullTime).toBeCloseTo(80_000, 6);
  });

  it('polls only once started, and then once per period, from the entries reaped in it', () => {
    const limit = new DirtyLimit({ quota: 1, ringEntries: RING, periodMs: 500 }, 1);
    expect(limit.poll(5000, [1e6])).toBe(false);
    limit.start(5000, [1e6]);
    expect(limit.poll(5400, [1e6 + entriesAt(200)])).toBe(false);
    expect(limit.poll(5500, [1e6 + entriesAt(100)])).toBe(true);
    expect(limit.rates[0]).toBeCloseTo(100 * 2, 9); // 100 MB worth in half a second
    expect(limit.penaltyUs[0]).toBeGreaterThan(0);
  });

  it('closed loop: a vCPU serving the penalty per ring-full ends within the tolerance of the quota', () => {
    fc.assert(
      fc.property(fc.integer({ min: 30, max: 4000 }), fc.integer({ min: 1, max: 300 }), (base, quota) => {
        const limit = new DirtyLimit({ quota, ringEntries: RING, periodMs: 1000 }, 1);
        const ringMiB = (RING * 4096) / MiB;
        let rate = base;
        // Near the quota QEMU steps a tenth of the ring-full time at the highest rate seen, so a
        // fast vCPU can need well over 100 periods to settle.
        for (let period = 0; period < 200; period++) {
          limit.adjust([entriesAt(rate)], 1000);
          // The vCPU fills a ring in ringMiB / base s of run, then sleeps the penalty.
          rate = ringMiB / (ringMiB / base + limit.penaltyUs[0]! / 1e6);
        }
        // At most the quota plus the tolerance, or the floor the 99× cap leaves (base / 100).
        expect(rate).toBeLessThanOrEqual(Math.max(quota + DIRTYLIMIT_TOLERANCE_RANGE, base / 100) + 1e-6);
        // Not pushed far below it either, unless already unthrottled.
        if (limit.penaltyUs[0]! > 0)
          expect(rate).toBeGreaterThanOrEqual(quota - DIRTYLIMIT_TOLERANCE_RANGE - 1e-6);
      }),
      { seed: 8, numRuns: 200 },
    );
  });
});
