/**
 * Enabling dirty logging on a 16 GiB slot backed by 2M pages (eager split of 8192 huge pages
 * into 4 Mi 4K SPTEs, write-protect, flush) and disabling it (rebuild the 8192 huge pages in
 * place, flush). Baseline in the same run: writing the same number of SPTEs once into a flat
 * Uint32Array (the least an eager split must do), and, for disabling, reading every 4K SPTE once
 * (freeing a table visits its entries, as handle_removed_pt does) and writing one huge SPTE per
 * 2M region. Medians of alternating repetitions.
 */
import { performance } from 'node:perf_hooks';
import { NullHostMemory } from '../src/guest/null-memory';
import { KVM_MEM_LOG_DIRTY_PAGES, KvmVm } from '../src/mmu';
import { median } from './common';

const PAGE = 4096;
const PAGES = 4 * 1024 * 1024;
const HUGE = PAGES / 512;
const REPS = 5;

const nullMemory = new NullHostMemory(PAGES);

const vm = new KvmVm();
const vcpu = vm.createVcpu();
const region = (flags: number) =>
  vm.setUserMemoryRegion({
    slot: 0,
    flags,
    guestPhysAddr: 0,
    memorySize: PAGES * PAGE,
    memory: nullMemory,
    hostMappingLevel: 2,
  });
region(0);
for (let h = 0; h < HUGE; h++) vcpu.writeU32(h * 512 * PAGE, h);
const before = vm.stats();
if (before.pages2m !== HUGE) throw new Error(`expected ${HUGE} 2M pages, got ${before.pages2m}`);

const spteWords = new Uint32Array(PAGES * 2);
function splitBaseline(): number {
  const t = performance.now();
  for (let i = 0; i < PAGES; i++) {
    spteWords[2 * i] = (i << 12) | 0xb07;
    spteWords[2 * i + 1] = 0x6000000;
  }
  return performance.now() - t;
}
const hugeWords = new Uint32Array(HUGE * 2);
function recoverBaseline(): number {
  const t = performance.now();
  for (let h = 0; h < HUGE; h++) {
    let present = 0;
    for (let i = h * 1024; i < (h + 1) * 1024; i += 2) present += spteWords[i]! & 1;
    hugeWords[2 * h] = spteWords[h * 1024]! | 0x80 | (present >>> 16);
    hugeWords[2 * h + 1] = spteWords[h * 1024 + 1]!;
  }
  return performance.now() - t;
}

const enableMs: number[] = [];
const disableMs: number[] = [];
const splitMs: number[] = [];
const recoverMs: number[] = [];
let afterEnable = before;
for (let r = 0; r < REPS; r++) {
  let t = performance.now();
  region(KVM_MEM_LOG_DIRTY_PAGES);
  enableMs.push(performance.now() - t);
  afterEnable = vm.stats();
  splitMs.push(splitBaseline());
  t = performance.now();
  region(0);
  disableMs.push(performance.now() - t);
  recoverMs.push(recoverBaseline());
}
const afterDisable = vm.stats();

process.stdout.write(
  JSON.stringify({
    benchmark:
      'enable (eager split) and disable (in-place huge page recovery) dirty logging, 16 GiB slot on 2M pages',
    enableMs: Number(median(enableMs).toFixed(1)),
    baselineWriteEverySpteOnceMs: Number(median(splitMs).toFixed(1)),
    enableRatio: Number((median(enableMs) / median(splitMs)).toFixed(2)),
    disableMs: Number(median(disableMs).toFixed(1)),
    baselineScanEverySpteOnceMs: Number(median(recoverMs).toFixed(2)),
    disableRatio: Number((median(disableMs) / median(recoverMs)).toFixed(2)),
    pagesAfterEnable: { pages4k: afterEnable.pages4k, pages2m: afterEnable.pages2m },
    pagesAfterDisable: { pages4k: afterDisable.pages4k, pages2m: afterDisable.pages2m },
    tlbFlushes: afterDisable.tlbFlushes,
  }) + '\n',
);
