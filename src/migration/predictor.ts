/**
 * The predictor: after every round, the analytic model (model.ts) restarted from what the
 * migration measured: send rate R, the guest's distinct-page dirty rate D, the writable working
 * set seen so far, and the bytes dirty now. It answers rounds left (stop-and-copy included) and
 * the time to completion; null when the model says the migration cannot converge.
 * The result reports each prediction's error once the real figures are known.
 */
import { roundsToGo } from '../model/analytic';

export interface PredictorInput {
  /** Bytes dirty now (after the sync that closed the round). */
  remaining: number;
  /** Measured send rate of the live rounds (bytes/s). */
  sendRate: number;
  /** Measured distinct bytes dirtied per second by the guest. */
  dirtyRate: number;
  /** Largest distinct-bytes-per-round measured so far, if any round saturated. */
  workingSet?: number;
  downtimeLimit: number;
  /** Rounds still allowed by the round cap. */
  roundsAllowed: number;
  /** Rate of stop-and-copy (the link's, max-bandwidth lifted). */
  finalRate: number;
}

export interface Prediction {
  roundsLeft: number | null;
  eta: number | null;
}

export function predictRest(input: PredictorInput): Prediction {
  if (!(input.sendRate > 0)) return { roundsLeft: null, eta: null };
  const { rounds, converges } = roundsToGo(input.remaining, {
    rate: input.sendRate,
    dirtyRate: input.dirtyRate,
    downtimeLimit: input.downtimeLimit,
    workingSet: input.workingSet,
    maxRounds: Math.max(0, input.roundsAllowed),
    finalRate: input.finalRate,
  });
  if (!converges) return { roundsLeft: null, eta: null };
  return { roundsLeft: rounds.length, eta: rounds.reduce((sum, r) => sum + r.duration, 0) };
}

/**
 * Each round's prediction against what happened: predicted total rounds − actual total, and
 * predicted ETA − actual time from that round's end to completion (ms). Null where the
 * prediction was null.
 */
export function predictionErrors(
  rounds: {
    round: number;
    start: number;
    duration: number;
    predictedRoundsLeft: number | null;
    predictedEta: number | null;
    final: boolean;
  }[],
  totalTime: number,
): { round: number; rounds: number | null; eta: number | null }[] {
  const total = rounds.length;
  return rounds
    .filter((r) => !r.final)
    .map((r) => ({
      round: r.round,
      rounds: r.predictedRoundsLeft === null ? null : r.round + 1 + r.predictedRoundsLeft - total,
      eta: r.predictedEta === null ? null : r.predictedEta - (totalTime - (r.start + r.duration)),
    }));
}
