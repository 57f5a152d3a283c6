/**
 * The engine switches to postcopy (capability postcopy-ram): after N rounds, on a stall, when the
 * predictor says pre-copy will not converge, or on migrate-start-postcopy from the API. A
 * workload pre-copy cannot converge (hotcold 24 MiB/s over 16 MiB/s) completes through postcopy,
 * verified, over the in-process link and over WebSocket.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlError, MigrationControl } from '../../src/migration/control';
import { Destination } from '../../src/dest/destination';
import { connectSource, type Acceptor, type Transport } from '../../src/link/index';
import { createSource, migrate, runScenario, type MigrationResult } from '../../src/migration/index';
import { FrameType } from '../../src/wire/constants';
import { parseScenario } from '../../src/migration/scenario';
import { precopy } from '../cli/in-process';

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
    // Pre-copy alone costs the guest its downtime only (no throttle, no blocktime).
    expect(pre.precopy.guestSlowdown).toMatchObject({ liveMs: 0, blocktimeMs: 0, downtimeMs: pre.downtime });
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
      // The guest's slowdown: its vCPUs' blocktime (mean) and the downtime, over the migration.
      const slow = r.precopy.guestSlowdown!;
      const blocked = pc['postcopy-vcpu-blocktime'];
      expect(slow.blocktimeMs).toBeCloseTo(blocked.reduce((a, b) => a + b, 0) / blocked.length, 9);
      expect(slow.downtimeMs).toBe(r.downtime);
      expect(slow.share).toBeCloseTo(
        (slow.liveMs + slow.downtimeMs + slow.blocktimeMs) / (r['total-time'] - r['setup-time']),
        9,
      );
      process.stdout.write(
        `${transport}: total ${r['total-time'].toFixed(1)} ms downtime ${r.downtime.toFixed(2)} ms requests ${pc['postcopy-requests']} blocktime ${pc['postcopy-vcpu-blocktime'].map((b) => b.toFixed(1))}; pre-copy downtime ${pre.downtime.toFixed(1)}\n`,
      );
    }
  });

  it('migrate-start-postcopy from the API switches at the next decision; refused without postcopy-ram or after the end', async () => {
    const control = new MigrationControl();
    const events: string[] = [];
    const r = await runScenario(
      { guest: GUEST, migration: { ...MIGRATION, 'postcopy-ram': true }, run: RUN },
      {
        control,
        onEvent: (e) => {
          if (e.type === 'round' && e.round.round === 1) control.startPostcopy();
          if (e.type === 'state') events.push(e.status);
        },
      },
    );
    expect(r.status).toBe('completed');
    expect(r.precopy.stopReason).toBe('postcopy');
    // Asked while round 1 closed (its round event): it acts at round 1's own decision.
    expect(r.precopy.rounds.filter((x) => !x.final)).toHaveLength(2);
    expect(r.precopy.verification?.passed).toBe(true);
    expect(events).toContain('postcopy-active');
    expect(() => control.startPostcopy()).toThrow(ControlError);
    expect(() => control.startPostcopy()).toThrow(/has ended/);
    const off = new MigrationControl();
    const plain = runScenario(
      { guest: GUEST, migration: MIGRATION, run: RUN },
      {
        control: off,
        onEvent: (e) => {
          if (e.type === 'round' && e.round.round === 0)
            expect(() => off.startPostcopy()).toThrow(/postcopy-ram capability is off/);
        },
      },
    );
    expect((await plain).precopy.stopReason).toBe('max-rounds');
  });

  it('on a stall (the first sync that leaves no fewer bytes) and on the prediction (after the bulk round)', async () => {
    const run = (trigger: 'postcopy-on-stall' | 'postcopy-on-prediction') =>
      runScenario({
        guest: GUEST,
        migration: { ...MIGRATION, 'postcopy-ram': true, [trigger]: true },
        run: RUN,
      });
    const stall = await run('postcopy-on-stall');
    expect([stall.status, stall.precopy.stopReason, stall.precopy.verification?.passed]).toEqual([
      'completed',
      'postcopy',
      true,
    ]);
    // The hot set shrinks the remaining a little each round until one round leaves more: then.
    const left = stall.precopy.rounds.filter((x) => !x.final).map((x) => x.remaining);
    expect(left.at(-1)).toBeGreaterThanOrEqual(Math.min(...left.slice(0, -1)));
    expect(left.slice(0, -1).every((x, i, all) => i === 0 || x < all[i - 1]!)).toBe(true);
    // The predictor says forced from the bulk round on: postcopy right after it.
    const predicted = await run('postcopy-on-prediction');
    expect(predicted.precopy.rounds[0]!.predictedOutcome).toBe('forced');
    expect(predicted.precopy.rounds.filter((x) => !x.final)).toHaveLength(1);
    expect([predicted.precopy.stopReason, predicted.precopy.verification?.passed]).toEqual([
      'postcopy',
      true,
    ]);
  });

  it('negative: the triggers without postcopy-ram, and postcopy-ram with multifd, are refused naming the field', () => {
    expect(() => parseScenario({ migration: { 'postcopy-after-rounds': 2 } })).toThrow(
      /migration\.postcopy-ram: postcopy-after-rounds, postcopy-on-stall and postcopy-on-prediction need postcopy-ram/,
    );
    expect(() => parseScenario({ migration: { 'postcopy-ram': true, multifd: true } })).toThrow(
      /migration\.postcopy-ram: postcopy-ram with multifd is not modelled/,
    );
  });

  it('precopy run --postcopy-ram --postcopy-after-rounds 2 (inproc and ws): completes, verified, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-postcopy-'));
    try {
      for (const transport of ['inproc', 'ws']) {
        const json = join(dir, `${transport}.json`);
        const r = await precopy(
          'run',
          '--memory',
          '4MiB',
          '--seed',
          '7',
          '--populated',
          '100%',
          '--content',
          'random',
          '--workload',
          'hotcold',
          '--rate',
          '24MiB/s',
          '--hot',
          '2MiB',
          '--max-bandwidth',
          '16MiB/s',
          '--bandwidth',
          '16MiB/s',
          '--downtime-limit',
          '20ms',
          '--latency',
          '1ms',
          '--post-run',
          '0ms',
          '--max-rounds',
          '6',
          '--postcopy-ram',
          '--postcopy-after-rounds',
          '2',
          '--transport',
          transport,
          '--json',
          json,
        );
        expect([transport, r.code]).toEqual([transport, 0]);
        const result = JSON.parse(readFileSync(json, 'utf8')) as MigrationResult;
        expect(result.precopy.stopReason).toBe('postcopy');
        expect(result.precopy.verification?.passed).toBe(true);
        expect(result.precopy.postcopy?.['postcopy-requests']).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a link lost in postcopy: both sides pause, the engine recovers it a second later, verified', async () => {
    const scenario = parseScenario({
      guest: GUEST,
      migration: { ...MIGRATION, 'postcopy-ram': true, 'postcopy-after-rounds': 2 },
      run: RUN,
    });
    const token = 'postcopy-loss';
    const destination = new Destination({ token });
    // The destination's end of the main link closes 30 frames into postcopy (after BITMAP(discard)).
    const dropping = (t: Transport): Transport => {
      let inPostcopy = -1;
      return {
        send: (f, done) => t.send(f, done),
        close: (code, reason) => t.close(code, reason),
        bufferedAmount: 0,
        deliversSealedFrames: t.deliversSealedFrames,
        setHandlers: (h) =>
          t.setHandlers({
            message: (f) => {
              if (inPostcopy < 0 && f[5] === FrameType.BITMAP) inPostcopy = 0;
              if (inPostcopy >= 0 && ++inPostcopy === 30) return t.close(1011, 'dropped (test)');
              h.message(f);
            },
            close: h.close,
          }),
      };
    };
    const acceptor: Acceptor = {
      attach: (t) => destination.attach(dropping(t)),
      attachChannel: (t, i) => destination.attachChannel(t, i),
      attachQuery: (t) => destination.attachQuery(t),
      attachRecovery: (t) => destination.attachRecovery(t),
    };
    const source = createSource(scenario, { backing: 'stored' });
    try {
      const r = await migrate(scenario, source, {
        connect: () =>
          connectSource({
            transport: 'inproc',
            token,
            destination: acceptor,
            clock: source.clock,
            keepaliveMs: 0,
          }),
        close: async () => undefined,
      });
      expect([r.status, r.precopy.stopReason, r.precopy.verification?.passed]).toEqual([
        'completed',
        'postcopy',
        true,
      ]);
      const pc = r.precopy.postcopy!;
      expect(pc.recoveries).toBe(1);
      expect(pc.states).toEqual([
        'postcopy-active',
        'postcopy-paused',
        'postcopy-recover',
        'postcopy-active',
        'completed',
      ]);
      expect(r.precopy.states).toEqual(expect.arrayContaining(['postcopy-paused', 'postcopy-recover']));
      // Paused for the engine's second at least: the blocked vCPU waited through it.
      expect(Math.max(...pc['postcopy-vcpu-blocktime'])).toBeGreaterThan(1000);
    } finally {
      source.stop();
    }
  });
});
