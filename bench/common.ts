/** Pieces every benchmark shares: a median, a stopwatch, one logged memslot, fresh processes. */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { KVM_MEM_LOG_DIRTY_PAGES, type HostMemory, type Vm } from '../src/mmu';

const PAGE = 4096;

/** The middle value (the upper middle for an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** Wall milliseconds since `start` (a `performance.now()`). */
export function msSince(start: number): number {
  return performance.now() - start;
}

/** Slot 0 at GPA 0 over `pages` of `memory`, dirty logging on. */
export function addLoggedSlot(vm: Vm, pages: number, memory: HostMemory): void {
  vm.setUserMemoryRegion({
    slot: 0,
    flags: KVM_MEM_LOG_DIRTY_PAGES,
    guestPhysAddr: 0,
    memorySize: pages * PAGE,
    memory,
  });
}

const CHILD = 'PRECOPY_BENCH_CHILD';

/**
 * Run `measure` in `count` fresh processes of `file` (the calling benchmark) and return their
 * runs; in those child processes, print the run and return null. On this shared VM the same code
 * measures up to 2x apart from one process to the next (where the host backs its memory, how the
 * JIT lays out its code) while runs inside one process agree, so one process says little.
 */
export function runInFreshProcesses<T>(file: string, count: number, measure: () => T): T[] | null {
  if (process.env[CHILD]) {
    process.stdout.write(JSON.stringify(measure()) + '\n');
    return null;
  }
  const runs: T[] = [];
  for (let i = 0; i < count; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, file], {
      env: { ...process.env, [CHILD]: '1' },
      encoding: 'utf8',
    });
    runs.push(JSON.parse(out.trim().split('\n').pop()!) as T);
  }
  return runs;
}

/** Visit each page's one-byte state once per round: the floor for any page-level simulator. */
export function bareLoopMs(pages: number, rounds: number): number {
  const states = new Uint8Array(pages);
  for (let i = 0; i < pages; i += 7) states[i] = i & 3;
  let sum = 0;
  const start = performance.now();
  for (let r = 0; r < rounds; r++) for (let p = 0; p < pages; p++) sum += states[p]!;
  const ms = performance.now() - start;
  if (sum < 0) throw new Error('unreachable');
  return ms;
}
