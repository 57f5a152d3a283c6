/**
 * KVM_GET_DIRTY_LOG on a 4 Mi-page (16 GiB) slot at 0.1 %, 10 % and 100 % of pages dirty,
 * write-protect tracking: take-and-clear each word, write-protect exactly those GFNs (one walk
 * per page table, then the mask's bits), flush. Baseline in the same run: a plain loop over a
 * bitmap with the same bits that takes-and-clears each word, collects the set bits and clears
 * one bit per collected page in a flat typed array (the least any harvest must do).
 * Goal: ≤ 2× the baseline's time at each density. Medians of alternating repetitions.
 */
import { performance } from 'node:perf_hooks';
import { KvmVm } from '../src/mmu';
import { Rng } from '../src/util/rng';
import { median, nullMemory as nullMemoryOf, addLoggedSlot } from './common';

const PAGE = 4096;
const PAGES = 4 * 1024 * 1024;
const WORDS = PAGES / 32;
const REPS = 15;
/** Leading repetitions left out of the medians: the JIT is still warming up. */
const WARMUP = 4;

const nullMemory = nullMemoryOf(PAGES);

function dirtyPages(fraction: number, rng: Rng): Int32Array {
  if (fraction === 1) return Int32Array.from({ length: PAGES }, (_, i) => i);
  const chosen = new Uint8Array(PAGES);
  const out: number[] = [];
  while (out.length < Math.round(PAGES * fraction)) {
    const p = rng.int(PAGES);
    if (chosen[p]) continue;
    chosen[p] = 1;
    out.push(p);
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}

/** The baseline: take-and-clear, collect, clear one bit per page in a flat array. */
function plainHarvest(bitmap: Uint32Array, writable: Uint32Array, out: Int32Array): number {
  let n = 0;
  for (let i = 0; i < WORDS; i++) {
    let w = bitmap[i]!;
    if (w === 0) continue;
    bitmap[i] = 0;
    while (w !== 0) {
      const bit = 31 - Math.clz32(w & -w);
      w &= w - 1;
      const page = i * 32 + bit;
      out[n++] = page;
      writable[page >>> 5] &= ~(1 << (page & 31));
    }
  }
  return n;
}

const results: Record<string, unknown> = {};
const rng = new Rng(11);
for (const fraction of [0.001, 0.1, 1]) {
  const pages = dirtyPages(fraction, rng);
  const vm = new KvmVm();
  const vcpu = vm.createVcpu();
  addLoggedSlot(vm, PAGES, nullMemory);
  const out = new Uint32Array(WORDS);
  const plainBitmap = new Uint32Array(WORDS);
  const plainWritable = new Uint32Array(WORDS);
  const collected = new Int32Array(PAGES);
  const mmuMs: number[] = [];
  const plainMs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < REPS; r++) {
    // Dirty the pages through the guest (first pass faults them in, later passes take the fast path).
    for (let i = 0; i < pages.length; i++) vcpu.writeU32(pages[i]! * PAGE, r);
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      plainBitmap[p >>> 5] |= 1 << (p & 31);
      plainWritable[p >>> 5] |= 1 << (p & 31);
    }
    let t = performance.now();
    vm.getDirtyLog(0, out);
    const mmu = performance.now() - t;
    t = performance.now();
    const n = plainHarvest(plainBitmap, plainWritable, collected);
    const plain = performance.now() - t;
    if (n !== pages.length) throw new Error(`baseline collected ${n} of ${pages.length}`);
    if (r < WARMUP) continue;
    mmuMs.push(mmu);
    plainMs.push(plain);
    ratios.push(mmu / plain);
  }
  results[`${fraction * 100}%`] = {
    dirtyPages: pages.length,
    getDirtyLogMs: Number(median(mmuMs).toFixed(3)),
    baselinePlainHarvestMs: Number(median(plainMs).toFixed(3)),
    ratio: Number(median(ratios).toFixed(2)),
  };
}

process.stdout.write(
  JSON.stringify({
    benchmark: 'KVM_GET_DIRTY_LOG (write-protect) on a 4 Mi-page slot vs a plain take-and-clear harvest',
    goalRatioAtMost: 2,
    ...results,
  }) + '\n',
);
