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
 *
 * Beside the bytes, one bit per page says "writable and dirty": the hot path's whole question.
 * A bit, not the byte, because random writes over a large guest miss the cache on the entry:
 * the bits of 1 GiB are 32 KiB (cache-resident), its bytes 256 KiB. Bits have no generation,
 * so a flush clears them: only the 4 KiB bit chunks (32768 pages each) that gained a bit since
 * the last flush, which is at most one chunk per write the guest made in between.
 */
export const TLB_VALID = 1;
export const TLB_W = 2;
export const TLB_D = 4;
/** A write needs no walk at all: cached writable and already dirty. */
export const TLB_WRITE_OK = TLB_VALID | TLB_W | TLB_D;

const CHUNK_SHIFT = 12;
const CHUNK_PAGES = 1 << CHUNK_SHIFT;
const BITS_MASK = 7;
const GENERATION_SHIFT = 3;
/** Generations 1..31; 0 marks an entry never filled or invalidated. */
const MAX_GENERATION = 31;
/** Shared all-zero chunk for pages never filled: reads miss, fill replaces it first. */
const EMPTY_CHUNK = new Uint8Array(CHUNK_PAGES);
/** Write-ok bits come in chunks of 2^15 pages: 1024 words, 4 KiB. */
const BITS_SHIFT = 15;
const BITS_WORD_MASK = (1 << (BITS_SHIFT - 5)) - 1;
/** Shared all-zero write-ok bits for chunks never filled. */
const EMPTY_BITS = new Int32Array(1 << (BITS_SHIFT - 5));

export class Tlb {
  /** Chunk per 4096 linear pages; EMPTY_CHUNK until something there is filled. */
  private readonly chunks: Uint8Array[] = [];
  /** Per 32768 pages, bit p of word p >> 5 set while page p is cached TLB_WRITE_OK. */
  private readonly writeOkBits: Int32Array[] = [];
  /** Indexes of the bit chunks that gained a bit since the last flush, and a flag per chunk. */
  private readonly setChunks: number[] = [];
  private chunkListed = new Uint8Array(0);
  private generation = 1;
  private allocatedChunks = 0;
  private allocatedBits = 0;

  /** Cover linear pages [0, pages). */
  grow(pages: number): void {
    const need = Math.ceil(pages / CHUNK_PAGES);
    while (this.chunks.length < need) this.chunks.push(EMPTY_CHUNK);
    const needBits = Math.ceil(pages / (1 << BITS_SHIFT));
    while (this.writeOkBits.length < needBits) this.writeOkBits.push(EMPTY_BITS);
    if (this.chunkListed.length < needBits) {
      const listed = new Uint8Array(needBits);
      listed.set(this.chunkListed);
      this.chunkListed = listed;
    }
  }

  get bytes(): number {
    return (
      this.allocatedChunks * CHUNK_PAGES +
      this.allocatedBits * EMPTY_BITS.byteLength +
      (this.chunks.length + this.writeOkBits.length) * 8 +
      this.chunkListed.length
    );
  }

  /** The entry's TLB_* bits, or 0 if nothing valid is cached. */
  lookup(lin: number): number {
    const entry = this.chunks[lin >>> CHUNK_SHIFT]![lin & (CHUNK_PAGES - 1)]!;
    return entry >>> GENERATION_SHIFT === this.generation ? entry & BITS_MASK : 0;
  }

  /** The hot path's question: is `lin` cached writable and dirty? */
  writeOk(lin: number): boolean {
    const word = this.writeOkBits[lin >>> BITS_SHIFT]![(lin >>> 5) & BITS_WORD_MASK]!;
    return (word & (1 << (lin & 31))) !== 0;
  }

  fill(lin: number, bits: number): void {
    let chunk = this.chunks[lin >>> CHUNK_SHIFT]!;
    if (chunk === EMPTY_CHUNK) {
      chunk = new Uint8Array(CHUNK_PAGES);
      this.chunks[lin >>> CHUNK_SHIFT] = chunk;
      this.allocatedChunks++;
    }
    chunk[lin & (CHUNK_PAGES - 1)] = (this.generation << GENERATION_SHIFT) | bits;
    if (bits === TLB_WRITE_OK) this.setWriteOk(lin);
    else this.clearWriteOk(lin);
  }

  /** Drop one entry (the CPU invalidates the entry that caused an EPT violation). */
  invalidate(lin: number): void {
    const chunk = this.chunks[lin >>> CHUNK_SHIFT]!;
    if (chunk === EMPTY_CHUNK) return;
    chunk[lin & (CHUNK_PAGES - 1)] = 0;
    this.clearWriteOk(lin);
  }

  /** Drop every entry. */
  flush(): void {
    if (++this.generation > MAX_GENERATION) {
      this.generation = 1;
      for (const chunk of this.chunks) if (chunk !== EMPTY_CHUNK) chunk.fill(0);
    }
    const listed = this.chunkListed;
    for (const index of this.setChunks) {
      this.writeOkBits[index]!.fill(0);
      listed[index] = 0;
    }
    this.setChunks.length = 0;
  }

  /** Any entry cached for `lin` that allows writing (used by the invariant tests). */
  cachedWritable(lin: number): boolean {
    return (this.lookup(lin) & (TLB_VALID | TLB_W)) === (TLB_VALID | TLB_W);
  }

  private setWriteOk(lin: number): void {
    const index = lin >>> BITS_SHIFT;
    let bits = this.writeOkBits[index]!;
    if (bits === EMPTY_BITS) {
      bits = new Int32Array(EMPTY_BITS.length);
      this.writeOkBits[index] = bits;
      this.allocatedBits++;
    }
    const listed = this.chunkListed;
    if (listed[index] === 0) {
      listed[index] = 1;
      this.setChunks.push(index);
    }
    bits[(lin >>> 5) & BITS_WORD_MASK]! |= 1 << (lin & 31);
  }

  private clearWriteOk(lin: number): void {
    const bits = this.writeOkBits[lin >>> BITS_SHIFT]!;
    if (bits !== EMPTY_BITS) bits[(lin >>> 5) & BITS_WORD_MASK]! &= ~(1 << (lin & 31));
  }
}
