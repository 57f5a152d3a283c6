/**
 * Metadata-only memory for sweeps' fast mode: instead of its bytes, each page keeps one byte
 * saying what it holds, as far as the wire encoder's output size depends on it. The guest's
 * write path and the fill update it (they know each write's content kind and size); the
 * metadata link turns a state into an encoded size (src/link/metadata-sizes.ts).
 *
 * States:
 * - ZERO: every byte zero (zero-page detection sends a header only). Exact.
 * - RANDOM: data from the random pool over the whole page (fill, or a whole-page write): lz4
 *   cannot shrink it, so it goes raw. Random writes keep it RANDOM (assuming they do not repeat
 *   one window inside a page); any other write makes it MIXED.
 * - TEXT: text-like data over the whole page; text writes keep it TEXT.
 * - BYTE0: zero except byte 0 (the incrementer on an unfilled page); its value is kept, so
 *   the page turns ZERO again exactly when the counter wraps, as in the real guest.
 * - MIXED: a text page that took random writes, a random page that took other writes.
 * - SPARSE_RANDOM + u, SPARSE_TEXT + u: a zero page that took u 8-byte units of small writes
 *   (saturating at MAX_SPARSE_UNITS); a page that took writes of both kinds counts as random.
 * Approximations (documented, not hidden): a small write of zeros never makes a page zero (only a
 * whole-page zero write does, or zeroing the incrementer's byte 0) nor changes a text or sparse
 * page's state; sizes of TEXT, MIXED and SPARSE
 * pages are estimates. Whether a state is exact is the size table's business.
 */
import type { Rng } from '../util/rng';
import { PAGE_SIZE } from '../util/units';
import { fillPage, POOL_BYTES, type ContentViews } from './content';
import type { ContentKind } from './spec';

export const ZERO = 0;
export const RANDOM = 1;
export const TEXT = 2;
export const BYTE0 = 3;
export const MIXED = 4;
export const SPARSE_RANDOM = 64;
export const SPARSE_TEXT = 128;
export const MAX_SPARSE_UNITS = 63;
/** Bytes per sparse unit: one 64-bit store, the default write. */
export const SPARSE_UNIT_BYTES = 8;
/** One past the largest state value. */
export const STATE_COUNT = SPARSE_TEXT + MAX_SPARSE_UNITS + 1;

const WHOLE: Record<ContentKind, number> = { zero: ZERO, random: RANDOM, text: TEXT };

function units(size: number): number {
  return Math.min(MAX_SPARSE_UNITS, Math.ceil(size / SPARSE_UNIT_BYTES));
}

export class PageStates {
  readonly states: Uint8Array;
  /** The incrementer's byte 0 of BYTE0 pages; allocated at the first increment. */
  private byte0: Uint8Array | undefined;
  constructor(readonly pages: number) {
    this.states = new Uint8Array(pages);
  }

  /** The fill wrote a whole page of `kind` (byte 0 of an incrementer page zeroed: still not zero). */
  fill(gfn: number, kind: ContentKind): void {
    this.states[gfn] = WHOLE[kind];
  }

  /** A write of `size` bytes of `kind` at `offset` (size a power of two, inside the page). */
  write(gfn: number, offset: number, size: number, kind: ContentKind): void {
    const states = this.states;
    if (size === PAGE_SIZE) {
      states[gfn] = WHOLE[kind];
      return;
    }
    const s = states[gfn]!;
    // Anything but random data on a random page gives lz4 something to squeeze.
    if (s === RANDOM) {
      if (kind !== 'random') states[gfn] = MIXED;
      return;
    }
    if (kind === 'zero') {
      if (s === BYTE0 && offset === 0) states[gfn] = ZERO;
      return;
    }
    if (s === ZERO || s === BYTE0) {
      states[gfn] = (kind === 'text' ? SPARSE_TEXT : SPARSE_RANDOM) + units(size);
    } else if (s === TEXT) {
      if (kind === 'random') states[gfn] = MIXED;
    } else if (s >= SPARSE_RANDOM) {
      const base = s >= SPARSE_TEXT && kind === 'text' ? SPARSE_TEXT : SPARSE_RANDOM;
      states[gfn] = base + Math.min(MAX_SPARSE_UNITS, (s & MAX_SPARSE_UNITS) + units(size));
    }
  }

  /** Byte 0 of a BYTE0 page (the incrementer's value on an otherwise zero page). */
  byte0Of(gfn: number): number {
    return this.byte0?.[gfn] ?? 0;
  }

  /** The incrementer's `incb` on byte 0. */
  increment(gfn: number): void {
    const s = this.states[gfn]!;
    if (s === ZERO) {
      (this.byte0 ??= new Uint8Array(this.pages))[gfn] = 1;
      this.states[gfn] = BYTE0;
    } else if (s === BYTE0) {
      const value = (this.byte0![gfn]! + 1) & 0xff;
      this.byte0![gfn] = value;
      if (value === 0) this.states[gfn] = ZERO;
    }
  }
}

/**
 * What sample pages are made of: content pools and the workload's small-write size per kind
 * (one 64-byte write compresses better than eight scattered 8-byte ones).
 */
export interface SampleSource {
  random: Uint8Array;
  text: Uint8Array;
  writeSize: { random: number; text: number };
}

/**
 * What a guest contributes to its samples: its text pool if it made one (text compresses
 * differently from seed to seed; random data does not, so random samples need no guest pool)
 * and its write sizes (the last registered per kind).
 */
export interface GuestSamples {
  text: Uint8Array | undefined;
  writeSize: { random: number; text: number };
}

export function guestSamples(content: ContentViews): GuestSamples {
  const writeSize = { random: SPARSE_UNIT_BYTES, text: SPARSE_UNIT_BYTES };
  content.kinds.forEach((kind, k) => {
    const size = content.wordCount[k]! * 4;
    if (kind !== 'zero' && size < PAGE_SIZE) writeSize[kind] = size;
  });
  return { text: content.existingPool('text'), writeSize };
}

/** Write `units` 8-byte units of `pool` as writes of `size` bytes at random aligned slots of `out`. */
function scatter(out: Uint8Array, pool: Uint8Array, units: number, size: number, rng: Rng): void {
  const writes = Math.ceil((units * SPARSE_UNIT_BYTES) / size);
  for (let i = 0; i < writes; i++) {
    const from = rng.int((POOL_BYTES - size) / 4) * 4;
    out.set(pool.subarray(from, from + size), rng.int(PAGE_SIZE / size) * size);
  }
}

/** Random 8-byte units a text page takes before it is sampled as MIXED. */
export const MIXED_SAMPLE_UNITS = 32;

/**
 * A page that `state` describes, built as the guest would build it (fill pages from the pools,
 * 8-byte writes at random slots). The size table encodes such samples with the real encoder.
 */
export function samplePage(out: Uint8Array, state: number, pools: SampleSource, rng: Rng): Uint8Array {
  out.fill(0);
  const gfn = rng.int(1 << 20);
  if (state === RANDOM) return fillPage(out, pools.random, 'random', gfn, rng);
  if (state === TEXT) return fillPage(out, pools.text, 'text', gfn, rng);
  if (state === BYTE0) {
    out[0] = 1 + rng.int(255);
    return out;
  }
  if (state === MIXED) {
    fillPage(out, pools.text, 'text', gfn, rng);
    scatter(out, pools.random, MIXED_SAMPLE_UNITS, pools.writeSize.random, rng);
    return out;
  }
  if (state > SPARSE_RANDOM && state <= SPARSE_RANDOM + MAX_SPARSE_UNITS)
    scatter(out, pools.random, state - SPARSE_RANDOM, pools.writeSize.random, rng);
  else if (state > SPARSE_TEXT && state <= SPARSE_TEXT + MAX_SPARSE_UNITS)
    scatter(out, pools.text, state - SPARSE_TEXT, pools.writeSize.text, rng);
  return out;
}

/** The states whose pages hold text (their sizes depend on the text pool). */
export function textStates(): number[] {
  const out = [TEXT, MIXED];
  for (let u = 1; u <= MAX_SPARSE_UNITS; u++) out.push(SPARSE_TEXT + u);
  return out;
}

/** Every other state a page can be in. */
export function otherStates(): number[] {
  const out = [ZERO, RANDOM, BYTE0];
  for (let u = 1; u <= MAX_SPARSE_UNITS; u++) out.push(SPARSE_RANDOM + u);
  return out;
}
