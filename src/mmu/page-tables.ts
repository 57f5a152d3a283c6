/**
 * The pool of page tables: 512 SPTEs × 2 words = 4 KiB per table, carved from 256 KiB chunks
 * and allocated only when a fault or split needs one, so an untouched guest has no tables.
 * A table is named by its id (what a non-leaf SPTE stores as its PFN); `views[id]` is its words.
 */
import { TABLE_WORDS } from './spte';

const TABLES_PER_CHUNK = 64;

export class PageTables {
  /** Table id → its 1024 words. One view object per table, never per SPTE. */
  readonly views: Uint32Array[] = [];
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
      this.chunkBytes += this.chunk.byteLength;
    }
    const start = (id % TABLES_PER_CHUNK) * TABLE_WORDS;
    this.views.push(this.chunk.subarray(start, start + TABLE_WORDS));
    this.levels.push(level);
    return id;
  }

  levelOf(id: number): number {
    return this.levels[id]!;
  }

  release(id: number): void {
    this.freeIds.push(id);
  }
}
