/**
 * Write batches: what a workload stream emits once per tick. A batch is a set of parallel typed
 * arrays (page, byte offset, content source), grouped by vCPU, so a tick of any size is one
 * emission and no write allocates. The batch object is reused from tick to tick: consume it
 * synchronously.
 */
import { map, Observable, type Subscription } from 'rxjs';
import type { Clock } from '../util/clock';

/** `source` value of the incrementer's read-modify-write of byte 0 (QEMU's test guest `incb`). */
export const INCREMENT = 0xffffffff;

export class WriteBatch {
  /** Clock time of the tick that produced the batch. */
  time = 0;
  length = 0;
  page: Uint32Array;
  /** Byte offset of the write inside its page. */
  offset: Uint16Array;
  /** Index of the content view the write copies (Guest's content registry), or INCREMENT. */
  source: Uint32Array;
  /** vCPU v's writes are [segments[v], segments[v + 1]). */
  readonly segments: Uint32Array;

  constructor(
    readonly vcpus: number,
    capacity = 1024,
  ) {
    this.page = new Uint32Array(capacity);
    this.offset = new Uint16Array(capacity);
    this.source = new Uint32Array(capacity);
    this.segments = new Uint32Array(vcpus + 1);
  }

  clear(time: number): void {
    this.time = time;
    this.length = 0;
    this.segments.fill(0);
  }

  push(page: number, offset: number, source: number): void {
    if (this.length === this.page.length) this.grow();
    const i = this.length++;
    this.page[i] = page;
    this.offset[i] = offset;
    this.source[i] = source;
  }

  /** Close vCPU v's segment: the writes pushed since the previous segment are v's. */
  endSegment(vcpu: number): void {
    this.segments[vcpu + 1] = this.length;
  }

  /** Append writes [from, to) of another batch (used to carry writes a blocked vCPU still owes). */
  append(other: WriteBatch, from: number, to: number): void {
    while (this.length + (to - from) > this.page.length) this.grow();
    this.page.set(other.page.subarray(from, to), this.length);
    this.offset.set(other.offset.subarray(from, to), this.length);
    this.source.set(other.source.subarray(from, to), this.length);
    this.length += to - from;
  }

  /** Drop the first `count` writes. */
  shift(count: number): void {
    this.page.copyWithin(0, count, this.length);
    this.offset.copyWithin(0, count, this.length);
    this.source.copyWithin(0, count, this.length);
    this.length -= count;
  }

  private grow(): void {
    const capacity = this.page.length * 2;
    const page = new Uint32Array(capacity);
    const offset = new Uint16Array(capacity);
    const source = new Uint32Array(capacity);
    page.set(this.page);
    offset.set(this.offset);
    source.set(this.source);
    this.page = page;
    this.offset = offset;
    this.source = source;
  }
}

/**
 * Clock time every `tickMs`. Each tick schedules the next as a fresh action: rescheduling one
 * action (what `interval` does) makes RxJS's VirtualTimeScheduler chain every past action to
 * the next, which grows without bound over a long simulation and overflows the stack when
 * unsubscribed.
 */
export function ticks(clock: Clock, tickMs: number): Observable<number> {
  return new Observable<number>((subscriber) => {
    let next: Subscription;
    const tick = () => {
      subscriber.next(clock.now());
      if (!subscriber.closed) next = clock.schedule(tick, tickMs);
    };
    next = clock.schedule(tick, tickMs);
    return () => next.unsubscribe();
  });
}

/**
 * The workload stream: every `tickMs` of the injected clock, `produce(now)` returns the writes
 * owed for the interval since the previous tick. One emission per tick, never per write.
 */
export function writeBatches(
  clock: Clock,
  tickMs: number,
  produce: (now: number) => WriteBatch,
): Observable<WriteBatch> {
  return ticks(clock, tickMs).pipe(map(produce));
}
