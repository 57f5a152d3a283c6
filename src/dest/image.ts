/**
 * The destination's image of the guest: what PAGES frames are applied to (a PageSink), and what
 * proves it at the end. Each page's digest (util/digest.ts) is updated as the page is applied,
 * so proving the image is a hash over the digests, not a pass over its bytes. HELLO.image says
 * which kind the source wants:
 * - `bytes`: the pages themselves in SparseMemory (and their digests): a guest can resume from
 *   it, XBZRLE deltas apply to it.
 * - `digests`: only the digests, 4 bytes a page, for a generated guest whose bytes would not fit;
 *   byte 0 of the incrementer's pages is kept for the edge rule.
 */
import type { CounterBytes } from '../guest/edge-rule';
import { SparseMemory } from '../guest/sparse-memory';
import { digestsHash, pageDigest } from '../util/digest';
import { PAGE_SIZE } from '../wire/constants';
import type { ImageKind } from '../wire/frames';
import type { PageSink } from '../wire/pages';

export interface DestinationImage extends PageSink, CounterBytes {
  readonly kind: ImageKind;
  /** sha256 over the page digests: equal to the source's imageHash() exactly when every page agrees. */
  imageHash(): string;
  /** The pages' bytes, when this image keeps them (a guest resumes from them). */
  readonly bytes: SparseMemory | undefined;
  /** Fault for negative tests: page `gfn` now holds something other than what was applied. */
  corruptPage(gfn: number): void;
  /** Fault for negative tests: remember page `gfn` as it is; the function puts it back (a page never written). */
  keepPage(gfn: number): () => void;
}

export function createImage(
  kind: ImageKind,
  pages: number,
  edge?: { firstPage: number; pages: number },
): DestinationImage {
  return kind === 'bytes' ? new ByteImage(pages) : new DigestImage(pages, edge);
}

/** The pages and their digests. */
class ByteImage implements DestinationImage {
  readonly kind = 'bytes';
  readonly bytes: SparseMemory;
  private readonly digests: Uint32Array;

  constructor(readonly pages: number) {
    this.bytes = new SparseMemory(pages);
    this.digests = new Uint32Array(pages);
  }

  zeroPage(gfn: number): void {
    this.bytes.zeroPage(gfn);
    this.digests[gfn] = 0;
  }

  storePage(gfn: number, page: Uint8Array): void {
    this.digests[gfn] = pageDigest(page);
    this.bytes.storePage(gfn, page);
  }

  decodeTarget(gfn: number): Uint8Array {
    return this.bytes.decodeTarget(gfn);
  }

  editablePage(gfn: number): Uint8Array {
    return this.bytes.writable(gfn);
  }

  byte0(gfn: number): number {
    return this.bytes.byte0(gfn);
  }

  imageHash(): string {
    return digestsHash(this.digests);
  }

  corruptPage(gfn: number): void {
    const page = this.bytes.writable(gfn);
    page[1] ^= 0xff;
    this.digests[gfn] = pageDigest(page);
  }

  keepPage(gfn: number): () => void {
    const bytes = this.bytes.read(gfn).slice();
    return () => this.storePage(gfn, bytes);
  }
}

/** Digests only, plus byte 0 of the edge region's pages. */
class DigestImage implements DestinationImage {
  readonly kind = 'digests';
  readonly bytes = undefined;
  private readonly digests: Uint32Array;
  private readonly counters: Uint8Array;
  private readonly edgeFirst: number;
  private readonly scratch = new Uint8Array(PAGE_SIZE);

  constructor(
    readonly pages: number,
    edge?: { firstPage: number; pages: number },
  ) {
    this.digests = new Uint32Array(pages);
    this.edgeFirst = edge?.firstPage ?? 0;
    this.counters = new Uint8Array(edge?.pages ?? 0);
  }

  zeroPage(gfn: number): void {
    this.digests[gfn] = 0;
    this.keepCounter(gfn, 0);
  }

  storePage(gfn: number, page: Uint8Array): void {
    this.digests[gfn] = pageDigest(page);
    this.keepCounter(gfn, page[0]!);
  }

  decodeTarget(): Uint8Array {
    return this.scratch;
  }

  byte0(gfn: number): number {
    const i = gfn - this.edgeFirst;
    if (i < 0 || i >= this.counters.length)
      throw new RangeError(
        `digest image: byte 0 of page ${gfn} is not kept (only the edge region [${this.edgeFirst}, ${this.edgeFirst + this.counters.length}))`,
      );
    return this.counters[i]!;
  }

  imageHash(): string {
    return digestsHash(this.digests);
  }

  corruptPage(gfn: number): void {
    this.digests[gfn] ^= 1;
  }

  keepPage(gfn: number): () => void {
    const digest = this.digests[gfn]!;
    const i = gfn - this.edgeFirst;
    const counter = this.counters[i];
    return () => {
      this.digests[gfn] = digest;
      if (counter !== undefined) this.counters[i] = counter;
    };
  }

  private keepCounter(gfn: number, value: number): void {
    const i = gfn - this.edgeFirst;
    if (i >= 0 && i < this.counters.length) this.counters[i] = value;
  }
}
