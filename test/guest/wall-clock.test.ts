/**
 * In wall time a guest that falls behind drops what it cannot make and says so. A plain RxJS
 * VirtualTimeScheduler stands in for the wall clock here: the guest treats any clock that is
 * not precopy's VirtualClock as real time (tests never depend on real timing).
 */
import { VirtualTimeScheduler } from 'rxjs';
import { Guest, parseGuestSpec } from '../../src/guest';

describe('wall-clock guest', () => {
  it('reports achieved below requested when it cannot keep up', () => {
    const clock = new VirtualTimeScheduler();
    const spec = parseGuestSpec({
      memory: '64MiB',
      fill: { populated: '0%' },
      workload: { kind: 'uniform', rate: '16GiB/s', size: '1MiB' },
    });
    const guest = Guest.create(spec, clock, { tickMs: 100 });
    guest.start();
    clock.maxFrames = 300;
    clock.flush();
    const stats = guest.stats();
    guest.stop();
    expect(stats.keepingUp).toBe(false);
    expect(stats.missed).toBeGreaterThan(0);
    expect(stats.achievedRate).toBeLessThan(stats.requestedRate);
    expect(stats.writes + stats.missed).toBe(stats.requested);
  });

  it('keeps up at a rate it can make', () => {
    const clock = new VirtualTimeScheduler();
    const spec = parseGuestSpec({
      memory: '64MiB',
      fill: { populated: '0%' },
      workload: { kind: 'uniform', rate: '64MiB/s' },
    });
    const guest = Guest.create(spec, clock, { tickMs: 10 });
    guest.start();
    clock.maxFrames = 1000;
    clock.flush();
    const stats = guest.stats();
    guest.stop();
    expect(stats).toMatchObject({ keepingUp: true, missed: 0 });
    expect(stats.achievedRate).toBeCloseTo(64 * 1024 ** 2, -2);
  });
});
