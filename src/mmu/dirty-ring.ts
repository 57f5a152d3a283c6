/**
 * A vCPU's dirty ring (research §3.7, virt/kvm/dirty_ring.c): an array of kvm_dirty_gfn
 * {flags, slot, offset} shared with userspace. KVM pushes at dirty_index; userspace harvests
 * DIRTY entries from its own fetch index and marks them RESET; KVM_RESET_DIRTY_RINGS walks
 * from reset_index over RESET entries, invalidates them and reprotects their GFNs.
 */
export const KVM_DIRTY_GFN_F_DIRTY = 1;
export const KVM_DIRTY_GFN_F_RESET = 2;
/** Entries kept free for pushes that happen after the soft limit (KVM_DIRTY_RING_RSVD_ENTRIES). */
export const KVM_DIRTY_RING_RSVD_ENTRIES = 64;
/** sizeof(struct kvm_dirty_gfn). */
export const KVM_DIRTY_GFN_BYTES = 16;
export const KVM_DIRTY_RING_MAX_ENTRIES = 65536;

export class DirtyRing {
  readonly flags: Uint8Array;
  readonly slots: Uint16Array;
  readonly offsets: Float64Array;
  /** Entries pushed by KVM, ever. */
  dirtyIndex = 0;
  /** Entries reset by KVM, ever. */
  resetIndex = 0;
  /** Userspace's harvest position. */
  fetchIndex = 0;
  private readonly mask: number;

  constructor(
    readonly size: number,
    /** size − (reserved + PML buffer): a push reaching it makes the vCPU exit. */
    readonly softLimit: number,
  ) {
    this.flags = new Uint8Array(size);
    this.slots = new Uint16Array(size);
    this.offsets = new Float64Array(size);
    this.mask = size - 1;
  }

  get used(): number {
    return this.dirtyIndex - this.resetIndex;
  }

  /** kvm_dirty_ring_soft_full. */
  get softFull(): boolean {
    return this.used >= this.softLimit;
  }

  /** kvm_dirty_ring_push. Returns false if the ring was completely full (the caller WARNs). */
  push(slot: number, offset: number): boolean {
    const full = this.used >= this.size;
    const i = this.dirtyIndex & this.mask;
    this.slots[i] = slot;
    this.offsets[i] = offset;
    this.flags[i] = KVM_DIRTY_GFN_F_DIRTY;
    this.dirtyIndex++;
    return !full;
  }

  /** Userspace: collect DIRTY entries from the fetch index on and mark them RESET. */
  harvest(visit: (slot: number, offset: number) => void): number {
    let n = 0;
    for (;;) {
      const i = this.fetchIndex & this.mask;
      if (this.flags[i] !== KVM_DIRTY_GFN_F_DIRTY) return n;
      visit(this.slots[i]!, this.offsets[i]!);
      this.flags[i] = KVM_DIRTY_GFN_F_RESET;
      this.fetchIndex++;
      n++;
    }
  }

  /**
   * kvm_dirty_ring_reset: invalidate harvested entries from reset_index on, coalescing
   * same-slot runs into (offset, 64-bit mask) pairs handed to `reprotect` (mask as lo/hi words).
   * Returns the number of entries reset.
   */
  reset(reprotect: (slot: number, offset: number, lo: number, hi: number) => void): number {
    let count = 0;
    let curSlot = -1;
    let curOffset = 0;
    let lo = 0;
    let hi = 0;
    while (this.resetIndex !== this.dirtyIndex) {
      const i = this.resetIndex & this.mask;
      if (this.flags[i] !== KVM_DIRTY_GFN_F_RESET) break;
      const slot = this.slots[i]!;
      const offset = this.offsets[i]!;
      this.flags[i] = 0;
      this.resetIndex++;
      count++;
      if (curSlot === slot) {
        const delta = offset - curOffset;
        if (delta >= 0 && delta < 64) {
          if (delta < 32) lo |= 1 << delta;
          else hi |= 1 << (delta - 32);
          continue;
        }
        // Backwards visit: shift the mask up if no set bit falls off the top.
        if (delta > -64 && delta < 0 && fls64(lo, hi) < 64 + delta) {
          const s = -delta;
          if (s >= 32) {
            hi = lo << (s - 32);
            lo = 0;
          } else {
            hi = (hi << s) | (lo >>> (32 - s));
            lo = lo << s;
          }
          lo |= 1;
          curOffset = offset;
          continue;
        }
      }
      if (curSlot !== -1) reprotect(curSlot, curOffset, lo >>> 0, hi >>> 0);
      curSlot = slot;
      curOffset = offset;
      lo = 1;
      hi = 0;
    }
    if (curSlot !== -1) reprotect(curSlot, curOffset, lo >>> 0, hi >>> 0);
    return count;
  }
}

/** Index of the highest set bit of a 64-bit mask (-1 if zero). */
function fls64(lo: number, hi: number): number {
  if (hi !== 0) return 63 - Math.clz32(hi);
  return lo !== 0 ? 31 - Math.clz32(lo) : -1;
}
