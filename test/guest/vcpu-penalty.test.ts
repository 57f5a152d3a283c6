import { makeGuest } from './helpers';

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

  it('the slowdown follows T / (T + penalty) for the ring-full time T', () => {
    const { guest, clock } = makeGuest(twoWriters, { dirtyRing: 1024 });
    guest.setVcpuPenalty(1, 1_500_000); // T = 1024 / 2.048 pages/ms = 500 ms: runs a quarter
    guest.start();
    clock.advanceTo(20_000);
    guest.stop();
    expect(guest.vcpuWrites(1) / guest.vcpuWrites(0)).toBeCloseTo(0.25, 2);
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
