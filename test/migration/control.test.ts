/**
 * MigrationControl (src/migration/control.ts): QEMU's migrate_cancel, migrate-continue after
 * pause-before-switchover, and live migrate-set-parameters for max-bandwidth and downtime-limit,
 * applied from the next rate window. In process, virtual time.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { createSource, migrate, openDestination, runScenario } from '../../src/migration/index';
import { ControlError, MigrationControl } from '../../src/migration/control';
import type { MigrationEvent, MigrationResult } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';
import { RateWindow } from '../../src/migration/rate-window';

const MiB = 2 ** 20;

/** 32 MiB, dirtied at 24 MiB/s over a 32 MiB/s link: many rounds, never converging on its own. */
function busyScenario(extra: Record<string, unknown> = {}) {
  return {
    guest: {
      memory: '32MiB',
      seed: 3,
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'uniform', rate: '24MiB/s' },
    },
    migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms', timeout: '20s', ...extra },
    run: { clock: 'virtual', transport: 'inproc', bandwidth: '1Gbit/s' },
  };
}

/** Resolves with the first event `match` accepts. */
function when(events: MigrationEvent[], listeners: ((e: MigrationEvent) => void)[]) {
  return (match: (e: MigrationEvent) => boolean) =>
    new Promise<MigrationEvent>((resolve) => {
      const found = events.find(match);
      if (found) return resolve(found);
      listeners.push((e) => match(e) && resolve(e));
    });
}

function recorder() {
  const events: MigrationEvent[] = [];
  const listeners: ((e: MigrationEvent) => void)[] = [];
  const onEvent = (e: MigrationEvent) => {
    events.push(e);
    for (const l of listeners) l(e);
  };
  return { events, onEvent, when: when(events, listeners) };
}

/** Yield to the event loop between windows, as the CLI's pacer does. */
const pace = () => turn();

describe('cancel', () => {
  /** A cancel from the host's event loop (a signal, a button) once round 2 has closed. */
  async function cancelAtRound2(withPace: boolean) {
    const scenario = parseScenario(busyScenario());
    const source = createSource(scenario);
    const link = await openDestination(scenario, source.clock);
    const control = new MigrationControl();
    const rec = recorder();
    const run = migrate(scenario, source, link, {
      control,
      onEvent: rec.onEvent,
      ...(withPace ? { pace } : {}),
    });
    void rec
      .when((e) => e.type === 'round' && e.round.round === 2)
      .then(() => setImmediate(() => control.cancel('operator said so')));
    const result = await run;
    source.stop();
    return { result, source, link, control };
  }

  it('ends cancelled with the guest on the source, the destination told (it discards)', async () => {
    const { result, source, link, control } = await cancelAtRound2(true);
    expect(result.status).toBe('cancelled');
    expect(result['error-desc']).toBe('operator said so');
    expect(result.precopy.guestRunsOn).toBe('source');
    expect(source.guest.paused).toBe(false);
    expect(link.destination!.lastOutcome?.kind).toBe('discarded');
    expect(control.state).toBe('finished');
  });

  it('negative: without host turns a virtual run never yields, so the same cancel lands after its end', async () => {
    const { result } = await cancelAtRound2(false);
    expect(result.status).not.toBe('cancelled');
  });
});

describe('pause-before-switchover and continue', () => {
  it('holds in pre-switchover until continue, then completes and verifies', async () => {
    const control = new MigrationControl();
    const rec = recorder();
    let settled = false;
    const run = runScenario(
      {
        ...busyScenario({ 'pause-before-switchover': true }),
        guest: { ...busyScenario().guest, workload: { kind: 'idle' } },
      },
      { control, pace, onEvent: rec.onEvent },
    ).finally(() => (settled = true));
    await rec.when((e) => e.type === 'state' && e.status === 'pre-switchover');
    expect(control.state).toBe('waiting-for-continue');
    for (let i = 0; i < 50; i++) await turn();
    expect(settled).toBe(false);
    control.continue();
    const result = await run;
    expect(result.status).toBe('completed');
    expect(result.precopy.verification?.passed).toBe(true);
    expect(result.precopy.states).toContain('pre-switchover');
  });

  it('a cancel while held ends cancelled (the hold does not swallow it)', async () => {
    const control = new MigrationControl();
    const rec = recorder();
    const run = runScenario(
      {
        ...busyScenario({ 'pause-before-switchover': true }),
        guest: { ...busyScenario().guest, workload: { kind: 'idle' } },
      },
      { control, pace, onEvent: rec.onEvent },
    );
    await rec.when((e) => e.type === 'state' && e.status === 'pre-switchover');
    control.cancel();
    const result = await run;
    expect(result.status).toBe('cancelled');
    expect(result.precopy.guestRunsOn).toBe('source');
  });
});

describe('set-parameters', () => {
  /** Rounds' send rates before and after max-bandwidth drops from 32 to 8 MiB/s at round 3. */
  async function dropBandwidth(): Promise<MigrationResult> {
    const control = new MigrationControl();
    const rec = recorder();
    const run = runScenario(busyScenario({ timeout: '12s' }), { control, pace, onEvent: rec.onEvent });
    await rec.when((e) => e.type === 'round' && e.round.round === 3);
    control.setParameters({ 'max-bandwidth': '8MiB/s', 'downtime-limit': '20ms' });
    return run;
  }

  it('max-bandwidth and downtime-limit take effect from the next window, in the rounds and the result', async () => {
    const result = await dropBandwidth();
    const changes = result.precopy.parameterChanges!;
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ 'max-bandwidth': 8 * MiB, 'downtime-limit': 20 });
    const rounds = result.precopy.rounds.filter((r) => !r.final && !r.partial);
    const before = rounds.filter((r) => r.start + r.duration <= changes[0]!.time);
    const after = rounds.filter((r) => r.start >= changes[0]!.time);
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(after.length).toBeGreaterThan(0);
    for (const r of before) {
      expect(r.maxBandwidth).toBe(32 * MiB);
      expect(r.downtimeLimit).toBe(50);
      expect(r.sendRate).toBeGreaterThan(16 * MiB);
    }
    for (const r of after) {
      expect(r.maxBandwidth).toBe(8 * MiB);
      expect(r.downtimeLimit).toBe(20);
      expect(r.sendRate).toBeLessThanOrEqual(8 * MiB * 1.05);
    }
  });

  it('negative: a rate window that ignores the new max-bandwidth is caught by the send rates', async () => {
    const spy = jest.spyOn(RateWindow.prototype, 'setMaxBandwidth').mockImplementation(() => undefined);
    try {
      const result = await dropBandwidth();
      const after = result.precopy.rounds.filter(
        (r) => !r.final && !r.partial && r.start >= result.precopy.parameterChanges![0]!.time,
      );
      expect(after.some((r) => r.sendRate > 8 * MiB * 1.05)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('a bad request names the field (its spelling) and applies nothing', () => {
    const control = new MigrationControl();
    expect(() => control.setParameters({ 'max-bandwith': '1GiB/s' } as never)).toThrow(
      new ControlError('unknown parameter "max-bandwith" (settable: max-bandwidth, downtime-limit)'),
    );
    expect(() => control.setParameters({ 'downtime-limit': 'soon' })).toThrow(
      /downtime-limit: not a duration/,
    );
    expect(() => control.setParameters({ 'max-bandwidth': '1GiB/s', 'downtime-limit': '0ms' })).toThrow(
      /downtime-limit: 0ms is outside the allowed range \(0, 2000s\]/,
    );
    expect(control.takeParameters()).toEqual({});
  });
});

it('pacing changes nothing the migration computes (same JSON with and without host turns)', async () => {
  const scenario = busyScenario({ timeout: '4s' });
  const plain = await runScenario(scenario);
  let turns = 0;
  const paced = await runScenario(scenario, { pace: () => turn().then(() => void turns++) });
  expect(turns).toBeGreaterThan(10);
  expect(JSON.stringify(paced)).toBe(JSON.stringify(plain));
});
