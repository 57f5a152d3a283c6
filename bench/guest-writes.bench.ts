/**
 * Guest writes per wall-clock second on a 16 GiB guest (uniform and hotcold), against the raw
 * MMU write loop: the same page sequence, stored by a bare loop of vcpu.writeU32 (an 8-byte
 * store as two 32-bit writes, like the guest's default write) into a fresh VM of the same size.
 * Both pay the same MMU work (faults on first touch, the warm TLB afterwards), so the ratio is
 * the guest's own cost: workload generation, batching, the RxJS tick and the dirty meter.
 * Goal: guest ≥ 0.3 × the raw loop. Dirty logging is on in both, as during a migration.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Guest, parseGuestSpec } from '../src/guest';
import { createVm } from '../src/mmu';
import { SparseMemory } from '../src/guest/sparse-memory';
import { virtualClock } from '../src/util/clock';
import { addLoggedSlot } from './common';

const MEMORY = '16GiB';
const PAGES = (16 * 1024 ** 3) / 4096;
const RATE = '400MiB/s';
/** Simulated ms of warm-up (first touches), then of measurement. */
const WARM_MS = 2000;
const MEASURE_MS = 2000;

const WORKLOADS = {
  uniform: { kind: 'uniform', rate: RATE },
  hotcold: { kind: 'hotcold', rate: RATE, hot: '256MiB' },
};

function spec(workload: object) {
  return parseGuestSpec({ memory: MEMORY, seed: 3, fill: { populated: '0%' }, workload });
}

/** The guest's write sequence (gpa per write) for the warm-up and the measured interval. */
function recordSequence(workload: object): { warm: Float64Array; measured: Float64Array } {
  const clock = virtualClock();
  const guest = Guest.create(spec(workload), clock);
  const gpas: number[] = [];
  guest.batches$.subscribe((b) => {
    for (let i = 0; i < b.length; i++) gpas.push(b.page[i]! * 4096 + b.offset[i]!);
  });
  guest.start();
  clock.advanceTo(WARM_MS);
  const warmCount = gpas.length;
  clock.advanceTo(WARM_MS + MEASURE_MS);
  guest.stop();
  return {
    warm: Float64Array.from(gpas.slice(0, warmCount)),
    measured: Float64Array.from(gpas.slice(warmCount)),
  };
}

/** Writes/s of a bare writeU32 loop replaying the sequence into a fresh VM. */
function rawLoop(sequence: { warm: Float64Array; measured: Float64Array }): number {
  const memory = new SparseMemory(PAGES);
  const vm = createVm();
  addLoggedSlot(vm, PAGES, memory);
  const vcpu = vm.createVcpu();
  const run = (gpas: Float64Array) => {
    for (let i = 0; i < gpas.length; i++) {
      vcpu.writeU32(gpas[i]!, i);
      vcpu.writeU32(gpas[i]! + 4, i);
    }
  };
  run(sequence.warm);
  const start = performance.now();
  run(sequence.measured);
  return sequence.measured.length / ((performance.now() - start) / 1000);
}

/** Writes/s of the guest itself over the measured interval of virtual time. */
function guestLoop(workload: object): { writesPerSecond: number; writes: number } {
  const clock = virtualClock();
  const guest = Guest.create(spec(workload), clock);
  guest.setDirtyLogging(true);
  guest.meter.open(); // the round engine keeps a window open
  guest.start();
  clock.advanceTo(WARM_MS);
  const before = guest.writes;
  const start = performance.now();
  clock.advanceTo(WARM_MS + MEASURE_MS);
  const seconds = (performance.now() - start) / 1000;
  guest.stop();
  return { writesPerSecond: (guest.writes - before) / seconds, writes: guest.writes - before };
}

const results: Record<string, unknown> = {};
for (const [name, workload] of Object.entries(WORKLOADS)) {
  const sequence = recordSequence(workload);
  const raw = rawLoop(sequence);
  const guest = guestLoop(workload);
  results[name] = {
    guestWritesPerSecond: Math.round(guest.writesPerSecond),
    rawLoopWritesPerSecond: Math.round(raw),
    ratio: Number((guest.writesPerSecond / raw).toFixed(3)),
    goal: 0.3,
    measuredWrites: guest.writes,
  };
}
process.stdout.write(
  JSON.stringify({
    benchmark: 'guest writes per wall second on a 16 GiB guest vs the raw MMU write loop (same pages)',
    memory: MEMORY,
    rate: RATE,
    ...results,
    loadavg: loadavg()[0],
  }) + '\n',
);
