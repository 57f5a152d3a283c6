/**
 * Random-page workloads. `idle` and `uniform` pick pages uniformly over a region (idle: all of
 * memory, a few writes per second); `hotcold` sends `hotShare` of its writes to a hot set, the
 * writable working set, and the rest anywhere in memory.
 */
import type { WriteBatch } from '../batch';
import type { HotcoldWorkload, IdleWorkload, UniformWorkload } from '../spec';
import { PAGE_SIZE } from '../../util/units';
import { Draws, WriteShape, writesPerMs, type WorkloadContext, type WriteGenerator } from './generator';

/** A seeded writer at a fixed rate: its draws are its whole state (save/restore for clones). */
abstract class DrawnWrites implements WriteGenerator {
  protected readonly draws: Draws;
  protected readonly shape: WriteShape;
  private readonly rate: number;

  constructor(spec: IdleWorkload | UniformWorkload | HotcoldWorkload, ctx: WorkloadContext, seed: number) {
    this.draws = new Draws(seed);
    this.shape = new WriteShape(ctx.content, spec.content, spec.writeSize);
    this.rate = writesPerMs(spec.rate, ctx.vcpus);
  }

  owed(cpuMs: number): number {
    return this.rate * cpuMs;
  }

  abstract emit(batch: WriteBatch, count: number): void;

  save(): number[] {
    return this.draws.save();
  }

  restore(state: number[]): void {
    this.draws.restore(state);
  }
}

export class UniformWrites extends DrawnWrites {
  private readonly first: number;
  private readonly count: number;

  constructor(spec: IdleWorkload | UniformWorkload, ctx: WorkloadContext, seed: number) {
    super(spec, ctx, seed);
    this.first = spec.kind === 'idle' ? 0 : spec.offset / PAGE_SIZE;
    this.count = spec.kind === 'idle' ? ctx.pages : spec.size / PAGE_SIZE;
  }

  emit(batch: WriteBatch, count: number): void {
    const { draws, shape, first } = this;
    for (let i = 0; i < count; i++) {
      const page = first + draws.below(this.count);
      const draw = draws.u32();
      batch.push(page, shape.offset(draw), shape.source(draw));
    }
  }
}

/** The hot set's pages, ascending: a seeded sample scattered over memory, or a contiguous run. */
export function hotPages(spec: HotcoldWorkload, ctx: WorkloadContext): Uint32Array {
  const wanted = spec.hot / PAGE_SIZE;
  const out = new Uint32Array(wanted);
  if (spec.layout === 'contiguous') {
    for (let i = 0; i < wanted; i++) out[i] = spec.offset / PAGE_SIZE + i;
    return out;
  }
  // Selection sampling (Knuth's algorithm S): exactly `wanted` pages, in order, one pass.
  const draws = new Draws(ctx.rng.u32());
  let chosen = 0;
  for (let page = 0; page < ctx.pages && chosen < wanted; page++)
    if (draws.below(ctx.pages - page) < wanted - chosen) out[chosen++] = page;
  return out;
}

export class HotcoldWrites extends DrawnWrites {
  /** A draw below this goes to the hot set. */
  private readonly hotThreshold: number;

  constructor(
    spec: HotcoldWorkload,
    private readonly ctx: WorkloadContext,
    private readonly hot: Uint32Array,
    seed: number,
  ) {
    super(spec, ctx, seed);
    this.hotThreshold = spec.hotShare * 4294967296;
  }

  emit(batch: WriteBatch, count: number): void {
    const { draws, shape, hot } = this;
    const pages = this.ctx.pages;
    for (let i = 0; i < count; i++) {
      const page = draws.u32() < this.hotThreshold ? hot[draws.below(hot.length)]! : draws.below(pages);
      const draw = draws.u32();
      batch.push(page, shape.offset(draw), shape.source(draw));
    }
  }
}
