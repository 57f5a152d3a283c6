/**
 * How much a vCPU has run, in the injected clock's milliseconds: the guest's workloads are
 * CPU-bound, so their writes follow run time, and pausing or throttling the vCPUs slows them.
 *
 * The throttle is QEMU's (softmmu/cpu-throttle.c, research/live-migration.md §4): at p percent a
 * timer fires every 10 ms / (1 − p) and each vCPU then sleeps p / (1 − p) · 10 ms, so it runs
 * 10 ms of every timeslice — 2.5 ms asleep in every 12.5 ms at 20 %, 990 ms per second at 99 %.
 */

/** CPU_THROTTLE_TIMESLICE_NS in ms: the run part of every throttled timeslice. */
export const THROTTLE_TIMESLICE_MS = 10;
/** QEMU's max-cpu-throttle ceiling. */
export const MAX_THROTTLE = 99;

export class CpuTime {
  /** Run time accumulated up to `anchor`. */
  private base = 0;
  /** Clock time at which the current regime (throttle percent, running or paused) began. */
  private anchor: number;
  private percent = 0;
  private stopped = false;

  constructor(now: number) {
    this.anchor = now;
  }

  get throttle(): number {
    return this.percent;
  }

  get paused(): boolean {
    return this.stopped;
  }

  /** Run time at clock time `now` (≥ the last regime change). */
  at(now: number): number {
    if (this.stopped) return this.base;
    const elapsed = now - this.anchor;
    if (this.percent === 0) return this.base + elapsed;
    const timeslice = THROTTLE_TIMESLICE_MS / (1 - this.percent / 100);
    const slices = Math.floor(elapsed / timeslice);
    return (
      this.base +
      slices * THROTTLE_TIMESLICE_MS +
      Math.min(elapsed - slices * timeslice, THROTTLE_TIMESLICE_MS)
    );
  }

  /** A new throttle starts a fresh timeslice, as cpu_throttle_set re-arms QEMU's timer. */
  setThrottle(percent: number, now: number): void {
    if (!Number.isFinite(percent) || percent < 0 || percent > MAX_THROTTLE)
      throw new RangeError(`throttle: ${percent} is outside the allowed range [0, ${MAX_THROTTLE}] percent`);
    this.rebase(now);
    this.percent = percent;
  }

  pause(now: number): void {
    this.rebase(now);
    this.stopped = true;
  }

  resume(now: number): void {
    this.rebase(now);
    this.stopped = false;
  }

  private rebase(now: number): void {
    this.base = this.at(now);
    this.anchor = now;
  }
}
