/**
 * The analytic model's (§5.2) prediction for a sweep point, from its scenario: the figures the
 * heatmaps overlay and the CSV reports beside the measured ones, and the two boundaries the maps
 * draw (λ = 1 and WWS = bandwidth × downtime-limit).
 */
import { predict } from '../migration/model';
import { DEFAULT_VIRTUAL_BANDWIDTH, parseScenario, type Scenario } from '../migration/scenario';
import type { WorkloadSpec } from '../guest/spec';

/** The metrics the model predicts; the others (pages sent, compression, throttle) it has no view of. */
export const PREDICTED_METRICS = ['converged', 'rounds', 'downtime', 'totalBytes', 'totalTime'] as const;

export interface Prediction {
  /** The model's figure for each metric it predicts (the others have no model). */
  metrics: Partial<Record<string, number>>;
  /** D / R. */
  lambda: number;
  /** Writable working set over the stop threshold R × downtime-limit: ≥ 1 cannot converge. */
  wwsOverThreshold: number;
}

/** The region a workload's writes stay in: the most distinct bytes a round can dirty. */
function workingSetOf(workload: WorkloadSpec, memory: number): number | null {
  switch (workload.kind) {
    case 'uniform':
    case 'sequential':
    case 'incrementer':
      return workload.size;
    case 'hotcold':
      return workload.hot; // the cold share also writes elsewhere: a lower bound
    case 'idle':
      return memory;
    default:
      return null; // phased and replayed workloads have no single rate
  }
}

/**
 * The model's view of a scenario: R is the live rounds' rate (max-bandwidth capped by the link),
 * D the workload's rate, the WWS its write region. Null when the workload has no single rate
 * or the scenario does not validate.
 */
export function predictScenario(scenario: unknown): Prediction | null {
  let s: Scenario;
  try {
    s = parseScenario(scenario);
  } catch {
    return null;
  }
  const { memory, workload } = s.guest;
  const workingSet = workingSetOf(workload, memory);
  if (workingSet === null || !('rate' in workload)) return null;
  const link = s.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH;
  const rate = Math.min(s.migration['max-bandwidth'], link);
  const out = predict({
    memory,
    rate,
    dirtyRate: workload.rate,
    downtimeLimit: s.migration['downtime-limit'],
    workingSet,
    maxRounds: s.migration['max-rounds'],
    finalRate: link,
  });
  return {
    metrics: {
      converged: out.converges ? 1 : 0,
      rounds: out.rounds,
      downtime: out.downtime,
      totalBytes: out.bytes,
      totalTime: out.totalTime,
    },
    lambda: out.lambda,
    wwsOverThreshold: workload.rate === 0 ? 0 : out.threshold > 0 ? workingSet / out.threshold : Infinity,
  };
}
