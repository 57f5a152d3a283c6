import { runScenario } from '../../src/migration/index';
import { parseScenario } from '../../src/migration/scenario';
import { DirtyPeriod } from '../../src/migration/dirty-period';
import { RateWindow } from '../../src/migration/rate-window';

const MiB = 2 ** 20;

describe("QEMU's rate window (migration_rate_limit / migration_update_counters)", () => {
  it('budgets max-bandwidth/10 per 100 ms window and measures bw, threshold, mbps per window', () => {
    const w = new RateWindow(300, 1024 * MiB, 0);
    expect(w.budget).toBeCloseTo(102.4 * MiB);
    expect(w.threshold).toBe(0); // nothing converges before the first measurement
    expect(w.expectedDowntime).toBe(300);
    w.record(50 * MiB, 12_800);
    expect(w.exceeded).toBe(false);
    expect(w.update(99, 0, 0)).toBe(false); // less than a window: no refresh
    w.record(52.4 * MiB, 13_414);
    expect(w.exceeded).toBe(true);
    expect(w.windowEnd).toBe(100);
    expect(w.update(100, 200 * MiB, 1000)).toBe(true);
    expect(w.bandwidth * 1000).toBeCloseTo(1024 * MiB, -3);
    expect(w.threshold).toBeCloseTo(307.2 * MiB, -3);
    expect(w.mbps).toBeCloseTo((102.4 * MiB * 8) / 0.1 / 1e6, 3);
    expect(w.expectedDowntime).toBeCloseTo(200 / 1.024, 1);
    expect(w.exceeded).toBe(false); // a fresh window
  });

  it('leaves expected-downtime alone without a dirty rate or with ≤ 10 kB moved', () => {
    const w = new RateWindow(300, 128 * MiB, 0);
    w.record(MiB, 256);
    w.update(100, 50 * MiB, 0);
    expect(w.expectedDowntime).toBe(300);
    w.record(10_000, 2);
    w.update(200, 50 * MiB, 500);
    expect(w.expectedDowntime).toBe(300);
  });

  it('closes the window at exactly windowEnd, whatever the floating point of the start', () => {
    const start = 39.798659965327275; // (start + 100) − start < 100 in IEEE doubles
    const w = new RateWindow(300, 128 * MiB, start);
    w.record(w.budget, 3277);
    expect(w.update(w.windowEnd, 0, 0)).toBe(true);
  });

  it('has no budget limit once lifted for stop-and-copy', () => {
    const w = new RateWindow(300, 128 * MiB, 0);
    w.lift();
    w.record(10_000 * MiB, 1);
    expect(w.exceeded).toBe(false);
  });
});

describe('dirty-pages-rate and auto-converge (migration_bitmap_sync / migration_trigger_throttle)', () => {
  const ac = { enabled: true, initial: 20, increment: 10, max: 99, triggerThreshold: 50 };

  it('reports pages newly set in the bitmap per sync period of more than 1 s', () => {
    const p = new DirtyPeriod({ ...ac, enabled: false }, 0);
    expect(p.onSync(400, 1000, 0).periodClosed).toBe(false);
    expect(p.onSync(1000, 1000, 0).periodClosed).toBe(false); // exactly 1 s is not "more than"
    expect(p.dirtyPagesRate).toBe(0);
    expect(p.onSync(1250, 500, 0).periodClosed).toBe(true);
    expect(p.dirtyPagesRate).toBe(2000); // 2500 pages over 1.25 s
    expect(p.syncCount).toBe(3);
  });

  it('throttles on every second high period: 20 %, then +10 % up to the max', () => {
    const p = new DirtyPeriod({ ...ac, max: 45 }, 0);
    const sentPerPeriod = 100 * MiB;
    const dirtyPages = (60 * MiB) / 4096; // 60 % > 50 % of sent
    const steps: number[] = [];
    for (let i = 1; i <= 10; i++) steps.push(p.onSync(i * 1001, dirtyPages, i * sentPerPeriod).throttle);
    expect(steps).toEqual([0, 20, 20, 30, 30, 40, 40, 45, 45, 45]);
  });

  it('never throttles when the dirtied bytes stay under the trigger threshold, or when off', () => {
    const low = new DirtyPeriod(ac, 0);
    const off = new DirtyPeriod({ ...ac, enabled: false }, 0);
    for (let i = 1; i <= 6; i++) {
      low.onSync(i * 1001, (40 * MiB) / 4096, i * 100 * MiB);
      off.onSync(i * 1001, (90 * MiB) / 4096, i * 100 * MiB);
    }
    expect(low.throttle).toBe(0);
    expect(off.throttle).toBe(0);
  });
});

describe('XBZRLE in a migration (query-migrate xbzrle-cache)', () => {
  const scenario = (xbzrle: boolean) => ({
    guest: {
      memory: '8MiB',
      seed: 4,
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'hotcold', rate: '16MiB/s', hot: '1MiB', writeSize: 8 },
    },
    migration: {
      'max-bandwidth': '2MiB/s',
      'downtime-limit': '40ms',
      'max-rounds': 8,
      xbzrle,
      'xbzrle-cache-size': '2MiB',
    },
  });

  it('the capability alone turns the encoding on, and every counter is real', async () => {
    expect(parseScenario(scenario(true)).migration.encodings).toEqual(['zero', 'lz4', 'xbzrle']);
    const r = await runScenario(scenario(true));
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    const c = r['xbzrle-cache']!;
    const sent = r.precopy.rounds.reduce((n, round) => n + round.pagesSent, 0);
    // Small writes to a hot set: most live-round pages are hits sent as small deltas.
    expect(c.pages).toBeGreaterThan(100);
    expect(c['cache-miss']).toBeGreaterThan(0);
    expect(c.pages + c['cache-miss']).toBeLessThanOrEqual(sent - r.precopy.rounds[0]!.pagesSent);
    expect(c.bytes).toBeGreaterThan(0);
    expect(c.bytes).toBeLessThan(c.pages * 100); // a few dozen bytes a delta
    expect(c['encoding-rate']).toBeGreaterThan(10);
    expect(c['cache-miss-rate']).toBeGreaterThan(0);
    expect(c['cache-miss-rate']).toBeLessThanOrEqual(1);
    const off = await runScenario(scenario(false));
    expect(off['xbzrle-cache']).toBeUndefined();
    expect(off.ram.transferred).toBeGreaterThan(r.ram.transferred);
  });
});
