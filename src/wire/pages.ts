/**
 * What the wire needs of memory, and nothing more: the encoder reads pages from a PageReader,
 * the decoder writes them into a PageSink. The guest's backings (stored bytes, generated
 * contents) and the destination's images (bytes, or digests only) implement these; the wire
 * knows none of them.
 */

/** The source's pages, as the encoder reads them when it encodes a batch. */
export interface PageReader {
  readonly pages: number;
  /**
   * The bytes page `gfn` holds now, or undefined when it reads as zero and has no storage.
   * The view is valid only until the next call (a generated page lives in one scratch buffer).
   */
  peek(gfn: number): Uint8Array | undefined;
}

/** The destination's image, as the decoder applies pages to it. */
export interface PageSink {
  readonly pages: number;
  /** Page `gfn` now reads as zero. */
  zeroPage(gfn: number): void;
  /**
   * Page `gfn` now holds `bytes` (PAGE_SIZE bytes; a view the sink reads before returning and
   * does not keep). `bytes` may be the buffer `decodeTarget(gfn)` returned.
   */
  storePage(gfn: number, bytes: Uint8Array): void;
  /** A PAGE_SIZE buffer to decode page `gfn` into, then hand to storePage (the page's own storage when it has some). */
  decodeTarget(gfn: number): Uint8Array;
  /**
   * XBZRLE edits the destination's copy of a page in place: that copy, to be handed to
   * storePage after the edit. Undefined when the image keeps no bytes (digests only).
   */
  editablePage?(gfn: number): Uint8Array;
}
