/**
 * The stop rules, one predicate each, on what a round's closing sync measured. The source
 * machine (machines/source.machine.ts) names a guard for each and decides with them; the model
 * (src/model/simulate.ts) steps the same predicates.
 *
 * - threshold (QEMU, every rule): the synced dirty set is empty or below bw × downtime-limit.
 * - `xen` (Xen'05 `xc_domain_save.c`, research §1.4): the last round comes when fewer than 50
 *   pages are dirty, after 29 iterations, when more than 3 × guest pages were sent, or when a
 *   round sent more pages than the one before at the maximum rate (ours is always the maximum:
 *   max-bandwidth is fixed).
 * - `stall` (KubeVirt VEP 248, research §7): remaining stopped falling (no new minimum this
 *   round) yet lies within `margin` of the best seen, and the best's implied downtime
 *   (best ÷ bandwidth) fits the budget: switch over now, at a local minimum, instead of
 *   waiting for a threshold the workload will not let it reach.
 */
import type { StopRule } from './scenario';

/** Xen's DEF_MAX_ITERS, the "< 50 pages" test and DEF_MAX_FACTOR. */
export const XEN_MAX_ITERS = 29;
export const XEN_MIN_PAGES = 50;
export const XEN_MAX_FACTOR = 3;

export interface RoundClose {
  /** Live rounds closed so far, this one included. */
  rounds: number;
  /** Pages dirty after the closing sync. */
  remainingPages: number;
  /** Pages sent in this round and in the one before (0 if none). */
  pagesSent: number;
  previousPagesSent: number;
  /** Pages sent over the whole migration, and the guest's size in pages. */
  totalPagesSent: number;
  guestPages: number;
  /** Measured live bandwidth (bytes/ms) and the remaining bytes. */
  bandwidth: number;
  remainingBytes: number;
}

/** The dirty set got small enough: the switchover is a convergence. */
export type ConvergedReason = 'threshold' | 'xen-pages' | 'stall';
/** A last round forced by a cap: Xen's iteration, volume and rate rules, the timeout, max-rounds. */
export type ForcedReason = XenForced | 'timeout' | 'max-rounds';
type XenForced = 'xen-iterations' | 'xen-factor' | 'xen-rate';
export type XenReason = 'xen-pages' | XenForced;
/**
 * Why the live phase ended: the guard of the source machine that fired. `timeout` is also the
 * reason of a migration the timeout cancelled (on-timeout cancel); `postcopy`: the switch to
 * postcopy (migrate-start-postcopy or one of its triggers).
 */
export type StopReason = ConvergedReason | ForcedReason | 'postcopy';

/** Reasons that mean the dirty set got small enough, as opposed to a forced last round. */
export const CONVERGED_REASONS: ReadonlySet<string> = new Set<ConvergedReason>([
  'threshold',
  'xen-pages',
  'stall',
]);

export { type StopRule };

/** QEMU's test on the synced figure: nothing left, or less than bw × downtime-limit (bytes). */
export function fitsThreshold(r: {
  remainingPages: number;
  remainingBytes: number;
  threshold: number;
}): boolean {
  return r.remainingPages === 0 || r.remainingBytes < r.threshold;
}

/** Xen: fewer than 50 pages dirty (a convergence). */
export const xenFewPages = (r: RoundClose): boolean => r.remainingPages < XEN_MIN_PAGES;
/** Xen: 29 iterations done. */
export const xenMaxIterations = (r: RoundClose): boolean => r.rounds >= XEN_MAX_ITERS;
/** Xen: more than 3 × the guest's pages sent. */
export const xenMaxFactor = (r: RoundClose): boolean => r.totalPagesSent > XEN_MAX_FACTOR * r.guestPages;
/** Xen: this round sent more pages than the one before (at the maximum rate). */
export const xenRateRose = (r: RoundClose): boolean => r.rounds > 1 && r.pagesSent > r.previousPagesSent;

/** Xen's rules in its order: the reason the first that holds fires, or null. */
export function xenRule(r: RoundClose): XenReason | null {
  if (xenFewPages(r)) return 'xen-pages';
  if (xenMaxIterations(r)) return 'xen-iterations';
  if (xenMaxFactor(r)) return 'xen-factor';
  if (xenRateRose(r)) return 'xen-rate';
  return null;
}

/**
 * VEP 248: `best` is the fewest bytes left after any earlier round's sync (Infinity before
 * the first); `budget` the downtime budget (ms) in force now.
 */
export function stalled(r: RoundClose, best: number, margin: number, budget: number): boolean {
  const noNewMinimum = r.remainingBytes >= best && r.remainingBytes <= best * (1 + margin);
  const fits = r.bandwidth > 0 && best / r.bandwidth <= budget;
  return noNewMinimum && fits;
}

/** postcopy-on-stall: this round's sync left no fewer bytes than the best before it (Infinity: the first round). */
export function noProgress(r: RoundClose, best: number): boolean {
  return r.remainingBytes > 0 && r.remainingBytes >= best;
}

/** The stall rule with its memory of the best, for a caller that steps rounds itself (the model). */
export class StallDetector {
  private best = Infinity;

  constructor(
    private readonly margin: number,
    /** Downtime budget (ms), read at each decision (a ramped limit moves it). */
    private readonly budget: () => number,
  ) {}

  decide(r: RoundClose): 'stall' | null {
    const best = this.best;
    this.best = Math.min(best, r.remainingBytes);
    return stalled(r, best, this.margin, this.budget()) ? 'stall' : null;
  }
}
