/**
 * Cancel, link loss and destination crash injected in every state of the source machine
 * (enumerated from the chart with @xstate/graph). Before GO (the commit point) each ends
 * cancelled or failed with the source guest running, its memory intact (QEMU's edge rule over
 * the incrementer), the destination discarded, and a retry to a fresh destination completes and
 * verifies. From GO on a cancel is refused and the migration completes: the guest runs on the
 * destination and the source's stays paused. Never do both sides run it (issue 16, item 1).
 */
import { getShortestPaths } from '@xstate/graph';
import fc from 'fast-check';
import type { AnyEventObject } from 'xstate';
import { sourceMachine, stateName } from '../../machines/source.machine';
import { Destination } from '../../src/dest/destination';
import { checkEdgeRule } from '../../src/guest/edge-rule';
import { connectSource, type Acceptor } from '../../src/link/index';
import type { InprocEndpoint } from '../../src/link/inproc';
import { createSource, migrate, openDestination, type DestinationLink } from '../../src/migration/index';
import { parseScenario } from '../../src/migration/scenario';
import type { VirtualClock } from '../../src/util/clock';

const scenario = parseScenario({
  guest: {
    memory: '16MiB',
    seed: 11,
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'incrementer', rate: '2MiB/s' },
  },
  migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '100ms', 'pause-before-switchover': true },
});

/** The resting states of the source machine, from the chart itself. */
function restingStates(): string[] {
  const ids = [
    'setupMigration',
    'runRound',
    'switchover',
    'sendDeviceState',
    'prepareDestination',
    'commitSwitchover',
    'verifyDestination',
    'rollback',
    'settleOrphaned',
  ];
  const outcomes: AnyEventObject[] = ids.flatMap((id) => [
    {
      type: `xstate.done.actor.${id}`,
      output:
        id === 'runRound'
          ? // A round whose synced dirty set is empty: the threshold guard switches over.
            { atDeadline: false, rounds: 1, elapsed: 1, remainingPages: 0, remainingBytes: 0 }
          : id === 'verifyDestination'
            ? { passed: true }
            : undefined,
    },
  ]);
  const paths = getShortestPaths(sourceMachine, {
    input: {
      maxRounds: 5,
      timeout: 1000,
      onTimeout: 'cancel',
      pauseBeforeSwitchover: true,
      stopRule: 'qemu',
      stallMargin: 0.1,
      stallDowntime: null,
    },
    events: ((s: { children: Record<string, unknown> }) => [
      { type: 'START' },
      { type: 'CONTINUE' },
      ...outcomes.filter((e) => s.children[e.type.replace('xstate.done.actor.', '')]),
    ]) as never,
  });
  return paths.filter((p) => p.state.status === 'active').map((p) => stateName(p.state.value));
}

/** An in-process destination whose link the test can cut or crash at any moment. */
function faultyLink(clock: VirtualClock) {
  const token = 'faulty-link-token';
  const destination = new Destination({ token, clock });
  let endpoint: InprocEndpoint | undefined;
  let fault: ((e: InprocEndpoint) => void) | undefined;
  let crashed = false;
  // The in-process link attaches InprocEndpoints; the proxy keeps the one it was given.
  const proxy: Acceptor = {
    attach(t: InprocEndpoint) {
      endpoint = t;
      const accepted = destination.attach(t);
      if (fault) fault(t);
      return accepted;
    },
    attachChannel: (t, index) => destination.attachChannel(t, index),
    attachRecovery: (t) => destination.attachRecovery(t),
    // The recovery query: a crashed destination is not there to answer it.
    attachQuery: (t) => {
      if (crashed) t.close(1001, 'gone');
      else destination.attachQuery(t);
    },
  };
  const link: DestinationLink = {
    connect: () =>
      connectSource({
        transport: 'inproc',
        token,
        destination: proxy,
        encodings: ['zero', 'lz4'],
        clock,
        keepaliveMs: 0,
        // A crashed destination is given up on quickly (wall-clock scheduler).
        deadlines: { recoveryMs: 100, retryMs: 10 },
      }),
    close: async () => undefined,
  };
  const inject = (f: (e: InprocEndpoint) => void) => (endpoint ? f(endpoint) : (fault = f));
  return {
    link,
    destination,
    dropLink: () => inject((e) => e.drop()),
    crashDestination: () => {
      crashed = true;
      inject((e) => e.close(1011, 'destination crashed'));
    },
  };
}

async function expectSourceHealthyAndRetryVerifies(source: ReturnType<typeof createSource>) {
  const { guest } = source;
  expect(guest.paused).toBe(false);
  expect(guest.throttle).toBe(0);
  const before = guest.guest.writes;
  (source.clock as VirtualClock).advanceBy(50);
  guest.catchUp();
  expect(guest.guest.writes).toBeGreaterThan(before); // still running
  const region = guest.edgeRegion!;
  expect(checkEdgeRule(guest.memory, region.firstPage, region.pages).passed).toBe(true); // intact
  const fresh = await openDestination(scenario, source.clock);
  const retry = await migrate(scenario, source, fresh);
  expect(retry.status).toBe('completed');
  expect(retry.precopy.verification?.passed).toBe(true);
  expect(retry.precopy.verification?.edgeCheck?.passed).toBe(true);
}

const states = restingStates();
/** States where GO has been sent: the migration can only complete (or, link lost, end unknown). */
const COMMITTED = new Set(['commit', 'verifying']);

describe('rollback from every state', () => {
  it('enumerates the resting states from the chart', () => {
    expect(states).toEqual([
      'idle',
      'setup',
      'active.round',
      'preSwitchover',
      'switchover',
      'device',
      'prepare',
      'commit',
      'verifying',
    ]);
  });

  it.each(states)('cancel in %s: exactly one guest runs, and the result says which', async (state) => {
    const source = createSource(scenario);
    const controller = new AbortController();
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'state' && e.machineState === state) controller.abort('user cancel');
      },
    });
    await link.destination!.whenIdle();
    const destination = link.destination!.lastOutcome;
    if (COMMITTED.has(state)) {
      // Refused: the guest runs on the destination, the source's stays paused.
      expect(r.status).toBe('completed');
      expect(r.precopy.refusedCancel).toBe('user cancel');
      expect(r.precopy.guestRunsOn).toBe('destination');
      expect(r.precopy.verification?.passed).toBe(true);
      expect(destination?.kind).toBe('resumed');
      expect(source.guest.paused).toBe(true);
    } else {
      expect(r.status).toBe('cancelled');
      expect(r.precopy.states.slice(-2)).toEqual(['cancelling', 'cancelled']);
      expect(r['error-desc']).toBe('user cancel');
      expect(r.precopy.guestRunsOn).toBe('source');
      expect(r.precopy.resumed).toBe(false);
      // The destination never ran it (idle: it never even attached).
      if (state !== 'idle') expect(destination?.kind).toBe('discarded');
      await expectSourceHealthyAndRetryVerifies(source);
    }
    source.stop();
  });

  it.each(
    states
      .filter((s) => s !== 'idle')
      .flatMap((s) => [[s, 'link loss'] as const, [s, 'destination crash'] as const]),
  )(
    '%s + %s → never two running guests; before GO the source runs it and a retry verifies',
    async (state, kind) => {
      const source = createSource(scenario);
      const faulty = faultyLink(source.clock as VirtualClock);
      const r = await migrate(scenario, source, faulty.link, {
        onEvent: (e) => {
          if (e.type === 'state' && e.machineState === state)
            (kind === 'link loss' ? faulty.dropLink : faulty.crashDestination)();
        },
      });
      await faulty.destination.whenIdle();
      const destination = faulty.destination.lastOutcome;
      if (state === 'verifying') {
        // RESUMED came: the guest runs on the destination; only its verdict was lost.
        expect(r.status).toBe('completed');
        expect(r.precopy.guestRunsOn).toBe('destination');
        expect(r.precopy.verification).toBeNull();
        expect(r.precopy.verificationError).toMatch(/no verdict/);
        expect(destination).toMatchObject({ kind: 'resumed', verdict: undefined });
        expect(source.guest.paused).toBe(true);
      } else if (state === 'commit') {
        // GO was sent, RESUMED never came; here the link died before GO was delivered.
        expect(r.status).toBe('failed');
        expect(destination?.kind).toBe('discarded');
        if (kind === 'link loss') {
          // The recovery query says discarded: the source runs it, exactly one guest.
          expect(r['error-desc']).toMatch(/after GO, before RESUMED.*recovery query answered discarded/);
          expect(r.precopy.guestRunsOn).toBe('source');
          await expectSourceHealthyAndRetryVerifies(source);
        } else {
          // The destination is gone: the source cannot know, so it stays paused (documented).
          expect(r['error-desc']).toMatch(/after GO, before RESUMED.*within 100 ms \(the recovery deadline/);
          expect(r.precopy.guestRunsOn).toBe('unknown');
          expect(source.guest.paused).toBe(true);
        }
      } else {
        expect(r.status).toBe('failed');
        expect(r['error-desc']).toMatch(kind === 'link loss' ? /dropped|lost|closed/ : /1011|crash/);
        expect(r.precopy.verification).toBeNull();
        expect(r.precopy.guestRunsOn).toBe('source');
        expect(destination?.kind).toBe('discarded');
        await expectSourceHealthyAndRetryVerifies(source);
      }
      source.stop();
    },
  );

  it('NEGATIVE: a rollback that does not resume the vCPUs is caught (guest left paused)', async () => {
    const source = createSource(scenario);
    const controller = new AbortController();
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, {
      signal: controller.signal,
      faults: { engine: { noResumeOnRollback: true } },
      onEvent: (e) => {
        if (e.type === 'state' && e.machineState === 'device') controller.abort('user cancel');
      },
    });
    expect(r.status).toBe('cancelled');
    await expect(expectSourceHealthyAndRetryVerifies(source)).rejects.toThrow();
    source.stop();
  });

  it('a cancel at any moment of the clock ends cancelled (source healthy, retry verifies) or, too late, completed', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 900 }), async (cancelAt) => {
        const source = createSource(scenario);
        const controller = new AbortController();
        source.clock.schedule(() => controller.abort('timed cancel'), cancelAt);
        const link = await openDestination(scenario, source.clock);
        const r = await migrate(scenario, source, link, { signal: controller.signal });
        expect(['cancelled', 'completed']).toContain(r.status);
        seen.add(r.status);
        await link.destination!.whenIdle();
        // Exactly one guest runs: the destination's after a completion, the source's after a cancel.
        expect(link.destination!.lastOutcome?.kind ?? 'discarded').toBe(
          r.status === 'completed' ? 'resumed' : 'discarded',
        );
        expect(source.guest.paused).toBe(r.status === 'completed');
        if (r.status === 'completed') expect(r.precopy.verification?.passed).toBe(true);
        else await expectSourceHealthyAndRetryVerifies(source);
        source.stop();
      }),
      { seed: 61, numRuns: 8, endOnFailure: true },
    );
    expect(seen).toEqual(new Set(['cancelled', 'completed']));
  });
});
