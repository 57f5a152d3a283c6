import { createSource, migrate, openDestination, runScenario } from '../../src/migration/index';
import type { MigrationEvent, MigrationResult } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';

/** 32 MiB, a uniform writer: bulk round, one live round, stop-and-copy (downtime-limit 10 ms). */
const base = {
  guest: {
    memory: '32MiB',
    vcpus: 2,
    seed: 7,
    fill: { populated: '50%', content: 'text' },
    workload: { kind: 'uniform', rate: '8MiB/s' },
  },
  migration: { 'max-bandwidth': '64MiB/s', 'downtime-limit': '10ms' },
  run: { bandwidth: '1Gbit/s' },
};

function withMigration(extra: Record<string, unknown>, guest: Record<string, unknown> = {}) {
  return { ...base, guest: { ...base.guest, ...guest }, migration: { ...base.migration, ...extra } };
}

const roundsOf = (r: MigrationResult) => r.precopy.rounds;

describe('the round engine', () => {
  it('is deterministic in virtual time: same scenario and seed, identical round statistics', async () => {
    const a = await runScenario(base);
    const b = await runScenario(base);
    expect(a.status).toBe('completed');
    expect(roundsOf(a).length).toBeGreaterThanOrEqual(3);
    expect(roundsOf(b)).toEqual(roundsOf(a));
    expect(b.ram).toEqual(a.ram);
    expect(b.downtime).toBe(a.downtime);
    const other = await runScenario({ ...base, guest: { ...base.guest, seed: 8 } });
    expect(roundsOf(other)).not.toEqual(roundsOf(a));
  });

  it.each([
    ['get', 'wrprot'],
    ['get', 'dbit'],
    ['manual', 'wrprot'],
    ['manual', 'dbit'],
    ['ring', 'wrprot'],
    ['ring', 'dbit'],
  ])('migrates correctly with dirty-log %s and tracking %s', async (dirtyLog, tracking) => {
    const r = await runScenario(
      withMigration({ 'dirty-log': dirtyLog, tracking }, { workload: { kind: 'uniform', rate: '32MiB/s' } }),
    );
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    expect(roundsOf(r).filter((x) => !x.final).length).toBeGreaterThanOrEqual(2);
    expect(roundsOf(r)[1]!.pagesSent).toBeGreaterThan(0);
  });

  it('NEGATIVE: clearing a chunk after sending it (not before) loses writes and fails verification', async () => {
    const s = withMigration(
      { 'dirty-log': 'manual' },
      { workload: { kind: 'hotcold', rate: '64MiB/s', hot: '1MiB' } },
    );
    const good = await runScenario(s);
    expect(good.precopy.verification?.passed).toBe(true);
    const scenario = parseScenario(s);
    const source = createSource(scenario);
    const link = await openDestination(scenario, source.clock);
    const bad = await migrate(scenario, source, link, { faults: { tracker: { clearAfterSend: true } } });
    source.stop();
    // The destination resumed before it verified: the migration completed, the image is wrong.
    expect(bad.status).toBe('completed');
    expect(bad.precopy.verification?.passed).toBe(false);
    expect(bad.precopy.verification?.reason).toMatch(/image hash .* differs/);
  });

  it("NEGATIVE: the MMU's flush-disabled switch makes verification fail", async () => {
    const s = withMigration({}, { workload: { kind: 'hotcold', rate: '64MiB/s', hot: '1MiB' } });
    const scenario = parseScenario(s);
    const source = createSource(scenario, { faults: { mmu: { skipFlushAfterReprotect: true } } });
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link);
    source.stop();
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(false);
    expect(r.precopy.verification?.sourceHash).not.toBe(r.precopy.verification?.destinationHash);
  });

  it('emits an event per transition and per round, progress at most every 100 ms, never per page', async () => {
    const events: MigrationEvent[] = [];
    const r = await runScenario(base, { onEvent: (e) => events.push(e) });
    const states = events.filter((e) => e.type === 'state');
    const rounds = events.filter((e) => e.type === 'round');
    const progress = events.filter((e) => e.type === 'progress');
    expect(states.map((e) => e.machineState)).toEqual([
      'idle',
      'setup',
      'active.round',
      'switchover',
      'device',
      'prepare',
      'commit',
      'verifying',
      'completed',
    ]);
    expect(rounds.map((e) => e.round)).toEqual(roundsOf(r));
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.time - progress[i - 1]!.time).toBeGreaterThanOrEqual(100);
    expect(events.length).toBeLessThan(states.length + rounds.length + r['total-time'] / 100 + 2);
    expect(events[events.length - 1]).toEqual({ type: 'done', time: r['total-time'], result: r });
  });

  it("reports QEMU's dirty-pages-rate (newly dirty per sync period: follows the send rate) beside the guest's own", async () => {
    // 16 MiB rewritten at 50 MiB/s, sent at 4 MiB/s: never converges; forced after 12 s.
    const r = await runScenario({
      guest: {
        memory: '16MiB',
        seed: 3,
        fill: { populated: '0%' },
        workload: { kind: 'uniform', rate: '50MiB/s' },
      },
      migration: { 'max-bandwidth': '4MiB/s', timeout: '12s', 'on-timeout': 'force', encodings: 'raw' },
    });
    expect(r.status).toBe('completed');
    expect(r.precopy.converged).toBe(false);
    const sendPagesPerSecond = (4 * 2 ** 20) / 4096;
    expect(r.ram['dirty-pages-rate']).toBeGreaterThan(0.6 * sendPagesPerSecond);
    expect(r.ram['dirty-pages-rate']).toBeLessThan(1.3 * sendPagesPerSecond);
    expect(r.precopy.guestDirtyPagesRate).toBeGreaterThan(3 * r.ram['dirty-pages-rate']);
    expect(r.ram['dirty-sync-count']).toBeGreaterThanOrEqual(3);
  });

  it('fills the query-migrate fields consistently', async () => {
    const r = await runScenario(base);
    const rounds = roundsOf(r);
    const wire = rounds.reduce((n, x) => n + x.bytesWire, 0);
    expect(r.ram.total).toBe(32 * 2 ** 20);
    expect(r.ram.remaining).toBe(0);
    expect(r.ram['precopy-bytes'] + r.ram['downtime-bytes']).toBe(r.ram.transferred);
    expect(r.ram.transferred).toBeGreaterThan(wire);
    expect(r.ram.duplicate + r.ram.normal).toBe(rounds.reduce((n, x) => n + x.pagesSent, 0));
    expect(r.ram['normal-bytes']).toBe(r.ram.normal * 4096);
    expect(r.downtime).toBeCloseTo(
      r.precopy.downtimeBreakdown.finalHarvest +
        r.precopy.downtimeBreakdown.finalSend +
        r.precopy.downtimeBreakdown.vcpuState +
        r.precopy.downtimeBreakdown.destinationResume,
      6,
    );
    expect(r.precopy.destinationDowntime).toBeGreaterThan(0);
    expect(r.precopy.states).toEqual(['none', 'setup', 'active', 'completed']);
    expect(rounds[rounds.length - 1]!.final).toBe(true);
    expect(r.precopy.predictionError.length).toBe(rounds.length - 1);
  });

  it('holds at pre-switchover until migrate-continue, reporting pre-switchover then device', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const scenario = parseScenario(withMigration({ 'pause-before-switchover': true }));
    const source = createSource(scenario);
    const link = await openDestination(scenario, source.clock);
    const running = migrate(scenario, source, link, {
      continueSwitchover: () => held,
      onEvent: (e) => {
        if (e.type === 'state') seen.push(e.status);
        if (e.type === 'state' && e.status === 'pre-switchover') setImmediate(release);
      },
    });
    const r = await running;
    source.stop();
    expect(r.status).toBe('completed');
    expect(r.precopy.states).toEqual(['none', 'setup', 'active', 'pre-switchover', 'device', 'completed']);
  });
});
