/**
 * The model's migration: the round engine's control flow (src/migration/engine.ts and the
 * source machine's guards) stepped on expected quantities instead of pages. Each iteration is
 * QEMU's: send up to the 100 ms window's budget (or for at most 50 ms), sleep to the window's
 * end, refresh the counters; a round ends when the stop rule says (qemu: the estimate below the
 * threshold, tested every iteration; round/xen/stall: an empty dirty set), with a sync that
 * folds in what the guest wrote. The deciding pieces are the engine's own: RateWindow,
 * DirtyPeriod (auto-converge's trigger and steps), DirtyLimit (its penalties), the stop rules,
 * the downtime ramps and the guest's CpuTime (the throttle's timeslices). What differs is the
 * guest: writes come from the workload law (law.ts), the bitmap from memory-map.ts, each page's
 * wire size from costs.ts.
 *
 * Fitting factors (`rateScale`, `costScale`) let the in-run predictor re-fit the same model to
 * what a migration measured; the band runs use them too.
 */
import { CpuTime } from '../guest/cpu-time';
import { DirtyLimit } from '../migration/dirty-limit';
import { DirtyPeriod } from '../migration/dirty-period';
import { rampedLimit } from '../migration/downtime-ramp';
import { RateWindow } from '../migration/rate-window';
import type { RoundStats } from '../migration/result';
import type { Scenario } from '../migration/scenario';
import { multifdLink } from '../migration/metadata';
import { cpuBoundMs, encodeRateOf } from '../link/sender';
import {
  CONVERGED_REASONS,
  StallDetector,
  xenRule,
  type RoundClose,
  type StopReason,
} from '../migration/stop-rule';
import { DEFAULT_VIRTUAL_BANDWIDTH } from '../migration/scenario';
import { PAGE_SIZE } from '../util/units';
import type { PageCosts } from './costs';
import type { WorkloadLaw } from './law';
import { EMPTY_PAGES, MemoryMap, type SendContext, type SendTotals } from './memory-map';

/** QEMU's MAX_WAIT (engine.ts): an iteration returns to the convergence test at least this often. */
const MAX_WAIT_MS = 50;
/** Dirty ring size per vCPU and the entries KVM keeps free (src/migration/dirty-tracker.ts, src/mmu). */
const RING_ENTRIES = 4096;
const RING_RESERVED = 64;
const PML_ENTRIES = 512;
/** How much of the √(2n) spread of a difference of two rounds' page counts counts as no fall. */
const XEN_NOISE = 0.25;
/**
 * An expected dirty set under half a page is most likely empty (no page with probability
 * e^-0.5 = 61 %): the stop rules see it so, where the run would see 0 pages, not a fraction.
 */
const LIKELY_EMPTY = 0.5;
/** Rounds this close (relative) to each other count as a steady state the model may skip over. */
const STEADY = 1e-3;

/** One round as the model sees it: the fields of RoundStats the model can predict. */
export type ModelRound = Pick<
  RoundStats,
  | 'round'
  | 'start'
  | 'duration'
  | 'pagesHarvested'
  | 'pagesSent'
  | 'pagesZero'
  | 'bytesRaw'
  | 'bytesWire'
  | 'compressionRatio'
  | 'dirtyRate'
  | 'sendRate'
  | 'lambda'
  | 'workingSetPages'
  | 'remaining'
  | 'threshold'
  | 'expectedDowntime'
  | 'throttle'
  | 'dirtyLimitPenalty'
  | 'final'
> &
  Required<Pick<RoundStats, 'downtimeLimit'>>;

export type Outcome = 'converged' | 'forced' | 'cancelled';

export interface ModelRun {
  outcome: Outcome;
  status: 'completed' | 'cancelled';
  /** threshold | stall | xen-* | max-rounds | timeout. */
  stopReason: StopReason;
  converged: boolean;
  rounds: ModelRound[];
  totalTime: number;
  downtime: number;
  /** Bytes on the wire: pages (live + stop-and-copy) and the vCPU state. */
  precopyBytes: number;
  downtimeBytes: number;
  stateBytes: number;
  pagesSent: number;
  zeroPages: number;
  deltaPages: number;
  throttle: number;
  syncCount: number;
  dirtyPagesRate: number;
  expectedDowntime: number;
  dirtyLimitPenaltyUs?: number;
  /** Rounds the steady state let the model skip (their records are copies of the last one). */
  extrapolatedRounds: number;
}

export interface ModelFit {
  /** Multiply the workload's writes (its rate). */
  rateScale: number;
  /** Multiply every page's wire size. */
  costScale: number;
}

export const NO_FIT: ModelFit = { rateScale: 1, costScale: 1 };

/** The vCPU state blob's size (src/guest/vcpu-state.ts: float64s per vCPU of run time, counts, registers). */
function vcpuStateBytes(s: Scenario): number {
  const w = s.guest.workload;
  const rngRegisters = 4;
  const registers = (kind: string): number =>
    kind === 'sequential' ? 1 + rngRegisters : kind === 'replay' ? 2 + rngRegisters : rngRegisters;
  let values = 3;
  for (let v = 0; v < s.guest.vcpus; v++) {
    let regs: number;
    if (w.kind === 'incrementer') regs = v === 0 ? 1 : 0;
    else if (w.kind === 'replay') regs = v === 0 ? registers('replay') : 0;
    else if (w.kind === 'phased') regs = 2 + w.phases.reduce((n, p) => n + 1 + registers(p.workload.kind), 0);
    else regs = registers(w.kind);
    values += 4 + regs;
  }
  return values * 8;
}

/**
 * The simulation's whole state in plain fields, so the in-run predictor can copy it at a round
 * boundary and run the copy forward.
 */
export class ModelMigration {
  private readonly p: Scenario['migration'];
  private readonly link: number;
  private readonly sender: ModelSender;
  private readonly latency: number;
  readonly map: MemoryMap;
  private window: RateWindow;
  private period: DirtyPeriod;
  private dirtyLimit: DirtyLimit | undefined;
  private stall: StallDetector | undefined;
  private cpu: CpuTime;
  /** Clock (ms since the migration began) and the writing vCPUs' run time. */
  t = 0;
  run = 0;
  private paused = false;
  /** dirty-limit: sleep owed (ms) by a writing vCPU, its penalty (ms per ring-full), ring state. */
  private sleepOwed = 0;
  private penaltyMs = 0;
  private runAtReap = 0;
  private ringBlocked = false;
  private readonly reapedByVcpu: Float64Array;
  private runAtSync = 0;
  private runAtRecord = 0;
  /** Run time at the start of the last recorded live round (it ended at `run`). */
  roundRunFrom = 0;
  private dirtyBytesLastSync = 0;
  private liveStart = 0;
  rounds: ModelRound[] = [];
  private roundNo = 0;
  private current = { start: 0, harvested: 0, sent: emptyTotals() };
  private total = emptyTotals();
  private precopyBytes = 0;
  private downtimeBytes = 0;
  private stateBytes = 0;
  private downtimeStart = 0;
  private downtime = 0;
  /** Set by whichever decision ends the live phase. */
  private stopReason!: StopReason;
  private extrapolated = 0;
  private timedOutInRound = false;
  private timedOutAtClose = false;
  /** Called at each live round's record (a copy made there can resume()). */
  private onRecorded: ((model: ModelMigration) => void) | undefined;
  fit: ModelFit;

  constructor(
    private readonly scenario: Scenario,
    readonly law: WorkloadLaw,
    costs: PageCosts,
    fit: ModelFit = NO_FIT,
  ) {
    this.p = scenario.migration;
    this.fit = fit;
    this.link = scenario.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH;
    this.sender = new ModelSender(this.link, scenario);
    this.latency = scenario.run.latency;
    this.map = new MemoryMap(
      law,
      costs,
      scenario.guest.fill.populated / scenario.guest.memory,
      this.p['dirty-log'] === 'manual',
    );
    this.cpu = new CpuTime(0);
    this.window = new RateWindow(this.p['downtime-limit'], this.p['max-bandwidth'], 0);
    this.period = new DirtyPeriod(
      {
        enabled: this.p['auto-converge'],
        initial: this.p['cpu-throttle-initial'],
        increment: this.p['cpu-throttle-increment'],
        max: this.p['max-cpu-throttle'],
        triggerThreshold: this.p['throttle-trigger-threshold'],
        dirtyLimit: this.p['dirty-limit'],
      },
      0,
    );
    this.period.onSync(0, 0, 0);
    this.reapedByVcpu = new Float64Array(scenario.guest.vcpus);
    if (this.p['dirty-limit'])
      this.dirtyLimit = new DirtyLimit(
        {
          quota: this.p['vcpu-dirty-limit'],
          periodMs: this.p['x-vcpu-dirty-limit-period'],
          ringEntries: RING_ENTRIES,
        },
        scenario.guest.vcpus,
      );
    if (this.p['stop-rule'] === 'stall')
      this.stall = new StallDetector(this.p['stall-margin'], () => this.budget());
    this.dirtyBytesLastSync = law.pages * PAGE_SIZE;
  }

  private budget(): number {
    return this.p['stall-downtime'] ?? this.window.limit;
  }

  /** A deep copy (the predictor runs copies forward from a round boundary). */
  clone(): ModelMigration {
    const copy = cloneDeep(this) as ModelMigration;
    copy.onRecorded = undefined;
    if (copy.stall) {
      const stall = copy.stall;
      (stall as unknown as { budget: () => number }).budget = () => copy.budget();
    }
    return copy;
  }

  // ////     the guest     ////

  /** Distinct pages written between run times a and b (the guest's own working set). */
  distinctWritten(a: number, b: number): number {
    if (b <= a) return 0;
    const s = this.fit.rateScale;
    const w = this.law.classWeights;
    let sum = 0;
    this.law.cells.forEach((cell, i) => {
      const pages = cell.to - cell.from;
      for (let c = 0; c < w.length; c++) {
        const d = this.law.lambda(i, c, b * s) - this.law.lambda(i, c, a * s);
        if (d > 0) sum += pages * w[c]! * -Math.expm1(-d);
      }
    });
    for (const d of this.law.det) sum += d.distinct(a * s, b * s);
    return sum;
  }

  /** Advance the clock by `ms`; the guest runs (throttled, penalised, blocked on a full ring). */
  private advance(ms: number): void {
    if (ms <= 0) return;
    const before = this.cpu.at(this.t);
    this.t += ms;
    if (this.paused) return;
    const available = this.cpu.at(this.t) - before;
    if (available <= 0 || this.ringBlocked) return;
    const ring = this.p['dirty-log'] === 'ring';
    if (!ring && this.penaltyMs === 0) {
      this.run += available;
      return;
    }
    const writers = this.law.writers;
    const perVcpu = (run: number) => this.distinctWritten(this.runAtReap, run) / writers;
    let ran = available;
    if (this.penaltyMs > 0) {
      // Served in the ring-full exit: sleep per ring's worth of entries pushed (fixed point).
      for (let k = 0; k < 4; k++) {
        const pushed = perVcpu(this.run + ran) - perVcpu(this.run);
        const sleep = Math.min(available, this.sleepOwed + (pushed * this.penaltyMs) / RING_ENTRIES);
        ran = available - sleep;
      }
      const pushed = perVcpu(this.run + ran) - perVcpu(this.run);
      this.sleepOwed = Math.max(
        0,
        this.sleepOwed + (pushed * this.penaltyMs) / RING_ENTRIES - (available - ran),
      );
    }
    if (ring) {
      const soft = RING_ENTRIES - RING_RESERVED - (this.p.tracking === 'dbit' ? PML_ENTRIES : 0);
      if (perVcpu(this.run + ran) >= soft) {
        // The ring fills: the vCPU stops until the reaper resets it.
        let lo = 0;
        let hi = ran;
        for (let k = 0; k < 30; k++) {
          const mid = (lo + hi) / 2;
          if (perVcpu(this.run + mid) >= soft) hi = mid;
          else lo = mid;
        }
        ran = hi;
        this.ringBlocked = true;
      }
    }
    this.run += ran;
  }

  /** The dirty ring reaper (every iteration in ring mode). */
  private reap(): void {
    if (this.p['dirty-log'] !== 'ring') return;
    const entries = this.distinctWritten(this.runAtReap, this.run);
    const writers = this.law.writers;
    for (let v = 0; v < writers; v++) this.reapedByVcpu[v]! += entries / writers;
    this.runAtReap = this.run;
    this.ringBlocked = false;
  }

  private pollDirtyLimit(): void {
    const limit = this.dirtyLimit;
    if (!limit?.poll(this.t, this.reapedByVcpu)) return;
    // The writing vCPUs are alike; vCPU 0 always writes.
    this.penaltyMs = limit.penaltyUs[0]! / 1000;
  }

  // ////     the engine's steps     ////

  private sendContext(final: boolean): SendContext {
    const xbzrle = this.p.encodings.includes('xbzrle') && this.roundNo > 0;
    const slots = this.p['xbzrle-cache-size'] / PAGE_SIZE;
    const cached = xbzrle ? this.map.cachedPages() : 0;
    return {
      run: this.run * this.fit.rateScale,
      xbzrle,
      insert: !final,
      survival: cached > slots ? slots / cached : 1,
    };
  }

  /** Send up to `maxBytes` within `maxMs` of link and sender time. */
  private send(maxBytes: number, maxMs: number, final: boolean): SendTotals {
    const capBytes = Math.min(maxBytes, (maxMs * this.link) / 1000);
    const scale = this.fit.costScale;
    const capPages = this.sender.pagesWithin(maxMs);
    const totals = this.map.send(
      capBytes / scale,
      capPages,
      this.sendContext(final),
      (bytes, pages, zeroPages) => {
        this.advance(this.sender.sendMs(bytes * scale, pages, zeroPages));
        return this.sendContext(final);
      },
    );
    totals.bytes *= scale;
    addTotals(this.current.sent, totals);
    addTotals(this.total, totals);
    if (final) this.downtimeBytes += totals.bytes;
    else this.precopyBytes += totals.bytes;
    this.window.record(totals.bytes, totals.pages);
    return totals;
  }

  /** One pass of migration_iteration_run. */
  private iterate(): void {
    const start = this.t;
    for (let k = 0; k < 8; k++) {
      const pending = this.map.pending();
      if (this.window.exceeded || pending <= EMPTY_PAGES || this.t - start >= MAX_WAIT_MS) break;
      const left = this.window.budgetLeft;
      const sent = this.send(left, MAX_WAIT_MS - (this.t - start), false);
      // Within a page of the budget counts as spent (the engine sends whole batches).
      if (this.window.budgetLeft < PAGE_SIZE && !this.window.exceeded) this.window.record(PAGE_SIZE, 0);
      if (sent.bytes <= 0) break;
    }
    if (this.window.exceeded) this.advance(Math.max(0, this.window.windowEnd - this.t));
    this.reap();
    this.pollDirtyLimit();
    this.applyRamp();
    this.window.update(this.t, this.dirtyBytesLastSync, this.period.dirtyPagesRate);
  }

  private applyRamp(): void {
    const p = this.p;
    if (p['downtime-limit-ramp'] === 'none') return;
    const limit = rampedLimit(
      {
        ramp: p['downtime-limit-ramp'],
        limit: p['downtime-limit'],
        steps: p['downtime-ramp-steps'],
        interval: p['downtime-ramp-interval'],
      },
      this.t - this.liveStart,
      this.rounds.length,
    );
    if (limit !== this.window.limit) this.window.setDowntimeLimit(limit);
  }

  private syncBitmap(): void {
    const newly = this.map.sync(this.runAtSync * this.fit.rateScale, this.run * this.fit.rateScale);
    this.runAtSync = this.run;
    const pending = this.map.pending();
    this.dirtyBytesLastSync = pending * PAGE_SIZE;
    const outcome = this.period.onSync(this.t, newly, this.total.bytes);
    if (outcome.throttled) this.cpu.setThrottle(outcome.throttle, this.t);
    if (outcome.limitTriggered) this.dirtyLimit?.start(this.t, this.reapedByVcpu);
  }

  private openRound(): void {
    this.current = { start: this.t, harvested: this.map.pending(), sent: emptyTotals() };
  }

  private endRound(): void {
    this.advance(2 * this.latency);
    this.roundNo++;
  }

  private recordRound(final: boolean): void {
    const duration = this.t - this.current.start;
    const seconds = duration / 1000;
    const distinct = final ? 0 : this.distinctWritten(this.runAtRecord, this.run);
    if (!final) {
      this.roundRunFrom = this.runAtRecord;
      this.runAtRecord = this.run;
    }
    const sent = this.current.sent;
    const dirtyRate = seconds > 0 ? (distinct * PAGE_SIZE) / seconds : 0;
    const sendRate = seconds > 0 ? sent.bytes / seconds : 0;
    this.rounds.push({
      round: this.rounds.length,
      start: this.current.start,
      duration,
      pagesHarvested: this.current.harvested,
      pagesSent: sent.pages,
      pagesZero: sent.zeroPages,
      bytesRaw: sent.pages * PAGE_SIZE,
      bytesWire: sent.bytes,
      compressionRatio: sent.bytes > 0 ? (sent.pages * PAGE_SIZE) / sent.bytes : 1,
      dirtyRate,
      sendRate,
      lambda: sendRate > 0 ? dirtyRate / sendRate : 0,
      workingSetPages: distinct,
      remaining: this.map.pending() * PAGE_SIZE,
      threshold: this.window.threshold,
      expectedDowntime: this.window.expectedDowntime,
      throttle: this.cpu.throttle,
      downtimeLimit: this.window.limit,
      ...(this.dirtyLimit ? { dirtyLimitPenalty: this.dirtyLimit.meanPenaltyUs } : {}),
      final,
    });
  }

  private roundClose(): RoundClose {
    const live = this.rounds.filter((r) => !r.final);
    const last = live[live.length - 1];
    const pending = this.map.pending();
    return {
      rounds: live.length,
      remainingPages: pending,
      pagesSent: last?.pagesSent ?? 0,
      previousPagesSent: this.withinNoise(live[live.length - 2]?.pagesSent ?? 0),
      totalPagesSent: this.total.pages,
      guestPages: this.law.pages,
      bandwidth: this.window.bandwidth,
      remainingBytes: pending * PAGE_SIZE,
    };
  }

  /**
   * Xen's "this round sent more pages than the last" compares two draws: a random workload's
   * page counts scatter by about √n from round to round, so once the model's expected counts
   * fall by less than a fraction of that, a run's counts rise about as often as they fall and
   * the rule fires. The model's counts only creep towards their steady value (in expectation
   * they never rise), so it takes a fall within the noise for a rise.
   */
  private withinNoise(previous: number): number {
    if (this.law.det.length > 0 || previous <= 0) return previous;
    return previous - XEN_NOISE * Math.sqrt(2 * previous);
  }

  /** closeRound: end, sync, record (where the engine asks its predictor), then decide. */
  private closeRound(): void {
    this.endRound();
    this.syncBitmap();
    this.recordRound(false);
    this.timedOutAtClose = this.timedOutInRound;
    this.onRecorded?.(this);
  }

  /** The rest of closeRound: true when the stop rule says switch over now. */
  private decide(): boolean {
    const pages = this.map.pending();
    const pending = pages * PAGE_SIZE;
    this.applyRamp();
    if (pages < LIKELY_EMPTY || pending < this.window.threshold) {
      this.stopReason = 'threshold';
      return true;
    }
    const r = this.roundClose();
    const reason = this.p['stop-rule'] === 'xen' ? xenRule(r) : (this.stall?.decide(r) ?? null);
    if (reason) this.stopReason = reason;
    return reason !== null;
  }

  /** runRound up to its closing record: iterate until the stop rule's test passes or the timeout. */
  private runRound(): void {
    const byRound = this.p['stop-rule'] !== 'qemu';
    this.openRound();
    for (;;) {
      const pages = this.map.pending();
      const pending = pages * PAGE_SIZE;
      this.timedOutInRound = this.t >= this.p.timeout;
      const empty = pages < LIKELY_EMPTY;
      if (this.timedOutInRound || (byRound ? empty : empty || pending < this.window.threshold)) {
        this.closeRound();
        return;
      }
      this.iterate();
    }
  }

  private switchover(): void {
    this.paused = true;
    this.downtimeStart = this.t;
    this.syncBitmap();
    this.window.lift();
    this.openRound();
    this.send(Infinity, Infinity, true);
    this.endRound();
    this.recordRound(true);
    this.stateBytes = vcpuStateBytes(this.scenario);
    this.downtimeBytes += this.stateBytes;
    this.advance((this.stateBytes / this.link) * 1000);
    // PREPARE → READY, then GO → RESUMED (the commit point): the downtime ends at RESUMED.
    this.advance(2 * this.latency);
    this.advance(2 * this.latency);
    this.downtime = this.t - this.downtimeStart;
  }

  /**
   * Run to the end, as the source machine decides after each round: converged → switch over;
   * timed out → cancel or force; round cap → force; else the next round.
   */
  finish(onRecorded?: (model: ModelMigration) => void): ModelRun {
    this.onRecorded = onRecorded;
    this.runRound();
    return this.resume();
  }

  /**
   * From a live round's closing record to the end, as the source machine decides after each
   * round: converged → switch over; timed out → cancel or force; round cap → force; else the
   * next round. A copy taken in `onRecorded` resumes here.
   */
  resume(): ModelRun {
    for (;;) {
      const converged = this.decide() && !this.timedOutAtClose;
      const timedOut = this.t >= this.p.timeout;
      if (converged) break;
      if (timedOut && this.p['on-timeout'] === 'cancel') return this.result('cancelled', 'timeout');
      if (timedOut) {
        this.stopReason = 'timeout';
        break;
      }
      if (this.rounds.length >= this.p['max-rounds']) {
        this.stopReason = 'max-rounds';
        break;
      }
      this.fastForward();
      this.runRound();
    }
    this.switchover();
    const converged = CONVERGED_REASONS.has(this.stopReason);
    return this.result(converged ? 'converged' : 'forced', this.stopReason);
  }

  /**
   * A steady state (the last rounds alike, nothing left that could change them) repeats until
   * the round cap or the timeout: skip to just before whichever comes first.
   */
  private fastForward(): void {
    const live = this.rounds;
    const n = live.length;
    if (n < 6) return;
    const last = live[n - 1]!;
    // Alike to a part in a thousand: pages that keep taking writes drift in size that slowly.
    const alike = (a: ModelRound, b: ModelRound) =>
      Math.abs(a.duration - b.duration) <= STEADY * b.duration &&
      Math.abs(a.bytesWire - b.bytesWire) <= STEADY * (b.bytesWire + 1) &&
      Math.abs(a.remaining - b.remaining) <= STEADY * (b.remaining + 1) &&
      a.throttle === b.throttle;
    for (let k = 2; k <= 4; k++) if (!alike(live[n - k]!, last)) return;
    const p = this.p;
    const steady =
      (!p['auto-converge'] || this.cpu.throttle >= p['max-cpu-throttle']) &&
      !p['dirty-limit'] &&
      p['stop-rule'] !== 'xen' &&
      p['stop-rule'] !== 'stall' &&
      (p['downtime-limit-ramp'] === 'none' || this.window.limit >= p['downtime-limit']) &&
      !p.encodings.includes('xbzrle') &&
      this.law.det.length === 0 &&
      last.duration > 0;
    if (!steady) return;
    const byRounds = p['max-rounds'] - n - 1;
    const byTime = Math.floor((p.timeout - this.t) / last.duration) - 1;
    const skip = Math.min(byRounds, byTime);
    if (skip < 1) return;
    for (let k = 0; k < skip; k++) {
      const start = this.t + k * last.duration;
      live.push({ ...last, round: live.length, start });
    }
    const dt = skip * last.duration;
    const before = this.cpu.at(this.t);
    this.t += dt;
    this.run += this.cpu.at(this.t) - before;
    this.runAtSync = this.run;
    this.runAtRecord = this.run;
    this.roundNo += skip;
    const scale = (x: number) => x * skip;
    const add = {
      pages: scale(last.pagesSent),
      zeroPages: scale(last.pagesZero),
      bytes: scale(last.bytesWire),
      deltaPages: 0,
    };
    addTotals(this.total, add);
    this.precopyBytes += add.bytes;
    this.extrapolated += skip;
    // The window's clock moves with it: a fresh window starting now.
    const bandwidth = this.window.bandwidth;
    const threshold = this.window.threshold;
    this.window = Object.assign(Object.create(RateWindow.prototype) as RateWindow, this.window, {
      windowStart: this.t,
      bytesInWindow: 0,
      pagesInWindow: 0,
    });
    this.window.bandwidth = bandwidth;
    this.window.threshold = threshold;
  }

  private result(outcome: Outcome, stopReason: StopReason): ModelRun {
    return {
      outcome,
      status: outcome === 'cancelled' ? 'cancelled' : 'completed',
      stopReason,
      converged: outcome === 'converged',
      rounds: this.rounds,
      totalTime: this.t,
      downtime: outcome === 'cancelled' ? 0 : this.downtime,
      precopyBytes: this.precopyBytes,
      downtimeBytes: this.downtimeBytes,
      stateBytes: this.stateBytes,
      pagesSent: this.total.pages,
      zeroPages: this.total.zeroPages,
      deltaPages: this.total.deltaPages,
      throttle: this.cpu.throttle,
      syncCount: this.period.syncCount,
      dirtyPagesRate: this.period.dirtyPagesRate,
      expectedDowntime: this.window.expectedDowntime,
      ...(this.dirtyLimit ? { dirtyLimitPenaltyUs: this.dirtyLimit.throttleTimePerRound } : {}),
      extrapolatedRounds: this.extrapolated,
    };
  }

  /**
   * The predictor's re-fit: carry this model (a copy of its state at the same round) over to
   * what the migration measured. The clock jumps to the measured time (every clock-based state
   * moves with it: the current window, auto-converge's period, dirty-limit's polls, the
   * throttle's timeslices); the round history, the totals, the bytes still dirty, the throttle,
   * the window's bandwidth and threshold become the measured ones.
   */
  continueFrom(m: MeasuredState): void {
    const dt = m.time - this.t;
    type Fields = Record<string, number | null>;
    const shift = (o: object, ...keys: string[]) => {
      const f = o as unknown as Fields;
      for (const k of keys) if (typeof f[k] === 'number') f[k] = f[k]! + dt;
    };
    shift(this.window, 'windowStart');
    shift(this.period, 'periodStart');
    if (this.dirtyLimit) shift(this.dirtyLimit, 'lastPoll', 'startedAt');
    shift(this.cpu, 'anchor');
    this.t = m.time;
    const pending = this.map.pending();
    if (pending > 0) this.map.scalePending(m.remainingPages / pending);
    (this.period as unknown as Fields).bytesSentAtPeriodStart! += m.totalBytes - this.total.bytes;
    this.rounds = m.rounds.map((r) => ({ ...r }));
    this.roundNo = m.rounds.length;
    this.total = { pages: m.totalPages, zeroPages: this.total.zeroPages, bytes: m.totalBytes, deltaPages: 0 };
    this.precopyBytes = m.totalBytes;
    if (m.throttle !== this.cpu.throttle) {
      this.cpu.setThrottle(m.throttle, this.t);
      this.period.throttle = m.throttle;
    }
    if (m.bandwidth > 0) {
      this.window.bandwidth = m.bandwidth;
      this.window.threshold = m.threshold;
    }
    if (m.penaltyUs !== undefined) this.penaltyMs = m.penaltyUs / 1000;
    if (this.stall) {
      // The stall rule has seen every round but the one being decided.
      const earlier = m.rounds.slice(0, -1).map((r) => r.remaining);
      (this.stall as unknown as Fields).best = earlier.length > 0 ? Math.min(...earlier) : Infinity;
    }
  }
}

/** What a running migration measured, for the predictor's re-fit (live rounds so far). */
export interface MeasuredState {
  /** The migration's clock (ms since it began). */
  time: number;
  rounds: ModelRound[];
  remainingPages: number;
  throttle: number;
  /** The last window's bandwidth (bytes/ms) and the threshold in force (bytes). */
  bandwidth: number;
  threshold: number;
  totalPages: number;
  totalBytes: number;
  /** dirty-limit's mean penalty (µs per ring-full), when it runs. */
  penaltyUs?: number;
}

function emptyTotals(): SendTotals {
  return { pages: 0, zeroPages: 0, bytes: 0, deltaPages: 0 };
}

function addTotals(into: SendTotals, s: SendTotals): void {
  into.pages += s.pages;
  into.zeroPages += s.zeroPages;
  into.bytes += s.bytes;
  into.deltaPages += s.deltaPages;
}

/** Copy an object graph of plain fields, typed arrays and class instances (prototypes kept; functions shared). */
function cloneDeep<T>(value: T, seen = new Map<unknown, unknown>()): T {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value) as T;
  if (ArrayBuffer.isView(value)) {
    const copy = (value as unknown as Float64Array).slice();
    seen.set(value, copy);
    return copy as unknown as T;
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const v of value) copy.push(cloneDeep(v, seen));
    return copy as T;
  }
  const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
  seen.set(value, copy);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // The law, the costs and the scenario are read-only and shared.
    copy[k] = k === 'law' || k === 'costs' || k === 'scenario' || k === 'p' ? v : cloneDeep(v, seen);
  }
  return copy as T;
}

/**
 * The sender CPU model as the engine runs it (src/link/sender.ts) over the model's continuous
 * pages: without multifd the migration thread encodes every page; with it the channels share
 * the pages evenly, and under zero-page-detection legacy the migration thread keeps the zero ones.
 */
class ModelSender {
  private readonly encodeRate: number;
  private readonly channels: number;
  private readonly zeroOnMain: boolean;

  constructor(
    /** Link bandwidth, bytes/s. */
    private readonly link: number,
    scenario: Scenario,
  ) {
    const m = scenario.migration;
    this.encodeRate = encodeRateOf(m['encode-rate'], m.multifd);
    ({ channels: this.channels, zeroOnMain: this.zeroOnMain } = multifdLink(scenario));
  }

  /** The most pages the sender threads encode in `ms` (Infinity when the CPU is not modelled). */
  pagesWithin(ms: number): number {
    if (this.encodeRate <= 0) return Infinity;
    return (((ms / 1000) * this.encodeRate) / PAGE_SIZE) * Math.max(1, this.channels);
  }

  /** Milliseconds a send of `bytesWire` takes that carries `pages`, `zeroPages` of them zero. */
  sendMs(bytesWire: number, pages: number, zeroPages: number): number {
    const linkMs = (bytesWire / this.link) * 1000;
    if (this.channels === 0) return cpuBoundMs(linkMs, this.encodeRate, pages);
    const onMain = this.zeroOnMain ? zeroPages : 0;
    return cpuBoundMs(linkMs, this.encodeRate, Math.max(onMain, (pages - onMain) / this.channels));
  }
}
