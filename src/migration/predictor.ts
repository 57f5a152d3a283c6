/**
 * The in-run predictor: after every live round, the scenario model (src/model, the one
 * `precopy predict` runs) re-fitted to what the migration measured, then run to the end.
 *
 * - At the first round the model runs the whole scenario once, keeping a copy of its state at
 *   each round's closing record (where the engine asks).
 * - After round k it takes its copy at round k, re-fits the write rate (the rate at which the
 *   model's law writes the distinct pages the round measured) and the wire cost per page (the
 *   round's measured bytes per page over the model's), carries the copy over to the measured
 *   clock, rounds, totals, dirty bytes, throttle and window (ModelMigration.continueFrom), and
 *   runs it to the end: rounds left, ETA, downtime and the outcome.
 * - The band: the same run with both fits 3 % either way (far from the end, every tenth round,
 *   its width carried in between). The ETA is the time to the end; the completion it implies
 *   never moves earlier than the previous prediction's band allows.
 * The result keeps every round's prediction; `predictionErrors` (result.ts) scores them against what happened.
 */
import type { PredictorFaults } from '../config/faults';
import {
  buildModel,
  type MeasuredState,
  type ModelMigration,
  type ModelRound,
  type Outcome,
} from '../model/index';
import type { Backing } from '../guest/memory';
import type { RoundStats } from './result';
import type { Scenario } from './scenario';

/** How far either way the band's runs move both fits. */
const BAND_FIT = 0.03;
/** Snapshots kept: past this many rounds the last one stands for the steady state. */
const MAX_SNAPSHOTS = 400;
/** Within this many rounds of the predicted end, every prediction runs its band. */
const FULL_BAND_ROUNDS = 20;
/** How much a round's measurement moves a fit (an exponential average over rounds). */
const FIT_WEIGHT = 0.5;

export interface RoundPrediction {
  /** Rounds after this one, stop-and-copy included. */
  roundsLeft: number;
  /** ms from the end of this round to the end of the migration (completion, or the cancel). */
  eta: number;
  /** The band of that ETA (ms). */
  etaBand: { low: number; high: number };
  /** The downtime the migration will have (0 when it is predicted to be cancelled). */
  downtime: number;
  outcome: Outcome;
}

/** What the engine tells the predictor when a live round has closed: the live rounds so far, this one last. */
export type MeasuredRound = Omit<MeasuredState, 'rounds'> & { rounds: RoundStats[] };

export class Predictor {
  private snapshots: ModelMigration[] | undefined;
  private rateScale = 1;
  private costScale = 1;
  /** The band's last measured width, relative to its ETA (below and above). */
  private bandWidth: { low: number; high: number } | undefined;
  /** The completion (ms since the start) the last prediction's band allowed at the earliest. */
  private earliest = -Infinity;

  constructor(
    private readonly scenario: Scenario,
    private readonly faults: PredictorFaults = {},
    /** The guest's backing (the model's page costs follow it). */
    private readonly backing?: Backing,
  ) {}

  private modelAt(round: number): ModelMigration {
    if (!this.snapshots) {
      const snapshots: ModelMigration[] = [];
      buildModel(this.scenario, undefined, { backing: this.backing }).finish((m) => {
        if (snapshots.length < MAX_SNAPSHOTS) snapshots.push(m.clone());
      });
      this.snapshots = snapshots;
    }
    const list = this.snapshots;
    return list[Math.min(round, list.length - 1)]!;
  }

  /** The model's answer after the live round `m.rounds` ends with. */
  afterRound(m: MeasuredRound): RoundPrediction {
    const k = m.rounds.length - 1;
    const base = this.modelAt(k);
    this.refit(base, m.rounds[k]!, k);
    const run = (rate: number, cost: number) => {
      const model = base.clone();
      model.fit = { rateScale: rate, costScale: cost };
      model.continueFrom({ ...m, rounds: m.rounds as ModelRound[] });
      return model.resume();
    };
    const nominal = run(this.rateScale, this.costScale);
    const etas = [nominal.totalTime - m.time];
    const roundsLeft = nominal.rounds.length - m.rounds.length;
    // Far from the end the band's width changes slowly: its runs every tenth round there.
    if (roundsLeft <= FULL_BAND_ROUNDS || k % 10 === 0 || this.bandWidth === undefined) {
      for (const f of [1 + BAND_FIT, 1 - BAND_FIT]) {
        const r = run(this.rateScale * f, this.costScale * f);
        etas.push(r.totalTime - m.time);
      }
      const e = etas[0]!;
      this.bandWidth =
        e > 0 ? { low: (e - Math.min(...etas)) / e, high: (Math.max(...etas) - e) / e } : { low: 0, high: 0 };
    } else etas.push(etas[0]! * (1 - this.bandWidth.low), etas[0]! * (1 + this.bandWidth.high));
    let eta = etas[0]!;
    const band = { low: Math.min(...etas), high: Math.max(...etas) };
    // Never move the completion earlier than the previous band allowed.
    const earliest = this.earliest - m.time;
    if (!this.faults.unclampedEta && eta < earliest) {
      eta = earliest;
      band.high = Math.max(band.high, eta);
    }
    eta = Math.max(0, eta);
    this.earliest = m.time + Math.max(0, band.low);
    return {
      roundsLeft: Math.max(0, nominal.rounds.length - m.rounds.length),
      eta,
      etaBand: { low: Math.max(0, band.low), high: Math.max(0, band.high) },
      downtime: nominal.downtime,
      outcome: nominal.outcome,
    };
  }

  /** Move the fits towards what round k measured. */
  private refit(base: ModelMigration, measured: RoundStats, k: number): void {
    const modelRound = base.rounds[k];
    if (!modelRound || measured.duration <= 0) return;
    // Rate: the scale at which the model's law, over the model's own round k, writes the
    // distinct pages round k measured.
    const written = (scale: number) => {
      const saved = base.fit;
      base.fit = { ...saved, rateScale: scale };
      const d = base.distinctWritten(base.roundRunFrom, base.run);
      base.fit = saved;
      return d;
    };
    if (measured.workingSetPages > 0 && written(1) > 0) {
      let lo = 0.1;
      let hi = 10;
      if (written(hi) >= measured.workingSetPages && written(lo) <= measured.workingSetPages) {
        for (let i = 0; i < 30; i++) {
          const mid = Math.sqrt(lo * hi);
          if (written(mid) < measured.workingSetPages) lo = mid;
          else hi = mid;
        }
        this.rateScale = Math.exp((1 - FIT_WEIGHT) * Math.log(this.rateScale) + FIT_WEIGHT * Math.log(lo));
      }
    }
    // Cost: measured wire bytes per page over the model's for the same round.
    if (measured.pagesSent > 0 && modelRound.pagesSent > 0 && modelRound.bytesWire > 0) {
      const ratio = measured.bytesWire / measured.pagesSent / (modelRound.bytesWire / modelRound.pagesSent);
      this.costScale = Math.exp((1 - FIT_WEIGHT) * Math.log(this.costScale) + FIT_WEIGHT * Math.log(ratio));
    }
  }
}
