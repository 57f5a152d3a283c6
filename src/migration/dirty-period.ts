/**
 * What QEMU does at each dirty-bitmap sync (ram.c `migration_bitmap_sync`,
 * `migration_trigger_throttle`, `mig_throttle_guest_down`; research §1.1 step 6 and §4).
 *
 * `dirty-pages-rate` counts pages NEWLY set in the migration bitmap (not the guest's writes)
 * over a sync period of more than 1 s, so in a steady state that does not converge it follows
 * the send rate: a page already marked dirty and not yet sent is not counted again.
 *
 * Auto-converge: when such a period closes and the bytes newly dirtied exceed
 * throttle-trigger-threshold % of the bytes sent in it, a counter goes up; every second time
 * the throttle starts at cpu-throttle-initial, then grows by cpu-throttle-increment up to
 * max-cpu-throttle.
 */
import { PAGE_SIZE } from '../util/units';

export interface AutoConvergeParams {
  enabled: boolean;
  initial: number;
  increment: number;
  max: number;
  /** throttle-trigger-threshold, percent. */
  triggerThreshold: number;
  /** dirty-limit instead: the same trigger starts it (migration_dirty_limit_guest). */
  dirtyLimit?: boolean;
}

export interface SyncOutcome {
  /** True when this sync closed a period of more than 1 s. */
  periodClosed: boolean;
  /** The throttle to apply from now (percent); equal to the previous one when unchanged. */
  throttle: number;
  /** True when auto-converge stepped the throttle at this sync. */
  throttled: boolean;
  /** True when the trigger fired with dirty-limit on (QEMU starts the limit at the first). */
  limitTriggered: boolean;
}

export class DirtyPeriod {
  /** pages/s newly dirtied over the last closed period (QEMU's ram.dirty-pages-rate). */
  dirtyPagesRate = 0;
  /** Syncs so far (ram.dirty-sync-count). */
  syncCount = 0;
  /** Current vCPU throttle, percent (cpu-throttle-percentage). */
  throttle = 0;
  private periodStart: number;
  private pagesInPeriod = 0;
  private bytesSentAtPeriodStart = 0;
  private highCount = 0;

  constructor(
    private readonly autoConverge: AutoConvergeParams,
    now: number,
  ) {
    this.periodStart = now;
  }

  /**
   * Account one sync at `now`: `newlyDirty` pages were newly set in the migration bitmap, and
   * `transferred` bytes have been sent since the migration began.
   */
  onSync(now: number, newlyDirty: number, transferred: number): SyncOutcome {
    this.syncCount++;
    this.pagesInPeriod += newlyDirty;
    const before = this.throttle;
    const elapsed = now - this.periodStart;
    if (elapsed <= 1000)
      return { periodClosed: false, throttle: before, throttled: false, limitTriggered: false };
    const limitTriggered = this.triggerThrottle(transferred);
    this.dirtyPagesRate = (this.pagesInPeriod * 1000) / elapsed;
    this.periodStart = now;
    this.pagesInPeriod = 0;
    this.bytesSentAtPeriodStart = transferred;
    return {
      periodClosed: true,
      throttle: this.throttle,
      throttled: this.throttle !== before,
      limitTriggered,
    };
  }

  /** migration_trigger_throttle; true when the trigger fired for dirty-limit. */
  private triggerThrottle(transferred: number): boolean {
    const dirtyLimit = this.autoConverge.dirtyLimit === true;
    if (!this.autoConverge.enabled && !dirtyLimit) return false;
    const bytesDirtyPeriod = this.pagesInPeriod * PAGE_SIZE;
    const bytesXferPeriod = transferred - this.bytesSentAtPeriodStart;
    const bytesDirtyThreshold = (bytesXferPeriod * this.autoConverge.triggerThreshold) / 100;
    if (bytesDirtyPeriod > bytesDirtyThreshold && ++this.highCount >= 2) {
      this.highCount = 0;
      if (!this.autoConverge.enabled) return true;
      this.throttle =
        this.throttle === 0
          ? this.autoConverge.initial
          : Math.min(this.throttle + this.autoConverge.increment, this.autoConverge.max);
    }
    return false;
  }
}
