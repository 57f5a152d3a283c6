/**
 * The pool of page tables: 512 SPTEs × 2 words = 4 KiB per table, carved from 256 KiB chunks
 * and allocated only when a fault or split needs one, so an untouched guest has no tables.
 * A table is named by its id (what a non-leaf SPTE stores as its PFN); `views[id]` is its words.
 * Walks that visit many tables once each (a harvest's reprotect) address them through `chunks`
 * instead: `chunkOf(id)` from `offsetOf(id)`. A handful of chunk objects stay in cache where
 * one view object per table would miss it as often as the SPTE.
 */
import { TABLE_WORDS } from './spte';

const CHUNK_SHIFT = 6;
const TABLES_PER_CHUNK = 1 << CHUNK_SHIFT;

export class PageTables {
  /** Table id → its 1024 words. One view object per table, never per SPTE. */
  readonly views: Uint32Array[] = [];
  /** The chunks the views are carved from, in id order. */
  readonly chunks: Uint32Array[] = [];
  /** Level of each table (1 = holds 4K leaves). */
  private readonly levels: number[] = [];
  private readonly freeIds: number[] = [];
  private chunkBytes = 0;
  /** The chunk new tables are carved from. */
  private chunk = new Uint32Array(0);

  /** Tables in use. */
  get live(): number {
    return this.views.length - this.freeIds.length;
  }

  /** Bytes of table storage reserved (chunks), for memory accounting. */
  get bytes(): number {
    return this.chunkBytes;
  }

  /** A zeroed table for `level`. */
  alloc(level: number): number {
    const reused = this.freeIds.pop();
    if (reused !== undefined) {
      this.views[reused]!.fill(0);
      this.levels[reused] = level;
      return reused;
    }
    const id = this.views.length;
    if (id % TABLES_PER_CHUNK === 0) {
      this.chunk = new Uint32Array(TABLES_PER_CHUNK * TABLE_WORDS);
      this.chunks.push(this.chunk);
      this.chunkBytes += this.chunk.byteLength;
    }
    const start = this.offsetOf(id);
    this.views.push(this.chunk.subarray(start, start + TABLE_WORDS));
    this.levels.push(level);
    return id;
  }

  /** The chunk holding table `id`'s words. */
  chunkOf(id: number): Uint32Array {
    return this.chunks[id >>> CHUNK_SHIFT]!;
  }

  /** Its index in `chunks`. */
  chunkIndexOf(id: number): number {
    return id >>> CHUNK_SHIFT;
  }

  /** Where table `id`'s words start in its chunk. */
  offsetOf(id: number): number {
    return (id & (TABLES_PER_CHUNK - 1)) * TABLE_WORDS;
  }

  levelOf(id: number): number {
    return this.levels[id]!;
  }

  release(id: number): void {
    this.freeIds.push(id);
  }
}
