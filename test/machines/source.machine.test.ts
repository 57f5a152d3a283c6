import { getShortestPaths } from '@xstate/graph';
import { createActor, fromPromise, initialTransition, transition, type AnyEventObject } from 'xstate';
import {
  guestSide,
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
  done('prepareDestination'),
  done('commitSwitchover'),
  done('verifyDestination', { passed: true }),
  done('verifyDestination', { passed: false, reason: 'hash differs' }),
  done('rollback'),
  done('settleOrphaned', { outcome: 'unreachable', detail: 'no answer within 30000 ms' }),
  done('settleOrphaned', { outcome: 'unknown' }),
  done('settleOrphaned', { outcome: 'discarded' }),
  done('settleOrphaned', { outcome: 'resumed' }),
  ...[
    'setupMigration',
    'runRound',
    'switchover',
    'sendDeviceState',
    'prepareDestination',
    'commitSwitchover',
    'verifyDestination',
  ].map(error),
];

/** The states before GO (rollback possible) and after it (the migration only completes). */
const BEFORE_GO = /^(idle|setup|active|preSwitchover|switchover|device|prepare)/;
const AFTER_GO = /^(commit|verifying|orphaning)$/;

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
    const transient = new Set(['active.decide', 'active.ready']);
    for (const name of definedStates()) {
      if (transient.has(name)) continue;
      expect([name, reachedNames.has(name)]).toEqual([name, true]);
    }
  });

  it('turns CANCEL in every running state before GO into cancelling → cancelled through rollback', () => {
    const running = reached.filter(
      (p) => p.state.status === 'active' && BEFORE_GO.test(stateName(p.state.value)),
    );
    expect(running.length).toBeGreaterThanOrEqual(8);
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

  it('refuses CANCEL after GO: no rollback, the cancel is recorded, the migration goes on', () => {
    const committed = reached.filter((p) => AFTER_GO.test(stateName(p.state.value)));
    expect(new Set(committed.map((p) => stateName(p.state.value)))).toEqual(
      new Set(['commit', 'verifying', 'orphaning']),
    );
    for (const p of committed) {
      const [after] = transition(sourceMachine, p.state, { type: 'CANCEL', reason: 'late' });
      expect([stateName(p.state.value), stateName(after.value), after.context.refusedCancel]).toEqual([
        stateName(p.state.value),
        stateName(p.state.value),
        'late',
      ]);
      expect(Object.keys(after.children)).not.toContain('rollback');
    }
  });

  it('turns LINK_LOST in every running state before GO (after idle) into failing → failed', () => {
    const running = reached.filter(
      (p) =>
        p.state.status === 'active' &&
        BEFORE_GO.test(stateName(p.state.value)) &&
        stateName(p.state.value) !== 'idle',
    );
    expect(running.length).toBeGreaterThanOrEqual(7);
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
    for (const final of ['completed', 'cancelled', 'failed', 'orphaned']) {
      const p = reached.find((q) => stateName(q.state.value) === final)!;
      const [after] = transition(sourceMachine, p.state, { type: 'CANCEL' });
      expect(after.value).toBe(final);
    }
  });

  it('after GO, a lost link before RESUMED asks the destination and follows its answer', () => {
    const commit = reached.find((p) => stateName(p.state.value) === 'commit')!;
    for (const e of [error('commitSwitchover'), { type: 'LINK_LOST', reason: 'gone' }]) {
      const [orphaned] = transition(sourceMachine, commit.state, e as never);
      expect(orphaned.value).toBe('orphaning');
      expect(orphaned.context.reason).toMatch(/after GO, before RESUMED .*source guest stays paused/);
      expect(Object.keys(orphaned.children)).toEqual(['settleOrphaned']);
      const after = (output: object) =>
        transition(sourceMachine, orphaned, done('settleOrphaned', output) as never)[0];
      // No answer within the recovery deadline, or no record: paused, the operator decides.
      for (const output of [
        { outcome: 'unreachable', detail: 'no answer within 30000 ms' },
        { outcome: 'unknown' },
      ]) {
        const end = after(output);
        expect([end.value, migrationStatus(end.value, false), guestSide(end.value)]).toEqual([
          'orphaned',
          'failed',
          'unknown',
        ]);
        expect(end.context.reason).toMatch(
          /(no answer within 30000 ms|no record of this migration).*operator must decide/,
        );
      }
      // Discarded: GO never took effect there, so the source rolls back (its guest resumes).
      const discarded = after({ outcome: 'discarded' });
      expect([discarded.value, Object.keys(discarded.children)]).toEqual(['failing', ['rollback']]);
      expect(discarded.context.reason).toMatch(/answered discarded: the source resumes its guest/);
      const [failed] = transition(sourceMachine, discarded, done('rollback') as never);
      expect([failed.value, guestSide(failed.value)]).toEqual(['failed', 'source']);
      // Resumed: the guest runs there; the migration completed, unverified.
      const resumed = after({ outcome: 'resumed' });
      expect([resumed.value, guestSide(resumed.value)]).toEqual(['completed', 'destination']);
      expect(resumed.context.verificationError).toMatch(
        /answered resumed: the guest runs on the destination, unverified/,
      );
    }
  });

  it('after RESUMED the migration completes, verdict or not', () => {
    const verifying = reached.find((p) => stateName(p.state.value) === 'verifying')!;
    const [failedVerdict] = transition(
      sourceMachine,
      verifying.state,
      done('verifyDestination', { passed: false, reason: 'x' }) as never,
    );
    expect([failedVerdict.value, failedVerdict.context.verdict]).toEqual([
      'completed',
      { passed: false, reason: 'x' },
    ]);
    const [noVerdict] = transition(sourceMachine, verifying.state, error('verifyDestination') as never);
    expect([noVerdict.value, noVerdict.context.verificationError]).toEqual([
      'completed',
      'no verdict: verifyDestination broke',
    ]);
    expect(migrationStatus('verifying', false)).toBe('completed');
  });

  it('says which side runs the guest at the end', () => {
    expect(guestSide('completed')).toBe('destination');
    expect(guestSide('cancelled')).toBe('source');
    expect(guestSide('failed')).toBe('source');
    expect(guestSide('orphaned')).toBe('unknown');
  });

  it.each(['setupMigration', 'runRound', 'switchover', 'sendDeviceState', 'prepareDestination'])(
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

  it('reports QEMU MigrationStatus names, with device only after pre-switchover', () => {
    expect(migrationStatus('idle', false)).toBe('none');
    expect(migrationStatus({ active: 'round' }, false)).toBe('active');
    expect(migrationStatus('device', false)).toBe('active');
    expect(migrationStatus('device', true)).toBe('device');
    expect(migrationStatus('preSwitchover', true)).toBe('pre-switchover');
    expect(migrationStatus('failing', true)).toBe('failed');
  });

  describe('a cancel racing the commit point', () => {
    function runToPrepare() {
      let resolveReady!: () => void;
      let resolveResumed!: () => void;
      let rollbacks = 0;
      let goSent = false;
      const actor = createActor(
        sourceMachine.provide({
          actors: {
            setupMigration: fromPromise<void>(async () => {}),
            runRound: fromPromise(async () => round({ converged: true })),
            switchover: fromPromise<void>(async () => {}),
            sendDeviceState: fromPromise<void>(async () => {}),
            prepareDestination: fromPromise(() => new Promise<void>((r) => (resolveReady = r))),
            commitSwitchover: fromPromise(() => {
              goSent = true;
              return new Promise<void>((r) => (resolveResumed = r));
            }),
            verifyDestination: fromPromise(async () => ({ passed: true as boolean })),
            rollback: fromPromise(async () => {
              rollbacks++;
            }),
          },
        }),
        { input: { ...input, pauseBeforeSwitchover: false } },
      );
      actor.start();
      actor.send({ type: 'START' });
      return {
        actor,
        ready: () => resolveReady(),
        resumed: () => resolveResumed(),
        rollbacks: () => rollbacks,
        goSent: () => goSent,
      };
    }
    const settle = () => new Promise((r) => setImmediate(r));
    const reach = async (run: ReturnType<typeof runToPrepare>, state: string) => {
      for (let i = 0; i < 10 && !run.actor.getSnapshot().matches(state as never); i++) await settle();
      expect(stateName(run.actor.getSnapshot().value)).toBe(state);
    };

    it('completes when READY comes first: GO goes out, the late CANCEL is refused', async () => {
      const run = runToPrepare();
      await reach(run, 'prepare');
      run.ready();
      await reach(run, 'commit');
      run.actor.send({ type: 'CANCEL', reason: 'too late' });
      run.resumed();
      await reach(run, 'completed');
      expect(run.rollbacks()).toBe(0);
      expect(run.actor.getSnapshot().context.refusedCancel).toBe('too late');
    });

    it('cancels when CANCEL comes first: GO is never sent, the late READY is dropped', async () => {
      const run = runToPrepare();
      await reach(run, 'prepare');
      run.actor.send({ type: 'CANCEL' });
      run.ready();
      await settle();
      await settle();
      expect(run.actor.getSnapshot().value).toBe('cancelled');
      expect(run.rollbacks()).toBe(1);
      expect(run.goSent()).toBe(false);
    });
  });
});
