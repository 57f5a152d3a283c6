/**
 * Sparse guest memory with real page contents. A page is allocated on its first write; an
 * untouched page reads as zero. Pages live in 4 MiB pool chunks and an Int32Array maps a page
 * number to its place in the pool, so a 64 GiB address space costs 64 MiB of index plus 4 KiB
 * per touched page. Both the source guest and the destination hold their image in one.
 */
import { digestsHash, isZeroPage, pageDigest } from '../util/digest';
import { PAGE_SIZE } from '../util/units';

const CHUNK_SHIFT = 10;
const PAGES_PER_CHUNK = 1 << CHUNK_SHIFT;
/** log2 of the 32-bit words in a page. */
const WORDS_PER_PAGE_SHIFT = 10;
const ABSENT = -1;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class SparseMemory {
  /** page number → pool index, or ABSENT. */
  private readonly index: Int32Array;
  private readonly chunks: Uint8Array[] = [];
  /** The same chunks as 32-bit words (little-endian on every platform Node runs on). */
  private readonly words: Uint32Array[] = [];
  private allocated = 0;
  /** A page to decode into when the target page has no storage yet. */
  private scratch: Uint8Array | undefined;

  constructor(readonly pages: number) {
    if (!Number.isInteger(pages) || pages <= 0 || pages > 2 ** 31 - 1)
      throw new RangeError(`SparseMemory: pages must be an integer in [1, 2^31-1], got ${pages}`);
    this.index = new Int32Array(pages).fill(ABSENT);
  }

  get bytes(): number {
    return this.pages * PAGE_SIZE;
  }

  /** Pages that have storage (written at least once). */
  get allocatedPages(): number {
    return this.allocated;
  }

  has(page: number): boolean {
    return this.index[page] !== ABSENT;
  }

  /** The page's bytes, or undefined if it was never written (reads as zero). A live view: do not keep it. */
  peek(page: number): Uint8Array | undefined {
    const slot = this.index[page]!;
    return slot === ABSENT ? undefined : this.view(slot);
  }

  /** The page's bytes (a shared zero page if never written). A live view: do not keep or mutate it. */
  read(page: number): Uint8Array {
    return this.peek(page) ?? ZERO_PAGE;
  }

  /** Byte 0 of the page (the incrementer's counter; 0 if never written). */
  byte0(page: number): number {
    const slot = this.index[page]!;
    return slot === ABSENT
      ? 0
      : this.chunks[(slot / PAGES_PER_CHUNK) | 0]![(slot % PAGES_PER_CHUNK) * PAGE_SIZE]!;
  }

  /** The page's writable bytes, allocating it on first use. */
  writable(page: number): Uint8Array {
    this.check(page);
    let slot = this.index[page]!;
    if (slot === ABSENT) slot = this.allocate(page);
    return this.view(slot);
  }

  /**
   * Store a 32-bit little-endian value at a 4-aligned `offset`, allocating the page on first use,
   * without creating a view (the MMU's warm-TLB write path, HostMemory.writeU32).
   */
  writeU32(page: number, offset: number, value: number): void {
    // page >>> 0 === page holds only for integers in [0, 2^32): one test instead of check()'s three.
    if (!(page >>> 0 === page && page < this.pages)) this.check(page); // throws
    let slot = this.index[page]!;
    if (slot === ABSENT) slot = this.allocate(page);
    this.words[slot >> CHUNK_SHIFT]![
      ((slot & (PAGES_PER_CHUNK - 1)) << WORDS_PER_PAGE_SHIFT) | (offset >>> 2)
    ] = value;
  }

  /** Copy `data` into the page at byte `offset`. */
  write(page: number, offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > PAGE_SIZE)
      throw new RangeError(`SparseMemory.write: offset ${offset} + ${data.length} bytes crosses the page`);
    this.writable(page).set(data, offset);
  }

  /** Replace a whole page. A zero page that was never allocated stays unallocated. */
  writePage(page: number, data: Uint8Array): void {
    if (data.length !== PAGE_SIZE) throw new RangeError(`SparseMemory.writePage: need ${PAGE_SIZE} bytes`);
    if (!this.has(page) && isZeroPage(data)) return;
    this.writable(page).set(data);
  }

  /**
   * PageSink (the destination applying a page): the page now holds `data`. A zero page that
   * never had storage stays without; `data` may be this page's own storage (decodeTarget).
   */
  storePage(page: number, data: Uint8Array): void {
    if (data.length !== PAGE_SIZE) throw new RangeError(`SparseMemory.storePage: need ${PAGE_SIZE} bytes`);
    const slot = this.index[page]!;
    if (slot === ABSENT) {
      if (!isZeroPage(data)) this.writable(page).set(data);
      return;
    }
    const own = this.view(slot);
    if (data.buffer !== own.buffer || data.byteOffset !== own.byteOffset) own.set(data);
  }

  /** PageSink: where to decode page `page` (its own storage when it has some, else a scratch page). */
  decodeTarget(page: number): Uint8Array {
    return this.peek(page) ?? (this.scratch ??= new Uint8Array(PAGE_SIZE));
  }

  /** PageSink: the page's bytes to edit in place (XBZRLE), allocating it on first use. */
  editablePage(page: number): Uint8Array {
    return this.writable(page);
  }

  /** Make the page read as zero (keeps its storage if it had some). */
  zeroPage(page: number): void {
    this.check(page);
    const slot = this.index[page]!;
    if (slot !== ABSENT) this.view(slot).fill(0);
  }

  /** Page numbers with storage, ascending. */
  *allocatedPageNumbers(): Generator<number> {
    for (let p = 0; p < this.pages; p++) if (this.index[p] !== ABSENT) yield p;
  }

  /** Every page's digest (util/digest.ts), page 0 first: one pass over the stored pages. */
  digests(): Uint32Array {
    const digests = new Uint32Array(this.pages);
    for (let p = 0; p < this.pages; p++) {
      const slot = this.index[p]!;
      if (slot !== ABSENT) digests[p] = pageDigest(this.view(slot));
    }
    return digests;
  }

  /**
   * The image's hash (util/digest.ts: sha256 over the page digests). Two memories with the same
   * contents hash the same, whatever they allocated; so does a digest-only image of them.
   */
  imageHash(): string {
    return digestsHash(this.digests());
  }

  private check(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pages)
      throw new RangeError(`SparseMemory: page ${page} outside [0, ${this.pages})`);
  }

  private allocate(page: number): number {
    const slot = this.allocated++;
    if (slot % PAGES_PER_CHUNK === 0) {
      // Slots never reach `pages`, so the last chunk holds only what is left.
      const chunk = new Uint8Array(Math.min(PAGES_PER_CHUNK, this.pages - slot) * PAGE_SIZE);
      this.chunks.push(chunk);
      this.words.push(new Uint32Array(chunk.buffer));
    }
    this.index[page] = slot;
    return slot;
  }

  private view(slot: number): Uint8Array {
    const chunk = this.chunks[(slot / PAGES_PER_CHUNK) | 0]!;
    const start = (slot % PAGES_PER_CHUNK) * PAGE_SIZE;
    return chunk.subarray(start, start + PAGE_SIZE);
  }
}

export { ZERO_PAGE, isZeroPage };
