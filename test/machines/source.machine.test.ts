import { getShortestPaths } from '@xstate/graph';
import { createActor, fromPromise, initialTransition, transition, type AnyEventObject } from 'xstate';
import {
  guestSide,
  migrationStatus,
  sourceMachine,
  stateName,
  type RoundMeasure,
  type RoundPlan,
  type SourceInput,
} from '../../machines/source.machine';
import { fitsThreshold, type StopReason } from '../../src/migration/stop-rule';

const input: SourceInput = {
  maxRounds: 5,
  timeout: 10_000,
  onTimeout: 'cancel',
  pauseBeforeSwitchover: true,
  stopRule: 'qemu',
  stallMargin: 0.1,
  stallDowntime: null,
};

const done = (id: string, output?: unknown): AnyEventObject => ({ type: `xstate.done.actor.${id}`, output });
const error = (id: string): AnyEventObject => ({
  type: `xstate.error.actor.${id}`,
  error: new Error(`${id} broke`),
});
const PAGE = 4096;
/** A synced round that satisfies no stop rule: 1000 pages left, far over the threshold. */
const round = (o: Partial<RoundMeasure>): RoundMeasure => ({
  atDeadline: false,
  rounds: 1,
  elapsed: 100,
  remainingPages: 1000,
  remainingBytes: 1000 * PAGE,
  threshold: 1000,
  pagesSent: 1000,
  previousPagesSent: 2000,
  totalPagesSent: 3000,
  guestPages: 10_000,
  bandwidth: 1000,
  downtimeLimit: 300,
  ...o,
});
/** Rounds built to make one guard each fire (and, under another rule, none of theirs). */
const ROUNDS = {
  more: round({}),
  fits: round({ remainingPages: 10, remainingBytes: 10 * PAGE, threshold: 100 * PAGE }),
  fewPages: round({ remainingPages: 40, remainingBytes: 40 * PAGE }),
  iterations: round({ rounds: 29 }),
  factor: round({ totalPagesSent: 30_001 }),
  rose: round({ rounds: 2, pagesSent: 1500, previousPagesSent: 1000 }),
  // 60 pages over 1000 bytes/ms: 246 ms, within the 300 ms limit; stalls when it repeats.
  stallish: round({ remainingPages: 60, remainingBytes: 60 * PAGE }),
  // The deadline ended it, with an empty set: still no convergence.
  deadline: round({ atDeadline: true, elapsed: 20_000, remainingPages: 0, remainingBytes: 0 }),
  // Ended on its own test, after the timeout: one that fits still converges.
  late: round({ elapsed: 10_000 }),
  lateFits: round({ elapsed: 10_000, remainingPages: 10, remainingBytes: 10 * PAGE, threshold: 100 * PAGE }),
  cap: round({ rounds: 5 }),
};

const USER_EVENTS: AnyEventObject[] = [
  { type: 'START' },
  { type: 'CANCEL' },
  { type: 'CONTINUE' },
  { type: 'LINK_LOST', reason: 'link lost' },
];
/** Each actor's possible outcomes: done (with each kind of output) or an error. */
const ACTOR_EVENTS: AnyEventObject[] = [
  done('setupMigration'),
  ...Object.values(ROUNDS).map((r) => done('runRound', r)),
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
  done('runPostcopy', { passed: true, failed: false }),
  done('runPostcopy', {
    passed: false,
    reason: 'postcopy did not complete within its deadline',
    failed: true,
  }),
  ...[
    'setupMigration',
    'runRound',
    'switchover',
    'sendDeviceState',
    'prepareDestination',
    'commitSwitchover',
    'verifyDestination',
    'runPostcopy',
  ].map(error),
];

/** The states before GO (rollback possible) and after it (the migration only completes). */
const BEFORE_GO = /^(idle|setup|active|preSwitchover|switchover|device|prepare)/;
const AFTER_GO = /^(commit|verifying|orphaning)$/;

function paths(machineInput: SourceInput = input, machine = sourceMachine) {
  return getShortestPaths(machine, {
    input: machineInput,
    // An actor can only finish while it runs: offer its outcomes only in states that invoke it.
    events: ((s: { children: Record<string, unknown> }) => [
      ...USER_EVENTS,
      ...ACTOR_EVENTS.filter((e) => s.children[e.type.replace(/^xstate\.(done|error)\.actor\./, '')]),
    ]) as never,
    serializeState: (s) =>
      JSON.stringify([s.value, s.context.stopReason, s.context.reason !== null, s.context.bestRemaining]),
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

  it('reaches every state it defines except the transient decision points (postcopy ones with postcopy-ram)', () => {
    const transient = new Set(['active.decide', 'active.ready']);
    const withPostcopy = paths({ ...input, postcopyRam: true, postcopyAfterRounds: 1 });
    const all = new Set([...reachedNames, ...withPostcopy.map((p) => stateName(p.state.value))]);
    for (const name of definedStates()) {
      if (transient.has(name)) continue;
      expect([name, all.has(name)]).toEqual([name, true]);
    }
    // Without the capability no path leads there.
    expect([...reachedNames].filter((n) => n.startsWith('postcopy'))).toEqual([]);
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

  function afterRounds(
    outcomes: RoundMeasure[],
    machineInput: SourceInput = input,
    machine: typeof sourceMachine = sourceMachine,
  ) {
    let [s] = initialTransition(machine, machineInput);
    [s] = transition(machine, s, { type: 'START' });
    [s] = transition(machine, s, done('setupMigration') as never);
    for (const outcome of outcomes) [s] = transition(machine, s, done('runRound', outcome) as never);
    return s;
  }
  const afterRound = (outcome: RoundMeasure, machineInput: SourceInput = input) =>
    afterRounds([outcome], machineInput);

  it('postcopy: each trigger is a named guard tried after the threshold; without postcopy-ram none fires', () => {
    const pc: SourceInput = { ...input, postcopyRam: true };
    const two = [round({ rounds: 1 }), round({ rounds: 2 })];
    const at = (s: ReturnType<typeof afterRounds>) => [stateName(s.value), s.context.stopReason];
    expect(at(afterRounds(two, { ...pc, postcopyAfterRounds: 2 }))).toEqual(['postcopy', 'postcopy']);
    expect(at(afterRounds(two.slice(0, 1), { ...pc, postcopyAfterRounds: 2 }))).toEqual([
      'active.round',
      null,
    ]);
    // A dirty set that fits goes the pre-copy way first, as in QEMU.
    expect(at(afterRound(ROUNDS.fits, { ...pc, postcopyAfterRounds: 1 }))).toEqual([
      'preSwitchover',
      'threshold',
    ]);
    // On a stall: the second sync left no fewer bytes than the first; a shrinking set goes on.
    expect(at(afterRounds(two, { ...pc, postcopyOnStall: true }))).toEqual(['postcopy', 'postcopy']);
    const shrinking = [
      round({ rounds: 1 }),
      round({ rounds: 2, remainingPages: 900, remainingBytes: 900 * PAGE }),
    ];
    expect(at(afterRounds(shrinking, { ...pc, postcopyOnStall: true }))).toEqual(['active.round', null]);
    // When the predictor says pre-copy will not converge.
    const prediction = { ...pc, postcopyOnPrediction: true };
    expect(at(afterRound(round({ predictedConverges: false }), prediction))).toEqual([
      'postcopy',
      'postcopy',
    ]);
    expect(at(afterRound(round({ predictedConverges: true }), prediction))).toEqual(['active.round', null]);
    // A deadline round is never judged for it.
    expect(at(afterRound(round({ predictedConverges: false, atDeadline: true }), prediction))[1]).not.toBe(
      'postcopy',
    );
    // migrate-start-postcopy acts at the next decision.
    const asked = (machineInput: SourceInput) => {
      let [s] = initialTransition(sourceMachine, machineInput);
      [s] = transition(sourceMachine, s, { type: 'START' });
      [s] = transition(sourceMachine, s, done('setupMigration') as never);
      [s] = transition(sourceMachine, s, { type: 'START_POSTCOPY' });
      [s] = transition(sourceMachine, s, done('runRound', round({})) as never);
      return at(s);
    };
    expect(asked(pc)).toEqual(['postcopy', 'postcopy']);
    // Negative: the capability off, no trigger and no request leads to postcopy.
    const off: SourceInput = {
      ...input,
      postcopyAfterRounds: 1,
      postcopyOnStall: true,
      postcopyOnPrediction: true,
    };
    expect(asked(off)).toEqual(['active.round', null]);
    expect(
      at(
        afterRounds(
          two.map((r) => ({ ...r, predictedConverges: false })),
          off,
        ),
      ),
    ).toEqual(['active.round', null]);
  });

  it('postcopy is committed: a cancel is refused; it ends completed with the verdict, or postcopyFailed (guest at the destination)', () => {
    const s = afterRound(round({}), { ...input, postcopyRam: true, postcopyAfterRounds: 1 });
    expect(Object.keys(s.children)).toEqual(['runPostcopy']);
    expect(migrationStatus(s.value, true)).toBe('postcopy-active');
    const [cancelled] = transition(sourceMachine, s, { type: 'CANCEL', reason: 'no' });
    expect([cancelled.value, cancelled.context.refusedCancel]).toEqual(['postcopy', 'no']);
    const [ok] = transition(sourceMachine, s, done('runPostcopy', { passed: true, failed: false }) as never);
    expect([ok.value, ok.context.verdict?.passed, guestSide(ok.value)]).toEqual([
      'completed',
      true,
      'destination',
    ]);
    const failed = { passed: false, reason: 'deadline passed', failed: true };
    const [bad] = transition(sourceMachine, s, done('runPostcopy', failed) as never);
    expect([bad.value, bad.context.reason, migrationStatus(bad.value, true), guestSide(bad.value)]).toEqual([
      'postcopyFailed',
      'deadline passed',
      'failed',
      'destination',
    ]);
  });

  it('decides after each round: converge, timeout by policy, round cap, or another round', () => {
    expect(stateName(afterRound(round({})).value)).toBe('active.round');
    expect(afterRound(ROUNDS.fits).value).toBe('preSwitchover');
    expect(afterRound(ROUNDS.fits).context.stopReason).toBe('threshold');
    expect(afterRound(round({ elapsed: 10_000 })).value).toBe('cancelling');
    expect(afterRound(round({ elapsed: 10_000 }), { ...input, onTimeout: 'force' }).context.stopReason).toBe(
      'timeout',
    );
    expect(afterRound(round({ rounds: 5 })).context.stopReason).toBe('max-rounds');
    expect(afterRound(ROUNDS.fits, { ...input, pauseBeforeSwitchover: false }).value).toBe('switchover');
  });

  /**
   * The stop decision, row by row: the rule and policy in force, the rounds the engine measured,
   * and where the chart goes with which reason. Every guard of active.decide has a row that
   * fires it and rows where it must not.
   */
  type Row = [string, Partial<SourceInput>, (keyof typeof ROUNDS)[], string, StopReason | null];
  const DECISIONS: Row[] = [
    ['nothing fits: another round', {}, ['more'], 'active.round', null],
    ['threshold (qemu)', {}, ['fits'], 'preSwitchover', 'threshold'],
    ['threshold (round)', { stopRule: 'round' }, ['fits'], 'preSwitchover', 'threshold'],
    ['threshold before xen-pages', { stopRule: 'xen' }, ['fits'], 'preSwitchover', 'threshold'],
    ['xen-pages', { stopRule: 'xen' }, ['fewPages'], 'preSwitchover', 'xen-pages'],
    [
      'xen-iterations',
      { stopRule: 'xen', maxRounds: 1000 },
      ['iterations'],
      'preSwitchover',
      'xen-iterations',
    ],
    ['xen-factor', { stopRule: 'xen' }, ['factor'], 'preSwitchover', 'xen-factor'],
    ['xen-rate', { stopRule: 'xen' }, ['rose'], 'preSwitchover', 'xen-rate'],
    ["xen's rules only under xen", { stopRule: 'round' }, ['fewPages'], 'active.round', null],
    ["xen's rate rule only under xen", {}, ['rose'], 'active.round', null],
    ["xen's volume rule only under xen", { stopRule: 'stall' }, ['factor'], 'active.round', null],
    ['stall: a first minimum is no stall', { stopRule: 'stall' }, ['stallish'], 'active.round', null],
    [
      'stall: the same minimum again',
      { stopRule: 'stall' },
      ['more', 'stallish', 'stallish'],
      'preSwitchover',
      'stall',
    ],
    [
      'stall: a budget it does not fit',
      { stopRule: 'stall', stallDowntime: 100 },
      ['stallish', 'stallish'],
      'active.round',
      null,
    ],
    ['stall only under stall', {}, ['stallish', 'stallish'], 'active.round', null],
    ['a deadline round is no convergence (cancel)', {}, ['deadline'], 'cancelling', 'timeout'],
    [
      'a deadline round is no convergence (force)',
      { onTimeout: 'force' },
      ['deadline'],
      'preSwitchover',
      'timeout',
    ],
    ['nor a stop rule', { stopRule: 'xen', onTimeout: 'force' }, ['deadline'], 'preSwitchover', 'timeout'],
    ['a round closed after the timeout, cancel', {}, ['late'], 'cancelling', 'timeout'],
    ['a round closed after the timeout, force', { onTimeout: 'force' }, ['late'], 'preSwitchover', 'timeout'],
    ['a convergence after the timeout still converges', {}, ['lateFits'], 'preSwitchover', 'threshold'],
    ['max-rounds', {}, ['cap'], 'preSwitchover', 'max-rounds'],
    [
      'xen-iterations before max-rounds',
      { stopRule: 'xen' },
      ['iterations'],
      'preSwitchover',
      'xen-iterations',
    ],
  ];

  function mismatches(machine: typeof sourceMachine = sourceMachine): string[] {
    const bad: string[] = [];
    for (const [name, over, rounds, target, reason] of DECISIONS) {
      const s = afterRounds(
        rounds.map((k) => ROUNDS[k]),
        { ...input, ...over },
        machine,
      );
      const got = [stateName(s.value), s.context.stopReason];
      if (got[0] !== target || got[1] !== reason) bad.push(`${name}: ${got.join(' ')}`);
    }
    return bad;
  }

  it('holds the stop rules: each named guard fires on its figures, in its rule, in order', () => {
    expect(mismatches()).toEqual([]);
  });

  it('plans the round it starts: in-round test by stop rule, sync or cut at the deadline by policy', async () => {
    const plans: RoundPlan[] = [];
    for (const over of [{}, { stopRule: 'stall', onTimeout: 'force' }] as Partial<SourceInput>[]) {
      const actor = createActor(
        sourceMachine.provide({
          actors: {
            setupMigration: fromPromise<void>(async () => {}),
            runRound: fromPromise<RoundMeasure, RoundPlan>(async ({ input: plan }) => {
              plans.push(plan);
              return ROUNDS.fits;
            }),
          },
        }),
        { input: { ...input, ...over } },
      );
      actor.start();
      actor.send({ type: 'START' });
      await new Promise((r) => setImmediate(r));
      actor.stop();
    }
    expect(plans).toEqual([
      { endWhen: 'fits', deadline: 10_000, atDeadline: 'cut' },
      { endWhen: 'sent', deadline: 10_000, atDeadline: 'sync' },
    ]);
  });

  /** Every stop reason the chart can end the live phase with, under each rule and policy. */
  function reasonsReached(machine: typeof sourceMachine = sourceMachine): Map<string, Set<string>> {
    const byRule = new Map<string, Set<string>>();
    for (const stopRule of ['qemu', 'round', 'xen', 'stall'] as const)
      for (const onTimeout of ['cancel', 'force'] as const) {
        const found = byRule.get(stopRule) ?? new Set<string>();
        for (const p of paths({ ...input, stopRule, onTimeout }, machine))
          if (p.state.context.stopReason) found.add(p.state.context.stopReason);
        byRule.set(stopRule, found);
      }
    return byRule;
  }

  it('reaches every stop reason on a path, each only under its rule (graph paths)', () => {
    const reached = reasonsReached();
    const common = ['max-rounds', 'threshold', 'timeout'];
    const sorted = (rule: string) => [...reached.get(rule)!].sort();
    expect(sorted('qemu')).toEqual(common);
    expect(sorted('round')).toEqual(common);
    expect(sorted('xen')).toEqual(
      [...common, 'xen-factor', 'xen-iterations', 'xen-pages', 'xen-rate'].sort(),
    );
    expect(sorted('stall')).toEqual([...common, 'stall'].sort());
  });

  it('NEGATIVE: a guard broken on purpose is caught by the decision rows and the graph paths', () => {
    // xen-rate never fires: its row fails and the reason is unreachable.
    const deaf = sourceMachine.provide({ guards: { xenRate: () => false } });
    expect(mismatches(deaf)).toEqual(['xen-rate: active.round ']);
    expect(reasonsReached(deaf).get('xen')).not.toContain('xen-rate');
    // threshold judges a round the deadline ended: the deadline rows turn into convergences.
    const blind = sourceMachine.provide({
      guards: { threshold: ({ context }) => context.lastRound !== null && fitsThreshold(context.lastRound) },
    });
    expect(mismatches(blind)).toEqual([
      'a deadline round is no convergence (cancel): preSwitchover threshold',
      'a deadline round is no convergence (force): preSwitchover threshold',
      'nor a stop rule: preSwitchover threshold',
    ]);
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
            runRound: fromPromise(async () => ROUNDS.fits),
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
