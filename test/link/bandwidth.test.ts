import { RateMeter, TokenBucket, transferTimeMs } from '../../src/link/bandwidth';
import { VirtualClock } from '../../src/util/clock';

describe('virtual-time link model', () => {
  test('a transfer takes bytes / bandwidth plus latency', () => {
    expect(transferTimeMs(1 << 20, { bandwidth: 1 << 20, latencyMs: 0 })).toBe(1000);
    expect(transferTimeMs(4096, { bandwidth: 4096 * 1000, latencyMs: 2 })).toBeCloseTo(3);
    expect(transferTimeMs(4096, { bandwidth: 4096 * 1000, latencyMs: 2 }, 2)).toBeCloseTo(5);
    expect(transferTimeMs(0, { bandwidth: 1, latencyMs: 2 }, 0)).toBe(0);
    expect(() => transferTimeMs(1, { bandwidth: 0, latencyMs: 0 })).toThrow(/bandwidth must be > 0/);
    expect(() => transferTimeMs(1, { bandwidth: 1, latencyMs: -1 })).toThrow(/latency must be ≥ 0/);
  });
});

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('token bucket (max-bandwidth)', () => {
  /** Take `chunks` × `size` bytes as fast as allowed; returns the virtual time it took. */
  async function drain(
    bucket: TokenBucket,
    clock: VirtualClock,
    chunks: number,
    size: number,
  ): Promise<number> {
    const start = clock.now();
    for (let i = 0; i < chunks; i++) {
      let done = false;
      void bucket.take(size).then(() => (done = true));
      await settle();
      // Advance the virtual clock until the bucket's sleep comes due.
      while (!done) {
        clock.advanceBy(1);
        await settle();
      }
    }
    return clock.now() - start;
  }

  test('holds a stream to its rate, with at most one window of burst', async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1_000_000, clock); // 1 MB/s, 100 kB window
    const ms = await drain(bucket, clock, 50, 20_000); // 1 MB
    // 1 MB at 1 MB/s, less the 100 kB the full bucket starts with.
    expect(ms).toBeGreaterThanOrEqual(899);
    expect(ms).toBeLessThanOrEqual(902);
  });

  test('rate 0 is unlimited and setRate lifts the cap mid-stream', async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(0, clock);
    expect(await drain(bucket, clock, 100, 1 << 20)).toBe(0);
    bucket.setRate(100_000);
    expect(await drain(bucket, clock, 3, 10_000)).toBeGreaterThan(0);
    bucket.setRate(0);
    expect(await drain(bucket, clock, 3, 10_000)).toBe(0);
    expect(() => bucket.setRate(-1)).toThrow(/max-bandwidth must be a finite rate/);
  });
});

describe('measured rate', () => {
  test('reports bytes per second of the last complete 100 ms window', () => {
    const clock = new VirtualClock();
    const meter = new RateMeter(clock);
    meter.record(5000);
    expect(meter.rate()).toBe(0); // no window closed yet
    clock.advanceBy(50);
    meter.record(5000);
    clock.advanceBy(50);
    expect(meter.rate()).toBe(100_000); // 10 kB in 100 ms
    clock.advanceBy(100);
    expect(meter.rate()).toBe(0); // an idle window
  });
});
