/**
 * The injected clock. Every component takes its notion of time from one RxJS `SchedulerLike`:
 * `virtualClock()` for deterministic simulated time, `wallClock()` for the real one.
 * Times are milliseconds (RxJS's unit), fractional values allowed.
 */
import { asyncScheduler, Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

export type Clock = SchedulerLike;

/**
 * One scheduled piece of work. Rescheduling reuses the action (as RxJS's AsyncAction does), so a
 * periodic stream such as `interval()` costs one action however long it runs. RxJS's own
 * VirtualTimeScheduler chains a new action per run, which grows without bound over a long
 * simulation and overflows the stack when the chain is finally unsubscribed.
 */
class VirtualClockAction<T> extends Subscription implements SchedulerAction<T> {
  /** The ticket of the queue entry that is current; older entries for this action are stale. */
  ticket = -1;
  private state: T | undefined;

  constructor(
    private readonly clock: VirtualClock,
    private readonly work: (this: SchedulerAction<T>, state?: T) => void,
  ) {
    super();
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.state = state;
    this.ticket = this.clock.enqueue(this, this.clock.now() + Math.max(0, delay));
    return this;
  }

  run(): void {
    this.ticket = -1;
    try {
      this.work(this.state);
    } catch (e) {
      this.unsubscribe();
      throw e;
    }
    // Work that did not reschedule itself is finished.
    if (this.ticket === -1) this.unsubscribe();
  }
}

interface QueueEntry {
  time: number;
  ticket: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the queue holds actions of any state type
  action: VirtualClockAction<any>;
}

/** Min-heap order: earlier time first, then first scheduled first. */
function before(a: QueueEntry, b: QueueEntry): boolean {
  return a.time < b.time || (a.time === b.time && a.ticket < b.ticket);
}

/**
 * Simulated time. Nothing happens until someone advances it: `advanceTo(t)` runs every action
 * due at or before t, in time order (ties in scheduling order), and leaves `now()` at exactly t.
 */
export class VirtualClock implements SchedulerLike {
  private time = 0;
  private nextTicket = 0;
  private readonly heap: QueueEntry[] = [];

  now(): number {
    return this.time;
  }

  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    return new VirtualClockAction<T>(this, work).schedule(state, delay);
  }

  /** Actions waiting to run (stale entries of rescheduled or cancelled actions excluded). */
  get pending(): number {
    return this.heap.filter((e) => e.ticket === e.action.ticket && !e.action.closed).length;
  }

  /** @internal queue an action's next run; returns its ticket. */
  enqueue(action: QueueEntry['action'], time: number): number {
    const entry = { time, ticket: this.nextTicket++, action };
    this.heap.push(entry);
    this.siftUp(this.heap.length - 1);
    return entry.ticket;
  }

  advanceTo(time: number): void {
    if (!(time >= this.time))
      throw new RangeError(`VirtualClock: cannot go back from ${this.time} to ${time}`);
    while (this.heap.length > 0 && this.heap[0]!.time <= time) {
      const entry = this.pop();
      if (entry.ticket !== entry.action.ticket || entry.action.closed) continue;
      this.time = entry.time;
      entry.action.run();
    }
    this.time = time;
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  private pop(): QueueEntry {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
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
