/**
 * Cancel, link loss and destination crash injected in every state of the source machine
 * (enumerated from the chart with @xstate/graph): each ends cancelled or failed with the source
 * guest running, its memory intact (QEMU's edge rule over the incrementer), and a retry to a
 * fresh destination completes and verifies.
 */
import { getShortestPaths } from '@xstate/graph';
import fc from 'fast-check';
import type { AnyEventObject } from 'xstate';
import { sourceMachine, stateName } from '../../machines/source.machine';
import { Destination } from '../../src/dest/destination';
import { checkEdgeRule } from '../../src/guest/edge-rule';
import { connectSource } from '../../src/link/index';
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
  const ids = ['setupMigration', 'runRound', 'switchover', 'sendDeviceState', 'awaitDestination', 'rollback'];
  const outcomes: AnyEventObject[] = ids.flatMap((id) => [
    {
      type: `xstate.done.actor.${id}`,
      output: id === 'runRound' ? { converged: true, rounds: 1, elapsed: 1 } : { passed: true },
    },
  ]);
  const paths = getShortestPaths(sourceMachine, {
    input: { maxRounds: 5, timeout: 1000, onTimeout: 'cancel', pauseBeforeSwitchover: true },
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
  const proxy = {
    attach(t: InprocEndpoint) {
      endpoint = t;
      const accepted = destination.attach(t);
      if (fault) fault(t);
      return accepted;
    },
  } as unknown as Destination;
  const link: DestinationLink = {
    connect: () =>
      connectSource({
        transport: 'inproc',
        token,
        destination: proxy,
        encodings: ['zero', 'lz4'],
        clock,
        keepaliveMs: 0,
      }),
    close: async () => undefined,
  };
  const inject = (f: (e: InprocEndpoint) => void) => (endpoint ? f(endpoint) : (fault = f));
  return {
    link,
    dropLink: () => inject((e) => e.drop()),
    crashDestination: () => inject((e) => e.close(1011, 'destination crashed')),
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

describe('rollback from every state', () => {
  it('enumerates the resting states from the chart', () => {
    expect(states).toEqual([
      'idle',
      'setup',
      'active.round',
      'preSwitchover',
      'switchover',
      'device',
      'awaitingAck',
    ]);
  });

  it.each(states)('cancel in %s → cancelled, source running and intact, retry verifies', async (state) => {
    const source = createSource(scenario);
    const controller = new AbortController();
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'state' && e.machineState === state) controller.abort('user cancel');
      },
    });
    expect(r.status).toBe('cancelled');
    expect(r.precopy.states.slice(-2)).toEqual(['cancelling', 'cancelled']);
    expect(r['error-desc']).toBe('user cancel');
    await expectSourceHealthyAndRetryVerifies(source);
    source.stop();
  });

  it.each(
    states
      .filter((s) => s !== 'idle')
      .flatMap((s) => [[s, 'link loss'] as const, [s, 'destination crash'] as const]),
  )('%s + %s → failed with the reason, source running and intact, retry verifies', async (state, kind) => {
    const source = createSource(scenario);
    const faulty = faultyLink(source.clock as VirtualClock);
    const r = await migrate(scenario, source, faulty.link, {
      onEvent: (e) => {
        if (e.type === 'state' && e.machineState === state)
          (kind === 'link loss' ? faulty.dropLink : faulty.crashDestination)();
      },
    });
    expect(r.status).toBe('failed');
    expect(r['error-desc']).toMatch(kind === 'link loss' ? /dropped|lost|closed/ : /1011|crash/);
    expect(r.precopy.verification).toBeNull();
    await expectSourceHealthyAndRetryVerifies(source);
    source.stop();
  });

  it('NEGATIVE: a rollback that does not resume the vCPUs is caught (guest left paused)', async () => {
    const source = createSource(scenario);
    const controller = new AbortController();
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, {
      signal: controller.signal,
      faults: { noResumeOnRollback: true },
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
        if (r.status === 'completed') expect(r.precopy.verification?.passed).toBe(true);
        else await expectSourceHealthyAndRetryVerifies(source);
        source.stop();
      }),
      { seed: 61, numRuns: 8, endOnFailure: true },
    );
    expect(seen).toEqual(new Set(['cancelled', 'completed']));
  });
});
