/**
 * The contract every workload implements, per vCPU. A workload is CPU-bound: `owed(cpuMs)` says
 * how many page writes it has made after running that long (cumulative, fractional), and
 * `emit` produces the next ones. The guest asks once per tick, so the writes of an interval
 * are exactly owed(end) − owed(start) whatever the tick, and the same seed gives the same
 * sequence at any machine speed.
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';
import type { Rng } from '../../util/rng';
import { PAGE_SIZE } from '../../util/units';
import type { WriteBatch } from '../batch';
import { type ContentViews, WRITE_VIEWS } from '../content';
import type { ContentKind } from '../spec';

export interface WriteGenerator {
  /** Page writes made after `cpuMs` of this vCPU's run time (cumulative, may be fractional). */
  owed(cpuMs: number): number;
  /** Append this vCPU's next `count` writes to the batch. */
  emit(batch: WriteBatch, count: number): void;
  /** The generator's registers (cursor, RNG state) for the vCPU state blob; restore takes them back. */
  save(): number[];
  restore(state: number[]): void;
}

/** What a workload needs from the guest to build its generators. */
export interface WorkloadContext {
  pages: number;
  vcpus: number;
  /** The guest's seeded generator: workloads fork from it, in construction order. */
  rng: Rng;
  content: ContentViews;
}

/**
 * A vCPU's private random stream: pure-rand's xoroshiro128+, whose state (four int32s) goes
 * into the vCPU state blob so a resumed guest continues the same sequence.
 */
export class Draws {
  private gen: JumpableRandomGenerator;

  constructor(seed: number) {
    this.gen = xoroshiro128plus(seed);
  }

  u32(): number {
    return this.gen.next() >>> 0;
  }

  /** Uniform integer in [0, n) for n ≤ 2^31: the multiply-shift map of one 32-bit draw. */
  below(n: number): number {
    return Math.floor(((this.gen.next() >>> 0) * n) / 4294967296);
  }

  save(): number[] {
    return [...this.gen.getState()];
  }

  restore(state: number[]): void {
    this.gen = xoroshiro128plusFromState(state);
  }
}

/**
 * Where in a page a write lands and what it copies: one draw gives a `writeSize`-aligned slot
 * (low bits) and a content window (next 10 bits).
 */
export class WriteShape {
  private readonly slotMask: number;
  readonly base: number;

  constructor(
    content: ContentViews,
    kind: ContentKind,
    readonly writeSize: number,
  ) {
    this.slotMask = PAGE_SIZE / writeSize - 1;
    this.base = content.register(kind, writeSize);
  }

  offset(draw: number): number {
    return (draw & this.slotMask) * this.writeSize;
  }

  source(draw: number): number {
    return this.base + ((draw >>> 10) & (WRITE_VIEWS - 1));
  }
}

/** A vCPU the workload leaves idle (the incrementer and replay run on vCPU 0 only). */
export class NoWrites implements WriteGenerator {
  owed(): number {
    return 0;
  }
  emit(): void {}
  save(): number[] {
    return [];
  }
  restore(): void {}
}

/** Page writes per ms of run time for one of `share` vCPUs, from a rate in bytes/s. */
export function writesPerMs(rate: number, share: number): number {
  return rate / PAGE_SIZE / 1000 / share;
}
