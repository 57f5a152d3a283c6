/**
 * The model's prediction for a sweep point (src/model, the same model `precopy predict` runs):
 * the figures the heatmaps overlay and the CSV reports beside the measured ones, and the two
 * boundaries the maps draw (λ = 1 and WWS = bandwidth × downtime-limit).
 */
import {
  buildModel,
  initialLambda,
  predictionResult,
  predictScenario as modelPrediction,
  workingSetBytes,
} from '../model/index';
import { METRICS } from './aggregate';
import { DEFAULT_VIRTUAL_BANDWIDTH, parseScenario, type Scenario } from '../migration/scenario';

/** The metrics the model predicts; the others (pages sent, compression, throttle) it has no view of. */
export const PREDICTED_METRICS = ['converged', 'rounds', 'downtime', 'totalBytes', 'totalTime'] as const;

export interface Prediction {
  /** The model's figure for each metric it predicts (the others have no model). */
  metrics: Partial<Record<string, number>>;
  /** The guest's initial distinct dirtying rate over the live rounds' send rate. */
  lambda: number;
  /** Writable working set (distinct bytes written in one 100 ms window) over R × downtime-limit: ≥ 1 cannot converge. */
  wwsOverThreshold: number;
}

/** The model's view of a scenario; null when the scenario does not validate. */
export function predictScenario(scenario: unknown): Prediction | null {
  let s: Scenario;
  try {
    s = parseScenario(scenario);
  } catch {
    return null;
  }
  const p = modelPrediction(s, { bands: false });
  // The law alone (no run): the initial rate and the working set of one window.
  const model = buildModel(s);
  const rate = Math.min(s.migration['max-bandwidth'], s.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH);
  const threshold = (rate * s.migration['downtime-limit']) / 1000;
  const wws = workingSetBytes(model);
  return {
    // The sweep's own metric definitions, read off the prediction in a result's shape.
    metrics: Object.fromEntries(PREDICTED_METRICS.map((m) => [m, METRICS[m](predictionResult(p))])),
    lambda: initialLambda(model, s),
    wwsOverThreshold: wws === 0 ? 0 : threshold > 0 ? wws / threshold : Infinity,
  };
}
