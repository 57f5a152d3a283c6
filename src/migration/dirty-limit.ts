/**
 * QEMU's dirty-limit (system/dirtylimit.c; research/live-migration.md §4): once the
 * auto-converge trigger fires, every x-vcpu-dirty-limit-period each vCPU's dirty rate, read from
 * its dirty ring, moves that vCPU's sleep per ring-full exit (throttle_us_per_full) towards the
 * quota vcpu-dirty-limit: in proportion while the rate is more than 50 % off the quota, by a
 * tenth of the ring-full time once it is near, and not at all within 25 MB/s of it.
 * Rates are MB/s as QEMU's (MiB per second); penalties µs.
 */
import { PAGE_SIZE } from '../util/units';

const MiB = 1024 * 1024;

/** DIRTYLIMIT_TOLERANCE_RANGE: a rate this close to the quota (MB/s) needs no change. */
export const DIRTYLIMIT_TOLERANCE_RANGE = 25;
/** DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT: further off than this (percent of the larger) → proportional step. */
export const DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT = 50;
/** DIRTYLIMIT_THROTTLE_PCT_MAX: the penalty is capped at this many ring-full times. */
export const DIRTYLIMIT_THROTTLE_PCT_MAX = 99;

export interface DirtyLimitParams {
  /** vcpu-dirty-limit, MB/s per vCPU. */
  quota: number;
  /** x-vcpu-dirty-limit-period, ms between reads of the rings. */
  periodMs: number;
  /** Dirty ring entries per vCPU. */
  ringEntries: number;
}

export class DirtyLimit {
  /** Per vCPU: sleep per ring-full exit, µs (throttle_us_per_full). */
  readonly penaltyUs: Float64Array;
  /** Per vCPU: the dirty rate read at the last adjustment, MB/s. */
  readonly rates: Float64Array;
  private maxRate = 0;
  /** Set once the trigger started the limit; from then the thread polls every period. */
  private startedAt: number | null = null;
  private lastPoll = 0;
  /** Per vCPU: the rings' cumulative entry counts at the last poll. */
  private readonly lastReaped: Float64Array;

  constructor(
    private readonly params: DirtyLimitParams,
    vcpus: number,
  ) {
    this.penaltyUs = new Float64Array(vcpus);
    this.rates = new Float64Array(vcpus);
    this.lastReaped = new Float64Array(vcpus);
  }

  get running(): boolean {
    return this.startedAt !== null;
  }

  /** migration_dirty_limit_guest: start at `now`, counting entries from the rings' totals `reaped`. */
  start(now: number, reaped: ArrayLike<number>): void {
    if (this.startedAt !== null) return;
    this.startedAt = now;
    this.lastPoll = now;
    this.lastReaped.set(reaped);
  }

  /**
   * The limit thread: when a period has passed since the last read, adjust from the entries
   * reaped in it (`reaped` = cumulative per-vCPU totals). True when it adjusted.
   */
  poll(now: number, reaped: ArrayLike<number>): boolean {
    if (this.startedAt === null || now - this.lastPoll < this.params.periodMs) return false;
    const entries = Array.from(this.lastReaped, (last, v) => reaped[v]! - last);
    this.adjust(entries, now - this.lastPoll);
    this.lastPoll = now;
    this.lastReaped.set(reaped);
    return true;
  }

  /** One period: `entries[v]` ring entries reaped from vCPU v over `periodMs`. */
  adjust(entries: ArrayLike<number>, periodMs: number): void {
    for (let v = 0; v < this.penaltyUs.length; v++) {
      const rate = (entries[v]! * PAGE_SIZE * 1000) / periodMs / MiB;
      this.rates[v] = rate;
      this.adjustVcpu(v, rate);
    }
  }

  /** dirty-limit-throttle-time-per-round: the largest penalty of any vCPU, µs. */
  get throttleTimePerRound(): number {
    return this.penaltyUs.reduce((m, p) => Math.max(m, p), 0);
  }

  /** dirty-limit-ring-full-time: µs to fill a ring at the vCPUs' mean rate; 0 when none writes. */
  get ringFullTime(): number {
    const mean = this.rates.reduce((s, r) => s + r, 0) / this.rates.length;
    return mean > 0 ? this.ringFullTimeUs(mean) : 0;
  }

  get meanPenaltyUs(): number {
    return this.penaltyUs.reduce((s, p) => s + p, 0) / this.penaltyUs.length;
  }

  /** dirtylimit_adjust_throttle + dirtylimit_set_throttle for one vCPU. */
  private adjustVcpu(v: number, current: number): void {
    const quota = this.params.quota;
    if (Math.abs(current - quota) <= DIRTYLIMIT_TOLERANCE_RANGE) return;
    if (current === 0) {
      this.penaltyUs[v] = 0;
      return;
    }
    const ringFull = this.ringFullTimeUs(current);
    let penalty = this.penaltyUs[v]!;
    const larger = Math.max(quota, current);
    const gapPct = ((larger - Math.min(quota, current)) * 100) / larger;
    const direction = quota < current ? 1 : -1;
    if (gapPct > DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT) {
      const sleepPct = Math.floor(gapPct);
      penalty += (direction * ringFull * sleepPct) / (100 - sleepPct);
    } else penalty += (direction * ringFull) / 10;
    this.penaltyUs[v] = Math.max(0, Math.min(penalty, ringFull * DIRTYLIMIT_THROTTLE_PCT_MAX));
  }

  /** dirtylimit_dirty_ring_full_time: at the highest rate seen, as QEMU's static max_dirtyrate. */
  private ringFullTimeUs(rate: number): number {
    this.maxRate = Math.max(this.maxRate, rate);
    return ((this.params.ringEntries * PAGE_SIZE) / MiB / this.maxRate) * 1_000_000;
  }
}
