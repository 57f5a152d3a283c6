import { getShortestPaths } from '@xstate/graph';
import { createActor, fromPromise, initialTransition, transition, type AnyEventObject } from 'xstate';
import {
  migrationStatus,
  sourceMachine,
  stateName,
  type RoundOutcome,
  type SourceInput,
} from '../../machines/source.machine';

const input: SourceInput = {
  maxRounds: 5,
  timeout: 10_000,
  onTimeout: 'cancel',
  pauseBeforeSwitchover: true,
};

const done = (id: string, output?: unknown): AnyEventObject => ({ type: `xstate.done.actor.${id}`, output });
const error = (id: string): AnyEventObject => ({
  type: `xstate.error.actor.${id}`,
  error: new Error(`${id} broke`),
});
const round = (o: Partial<RoundOutcome>): RoundOutcome => ({
  converged: false,
  rounds: 1,
  elapsed: 100,
  ...o,
});

const USER_EVENTS: AnyEventObject[] = [
  { type: 'START' },
  { type: 'CANCEL' },
  { type: 'CONTINUE' },
  { type: 'LINK_LOST', reason: 'link lost' },
];
/** Each actor's possible outcomes: done (with each kind of output) or an error. */
const ACTOR_EVENTS: AnyEventObject[] = [
  done('setupMigration'),
  done('runRound', round({})),
  done('runRound', round({ converged: true })),
  done('runRound', round({ elapsed: 20_000 })),
  done('runRound', round({ rounds: 5 })),
  done('switchover'),
  done('sendDeviceState'),
  done('awaitDestination', { passed: true }),
  done('awaitDestination', { passed: false, reason: 'hash differs' }),
  done('rollback'),
  ...['setupMigration', 'runRound', 'switchover', 'sendDeviceState', 'awaitDestination'].map(error),
];

function paths(machineInput: SourceInput = input) {
  return getShortestPaths(sourceMachine, {
    input: machineInput,
    // An actor can only finish while it runs: offer its outcomes only in states that invoke it.
    events: ((s: { children: Record<string, unknown> }) => [
      ...USER_EVENTS,
      ...ACTOR_EVENTS.filter((e) => s.children[e.type.replace(/^xstate\.(done|error)\.actor\./, '')]),
    ]) as never,
    serializeState: (s) => JSON.stringify([s.value, s.context.switchoverReason, s.context.reason !== null]),
  });
}

/** Every state, by dotted name, of the chart definition (leaves and atomic states). */
function definedStates(): string[] {
  const names: string[] = [];
  const walk = (node: typeof sourceMachine.root, prefix: string) => {
    for (const [key, child] of Object.entries(node.states)) {
      const name = prefix ? `${prefix}.${key}` : key;
      if (Object.keys(child.states).length) walk(child as typeof node, name);
      else names.push(name);
    }
  };
  walk(sourceMachine.root, '');
  return names;
}

describe('source machine', () => {
  const reached = paths();
  const reachedNames = new Set(reached.map((p) => stateName(p.state.value)));

  it('reaches every state it defines except the transient decision points', () => {
    const transient = new Set(['active.decide', 'active.ready', 'checkVerdict']);
    for (const name of definedStates()) {
      if (transient.has(name)) continue;
      expect([name, reachedNames.has(name)]).toEqual([name, true]);
    }
  });

  it('turns CANCEL in every running state into cancelling → cancelled through rollback', () => {
    const running = reached.filter(
      (p) => p.state.status === 'active' && !/cancelling|failing/.test(stateName(p.state.value)),
    );
    expect(running.length).toBeGreaterThanOrEqual(7);
    for (const p of running) {
      const [afterCancel] = transition(sourceMachine, p.state, { type: 'CANCEL', reason: 'test' });
      expect([stateName(p.state.value), stateName(afterCancel.value)]).toEqual([
        stateName(p.state.value),
        'cancelling',
      ]);
      expect(afterCancel.context.reason).toBe('test');
      const [end] = transition(sourceMachine, afterCancel, done('rollback') as never);
      expect(end.value).toBe('cancelled');
      expect(migrationStatus(afterCancel.value, true)).toBe('cancelling');
    }
  });

  it('turns LINK_LOST in every running state after idle into failing → failed', () => {
    const running = reached.filter(
      (p) => p.state.status === 'active' && !/idle|cancelling|failing/.test(stateName(p.state.value)),
    );
    expect(running.length).toBeGreaterThanOrEqual(6);
    for (const p of running) {
      const [lost] = transition(sourceMachine, p.state, { type: 'LINK_LOST', reason: 'gone' });
      expect([stateName(p.state.value), lost.value, lost.context.reason]).toEqual([
        stateName(p.state.value),
        'failing',
        'gone',
      ]);
    }
  });

  it('ignores CANCEL once a final state is reached', () => {
    for (const final of ['completed', 'cancelled', 'failed']) {
      const p = reached.find((q) => stateName(q.state.value) === final)!;
      const [after] = transition(sourceMachine, p.state, { type: 'CANCEL' });
      expect(after.value).toBe(final);
    }
  });

  it.each(['setupMigration', 'runRound', 'switchover', 'sendDeviceState', 'awaitDestination'])(
    'sends an error of %s through failing (rollback) to failed with its reason',
    (id) => {
      const at = reached.find((p) => p.state.children[id] !== undefined)!;
      const [failing] = transition(sourceMachine, at.state, error(id) as never);
      expect(failing.value).toBe('failing');
      expect(failing.context.reason).toBe(`${id} broke`);
      expect(Object.keys(failing.children)).toEqual(['rollback']);
      const [end] = transition(sourceMachine, failing, done('rollback') as never);
      expect(end.value).toBe('failed');
    },
  );

  function afterRound(outcome: RoundOutcome, machineInput: SourceInput = input) {
    let [s] = initialTransition(sourceMachine, machineInput);
    [s] = transition(sourceMachine, s, { type: 'START' });
    [s] = transition(sourceMachine, s, done('setupMigration') as never);
    [s] = transition(sourceMachine, s, done('runRound', outcome) as never);
    return s;
  }

  it('decides after each round: converge, timeout by policy, round cap, or another round', () => {
    expect(stateName(afterRound(round({})).value)).toBe('active.round');
    expect(afterRound(round({ converged: true })).value).toBe('preSwitchover');
    expect(afterRound(round({ converged: true })).context.switchoverReason).toBe('converged');
    expect(afterRound(round({ elapsed: 10_000 })).value).toBe('cancelling');
    expect(
      afterRound(round({ elapsed: 10_000 }), { ...input, onTimeout: 'force' }).context.switchoverReason,
    ).toBe('timeout-force');
    expect(afterRound(round({ rounds: 5 })).context.switchoverReason).toBe('max-rounds');
    expect(afterRound(round({ converged: true }), { ...input, pauseBeforeSwitchover: false }).value).toBe(
      'switchover',
    );
  });

  it('fails a completed transfer whose destination verdict did not pass', () => {
    const at = reached.find((p) => stateName(p.state.value) === 'awaitingAck')!;
    const [s] = transition(
      sourceMachine,
      at.state,
      done('awaitDestination', { passed: false, reason: 'x' }) as never,
    );
    expect(s.value).toBe('failing');
    expect(s.context.reason).toBe('verification failed: x');
  });

  it('reports QEMU MigrationStatus names, with device only after pre-switchover', () => {
    expect(migrationStatus('idle', false)).toBe('none');
    expect(migrationStatus({ active: 'round' }, false)).toBe('active');
    expect(migrationStatus('device', false)).toBe('active');
    expect(migrationStatus('device', true)).toBe('device');
    expect(migrationStatus('preSwitchover', true)).toBe('pre-switchover');
    expect(migrationStatus('failing', true)).toBe('failed');
  });

  describe('a cancel racing the destination acknowledgement', () => {
    function runToAwaitingAck() {
      let resolveAck!: (v: { passed: boolean }) => void;
      let rollbacks = 0;
      const actor = createActor(
        sourceMachine.provide({
          actors: {
            setupMigration: fromPromise<void>(async () => {}),
            runRound: fromPromise(async () => round({ converged: true })),
            switchover: fromPromise<void>(async () => {}),
            sendDeviceState: fromPromise<void>(async () => {}),
            awaitDestination: fromPromise(() => new Promise<{ passed: boolean }>((r) => (resolveAck = r))),
            rollback: fromPromise(async () => {
              rollbacks++;
            }),
          },
        }),
        { input: { ...input, pauseBeforeSwitchover: false } },
      );
      actor.start();
      actor.send({ type: 'START' });
      return { actor, ack: () => resolveAck({ passed: true }), rollbacks: () => rollbacks };
    }
    const settle = () => new Promise((r) => setImmediate(r));

    it('completes when the acknowledgement arrives first; the late CANCEL changes nothing', async () => {
      const run = runToAwaitingAck();
      for (let i = 0; i < 10 && !run.actor.getSnapshot().matches('awaitingAck'); i++) await settle();
      run.ack();
      await settle();
      run.actor.send({ type: 'CANCEL' });
      await settle();
      expect(run.actor.getSnapshot().value).toBe('completed');
      expect(run.rollbacks()).toBe(0);
    });

    it('cancels when CANCEL arrives first; the late acknowledgement is dropped', async () => {
      const run = runToAwaitingAck();
      for (let i = 0; i < 10 && !run.actor.getSnapshot().matches('awaitingAck'); i++) await settle();
      run.actor.send({ type: 'CANCEL' });
      run.ack();
      await settle();
      await settle();
      expect(run.actor.getSnapshot().value).toBe('cancelled');
      expect(run.rollbacks()).toBe(1);
    });
  });
});
