/**
 * A vCPU's TLB: caches translations with their W and D state, indexed by the VM's linear page
 * number (memslot linBase + page offset). It is fully associative and never evicts: the worst
 * case for correctness, since every stale writable entry stays usable until a flush. That is
 * exactly what makes a missing flush visible as a lost write.
 *
 * Storage is one byte per page in 4096-page chunks allocated on first fill, so untouched memory
 * costs nothing. A flush clears only the entries filled since the last one (a fill log); past
 * the log's capacity it clears every allocated chunk.
 */
export const TLB_VALID = 1;
export const TLB_W = 2;
export const TLB_D = 4;
/** A write needs no walk at all: cached writable and already dirty. */
export const TLB_WRITE_OK = TLB_VALID | TLB_W | TLB_D;

export const TLB_CHUNK_SHIFT = 12;
const CHUNK_PAGES = 1 << TLB_CHUNK_SHIFT;
const FILL_LOG_CAPACITY = 1 << 16;
/** Shared all-zero chunk for pages never filled: reads miss, fill replaces it first. */
const EMPTY_CHUNK = new Uint8Array(CHUNK_PAGES);

export class Tlb {
  /** Chunk per 4096 linear pages; EMPTY_CHUNK until something there is filled. */
  readonly chunks: Uint8Array[] = [];
  private readonly fillLog = new Int32Array(FILL_LOG_CAPACITY);
  private fills = 0;
  private allocatedChunks = 0;

  /** Cover linear pages [0, pages). */
  grow(pages: number): void {
    const need = Math.ceil(pages / CHUNK_PAGES);
    while (this.chunks.length < need) this.chunks.push(EMPTY_CHUNK);
  }

  get bytes(): number {
    return this.allocatedChunks * CHUNK_PAGES + this.chunks.length * 8 + this.fillLog.byteLength;
  }

  lookup(lin: number): number {
    return this.chunks[lin >>> TLB_CHUNK_SHIFT]![lin & (CHUNK_PAGES - 1)]!;
  }

  fill(lin: number, bits: number): void {
    let chunk = this.chunks[lin >>> TLB_CHUNK_SHIFT]!;
    if (chunk === EMPTY_CHUNK) {
      chunk = new Uint8Array(CHUNK_PAGES);
      this.chunks[lin >>> TLB_CHUNK_SHIFT] = chunk;
      this.allocatedChunks++;
    }
    const i = lin & (CHUNK_PAGES - 1);
    if (chunk[i] === 0 && this.fills < FILL_LOG_CAPACITY) this.fillLog[this.fills] = lin;
    if (chunk[i] === 0) this.fills++;
    chunk[i] = bits;
  }

  /** Drop one entry (the CPU invalidates the entry that caused an EPT violation). */
  invalidate(lin: number): void {
    const chunk = this.chunks[lin >>> TLB_CHUNK_SHIFT]!;
    if (chunk !== EMPTY_CHUNK) chunk[lin & (CHUNK_PAGES - 1)] = 0;
  }

  /** Drop every entry. */
  flush(): void {
    if (this.fills <= FILL_LOG_CAPACITY) {
      for (let i = 0; i < this.fills; i++) {
        const lin = this.fillLog[i]!;
        this.chunks[lin >>> TLB_CHUNK_SHIFT]![lin & (CHUNK_PAGES - 1)] = 0;
      }
    } else {
      for (const chunk of this.chunks) if (chunk !== EMPTY_CHUNK) chunk.fill(0);
    }
    this.fills = 0;
  }

  /** Any entry cached for `lin` that allows writing (used by the invariant tests). */
  cachedWritable(lin: number): boolean {
    return (this.lookup(lin) & (TLB_VALID | TLB_W)) === (TLB_VALID | TLB_W);
  }
}
