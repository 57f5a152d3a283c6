/**
 * The injected clock. Every component takes its notion of time from one RxJS `SchedulerLike`:
 * `virtualClock()` for deterministic simulated time, `wallClock()` for the real one.
 * Times are milliseconds (RxJS's unit), fractional values allowed.
 */
import { asyncScheduler, VirtualAction, VirtualTimeScheduler, type SchedulerLike } from 'rxjs';

export type Clock = SchedulerLike;

/**
 * Simulated time. Nothing happens until someone advances it: `advanceTo(t)` runs every action
 * due at or before t, in time order, and leaves `now()` at exactly t.
 */
export class VirtualClock extends VirtualTimeScheduler {
  constructor() {
    super(VirtualAction, Infinity);
  }

  advanceTo(time: number): void {
    if (time < this.frame) throw new RangeError(`VirtualClock: cannot go back from ${this.frame} to ${time}`);
    this.maxFrames = time;
    this.flush();
    this.frame = time;
    this.maxFrames = Infinity;
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.frame + ms);
  }
}

export function virtualClock(): VirtualClock {
  return new VirtualClock();
}

export function wallClock(): Clock {
  return asyncScheduler;
}

export function isVirtual(clock: Clock): clock is VirtualClock {
  return clock instanceof VirtualClock;
}

/** Resolve after `ms` of the given clock's time. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.schedule(() => resolve(), ms));
}
