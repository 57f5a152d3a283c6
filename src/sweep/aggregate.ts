/**
 * From runs to points: the figures a sweep reports per run, and their mean and spread over the
 * seeds of each point.
 */
import type { MigrationResult } from '../migration/result';
import type { RunRecord } from './store';

/** The per-run figures a sweep reports. `rounds` counts live rounds, the bulk round included. */
export const METRICS = {
  converged: (r: MigrationResult) => (r.precopy.converged ? 1 : 0),
  rounds: (r: MigrationResult) => r.precopy.rounds.filter((round) => !round.final).length,
  downtime: (r: MigrationResult) => r.downtime,
  totalBytes: (r: MigrationResult) => r.ram.transferred,
  totalTime: (r: MigrationResult) => r['total-time'],
  /** Pages sent over all rounds: memory once, plus every resend. */
  pagesSent: (r: MigrationResult) => r.precopy.rounds.reduce((n, round) => n + round.pagesSent, 0),
  /** Page bytes over wire bytes for the whole migration (what the encodings bought). */
  compression: (r: MigrationResult) => {
    const raw = r.precopy.rounds.reduce((n, round) => n + round.bytesRaw, 0);
    const wire = r.precopy.rounds.reduce((n, round) => n + round.bytesWire, 0);
    return wire > 0 ? raw / wire : 1;
  },
  /** The vCPU throttle at the end (auto-converge), percent. */
  throttle: (r: MigrationResult) => r['cpu-throttle-percentage'],
  /** MMU costs of dirty tracking (precopy.mmu; 0 for results from before it existed). */
  faults: (r: MigrationResult) => {
    const f = r.precopy.mmu?.faults;
    return f ? f.fast + f.slow + f.spurious : 0;
  },
  /** VM exits for a full PML buffer or dirty ring. */
  exits: (r: MigrationResult) =>
    r.precopy.mmu ? r.precopy.mmu.exits.pmlFull + r.precopy.mmu.exits.ringFull : 0,
  /** Harvest cost: bitmap words copied (get, manual), ring entries reaped, CLEAR_DIRTY_LOG calls. */
  bitmapWords: (r: MigrationResult) => r.precopy.mmu?.harvest.bitmapWords ?? 0,
  ringEntries: (r: MigrationResult) => r.precopy.mmu?.harvest.ringEntries ?? 0,
  clearCalls: (r: MigrationResult) => r.precopy.mmu?.harvest.clearCalls ?? 0,
  /** vCPUs found blocked on a full dirty ring by the reaper. */
  ringStalls: (r: MigrationResult) => r.precopy.mmu?.ringStalls ?? 0,
  /** vCPU run time lost in ring-full exits (ms). */
  ringStallMs: (r: MigrationResult) => r.precopy.mmu?.ringStallMs ?? 0,
  /** Share of the guest's run time the migration cost it, percent (precopy.guestSlowdown; 0 without). */
  slowdown: (r: MigrationResult) => (r.precopy.guestSlowdown?.share ?? 0) * 100,
  /** Postcopy: mean postcopy-vcpu-blocktime over the vCPUs (ms; 0 without postcopy). */
  blocktime: (r: MigrationResult) => r.precopy.guestSlowdown?.blocktimeMs ?? 0,
  /** Postcopy: page requests (postcopy-requests; 0 without postcopy). */
  postcopyRequests: (r: MigrationResult) => r.precopy.postcopy?.['postcopy-requests'] ?? 0,
} as const;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export interface Spread {
  mean: number;
  /** Sample standard deviation (0 for one seed). */
  sd: number;
  min: number;
  max: number;
}

export interface PointSummary {
  point: string;
  coords: Record<string, unknown>;
  /** Seeds with a result, and runs whose runner failed. */
  seeds: number[];
  errors: string[];
  metrics: Record<MetricName, Spread> | null;
  /** One result of the point (lowest seed), for its scenario and for model inputs. */
  sample: MigrationResult | null;
}

export function spread(values: number[]): Spread {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, sd: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Group runs by point and summarise each over its seeds; points in `order` (the sweep's own
 * order, by point id) first, the rest in first-seen order.
 */
export function summarise(records: RunRecord[], order: string[] = []): PointSummary[] {
  const groups = new Map<string, RunRecord[]>(order.map((point) => [point, []]));
  for (const r of records) {
    const group = groups.get(r.point);
    if (group) group.push(r);
    else groups.set(r.point, [r]);
  }
  return [...groups.values()]
    .filter((group) => group.length > 0)
    .map((group) => {
      const ok = group.filter((r) => r.result).sort((a, b) => a.seed - b.seed);
      const metrics =
        ok.length === 0
          ? null
          : (Object.fromEntries(
              METRIC_NAMES.map((name) => [name, spread(ok.map((r) => METRICS[name](r.result!)))]),
            ) as Record<MetricName, Spread>);
      return {
        point: group[0]!.point,
        coords: group[0]!.coords,
        seeds: ok.map((r) => r.seed),
        errors: group.filter((r) => r.error !== undefined).map((r) => `seed ${r.seed}: ${r.error}`),
        metrics,
        sample: ok[0]?.result ?? null,
      };
    });
}
