/**
 * The migration bitmap and how it is fed from the MMU, in the three ways KVM offers
 * (research §1.2; kvm-tdp-mmu.md §3):
 *
 * - `get`: KVM_GET_DIRTY_LOG takes and clears the log and write-protects those pages at sync.
 * - `manual`: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (with INITIALLY_SET, as QEMU uses it): the get
 *   only reads the log; before the first page of a 64-page chunk is read to be sent, the chunk
 *   is cleared and re-protected with KVM_CLEAR_DIRTY_LOG (QEMU's clear_bmap order: clear before
 *   reading, never after, or a write between the read and the clear is lost).
 * - `ring`: per-vCPU dirty rings, reaped every window (QEMU's reaper) into a pending set that
 *   the next sync merges.
 *
 * The migration bitmap holds one bit per page that must still be sent; `nextBatch` walks it in
 * address order from a cursor that wraps, like QEMU's ram_find_and_save_block.
 */
import {
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_MEM_LOG_DIRTY_PAGES,
  type MemoryRegion,
  type Vm,
} from '../mmu/api';

export type DirtyLogMode = 'get' | 'manual' | 'ring';

/** Pages per KVM_CLEAR_DIRTY_LOG chunk: one 64-bit bitmap word. */
const CLEAR_CHUNK_PAGES = 64;
/** Dirty ring size per vCPU (entries, a power of two), as QEMU's default dirty-ring-size. */
export const DIRTY_RING_ENTRIES = 4096;
/** The heatmap divides memory into at most this many regions. */
const MAX_REGIONS = 128;

export interface SyncResult {
  /** Pages newly set in the migration bitmap (QEMU's num_dirty for dirty-pages-rate). */
  newlyDirty: number;
  /** Pages the MMU reported dirty since the last sync. */
  reported: number;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * What harvesting the log cost, in counts (wall time would not be deterministic): the bitmap
 * words a GET_DIRTY_LOG copied, the ring entries reaped, the CLEAR_DIRTY_LOG calls made, and
 * vCPUs the reaper found stuck in a ring-full exit (each waited for that reap to run again).
 */
export interface HarvestCost {
  syncs: number;
  bitmapWords: number;
  ringEntries: number;
  clearCalls: number;
  ringBlockedAtReap: number;
}

export class DirtyTracker {
  /** Running harvest cost since enable(); the engine takes per-round differences. */
  readonly cost: HarvestCost = {
    syncs: 0,
    bitmapWords: 0,
    ringEntries: 0,
    clearCalls: 0,
    ringBlockedAtReap: 0,
  };
  /** One bit per page still to send (the migration bitmap). */
  private readonly bitmap: Uint32Array;
  /** The MMU's log as the last sync returned it (64-page words as two Uint32 each). */
  private readonly log: Uint32Array;
  /** manual: bits reported by the MMU and not yet cleared there, per 64-page chunk. */
  private readonly unclearedLog: Uint32Array;
  /** ring: pages reaped from the rings since the last sync. */
  private readonly reaped: Uint32Array;
  /** ring: entries reaped from each vCPU's ring since logging began (dirty-limit's rates). */
  readonly reapedByVcpu: Float64Array;
  private readonly words: number;
  private cursor = 0;
  /** Pages set in `bitmap`. */
  dirtyPages = 0;
  readonly regionPages: number;
  /** Pages reported dirty per region since the last call to takeRegionCounts. */
  private regionCounts: number[];

  constructor(
    private readonly vm: Vm,
    private readonly region: MemoryRegion,
    readonly pages: number,
    readonly mode: DirtyLogMode,
  ) {
    this.words = Math.ceil(pages / 64) * 2;
    this.bitmap = new Uint32Array(this.words);
    this.log = new Uint32Array(this.words);
    this.unclearedLog = new Uint32Array(mode === 'manual' ? this.words : 0);
    this.reaped = new Uint32Array(mode === 'ring' ? this.words : 0);
    this.reapedByVcpu = new Float64Array(vm.vcpus.length);
    this.regionPages = Math.ceil(pages / MAX_REGIONS);
    this.regionCounts = new Array<number>(Math.ceil(pages / this.regionPages)).fill(0);
  }

  /**
   * Start dirty logging and mark every page to send (QEMU's ram_init_bitmaps). The ring must
   * have been enabled when the VM was created, before its vCPUs.
   */
  enable(): void {
    if (this.mode === 'manual')
      this.vm.enableManualDirtyLogProtect(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
    this.vm.setUserMemoryRegion({ ...this.region, flags: this.region.flags | KVM_MEM_LOG_DIRTY_PAGES });
    for (let p = 0; p < this.pages; p++) this.bitmap[p >>> 5]! |= 1 << (p & 31);
    this.dirtyPages = this.pages;
    this.cursor = 0;
    // The first sync consumes what enabling reported (all ones with INITIALLY_SET): all already set.
    this.sync();
    this.regionCounts.fill(0);
  }

  /** Stop dirty logging (the migration ended either way); huge pages come back. */
  disable(): void {
    this.vm.setUserMemoryRegion({ ...this.region, flags: this.region.flags & ~KVM_MEM_LOG_DIRTY_PAGES });
  }

  /** ring: move what the rings hold into the pending set and reset them (QEMU's reaper). */
  reapRings(): void {
    if (this.mode !== 'ring') return;
    // Kick every vCPU first, as QEMU's reaper does: an exit drains the PML buffer into the ring,
    // and under D-bit tracking a rewrite of a page can sit there until the next exit.
    for (const vcpu of this.vm.vcpus) vcpu.exit();
    this.vm.vcpus.forEach((vcpu, v) => {
      if (vcpu.ringFull) this.cost.ringBlockedAtReap++;
      const entries = vcpu.harvestDirtyRing();
      this.cost.ringEntries += entries.length;
      this.reapedByVcpu[v]! += entries.length;
      for (const { offset } of entries) this.reaped[offset >>> 5]! |= 1 << (offset & 31);
    });
    this.vm.resetDirtyRings();
  }

  /** migration_bitmap_sync: fold what the MMU logged since the last sync into the bitmap. */
  sync(): SyncResult {
    const log = this.harvest();
    let newlyDirty = 0;
    let reported = 0;
    for (let w = 0; w < this.words; w++) {
      const bits = log[w]!;
      if (bits === 0) continue;
      const fresh = bits & ~this.bitmap[w]!;
      this.bitmap[w]! |= bits;
      if (this.mode === 'manual') this.unclearedLog[w]! |= bits;
      newlyDirty += popcount(fresh);
      reported += popcount(bits);
      this.countRegions(w, bits);
    }
    this.dirtyPages += newlyDirty;
    return { newlyDirty, reported };
  }

  /**
   * Take up to `max` pages to send next, in address order from the cursor, clearing their bits.
   * In manual mode each page's 64-page chunk is cleared and re-protected in the MMU first.
   */
  nextBatch(out: Uint32Array, max: number): number {
    let n = 0;
    let scanned = 0;
    const limit = Math.min(max, out.length);
    while (n < limit && this.dirtyPages > 0 && scanned <= this.words) {
      const w = this.cursor >>> 5;
      const bits = this.bitmap[w]! & (~0 << (this.cursor & 31));
      if (bits === 0) {
        this.cursor = (w + 1) * 32 >= this.pages ? 0 : (w + 1) * 32;
        scanned++;
        continue;
      }
      const page = (w << 5) + (31 - Math.clz32(bits & -bits));
      if (this.mode === 'manual') this.clearChunk(page);
      this.bitmap[w]! &= ~(1 << (page & 31));
      this.dirtyPages--;
      out[n++] = page;
      this.cursor = page + 1 >= this.pages ? 0 : page + 1;
    }
    return n;
  }

  /** Pages reported per heatmap region since the last call. */
  takeRegionCounts(): number[] {
    const counts = this.regionCounts;
    this.regionCounts = new Array<number>(counts.length).fill(0);
    return counts;
  }

  private harvest(): Uint32Array {
    this.cost.syncs++;
    this.log.fill(0);
    if (this.mode === 'ring') {
      this.reapRings();
      this.log.set(this.reaped);
      this.reaped.fill(0);
    } else {
      this.vm.getDirtyLog(this.region.slot, this.log);
      this.cost.bitmapWords += this.words;
    }
    return this.log;
  }

  /** manual: KVM_CLEAR_DIRTY_LOG on the chunk holding `page`, if it has uncleared bits. (Not private: a seam faults.ts wraps.) */
  clearChunk(page: number): void {
    const first = page - (page % CLEAR_CHUNK_PAGES);
    const w = first >>> 5;
    const lo = this.unclearedLog[w]!;
    const hi = this.unclearedLog[w + 1] ?? 0;
    if ((lo | hi) === 0) return;
    this.cost.clearCalls++;
    this.vm.clearDirtyLog(
      this.region.slot,
      first,
      Math.min(CLEAR_CHUNK_PAGES, this.pages - first),
      Uint32Array.of(lo, hi),
    );
    this.unclearedLog[w] = 0;
    if (w + 1 < this.words) this.unclearedLog[w + 1] = 0;
  }

  private countRegions(word: number, bits: number): void {
    const base = word << 5;
    const first = (base / this.regionPages) | 0;
    const last = ((base + 31) / this.regionPages) | 0;
    if (first === last || last >= this.regionCounts.length) {
      this.regionCounts[Math.min(first, this.regionCounts.length - 1)]! += popcount(bits);
      return;
    }
    for (let b = bits; b !== 0; b &= b - 1) {
      const page = base + (31 - Math.clz32(b & -b));
      this.regionCounts[(page / this.regionPages) | 0]!++;
    }
  }
}
