/**
 * Migrations of a generated guest (no page bytes kept at either end): verified by digests, and
 * a lost write still fails verification, as with stored bytes.
 */
import { createSource, migrate, openDestination, runScenario } from '../../src/migration/index';
import { parseScenario } from '../../src/migration/scenario';

const input = (backing: 'stored' | 'generated', over: { guest?: object; migration?: object } = {}) => ({
  guest: {
    memory: '32MiB',
    vcpus: 2,
    seed: 7,
    fill: { populated: '50%', content: 'text' },
    workload: { kind: 'hotcold', rate: '64MiB/s', hot: '1MiB' },
    ...over.guest,
  },
  migration: { 'max-bandwidth': '64MiB/s', 'downtime-limit': '10ms', ...over.migration },
  run: { bandwidth: '1Gbit/s', backing },
});

describe('a generated guest', () => {
  it('migrates and verifies over both transports, with text pages lz4-compressed like stored ones', async () => {
    const stored = await runScenario(input('stored'));
    for (const transport of ['inproc', 'ws'] as const) {
      const generated = await runScenario({
        ...input('generated'),
        run: { ...input('generated').run, transport },
      });
      expect(generated.status).toBe('completed');
      expect(generated.precopy.verification?.passed).toBe(true);
      expect(generated.precopy.rounds.length).toBe(stored.precopy.rounds.length);
      // Different bytes (other windows of the same pools), the same kind of page: sizes close.
      const error = Math.abs(generated.ram.transferred - stored.ram.transferred) / stored.ram.transferred;
      expect(error).toBeLessThan(0.05);
      expect(generated.precopy.rounds[0]!.pagesZero).toBe(stored.precopy.rounds[0]!.pagesZero);
    }
  });

  it("NEGATIVE: the MMU's flush-disabled switch makes verification fail", async () => {
    const scenario = parseScenario(input('generated'));
    const source = createSource(scenario, {
      backing: 'generated',
      faults: { mmu: { skipFlushAfterReprotect: true } },
    });
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link);
    source.stop();
    // After the commit point the guest runs at the destination: completed, but not verified.
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(false);
    expect(r.precopy.verification?.sourceHash).not.toBe(r.precopy.verification?.destinationHash);
  });

  it('NEGATIVE: clearing a chunk after sending it loses writes and fails verification', async () => {
    const scenario = parseScenario(input('generated', { migration: { 'dirty-log': 'manual' } }));
    const source = createSource(scenario, { backing: 'generated' });
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, { faults: { tracker: { clearAfterSend: true } } });
    source.stop();
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(false);
  });

  it("checks QEMU's edge rule on the incrementer's counters, kept at a digests-only destination", async () => {
    const r = await runScenario(
      input('generated', {
        guest: { workload: { kind: 'incrementer', size: '4MiB' } },
        migration: { 'max-bandwidth': '32MiB/s' },
      }),
    );
    expect(r.precopy.verification?.passed).toBe(true);
    expect(r.precopy.verification?.edgeCheck?.passed).toBe(true);
  });
});
