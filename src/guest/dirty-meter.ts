/**
 * What the migration measures about the guest: page writes per interval and the distinct pages
 * written over a window (the writable working set, research/live-migration.md §5.2). A window
 * is a bitmap of pages plus counters; marking a page already in it costs one test, so the round
 * engine can ask "distinct pages written during this round" in O(1) and reset in O(pages / 32).
 */

/** What a window saw between two resets. */
export interface WindowSample {
  /** Page writes (with repeats). */
  writes: number;
  /** Distinct pages written. */
  distinct: number;
  /** Distinct pages per region of `regionPages` (the heatmap row); empty without regions. */
  byRegion: number[];
}

export class DirtyWindow {
  writes = 0;
  distinct = 0;
  private readonly bits: Uint32Array;
  private readonly regions: Uint32Array;

  constructor(
    pages: number,
    readonly regionPages = 0,
    private readonly onClose: (w: DirtyWindow) => void = () => {},
  ) {
    if (regionPages < 0 || !Number.isInteger(regionPages))
      throw new RangeError(`DirtyWindow: regionPages must be a non-negative integer, got ${regionPages}`);
    this.bits = new Uint32Array(Math.ceil(pages / 32));
    this.regions = new Uint32Array(regionPages > 0 ? Math.ceil(pages / regionPages) : 0);
  }

  /** Count writes to pages[from, to). */
  mark(pages: Uint32Array, from: number, to: number): void {
    const { bits, regions } = this;
    const byRegion = regions.length > 0;
    this.writes += to - from;
    for (let i = from; i < to; i++) {
      const page = pages[i]!;
      const word = page >>> 5;
      const bit = 1 << (page & 31);
      if ((bits[word]! & bit) !== 0) continue;
      bits[word] = bits[word]! | bit;
      this.distinct++;
      if (byRegion) regions[Math.floor(page / this.regionPages)]!++;
    }
  }

  has(page: number): boolean {
    return (this.bits[page >>> 5]! & (1 << (page & 31))) !== 0;
  }

  /** What the window saw so far; the window keeps counting. */
  sample(): WindowSample {
    return { writes: this.writes, distinct: this.distinct, byRegion: Array.from(this.regions) };
  }

  /** Sample, then start afresh (e.g. at each round boundary). */
  reset(): WindowSample {
    const seen = this.sample();
    this.bits.fill(0);
    this.regions.fill(0);
    this.writes = 0;
    this.distinct = 0;
    return seen;
  }

  close(): void {
    this.onClose(this);
  }
}

export class DirtyMeter {
  /** Page writes applied since the guest was created. */
  writes = 0;
  private windows: DirtyWindow[] = [];

  constructor(readonly pages: number) {}

  /** Start counting distinct pages from now; `regionPages` > 0 also counts per region. */
  open(options: { regionPages?: number } = {}): DirtyWindow {
    const window = new DirtyWindow(this.pages, options.regionPages ?? 0, (w) => {
      this.windows = this.windows.filter((x) => x !== w);
    });
    this.windows.push(window);
    return window;
  }

  /** Record applied writes to pages[from, to). */
  record(pages: Uint32Array, from: number, to: number): void {
    this.writes += to - from;
    for (const window of this.windows) window.mark(pages, from, to);
  }
}
