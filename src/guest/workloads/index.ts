/**
 * Build a workload's generators, one per vCPU. Rates are the whole guest's: vCPUs share them
 * evenly, except the incrementer and replay, which run on vCPU 0 as QEMU's test guest does.
 */
import type { BasicWorkload, WorkloadSpec } from '../spec';
import { loadTrace } from '../trace';
import { NoWrites, type WorkloadContext, type WriteGenerator } from './generator';
import { PhasedWrites } from './phased';
import { HotcoldWrites, hotPages, UniformWrites } from './random';
import { ReplayWrites } from './replay';
import { IncrementerWrites, SequentialWrites } from './sequential';

export type { WorkloadContext, WriteGenerator } from './generator';

/** Per-vCPU generators for a basic workload; shared structures (the hot set) are built once. */
function basicGenerators(spec: BasicWorkload, ctx: WorkloadContext): WriteGenerator[] {
  const hot = spec.kind === 'hotcold' ? hotPages(spec, ctx) : undefined;
  const out: WriteGenerator[] = [];
  for (let v = 0; v < ctx.vcpus; v++) {
    const seed = ctx.rng.u32();
    if (spec.kind === 'hotcold') out.push(new HotcoldWrites(spec, ctx, hot!, seed));
    else if (spec.kind === 'sequential') out.push(new SequentialWrites(spec, ctx, v, seed));
    else out.push(new UniformWrites(spec, ctx, seed));
  }
  return out;
}

/** vCPU 0 runs `first`; the others stay idle. */
function onVcpu0(first: WriteGenerator, vcpus: number): WriteGenerator[] {
  return [first, ...Array.from({ length: vcpus - 1 }, () => new NoWrites())];
}

export function createWorkload(spec: WorkloadSpec, ctx: WorkloadContext): WriteGenerator[] {
  switch (spec.kind) {
    case 'incrementer':
      return onVcpu0(new IncrementerWrites(spec), ctx.vcpus);
    case 'replay':
      return onVcpu0(new ReplayWrites(spec, loadTrace(spec, ctx.pages), ctx, ctx.rng.u32()), ctx.vcpus);
    case 'phased': {
      const perPhase = spec.phases.map((p) => basicGenerators(p.workload, ctx));
      return Array.from(
        { length: ctx.vcpus },
        (_, v) =>
          new PhasedWrites(
            spec,
            perPhase.map((gens) => gens[v]!),
            ctx.vcpus,
          ),
      );
    }
    default:
      return basicGenerators(spec, ctx);
  }
}
