/**
 * QEMU's rate limit and counters (migration.c `migration_rate_limit`, `migration_update_counters`;
 * research §1.1 steps 2-3). The migration thread works in windows of 100 ms (BUFFER_DELAY) with a
 * byte budget of max-bandwidth/10; once the budget is spent it sleeps to the window's end. At
 * most once per window the counters are refreshed from what the window really moved:
 *
 *   bw = bytes / ms, threshold = bw × downtime-limit, mbps, pages-per-second,
 *   expected-downtime = dirty bytes at the last sync / bw (only when a dirty rate exists and the
 *   window moved more than 10 kB; it starts at downtime-limit).
 */
export const BUFFER_DELAY_MS = 100;
/** QEMU's XFER_LIMIT_RATIO: windows per second. */
const XFER_LIMIT_RATIO = 1000 / BUFFER_DELAY_MS;

export class RateWindow {
  private windowStart: number;
  private bytesInWindow = 0;
  private pagesInWindow = 0;
  private maxBandwidth: number;
  /** Bytes per ms measured over the last complete window (0 before the first closes). */
  bandwidth = 0;
  /** bw × downtime-limit in bytes; 0 until the first window closes, so nothing converges blind. */
  threshold = 0;
  mbps = 0;
  pagesPerSecond = 0;
  expectedDowntime: number;

  /**
   * @param downtimeLimit ms
   * @param maxBandwidth bytes/s; Infinity lifts the limit (stop-and-copy)
   */
  constructor(
    private downtimeLimit: number,
    maxBandwidth: number,
    now: number,
  ) {
    this.maxBandwidth = maxBandwidth;
    this.windowStart = now;
    this.expectedDowntime = downtimeLimit;
  }

  /** A ramped downtime limit moved: the threshold follows at once, on the last window's bw. */
  setDowntimeLimit(ms: number): void {
    this.downtimeLimit = ms;
    this.threshold = this.bandwidth * ms;
  }

  /** set-parameters max-bandwidth (bytes/s): the budget of the window that starts now. */
  setMaxBandwidth(bytesPerSecond: number): void {
    this.maxBandwidth = bytesPerSecond;
  }

  get limit(): number {
    return this.downtimeLimit;
  }

  /** Bytes a window may carry. */
  get budget(): number {
    return this.maxBandwidth / XFER_LIMIT_RATIO;
  }

  /** Bytes the current window may still carry. */
  get budgetLeft(): number {
    return this.budget - this.bytesInWindow;
  }

  /** QEMU lifts the limit for stop-and-copy (`migration_rate_set(RATE_LIMIT_DISABLED)`). */
  lift(): void {
    this.maxBandwidth = Infinity;
  }

  record(bytes: number, pages: number): void {
    this.bytesInWindow += bytes;
    this.pagesInWindow += pages;
  }

  /** `migration_rate_exceeded`. */
  get exceeded(): boolean {
    return this.bytesInWindow >= this.budget;
  }

  /** When the current window ends: where a thread that spent its budget sleeps to. */
  get windowEnd(): number {
    return this.windowStart + BUFFER_DELAY_MS;
  }

  /**
   * `migration_update_counters`: refresh once at least a window has passed. Returns whether it
   * did. `dirtyBytesLastSync` and `dirtyPagesRate` are the figures of the last bitmap sync.
   */
  update(now: number, dirtyBytesLastSync: number, dirtyPagesRate: number): boolean {
    // Compare with windowEnd itself: a sleep to windowEnd must close the window, and
    // now − start can round below 100 where start + 100 does not.
    if (now < this.windowEnd) return false;
    const elapsed = now - this.windowStart;
    const transferred = this.bytesInWindow;
    this.bandwidth = transferred / elapsed;
    this.threshold = this.bandwidth * this.downtimeLimit;
    this.mbps = (transferred * 8) / (elapsed / 1000) / 1e6;
    this.pagesPerSecond = this.pagesInWindow / (elapsed / 1000);
    if (dirtyPagesRate > 0 && transferred > 10000 && this.bandwidth > 0)
      this.expectedDowntime = dirtyBytesLastSync / this.bandwidth;
    this.windowStart = now;
    this.bytesInWindow = 0;
    this.pagesInWindow = 0;
    return true;
  }
}
