/**
 * The destination side as a pure statechart (research §2.2, Cloud Hypervisor's receiver):
 *
 *   handshake → receiving (rounds) → stateReceived → verified → running
 *
 * ABANDON is accepted in every state before `running` and discards the partial image (the
 * source stays authoritative until it has a verified image, Xen's commitment point). A bad
 * frame or a failed verification ends in `failed`, never `running`. ABANDON racing VERIFIED
 * resolves by arrival order: an ABANDON that arrives after `running` is ignored (the guest
 * already runs here), a VERIFIED that arrives after `abandoned` is dropped.
 */
import { assign, setup } from 'xstate';

export type DestinationEvent =
  | { type: 'HELLO' }
  | { type: 'ROUND_START'; final: boolean }
  | { type: 'ROUND_END' }
  | { type: 'VCPU_STATE' }
  | { type: 'VERIFIED' }
  | { type: 'VERIFY_FAILED'; reason: string }
  | { type: 'RESUMED' }
  | { type: 'ERROR'; reason: string }
  | { type: 'ABANDON' };

export interface DestinationContext {
  rounds: number;
  finalRoundSeen: boolean;
  reason: string | null;
}

export const destinationMachine = setup({
  types: { context: {} as DestinationContext, events: {} as DestinationEvent },
  guards: {
    finalRoundSeen: ({ context }) => context.finalRoundSeen,
  },
  actions: {
    recordFailure: assign({
      reason: ({ event }) => ('reason' in event ? event.reason : event.type),
    }),
  },
}).createMachine({
  id: 'destination',
  context: { rounds: 0, finalRoundSeen: false, reason: null },
  initial: 'migrating',
  states: {
    migrating: {
      initial: 'handshake',
      on: {
        ABANDON: { target: 'abandoned' },
        ERROR: { target: 'failed', actions: 'recordFailure' },
      },
      states: {
        handshake: { on: { HELLO: 'receiving' } },
        receiving: {
          initial: 'betweenRounds',
          states: {
            betweenRounds: {
              on: {
                ROUND_START: {
                  target: 'inRound',
                  actions: assign({ finalRoundSeen: ({ event }) => event.final }),
                },
                // The vCPU state only follows a completed stop-and-copy round.
                VCPU_STATE: { guard: 'finalRoundSeen', target: '#destination.migrating.stateReceived' },
              },
            },
            inRound: {
              on: {
                ROUND_END: {
                  target: 'betweenRounds',
                  actions: assign({ rounds: ({ context }) => context.rounds + 1 }),
                },
              },
            },
          },
        },
        stateReceived: {
          on: {
            VERIFIED: 'verified',
            VERIFY_FAILED: { target: '#destination.failed', actions: 'recordFailure' },
          },
        },
        verified: { on: { RESUMED: '#destination.running' } },
      },
    },
    // The guest runs here now: nothing the source says can take it back.
    running: { type: 'final' },
    abandoned: { type: 'final' },
    failed: { type: 'final' },
  },
});
