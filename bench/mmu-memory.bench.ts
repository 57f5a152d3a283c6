/**
 * Memory of the MMU state for a 64 GiB guest (16 Mi pages) with 1 GiB touched, dirty logging
 * on: bytes per touched page and per untouched page (goal: an untouched page costs nothing
 * beyond its dirty-bitmap bit). Measured two ways: the MMU's own accounting (page tables, TLBs,
 * bitmaps, PML) and the process's ArrayBuffer bytes. Two layouts: 1 GiB contiguous, and 1 GiB
 * scattered at random over the whole guest (the worst case for table sharing). Baseline in the
 * same run: the dirty bitmap alone, npages / 8 bytes.
 */
import { KvmVm } from '../src/mmu';
import { NullHostMemory } from '../src/guest/null-memory';
import { Rng } from '../src/util/rng';
import { addLoggedSlot } from './common';

const PAGE = 4096;
const PAGES = 16 * 1024 * 1024;
const TOUCHED = 262144;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const nullMemory = new NullHostMemory(PAGES);

function measure(layout: 'contiguous' | 'scattered') {
  gc();
  const buffers0 = process.memoryUsage().arrayBuffers;
  const vm = new KvmVm();
  const vcpu = vm.createVcpu();
  addLoggedSlot(vm, PAGES, nullMemory);
  gc();
  const untouchedBytes = vm.stats().memoryBytes;
  const untouchedBuffers = process.memoryUsage().arrayBuffers - buffers0;
  const rng = new Rng(5);
  for (let i = 0; i < TOUCHED; i++) {
    const page = layout === 'contiguous' ? i : rng.int(PAGES);
    vcpu.writeU32(page * PAGE, i);
  }
  gc();
  const stats = vm.stats();
  const touchedBuffers = process.memoryUsage().arrayBuffers - buffers0;
  return {
    bytesPerUntouchedPage: Number((untouchedBytes / PAGES).toFixed(4)),
    bytesPerTouchedPage: Number(((stats.memoryBytes - untouchedBytes) / TOUCHED).toFixed(2)),
    mmuBytesTotalMiB: Number((stats.memoryBytes / 2 ** 20).toFixed(2)),
    arrayBufferBytesPerUntouchedPage: Number((untouchedBuffers / PAGES).toFixed(4)),
    arrayBufferBytesPerTouchedPage: Number(((touchedBuffers - untouchedBuffers) / TOUCHED).toFixed(2)),
    pageTables: stats.pageTables,
    // Keep the VM alive until measured.
    vcpus: vm.vcpus.length,
  };
}

process.stdout.write(
  JSON.stringify({
    benchmark: 'MMU memory, 64 GiB guest, 1 GiB touched, dirty logging on',
    baselineBitmapBytesPerPage: 1 / 8,
    contiguous: measure('contiguous'),
    scattered: measure('scattered'),
  }) + '\n',
);
