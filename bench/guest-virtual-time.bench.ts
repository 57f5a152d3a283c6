/**
 * Virtual-time speed: simulated seconds per wall-clock second for a 4 GiB guest dirtying
 * 200 MiB/s (the golden case's rate), with dirty logging on and a GET_DIRTY_LOG every 100 ms of
 * simulated time, as a migration's rounds would. Goal ≥ 10× real time. Baseline in the same
 * run: the raw MMU loop storing the same writes (two writeU32 per 8-byte write, same harvests),
 * i.e. the part of the cost that is the MMU's and not the guest's. uniform and sequential
 * first-touch most pages they write (slow faults); hotcold (256 MiB hot set) is mostly warm.
 * Every page a guest touches for the first time is fresh host memory that the OS maps on first
 * write; on this (virtualised) machine that alone costs microseconds per page and varies with
 * load, so the run also measures it and reports how fast a guest could go if it did nothing
 * but touch its fresh pages (firstTouchBound).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Guest, parseGuestSpec } from '../src/guest';
import { createVm } from '../src/mmu';
import { SparseMemory } from '../src/guest/sparse-memory';
import { virtualClock } from '../src/util/clock';
import { addLoggedSlot } from './common';

const SIMULATED_MS = 10_000;
const HARVEST_MS = 100;
const PAGES = (4 * 1024 ** 3) / 4096;

function spec(kind: string) {
  return parseGuestSpec({
    memory: '4GiB',
    seed: 5,
    fill: { populated: '0%' },
    workload: { kind, rate: '200MiB/s' },
  });
}

/** The guest over SIMULATED_MS with a harvest every HARVEST_MS; `record` keeps its writes (untimed runs only). */
function simulate(kind: string, record: boolean) {
  const clock = virtualClock();
  const guest = Guest.create(spec(kind), clock);
  guest.setDirtyLogging(true);
  const bitmap = new Uint32Array(Math.ceil(PAGES / 64) * 2);
  const gpas: number[] = [];
  const harvestAt: number[] = [];
  if (record)
    guest.batches$.subscribe((b) => {
      for (let i = 0; i < b.length; i++) gpas.push(b.page[i]! * 4096 + b.offset[i]!);
    });
  guest.start();
  const start = performance.now();
  for (let t = HARVEST_MS; t <= SIMULATED_MS; t += HARVEST_MS) {
    clock.advanceTo(t);
    guest.catchUp();
    guest.vm.getDirtyLog(0, bitmap);
    harvestAt.push(gpas.length);
  }
  const wallMs = performance.now() - start;
  guest.stop();
  return {
    wallMs,
    writes: guest.writes,
    freshPages: guest.bytes.allocatedPages,
    gpas: Float64Array.from(gpas),
    harvestAt,
  };
}

/** The same writes and harvests through a bare loop. */
function rawLoop(gpas: Float64Array, harvestAt: number[]): number {
  const memory = new SparseMemory(PAGES);
  const vm = createVm();
  addLoggedSlot(vm, PAGES, memory);
  const vcpu = vm.createVcpu();
  const bitmap = new Uint32Array(Math.ceil(PAGES / 64) * 2);
  const start = performance.now();
  let i = 0;
  for (const end of harvestAt) {
    for (; i < end; i++) {
      vcpu.writeU32(gpas[i]!, i);
      vcpu.writeU32(gpas[i]! + 4, i);
    }
    vm.getDirtyLog(0, bitmap);
  }
  return performance.now() - start;
}

/** Wall ms per fresh 4 KiB page: fresh 4 MiB buffers (SparseMemory's chunks), one store per page. */
function hostFirstTouchMsPerPage(): number {
  const pages = 65536;
  const chunks: Uint32Array[] = [];
  const start = performance.now();
  for (let p = 0; p < pages; p++) {
    if (p % 1024 === 0) chunks.push(new Uint32Array(1024 * 1024));
    chunks[chunks.length - 1]![(p % 1024) * 1024] = p;
  }
  return (performance.now() - start) / pages;
}

const results: Record<string, unknown> = {};
for (const kind of ['uniform', 'sequential', 'hotcold']) {
  const recorded = simulate(kind, true);
  const rawMs = rawLoop(recorded.gpas, recorded.harvestAt);
  const run = simulate(kind, false);
  const touchMs = hostFirstTouchMsPerPage();
  results[kind] = {
    simulatedSecondsPerWallSecond: Number((SIMULATED_MS / run.wallMs).toFixed(2)),
    goal: 10,
    wallMs: Math.round(run.wallMs),
    writes: run.writes,
    rawLoopWallMs: Math.round(rawMs),
    rawLoopSimulatedSecondsPerWallSecond: Number((SIMULATED_MS / rawMs).toFixed(2)),
    guestOverRaw: Number((rawMs / run.wallMs).toFixed(3)),
    freshPages: run.freshPages,
    hostFirstTouchUsPerPage: Number((touchMs * 1000).toFixed(2)),
    firstTouchBoundSimulatedSecondsPerWallSecond: Number(
      (SIMULATED_MS / (run.freshPages * touchMs)).toFixed(2),
    ),
  };
}
process.stdout.write(
  JSON.stringify({
    benchmark: 'virtual-time speed: 4 GiB guest at 200 MiB/s, dirty logging on, GET_DIRTY_LOG every 100 ms',
    simulatedMs: SIMULATED_MS,
    ...results,
    loadavg: loadavg()[0],
  }) + '\n',
);
