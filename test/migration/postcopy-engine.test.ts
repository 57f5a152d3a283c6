/**
 * The engine switches to postcopy (capability postcopy-ram): after N rounds, on a stall, when the
 * predictor says pre-copy will not converge, or on migrate-start-postcopy from the API. A
 * workload pre-copy cannot converge (hotcold 24 MiB/s over 16 MiB/s) completes through postcopy,
 * verified, over the in-process link and over WebSocket.
 */
import { runScenario } from '../../src/migration/index';

const GUEST = {
  memory: '4MiB',
  seed: 7,
  fill: { populated: '100%', content: 'random' },
  workload: { kind: 'hotcold', rate: '24MiB/s', hot: '2MiB' },
};
const MIGRATION = { 'max-bandwidth': '16MiB/s', 'downtime-limit': '20ms', 'max-rounds': 6 };
const RUN = { latency: '1ms', 'post-run': '0ms', bandwidth: '16MiB/s' };

describe('postcopy from the engine', () => {
  it('pre-copy does not converge; postcopy-after-rounds 2 completes it, verified, inproc and ws', async () => {
    const pre = await runScenario({ guest: GUEST, migration: MIGRATION, run: RUN });
    expect(pre.precopy.converged).toBe(false);
    for (const transport of ['inproc', 'ws'] as const) {
      const r = await runScenario({
        guest: GUEST,
        migration: { ...MIGRATION, 'postcopy-ram': true, 'postcopy-after-rounds': 2 },
        run: { ...RUN, transport },
      });
      expect(r.status).toBe('completed');
      expect(r.precopy.stopReason).toBe('postcopy');
      expect(r.precopy.verification?.passed).toBe(true);
      expect(r.precopy.states).toContain('postcopy-active');
      expect(r.precopy.rounds.filter((x) => !x.final)).toHaveLength(2);
      const pc = r.precopy.postcopy!;
      expect(pc.status).toBe('completed');
      expect(pc['postcopy-requests']).toBeGreaterThan(0);
      expect(r.downtime).toBeLessThan(pre.downtime);
      process.stdout.write(
        `${transport}: total ${r['total-time'].toFixed(1)} ms downtime ${r.downtime.toFixed(2)} ms requests ${pc['postcopy-requests']} blocktime ${pc['postcopy-vcpu-blocktime'].map((b) => b.toFixed(1))}; pre-copy downtime ${pre.downtime.toFixed(1)}\n`,
      );
    }
  });
});
