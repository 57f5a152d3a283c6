/**
 * SPTE bits in KVM's EPT format (research §1.1, spte.h). An SPTE is 64 bits kept as two
 * Uint32Array words: `lo` = bits 0-31, `hi` = bits 32-63. No BigInt: every test and update is a
 * 32-bit operation on one word.
 *
 * The PFN (bits 12-51) is split: bits 0-19 of the PFN live in lo[12..31], bits 20-39 in hi[0..19].
 * A non-leaf SPTE's PFN is the child table's id in the table pool (its "physical address").
 */

/** EPT R/W/X (bits 0-2). The hardware sees an SPTE as present iff any of R/W/X is set. */
export const SPTE_R = 1 << 0;
export const SPTE_W = 1 << 1;
export const SPTE_X = 1 << 2;
export const SPTE_RWX = SPTE_R | SPTE_W | SPTE_X;
/** Huge leaf (bit 7, PT_PAGE_SIZE_MASK). */
export const SPTE_PS = 1 << 7;
/** Accessed / Dirty (bits 8, 9): set by the CPU's page walk when A/D bits are enabled. */
export const SPTE_A = 1 << 8;
export const SPTE_D = 1 << 9;
/** Software "MMU-present" (bit 11): KVM's is_shadow_present_pte. */
export const SPTE_MMU_PRESENT = 1 << 11;

/** hi word: PFN bits 20-39. */
export const HI_PFN_MASK = 0xfffff;
/** Bit 52 (A/D mode 1): A/D disabled, KVM tracks accesses by clearing RWX (§5). */
export const HI_AD_DISABLED = 1 << 20;
/** Bits 54 and 56: R and X saved while access-tracked. */
export const HI_SAVED_R = 1 << 22;
export const HI_SAVED_X = 1 << 24;
/** Bit 57: the host mapping is writable (clear = host read-only or read-only memslot). */
export const HI_HOST_WRITABLE = 1 << 25;
/** Bit 58: KVM may make this SPTE writable without mmu_lock (clear = write-protected by write_protect_gfn). */
export const HI_MMU_WRITABLE = 1 << 26;

/** REMOVED_SPTE / FROZEN_SPTE: a non-present sentinel while another thread owns the entry. */
export const FROZEN_SPTE_LO = 0x5a0;
/** MMIO SPTE: not MMU-present, W+X without R (an EPT misconfiguration, so accesses exit). */
export const MMIO_SPTE_LO = SPTE_W | SPTE_X;

export const PT_ENTRIES = 512;
/** KVM_PAGES_PER_HPAGE(level): 4K pages mapped by one SPTE at `level` (index 0 unused). */
export const PAGES_PER_LEVEL = [0, 1, 512, 512 ** 2, 512 ** 3, 512 ** 4, 512 ** 5];
export const PG_LEVEL_4K = 1;
export const PG_LEVEL_2M = 2;
export const PG_LEVEL_1G = 3;

export function isShadowPresent(lo: number): boolean {
  return (lo & SPTE_MMU_PRESENT) !== 0;
}

export function isLastSpte(lo: number, level: number): boolean {
  return level === PG_LEVEL_4K || (lo & SPTE_PS) !== 0;
}

export function isFrozen(lo: number, hi: number): boolean {
  return lo === FROZEN_SPTE_LO && hi === 0;
}

export function isMmioSpte(lo: number): boolean {
  return (lo & SPTE_MMU_PRESENT) === 0 && (lo & SPTE_RWX) === MMIO_SPTE_LO;
}

export function isAdDisabled(hi: number): boolean {
  return (hi & HI_AD_DISABLED) !== 0;
}

/** A/D disabled and RWX cleared by aging: non-present to the hardware, still MMU-present. */
export function isAccessTracked(lo: number, hi: number): boolean {
  return (hi & HI_AD_DISABLED) !== 0 && (lo & SPTE_RWX) === 0;
}

/** is_accessed_spte: A if A/D is on, else "not access-tracked". */
export function isAccessed(lo: number, hi: number): boolean {
  return (hi & HI_AD_DISABLED) !== 0 ? (lo & SPTE_RWX) !== 0 : (lo & SPTE_A) !== 0;
}

export function isMmuWritable(hi: number): boolean {
  return (hi & HI_MMU_WRITABLE) !== 0;
}

/** 9 × (level − 1): the GFN shift of a level's index. */
const LEVEL_SHIFT = [0, 0, 9, 18, 27, 36, 45];
/** GFNs below 2^32 (16 TiB of guest) take 32-bit integer paths; above, exact float math. */
const U32_GFN_LIMIT = 2 ** 32;

/** SPTE_INDEX(gfn, level). */
export function spteIndex(gfn: number, level: number): number {
  if (gfn < U32_GFN_LIMIT && level <= 4) return (gfn >>> LEVEL_SHIFT[level]!) & (PT_ENTRIES - 1);
  return Math.floor(gfn / PAGES_PER_LEVEL[level]!) % PT_ENTRIES;
}

/** gfn_round_for_level: the first GFN of the level-sized region holding `gfn`. */
export function gfnRoundForLevel(gfn: number, level: number): number {
  if (gfn < U32_GFN_LIMIT && level <= 4) return (gfn & ~(PAGES_PER_LEVEL[level]! - 1)) >>> 0;
  return gfn - (gfn % PAGES_PER_LEVEL[level]!);
}

export function pfnOf(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & HI_PFN_MASK) * 2 ** 20;
}

export function withPfnLo(lo: number, pfn: number): number {
  const low20 = pfn < 2 ** 32 ? pfn & 0xfffff : pfn % 2 ** 20;
  return ((lo & 0xfff) | (low20 << 12)) >>> 0;
}

export function withPfnHi(hi: number, pfn: number): number {
  const high20 = pfn < 2 ** 32 ? pfn >>> 20 : Math.floor(pfn / 2 ** 20) & HI_PFN_MASK;
  return ((hi & ~HI_PFN_MASK) | high20) >>> 0;
}

/**
 * check_spte_writable_invariants: W ⇒ MMU-writable ⇒ Host-writable. Returns false on a
 * violation (the caller WARNs).
 */
export function spteWritableInvariantsHold(lo: number, hi: number): boolean {
  if ((lo & SPTE_W) !== 0 && (hi & HI_MMU_WRITABLE) === 0) return false;
  return (hi & HI_MMU_WRITABLE) === 0 || (hi & HI_HOST_WRITABLE) !== 0;
}
