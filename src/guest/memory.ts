/**
 * A guest's RAM, as the guest, the wire's encoder and the round engine see it, in one of three
 * backings (README "Modes and backings"):
 * - `stored`: the pages' real bytes (SparseMemory). Small guests; byte-exact tests.
 * - `generated`: no bytes kept. Each page's bytes are a pure function of (seed, gfn, write
 *   generation, content state), produced when the encoder reads the page, so memory is O(pages).
 *   Pages still travel for real (zero-detected, lz4-compressed, framed, decoded) and the
 *   destination proves them by their digests.
 * - `metadata` (fast mode): no bytes at all; the counting link sizes pages from their content
 *   state with the measured size tables.
 * The MMU writes into `host` (the bytes, or a memory that stores nothing); the guest then tells
 * the backing what its writes did (`record*`), which is how generated and metadata pages change.
 */
import type { HostMemory } from '../mmu/api';
import type { ImageKind } from '../wire/frames';
import type { CounterBytes } from './edge-rule';
import type { PageStates } from './page-states';
import type { ContentKind } from './spec';
import type { SparseMemory } from './sparse-memory';

export type Backing = 'stored' | 'generated' | 'metadata';
export const BACKINGS: readonly Backing[] = ['stored', 'generated', 'metadata'];

export interface GuestMemory extends CounterBytes {
  readonly backing: Backing;
  readonly pages: number;
  /** What the memslot maps: the MMU's accesses land here. */
  readonly host: HostMemory;
  /** The pages' bytes (stored backing only). */
  readonly bytes: SparseMemory | undefined;
  /** Each page's content state (generated and metadata backings). */
  readonly states: PageStates | undefined;
  /** What the destination keeps of this guest's pages; undefined: there is no destination (metadata). */
  readonly destinationImage: ImageKind | undefined;
  /**
   * The page's bytes now, or undefined when it reads as zero and has no storage (the wire's
   * PageReader). A view valid until the next call. Metadata: always undefined (no contents).
   */
  peek(gfn: number): Uint8Array | undefined;
  /** The fill put `kind` content on the whole page (generated, metadata; the bytes say it for stored). */
  recordFill(gfn: number, kind: ContentKind): void;
  /** The vCPU made a write of `size` bytes of `kind` at `offset`. */
  recordWrite(gfn: number, offset: number, size: number, kind: ContentKind): void;
  /** The incrementer's `incb` on byte 0. */
  recordIncrement(gfn: number): void;
  /** The image's hash (util/digest.ts); undefined when the backing has no contents (metadata). */
  imageHash(): string | undefined;
}
