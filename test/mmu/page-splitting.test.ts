/**
 * Port of x86_64/dirty_log_page_splitting_test.c (§6.3): page-size counts before enabling
 * dirty logging, after enabling (eager split), after dirtying passes, after disabling and
 * re-touching. Also §7.22 (collapse on disable) and §7.23 (eager split).
 */
import type { MmuStats } from '../../src/mmu';
import {
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KvmVm,
} from '../../src/mmu';
import type { VcpuImpl } from '../../src/mmu/vcpu';
import { NullHostMemory } from '../../src/guest/null-memory';
import { newBitmapFor, PAGE } from './helpers';

const VCPUS = 2;
const ITERATIONS = 2;

interface Run {
  vm: KvmVm;
  vcpus: VcpuImpl[];
  slotPages: number;
  memory: NullHostMemory;
  hostLevel: 2 | 3;
  /** Pages between two writes of a pass: 1 as in the selftest; larger keeps 1 GiB slots quick. */
  stride: number;
}

function create(hostLevel: 2 | 3, slotPages: number, manual: boolean, stride = 1): Run {
  const vm = new KvmVm();
  if (manual)
    vm.enableManualDirtyLogProtect(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
  const vcpus = [vm.createVcpu(), vm.createVcpu()];
  const memory = new NullHostMemory(slotPages * VCPUS);
  const run = { vm, vcpus, slotPages, memory, hostLevel, stride };
  for (let i = 0; i < VCPUS; i++) setSlot(run, i, 0);
  return run;
}

/** Slot i+1 is vCPU i's memory (the selftest gives each vCPU its own slot). */
function setSlot(run: Run, i: number, flags: number): void {
  run.vm.setUserMemoryRegion({
    slot: i + 1,
    flags,
    guestPhysAddr: (1 << 30) * (i + 1),
    memorySize: run.slotPages * PAGE,
    memory: run.memory,
    memoryOffsetPages: i * run.slotPages,
    hostMappingLevel: run.hostLevel,
  });
}

/** Every vCPU writes every page of its slot once (vcpu_worker). */
function dirtyPass(run: Run, value: number): void {
  let failed = 0;
  for (let i = 0; i < VCPUS; i++)
    for (let p = 0; p < run.slotPages; p += run.stride)
      if (run.vcpus[i]!.writeU32((1 << 30) * (i + 1) + p * PAGE, value) !== 'ok') failed++;
  expect(failed).toBe(0);
}

function counts(stats: MmuStats): [number, number, number] {
  return [stats.pages4k, stats.pages2m, stats.pages1g];
}

function total4k(stats: MmuStats): number {
  return stats.pages4k + 512 * stats.pages2m + 512 * 512 * stats.pages1g;
}

describe.each([
  ['2M (anonymous_hugetlb_2mb)', 2 as const, 16 * 512, 1],
  ['1G (anonymous_hugetlb_1gb), every 64th page written', 3 as const, 512 * 512, 64],
])('dirty_log_page_splitting_test, %s backing', (_name, hostLevel, slotPages, stride) => {
  it('§7.23 eager split without manual protect: huge = 0 right after enabling; §7.22 counts come back after disabling', () => {
    const run = create(hostLevel, slotPages, false, stride);
    dirtyPass(run, 1);
    const populated = run.vm.stats();
    expect(populated.pages4k).toBe(0);
    expect(hostLevel === 2 ? populated.pages2m : populated.pages1g).toBe(
      VCPUS * (hostLevel === 2 ? slotPages / 512 : 1),
    );
    const total = total4k(populated);
    for (let i = 0; i < VCPUS; i++) setSlot(run, i, KVM_MEM_LOG_DIRTY_PAGES);
    expect(counts(run.vm.stats())).toEqual([total, 0, 0]);
    for (let it = 1; it <= ITERATIONS; it++) {
      dirtyPass(run, it + 1);
      for (let i = 0; i < VCPUS; i++) run.vm.getDirtyLog(i + 1, newBitmapFor(slotPages));
      expect(counts(run.vm.stats())).toEqual([total, 0, 0]);
    }
    for (let i = 0; i < VCPUS; i++) setSlot(run, i, 0);
    dirtyPass(run, 9);
    expect(counts(run.vm.stats())).toEqual(counts(populated));
    expect(run.vm.stats().warnings).toEqual({});
  });

  it('§7.23 with MANUAL_PROTECT + INITIALLY_SET: huge pages untouched by enabling, all split by the first whole-slot CLEAR', () => {
    const run = create(hostLevel, slotPages, true, stride);
    dirtyPass(run, 1);
    const populated = run.vm.stats();
    const total = total4k(populated);
    for (let i = 0; i < VCPUS; i++) setSlot(run, i, KVM_MEM_LOG_DIRTY_PAGES);
    expect(counts(run.vm.stats())).toEqual(counts(populated));
    for (let it = 1; it <= ITERATIONS; it++) {
      dirtyPass(run, it + 1);
      for (let i = 0; i < VCPUS; i++) {
        const bitmap = newBitmapFor(slotPages);
        run.vm.getDirtyLog(i + 1, bitmap);
        run.vm.clearDirtyLog(i + 1, 0, slotPages, bitmap);
      }
      expect(counts(run.vm.stats())).toEqual([total, 0, 0]);
    }
    for (let i = 0; i < VCPUS; i++) setSlot(run, i, 0);
    dirtyPass(run, 9);
    expect(counts(run.vm.stats())).toEqual(counts(populated));
  });
});

describe('§7.22 collapse on disable needs a backing that allows huge pages', () => {
  it('a 4K-backed slot stays 4K after disabling', () => {
    const run = create(2, 1024, false);
    run.vm.setUserMemoryRegion({
      slot: 1,
      flags: 0,
      guestPhysAddr: 1 << 30,
      memorySize: 0,
      memory: run.memory,
    });
    run.vm.setUserMemoryRegion({
      slot: 1,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 1 << 30,
      memorySize: 1024 * PAGE,
      memory: run.memory,
      hostMappingLevel: 1,
    });
    for (let p = 0; p < 1024; p++) run.vcpus[0]!.writeU32((1 << 30) + p * PAGE, p);
    run.vm.setUserMemoryRegion({
      slot: 1,
      flags: 0,
      guestPhysAddr: 1 << 30,
      memorySize: 1024 * PAGE,
      memory: run.memory,
    });
    expect(counts(run.vm.stats())).toEqual([1024, 0, 0]);
  });
});
