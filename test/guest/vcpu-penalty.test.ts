import { interval } from 'rxjs';
import type { Guest } from '../../src/guest';
import type { VirtualClock } from '../../src/util/clock';
import { makeGuest } from './helpers';

/** Log dirty pages through the rings and reap them every 50 ms, as the migration's tracker does. */
function reapRings(guest: Guest, clock: VirtualClock): void {
  guest.setDirtyLogging(true);
  interval(50, clock).subscribe(() => {
    for (const vcpu of guest.vm.vcpus) vcpu.harvestDirtyRing();
    guest.vm.resetDirtyRings();
  });
}

describe('dirty-limit per-vCPU penalty (Guest.setVcpuPenalty)', () => {
  const twoWriters = {
    memory: '64MiB',
    vcpus: 2,
    fill: { populated: '0%' },
    workload: { kind: 'uniform', rate: '16MiB/s' },
  };

  it('a penalised vCPU writes proportionally less; the other is unaffected', () => {
    const free = makeGuest(twoWriters);
    const limited = makeGuest(twoWriters);
    // 8 MiB/s per vCPU fills a 4096-entry ring every 2 s; sleeping 2 s per ring-full halves it.
    limited.guest.setVcpuPenalty(0, 2_000_000);
    for (const { guest, clock } of [free, limited]) {
      guest.start();
      clock.advanceTo(20_000);
      guest.stop();
    }
    expect(free.guest.vcpuWrites(0)).toBe(40960);
    expect(limited.guest.vcpuWrites(0) / free.guest.vcpuWrites(0)).toBeCloseTo(0.5, 2);
    expect(limited.guest.vcpuWrites(1)).toBe(free.guest.vcpuWrites(1));
    expect(limited.guest.vcpuPenalty(0)).toBe(2_000_000);
  });

  it('with a ring, the slowdown follows T / (T + penalty) for the ring-full time T', () => {
    const { guest, clock } = makeGuest(twoWriters, { dirtyRing: 1024 });
    reapRings(guest, clock);
    guest.setVcpuPenalty(1, 1_500_000); // T = 1024 / 2.048 pages/ms = 500 ms: runs a quarter
    guest.start();
    clock.advanceTo(20_000);
    guest.stop();
    // Nearly every write dirties a fresh page (and pushes an entry), so the quarter holds.
    expect(guest.vcpuWrites(1) / guest.vcpuWrites(0)).toBeCloseTo(0.25, 1);
  });

  it('with a ring, the penalty is charged per entry pushed: rewriting pages already dirty costs nothing', () => {
    // Every write lands in 32 hot pages: between two reaps a vCPU pushes at most 32 entries
    // (about 100 writes per vCPU per 50 ms window), however often it writes.
    const small = {
      ...twoWriters,
      workload: { kind: 'hotcold', rate: '16MiB/s', hot: '128KiB', hotShare: 1 },
    };
    const { guest, clock } = makeGuest(small, { dirtyRing: 1024 });
    reapRings(guest, clock);
    guest.setVcpuPenalty(1, 1_500_000);
    guest.start();
    clock.advanceTo(20_000);
    guest.stop();
    // Charged per write, as before, it would run a quarter of the time; per entry, far more.
    expect(guest.vcpuWrites(1) / guest.vcpuWrites(0)).toBeGreaterThan(0.6);
  });

  it('lifting the penalty restores the full rate', () => {
    const { guest, clock } = makeGuest(twoWriters);
    guest.setVcpuPenalty(0, 2_000_000);
    guest.start();
    clock.advanceTo(10_000);
    guest.setVcpuPenalty(0, 0);
    const before = guest.vcpuWrites(0);
    clock.advanceTo(20_000);
    guest.stop();
    // At most the one ring-full's sleep already earned (2 s) is still served after the lift.
    expect(guest.vcpuWrites(0) - before).toBeGreaterThanOrEqual(2.048 * 8000 - 1);
  });

  it('rejects a vCPU or penalty out of range, naming it', () => {
    const { guest } = makeGuest(twoWriters);
    expect(() => guest.setVcpuPenalty(2, 1)).toThrow(/vcpu 2 is outside the allowed range \[0, 1\]/);
    expect(() => guest.setVcpuPenalty(0, -1)).toThrow(/usPerRingFull -1/);
  });
});
