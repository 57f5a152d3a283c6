/**
 * XBZRLE, as QEMU's migration/xbzrle.c (research §4): compare the page with the copy last sent,
 * and encode alternating runs, `ULEB128(unchanged run) ULEB128(changed run) <changed bytes>`,
 * until the page's end; a trailing unchanged run is left out. An empty encoding means the page
 * is unchanged (nothing is sent); one that would not fit the limit is an overflow (send the
 * whole page). The destination applies the runs to its current copy of the page, which is
 * exactly the copy the source last sent because frames arrive in order.
 */
import { PAGE_SIZE } from './constants';
import { wireError } from './errors';

/** Encoding result meaning "longer than the limit": send the page whole. */
export const XBZRLE_OVERFLOW = -1;

function writeUleb(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/**
 * Encode `page` against `old` into out[at .. at+limit). Returns the encoded length, 0 when
 * unchanged, or XBZRLE_OVERFLOW.
 */
export function xbzrleEncode(
  old: Uint8Array,
  page: Uint8Array,
  out: Uint8Array,
  at: number,
  limit: number,
): number {
  const end = at + limit;
  let d = at;
  let i = 0;
  const n = page.length;
  // Unchanged runs are the common case: skip them a 32-bit word at a time when both are aligned.
  const words = wordViews(old, page);
  while (i < n) {
    const zeroStart = i;
    if (words) i = skipEqualWords(words[0], words[1], i);
    while (i < n && old[i] === page[i]) i++;
    if (i === n) break;
    const zrun = i - zeroStart;
    const changedStart = i;
    while (i < n && old[i] !== page[i]) i++;
    const nzrun = i - changedStart;
    // At most 2 ULEB bytes each for runs ≤ 4096.
    if (d + 4 + nzrun > end) return XBZRLE_OVERFLOW;
    d = writeUleb(out, d, zrun);
    d = writeUleb(out, d, nzrun);
    out.set(page.subarray(changedStart, i), d);
    d += nzrun;
  }
  return d - at;
}

function wordViews(a: Uint8Array, b: Uint8Array): [Uint32Array, Uint32Array] | undefined {
  if (a.byteOffset % 4 !== 0 || b.byteOffset % 4 !== 0 || a.length !== b.length || a.length % 4 !== 0)
    return undefined;
  return [
    new Uint32Array(a.buffer, a.byteOffset, a.length / 4),
    new Uint32Array(b.buffer, b.byteOffset, b.length / 4),
  ];
}

/** From byte `i`, the first byte of the first unequal aligned word at or after i's word. */
function skipEqualWords(a: Uint32Array, b: Uint32Array, i: number): number {
  if ((i & 3) !== 0) return i;
  let w = i >> 2;
  while (w < a.length && a[w] === b[w]) w++;
  return w << 2;
}

function readUleb(src: Uint8Array, at: number, end: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; shift <= 14; shift += 7) {
    if (at >= end)
      throw wireError('PRECOPY_ERR_BAD_FIELD', 'XBZRLE: run length cut off by the end of the payload');
    const byte = src[at++]!;
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
  }
  throw wireError('PRECOPY_ERR_BAD_FIELD', 'XBZRLE: run length longer than 3 ULEB128 bytes');
}

/** Apply runs from src[at .. end) onto `page` (modified in place). Throws WireError on malformed runs. */
export function xbzrleDecode(src: Uint8Array, at: number, end: number, page: Uint8Array): void {
  if (at === end)
    throw wireError('PRECOPY_ERR_BAD_FIELD', 'XBZRLE: empty payload (unchanged pages are not sent)');
  let i = 0;
  while (at < end) {
    let zrun: number, nzrun: number;
    [zrun, at] = readUleb(src, at, end);
    [nzrun, at] = readUleb(src, at, end);
    if (nzrun === 0) throw wireError('PRECOPY_ERR_BAD_FIELD', 'XBZRLE: a changed run of length 0');
    if (i + zrun + nzrun > PAGE_SIZE)
      throw wireError(
        'PRECOPY_ERR_BAD_DECOMPRESSED_SIZE',
        `XBZRLE: runs reach byte ${i + zrun + nzrun} of a ${PAGE_SIZE}-byte page`,
      );
    if (at + nzrun > end)
      throw wireError('PRECOPY_ERR_BAD_FIELD', 'XBZRLE: changed bytes cut off by the end of the payload');
    i += zrun;
    page.set(src.subarray(at, at + nzrun), i);
    i += nzrun;
    at += nzrun;
  }
}

/** QEMU's CACHED_PAGE_LIFETIME: a page hit or inserted this recently keeps its slot. */
export const CACHED_PAGE_LIFETIME = 2;

/**
 * The source's cache of last-sent copies, direct-mapped like QEMU's page cache
 * (migration/page_cache.c): slot = gfn mod slots. Each slot remembers the generation (the
 * dirty-sync count, here the round) it was last hit or filled in; another page may take the
 * slot only once that is CACHED_PAGE_LIFETIME generations old, so a hot page is not evicted by
 * a page that merely shares its slot. Storage is one typed array.
 */
export class XbzrleCache {
  private readonly tags: Int32Array;
  private readonly ages: Float64Array;
  private readonly data: Uint8Array;
  readonly slots: number;

  constructor(readonly bytes: number) {
    if (!Number.isInteger(bytes) || bytes < PAGE_SIZE || (bytes & (bytes - 1)) !== 0)
      throw new RangeError(`xbzrle-cache-size must be a power of two ≥ ${PAGE_SIZE} bytes, got ${bytes}`);
    this.slots = bytes / PAGE_SIZE;
    this.tags = new Int32Array(this.slots).fill(-1);
    this.ages = new Float64Array(this.slots);
    this.data = new Uint8Array(bytes);
  }

  /** The cached copy of `gfn` (a live view), or undefined on a miss; a hit renews its age (cache_is_cached). */
  lookup(gfn: number, age = 0): Uint8Array | undefined {
    const slot = gfn % this.slots;
    if (this.tags[slot] !== gfn) return undefined;
    this.ages[slot] = age;
    return this.slotView(slot);
  }

  /** Cache `page` as gfn's copy (cache_insert); false when the slot holds another, fresh page. */
  insert(gfn: number, page: Uint8Array, age = 0): boolean {
    const slot = gfn % this.slots;
    const tag = this.tags[slot]!;
    if (tag !== -1 && tag !== gfn && this.ages[slot]! + CACHED_PAGE_LIFETIME > age) return false;
    this.tags[slot] = gfn;
    this.ages[slot] = age;
    this.slotView(slot).set(page);
    return true;
  }

  invalidate(gfn: number): void {
    const slot = gfn % this.slots;
    if (this.tags[slot] === gfn) this.tags[slot] = -1;
  }

  private slotView(slot: number): Uint8Array {
    return this.data.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
  }
}
