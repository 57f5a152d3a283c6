/**
 * The stop rules beyond QEMU's threshold, decided where the round closes (after its sync):
 *
 * - `xen` (Xen'05 `xc_domain_save.c`, research §1.4): the last round comes when fewer than 50
 *   pages are dirty, after 29 iterations, when more than 3 × guest pages were sent, or when a
 *   round sent more pages than the one before at the maximum rate (ours is always the maximum:
 *   max-bandwidth is fixed).
 * - `stall` (KubeVirt VEP 248, research §7): remaining stopped falling (no new minimum this
 *   round) yet lies within `margin` of the best seen, and the best's implied downtime
 *   (best ÷ bandwidth) fits the budget: switch over now, at a local minimum, instead of
 *   waiting for a threshold the workload will not let it reach.
 *
 * Each returns the reason it fires, or null.
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

export type StopReason = 'xen-pages' | 'xen-iterations' | 'xen-factor' | 'xen-rate' | 'stall';

/** Reasons that mean the dirty set got small enough, as opposed to a forced last round. */
export const CONVERGED_REASONS: ReadonlySet<string> = new Set(['threshold', 'xen-pages', 'stall']);

export function xenRule(r: RoundClose): StopReason | null {
  if (r.remainingPages < XEN_MIN_PAGES) return 'xen-pages';
  if (r.rounds >= XEN_MAX_ITERS) return 'xen-iterations';
  if (r.totalPagesSent > XEN_MAX_FACTOR * r.guestPages) return 'xen-factor';
  if (r.rounds > 1 && r.pagesSent > r.previousPagesSent) return 'xen-rate';
  return null;
}

export class StallDetector {
  private best = Infinity;

  constructor(
    private readonly margin: number,
    /** Downtime budget (ms), read at each decision (a ramped limit moves it). */
    private readonly budget: () => number,
  ) {}

  decide(r: RoundClose): StopReason | null {
    const best = this.best;
    this.best = Math.min(best, r.remainingBytes);
    const stalled = r.remainingBytes >= best && r.remainingBytes <= best * (1 + this.margin);
    const fits = r.bandwidth > 0 && best / r.bandwidth <= this.budget();
    return stalled && fits ? 'stall' : null;
  }
}

/** The decision for `rule` at a round close; qemu and round have none beyond the threshold. */
export function makeStopRule(
  rule: StopRule,
  margin: number,
  budget: () => number,
): ((r: RoundClose) => StopReason | null) | null {
  if (rule === 'xen') return xenRule;
  if (rule === 'stall') {
    const detector = new StallDetector(margin, budget);
    return (r) => detector.decide(r);
  }
  return null;
}
