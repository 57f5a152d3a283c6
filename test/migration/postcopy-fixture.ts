/** The postcopy tests' guest and switch: the source runs, stops, and leaves some pages stale at the destination. */
import { Guest, parseGuestSpec, SparseMemory, type GuestSpec } from '../../src/guest/index';
import type { PostcopyOptions } from '../../src/migration/postcopy';
import { virtualClock } from '../../src/util/clock';
import fc from 'fast-check';

export const MiB = 1024 * 1024;

/**
 * 4 MiB, 2 vCPUs, each sweeping its own 1 MiB slice of the top half: vCPU 0 pages 512..767,
 * vCPU 1 pages 768..1023.
 */
export const SWEEP = {
  memory: '4MiB',
  vcpus: 2,
  seed: 5,
  fill: { populated: '100%', content: 'random' },
  workload: { kind: 'sequential', rate: '8MiB/s', offset: '2MiB', size: '2MiB' },
};

/**
 * Run the source guest for `ms`, stop it; the destination holds its image except `dirty` pages
 * (stale there: what pre-copy had not re-sent when postcopy started).
 */
export function switchAt(spec: GuestSpec, ms: number, dirty: (gfn: number, written: Uint8Array) => boolean) {
  const clock = virtualClock();
  const source = Guest.create(spec, clock);
  const written = new Uint8Array(source.pages);
  source.batches$.subscribe((b) => {
    for (let i = 0; i < b.length; i++) written[b.page[i]!] = 1;
  });
  source.start();
  clock.advanceBy(ms);
  source.stop();
  const destination = new SparseMemory(source.pages);
  const discard = new Uint8Array(source.pages);
  for (let g = 0; g < source.pages; g++) {
    if (dirty(g, written)) {
      discard[g] = 1;
      destination.writable(g).fill(0xee);
    } else destination.writePage(g, source.bytes.read(g));
  }
  return { clock, source: source.bytes, destination, discard, guest: spec, vcpuState: source.vcpuState() };
}

export function options(
  over: Partial<PostcopyOptions> = {},
  spec: unknown = SWEEP,
  dirty: (gfn: number, written: Uint8Array) => boolean = (g) => g < 768,
): PostcopyOptions {
  return {
    ...switchAt(parseGuestSpec(spec), 100, dirty),
    link: { bandwidth: 64 * MiB, latencyMs: 10 },
    deadline: 10_000,
    ...over,
  };
}

/**
 * The properties' inputs: a guest seed, which pages the discard set holds (every `every`-th),
 * and up to three link losses (when, and how long until recovery), for a uniform 16 MiB/s writer.
 */
export const lossCase = fc.record({
  seed: fc.integer({ min: 1, max: 1e6 }),
  every: fc.integer({ min: 2, max: 5 }),
  linkLoss: fc.array(
    fc.record({ at: fc.integer({ min: 0, max: 60 }), recoverAfter: fc.integer({ min: 1, max: 40 }) }),
    { maxLength: 3 },
  ),
});
