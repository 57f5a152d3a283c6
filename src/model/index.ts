/**
 * precopy's model of a migration, from the whole parsed scenario: what `precopy predict`
 * prints, what the in-run predictor re-fits after every round, what sweeps overlay on their
 * maps and what the dashboard draws as the predicted downtime. One layer, four users.
 *
 * - law.ts: the workload's write law (which pages, how many writes after so much run time);
 * - costs.ts: each page's wire size, sampled through the real encoder from the scenario's own
 *   content pools (zero pages cost their record; lz4 and XBZRLE as measured);
 * - memory-map.ts: the migration bitmap as expected quantities over GFN intervals;
 * - simulate.ts: the round engine's control flow, stepped window by window, with the engine's
 *   own rate window, auto-converge, dirty-limit, stop rules and ramps;
 * - analytic.ts: the textbook recurrence (research §5.2), for comparison.
 *
 * `predictScenario` runs the model for the scenario and for two neighbours (other seeds' content
 * pools, the write rate nudged by its sampling noise): their spread is the band of each figure.
 */
import type { ModelFaults } from '../config/faults';
import type { Backing } from '../guest/memory';
import { planMemory } from '../migration/memory-plan';
import type { Scenario } from '../migration/scenario';
import { DEFAULT_VIRTUAL_BANDWIDTH } from '../migration/scenario';
import type { MigrationResult, RoundStats } from '../migration/result';
import type { StopReason } from '../migration/stop-rule';
import { PAGE_SIZE } from '../util/units';
import { measureCosts, type PageCosts } from './costs';
import { workloadLaw, type WorkloadLaw } from './law';
import {
  ModelMigration,
  NO_FIT,
  type ModelFit,
  type ModelRound,
  type ModelRun,
  type Outcome,
} from './simulate';

export { analyticModel, type AnalyticInput, type AnalyticOutput } from './analytic';
// The model's whole surface: the migration it steps, its rounds, its runs and its fit.
export * from './simulate';
export { workloadLaw, type WorkloadLaw } from './law';
export { measureCosts, type PageCosts } from './costs';

export interface Band {
  low: number;
  high: number;
}

export interface Diagnosis {
  /** Guest dirty rate over send rate in the last live rounds. */
  lambda: number;
  /** Distinct bytes dirtied per second and bytes sent per second there. */
  dirtyRate: number;
  sendRate: number;
  /** Bytes dirty at the last sync, against the threshold it had to fit. */
  remaining: number;
  threshold: number;
  /** The least max-bandwidth (bytes/s) at which the working set would fit, or null when none would. */
  needsBandwidth: number | null;
  /** True when the link itself is slower than that. */
  beyondLink: boolean;
}

export interface Verdict {
  outcome: Outcome;
  /** Rounds including the bulk round and stop-and-copy. */
  rounds: number;
  /** When it ends: completion, or the cancel (ms). */
  at: number;
  stopReason: StopReason;
  /** The verdict in one line, e.g. `converges in 3 rounds` or `cancelled at 3600.0 s (timeout)`. */
  text: string;
  /** For a migration that does not converge: why, and what would make it. */
  diagnosis: Diagnosis | null;
  /** `does not converge: λ = 1.80 ≥ 1, needs ≥ 31.2 MiB/s or auto-converge`, or null. */
  diagnosisText: string | null;
}

export interface ScenarioPrediction {
  scenario: Scenario;
  run: ModelRun;
  verdict: Verdict;
  bands: { downtime: Band; bytes: Band; totalTime: Band; rounds: Band };
  /** Share of the band's runs whose outcome is the nominal run's (1 = all agree). */
  agreement: number;
}

/** Build the model of a scenario (law and sampled costs), ready to run. */
export function buildModel(
  s: Scenario,
  fit: ModelFit = NO_FIT,
  shared?: { law?: WorkloadLaw; costs?: PageCosts; backing?: Backing },
): ModelMigration {
  const law = shared?.law ?? workloadLaw(s.guest);
  const costs = shared?.costs ?? scenarioCosts(s, s.guest.seed, { backing: shared?.backing });
  return new ModelMigration(s, law, costs, fit);
}

/** Cost tables already measured in this process, by what they depend on (sweeps repeat them). */
const costCache = new Map<string, PageCosts>();
const COST_CACHE_ENTRIES = 32;

export type { ModelFaults };

/**
 * The backing a run of this scenario holds its pages in (README "Modes and backings"): fast mode
 * is metadata; full mode's `auto` is the memory plan's choice on this machine (a scenario the plan
 * refuses would not run: it is modelled as generated).
 */
export function runBacking(s: Scenario, available?: number): Backing {
  if (s.run.mode === 'fast') return 'metadata';
  if (s.run.backing !== 'auto') return s.run.backing;
  try {
    return planMemory(s, 'full', available).backing;
  } catch {
    return 'generated';
  }
}

export function scenarioCosts(
  s: Scenario,
  seed = s.guest.seed,
  options: { faults?: ModelFaults; backing?: Backing } = {},
): PageCosts {
  const { faults } = options;
  const backing = options.backing ?? runBacking(s);
  const encodings = s.migration.encodings;
  const w = s.guest.workload;
  const writes =
    w.kind === 'phased'
      ? w.phases.map((p) => [p.workload.content, p.workload.writeSize, p.workload.rate > 0])
      : w.kind === 'incrementer'
        ? 'incrementer'
        : [w.content, w.writeSize];
  const key = JSON.stringify([
    seed,
    s.guest.fill.content,
    s.guest.fill.populated > 0,
    writes,
    encodings,
    backing,
    faults,
  ]);
  let costs = costCache.get(key);
  if (!costs) {
    costs = measureCosts(
      { ...s.guest, seed },
      {
        zero: encodings.includes('zero'),
        lz4: encodings.includes('lz4'),
        xbzrle: encodings.includes('xbzrle'),
        zeroPagesAsData: faults?.zeroPagesAsData === true,
        backing,
        ignoreBacking: faults?.ignoreBacking === true,
      },
    );
    if (costCache.size >= COST_CACHE_ENTRIES) costCache.delete(costCache.keys().next().value!);
    costCache.set(key, costs);
  }
  return costs;
}

/** QEMU's rate-limit window (ms): no round of the qemu rule is shorter. */
const WINDOW_MS = 100;

/**
 * The writable working set as the maps draw it: distinct bytes the guest writes in one 100 ms
 * window at the start of the migration. A working set at least R × downtime-limit cannot fit
 * the threshold, however short the rounds get.
 */
export function workingSetBytes(model: ModelMigration): number {
  return model.distinctWritten(0, WINDOW_MS) * PAGE_SIZE;
}

/** The guest's page-write rate over its first second, over the live rounds' send rate: λ. */
export function initialLambda(model: ModelMigration, s: Scenario): number {
  const rate = Math.min(s.migration['max-bandwidth'], s.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH);
  const dirty = model.law.totalWrites(1000) * PAGE_SIZE;
  return dirty / rate;
}

function usesText(s: Scenario): boolean {
  const w = s.guest.workload;
  if (s.guest.fill.content === 'text' && s.guest.fill.populated > 0) return true;
  if (w.kind === 'phased') return w.phases.some((p) => p.workload.content === 'text');
  return 'content' in w && w.content === 'text';
}

function random(s: Scenario): boolean {
  const w = s.guest.workload;
  if (w.kind === 'phased') return w.phases.some((p) => p.workload.kind !== 'sequential');
  return w.kind === 'idle' || w.kind === 'uniform' || w.kind === 'hotcold';
}

const MiB = 1024 * 1024;

function fmtRate(bytesPerSecond: number): string {
  return bytesPerSecond >= 1024 * MiB
    ? `${(bytesPerSecond / 1024 / MiB).toFixed(2)} GiB/s`
    : `${(bytesPerSecond / MiB).toFixed(1)} MiB/s`;
}

function fmtTime(ms: number): string {
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(1)} ms`;
}

/**
 * The least max-bandwidth at which the round recurrence (pages dirtied during a round of the
 * current length, at the steady write rate) falls below R × downtime-limit.
 */
function neededBandwidth(model: ModelMigration, run: ModelRun, s: Scenario): number | null {
  const live = run.rounds.filter((r) => !r.final);
  const last = live[live.length - 1];
  if (!last) return null;
  const perPage = last.pagesSent > 0 ? last.bytesWire / last.pagesSent : PAGE_SIZE;
  const limit = s.migration['downtime-limit'];
  const throttle = 1 - last.throttle / 100;
  const at = model.run;
  const distinct = (ms: number) => model.distinctWritten(at, at + ms * throttle);
  const converges = (rate: number): boolean => {
    const send = rate;
    let pages = s.guest.memory / PAGE_SIZE;
    for (let k = 0; k < 400; k++) {
      const ms = ((pages * perPage) / send) * 1000;
      const next = distinct(Math.max(ms, 100));
      if (next * PAGE_SIZE < send * (limit / 1000)) return true;
      if (next >= pages * 0.9999 && k > 2) return false;
      pages = next;
    }
    return false;
  };
  let lo = s.migration['max-bandwidth'];
  if (converges(lo)) return null;
  let hi = lo * 2;
  for (let k = 0; !converges(hi); k++) {
    if (k > 40) return null;
    hi *= 2;
  }
  for (let k = 0; k < 30; k++) {
    const mid = Math.sqrt(lo * hi);
    if (converges(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

function diagnose(model: ModelMigration, run: ModelRun, s: Scenario): Diagnosis {
  const live = run.rounds.filter((r) => !r.final);
  // The steady part: the last few live rounds, not the bulk.
  const rounds = live.length > 1 ? live.slice(Math.max(1, live.length - 5)) : live;
  const seconds = rounds.reduce((n, r) => n + r.duration, 0) / 1000;
  const dirty = rounds.reduce((n, r) => n + r.workingSetPages * PAGE_SIZE, 0);
  const sent = rounds.reduce((n, r) => n + r.bytesWire, 0);
  const last = live[live.length - 1]!;
  const needs = neededBandwidth(model, run, s);
  const link = s.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH;
  return {
    lambda: sent > 0 ? dirty / sent : Infinity,
    dirtyRate: seconds > 0 ? dirty / seconds : 0,
    sendRate: seconds > 0 ? sent / seconds : 0,
    remaining: last.remaining,
    threshold: last.threshold,
    needsBandwidth: needs,
    beyondLink: needs !== null && needs > link,
  };
}

function diagnosisText(d: Diagnosis, s: Scenario): string {
  const aid = s.migration['auto-converge']
    ? 'a stronger throttle'
    : s.migration['dirty-limit']
      ? 'a lower vcpu-dirty-limit'
      : 'auto-converge';
  const needs =
    d.needsBandwidth === null
      ? `no bandwidth fits it: needs ${aid}`
      : `needs ≥ ${fmtRate(d.needsBandwidth)}${d.beyondLink ? ' (more than the link)' : ''} or ${aid}`;
  const why =
    d.lambda >= 1
      ? `λ = ${d.lambda.toFixed(2)} ≥ 1`
      : `λ = ${d.lambda.toFixed(2)}, but ${(d.remaining / MiB).toFixed(1)} MiB stay dirty against a ${(d.threshold / MiB).toFixed(1)} MiB threshold`;
  return `does not converge: ${why}, ${needs}`;
}

function verdictOf(model: ModelMigration, run: ModelRun, s: Scenario): Verdict {
  const rounds = run.rounds.length;
  let text: string;
  if (run.outcome === 'converged') text = `converges in ${rounds} rounds`;
  else if (run.outcome === 'forced')
    text = `forced at ${fmtTime(run.totalTime - run.downtime)} (${run.stopReason === 'max-rounds' ? `max-rounds ${s.migration['max-rounds']}` : run.stopReason})`;
  else text = `cancelled at ${fmtTime(run.totalTime)} (timeout)`;
  const diagnosis = run.outcome !== 'converged' ? diagnose(model, run, s) : null;
  return {
    outcome: run.outcome,
    rounds,
    at: run.totalTime,
    stopReason: run.stopReason,
    text,
    diagnosis,
    diagnosisText: diagnosis ? diagnosisText(diagnosis, s) : null,
  };
}

function band(values: number[]): Band {
  return { low: Math.min(...values), high: Math.max(...values) };
}

export interface PredictOptions {
  /** Run the two neighbours for the bands (default true). */
  bands?: boolean;
  faults?: ModelFaults;
  /** The backing the run holds its pages in (default: the one it would pick, runBacking). */
  backing?: Backing;
}

/** The model's prediction for a scenario: the run, its verdict, and a band for each figure. */
export function predictScenario(s: Scenario, options: PredictOptions = {}): ScenarioPrediction {
  const law = workloadLaw(s.guest);
  const backing = options.backing ?? runBacking(s);
  const costs = scenarioCosts(s, s.guest.seed, { faults: options.faults, backing });
  const model = new ModelMigration(s, law, costs);
  const run = model.finish();
  const verdict = verdictOf(model, run, s);
  const runs = [run];
  if (options.bands !== false) {
    const first = run.rounds[0];
    const noise =
      random(s) && first
        ? Math.min(0.02, Math.max(0.002, 1 / Math.sqrt(Math.max(1, first.workingSetPages))))
        : 0;
    const text = usesText(s);
    for (const k of [1, 2]) {
      const fit = { rateScale: 1 + (k === 1 ? noise : -noise), costScale: 1 };
      if (!text && noise === 0) break;
      runs.push(
        buildModel(s, fit, {
          law,
          costs: text ? scenarioCosts(s, s.guest.seed + k, { backing }) : costs,
        }).finish(),
      );
    }
  }
  const bytes = (r: ModelRun) => r.precopyBytes + r.downtimeBytes;
  return {
    scenario: s,
    run,
    verdict,
    bands: {
      downtime: band(runs.map((r) => r.downtime)),
      bytes: band(runs.map(bytes)),
      totalTime: band(runs.map((r) => r.totalTime)),
      rounds: band(runs.map((r) => r.rounds.length)),
    },
    agreement: runs.filter((r) => r.outcome === run.outcome).length / runs.length,
  };
}

/** A model round as the result's RoundStats (what the model does not know is empty). */
function roundStats(r: ModelRound): RoundStats {
  return {
    ...r,
    predictedRoundsLeft: null,
    predictedEta: null,
    dirtyByRegion: [],
  };
}

/**
 * The prediction in `precopy run`'s result shape (QEMU's query-migrate with precopy's additions),
 * so a prediction and a run diff field by field. `precopy.model` holds the verdict and bands.
 */
export function predictionResult(p: ScenarioPrediction): MigrationResult & {
  precopy: { model: { verdict: Verdict; bands: ScenarioPrediction['bands']; agreement: number } };
} {
  const r = p.run;
  const live = Math.max(1, r.totalTime);
  const completed = r.status === 'completed';
  return {
    status: r.status,
    ...(completed
      ? {}
      : { 'error-desc': `timeout after ${p.scenario.migration.timeout} ms (on-timeout cancel)` }),
    'total-time': r.totalTime,
    'setup-time': 0,
    downtime: completed ? r.downtime : 0,
    'expected-downtime': r.expectedDowntime,
    ram: {
      transferred: r.precopyBytes + r.downtimeBytes,
      remaining: completed ? 0 : (r.rounds[r.rounds.length - 1]?.remaining ?? 0),
      total: p.scenario.guest.memory,
      duplicate: r.zeroPages,
      normal: r.pagesSent - r.zeroPages,
      'normal-bytes': (r.pagesSent - r.zeroPages) * PAGE_SIZE,
      'dirty-sync-count': r.syncCount,
      'dirty-pages-rate': r.dirtyPagesRate,
      mbps: ((r.precopyBytes + r.downtimeBytes - r.stateBytes) * 8) / live / 1000,
      'pages-per-second': (r.pagesSent * 1000) / live,
      'precopy-bytes': r.precopyBytes,
      'downtime-bytes': r.downtimeBytes,
      'page-size': PAGE_SIZE,
    },
    'cpu-throttle-percentage': r.throttle,
    ...(r.dirtyLimitPenaltyUs !== undefined
      ? { 'dirty-limit-throttle-time-per-round': r.dirtyLimitPenaltyUs }
      : {}),
    precopy: {
      version: 1,
      clock: 'virtual',
      converged: r.converged,
      guestDirtyPagesRate: 0,
      destinationDowntime: completed ? r.downtime : 0,
      downtimeBreakdown: { finalHarvest: 0, finalSend: 0, vcpuState: 0, destinationResume: 0 },
      verification: null,
      regionPages: 0,
      rounds: r.rounds.map(roundStats),
      predictionError: [],
      scenario: p.scenario,
      states: completed
        ? ['none', 'setup', 'active', 'completed']
        : ['none', 'setup', 'active', 'cancelling', 'cancelled'],
      stopReason: r.stopReason,
      model: { verdict: p.verdict, bands: p.bands, agreement: p.agreement },
    },
  };
}
