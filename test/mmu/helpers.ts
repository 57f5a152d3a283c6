/** Shared set-up for the MMU tests: a VM with one logged slot over sparse memory. */
import { SparseMemory } from '../../src/guest/sparse-memory';
import type { VmOptions } from '../../src/mmu';
import { KVM_MEM_LOG_DIRTY_PAGES, KvmVm } from '../../src/mmu';
import type { VcpuImpl } from '../../src/mmu/vcpu';

export const PAGE = 4096;
export const SLOT = 1;

export interface Setup {
  vm: KvmVm;
  vcpu: VcpuImpl;
  memory: SparseMemory;
  /** First GPA of the slot. */
  base: number;
  pages: number;
}

/** A VM with one vCPU and slot 1 of `pages` pages at `base`, optionally dirty-logged. */
export function setup(
  pages: number,
  options: VmOptions & {
    log?: boolean;
    base?: number;
    hostLevel?: 1 | 2 | 3;
    manual?: number;
    ring?: number;
  } = {},
): Setup {
  const vm = new KvmVm(options);
  if (options.manual !== undefined) vm.enableManualDirtyLogProtect(options.manual);
  if (options.ring !== undefined) vm.enableDirtyRing(options.ring);
  const vcpu = vm.createVcpu();
  const memory = new SparseMemory(pages);
  const base = options.base ?? 0;
  vm.setUserMemoryRegion({
    slot: SLOT,
    flags: options.log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
    guestPhysAddr: base,
    memorySize: pages * PAGE,
    memory,
    hostMappingLevel: options.hostLevel ?? 1,
  });
  return { vm, vcpu, memory, base, pages };
}

export function setLogging(s: Setup, on: boolean): void {
  s.vm.setUserMemoryRegion({
    slot: SLOT,
    flags: on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
    guestPhysAddr: s.base,
    memorySize: s.pages * PAGE,
    memory: s.memory,
    hostMappingLevel: s.vm.slotFor(s.base / PAGE)!.hostLevel as 1 | 2 | 3,
  });
}

export function newBitmapFor(pages: number): Uint32Array {
  return new Uint32Array(Math.ceil(pages / 64) * 2);
}

/** Page offsets whose bit is set, ascending. */
export function setBits(bitmap: Uint32Array, pages = bitmap.length * 32): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length; i++) {
    let w = bitmap[i]!;
    while (w !== 0) {
      const bit = 31 - Math.clz32(w & -w);
      w &= w - 1;
      if (i * 32 + bit < pages) out.push(i * 32 + bit);
    }
  }
  return out;
}

/** GET_DIRTY_LOG and return the dirty page offsets. */
export function getDirty(s: Setup): number[] {
  const bitmap = newBitmapFor(s.pages);
  s.vm.getDirtyLog(SLOT, bitmap);
  return setBits(bitmap, s.pages);
}
