/** Pieces every benchmark shares: a median, a stopwatch, one logged memslot. */
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
