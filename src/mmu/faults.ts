/**
 * The fault plan's MMU part (src/config/faults.ts), applied by wrapping a VM's seams when a
 * fault is on: the flush it owes before userspace consumes the log, the MMU's reprotect walks,
 * its fast path, its boot mapping. Nothing in vm.ts or tdp-mmu.ts tests a fault switch.
 */
import type { MmuFaults } from '../config/faults';
import type { Memslot } from './memslot';
import { PG_LEVEL_4K, SPTE_D, SPTE_W } from './spte';
import type { MmuVcpu, TdpMmu } from './tdp-mmu';

/** What the wrappers reach of a KvmVm (vm.ts), named here so this module does not import it back. */
export interface FaultableVm {
  readonly mmu: TdpMmu;
  flushBeforeConsume(): void;
  markPageDirty(vcpu: MmuVcpu | null, slot: Memslot, gfn: number): void;
  slotFor(gfn: number): Memslot | null;
}

export function applyMmuFaults(vm: FaultableVm, faults: MmuFaults): void {
  if (faults.skipFlushAfterReprotect) vm.flushBeforeConsume = () => {};
  if (faults.markBitmapOnReprotect) markOnReprotect(vm);
  if (faults.dropFastPathLog) dropFastPathLog(vm);
  if (faults.bootMapWithoutWrite) bootMapWithoutWrite(vm.mmu);
}

/**
 * The seed's double report (§3.8): every leaf a reprotect walk clears W or D on is marked in the
 * slot's bitmap as well. The leaves holding the bit are listed before the walk (with yields, a
 * leaf a vCPU makes writable meanwhile is not listed; the report is doubled all the same).
 */
function markOnReprotect(vm: FaultableVm): void {
  const mmu = vm.mmu;
  const mark = (gfns: number[]): void => {
    for (const gfn of gfns) {
      const slot = vm.slotFor(gfn);
      if (slot?.dirtyBitmap) slot.setDirty(gfn - slot.baseGfn);
    }
  };
  const wrprotRange = mmu.wrprotRange.bind(mmu);
  mmu.wrprotRange = (start, end, minLevel) => {
    const gfns = leavesWith(mmu, start, end, minLevel, SPTE_W);
    const changed = wrprotRange(start, end, minLevel);
    mark(gfns);
    return changed;
  };
  const clearDirtyRange = mmu.clearDirtyRange.bind(mmu);
  mmu.clearDirtyRange = (start, end) => {
    const gfns = leavesWith(mmu, start, end, PG_LEVEL_4K, mmu.adEnabled ? SPTE_D : SPTE_W);
    const changed = clearDirtyRange(start, end);
    mark(gfns);
    return changed;
  };
  const clearDirtyPtMasked = mmu.clearDirtyPtMasked.bind(mmu);
  mmu.clearDirtyPtMasked = (gfn, lo, hi, wrprot) => {
    const bit = wrprot || !mmu.adEnabled ? SPTE_W : SPTE_D;
    const gfns: number[] = [];
    for (let b = 0; b < 64; b++) {
      if (((b < 32 ? lo : hi) & (1 << (b & 31))) === 0) continue;
      const leaf = mmu.leafFor(gfn + b);
      if (leaf !== null && leaf.level === PG_LEVEL_4K && (leaf.lo & bit) !== 0) gfns.push(gfn + b);
    }
    clearDirtyPtMasked(gfn, lo, hi, wrprot);
    mark(gfns);
  };
}

/** The first GFN of each present leaf (at ≥ minLevel) in [start, end) whose SPTE has `bit`. */
function leavesWith(mmu: TdpMmu, start: number, end: number, minLevel: number, bit: number): number[] {
  const gfns: number[] = [];
  for (const it = mmu.walk(minLevel, start, end); mmu.nextLeaf(it, false); it.next())
    if ((it.oldLo & bit) !== 0) gfns.push(it.gfn);
  return gfns;
}

/** The fast path restores W but its mark_page_dirty_in_slot is lost. */
function dropFastPathLog(vm: FaultableVm): void {
  let inFastPath = false;
  const fastPageFault = vm.mmu.fastPageFault.bind(vm.mmu);
  vm.mmu.fastPageFault = (vcpu, gfn, slot, write) => {
    inFastPath = true;
    try {
      return fastPageFault(vcpu, gfn, slot, write);
    } finally {
      inFastPath = false;
    }
  };
  const markPageDirty = vm.markPageDirty.bind(vm);
  vm.markPageDirty = (vcpu, slot, gfn) => {
    if (!inFastPath) markPageDirty(vcpu, slot, gfn);
  };
}

/** The boot mapping's new leaves lose W (MMU-writable stays): each first write takes a fast fault. */
function bootMapWithoutWrite(mmu: TdpMmu): void {
  const mapBoot = mmu.mapBoot.bind(mmu);
  mmu.mapBoot = (slot, ranges, count) => {
    if (count === 0) return mapBoot(slot, ranges, count);
    const start = slot.baseGfn + ranges[0]!;
    const end = slot.baseGfn + ranges[2 * count - 1]!;
    const before = new Set(leavesWith(mmu, start, end, PG_LEVEL_4K, ~0));
    const leaves = mapBoot(slot, ranges, count);
    for (const it = mmu.walk(PG_LEVEL_4K, start, end); mmu.nextLeaf(it, false); it.next())
      if (!before.has(it.gfn)) it.set((it.oldLo & ~SPTE_W) >>> 0, it.oldHi);
    return leaves;
  };
}
