import { runScenario } from '../../src/migration/index';
import { example, MiB } from './load';

describe('examples/incrementer: QEMU migration-test guest', () => {
  it('does not converge at 3 MB/s with a 1 ms limit: timeout → cancelled, source running', async () => {
    const r = await runScenario(example('incrementer/no-converge.json'));
    expect(r.status).toBe('cancelled');
    expect(r['error-desc']).toMatch(/timeout after 10000 ms/);
    expect(r.precopy.states.slice(-2)).toEqual(['cancelling', 'cancelled']);
    expect(r.ram.transferred).toBeLessThan(3e6 * 10 * 1.05);
    // QEMU's dirty-pages-rate follows the send rate; the guest's own rate is the whole WWS per second.
    expect(r.ram['dirty-pages-rate']).toBeLessThan(3e6 / 4096);
    expect(r.precopy.guestDirtyPagesRate).toBeGreaterThan(20_000);
  });

  it('converges at 1 Gbit/s with a 30 s limit, the destination passing the edge check', async () => {
    const r = await runScenario(example('incrementer/converge.json'));
    expect(r.status).toBe('completed');
    expect(r.precopy.converged).toBe(true);
    expect(r.precopy.verification?.passed).toBe(true);
    expect(r.precopy.verification?.edgeCheck?.passed).toBe(true);
  });
});

describe('examples/hotcold-db', () => {
  it('converges with QEMU defaults within a few rounds, downtime under the limit', async () => {
    const r = await runScenario(example('hotcold-db/scenario.json'));
    expect(r.status).toBe('completed');
    expect(r.precopy.converged).toBe(true);
    expect(r.precopy.verification?.passed).toBe(true);
    expect(r.precopy.rounds.length).toBeLessThanOrEqual(5);
    expect(r.downtime).toBeLessThan(300);
    expect(r.ram.duplicate).toBeGreaterThan(0); // zero pages of the unpopulated 40 %
    expect(r.precopy.rounds[0]!.compressionRatio).toBeGreaterThan(1.5);
  });
});

describe('examples/memory-hog', () => {
  it('does not converge without auto-converge (timeout → cancelled)', async () => {
    const r = await runScenario(example('memory-hog/no-auto-converge.json'));
    expect(r.status).toBe('cancelled');
    expect(r.precopy.rounds.every((x) => x.throttle === 0)).toBe(true);
    expect(r.precopy.rounds.filter((x) => x.lambda > 0.9).length).toBeGreaterThan(3);
  });

  it("converges with auto-converge, stepping QEMU's throttle 20, 30, 40 ... %", async () => {
    const r = await runScenario(example('memory-hog/auto-converge.json'));
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    const steps = [...new Set(r.precopy.rounds.map((x) => x.throttle))].filter((t) => t > 0);
    expect(steps.slice(0, 3)).toEqual([20, 30, 40]);
    steps.forEach((t, i) => i > 0 && expect(t - steps[i - 1]!).toBe(10));
    expect(r['cpu-throttle-percentage']).toBe(steps[steps.length - 1]);
    expect(r.ram.transferred / MiB).toBeGreaterThan(64);
  });
});
