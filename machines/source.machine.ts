/**
 * The source side of a migration as a pure statechart (research §2.1, §2.4). Every effect is an
 * actor the round engine provides (`sourceMachine.provide({ actors })`): the chart names the
 * I/O, never does it.
 *
 *   idle → setup → active (round, decide, round, ...) → [preSwitchover] → switchover (vCPUs
 *   paused, last dirty set sent) → device (vCPU state) → prepare (PREPARE → READY)
 *   → commit (GO → RESUMED) → verifying (VERIFY → VERDICT) → completed
 *   active.decide ──postcopy guards──▶ postcopy (the guest runs at the destination) → completed
 *
 * The switchover is a commit protocol (src/wire/README.md). Up to `prepare` a cancel goes
 * through `cancelling` and any actor error or lost link through `failing`; both run `rollback`
 * (abandon the destination, resume the vCPUs, stop throttling), so `cancelled` and `failed`
 * end with the source guest running and the destination discarding. Entering `commit` sends GO,
 * the commit point: from there a CANCEL is refused (recorded, the migration completes) and the
 * source never resumes its guest on its own. A failure while waiting for RESUMED leaves the
 * outcome open: `orphaning` asks the destination on a fresh connection (the recovery query) and
 * follows its answer: `discarded` (GO never took effect there, and now never will) rolls back
 * through `failing`, the source guest resumes; `resumed` ends `completed`, unverified; no answer
 * within the recovery deadline ends `orphaned` (QEMU status failed), paused, saying so. After RESUMED the guest runs on the destination: `verifying` ends
 * `completed` whatever the verdict says (a failed or missing verdict is reported, not undone).
 *
 * The chart holds the stop decision. `runRound` runs one sync-to-sync round as the chart plans it
 * (end on QEMU's in-round test or only once the set is sent; at the deadline sync or cut) and
 * returns what it measured, nothing decided. `active.decide` then tries its named guards in
 * order, each on those figures (src/migration/stop-rule.ts has the predicates), and the one that
 * fires names the typed `stopReason`: threshold; xen-pages, xen-iterations, xen-factor,
 * xen-rate (stop-rule xen); stall (stop-rule stall); timeout (cancel or force by on-timeout);
 * max-rounds; or none, and another round. A round the deadline ended is never taken for a
 * convergence: the stop rules only judge a round that ended on its own test.
 *
 * Transitions are compare-and-swap: an event is taken only by the state it was meant for, and
 * the actor's done event and CANCEL are processed one at a time in arrival order. So a cancel
 * racing the switchover resolves deterministically: a CANCEL taken before `commit` is entered
 * rolls back (GO is never sent), one after it is refused.
 */
import { assign, fromPromise, setup } from 'xstate';
import {
  fitsThreshold,
  noProgress,
  stalled,
  xenFewPages,
  xenMaxFactor,
  xenMaxIterations,
  xenRateRose,
  type RoundClose,
  type StopReason,
  type StopRule,
} from '../src/migration/stop-rule';
import type { MigrationStatus } from './migration-status';

/** How the chart wants the next round run (the round actor's input). */
export interface RoundPlan {
  /**
   * `fits`: end with a sync once the estimate is below the threshold (stop-rule qemu, tested
   * every iteration); `sent`: only once the dirty set is sent (round, xen, stall).
   */
  endWhen: 'fits' | 'sent';
  /** The timeout as time since the migration began (ms): the round ends there, whatever is left. */
  deadline: number;
  /**
   * At the deadline: `sync` closes the round with a sync (on-timeout force); `cut` closes it
   * without one (cancel: QEMU's migrate_cancel does not sync the bitmap again).
   */
  atDeadline: 'sync' | 'cut';
}

/** What one round (one sync-to-sync interval) measured: figures only, the chart decides. */
export interface RoundMeasure extends RoundClose {
  /**
   * The round reached the plan's deadline (it did not end on its own test): closed with a sync
   * or, cut, without one (then the figures are not a sync's); no stop rule judges it.
   */
  atDeadline: boolean;
  /** bw × the downtime limit in force after the sync (bytes). */
  threshold: number;
  /** The downtime limit in force after the sync (ms; a ramp moves it). */
  downtimeLimit: number;
  /** Time since the migration began (ms). */
  elapsed: number;
  /** The in-run predictor's view after this round: will pre-copy converge? (null or absent: no prediction.) */
  predictedConverges?: boolean | null;
}

export interface DestinationVerdict {
  passed: boolean;
  reason?: string;
}

/** Which side runs the guest when the migration has ended. */
export type GuestSide = 'source' | 'destination' | 'unknown';

/** The recovery query's answer (src/link/recovery.ts), and what the source makes of it. */
export interface RecoveredOutcome {
  outcome: 'resumed' | 'discarded' | 'unknown' | 'unreachable';
  /** The error when unreachable. */
  detail?: string;
}

export interface SourceInput {
  maxRounds: number;
  timeout: number;
  onTimeout: 'cancel' | 'force';
  pauseBeforeSwitchover: boolean;
  stopRule: StopRule;
  /** stall: how far above the best remaining still counts as stalled (0.1 = 10 %). */
  stallMargin: number;
  /** stall: the downtime budget (ms); null: the downtime limit in force. */
  stallDowntime: number | null;
  /** QEMU's postcopy-ram capability, and precopy's triggers for migrate-start-postcopy (all off when absent). */
  postcopyRam?: boolean;
  postcopyAfterRounds?: number | null;
  postcopyOnStall?: boolean;
  postcopyOnPrediction?: boolean;
}

/** How the postcopy phase ended (src/migration/postcopy.ts): failed means no verdict could be had. */
export interface PostcopyOutcome extends DestinationVerdict {
  failed: boolean;
}

export interface SourceContext extends SourceInput {
  lastRound: RoundMeasure | null;
  /** The fewest bytes left after any earlier round's sync (the stall rule's reference). */
  bestRemaining: number;
  /** The guard that ended the live phase; null while it runs (or a cancel or failure ended it). */
  stopReason: StopReason | null;
  verdict: DestinationVerdict | null;
  /** Why the migration was cancelled or failed. */
  reason: string | null;
  /** A cancel that came after GO, refused (the migration completed). */
  refusedCancel: string | null;
  /** Why the verification after the resume did not finish. */
  verificationError: string | null;
  /** migrate-start-postcopy was asked for (it acts at the next round's decision). */
  postcopyRequested: boolean;
}

export type SourceEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'CONTINUE' }
  /** migrate-start-postcopy (needs postcopy-ram; ignored otherwise, as the API refuses it). */
  | { type: 'START_POSTCOPY' }
  /** The link failed while no actor was waiting on it (e.g. during the pre-switchover hold). */
  | { type: 'LINK_LOST'; reason: string };

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The actors a real migration supplies; these placeholders only make the chart loadable alone. */
function notProvided(name: string): Error {
  return new Error(`source machine: actor ${name} not provided`);
}

/**
 * What every running state does on a cancel or a lost link: roll back, then end cancelled or
 * failed. Spread into each state's `on` (rather than one parent state) so state values stay flat.
 */
const ABORTS = {
  CANCEL: { target: 'cancelling', actions: 'recordCancel' },
  LINK_LOST: { target: 'failing', actions: 'recordLinkLoss' },
} as const;

/** The last round, if it ended on its own test: only such a round can satisfy a stop rule. */
function judged(context: SourceContext): RoundMeasure | null {
  const m = context.lastRound;
  return m && !m.atDeadline ? m : null;
}

const pastTimeout = (context: SourceContext): boolean => (context.lastRound?.elapsed ?? 0) >= context.timeout;

/** A guard of stop-rule xen: the rule in force and its predicate on a judged round. */
function xen(test: (r: RoundClose) => boolean) {
  return ({ context }: { context: SourceContext }) => {
    const m = judged(context);
    return context.stopRule === 'xen' && m !== null && test(m);
  };
}

export const sourceMachine = setup({
  types: {
    context: {} as SourceContext,
    events: {} as SourceEvent,
    input: {} as SourceInput,
  },
  actors: {
    setupMigration: fromPromise<void>(async () => {
      throw notProvided('setupMigration');
    }),
    runRound: fromPromise<RoundMeasure, RoundPlan>(async () => {
      throw notProvided('runRound');
    }),
    switchover: fromPromise<void>(async () => {
      throw notProvided('switchover');
    }),
    sendDeviceState: fromPromise<void>(async () => {
      throw notProvided('sendDeviceState');
    }),
    prepareDestination: fromPromise<void>(async () => {
      throw notProvided('prepareDestination');
    }),
    /** Sends GO (the commit point) and waits for RESUMED. */
    commitSwitchover: fromPromise<void>(async () => {
      throw notProvided('commitSwitchover');
    }),
    verifyDestination: fromPromise<DestinationVerdict>(async () => {
      throw notProvided('verifyDestination');
    }),
    rollback: fromPromise<void, { reason: string }>(async () => {
      throw notProvided('rollback');
    }),
    /** After GO with no RESUMED: let the link go, stop tracking, ask the destination (never resume here). */
    settleOrphaned: fromPromise<RecoveredOutcome, { reason: string }>(async () => {
      throw notProvided('settleOrphaned');
    }),
    /**
     * Postcopy: pause the vCPUs, sync, hand the link over with the discard set and the device
     * state, serve the destination's faults and push the rest; resolves with its verdict.
     */
    runPostcopy: fromPromise<PostcopyOutcome>(async () => {
      throw notProvided('runPostcopy');
    }),
  },
  guards: {
    // The stop rules, tried in this order by active.decide (stop-rule.ts has the predicates).
    threshold: ({ context }) => {
      const m = judged(context);
      return m !== null && fitsThreshold(m);
    },
    xenPages: xen(xenFewPages),
    xenIterations: xen(xenMaxIterations),
    xenFactor: xen(xenMaxFactor),
    xenRate: xen(xenRateRose),
    stall: ({ context }) => {
      const m = judged(context);
      if (context.stopRule !== 'stall' || m === null) return false;
      return stalled(m, context.bestRemaining, context.stallMargin, context.stallDowntime ?? m.downtimeLimit);
    },
    timeoutCancel: ({ context }) => pastTimeout(context) && context.onTimeout === 'cancel',
    timeoutForce: ({ context }) => pastTimeout(context) && context.onTimeout === 'force',
    maxRounds: ({ context }) => (context.lastRound?.rounds ?? 0) >= context.maxRounds,
    holdBeforeSwitchover: ({ context }) => context.pauseBeforeSwitchover,
    // migrate-start-postcopy and its triggers, tried after the threshold (a set that fits goes
    // the pre-copy way, as QEMU's migration_iteration_run checks it first).
    postcopyAsked: ({ context }) => context.postcopyRam === true && context.postcopyRequested,
    postcopyAfterRounds: ({ context }) =>
      context.postcopyRam === true &&
      context.postcopyAfterRounds != null &&
      (context.lastRound?.rounds ?? 0) >= context.postcopyAfterRounds,
    postcopyOnStall: ({ context }) => {
      const m = judged(context);
      return (
        context.postcopyRam === true &&
        context.postcopyOnStall === true &&
        m !== null &&
        noProgress(m, context.bestRemaining)
      );
    },
    postcopyOnPrediction: ({ context }) =>
      context.postcopyRam === true &&
      context.postcopyOnPrediction === true &&
      judged(context)?.predictedConverges === false,
    postcopyFailed: ({ event }) => (event as { output?: PostcopyOutcome }).output?.failed === true,
  },
  actions: {
    recordCancel: assign({
      reason: ({ event }) => (event.type === 'CANCEL' ? (event.reason ?? 'cancelled by user') : null),
    }),
    recordError: assign({ reason: ({ event }) => errorText((event as { error?: unknown }).error) }),
    recordLinkLoss: assign({ reason: ({ event }) => (event.type === 'LINK_LOST' ? event.reason : null) }),
    refuseCancel: assign({
      refusedCancel: ({ context, event }) =>
        context.refusedCancel ?? (event.type === 'CANCEL' ? (event.reason ?? 'cancelled by user') : null),
    }),
    recordOrphaned: assign({
      reason: ({ event }) =>
        `the link failed after GO, before RESUMED (${
          event.type === 'LINK_LOST' ? event.reason : errorText((event as { error?: unknown }).error)
        }): the source guest stays paused until the destination says whether it runs it (the recovery query)`,
    }),
  },
}).createMachine({
  id: 'source',
  context: ({ input }) => ({
    postcopyRam: false,
    postcopyAfterRounds: null,
    postcopyOnStall: false,
    postcopyOnPrediction: false,
    ...input,
    lastRound: null,
    bestRemaining: Infinity,
    stopReason: null,
    verdict: null,
    reason: null,
    refusedCancel: null,
    verificationError: null,
    postcopyRequested: false,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: { START: 'setup', CANCEL: { target: 'cancelling', actions: 'recordCancel' } },
    },
    setup: {
      invoke: {
        id: 'setupMigration',
        src: 'setupMigration',
        onDone: 'active',
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    active: {
      initial: 'round',
      on: {
        ...ABORTS,
        START_POSTCOPY: {
          guard: ({ context }) => context.postcopyRam === true,
          actions: assign({ postcopyRequested: true }),
        },
      },
      states: {
        round: {
          invoke: {
            id: 'runRound',
            src: 'runRound',
            input: ({ context }): RoundPlan => ({
              endWhen: context.stopRule === 'qemu' ? 'fits' : 'sent',
              deadline: context.timeout,
              atDeadline: context.onTimeout === 'cancel' ? 'cut' : 'sync',
            }),
            onDone: { target: 'decide', actions: assign({ lastRound: ({ event }) => event.output }) },
            onError: { target: '#source.failing', actions: 'recordError' },
          },
        },
        decide: {
          always: [
            { guard: 'threshold', target: 'ready', actions: assign({ stopReason: 'threshold' }) },
            {
              guard: 'postcopyAsked',
              target: '#source.postcopy',
              actions: assign({ stopReason: 'postcopy' }),
            },
            {
              guard: 'postcopyAfterRounds',
              target: '#source.postcopy',
              actions: assign({ stopReason: 'postcopy' }),
            },
            {
              guard: 'postcopyOnStall',
              target: '#source.postcopy',
              actions: assign({ stopReason: 'postcopy' }),
            },
            {
              guard: 'postcopyOnPrediction',
              target: '#source.postcopy',
              actions: assign({ stopReason: 'postcopy' }),
            },
            { guard: 'xenPages', target: 'ready', actions: assign({ stopReason: 'xen-pages' }) },
            { guard: 'xenIterations', target: 'ready', actions: assign({ stopReason: 'xen-iterations' }) },
            { guard: 'xenFactor', target: 'ready', actions: assign({ stopReason: 'xen-factor' }) },
            { guard: 'xenRate', target: 'ready', actions: assign({ stopReason: 'xen-rate' }) },
            { guard: 'stall', target: 'ready', actions: assign({ stopReason: 'stall' }) },
            {
              guard: 'timeoutCancel',
              target: '#source.cancelling',
              actions: assign({
                stopReason: 'timeout',
                reason: ({ context }) => `timeout after ${context.timeout} ms (on-timeout cancel)`,
              }),
            },
            { guard: 'timeoutForce', target: 'ready', actions: assign({ stopReason: 'timeout' }) },
            { guard: 'maxRounds', target: 'ready', actions: assign({ stopReason: 'max-rounds' }) },
            {
              target: 'round',
              actions: assign({
                bestRemaining: ({ context }) =>
                  Math.min(context.bestRemaining, context.lastRound?.remainingBytes ?? Infinity),
              }),
            },
          ],
        },
        ready: {
          always: [
            { guard: 'holdBeforeSwitchover', target: '#source.preSwitchover' },
            { target: '#source.switchover' },
          ],
        },
      },
    },
    preSwitchover: {
      on: {
        CONTINUE: 'switchover',
        ...ABORTS,
      },
    },
    switchover: {
      invoke: {
        id: 'switchover',
        src: 'switchover',
        onDone: 'device',
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    device: {
      invoke: {
        id: 'sendDeviceState',
        src: 'sendDeviceState',
        onDone: 'prepare',
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    prepare: {
      invoke: {
        id: 'prepareDestination',
        src: 'prepareDestination',
        onDone: 'commit',
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    // GO is sent on entry: the commit point. A cancel is refused from here on.
    commit: {
      invoke: {
        id: 'commitSwitchover',
        src: 'commitSwitchover',
        onDone: 'verifying',
        onError: { target: 'orphaning', actions: 'recordOrphaned' },
      },
      on: {
        CANCEL: { actions: 'refuseCancel' },
        LINK_LOST: { target: 'orphaning', actions: 'recordOrphaned' },
      },
    },
    // The guest runs on the destination: whatever happens now, the migration completed.
    verifying: {
      invoke: {
        id: 'verifyDestination',
        src: 'verifyDestination',
        onDone: { target: 'completed', actions: assign({ verdict: ({ event }) => event.output }) },
        onError: {
          target: 'completed',
          actions: assign({
            verificationError: ({ event }) => `no verdict: ${errorText(event.error)}`,
          }),
        },
      },
      on: {
        CANCEL: { actions: 'refuseCancel' },
      },
    },
    // Postcopy: committed on entry (the destination runs the guest once the discard set is
    // there); a lost link pauses and recovers inside the phase, a cancel is refused.
    postcopy: {
      invoke: {
        id: 'runPostcopy',
        src: 'runPostcopy',
        onDone: [
          {
            guard: 'postcopyFailed',
            target: 'postcopyFailed',
            actions: assign({ reason: ({ event }) => event.output.reason ?? 'postcopy failed' }),
          },
          { target: 'completed', actions: assign({ verdict: ({ event }) => event.output }) },
        ],
        onError: { target: 'postcopyFailed', actions: 'recordError' },
      },
      on: {
        CANCEL: { actions: 'refuseCancel' },
      },
    },
    /** Postcopy failed: the guest runs on the destination without all its memory (QEMU status failed). */
    postcopyFailed: { type: 'final' },
    completed: { type: 'final' },
    cancelling: {
      invoke: {
        id: 'rollback',
        src: 'rollback',
        input: ({ context }) => ({ reason: context.reason ?? 'cancelled' }),
        onDone: 'cancelled',
        onError: 'cancelled',
      },
    },
    cancelled: { type: 'final' },
    failing: {
      invoke: {
        id: 'rollback',
        src: 'rollback',
        input: ({ context }) => ({ reason: context.reason ?? 'failed' }),
        onDone: 'failed',
        onError: 'failed',
      },
    },
    failed: { type: 'final' },
    orphaning: {
      invoke: {
        id: 'settleOrphaned',
        src: 'settleOrphaned',
        input: ({ context }) => ({ reason: context.reason ?? 'outcome unknown' }),
        onDone: [
          {
            guard: ({ event }) => event.output.outcome === 'discarded',
            target: 'failing',
            actions: assign({
              reason: ({ context }) =>
                `${context.reason}; the recovery query answered discarded: the source resumes its guest`,
            }),
          },
          {
            guard: ({ event }) => event.output.outcome === 'resumed',
            target: 'completed',
            actions: assign({
              verificationError: ({ context }) =>
                `no verdict: ${context.reason}; the recovery query answered resumed: the guest runs on the destination, unverified`,
            }),
          },
          {
            target: 'orphaned',
            actions: assign({
              reason: ({ context, event }) =>
                `${context.reason}; ${
                  event.output.outcome === 'unknown'
                    ? 'the destination has no record of this migration (restarted, or forgotten)'
                    : event.output.detail
                }: the operator must decide`,
            }),
          },
        ],
        onError: 'orphaned',
      },
      on: {
        CANCEL: { actions: 'refuseCancel' },
      },
    },
    /** Failed after GO with no answer to the recovery query: the source guest paused, the destination's unknown. */
    orphaned: { type: 'final' },
  },
});

/** Which side runs the guest once the machine has ended in `state`. */
export function guestSide(state: unknown): GuestSide {
  const name = typeof state === 'string' ? state : Object.keys(state as object)[0]!;
  if (name === 'completed' || name === 'postcopyFailed') return 'destination';
  if (name === 'cancelled' || name === 'failed') return 'source';
  return 'unknown'; // orphaned
}

/** The source machine's states, as `value` paths (for tests and the state list in results). */
export type SourceStateValue =
  | 'idle'
  | 'setup'
  | { active: 'round' | 'decide' | 'ready' }
  | 'preSwitchover'
  | 'switchover'
  | 'device'
  | 'prepare'
  | 'commit'
  | 'verifying'
  | 'completed'
  | 'cancelling'
  | 'cancelled'
  | 'failing'
  | 'failed'
  | 'orphaning'
  | 'orphaned';

/**
 * QEMU's MigrationStatus for a source state. Without pause-before-switchover QEMU reports
 * `active` until `completed`; with it, `pre-switchover` then `device` (research §2.1).
 */
export function migrationStatus(value: unknown, pauseBeforeSwitchover: boolean): MigrationStatus {
  const name = typeof value === 'string' ? value : Object.keys(value as object)[0]!;
  switch (name) {
    case 'idle':
      return 'none';
    case 'setup':
      return 'setup';
    case 'active':
      return 'active';
    case 'preSwitchover':
      return 'pre-switchover';
    case 'switchover':
    case 'device':
    case 'prepare':
    case 'commit':
      return pauseBeforeSwitchover ? 'device' : 'active';
    // RESUMED: the guest runs on the destination (QEMU's downtime ends); verification follows.
    case 'postcopy':
      return 'postcopy-active';
    case 'verifying':
    case 'completed':
      return 'completed';
    case 'cancelling':
      return 'cancelling';
    case 'cancelled':
      return 'cancelled';
    case 'failing':
    case 'failed':
    case 'orphaning':
    case 'orphaned':
    case 'postcopyFailed':
      return 'failed';
    default:
      throw new Error(`migrationStatus: unknown source state ${name}`);
  }
}

/** A dotted name for a state value: `active.round`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value as object)[0]!;
  return `${key}.${stateName(inner)}`;
}
