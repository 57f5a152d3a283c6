/**
 * The source side of a migration as a pure statechart (research §2.1, §2.4). Every effect is an
 * actor the round engine provides (`sourceMachine.provide({ actors })`): the chart names the
 * I/O, never does it.
 *
 *   idle → setup → active (round, decide, round, ...) → [preSwitchover] → switchover (vCPUs
 *   paused, last dirty set sent) → device (vCPU state) → awaitingAck → completed
 *
 * Cancel is accepted in every running state and goes through `cancelling`; any actor error
 * goes through `failing`. Both run `rollback` (abandon the destination, resume the vCPUs, stop
 * throttling), so `cancelled` and `failed` always end with the source guest running.
 *
 * Transitions are compare-and-swap: an event is taken only by the state it was meant for, and
 * the actor's done event and CANCEL are processed one at a time in arrival order. So a cancel
 * racing a completion resolves deterministically: whichever arrives first wins; a CANCEL after
 * `completed` is ignored (the destination owns the guest), a completion after CANCEL is dropped
 * with the actor that produced it.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { MigrationStatus } from '../src/migration/result';

/** What one round (one sync-to-sync interval) ends with. */
export interface RoundOutcome {
  /** The synced dirty set fits the threshold (or the stop rule said so). */
  converged: boolean;
  /** Rounds finished so far, the bulk round included. */
  rounds: number;
  /** Time since the migration began (ms). */
  elapsed: number;
}

export interface DestinationVerdict {
  passed: boolean;
  reason?: string;
}

export interface SourceInput {
  maxRounds: number;
  timeout: number;
  onTimeout: 'cancel' | 'force';
  pauseBeforeSwitchover: boolean;
}

export type SwitchoverReason = 'converged' | 'max-rounds' | 'timeout-force';

export interface SourceContext extends SourceInput {
  lastRound: RoundOutcome | null;
  switchoverReason: SwitchoverReason | null;
  verdict: DestinationVerdict | null;
  /** Why the migration was cancelled or failed. */
  reason: string | null;
}

export type SourceEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'CONTINUE' }
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
    runRound: fromPromise<RoundOutcome>(async () => {
      throw notProvided('runRound');
    }),
    switchover: fromPromise<void>(async () => {
      throw notProvided('switchover');
    }),
    sendDeviceState: fromPromise<void>(async () => {
      throw notProvided('sendDeviceState');
    }),
    awaitDestination: fromPromise<DestinationVerdict>(async () => {
      throw notProvided('awaitDestination');
    }),
    rollback: fromPromise<void, { reason: string }>(async () => {
      throw notProvided('rollback');
    }),
  },
  guards: {
    converged: ({ context }) => context.lastRound?.converged === true,
    timedOutCancel: ({ context }) =>
      (context.lastRound?.elapsed ?? 0) >= context.timeout && context.onTimeout === 'cancel',
    timedOutForce: ({ context }) =>
      (context.lastRound?.elapsed ?? 0) >= context.timeout && context.onTimeout === 'force',
    roundCapReached: ({ context }) => (context.lastRound?.rounds ?? 0) >= context.maxRounds,
    holdBeforeSwitchover: ({ context }) => context.pauseBeforeSwitchover,
    verified: ({ context }) => context.verdict?.passed === true,
  },
  actions: {
    recordCancel: assign({
      reason: ({ event }) => (event.type === 'CANCEL' ? (event.reason ?? 'cancelled by user') : null),
    }),
    recordError: assign({ reason: ({ event }) => errorText((event as { error?: unknown }).error) }),
    recordLinkLoss: assign({ reason: ({ event }) => (event.type === 'LINK_LOST' ? event.reason : null) }),
  },
}).createMachine({
  id: 'source',
  context: ({ input }) => ({
    ...input,
    lastRound: null,
    switchoverReason: null,
    verdict: null,
    reason: null,
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
      },
      states: {
        round: {
          invoke: {
            id: 'runRound',
            src: 'runRound',
            onDone: { target: 'decide', actions: assign({ lastRound: ({ event }) => event.output }) },
            onError: { target: '#source.failing', actions: 'recordError' },
          },
        },
        decide: {
          always: [
            { guard: 'converged', target: 'ready', actions: assign({ switchoverReason: 'converged' }) },
            {
              guard: 'timedOutCancel',
              target: '#source.cancelling',
              actions: assign({
                reason: ({ context }) => `timeout after ${context.timeout} ms (on-timeout cancel)`,
              }),
            },
            {
              guard: 'timedOutForce',
              target: 'ready',
              actions: assign({ switchoverReason: 'timeout-force' }),
            },
            {
              guard: 'roundCapReached',
              target: 'ready',
              actions: assign({ switchoverReason: 'max-rounds' }),
            },
            { target: 'round' },
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
        onDone: 'awaitingAck',
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    awaitingAck: {
      invoke: {
        id: 'awaitDestination',
        src: 'awaitDestination',
        onDone: { target: 'checkVerdict', actions: assign({ verdict: ({ event }) => event.output }) },
        onError: { target: 'failing', actions: 'recordError' },
      },
      on: {
        ...ABORTS,
      },
    },
    checkVerdict: {
      always: [
        { guard: 'verified', target: 'completed' },
        {
          target: 'failing',
          actions: assign({
            reason: ({ context }) => `verification failed: ${context.verdict?.reason ?? 'image differs'}`,
          }),
        },
      ],
    },
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
  },
});

/** The source machine's states, as `value` paths (for tests and the state list in results). */
export type SourceStateValue =
  | 'idle'
  | 'setup'
  | { active: 'round' | 'decide' | 'ready' }
  | 'preSwitchover'
  | 'switchover'
  | 'device'
  | 'awaitingAck'
  | 'checkVerdict'
  | 'completed'
  | 'cancelling'
  | 'cancelled'
  | 'failing'
  | 'failed';

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
    case 'awaitingAck':
    case 'checkVerdict':
      return pauseBeforeSwitchover ? 'device' : 'active';
    case 'completed':
      return 'completed';
    case 'cancelling':
      return 'cancelling';
    case 'cancelled':
      return 'cancelled';
    case 'failing':
    case 'failed':
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
