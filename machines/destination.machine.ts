/**
 * The destination side of a migration as a pure statechart (research §2.2, Cloud Hypervisor's
 * receiver). The receiver (src/dest/receiver.ts) turns each frame into one event and provides
 * the actions and actors that do the I/O: apply pages, acknowledge rounds, load the vCPU state,
 * resume the guest, verify and run it. The chart decides what is allowed when.
 *
 *   migrating: handshake → configuring → receiving (rounds) → awaitingState → stateReceived
 *              → preparing → ready ──GO──▶ resumed (guest runs here) → verdict
 *   receiving.betweenRounds ──POSTCOPY──▶ postcopy (guest runs here, pages on demand) → postcopied
 *
 * The switchover is a commit protocol (src/wire/README.md): PREPARE loads the state and answers
 * READY; only GO, the source's commit point, resumes the guest here. Before GO a CANCEL, an
 * ERROR from the source or a lost link discards the image (`abandoned`), and a bad frame ends in
 * `failed`: the source keeps its guest. From `resumed` on the guest runs here and nothing the
 * source says takes it back: a CANCEL is refused, a lost link only leaves it unverified.
 * Verification (image hash, edge rule) and the post-run run after the resume, off the downtime.
 *
 * Every event carries `time`: when the frame arrived, in the run's clock (the source's timestamp
 * plus latency in virtual time, the destination's own clock in wall time). The chart keeps the
 * switchover's timeline from those times, so its downtime is the same at any machine speed.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { WireErrorCode } from '../src/wire/errors';
import type { DestinationBreakdown, DestinationVerdict, PostRun } from '../src/wire/verdict';

/** What went wrong, as the ERROR frame the receiver sends before closing. */
export interface Failure {
  code: WireErrorCode;
  message: string;
  closeCode: number;
}

export type DestinationEvent = { time: number } & (
  | { type: 'HELLO' }
  | { type: 'CONFIG' }
  | { type: 'ROUND_START'; round: number; final: boolean }
  /** One PAGES frame (up to 240 pages): never one event per page. */
  | { type: 'PAGES'; round: number; count: number }
  | { type: 'ROUND_END'; round: number; pages: number; runningHash: number }
  | { type: 'VCPU_STATE' }
  | { type: 'PREPARE' }
  | { type: 'GO' }
  | { type: 'VERIFY'; sourceHash: string }
  /** BITMAP(discard) between rounds: migrate-start-postcopy; the guest runs here from now on. */
  | { type: 'POSTCOPY' }
  | { type: 'CANCEL'; reason: string }
  /** The source sent an ERROR frame. */
  | { type: 'PEER_ERROR'; reason: string }
  | { type: 'LINK_CLOSED'; reason: string }
  /** A frame that did not decode, or whose contents an action refused. */
  | { type: 'FAULT'; failure: Failure }
);

/** The switchover as the destination saw it, in the run's clock. */
export interface Timeline {
  /** ROUND_END of the last live (non-final) round: the last page before the stop. */
  lastLiveEnd: number | null;
  finalStart: number | null;
  finalEnd: number | null;
  prepare: number | null;
  ready: number | null;
  go: number | null;
  resumed: number | null;
}

export interface DestinationContext {
  /** The state last entered, for error messages (`migrating.receiving.inRound`). */
  phase: string;
  /** The open round (or the last one), -1 before the first. */
  round: number;
  final: boolean;
  /** Rounds acknowledged. */
  rounds: number;
  /** Page records applied in the open round, and in all. */
  roundPages: number;
  pagesReceived: number;
  timeline: Timeline;
  sourceHash: string | null;
  postRun: PostRun | null;
  failure: Failure | null;
  /** Why the migration ended without a verdict (abandoned, or resumed and then cut off). */
  reason: string | null;
  /** Postcopy's verdict (src/dest/postcopy-receiver.ts), when the source stayed for it. */
  postcopyVerdict: DestinationVerdict | null;
}

/** Destination downtime: the last live page → the guest running here, part by part. */
export function destinationDowntime(t: Timeline): { total: number; breakdown: DestinationBreakdown } {
  const resumed = t.resumed ?? 0;
  const finalStart = t.finalStart ?? resumed;
  // A migration whose only round was the final one has no live page: its downtime starts there.
  const lastLive = t.lastLiveEnd ?? finalStart;
  const at = (x: number | null, fallback: number) => x ?? fallback;
  const finalEnd = at(t.finalEnd, finalStart);
  const prepare = at(t.prepare, finalEnd);
  const ready = at(t.ready, prepare);
  const go = at(t.go, ready);
  return {
    total: resumed - lastLive,
    breakdown: {
      stop: finalStart - lastLive,
      finalRound: finalEnd - finalStart,
      vcpuState: prepare - finalEnd,
      prepare: ready - prepare,
      commit: go - ready,
      resume: resumed - go,
    },
  };
}

/** A dotted name for a state value: `migrating.receiving.inRound`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  return Object.entries(value as object)
    .map(([key, inner]) => `${key}.${stateName(inner)}`)
    .join(',');
}

function unexpected(event: DestinationEvent, state: string): Failure {
  return {
    code: 'PRECOPY_ERR_UNEXPECTED_FRAME',
    message: `${event.type} is not allowed in state '${state}'`,
    closeCode: 1002,
  };
}

function badField(message: string): Failure {
  return { code: 'PRECOPY_ERR_BAD_FIELD', message, closeCode: 1002 };
}

/** The frame events; a state that does not take one hands it to its parent's `unexpected`. */
const FRAME_EVENTS = [
  'HELLO',
  'CONFIG',
  'ROUND_START',
  'PAGES',
  'ROUND_END',
  'VCPU_STATE',
  'PREPARE',
  'GO',
  'VERIFY',
  'POSTCOPY',
] as const;

/** The same transition for every frame event (not a wildcard: the chart's own events stay out). */
function unexpectedFrames<T>(transition: T): Record<(typeof FRAME_EVENTS)[number], T> {
  return Object.fromEntries(FRAME_EVENTS.map((type) => [type, transition])) as Record<
    (typeof FRAME_EVENTS)[number],
    T
  >;
}

const EMPTY_TIMELINE: Timeline = {
  lastLiveEnd: null,
  finalStart: null,
  finalEnd: null,
  prepare: null,
  ready: null,
  go: null,
  resumed: null,
};

/** The receiver's placeholders only make the chart loadable alone (tests, graphs). */
function notProvided(name: string): Error {
  return new Error(`destination machine: actor ${name} not provided`);
}

export const destinationMachine = setup({
  types: { context: {} as DestinationContext, events: {} as DestinationEvent },
  actors: {
    /** Load the vCPU state and build the guest on the image; resolves with the time it is ready. */
    prepareGuest: fromPromise<number>(async () => {
      throw notProvided('prepareGuest');
    }),
    /** Verify the image at resume, then run the guest for post-run and check what it reads. */
    runResumed: fromPromise<PostRun | null>(async () => {
      throw notProvided('runResumed');
    }),
    /** Postcopy's phase on the link the receiver handed over; resolves with its verdict (null: none). */
    runPostcopy: fromPromise<DestinationVerdict | null>(async () => {
      throw notProvided('runPostcopy');
    }),
  },
  guards: {
    nextRound: ({ context, event }) => event.type === 'ROUND_START' && event.round === context.round + 1,
    openRound: ({ context, event }) => event.type === 'PAGES' && event.round === context.round,
    /** ROUND_END's round and page count match what was applied (the receiver checks the hash). */
    roundEndMatches: ({ context, event }) =>
      event.type === 'ROUND_END' && event.round === context.round && event.pages === context.roundPages,
    finalRound: ({ context }) => context.final,
  },
  actions: {
    // I/O: the receiver provides these (src/dest/receiver.ts).
    acceptHello: () => undefined,
    acceptConfig: () => undefined,
    beginRound: () => undefined,
    applyPages: () => undefined,
    ackRound: () => undefined,
    keepState: () => undefined,
    sendReady: () => undefined,
    resume: () => undefined,
    sendVerdict: () => undefined,
    startPostcopy: () => undefined,
    reject: () => undefined,
    discard: () => undefined,
    release: () => undefined,
    // The chart's own bookkeeping.
    openRound: assign(({ event }) =>
      event.type === 'ROUND_START' ? { round: event.round, final: event.final, roundPages: 0 } : {},
    ),
    countPages: assign(({ context, event }) =>
      event.type === 'PAGES'
        ? { roundPages: context.roundPages + event.count, pagesReceived: context.pagesReceived + event.count }
        : {},
    ),
    closeRound: assign(({ context }) => ({ rounds: context.rounds + 1 })),
    stamp: assign(({ context, event }, params: { at: keyof Timeline }) => ({
      timeline: { ...context.timeline, [params.at]: event.time },
    })),
    stampLiveOrFinal: assign(({ context, event }) => ({
      timeline: { ...context.timeline, [context.final ? 'finalEnd' : 'lastLiveEnd']: event.time },
    })),
    stampFinalStart: assign(({ context, event }) =>
      event.type === 'ROUND_START' && event.final
        ? { timeline: { ...context.timeline, finalStart: event.time } }
        : {},
    ),
    recordFault: assign(({ event }) => (event.type === 'FAULT' ? { failure: event.failure } : {})),
    recordUnexpected: assign(({ context, event }) => ({ failure: unexpected(event, context.phase) })),
    enter: assign((_, params: { phase: string }) => ({ phase: params.phase })),
    recordRoundOutOfOrder: assign(({ context, event }) => ({
      failure: badField(
        event.type === 'ROUND_START'
          ? `ROUND_START.round ${event.round} out of order, expected ${context.round + 1}`
          : `PAGES.round ${event.type === 'PAGES' ? event.round : '?'} is not the open round ${context.round}`,
      ),
    })),
    recordRoundMismatch: assign(({ context, event }) => ({
      failure: {
        code: 'PRECOPY_ERR_ROUND_MISMATCH' as const,
        message:
          event.type === 'ROUND_END'
            ? `ROUND_END round ${event.round} pages ${event.pages}; destination has round ${context.round} pages ${context.roundPages}`
            : 'ROUND_END expected',
        closeCode: 1007,
      },
    })),
    recordReason: assign(({ event }) => ({
      reason:
        event.type === 'CANCEL'
          ? `cancelled by the source: ${event.reason}`
          : event.type === 'PEER_ERROR' || event.type === 'LINK_CLOSED'
            ? event.reason
            : event.type === 'FAULT'
              ? event.failure.message
              : `${event.type}`,
    })),
  },
}).createMachine({
  id: 'destination',
  context: {
    phase: 'migrating.handshake',
    round: -1,
    final: false,
    rounds: 0,
    roundPages: 0,
    pagesReceived: 0,
    timeline: EMPTY_TIMELINE,
    sourceHash: null,
    postRun: null,
    failure: null,
    reason: null,
    postcopyVerdict: null,
  },
  initial: 'migrating',
  states: {
    migrating: {
      initial: 'handshake',
      on: {
        CANCEL: { target: 'abandoned', actions: 'recordReason' },
        PEER_ERROR: { target: 'abandoned', actions: 'recordReason' },
        LINK_CLOSED: { target: 'abandoned', actions: 'recordReason' },
        FAULT: { target: 'failed', actions: 'recordFault' },
        // A frame the state below did not take: the source broke the protocol.
        ...unexpectedFrames({ target: 'failed', actions: 'recordUnexpected' }),
      },
      states: {
        handshake: {
          entry: { type: 'enter', params: { phase: 'migrating.handshake' } },
          on: { HELLO: { target: 'configuring', actions: 'acceptHello' } },
        },
        configuring: {
          entry: { type: 'enter', params: { phase: 'migrating.configuring' } },
          on: { CONFIG: { target: 'receiving', actions: 'acceptConfig' } },
        },
        receiving: {
          initial: 'betweenRounds',
          states: {
            betweenRounds: {
              entry: { type: 'enter', params: { phase: 'migrating.receiving.betweenRounds' } },
              on: {
                // migrate-start-postcopy: the guest runs here on what the rounds brought.
                POSTCOPY: {
                  target: '#destination.postcopy',
                  actions: [
                    { type: 'stamp', params: { at: 'go' } },
                    { type: 'stamp', params: { at: 'resumed' } },
                    'startPostcopy',
                  ],
                },
                ROUND_START: [
                  {
                    guard: 'nextRound',
                    target: 'inRound',
                    actions: ['openRound', 'stampFinalStart', 'beginRound'],
                  },
                  { target: '#destination.failed', actions: 'recordRoundOutOfOrder' },
                ],
              },
            },
            inRound: {
              entry: { type: 'enter', params: { phase: 'migrating.receiving.inRound' } },
              on: {
                PAGES: [
                  { guard: 'openRound', actions: ['applyPages', 'countPages'] },
                  { target: '#destination.failed', actions: 'recordRoundOutOfOrder' },
                ],
                ROUND_END: [
                  {
                    guard: 'roundEndMatches',
                    actions: ['ackRound', 'closeRound', 'stampLiveOrFinal'],
                    target: 'roundClosed',
                  },
                  { target: '#destination.failed', actions: 'recordRoundMismatch' },
                ],
              },
            },
            // Transient: after the final round the vCPU state comes, else another round.
            roundClosed: {
              always: [
                { guard: 'finalRound', target: '#destination.migrating.awaitingState' },
                { target: 'betweenRounds' },
              ],
            },
          },
        },
        // The vCPU state only follows a completed stop-and-copy round.
        awaitingState: {
          entry: { type: 'enter', params: { phase: 'migrating.awaitingState' } },
          on: { VCPU_STATE: { target: 'stateReceived', actions: 'keepState' } },
        },
        stateReceived: {
          entry: { type: 'enter', params: { phase: 'migrating.stateReceived' } },
          on: {
            PREPARE: {
              target: 'preparing',
              actions: { type: 'stamp', params: { at: 'prepare' } },
            },
          },
        },
        preparing: {
          entry: { type: 'enter', params: { phase: 'migrating.preparing' } },
          invoke: {
            id: 'prepareGuest',
            src: 'prepareGuest',
            onDone: {
              target: 'ready',
              actions: [
                assign(({ context, event }) => ({ timeline: { ...context.timeline, ready: event.output } })),
                'sendReady',
              ],
            },
            onError: {
              target: '#destination.failed',
              actions: assign(({ event }) => ({
                failure: {
                  code: 'PRECOPY_ERR_BAD_FIELD' as const,
                  message: `PREPARE: cannot load the guest: ${(event.error as Error)?.message ?? event.error}`,
                  closeCode: 1007,
                },
              })),
            },
          },
        },
        ready: {
          entry: { type: 'enter', params: { phase: 'migrating.ready' } },
          on: {
            // The commit point: from here the guest runs on this side.
            GO: {
              target: '#destination.resumed',
              actions: [
                { type: 'stamp', params: { at: 'go' } },
                { type: 'stamp', params: { at: 'resumed' } },
                'resume',
              ],
            },
          },
        },
      },
    },
    // The guest runs here now: nothing the source says can take it back.
    resumed: {
      entry: { type: 'enter', params: { phase: 'resumed' } },
      type: 'parallel',
      on: {
        // Too late to discard: the guest stays; without a source there is nothing to verify against.
        CANCEL: {
          target: 'cutOff',
          actions: assign(({ event }) => ({
            reason: `a CANCEL after GO was refused (the guest runs here): ${event.type === 'CANCEL' ? event.reason : ''}`,
          })),
        },
        LINK_CLOSED: { target: 'cutOff', actions: 'recordReason' },
        PEER_ERROR: { target: 'cutOff', actions: 'recordReason' },
        FAULT: { target: 'cutOff', actions: ['recordFault', 'recordReason', 'reject'] },
        ...unexpectedFrames({ target: 'cutOff', actions: ['recordUnexpected', 'recordReason', 'reject'] }),
      },
      states: {
        guest: {
          initial: 'running',
          states: {
            running: {
              invoke: {
                id: 'runResumed',
                src: 'runResumed',
                onDone: {
                  target: 'checked',
                  actions: assign(({ event }) => ({ postRun: event.output })),
                },
                onError: {
                  target: 'checked',
                  actions: assign(({ event }) => ({
                    postRun: {
                      ms: 0,
                      writes: 0,
                      check: 'none' as const,
                      passed: false,
                      reason: `post-run failed: ${(event.error as Error)?.message ?? event.error}`.slice(
                        0,
                        1024,
                      ),
                    },
                  })),
                },
              },
            },
            checked: { type: 'final' },
          },
        },
        source: {
          initial: 'awaitingHash',
          states: {
            awaitingHash: {
              on: {
                VERIFY: {
                  target: 'hashReceived',
                  actions: assign(({ event }) => ({
                    sourceHash: event.type === 'VERIFY' ? event.sourceHash : null,
                  })),
                },
              },
            },
            hashReceived: { type: 'final' },
          },
        },
      },
      onDone: 'verified',
    },
    // Postcopy: the guest runs here while its pages arrive; the postcopy receiver owns the link.
    // Nothing undoes it (there is no whole guest anywhere else).
    postcopy: {
      entry: { type: 'enter', params: { phase: 'postcopy' } },
      // Only the switch itself can be refused (no guest to run, wall time): nothing ran here yet.
      on: { FAULT: { target: 'failed', actions: 'recordFault' } },
      invoke: {
        id: 'runPostcopy',
        src: 'runPostcopy',
        onDone: {
          target: 'postcopied',
          actions: assign(({ event }) => ({
            postcopyVerdict: event.output,
            reason: event.output ? null : 'postcopy ended without a verdict',
          })),
        },
        onError: {
          target: 'postcopied',
          actions: assign(({ event }) => ({
            reason: `postcopy failed: ${(event.error as Error)?.message ?? event.error}`,
          })),
        },
      },
    },
    /** Postcopy's phase ended (verified, failed, or the source gone): the guest keeps running here. */
    postcopied: { type: 'final', entry: 'release' },
    /** Verification and post-run done, the verdict sent: the guest keeps running here. */
    verified: { type: 'final', entry: ['sendVerdict', 'release'] },
    /** The guest runs here, but the source went away before the verdict. */
    cutOff: { type: 'final', entry: 'release' },
    abandoned: { type: 'final', entry: 'discard' },
    failed: { type: 'final', entry: ['reject', 'discard'] },
  },
});
