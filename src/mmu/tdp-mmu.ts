/**
 * The TDP MMU proper (research §2-§5, arch/x86/kvm/mmu/tdp_mmu.c): one root of 4 (or 5) levels,
 * the CPU's page walk, the fast and slow fault paths, and the slot-wide walks that dirty logging
 * uses. Every walk goes through TdpIter and may yield (see `condResched`).
 *
 * The seed's rule (§3.8) holds by construction: only `makeSpte`'s caller and the fast path mark
 * the dirty log. Paths that remove W, D or A never do (src/mmu/faults.ts breaks it on purpose).
 */
import type { Memslot } from './memslot';
import { PageTables } from './page-tables';
import {
  gfnRoundForLevel,
  HI_AD_DISABLED,
  HI_HOST_WRITABLE,
  HI_MMU_WRITABLE,
  HI_SAVED_R,
  HI_SAVED_X,
  isAccessed,
  isAccessTracked,
  isFrozen,
  isLastSpte,
  isMmioSpte,
  isShadowPresent,
  FROZEN_SPTE_LO,
  MMIO_SPTE_LO,
  PAGES_PER_LEVEL,
  pfnOf,
  PG_LEVEL_1G,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  PT_ENTRIES,
  SPTE_A,
  SPTE_D,
  SPTE_MMU_PRESENT,
  SPTE_PS,
  SPTE_R,
  SPTE_RWX,
  SPTE_W,
  SPTE_X,
  spteIndex,
  spteWritableInvariantsHold,
  withPfnHi,
  withPfnLo,
} from './spte';
import { TdpIter } from './tdp-iter';
import { TLB_D, TLB_VALID, TLB_W } from './tlb';

/** Page-fault handler results (mmu_internal.h). */
export const RET_PF_CONTINUE = 0;
export const RET_PF_RETRY = 1;
export const RET_PF_EMULATE = 2;
export const RET_PF_INVALID = 4;
export const RET_PF_FIXED = 5;
export const RET_PF_SPURIOUS = 6;

/** What the hardware walk found: a TLB entry to fill (> 0), a violation, or a misconfig. */
export const WALK_VIOLATION = 0;
export const WALK_MISCONFIG = -1;

/** 4K pages per 1 GiB region (PAGES_PER_LEVEL[PG_LEVEL_1G], as a constant for the harvest's hot loop). */
const PAGES_PER_1G = 1 << 18;

/** What the MMU needs from the VM around it. */
export interface MmuHost {
  /** kvm_flush_remote_tlbs: every vCPU's TLB. */
  flushRemoteTlbs(): void;
  /** mark_page_dirty_in_slot; `vcpu` is the running vCPU, if any (the dirty ring needs one). */
  markPageDirty(vcpu: MmuVcpu | null, slot: Memslot, gfn: number): void;
  /** WARN_ON_ONCE: count an impossible state, then carry on. */
  warn(kind: string): void;
  /** Let the vCPUs run while a walk has dropped mmu_lock. */
  onYield(): void;
}

/** The per-vCPU state a fault touches. */
export interface MmuVcpu {
  /** Append a GPA's GFN to the PML buffer (the CPU does this when it sets D). */
  pmlLog(gfn: number): void;
}

export interface MmuOptions {
  rootLevel: 4 | 5;
  /** EPT A/D bits: off means aging clears RWX (access tracking) and dirty logging must write-protect. */
  adEnabled: boolean;
  /** Yield each slot-wide walk after this many SPTE visits (0: never). Models need_resched. */
  yieldEvery: number;
}

export class TdpMmu {
  readonly tables = new PageTables();
  readonly root: number;
  readonly rootLevel: number;
  readonly adEnabled: boolean;
  /** Leaves per level (index 1-3): KVM's pages_4k / pages_2m / pages_1g. */
  readonly pageCounts = [0, 0, 0, 0];
  readonly counters = { fast: 0, slow: 0, spurious: 0, mmio: 0, retry: 0, yields: 0 };
  /** The boot mapping's work (mapBoot), apart from the faults: leaves installed, 4K pages they map. */
  readonly boot = { leaves: 0, pages: 0 };
  /** Whether the CPU logs D 0→1 transitions to the PML buffer (D-bit tracking with a logged slot). */
  pmlActive = false;
  /** Bumped whenever a table is linked, replaced or freed: invalidates `leafTableCache`. */
  private structureGeneration = 0;
  /** The 512-GFN run clearDirtyPtMasked last looked up, its level-1 table (-1: none) and the generation it is valid in. */
  private leafBase = -1;
  private leafTable = -1;
  private leafGeneration = -1;
  /** Likewise the 1 GiB region (512 × 512 GFNs) last descended through and its level-2 table (-1: none). */
  private dirBase = -1;
  private dirTable = -1;
  /** The bit the current clearDirtyPtMasked call clears: W (write protection, or A/D disabled) or D. */
  private maskBit = SPTE_W;
  private readonly yieldEvery: number;
  private stepsSinceYield = 0;
  private readonly faultIter: TdpIter;
  /** findLastSpte's result: the lo and hi words of the table holding the SPTE, and its index. */
  private lastLoTable: Uint32Array = new Uint32Array(0);
  private lastHiTable: Uint32Array = new Uint32Array(0);
  private lastIndex = 0;
  /** mapBoot's ranges ([start, end) page offsets), how many, the first that may still matter, and the slot's first GFN. */
  private bootRanges: ArrayLike<number> = EMPTY_RANGES;
  private bootCount = 0;
  private bootCursor = 0;
  private bootBase = 0;

  constructor(
    private readonly host: MmuHost,
    options: MmuOptions,
  ) {
    this.rootLevel = options.rootLevel;
    this.adEnabled = options.adEnabled;
    this.yieldEvery = options.yieldEvery;
    this.root = this.tables.alloc(this.rootLevel);
    this.faultIter = new TdpIter(this.tables);
  }

  /** GFNs the root can map. */
  get maxGfn(): number {
    return PAGES_PER_LEVEL[this.rootLevel + 1]!;
  }

  iter(): TdpIter {
    return new TdpIter(this.tables);
  }

  // ---------------------------------------------------------------------------------------
  // The CPU side: page walk on a TLB miss.

  /**
   * The hardware page walk for one access. On success sets A (and D on a write, logging to PML
   * when D goes 0→1) and returns the TLB bits to cache; else WALK_VIOLATION or WALK_MISCONFIG.
   */
  hwWalk(vcpu: MmuVcpu, gfn: number, write: boolean): number {
    const tables = this.tables;
    let loTable = tables.lo[this.root]!;
    let hiTable = tables.hi[this.root]!;
    for (let level = this.rootLevel; level >= PG_LEVEL_4K; level--) {
      const i = spteIndex(gfn, level);
      const lo = loTable[i]!;
      const hi = hiTable[i]!;
      if (isMmioSpte(lo)) return WALK_MISCONFIG;
      if ((lo & SPTE_RWX) === 0) return WALK_VIOLATION;
      if (!isLastSpte(lo, level)) {
        const child = pfnOf(lo, hi);
        loTable = tables.lo[child]!;
        hiTable = tables.hi[child]!;
        continue;
      }
      if ((lo & SPTE_R) === 0 || (write && (lo & SPTE_W) === 0)) return WALK_VIOLATION;
      if ((hi & HI_AD_DISABLED) !== 0) return TLB_VALID | TLB_D | (lo & SPTE_W ? TLB_W : 0);
      let next = lo | SPTE_A;
      if (write && (lo & SPTE_D) === 0) {
        next |= SPTE_D;
        if (this.pmlActive) vcpu.pmlLog(gfn);
      }
      if (next !== lo) loTable[i] = next;
      return TLB_VALID | (next & SPTE_W ? TLB_W : 0) | (next & SPTE_D ? TLB_D : 0);
    }
    return WALK_VIOLATION;
  }

  // ---------------------------------------------------------------------------------------
  // The fault path (§2).

  /**
   * kvm_tdp_page_fault for a vCPU whose access faulted: fast path first, then the slow path.
   * Returns a RET_PF_* code.
   */
  pageFault(vcpu: MmuVcpu, gfn: number, slot: Memslot | null, write: boolean): number {
    let ret = this.fastPageFault(vcpu, gfn, slot, write);
    if (ret === RET_PF_INVALID) ret = this.slowPageFault(vcpu, gfn, slot, write);
    if (ret === RET_PF_SPURIOUS) this.counters.spurious++;
    else if (ret === RET_PF_RETRY) this.counters.retry++;
    return ret;
  }

  /**
   * fast_page_fault (§2.4): without mmu_lock, fix a write to a present SPTE that is only
   * write-protected for dirty logging (W=0, MMU-writable=1), or restore an access-tracked SPTE.
   * Logs the GFN when it sets W. (Not private: the seam src/mmu/faults.ts wraps.)
   */
  fastPageFault(vcpu: MmuVcpu, gfn: number, slot: Memslot | null, write: boolean): number {
    const level = this.findLastSpte(gfn);
    const loTable = this.lastLoTable;
    const hiTable = this.lastHiTable;
    const i = this.lastIndex;
    const lo = loTable[i]!;
    const hi = hiTable[i]!;
    // page_fault_can_be_fast: a write to a present SPTE, or any access to an access-tracked one.
    if (!isShadowPresent(lo) || !isLastSpte(lo, level)) return RET_PF_INVALID;
    const tracked = isAccessTracked(lo, hi);
    if (!write && !tracked) return RET_PF_INVALID;
    if (isAccessAllowed(lo, write)) return RET_PF_SPURIOUS;
    let newLo = lo;
    let newHi = hi;
    if (tracked) {
      newLo |= (hi & HI_SAVED_R ? SPTE_R : 0) | (hi & HI_SAVED_X ? SPTE_X : 0);
      newHi &= ~(HI_SAVED_R | HI_SAVED_X);
    }
    if (write && (hi & HI_MMU_WRITABLE) !== 0) {
      // A huge page in a logged slot: only one GFN would be logged; let the slow path map 4K.
      if (level > PG_LEVEL_4K && slot !== null && slot.logging) return RET_PF_INVALID;
      newLo |= SPTE_W;
    }
    if ((newLo === lo && newHi === hi) || !isAccessAllowed(newLo, write)) return RET_PF_INVALID;
    // KVM installs the new SPTE with a cmpxchg and retries on a lost race. Here the JS thread
    // is both mmu_lock and every vCPU: nothing runs between the read above and this store, so
    // there is no race to lose and no retry loop.
    loTable[i] = newLo >>> 0;
    hiTable[i] = newHi >>> 0;
    if ((lo & SPTE_W) === 0 && (newLo & SPTE_W) !== 0 && slot !== null)
      this.host.markPageDirty(vcpu, slot, gfn);
    this.counters.fast++;
    return RET_PF_FIXED;
  }

  /**
   * kvm_tdp_mmu_fast_pf_get_last_sptep: descend towards `gfn` and stop at the deepest SPTE on
   * its path (a leaf, or the first entry that is not a present table). Sets lastLoTable,
   * lastHiTable and lastIndex and returns its level. A plain descent: the fault path neither
   * yields nor steps sideways, so it needs none of TdpIter's state.
   */
  private findLastSpte(gfn: number): number {
    const tables = this.tables;
    let id = this.root;
    let level = this.rootLevel;
    for (;;) {
      const i = spteIndex(gfn, level);
      const loTable = tables.lo[id]!;
      const lo = loTable[i]!;
      if (level === PG_LEVEL_4K || !isShadowPresent(lo) || isLastSpte(lo, level)) {
        this.lastLoTable = loTable;
        this.lastHiTable = tables.hi[id]!;
        this.lastIndex = i;
        return level;
      }
      id = pfnOf(lo, tables.hi[id]![i]!);
      level--;
    }
  }

  /**
   * The slow path (§2.1-2.3): kvm_faultin_pfn, kvm_mmu_hugepage_adjust, kvm_tdp_mmu_map.
   */
  private slowPageFault(vcpu: MmuVcpu, gfn: number, slot: Memslot | null, write: boolean): number {
    this.counters.slow++;
    if (gfn >= this.maxGfn) return RET_PF_EMULATE;
    // A write to a read-only memslot is emulated (and exits to userspace as MMIO).
    if (slot !== null && write && slot.readonly) return RET_PF_EMULATE;
    const goal = slot === null ? PG_LEVEL_4K : this.hugepageAdjust(slot, gfn);
    const it = this.faultIter.start(this.root, this.rootLevel, PG_LEVEL_4K, gfn, gfn + 1);
    for (; it.inRange; it.next()) {
      if (isFrozen(it.oldLo, it.oldHi)) return RET_PF_RETRY;
      if (it.level === goal) return this.mapTargetLevel(vcpu, it, gfn, slot, write);
      if (it.atPresentTable) continue;
      // Non-present (or MMIO) → link a new table; a present huge leaf → split it in place.
      const child = this.tables.alloc(it.level - 1);
      if (isShadowPresent(it.oldLo)) this.splitHugeSpte(it, child);
      else this.linkTable(it, child);
    }
    this.host.warn('fault walk ended above the goal level');
    return RET_PF_RETRY;
  }

  /** tdp_mmu_map_handle_target_level. */
  private mapTargetLevel(
    vcpu: MmuVcpu,
    it: TdpIter,
    gfn: number,
    slot: Memslot | null,
    write: boolean,
  ): number {
    const oldLo = it.oldLo;
    const oldHi = it.oldHi;
    if (isShadowPresent(oldLo) && isLastSpte(oldLo, it.level) && isAccessAllowed(oldLo, write))
      return RET_PF_SPURIOUS;
    if (slot === null) {
      this.setSpte(it, MMIO_SPTE_LO, 0);
      return RET_PF_EMULATE;
    }
    this.makeSpte(it.level, it.gfn, slot);
    if (SPTE.hi & HI_MMU_WRITABLE && SPTE.lo & SPTE_W && slot.logging) {
      if (it.level > PG_LEVEL_4K) this.host.warn('writable huge SPTE in a logged slot');
      this.host.markPageDirty(vcpu, slot, gfn);
    }
    if (SPTE.lo === oldLo && SPTE.hi === oldHi) return RET_PF_SPURIOUS;
    const replacedTable = isShadowPresent(oldLo) && !isLastSpte(oldLo, it.level);
    if (isShadowPresent(oldLo) && !replacedTable && leafChangeNeedsFlush(oldLo, oldHi, SPTE.lo, SPTE.hi))
      this.host.warn('leaf SPTE change needs a TLB flush');
    this.setSpte(it, SPTE.lo, SPTE.hi);
    // Replacing a page table with a huge leaf: vCPUs may still cache the old 4K translations.
    if (replacedTable) this.host.flushRemoteTlbs();
    return RET_PF_FIXED;
  }

  /**
   * kvm_mmu_hugepage_adjust + kvm_mmu_max_mapping_level: 4K while the slot is dirty-logged; else
   * the largest level the host backing allows whose aligned region lies inside the slot and
   * whose GFN and PFN are congruent (lpage_info's disallow_lpage).
   */
  hugepageAdjust(slot: Memslot, gfn: number): number {
    if (slot.logging) return PG_LEVEL_4K;
    return this.maxMappingLevel(slot, gfn);
  }

  maxMappingLevel(slot: Memslot, gfn: number): number {
    for (let level = Math.min(slot.hostLevel, PG_LEVEL_1G); level > PG_LEVEL_4K; level--)
      if (hugeLeafFits(slot, gfn, level)) return level;
    return PG_LEVEL_4K;
  }

  /** make_spte (§2.3) for a fault: result in SPTE.lo / SPTE.hi. */
  private makeSpte(level: number, gfn: number, slot: Memslot): void {
    let lo = SPTE_MMU_PRESENT | SPTE_R | SPTE_X | (level > PG_LEVEL_4K ? SPTE_PS : 0);
    let hi = 0;
    if (this.adEnabled) lo |= SPTE_A;
    else hi |= HI_AD_DISABLED;
    if (!slot.readonly) {
      hi |= HI_HOST_WRITABLE | HI_MMU_WRITABLE;
      lo |= SPTE_W;
      // Since 6.13 a writable SPTE is created dirty.
      if (this.adEnabled) lo |= SPTE_D;
    }
    const pfn = slot.pfn(gfn);
    SPTE.lo = withPfnLo(lo, pfn);
    SPTE.hi = withPfnHi(hi, pfn);
  }

  // ---------------------------------------------------------------------------------------
  // The boot mapping: a running guest's memory is mapped, not faulted in.

  /**
   * Install, in one walk over [ranges' first start, last end), the leaves that a write fault on
   * every GFN of `ranges` would leave behind (§2.1-2.3: tdp_mmu_map at hugepage_adjust's level,
   * make_spte), without taking the faults. A GFN's leaf is as large as the host mapping level,
   * the slot's bounds and its GFN/PFN alignment allow (so a huge leaf may map GFNs beyond the
   * ranges, as the fault would); writable SPTEs are created present, A and D (make_spte since
   * 6.13). Nothing is logged: the caller (KvmVm.mapBootMemory) refuses a dirty-logged slot.
   * Only non-present entries change, so no translation is replaced and no flush is owed
   * (§4 rule 5); a present leaf or table is kept, a frozen entry skipped (its GFNs fault later).
   *
   * `ranges` holds [start, end) pairs of the slot's page offsets, ascending and disjoint. The walk stops at 2M: a
   * level-1 table is filled in one step (mapLeafTable), as tdp_mmu_split_huge_page fills one.
   * Returns the leaves installed.
   */
  mapBoot(slot: Memslot, ranges: ArrayLike<number>, count: number): number {
    if (count === 0) return 0;
    const before = this.boot.leaves;
    this.bootRanges = ranges;
    this.bootCount = count;
    this.bootCursor = 0;
    this.bootBase = slot.baseGfn;
    const start = slot.baseGfn + ranges[0]!;
    const end = slot.baseGfn + ranges[2 * count - 1]!;
    const maxLevel = Math.min(slot.hostLevel, PG_LEVEL_1G);
    for (const it = this.walk(PG_LEVEL_2M, start, end); it.inRange; it.next()) {
      if (this.condResched(it, false)) continue;
      if (isFrozen(it.oldLo, it.oldHi) || !this.bootRegionMapped(it.gfn, it.pages)) continue;
      if (it.atPresentLeaf) continue;
      if (!isShadowPresent(it.oldLo) && it.level <= maxLevel && hugeLeafFits(slot, it.gfn, it.level)) {
        this.installBootLeaf(it, slot);
        continue;
      }
      if (!isShadowPresent(it.oldLo)) this.linkTable(it, this.tables.alloc(it.level - 1));
      if (it.level === PG_LEVEL_2M) this.mapLeafTable(pfnOf(it.oldLo, it.oldHi), it.gfn, slot);
    }
    this.bootRanges = EMPTY_RANGES;
    return this.boot.leaves - before;
  }

  /**
   * Whether the region [gfn, gfn + pages) holds a GFN of the boot ranges. The walk visits
   * regions in address order, so the cursor only moves forward past ranges that end before.
   */
  private bootRegionMapped(gfn: number, pages: number): boolean {
    const ranges = this.bootRanges;
    const offset = gfn - this.bootBase;
    while (this.bootCursor < this.bootCount && ranges[2 * this.bootCursor + 1]! <= offset) this.bootCursor++;
    return this.bootCursor < this.bootCount && ranges[2 * this.bootCursor]! < offset + pages;
  }

  /** make_spte for a huge leaf at the iterator's (non-present) entry. */
  private installBootLeaf(it: TdpIter, slot: Memslot): void {
    this.makeBootSpte(it.level, it.gfn, slot);
    this.setSpte(it, SPTE.lo, SPTE.hi);
    this.boot.leaves++;
    this.boot.pages += it.pages;
  }

  /** Fill the non-present entries of level-1 `table` (GFNs from `base`) that the boot ranges hold. */
  private mapLeafTable(table: number, base: number, slot: Memslot): void {
    const loTable = this.tables.lo[table]!;
    const hiTable = this.tables.hi[table]!;
    const ranges = this.bootRanges;
    const slotBase = this.bootBase;
    const limit = base + PT_ENTRIES;
    let installed = 0;
    for (let r = this.bootCursor; r < this.bootCount && slotBase + ranges[2 * r]! < limit; r++) {
      const from = Math.max(base, slotBase + ranges[2 * r]!);
      const to = Math.min(limit, slotBase + ranges[2 * r + 1]!);
      for (let gfn = from; gfn < to; gfn++) {
        const i = gfn - base;
        // Non-present only (a frozen entry is non-present too: another thread owns it).
        if (isShadowPresent(loTable[i]!) || isFrozen(loTable[i]!, hiTable[i]!)) continue;
        this.makeBootSpte(PG_LEVEL_4K, gfn, slot);
        loTable[i] = SPTE.lo;
        hiTable[i] = SPTE.hi;
        installed++;
      }
    }
    this.pageCounts[PG_LEVEL_4K]! += installed;
    this.boot.leaves += installed;
    this.boot.pages += installed;
  }

  /** make_spte as a write fault's. */
  private makeBootSpte(level: number, gfn: number, slot: Memslot): void {
    this.makeSpte(level, gfn, slot);
    if (!spteWritableInvariantsHold(SPTE.lo, SPTE.hi)) this.host.warn('SPTE writable invariants');
  }

  // ---------------------------------------------------------------------------------------
  // Structure: link, split, replace (handle_changed_spte's bookkeeping, never the dirty log).

  /** Set the iterator's SPTE, keeping the page counts and freeing a replaced table. */
  setSpte(it: TdpIter, lo: number, hi: number): void {
    const oldLo = it.oldLo;
    const oldHi = it.oldHi;
    const level = it.level;
    if (isShadowPresent(oldLo)) {
      if (isLastSpte(oldLo, level)) this.pageCounts[level]!--;
      else this.freeSubtree(pfnOf(oldLo, oldHi), level - 1);
    }
    if (!isLastSpte(oldLo, level) || !isLastSpte(lo, level)) this.structureGeneration++;
    if (isShadowPresent(lo) && isLastSpte(lo, level)) {
      this.pageCounts[level]!++;
      if (!spteWritableInvariantsHold(lo, hi)) this.host.warn('SPTE writable invariants');
    }
    it.set(lo >>> 0, hi >>> 0);
  }

  private linkTable(it: TdpIter, child: number): void {
    // make_nonleaf_spte: RWX + A, pointing at the child table.
    this.setSpte(it, withPfnLo(SPTE_MMU_PRESENT | SPTE_RWX | SPTE_A, child), withPfnHi(0, child));
  }

  /**
   * tdp_mmu_split_huge_page: fill `child` with 512 SPTEs that map the huge leaf's PFN range with
   * its permissions (make_small_spte), then link it. Same translation: no TLB flush (§4 rule 5).
   */
  splitHugeSpte(it: TdpIter, child: number): void {
    const lo = it.oldLo;
    const hi = it.oldHi;
    const childLevel = it.level - 1;
    const step = PAGES_PER_LEVEL[childLevel]!;
    const basePfn = pfnOf(lo, hi);
    const childLo = childLevel === PG_LEVEL_4K ? lo & ~SPTE_PS : lo;
    const loTable = this.tables.lo[child]!;
    const hiTable = this.tables.hi[child]!;
    for (let i = 0; i < PT_ENTRIES; i++) {
      const pfn = basePfn + i * step;
      loTable[i] = withPfnLo(childLo, pfn);
      hiTable[i] = withPfnHi(hi, pfn);
    }
    this.pageCounts[childLevel]! += PT_ENTRIES;
    this.linkTable(it, child);
  }

  /** handle_removed_pt: drop a detached table and everything under it. */
  private freeSubtree(table: number, level: number): void {
    const loTable = this.tables.lo[table]!;
    const hiTable = this.tables.hi[table]!;
    for (let i = 0; i < PT_ENTRIES; i++) {
      const lo = loTable[i]!;
      if (!isShadowPresent(lo)) continue;
      if (isLastSpte(lo, level)) this.pageCounts[level]!--;
      else this.freeSubtree(pfnOf(lo, hiTable[i]!), level - 1);
    }
    this.tables.release(table);
  }

  // ---------------------------------------------------------------------------------------
  // Slot-wide walks (§3.2, §3.6). Each returns whether a flush is owed.

  /**
   * tdp_mmu_iter_cond_resched: yield if the walk made progress since its last yield and the
   * scheduler wants the CPU (here: every `yieldEvery` visits). Flushes first if asked. The
   * caller `continue`s, and the next step restarts from the root.
   */
  condResched(it: TdpIter, flush: boolean): boolean {
    if (it.nextLastLevelGfn === it.yieldedGfn) return false;
    if (this.yieldEvery === 0 || ++this.stepsSinceYield < this.yieldEvery) return false;
    this.stepsSinceYield = 0;
    if (flush) this.host.flushRemoteTlbs();
    it.yielded = true;
    this.counters.yields++;
    this.host.onYield();
    return true;
  }

  /**
   * tdp_root_for_each_leaf_pte (with tdp_mmu_iter_cond_resched when `resched`): step `it` on to
   * the next present leaf at or after its position; false when the walk is over. Loops read
   * `for (const it = this.walk(...); this.nextLeaf(it, r); it.next())`.
   */
  nextLeaf(it: TdpIter, resched: boolean): boolean {
    for (; it.inRange; it.next()) {
      if (resched && this.condResched(it, false)) continue;
      if (it.atPresentLeaf) return true;
    }
    return false;
  }

  /** A walk over [start, end) from the root down to minLevel. */
  walk(minLevel: number, start: number, end: number): TdpIter {
    return this.iter().start(this.root, this.rootLevel, minLevel, start, end);
  }

  /** wrprot_gfn_range: clear W on present leaves at ≥ minLevel, keeping MMU-writable. */
  wrprotRange(start: number, end: number, minLevel: number): boolean {
    return this.clearLeafBit(minLevel, start, end, SPTE_W);
  }

  /** clear_dirty_gfn_range: clear D on present leaves (W where A/D is disabled). */
  clearDirtyRange(start: number, end: number): boolean {
    // Chosen once per operation, as KVM does: A/D bits are on or off for the whole MMU.
    return this.clearLeafBit(PG_LEVEL_4K, start, end, this.adEnabled ? SPTE_D : SPTE_W);
  }

  /** Clear `bit` on every present leaf at ≥ minLevel in [start, end) that has it; whether any had. */
  private clearLeafBit(minLevel: number, start: number, end: number, bit: number): boolean {
    let changed = false;
    for (const it = this.walk(minLevel, start, end); this.nextLeaf(it, true); it.next()) {
      // Clearing D relies on A/D bits: an SPTE without them would have to be write-protected.
      if (bit === SPTE_D && isAdDisabledSpte(it.oldHi)) this.host.warn('A/D-disabled SPTE with A/D enabled');
      if ((it.oldLo & bit) === 0) continue;
      it.set((it.oldLo & ~bit) >>> 0, it.oldHi);
      changed = true;
    }
    return changed;
  }

  /**
   * write_protect_gfn: clear W and MMU-writable on leaves ≥ minLevel mapping `gfn`, so even the
   * fast path cannot restore W (§4 rule 2: needs a flush before it is relied on).
   */
  writeProtectGfn(gfn: number, minLevel: number): boolean {
    let changed = false;
    for (const it = this.walk(minLevel, gfn, gfn + 1); this.nextLeaf(it, false); it.next()) {
      const lo = (it.oldLo & ~SPTE_W) >>> 0;
      const hi = (it.oldHi & ~HI_MMU_WRITABLE) >>> 0;
      if (lo === it.oldLo && hi === it.oldHi) continue;
      it.set(lo, hi);
      changed = true;
    }
    return changed;
  }

  /**
   * tdp_mmu_split_huge_pages_root: split every huge leaf in [start, end) down to `targetLevel`
   * (the walk steps into each new table, so a 1G leaf becomes 2M leaves and then 4K).
   */
  splitHugePages(start: number, end: number, targetLevel: number): void {
    // The walk stops above targetLevel, so every leaf it meets is one to split.
    for (const it = this.walk(targetLevel + 1, start, end); this.nextLeaf(it, true); it.next())
      this.splitHugeSpte(it, this.tables.alloc(it.level - 1));
  }

  /**
   * recover_huge_pages_range (6.13+, §3.6): replace each page table at 2M/1G inside the slot
   * whose region may be mapped huge by a huge leaf built from its first present leaf. Returns
   * whether a flush is owed (vCPUs may cache the old 4K translations).
   */
  recoverHugePages(slot: Memslot): boolean {
    let flush = false;
    for (const it = this.walk(PG_LEVEL_2M, slot.baseGfn, slot.endGfn); it.inRange; it.next()) {
      if (this.condResched(it, flush)) {
        flush = false;
        continue;
      }
      if (it.level > PG_LEVEL_1G || !it.atPresentTable) continue;
      if (it.gfn < slot.baseGfn || it.gfn + it.pages > slot.endGfn) continue;
      if (this.maxMappingLevel(slot, it.gfn) < it.level) continue;
      if (!this.firstLeafBelow(pfnOf(it.oldLo, it.oldHi), it.level - 1)) continue;
      // make_huge_spte: the child's bits, PS set, PFN aligned down to the huge page.
      const pfn = slot.pfn(it.gfn);
      this.setSpte(it, withPfnLo(SPTE.lo | SPTE_PS, pfn), withPfnHi(SPTE.hi, pfn));
      flush = true;
    }
    return flush;
  }

  /** The first present leaf under `table` into SPTE.lo/hi; false if there is none. */
  private firstLeafBelow(table: number, level: number): boolean {
    const loTable = this.tables.lo[table]!;
    const hiTable = this.tables.hi[table]!;
    for (let i = 0; i < PT_ENTRIES; i++) {
      const lo = loTable[i]!;
      if (!isShadowPresent(lo)) continue;
      if (isLastSpte(lo, level)) {
        SPTE.lo = lo;
        SPTE.hi = hiTable[i]!;
        return true;
      }
      if (this.firstLeafBelow(pfnOf(lo, hiTable[i]!), level - 1)) return true;
    }
    return false;
  }

  /**
   * zap_gfn_range over leaves (kvm_tdp_mmu_zap_leafs), MMIO SPTEs included: a yield flushes
   * first (§4 rule 3). Returns whether a flush is still owed.
   */
  zapLeafs(start: number, end: number): boolean {
    let flush = false;
    for (const it = this.walk(PG_LEVEL_4K, start, end); it.inRange; it.next()) {
      if (this.condResched(it, flush)) {
        flush = false;
        continue;
      }
      const mmio = isMmioSpte(it.oldLo);
      if (!mmio && !it.atPresentLeaf) continue;
      this.setSpte(it, 0, 0);
      if (!mmio) flush = true;
    }
    return flush;
  }

  /**
   * clear_dirty_pt_masked (§3.4): for each set bit of the 64-bit mask (lo/hi words), clear W
   * (wrprot) or D on the 4K leaf mapping gfn + bit. Huge leaves, absent or frozen entries and
   * clear bits are skipped; no flush, no dirty logging. KVM walks from the root once per call
   * and then steps over the mask's bits; here the level-1 table of the last 512-GFN run is kept
   * while the table structure is unchanged, so a harvest walks once per page table, not per call.
   * (Queueing scattered masks' clears to overlap their cache misses was tried and measured: with
   * lo words apart, a harvest's SPTEs are mostly in cache, and the queue only cost time.)
   */
  clearDirtyPtMasked(gfn: number, lo: number, hi: number, wrprot: boolean): void {
    if (this.leafGeneration !== this.structureGeneration) {
      this.leafBase = -1;
      this.dirBase = -1;
      this.leafGeneration = this.structureGeneration;
    }
    // Chosen once per call: write protection clears W, D-bit tracking D (W where A/D is disabled).
    this.maskBit = wrprot || !this.adEnabled ? SPTE_W : SPTE_D;
    // As int32: bitmap words arrive as uint32, and a full word must compare equal to -1.
    if (lo !== 0) this.clearDirtyPtWord(gfn, lo | 0);
    if (hi !== 0) this.clearDirtyPtWord(gfn + 32, hi | 0);
  }

  /**
   * clearDirtyPtMasked for one 32-bit word of the mask. A word whose 32 GFNs share one leaf
   * table (always, for a 32-aligned slot) looks the table up once and walks its SPTEs in order.
   */
  private clearDirtyPtWord(gfn: number, bits: number): void {
    const first = gfn & (PT_ENTRIES - 1);
    if (first > PT_ENTRIES - 32) {
      this.clearDirtyPtBits(gfn, bits);
      return;
    }
    const id = this.leafTableFor(gfn - first);
    if (id < 0) return;
    const chunk = this.tables.chunkIndexOf(id);
    const index = this.tables.offsetOf(id) + first;
    // One test per SPTE, in address order: present and holding the bit.
    const table = this.tables.loChunks[chunk]!;
    const bit = this.maskBit;
    const presentWithBit = SPTE_MMU_PRESENT | bit;
    if (bits === -1) {
      for (let i = index; i < index + 32; i++) {
        const lo = table[i]!;
        if ((lo & presentWithBit) === presentWithBit) table[i] = lo & ~bit;
      }
      return;
    }
    while (bits !== 0) {
      const i = index + (31 - Math.clz32(bits & -bits));
      bits &= bits - 1;
      const lo = table[i]!;
      if ((lo & presentWithBit) === presentWithBit) table[i] = lo & ~bit;
    }
  }

  /** clearDirtyPtWord one bit at a time, each looking up its own leaf table. */
  private clearDirtyPtBits(gfn: number, bits: number): void {
    const tables = this.tables;
    while (bits !== 0) {
      const bit = 31 - Math.clz32(bits & -bits);
      bits &= bits - 1;
      const g = gfn + bit;
      // The low 9 bits survive ToInt32 for any safe integer: the 512-GFN run's start, exactly.
      const offset = g & (PT_ENTRIES - 1);
      const id = this.leafTableFor(g - offset);
      if (id < 0) continue;
      this.clearDirtySpte(tables.chunkIndexOf(id), tables.offsetOf(id) + offset);
    }
  }

  /** The level-1 table of the 512-GFN run starting at `base` (-1: none), cached while the structure holds. */
  private leafTableFor(base: number): number {
    if (base !== this.leafBase) {
      this.leafBase = base;
      this.leafTable = this.leafTableOf(base);
    }
    return this.leafTable;
  }

  /** Clear the call's bit (maskBit) of the present leaf at `index` of chunk `chunk`. */
  private clearDirtySpte(chunk: number, index: number): void {
    const table = this.tables.loChunks[chunk]!;
    const spteLo = table[index]!;
    if (isShadowPresent(spteLo) && (spteLo & this.maskBit) !== 0) table[index] = spteLo & ~this.maskBit;
  }

  /**
   * The id of the level-1 table that maps `gfn`, or -1 if the path ends above 4K (a huge leaf,
   * or an absent or frozen entry): the descent TdpIter makes towards a 4K leaf, without the side
   * steps. Through the table chunks, not the views: see PageTables. Starts from the level-2
   * table of the last 1 GiB region when `gfn` is in it, so a scattered harvest reads one
   * directory entry per 512-GFN run, not one per level.
   */
  private leafTableOf(gfn: number): number {
    // The first GFN of its 1 GiB region; the low 18 bits survive ToInt32 for any safe integer.
    const region = gfn - (gfn & (PAGES_PER_1G - 1));
    if (region !== this.dirBase) {
      this.dirBase = region;
      this.dirTable = this.tableAt(gfn, this.root, this.rootLevel, PG_LEVEL_2M);
    }
    return this.dirTable < 0 ? -1 : this.tableAt(gfn, this.dirTable, PG_LEVEL_2M, PG_LEVEL_4K);
  }

  /** Descend from table `id` at `level` towards `gfn` down to the table at `target`; -1 if the path ends first. */
  private tableAt(gfn: number, id: number, level: number, target: number): number {
    const tables = this.tables;
    for (; level > target; level--) {
      const chunk = tables.chunkIndexOf(id);
      const i = tables.offsetOf(id) + spteIndex(gfn, level);
      const lo = tables.loChunks[chunk]![i]!;
      if (!isShadowPresent(lo) || isLastSpte(lo, level)) return -1;
      id = pfnOf(lo, tables.hiChunks[chunk]![i]!);
    }
    return id;
  }

  // ---------------------------------------------------------------------------------------
  // Aging (§5).

  /** age_gfn_range: clear A (or access-track an A/D-disabled SPTE); returns whether any was young. */
  clearYoung(start: number, end: number): boolean {
    let young = false;
    for (const it = this.walk(PG_LEVEL_4K, start, end); this.nextLeaf(it, false); it.next()) {
      if (!isAccessed(it.oldLo, it.oldHi)) continue;
      young = true;
      if (!isAdDisabledSpte(it.oldHi)) {
        it.set((it.oldLo & ~SPTE_A) >>> 0, it.oldHi);
        continue;
      }
      // mark_spte_for_access_track: save R/X, clear RWX (W is dropped; the fast path restores it).
      const saved = (it.oldLo & SPTE_R ? HI_SAVED_R : 0) | (it.oldLo & SPTE_X ? HI_SAVED_X : 0);
      it.set((it.oldLo & ~SPTE_RWX) >>> 0, (it.oldHi | saved) >>> 0);
    }
    return young;
  }

  /** test_age_gfn: read-only. */
  testYoung(start: number, end: number): boolean {
    for (const it = this.walk(PG_LEVEL_4K, start, end); this.nextLeaf(it, false); it.next())
      if (isAccessed(it.oldLo, it.oldHi)) return true;
    return false;
  }

  // ---------------------------------------------------------------------------------------
  // Inspection (tests and stats).

  /** The leaf SPTE mapping `gfn` as {lo, hi, level}, or null. */
  leafFor(gfn: number): { lo: number; hi: number; level: number } | null {
    let id = this.root;
    for (let level = this.rootLevel; level >= PG_LEVEL_4K; level--) {
      const i = spteIndex(gfn, level);
      const lo = this.tables.lo[id]![i]!;
      const hi = this.tables.hi[id]![i]!;
      if (!isShadowPresent(lo)) return null;
      if (isLastSpte(lo, level)) return { lo, hi, level };
      id = pfnOf(lo, hi);
    }
    return null;
  }

  /** Make the SPTE on gfn's path at `level` frozen (another thread owns it) or restore it. */
  freeze(gfn: number, level: number, frozen: boolean, saved: { lo: number; hi: number }): boolean {
    for (const it = this.walk(level, gfn, gfn + 1); it.inRange; it.next()) {
      if (it.level !== level) continue;
      this.structureGeneration++;
      if (frozen) {
        saved.lo = it.oldLo;
        saved.hi = it.oldHi;
        it.set(FROZEN_SPTE_LO, 0);
      } else it.set(saved.lo, saved.hi);
      return true;
    }
    return false;
  }
}

const EMPTY_RANGES: ArrayLike<number> = [];

/**
 * Whether a huge leaf at `level` may map the region holding `gfn` (kvm_mmu_max_mapping_level's
 * test per level): the aligned region lies inside the slot and GFN and PFN are congruent.
 */
function hugeLeafFits(slot: Memslot, gfn: number, level: number): boolean {
  const pages = PAGES_PER_LEVEL[level]!;
  const start = gfnRoundForLevel(gfn, level);
  if (start < slot.baseGfn || start + pages > slot.endGfn) return false;
  return slot.baseGfn % pages === slot.memOffset % pages;
}

/** Scratch result of makeSpte / firstLeafBelow (no allocation on the fault path). */
const SPTE = { lo: 0, hi: 0 };

function isAdDisabledSpte(hi: number): boolean {
  return (hi & HI_AD_DISABLED) !== 0;
}

/** is_access_allowed for a present leaf. */
function isAccessAllowed(lo: number, write: boolean): boolean {
  return write ? (lo & (SPTE_W | SPTE_R)) === (SPTE_W | SPTE_R) : (lo & SPTE_R) !== 0;
}

/** leaf_spte_change_needs_tlb_flush: W removed or the PFN changed. */
function leafChangeNeedsFlush(oldLo: number, oldHi: number, newLo: number, newHi: number): boolean {
  if ((oldLo & SPTE_W) !== 0 && (newLo & SPTE_W) === 0) return true;
  return pfnOf(oldLo, oldHi) !== pfnOf(newLo, newHi);
}
