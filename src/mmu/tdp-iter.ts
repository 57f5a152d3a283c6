/**
 * tdp_iter (research §1.2, tdp_iter.c): a pre-order walk over the SPTEs that map [start, end),
 * from the root down to `minLevel`. Steps down into present non-leaf SPTEs, else side, else up
 * and side. A walk can yield mid-way (the simulated mmu_lock is the JS thread: yielding runs the
 * vCPUs) and then restarts from the root towards `nextLastLevelGfn`, so it never relies on a
 * table that may have been freed or replaced while it was away.
 */
import type { PageTables } from './page-tables';
import {
  gfnRoundForLevel,
  isLastSpte,
  isShadowPresent,
  PAGES_PER_LEVEL,
  PT_ENTRIES,
  spteIndex,
} from './spte';

export class TdpIter {
  /** Table id per level (index level - 1): the path from the root to the current SPTE. */
  private readonly ptPath = new Int32Array(7);
  private rootLevel = 4;
  private minLevel = 1;
  /** First GFN past the walk's range; the walk ends when `gfn` reaches it. */
  private end = 0;
  /** The GFN the walk is heading for at the last level: where it resumes after a yield. */
  nextLastLevelGfn = 0;
  /** nextLastLevelGfn when the walk last (re)started: a yield needs progress past it. */
  yieldedGfn = 0;
  /** The lowest GFN mapped by the current SPTE. */
  gfn = 0;
  level = 4;
  /** The lo and hi words of the table holding the current SPTE, and its index there. */
  loTable: Uint32Array = new Uint32Array(0);
  hiTable: Uint32Array = new Uint32Array(0);
  index = 0;
  /** Snapshot of the current SPTE, refreshed on every step. */
  oldLo = 0;
  oldHi = 0;
  /** False once the walk has stepped off the root's last entry. */
  valid = false;
  /** Set by a yield: the next step restarts from the root. */
  yielded = false;

  constructor(private readonly tables: PageTables) {}

  /** tdp_iter_start. */
  start(rootId: number, rootLevel: number, minLevel: number, startGfn: number, endGfn: number): this {
    this.rootLevel = rootLevel;
    this.minLevel = minLevel;
    this.end = endGfn;
    this.nextLastLevelGfn = startGfn;
    this.ptPath[rootLevel - 1] = rootId;
    this.restart();
    return this;
  }

  /** for_each_tdp_pte's loop condition. */
  get inRange(): boolean {
    return this.valid && this.gfn < this.end;
  }

  /**
   * The current SPTE is a present leaf: the filter of KVM's tdp_root_for_each_leaf_pte, which
   * every leaf operation (write-protect, clear-dirty, zap, age, split) applies to each step.
   */
  get atPresentLeaf(): boolean {
    return isShadowPresent(this.oldLo) && isLastSpte(this.oldLo, this.level);
  }

  /** The current SPTE points to a page table (present, not a leaf). */
  get atPresentTable(): boolean {
    return isShadowPresent(this.oldLo) && !isLastSpte(this.oldLo, this.level);
  }

  /** Pages mapped by the current SPTE. */
  get pages(): number {
    return PAGES_PER_LEVEL[this.level]!;
  }

  /** Replace the current SPTE (the caller has checked it against the snapshot). */
  set(lo: number, hi: number): void {
    this.loTable[this.index] = lo;
    this.hiTable[this.index] = hi;
    this.oldLo = lo;
    this.oldHi = hi;
  }

  /** Re-read the current SPTE (after a nested change made through another path). */
  reread(): void {
    this.oldLo = this.loTable[this.index]!;
    this.oldHi = this.hiTable[this.index]!;
  }

  /** tdp_iter_restart: from the root, towards nextLastLevelGfn. */
  restart(): void {
    this.yielded = false;
    this.yieldedGfn = this.nextLastLevelGfn;
    this.level = this.rootLevel;
    this.gfn = gfnRoundForLevel(this.nextLastLevelGfn, this.level);
    this.refresh();
    this.valid = true;
  }

  /**
   * tdp_iter_next:
   * 1. after a yield, restart from the root;
   * 2. else step down into a present non-leaf SPTE above minLevel;
   * 3. else step to the next SPTE in this table, climbing while at a table's last entry;
   * 4. past the root's last entry the walk is over.
   */
  next(): void {
    if (this.yielded) {
      this.restart();
      return;
    }
    if (this.tryStepDown()) return;
    do {
      if (this.tryStepSide()) return;
    } while (this.tryStepUp());
    this.valid = false;
  }

  private refresh(): void {
    const id = this.ptPath[this.level - 1]!;
    this.loTable = this.tables.lo[id]!;
    this.hiTable = this.tables.hi[id]!;
    this.index = spteIndex(this.gfn, this.level);
    this.reread();
  }

  /** Returns true if the iterator stepped into a child table, false otherwise. */
  private tryStepDown(): boolean {
    if (this.level === this.minLevel) return false;
    // Re-read before stepping down: the entry may have been replaced since the snapshot.
    this.reread();
    if (!this.atPresentTable) return false;
    const child = (this.oldLo >>> 12) + (this.oldHi & 0xfffff) * 2 ** 20;
    this.level--;
    this.ptPath[this.level - 1] = child;
    this.gfn = gfnRoundForLevel(this.nextLastLevelGfn, this.level);
    this.refresh();
    return true;
  }

  /** Returns true if the iterator moved to the next SPTE of the same table. */
  private tryStepSide(): boolean {
    if (this.index === PT_ENTRIES - 1) return false;
    this.gfn += PAGES_PER_LEVEL[this.level]!;
    this.nextLastLevelGfn = this.gfn;
    this.index++;
    this.reread();
    return true;
  }

  /** Returns true if the iterator moved up to the parent SPTE. */
  private tryStepUp(): boolean {
    if (this.level === this.rootLevel) return false;
    this.level++;
    this.gfn = gfnRoundForLevel(this.gfn, this.level);
    this.refresh();
    return true;
  }
}
