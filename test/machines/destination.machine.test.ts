import { getShortestPaths } from '@xstate/graph';
import { transition } from 'xstate';
import { destinationMachine, type DestinationEvent } from '../../machines/destination.machine';

const EVENTS: DestinationEvent[] = [
  { type: 'HELLO' },
  { type: 'ROUND_START', final: false },
  { type: 'ROUND_START', final: true },
  { type: 'ROUND_END' },
  { type: 'VCPU_STATE' },
  { type: 'VERIFIED' },
  { type: 'VERIFY_FAILED', reason: 'hash differs' },
  { type: 'RESUMED' },
  { type: 'ERROR', reason: 'bad frame' },
  { type: 'ABANDON' },
];

const name = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Object.entries(value as object)
        .map(([k, v]) => `${k}.${name(v)}`)
        .join();

describe('destination machine', () => {
  const reached = getShortestPaths(destinationMachine, {
    events: EVENTS,
    serializeState: (s) => JSON.stringify([s.value, s.context.finalRoundSeen]),
  });

  it('goes handshake → receiving → stateReceived → verified → running', () => {
    const running = reached.find((p) => p.state.value === 'running')!;
    expect(running.steps.map((s) => s.event.type)).toEqual([
      'xstate.init',
      'HELLO',
      'ROUND_START',
      'ROUND_END',
      'VCPU_STATE',
      'VERIFIED',
      'RESUMED',
    ]);
  });

  it('accepts ABANDON in every state before running and discards (abandoned)', () => {
    const live = reached.filter((p) => p.state.status === 'active');
    expect(new Set(live.map((p) => name(p.state.value)))).toEqual(
      new Set([
        'migrating.handshake',
        'migrating.receiving.betweenRounds',
        'migrating.receiving.inRound',
        'migrating.stateReceived',
        'migrating.verified',
      ]),
    );
    for (const p of live)
      expect(transition(destinationMachine, p.state, { type: 'ABANDON' })[0].value).toBe('abandoned');
  });

  it('never runs a guest whose verification failed or whose final round never came', () => {
    const viaFailure = reached.filter((p) => p.steps.some((s) => s.event.type === 'VERIFY_FAILED'));
    expect(viaFailure.every((p) => p.state.value === 'failed')).toBe(true);
    const afterLiveRound = reached.find(
      (p) => name(p.state.value) === 'migrating.receiving.betweenRounds' && p.state.context.rounds === 1,
    )!;
    expect(afterLiveRound.state.context.finalRoundSeen).toBe(false);
    const [s] = transition(destinationMachine, afterLiveRound.state, { type: 'VCPU_STATE' });
    expect(name(s.value)).toBe('migrating.receiving.betweenRounds');
  });

  it('ignores an ABANDON that arrives after the guest runs', () => {
    const running = reached.find((p) => p.state.value === 'running')!;
    expect(transition(destinationMachine, running.state, { type: 'ABANDON' })[0].value).toBe('running');
  });
});
