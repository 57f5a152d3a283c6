/**
 * The destination's events as its dashboard's feed: a state event when the chart moves, a round
 * event when it acknowledges a round (with the pages it applied and when the round opened), and
 * the outcome. Per-frame progress is folded here, so the page gets a few events per round.
 */
import type { DestinationEvent } from '../dest/destination';
import type { ReceiverProgress } from '../dest/receiver';
import type { DestFeedEvent, DestOutcome } from './dest-view';

export class DestinationFeed {
  private state = '';
  /** Rounds acknowledged, the open round, and when it opened (migration clock). */
  private acked = 0;
  private openRound = -1;
  private openedAt = 0;

  constructor(private readonly publish: (e: DestFeedEvent) => void) {}

  onEvent(event: DestinationEvent): void {
    switch (event.type) {
      case 'attached':
        this.state = '';
        this.acked = 0;
        this.openRound = -1;
        return this.publish({ type: 'attached' });
      case 'busy':
        return this.publish({ type: 'busy' });
      case 'ended':
        return this.publish({ type: 'ended', outcome: outcomeOf(event) });
      case 'queried':
        return;
    }
  }

  /** The chart's step: a state event when it moved, a round event when a round was acknowledged. */
  onProgress({ state, context, time }: ReceiverProgress): void {
    if (state !== this.state) {
      this.state = state;
      this.publish({ type: 'state', time, state });
    }
    if (context.round !== this.openRound) {
      this.openRound = context.round;
      this.openedAt = time;
    }
    if (context.rounds > this.acked) {
      this.acked = context.rounds;
      this.publish({
        type: 'round',
        time,
        round: context.round,
        final: context.final,
        pages: context.roundPages,
        start: this.openedAt,
        end: time,
      });
    }
  }
}

function outcomeOf(event: Extract<DestinationEvent, { type: 'ended' }>): DestOutcome {
  const pagesReceived = event.pagesPerRound.reduce((a, b) => a + b, 0);
  if (event.kind === 'discarded')
    return {
      kind: 'discarded',
      verified: null,
      reason: event.reason,
      downtimeMs: null,
      pagesReceived,
      hash: null,
    };
  const v = event.verdict;
  return {
    kind: 'resumed',
    verified: v ? v.passed : null,
    reason: v ? (v.reason ?? null) : (event.reason ?? 'the source left before the verdict'),
    downtimeMs: v ? v.destinationDowntimeMs : null,
    pagesReceived,
    hash: v ? v.destinationHash : null,
  };
}
