/**
 * PAGES frames: many pages per frame, each entry `u32 gfn | u8 encoding | u16 length | payload`.
 *
 * Both ends keep the same running hash: crc32 chained over the checksum of every PAGES frame, so
 * ROUND_END proves the destination applied exactly the frames the source sent, in order. It
 * reuses the frame checksum rather than hashing each page again: a second pass over every byte
 * on both ends would cost a fifth of the link's speed (bench/wire-stream.bench.ts). Whether the
 * decoded pages are right is what the image hash at COMPLETE proves.
 */
import { crc32 } from 'node:zlib';
import * as lz4 from 'lz4';
import { isZeroPage } from '../util/digest';
import {
  CloseCode,
  Encoding,
  FrameType,
  HEADER_SIZE,
  MAX_BATCH_PAGES,
  PAGES_BODY_HEADER,
  PAGE_ENTRY_HEADER,
  PAGE_SIZE,
} from './constants';
import { wireError } from './errors';
import { seal, writeHeader } from './frames';
import { FramePool } from './frame-pool';
import type { PageReader, PageSink } from './pages';
import { encodingBit, isEncodingId } from './validation';
import { XBZRLE_OVERFLOW, XbzrleCache, xbzrleDecode, xbzrleEncode } from './xbzrle';

const record = Buffer.alloc(4);

/** Fold one PAGES frame (its header checksum) into the running hash. */
export function chainFrame(hash: number, frameChecksum: number): number {
  record.writeUInt32LE(frameChecksum, 0);
  return crc32(record, hash);
}

/** Counters one encoder call adds to; the link reports them as `SendStats`. */
export interface BatchStats {
  /** Pages handed in (= count). */
  pages: number;
  zeroPages: number;
  /** Sent as an XBZRLE delta. */
  xbzrlePages: number;
  /** XBZRLE found them identical to the last sent copy: nothing sent (QEMU skips them too). */
  unchangedPages: number;
  /**
   * XBZRLE's own counters, with QEMU's meanings (migration/ram.c save_xbzrle_page):
   * `xbzrleCacheHits` every page found in the cache, encoded whatever came of it (sent as a
   * delta, skipped unchanged, or overflowed: QEMU's xbzrle-cache.pages); `xbzrleCacheMisses`
   * non-zero pages looked up after the bulk round and not found; `xbzrleOverflows` deltas that
   * would not fit a page; `xbzrleBytes` what XBZRLE put on the wire per page without the page
   * address (payload + encoding byte + length, 3 bytes as in QEMU), plus a whole page per overflow.
   */
  xbzrleCacheHits: number;
  xbzrleCacheMisses: number;
  xbzrleOverflows: number;
  xbzrleBytes: number;
  lz4Pages: number;
  rawPages: number;
  /** pages × 4096. */
  bytesRaw: number;
  /** Bytes of frames put on the link, headers included. */
  bytesWire: number;
  frames: number;
}

export function emptyStats(): BatchStats {
  return {
    pages: 0,
    zeroPages: 0,
    xbzrlePages: 0,
    unchangedPages: 0,
    xbzrleCacheHits: 0,
    xbzrleCacheMisses: 0,
    xbzrleOverflows: 0,
    xbzrleBytes: 0,
    lz4Pages: 0,
    rawPages: 0,
    bytesRaw: 0,
    bytesWire: 0,
    frames: 0,
  };
}

export interface PageEncoderOptions {
  /** Detect zero pages (else they go raw). */
  zero: boolean;
  lz4: boolean;
  /** Present when XBZRLE is on. */
  xbzrle?: XbzrleCache;
}

const ENTRY_MAX = PAGE_ENTRY_HEADER + PAGE_SIZE;
/** What a page without storage reads as. */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** The source's half: turns pages into PAGES frames and keeps the running hash. */
export class PageEncoder {
  /** Same value the destination computes; sent in ROUND_END. */
  runningHash = 0;
  /** Page records sent since the round started. */
  roundPages = 0;
  /** XBZRLE starts after the first full pass, and stops inserting in the last stage (as QEMU). */
  private deltaRound = false;
  private finalRound = false;
  /** The cache's generation: the round (one dirty-bitmap sync each). */
  private age = 0;
  /** Frame buffers, sized for the first batch asked for. */
  private pool: FramePool | undefined;

  constructor(private readonly options: PageEncoderOptions) {}

  startRound(round: number, final: boolean): void {
    this.roundPages = 0;
    this.deltaRound = round > 0;
    this.finalRound = final;
    this.age = round;
  }

  /**
   * Encode gfns[from..to) (at most MAX_BATCH_PAGES) into one PAGES frame, reading each page
   * now. Returns undefined when every page was unchanged (nothing to send). The frame may live
   * in a pooled buffer: pass it to `release` once the transport has written it (optional; an
   * unreleased frame is simply collected).
   */
  encode(
    round: number,
    gfns: ArrayLike<number>,
    from: number,
    to: number,
    memory: PageReader,
    stats: BatchStats,
  ): Buffer | undefined {
    const needed = HEADER_SIZE + PAGES_BODY_HEADER + (to - from) * ENTRY_MAX;
    this.pool ??= new FramePool(needed);
    const frame = needed <= this.pool.capacity ? this.pool.take() : Buffer.allocUnsafe(needed);
    writeHeader(frame, FrameType.PAGES, 0);
    let at = HEADER_SIZE + PAGES_BODY_HEADER;
    let count = 0;
    for (let i = from; i < to; i++) {
      const gfn = gfns[i]!;
      const written = this.encodePage(gfn, memory, frame, at, stats);
      if (written === 0) continue;
      at += written;
      count++;
    }
    stats.pages += to - from;
    stats.bytesRaw += (to - from) * PAGE_SIZE;
    if (count === 0) {
      this.pool.give(frame);
      return undefined;
    }
    this.roundPages += count;
    let sized = frame.subarray(0, at);
    // A small (well-compressed) frame is copied out so it does not hold a whole pooled buffer.
    if (at < this.pool.capacity / 2) {
      sized = Buffer.from(sized);
      this.pool.give(frame);
    }
    sized.writeUInt32LE(at - HEADER_SIZE, 8);
    sized.writeUInt32LE(round, HEADER_SIZE);
    sized.writeUInt32LE(count, HEADER_SIZE + 4);
    stats.bytesWire += at;
    stats.frames++;
    seal(sized);
    this.runningHash = chainFrame(this.runningHash, sized.readUInt32LE(12));
    return sized;
  }

  /** Give a frame from `encode` back for reuse; the caller must not touch it afterwards. */
  release(frame: Uint8Array): void {
    this.pool?.give(frame);
  }

  /** Write one entry at `at`; returns its size, or 0 when XBZRLE found the page unchanged. */
  private encodePage(gfn: number, memory: PageReader, out: Buffer, at: number, stats: BatchStats): number {
    const stored = memory.peek(gfn);
    const page = stored ?? ZERO_PAGE;
    const cache = this.options.xbzrle;
    if (this.options.zero && (stored === undefined || isZeroPage(page))) {
      // The destination now holds zeros; a cached older copy would make the next delta wrong.
      cache?.invalidate(gfn);
      stats.zeroPages++;
      return writeEntry(out, at, gfn, Encoding.ZERO, 0);
    }
    const payload = at + PAGE_ENTRY_HEADER;
    let encoding: number = Encoding.RAW;
    let length = 0;
    if (cache && this.deltaRound) {
      const cached = cache.lookup(gfn, this.age);
      if (cached) {
        stats.xbzrleCacheHits++;
        length = xbzrleEncode(cached, page, out, payload, PAGE_SIZE - 1);
        if (length === 0) {
          stats.unchangedPages++;
          return 0;
        }
        // The cache holds what the destination will hold (QEMU skips this in the last stage).
        if (!this.finalRound) cached.set(page);
        if (length === XBZRLE_OVERFLOW) {
          stats.xbzrleOverflows++;
          stats.xbzrleBytes += PAGE_SIZE;
        } else {
          encoding = Encoding.XBZRLE;
          stats.xbzrleBytes += length + PAGE_ENTRY_HEADER - 4;
        }
      } else {
        stats.xbzrleCacheMisses++;
        if (!this.finalRound) cache.insert(gfn, page, this.age);
      }
    }
    if (encoding === Encoding.RAW && this.options.lz4) {
      // A capacity below the page size makes lz4 give up (0) when the page does not shrink.
      length = lz4.encodeBlock(page, out, payload, payload + PAGE_SIZE - 1);
      if (length > 0) encoding = Encoding.LZ4;
    }
    if (encoding === Encoding.RAW) {
      out.set(page, payload);
      length = PAGE_SIZE;
      stats.rawPages++;
    } else if (encoding === Encoding.LZ4) stats.lz4Pages++;
    else stats.xbzrlePages++;
    return writeEntry(out, at, gfn, encoding, length);
  }
}

function writeEntry(out: Buffer, at: number, gfn: number, encoding: number, length: number): number {
  out.writeUInt32LE(gfn, at);
  out.writeUInt8(encoding, at + 4);
  out.writeUInt16LE(length, at + 5);
  return PAGE_ENTRY_HEADER + length;
}

////     destination side     ////

export interface PageApplyContext {
  memory: PageSink;
  /** HELLO's encodings mask. */
  encodings: number;
}

const ENCODING_NAMES = ['zero', 'raw', 'lz4', 'xbzrle'];

/**
 * Check every entry's framing (gfn inside the guest, encoding known and announced, payload
 * length right for it, count matches, no trailing bytes) before touching memory, then decode
 * and apply. Returns the number of pages applied. Throws WireError.
 */
export function applyPages(body: Buffer, count: number, ctx: PageApplyContext): number {
  checkEntries(body, count, ctx);
  const memory = ctx.memory;
  let at = PAGES_BODY_HEADER;
  for (let i = 0; i < count; i++) {
    const gfn = body.readUInt32LE(at);
    const encoding = body[at + 4]!;
    const length = body.readUInt16LE(at + 5);
    const start = at + PAGE_ENTRY_HEADER;
    at = start + length;
    if (encoding === Encoding.ZERO) memory.zeroPage(gfn);
    else if (encoding === Encoding.RAW) memory.storePage(gfn, body.subarray(start, at));
    else if (encoding === Encoding.LZ4) {
      // Decoded in place when the page has storage: a failure discards the whole image anyway.
      const target = memory.decodeTarget(gfn);
      const size = lz4.decodeBlock(body, target, start, at);
      if (size !== PAGE_SIZE)
        throw wireError(
          'PRECOPY_ERR_BAD_DECOMPRESSED_SIZE',
          size < 0
            ? `PAGES: lz4 block for gfn ${gfn} is corrupt`
            : `PAGES: lz4 block for gfn ${gfn} decodes to ${size} bytes, not ${PAGE_SIZE}`,
          CloseCode.INVALID_DATA,
        );
      memory.storePage(gfn, target);
    } else {
      // XBZRLE edits the destination's copy, which every delta is taken against.
      if (!memory.editablePage)
        throw wireError(
          'PRECOPY_ERR_BAD_ENCODING',
          `PAGES: xbzrle for gfn ${gfn}, but this image keeps digests, not the pages a delta applies to`,
        );
      const page = memory.editablePage(gfn);
      xbzrleDecode(body, start, at, page);
      memory.storePage(gfn, page);
    }
  }
  return count;
}

function checkEntries(body: Buffer, count: number, ctx: PageApplyContext): void {
  if (count < 1 || count > MAX_BATCH_PAGES)
    throw wireError('PRECOPY_ERR_BAD_FIELD', `PAGES.count must be in [1, ${MAX_BATCH_PAGES}], got ${count}`);
  let at = PAGES_BODY_HEADER;
  for (let i = 0; i < count; i++) {
    if (at + PAGE_ENTRY_HEADER > body.length)
      throw wireError('PRECOPY_ERR_TRUNCATED', `PAGES: entry ${i} of ${count} is cut off at byte ${at}`);
    const gfn = body.readUInt32LE(at);
    const encoding = body[at + 4]!;
    const length = body.readUInt16LE(at + 5);
    if (gfn >= ctx.memory.pages)
      throw wireError(
        'PRECOPY_ERR_BAD_GFN',
        `PAGES: entry ${i} gfn ${gfn} is outside the guest [0, ${ctx.memory.pages})`,
      );
    if (!isEncodingId(encoding))
      throw wireError('PRECOPY_ERR_BAD_ENCODING', `PAGES: entry ${i} encoding ${encoding} is not in [0, 3]`);
    if ((ctx.encodings & encodingBit(encoding)) === 0)
      throw wireError(
        'PRECOPY_ERR_BAD_ENCODING',
        `PAGES: entry ${i} uses ${ENCODING_NAMES[encoding]}, not announced in HELLO`,
      );
    const [min, max] = payloadRange(encoding);
    if (length < min || length > max)
      throw wireError(
        'PRECOPY_ERR_BAD_LENGTH',
        `PAGES: entry ${i} ${ENCODING_NAMES[encoding]} payload must be ${min === max ? min : `${min}..${max}`} bytes, got ${length}`,
      );
    at += PAGE_ENTRY_HEADER + length;
    if (at > body.length)
      throw wireError('PRECOPY_ERR_TRUNCATED', `PAGES: entry ${i} payload runs past the frame end`);
  }
  if (at !== body.length)
    throw wireError(
      'PRECOPY_ERR_BAD_LENGTH',
      `PAGES: ${body.length - at} bytes after the last of ${count} entries`,
    );
}

function payloadRange(encoding: number): [number, number] {
  switch (encoding) {
    case Encoding.ZERO:
      return [0, 0];
    case Encoding.RAW:
      return [PAGE_SIZE, PAGE_SIZE];
    default:
      return [1, PAGE_SIZE - 1];
  }
}
