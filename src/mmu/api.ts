/**
 * The MMU facade's contract: KVM's userspace API, so KVM's selftests port line by line.
 * The implementation lives beside this file; the guest, the round engine and the tests use only
 * what is declared here. Addresses are numbers (a 53-bit GPA is plenty); pages are 4 KiB.
 */
import type { MmuFaults } from '../config/faults';

export type { MmuFaults };

/** KVM_SET_USER_MEMORY_REGION flags. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags. */
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
export const KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;

export type KvmErrno = 'EINVAL' | 'ENOENT' | 'ENXIO' | 'EEXIST' | 'EBUSY' | 'EFAULT' | 'ENOSPC' | 'E2BIG';

/** An ioctl failure: the errno KVM would return, with a message that says why. */
export class KvmError extends Error {
  constructor(
    readonly errno: KvmErrno,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'KvmError';
  }
}

/** What backs a memslot (userspace memory). The guest's `SparseMemory` implements it. */
export interface HostMemory {
  readonly pages: number;
  /** The page's bytes, allocating on first use. */
  writable(page: number): Uint8Array;
  /** The page's bytes (zero if never written). Read-only view. */
  read(page: number): Uint8Array;
  /**
   * Optional: store a 32-bit little-endian value at a 4-aligned `offset` of `page`, allocating
   * the page on first use, without allocating a view. The MMU's warm-TLB write uses it when present.
   */
  writeU32?(page: number, offset: number, value: number): void;
}

export interface MemoryRegion {
  slot: number;
  flags: number;
  guestPhysAddr: number;
  /** Bytes; a multiple of 4096. 0 deletes the slot. */
  memorySize: number;
  memory: HostMemory;
  /** First page of `memory` that backs this slot (userspace_addr). Default 0. */
  memoryOffsetPages?: number;
  /** Largest host mapping level (1 = 4K, 2 = 2M, 3 = 1G; THP / hugetlb backing). Default 1. */
  hostMappingLevel?: 1 | 2 | 3;
}

export interface VmOptions {
  /** Dirty tracking: write protection (default) or D-bit clearing with a PML buffer. */
  tracking?: 'wrprot' | 'dbit';
  /** eager_page_split (default true). */
  eagerSplit?: boolean;
  /** 4 (default) or 5-level paging. */
  rootLevel?: 4 | 5;
  /** The fault plan's MMU part (src/config/faults.ts), for negative tests. */
  faults?: MmuFaults;
  /** EPT A/D bits (default true). Off: aging clears RWX (access tracking); needs tracking 'wrprot'. */
  adBits?: boolean;
  /** Slot-wide walks yield (drop the simulated mmu_lock) every this many SPTE visits; 0 = never (default). */
  yieldEvery?: number;
  /** Runs at each yield: what the vCPUs do while the walk is away (tests interleave writes here). */
  onYield?: () => void;
  /**
   * userfaultfd on guest RAM (postcopy's MISSING mode): asked on an EPT violation inside a
   * memslot; true means the page is missing here, so the vCPU blocks (the access is not made)
   * until wakeUserfault(gfn). Absent: no page is ever missing.
   */
  userfault?: (vcpu: number, gfn: number) => boolean;
}

/** Outcome of one guest access. */
export type AccessResult =
  | 'ok'
  /** No memslot: emulated as MMIO, never logged. */
  | 'mmio'
  /** The vCPU is paused or must exit (ring full) and did not perform the access. */
  | 'blocked';

export interface DirtyGfn {
  slot: number;
  /** Page offset within the slot. */
  offset: number;
}

export interface Vcpu {
  readonly id: number;
  /** Write `data` at `gpa` (must not cross a 4 KiB page). Goes through TLB, fault path and logging. */
  write(gpa: number, data: Uint8Array): AccessResult;
  /** Write a 32-bit little-endian value at `gpa` (4-aligned): the allocation-free hot path. */
  writeU32(gpa: number, value: number): AccessResult;
  /**
   * Store words[start, start + count) as 32-bit little-endian values from `gpa` (4-aligned) on:
   * one translation for a run inside one page (a `rep movsd`); a run crossing a page goes word
   * by word like writeU32.
   */
  writeWords(gpa: number, words: Int32Array, start: number, count: number): AccessResult;
  /** Read `length` bytes at `gpa` (sets Accessed; never dirties). */
  read(gpa: number, length: number): Uint8Array;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Set after a push reaches the ring's soft limit: KVM_EXIT_DIRTY_RING_FULL; cleared by reset. */
  readonly ringFull: boolean;
  /** Entries this vCPU has pushed to its dirty ring so far (KVM's dirty_index); null without a ring. */
  readonly ringPushes: number | null;
  /** The missing page this vCPU waits for (VmOptions.userfault), or -1. */
  readonly faultedOn: number;
  /** Harvest this vCPU's ring: DIRTY entries from the fetch index on, marked for reset. */
  harvestDirtyRing(): DirtyGfn[];
  /** A VM exit: drains the PML buffer into the log. */
  exit(): void;
}

export interface MmuStats {
  pages4k: number;
  pages2m: number;
  pages1g: number;
  /** Impossible states met and retried (KVM's WARN_ON_ONCE), by kind. */
  warnings: Record<string, number>;
  faults: { fast: number; slow: number; spurious: number; mmio: number; retry: number };
  tlbFlushes: number;
  /** Times a slot-wide walk yielded mid-way. */
  yields: number;
  /** Page tables in use. */
  pageTables: number;
  /** Bytes of MMU state: page tables, TLBs, dirty bitmaps, rings, PML buffers. */
  memoryBytes: number;
  /** VM exits for a full PML buffer and for a dirty ring at its soft limit, all vCPUs. */
  exits: { pmlFull: number; ringFull: number };
  /** The boot mapping's work (mapBootMemory), never counted as faults: leaves installed, 4K pages they map. */
  bootMap: { leaves: number; pages: number };
}

export interface Vm {
  createVcpu(): Vcpu;
  readonly vcpus: readonly Vcpu[];
  setUserMemoryRegion(region: MemoryRegion): void;
  /** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with MANUAL_PROTECT_ENABLE / INITIALLY_SET flags. */
  enableManualDirtyLogProtect(flags: number): void;
  /**
   * The boot mapping (precopy's; the effect of KVM_PRE_FAULT_MEMORY over the guest's populated
   * memory): map the pages [ranges[2i], ranges[2i+1]) of slot `slot` (page offsets, ascending and
   * disjoint, i < count) as write faults on each would have, at the largest size the host mapping
   * level, the slot's bounds and alignment allow, in one walk and without a fault. A running
   * guest's memory is mapped before a migration starts; this establishes that state. The slot
   * must not be dirty-logged (EBUSY). Returns the leaves installed.
   */
  mapBootMemory(slot: number, ranges: ArrayLike<number>, count: number): number;
  /** KVM_CAP_DIRTY_LOG_RING: ring size in entries (power of two), before vCPUs exist. */
  enableDirtyRing(entries: number): void;
  /** KVM_GET_DIRTY_LOG into `bitmap` (little-endian 64-bit words viewed as Uint32Array, ≥ ceil(npages/64)*2 words). */
  getDirtyLog(slot: number, bitmap: Uint32Array): void;
  /** KVM_CLEAR_DIRTY_LOG. */
  clearDirtyLog(slot: number, firstPage: number, numPages: number, bitmap: Uint32Array): void;
  /** KVM_RESET_DIRTY_RINGS: returns the number of entries reset. */
  resetDirtyRings(): number;
  /** MMU notifier aging over a GPA range: clear_young returns whether any page was young. */
  clearYoung(gpa: number, size: number): boolean;
  testYoung(gpa: number, size: number): boolean;
  /** UFFDIO_COPY's wake: vCPUs blocked on missing page `gfn` may run again; returns how many. */
  wakeUserfault(gfn: number): number;
  stats(): MmuStats;
}
