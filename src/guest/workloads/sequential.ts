/**
 * Sweeping workloads. `sequential` is a scanner (a memcpy, a garbage collector): each vCPU walks
 * its own slice of the buffer page by page and wraps. `incrementer` is QEMU's migration-test
 * guest (tests/migration/i386/a-b-bootblock.S): vCPU 0 loops over the region incrementing byte 0
 * of every page, which leaves memory checkable by the edge rule (edge-rule.ts).
 */
import { INCREMENT, type WriteBatch } from '../batch';
import type { IncrementerWorkload, SequentialWorkload } from '../spec';
import { PAGE_SIZE } from '../../util/units';
import { Draws, WriteShape, writesPerMs, type WorkloadContext, type WriteGenerator } from './generator';

export class SequentialWrites implements WriteGenerator {
  private readonly draws: Draws;
  private readonly shape: WriteShape;
  private readonly rate: number;
  private readonly first: number;
  private readonly count: number;
  /** Next page of the slice, relative to `first`. */
  private cursor = 0;

  constructor(spec: SequentialWorkload, ctx: WorkloadContext, vcpu: number, seed: number) {
    this.draws = new Draws(seed);
    this.shape = new WriteShape(ctx.content, spec.content, spec.writeSize);
    this.rate = writesPerMs(spec.rate, ctx.vcpus);
    const pages = spec.size / PAGE_SIZE;
    const sliceStart = Math.floor((pages * vcpu) / ctx.vcpus);
    this.first = spec.offset / PAGE_SIZE + sliceStart;
    this.count = Math.floor((pages * (vcpu + 1)) / ctx.vcpus) - sliceStart;
  }

  owed(cpuMs: number): number {
    return this.rate * cpuMs;
  }

  emit(batch: WriteBatch, count: number): void {
    const { draws, shape } = this;
    for (let i = 0; i < count; i++) {
      const draw = draws.u32();
      batch.push(this.first + this.cursor, shape.offset(draw), shape.source(draw));
      if (++this.cursor === this.count) this.cursor = 0;
    }
  }

  save(): number[] {
    return [this.cursor, ...this.draws.save()];
  }

  restore(state: number[]): void {
    this.cursor = state[0]!;
    this.draws.restore(state.slice(1));
  }
}

export class IncrementerWrites implements WriteGenerator {
  private readonly rate: number;
  private readonly first: number;
  private readonly count: number;
  /** The page the next `incb` hits, relative to `first` (the guest's address register). */
  private cursor = 0;

  constructor(spec: IncrementerWorkload) {
    this.rate = writesPerMs(spec.rate, 1);
    this.first = spec.offset / PAGE_SIZE;
    this.count = spec.size / PAGE_SIZE;
  }

  owed(cpuMs: number): number {
    return this.rate * cpuMs;
  }

  emit(batch: WriteBatch, count: number): void {
    for (let i = 0; i < count; i++) {
      batch.push(this.first + this.cursor, 0, INCREMENT);
      if (++this.cursor === this.count) this.cursor = 0;
    }
  }

  save(): number[] {
    return [this.cursor];
  }

  restore(state: number[]): void {
    this.cursor = state[0]!;
  }
}
