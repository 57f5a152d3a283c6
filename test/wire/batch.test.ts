import { encoderCache } from '../../src/link/faults';
import fc from 'fast-check';
import * as lz4 from 'lz4';
import { SparseMemory } from '../../src/guest/sparse-memory';
import { Rng } from '../../src/util/rng';
import { PageEncoder, applyPages, chainFrame, emptyStats, type PageApplyContext } from '../../src/wire/batch';
import { Encoding, HEADER_SIZE, PAGES_BODY_HEADER, VERSION } from '../../src/wire/constants';
import { WireError } from '../../src/wire/errors';
import { decodeFrame, seal } from '../../src/wire/frames';
import { XbzrleCache } from '../../src/wire/xbzrle';

const PAGES = 256;

/** The destination's side of these tests: the apply context plus the hash the receiver keeps. */
type Receiving = Omit<PageApplyContext, 'memory'> & { memory: SparseMemory; runningHash: number };
const ALL_MASK = 0b1111;

type Kind = 'zero' | 'random' | 'text' | 'tweak';

/** Fill a page the way guests do: zeros, noise, text-like bytes, or a small edit of what is there. */
function fillPage(memory: SparseMemory, gfn: number, kind: Kind, rng: Rng): void {
  if (kind === 'zero') return memory.zeroPage(gfn);
  const page = memory.writable(gfn);
  if (kind === 'random') rng.fill(page);
  else if (kind === 'text') for (let i = 0; i < page.length; i++) page[i] = 97 + ((i * 7 + rng.int(3)) % 26);
  else page[rng.int(page.length)] ^= 1 + rng.int(255);
}

function encoderFor(encodings: number): PageEncoder {
  return new PageEncoder({
    zero: (encodings & 1) !== 0,
    lz4: (encodings & 4) !== 0,
    xbzrle: (encodings & 8) !== 0 ? new XbzrleCache(64 * 4096) : undefined,
  });
}

/** Send gfns in batches of `batch` and apply them at the destination; returns the frames' total size. */
function transfer(
  encoder: PageEncoder,
  round: number,
  gfns: number[],
  batch: number,
  source: SparseMemory,
  ctx: Receiving,
) {
  const stats = emptyStats();
  for (let from = 0; from < gfns.length; from += batch) {
    const frame = encoder.encode(round, gfns, from, Math.min(gfns.length, from + batch), source, stats);
    if (!frame) continue;
    const decoded = decodeFrame(frame);
    if (decoded.type !== 'PAGES') throw new Error('not PAGES');
    expect(decoded.round).toBe(round);
    applyPages(decoded.body, decoded.count, ctx);
    ctx.runningHash = chainFrame(ctx.runningHash, decoded.checksum);
  }
  return stats;
}

const roundArb = fc.array(
  fc.tuple(fc.nat(PAGES - 1), fc.constantFrom<Kind>('zero', 'random', 'text', 'tweak', 'tweak')),
  { minLength: 1, maxLength: 120 },
);

describe('page batches', () => {
  test('every encoding set rebuilds the pages and both ends agree on the running hash', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }).map((m) => m | 0b10),
        fc.array(roundArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        (encodings, rounds, batch, seed) => {
          const rng = new Rng(seed);
          const source = new SparseMemory(PAGES);
          const ctx: Receiving = { memory: new SparseMemory(PAGES), encodings, runningHash: 0 };
          const encoder = encoderFor(encodings);
          rounds.forEach((writes, round) => {
            for (const [gfn, kind] of writes) fillPage(source, gfn, kind, rng);
            // Round 0 sends everything; later rounds the written pages, in random order.
            const gfns = round === 0 ? [...Array(PAGES).keys()] : [...new Set(writes.map(([g]) => g))];
            encoder.startRound(round, round === rounds.length - 1);
            const stats = transfer(encoder, round, gfns, batch, source, ctx);
            expect(ctx.runningHash).toBe(encoder.runningHash);
            expect(stats.pages).toBe(gfns.length);
            expect(
              stats.zeroPages + stats.rawPages + stats.lz4Pages + stats.xbzrlePages + stats.unchangedPages,
            ).toBe(gfns.length);
          });
          expect(ctx.memory.imageHash()).toBe(source.imageHash());
        },
      ),
      { seed: 42, numRuns: 120 },
    );
  });

  test('lz4 falls back to raw for a page it cannot shrink, and keeps a compressible one', () => {
    const source = new SparseMemory(2);
    new Rng(1).fill(source.writable(0));
    source.writable(1).fill(65);
    const encoder = encoderFor(0b111);
    encoder.startRound(0, false);
    const stats = emptyStats();
    const frame = encoder.encode(0, [0, 1], 0, 2, source, stats)!;
    expect(stats).toMatchObject({ rawPages: 1, lz4Pages: 1 });
    expect(frame[HEADER_SIZE + PAGES_BODY_HEADER + 4]).toBe(Encoding.RAW);
    expect(frame.length).toBeLessThan(HEADER_SIZE + PAGES_BODY_HEADER + 2 * 7 + 4096 + 100);
  });

  test('XBZRLE starts after the bulk round, sends small deltas and skips unchanged pages', () => {
    const source = new SparseMemory(4);
    const rng = new Rng(3);
    for (let g = 0; g < 4; g++) rng.fill(source.writable(g));
    const ctx: Receiving = { memory: new SparseMemory(4), encodings: 0b1011, runningHash: 0 };
    const encoder = encoderFor(0b1011);
    const gfns = [0, 1, 2, 3];
    const sendRound = (round: number) => (
      encoder.startRound(round, false),
      transfer(encoder, round, gfns, 4, source, ctx)
    );
    expect(sendRound(0)).toMatchObject({ xbzrlePages: 0, rawPages: 4 });
    expect(sendRound(1)).toMatchObject({ xbzrlePages: 0, rawPages: 4 }); // misses fill the cache
    source.writable(2)[100] ^= 0xff;
    const third = sendRound(2);
    expect(third).toMatchObject({ xbzrlePages: 1, unchangedPages: 3, frames: 1 });
    expect(third.bytesWire).toBeLessThan(100);
    expect(ctx.memory.imageHash()).toBe(source.imageHash());
  });

  test('negative: a cache kept across a zero page (fault switch) rebuilds the wrong page', () => {
    const run = (fault: boolean) => {
      const source = new SparseMemory(1);
      new Rng(9).fill(source.writable(0));
      const encoder = new PageEncoder({
        zero: true,
        lz4: false,
        xbzrle: encoderCache(new XbzrleCache(4096), { keepStaleCache: fault }),
      });
      const ctx: Receiving = { memory: new SparseMemory(1), encodings: 0b1011, runningHash: 0 };
      const step = (round: number, change: () => void) => {
        change();
        encoder.startRound(round, false);
        transfer(encoder, round, [0], 1, source, ctx);
      };
      step(0, () => undefined);
      step(1, () => undefined); // cached now
      const before = Uint8Array.from(source.read(0));
      step(2, () => source.zeroPage(0));
      step(3, () => {
        source.writable(0).set(before);
        source.writable(0)[5] ^= 1;
      });
      return ctx.memory.imageHash() === source.imageHash();
    };
    expect(run(false)).toBe(true);
    expect(run(true)).toBe(false);
  });
});

describe('batch validation', () => {
  /** A PAGES body with one entry. */
  function body(gfn: number, encoding: number, payload: Uint8Array, count = 1): Buffer {
    const b = Buffer.alloc(PAGES_BODY_HEADER + 7 + payload.length);
    b.writeUInt32LE(0, 0);
    b.writeUInt32LE(count, 4);
    b.writeUInt32LE(gfn, 8);
    b.writeUInt8(encoding, 12);
    b.writeUInt16LE(payload.length, 13);
    b.set(payload, 15);
    return b;
  }

  function codeFor(b: Buffer, count = b.readUInt32LE(4), encodings = ALL_MASK): string {
    const ctx: Receiving = { memory: new SparseMemory(8), encodings, runningHash: 0 };
    try {
      applyPages(b, count, ctx);
    } catch (e) {
      expect(e).toBeInstanceOf(WireError);
      expect(ctx.memory.allocatedPages).toBe(0);
      return (e as WireError).code;
    }
    return 'accepted';
  }

  const raw = new Uint8Array(4096).fill(1);
  const lz4Block = (() => {
    const out = Buffer.alloc(lz4.encodeBound(4096));
    return out.subarray(0, lz4.encodeBlock(raw, out));
  })();

  test.each([
    ['a valid raw entry', body(3, Encoding.RAW, raw), 'accepted'],
    ['a gfn past the guest', body(8, Encoding.RAW, raw), 'PRECOPY_ERR_BAD_GFN'],
    ['an unknown encoding', body(1, 9, raw), 'PRECOPY_ERR_BAD_ENCODING'],
    ['a raw page of the wrong size', body(1, Encoding.RAW, raw.subarray(1)), 'PRECOPY_ERR_BAD_LENGTH'],
    ['a zero page with a payload', body(1, Encoding.ZERO, raw.subarray(0, 1)), 'PRECOPY_ERR_BAD_LENGTH'],
    ['a count larger than the entries', body(1, Encoding.RAW, raw, 2), 'PRECOPY_ERR_TRUNCATED'],
    ['a count of zero', body(1, Encoding.RAW, raw, 0), 'PRECOPY_ERR_BAD_FIELD'],
    [
      'bytes after the last entry',
      Buffer.concat([body(1, Encoding.ZERO, new Uint8Array(0)), Buffer.from([1])]),
      'PRECOPY_ERR_BAD_LENGTH',
    ],
    [
      'a corrupt lz4 block',
      body(1, Encoding.LZ4, Uint8Array.from([0xff, 1, 2, 3])),
      'PRECOPY_ERR_BAD_DECOMPRESSED_SIZE',
    ],
    [
      'an lz4 block of the wrong decoded size',
      body(1, Encoding.LZ4, lz4Block.subarray(0, lz4Block.length - 1)),
      'PRECOPY_ERR_BAD_DECOMPRESSED_SIZE',
    ],
  ])('%s', (_name, b, code) => {
    expect(codeFor(b)).toBe(code);
  });

  test('an encoding the HELLO did not announce', () => {
    expect(codeFor(body(1, Encoding.LZ4, lz4Block), 1, 0b0011)).toBe('PRECOPY_ERR_BAD_ENCODING');
  });

  test('an lz4 block that decodes to exactly one page is accepted', () => {
    expect(codeFor(body(1, Encoding.LZ4, lz4Block))).toBe('accepted');
  });

  test('a PAGES frame shorter than its own header', () => {
    const frame = Buffer.alloc(HEADER_SIZE + 4);
    frame.writeUInt32LE(0x59504350, 0);
    frame.writeUInt8(VERSION, 4);
    frame.writeUInt8(4, 5);
    frame.writeUInt32LE(4, 8);
    expect(() => decodeFrame(seal(frame))).toThrow(/shorter than its 8-byte header/);
  });
});
