/**
 * What the guest writes: zero, random or text-like bytes, so zero-page detection and lz4 see
 * realistic input (lz4 leaves random pages alone, squeezes text-like ones about 2×, and zero
 * pages never reach it). Each kind is a pool of bytes generated once from the seed; fill pages
 * and workload writes are windows of the pool, so producing content costs a copy, not an RNG
 * call per byte.
 */
import type { Rng } from '../util/rng';
import { PAGE_SIZE } from '../util/units';
import type { ContentKind } from './spec';

/** Bytes per pool: many distinct page-sized windows, small enough to stay in cache. */
export const POOL_BYTES = 256 * 1024;
/** Fill pages start at a multiple of this inside the pool. */
const PAGE_WINDOW_STEP = 64;
/** Windows of workload writes per pool (each write picks one by index). */
export const WRITE_VIEWS = 1024;

/** Lowercase words of 2..9 letters; a skewed pick among them gives text's repetitiveness. */
function vocabulary(rng: Rng, words: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < words; i++) {
    const word = new Uint8Array(2 + rng.int(8));
    for (let j = 0; j < word.length; j++) word[j] = 0x61 + rng.int(26);
    out.push(word);
  }
  return out;
}

/** Words separated by spaces, a newline every 60 to 80 columns, now and then a number. */
function textLike(rng: Rng, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const words = vocabulary(rng, 128);
  let at = 0;
  let column = 0;
  while (at < bytes) {
    // Cubing the uniform pick favours the first words, as word frequencies in text do.
    const u = rng.float();
    const word =
      rng.int(16) === 0 ? Buffer.from(String(rng.int(100000))) : words[Math.floor(u * u * u * words.length)]!;
    for (let j = 0; j < word.length && at < bytes; j++) out[at++] = word[j]!;
    column += word.length + 1;
    if (at < bytes) out[at++] = column > 60 + rng.int(20) ? 0x0a : 0x20;
    if (column > 60) column = 0;
  }
  return out;
}

/** A content pool: POOL_BYTES plus one page, so every page-sized window fits. */
export function contentPool(kind: ContentKind, rng: Rng): Uint8Array {
  const bytes = POOL_BYTES + PAGE_SIZE;
  if (kind === 'zero') return new Uint8Array(bytes);
  if (kind === 'random') return rng.fill(new Uint8Array(bytes));
  return textLike(rng, bytes);
}

/**
 * A page of `kind` content for fill. Non-zero pages carry their page number as text at byte 8,
 * so a page that lands at the wrong address never hashes like the right one.
 */
export function fillPage(
  out: Uint8Array,
  pool: Uint8Array,
  kind: ContentKind,
  page: number,
  rng: Rng,
): Uint8Array {
  if (kind === 'zero') return out.fill(0);
  const start = rng.int(POOL_BYTES / PAGE_WINDOW_STEP) * PAGE_WINDOW_STEP;
  out.set(pool.subarray(start, start + PAGE_SIZE));
  out.set(Buffer.from(`#${page}\n`, 'latin1'), 8);
  return out;
}

/** The windows workload writes copy from: WRITE_VIEWS distinct slices of `writeSize` bytes, 4-aligned. */
export function writeViews(pool: Uint8Array, writeSize: number): Uint8Array[] {
  const step = Math.max(4, Math.floor((POOL_BYTES - writeSize) / WRITE_VIEWS) & ~3);
  const views: Uint8Array[] = [];
  for (let i = 0; i < WRITE_VIEWS; i++) views.push(pool.subarray(i * step, i * step + writeSize));
  return views;
}

/**
 * The guest's table of write windows: each workload registers its content kind and write size
 * and gets a base index; a batch's `source` is base + view. Small windows are also kept as
 * 32-bit words (`words`, `wordStart`, `wordCount`), so the guest can store them with the vCPU's
 * allocation-free 32-bit write. Signed words: a value above 2^31 would be a boxed number on every
 * call, not a small integer. Pools are made once per kind, windows once per kind and size.
 */
export class ContentViews {
  readonly views: Uint8Array[] = [];
  /** Every window's bytes as words, back to back: window k is words[wordStart[k], + wordCount[k]). */
  words = new Int32Array(0);
  readonly wordStart: number[] = [];
  readonly wordCount: number[] = [];
  /** Each window's content kind (what a metadata-only guest records instead of the bytes). */
  readonly kinds: ContentKind[] = [];
  private readonly pools = new Map<ContentKind, Uint8Array>();
  private readonly bases = new Map<string, number>();

  constructor(private readonly rng: Rng) {}

  /** The pool of `kind` if one was made (a metadata-only guest samples its own pools). */
  existingPool(kind: ContentKind): Uint8Array | undefined {
    return this.pools.get(kind);
  }

  pool(kind: ContentKind): Uint8Array {
    let pool = this.pools.get(kind);
    if (!pool) this.pools.set(kind, (pool = contentPool(kind, this.rng.fork())));
    return pool;
  }

  /**
   * Register WRITE_VIEWS windows of `writeSize` bytes of `kind`; returns the first's index.
   * Workloads sharing a kind and size share the windows.
   */
  register(kind: ContentKind, writeSize: number): number {
    const key = `${kind}/${writeSize}`;
    let base = this.bases.get(key);
    if (base !== undefined) return base;
    base = this.views.length;
    this.bases.set(key, base);
    const views = writeViews(this.pool(kind), writeSize);
    const words = new Int32Array(this.words.length + views.length * (writeSize / 4));
    words.set(this.words);
    let at = this.words.length;
    for (const view of views) {
      this.views.push(view);
      this.wordStart.push(at);
      this.wordCount.push(writeSize / 4);
      this.kinds.push(kind);
      words.set(new Int32Array(view.slice().buffer), at);
      at += writeSize / 4;
    }
    this.words = words;
    return base;
  }
}
