/**
 * `replay`: vCPU 0 writes the pages of a dirty trace (trace.ts, format in README.md) at the
 * trace's times, measured in its run time; with `period` the trace repeats.
 */
import type { WriteBatch } from '../batch';
import type { ReplayWorkload } from '../spec';
import type { ReplayTrace } from '../trace';
import { Draws, WriteShape, type WorkloadContext, type WriteGenerator } from './generator';

/** Records with time ≤ t. */
function recordsUpTo(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ReplayWrites implements WriteGenerator {
  private readonly draws: Draws;
  private readonly shape: WriteShape;
  private readonly total: number;
  /** Next record, and pages of it already written. */
  private record = 0;
  private within = 0;

  constructor(
    private readonly spec: ReplayWorkload,
    private readonly trace: ReplayTrace,
    ctx: WorkloadContext,
    seed: number,
  ) {
    this.draws = new Draws(seed);
    this.shape = new WriteShape(ctx.content, spec.content, spec.writeSize);
    this.total = trace.writes[trace.times.length]!;
  }

  owed(cpuMs: number): number {
    const period = this.spec.period;
    const cycles = period === undefined ? 0 : Math.floor(cpuMs / period);
    const t = period === undefined ? cpuMs : cpuMs - cycles * period;
    return cycles * this.total + this.trace.writes[recordsUpTo(this.trace.times, t)]!;
  }

  emit(batch: WriteBatch, count: number): void {
    const { first, count: pages } = this.trace;
    const records = pages.length;
    for (let i = 0; i < count; i++) {
      const draw = this.draws.u32();
      batch.push(first[this.record]! + this.within, this.shape.offset(draw), this.shape.source(draw));
      if (++this.within === pages[this.record]!) {
        this.within = 0;
        if (++this.record === records) this.record = 0;
      }
    }
  }

  save(): number[] {
    return [this.record, this.within, ...this.draws.save()];
  }

  restore(state: number[]): void {
    this.record = state[0]!;
    this.within = state[1]!;
    this.draws.restore(state.slice(2));
  }
}
