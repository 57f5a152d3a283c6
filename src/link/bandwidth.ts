/**
 * The bandwidth model both links share.
 *
 * Virtual time: a transfer of N bytes over a link of B bytes/s with latency L takes N/B + L;
 * `ModelledLink` (modelled.ts) advances the VirtualClock by `transferTimeMs`, and the pages still
 * travel for real.
 *
 * Wall time: an optional cap like QEMU's max-bandwidth (a token bucket holding one 100 ms
 * window of budget, refilled continuously on the injected clock) and a measured rate, bytes
 * handed to the link per 100 ms window, as QEMU re-measures in migration_update_counters.
 */
import { sleep, type Clock } from '../util/clock';

/** QEMU's BUFFER_DELAY: the rate-limit and measurement window. */
export const RATE_WINDOW_MS = 100;

export interface LinkModel {
  /** Bytes per second, > 0. */
  bandwidth: number;
  /** One-way latency in ms, ≥ 0. */
  latencyMs: number;
}

/**
 * Milliseconds a transfer of `bytes` occupies the modelled link, with `latencies` one-way trips
 * on top (1 for a send, 2 for a request and its answer): bytes / bandwidth + latencies × latency.
 */
export function transferTimeMs(bytes: number, link: LinkModel, latencies = 1): number {
  if (!(link.bandwidth > 0)) throw new RangeError(`bandwidth must be > 0 bytes/s, got ${link.bandwidth}`);
  if (!(link.latencyMs >= 0)) throw new RangeError(`latency must be ≥ 0 ms, got ${link.latencyMs}`);
  return (bytes / link.bandwidth) * 1000 + latencies * link.latencyMs;
}

/**
 * A token bucket: `take(n)` resolves once n bytes of budget are available. Capacity is one
 * window's worth (rate / 10), so bursts never exceed what QEMU's window would allow. A rate of
 * 0 means unlimited.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private readonly clock: Clock,
  ) {
    this.checkRate(rate);
    this.tokens = this.capacity;
    this.last = clock.now();
  }

  /** Bytes per second, 0 = unlimited. */
  setRate(rate: number): void {
    this.checkRate(rate);
    this.refill();
    this.rate = rate;
    this.tokens = Math.min(this.tokens, this.capacity);
  }

  get bytesPerSecond(): number {
    return this.rate;
  }

  /** Wait until `bytes` may go. A request larger than the bucket goes into debt and waits it off. */
  async take(bytes: number): Promise<void> {
    if (this.rate === 0) return;
    this.refill();
    this.tokens -= bytes;
    if (this.tokens < 0) await sleep(this.clock, (-this.tokens / this.rate) * 1000);
  }

  private get capacity(): number {
    return (this.rate * RATE_WINDOW_MS) / 1000;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate > 0)
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  private checkRate(rate: number): void {
    if (!(rate >= 0) || !Number.isFinite(rate))
      throw new RangeError(`max-bandwidth must be a finite rate ≥ 0 bytes/s (0 = unlimited), got ${rate}`);
  }
}

/** Bytes per second over the last complete window of `windowMs` on the injected clock. */
export class RateMeter {
  private windowStart: number;
  private inWindow = 0;
  private lastRate = 0;

  constructor(
    private readonly clock: Clock,
    private readonly windowMs = RATE_WINDOW_MS,
  ) {
    this.windowStart = clock.now();
  }

  record(bytes: number): void {
    this.roll();
    this.inWindow += bytes;
  }

  /** The rate of the last complete window (0 before the first one closes). */
  rate(): number {
    this.roll();
    return this.lastRate;
  }

  private roll(): void {
    const now = this.clock.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) return;
    this.lastRate = (this.inWindow * 1000) / elapsed;
    this.inWindow = 0;
    this.windowStart = now;
  }
}
