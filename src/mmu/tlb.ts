/**
 * A vCPU's TLB: caches translations with their W and D state, indexed by the VM's linear page
 * number (memslot linBase + page offset). It is fully associative and never evicts: the worst
 * case for correctness, since every stale writable entry stays usable until a flush. That is
 * exactly what makes a missing flush visible as a lost write.
 *
 * Storage is one byte per page in 4096-page chunks allocated on first fill, so untouched memory
 * costs nothing. Each byte holds the entry's bits and the generation it was filled in; a flush
 * starts a new generation, which invalidates every entry at once. Only when the 5-bit
 * generation wraps (every 31 flushes) are the chunks actually cleared.
 */
export const TLB_VALID = 1;
export const TLB_W = 2;
export const TLB_D = 4;
/** A write needs no walk at all: cached writable and already dirty. */
export const TLB_WRITE_OK = TLB_VALID | TLB_W | TLB_D;

export const TLB_CHUNK_SHIFT = 12;
const CHUNK_PAGES = 1 << TLB_CHUNK_SHIFT;
const BITS_MASK = 7;
const GENERATION_SHIFT = 3;
/** Generations 1..31; 0 marks an entry never filled or invalidated. */
const MAX_GENERATION = 31;
/** Shared all-zero chunk for pages never filled: reads miss, fill replaces it first. */
const EMPTY_CHUNK = new Uint8Array(CHUNK_PAGES);

export class Tlb {
  /** Chunk per 4096 linear pages; EMPTY_CHUNK until something there is filled. */
  readonly chunks: Uint8Array[] = [];
  private generation = 1;
  /** The byte of a writable, dirty entry filled in this generation: the hot path's one compare. */
  writeOk = (1 << GENERATION_SHIFT) | TLB_WRITE_OK;
  private allocatedChunks = 0;

  /** Cover linear pages [0, pages). */
  grow(pages: number): void {
    const need = Math.ceil(pages / CHUNK_PAGES);
    while (this.chunks.length < need) this.chunks.push(EMPTY_CHUNK);
  }

  get bytes(): number {
    return this.allocatedChunks * CHUNK_PAGES + this.chunks.length * 8;
  }

  /** The entry's TLB_* bits, or 0 if nothing valid is cached. */
  lookup(lin: number): number {
    const entry = this.chunks[lin >>> TLB_CHUNK_SHIFT]![lin & (CHUNK_PAGES - 1)]!;
    return entry >>> GENERATION_SHIFT === this.generation ? entry & BITS_MASK : 0;
  }

  fill(lin: number, bits: number): void {
    let chunk = this.chunks[lin >>> TLB_CHUNK_SHIFT]!;
    if (chunk === EMPTY_CHUNK) {
      chunk = new Uint8Array(CHUNK_PAGES);
      this.chunks[lin >>> TLB_CHUNK_SHIFT] = chunk;
      this.allocatedChunks++;
    }
    chunk[lin & (CHUNK_PAGES - 1)] = (this.generation << GENERATION_SHIFT) | bits;
  }

  /** Drop one entry (the CPU invalidates the entry that caused an EPT violation). */
  invalidate(lin: number): void {
    const chunk = this.chunks[lin >>> TLB_CHUNK_SHIFT]!;
    if (chunk !== EMPTY_CHUNK) chunk[lin & (CHUNK_PAGES - 1)] = 0;
  }

  /** Drop every entry. */
  flush(): void {
    if (++this.generation > MAX_GENERATION) {
      this.generation = 1;
      for (const chunk of this.chunks) if (chunk !== EMPTY_CHUNK) chunk.fill(0);
    }
    this.writeOk = (this.generation << GENERATION_SHIFT) | TLB_WRITE_OK;
  }

  /** Any entry cached for `lin` that allows writing (used by the invariant tests). */
  cachedWritable(lin: number): boolean {
    return (this.lookup(lin) & (TLB_VALID | TLB_W)) === (TLB_VALID | TLB_W);
  }
}
