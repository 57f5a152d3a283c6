/**
 * A memslot (kvm_memory_slot): a GFN range backed by host memory, with its dirty bitmap in
 * 64-page words (two Uint32Array words each, little-endian, as KVM's unsigned longs).
 */
import type { HostMemory } from './api';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from './api';

export class Memslot {
  /** Dirty bitmap while logging with a bitmap; null otherwise. */
  dirtyBitmap: Uint32Array | null = null;
  /** The guest's 32-bit store into this slot's memory (the hot path's only call). */
  readonly store32: (page: number, offset: number, value: number) => void;

  constructor(
    readonly id: number,
    readonly baseGfn: number,
    readonly npages: number,
    public flags: number,
    readonly memory: HostMemory,
    /** First host page backing the slot (userspace_addr >> PAGE_SHIFT). */
    readonly memOffset: number,
    /** Largest host mapping level (THP / hugetlb backing). */
    readonly hostLevel: number,
    /** This slot's first index in the vCPU TLBs' linear page space. */
    readonly linBase: number,
  ) {
    this.store32 = store32For(memory);
  }

  /** kvm_slot_dirty_track_enabled. */
  get logging(): boolean {
    return (this.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;
  }

  get readonly(): boolean {
    return (this.flags & KVM_MEM_READONLY) !== 0;
  }

  get endGfn(): number {
    return this.baseGfn + this.npages;
  }

  contains(gfn: number): boolean {
    return gfn >= this.baseGfn && gfn < this.baseGfn + this.npages;
  }

  /** The host page (PFN) backing `gfn`. */
  pfn(gfn: number): number {
    return this.memOffset + (gfn - this.baseGfn);
  }

  /** Uint32 words of a bitmap covering the slot: ceil(npages / 64) * 2. */
  get bitmapWords(): number {
    return bitmapWords(this.npages);
  }

  /** set_bit_le(rel, dirty_bitmap). */
  setDirty(rel: number): void {
    this.dirtyBitmap![rel >>> 5] |= 1 << (rel & 31);
  }

  isDirty(rel: number): boolean {
    return (this.dirtyBitmap![rel >>> 5]! & (1 << (rel & 31))) !== 0;
  }
}

export function bitmapWords(npages: number): number {
  return Math.ceil(npages / 64) * 2;
}

/** A fresh bitmap for `npages`; with `allSet` every bit in [0, npages) is 1 (INITIALLY_SET), none beyond. */
export function newBitmap(npages: number, allSet: boolean): Uint32Array {
  const bitmap = new Uint32Array(bitmapWords(npages));
  if (!allSet) return bitmap;
  bitmap.fill(0xffffffff, 0, npages >>> 5);
  if (npages & 31) bitmap[npages >>> 5] = (1 << (npages & 31)) - 1;
  return bitmap;
}

/** A 32-bit little-endian store into host memory, allocation-free when the memory offers one. */
export function store32For(memory: HostMemory): (page: number, offset: number, value: number) => void {
  if (memory.writeU32 !== undefined) return memory.writeU32.bind(memory);
  return (page, offset, value) => {
    const bytes = memory.writable(page);
    bytes[offset] = value & 0xff;
    bytes[offset + 1] = (value >>> 8) & 0xff;
    bytes[offset + 2] = (value >>> 16) & 0xff;
    bytes[offset + 3] = (value >>> 24) & 0xff;
  };
}
