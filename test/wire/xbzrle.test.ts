import fc from 'fast-check';
import { WireError } from '../../src/wire/errors';
import { XBZRLE_OVERFLOW, XbzrleCache, xbzrleDecode, xbzrleEncode } from '../../src/wire/xbzrle';

const PAGE = 4096;
const run = { seed: 11, numRuns: 150 };

/** A page and a changed copy: a few runs of new bytes at random places. */
const pagePair = fc
  .tuple(
    fc.uint8Array({ minLength: PAGE, maxLength: PAGE }),
    fc.array(fc.tuple(fc.nat(PAGE - 1), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 255 })), {
      maxLength: 12,
    }),
  )
  .map(([old, edits]) => {
    const page = Uint8Array.from(old);
    for (const [at, length, delta] of edits)
      for (let i = at; i < Math.min(PAGE, at + length); i++) page[i] = (page[i]! + delta) & 0xff;
    return { old, page };
  });

function decodeError(payload: number[]): WireError {
  try {
    xbzrleDecode(Uint8Array.from(payload), 0, payload.length, new Uint8Array(PAGE));
  } catch (e) {
    return e as WireError;
  }
  throw new Error('decoded');
}

describe('XBZRLE', () => {
  test('decode(encode(old → page)) applied to old gives page, or the encoder says unchanged/overflow', () => {
    fc.assert(
      fc.property(pagePair, ({ old, page }) => {
        const out = new Uint8Array(PAGE + 16);
        const length = xbzrleEncode(old, page, out, 16, PAGE - 1);
        const same = Buffer.from(old).equals(Buffer.from(page));
        if (same) return expect(length).toBe(0);
        if (length === XBZRLE_OVERFLOW) return;
        expect(length).toBeGreaterThan(0);
        expect(length).toBeLessThan(PAGE);
        const target = Uint8Array.from(old);
        xbzrleDecode(out, 16, 16 + length, target);
        expect(Buffer.from(target).equals(Buffer.from(page))).toBe(true);
      }),
      run,
    );
  });

  test('unaligned pages (byte loop) encode exactly as aligned ones (word skipping)', () => {
    fc.assert(
      fc.property(pagePair, ({ old, page }) => {
        const shifted = (p: Uint8Array) => {
          const backing = new Uint8Array(PAGE + 1);
          backing.set(p, 1);
          return backing.subarray(1);
        };
        const a = new Uint8Array(PAGE);
        const b = new Uint8Array(PAGE);
        const la = xbzrleEncode(old, page, a, 0, PAGE - 1);
        const lb = xbzrleEncode(shifted(old), shifted(page), b, 0, PAGE - 1);
        expect(lb).toBe(la);
        expect(
          Buffer.from(b.subarray(0, Math.max(0, lb))).equals(Buffer.from(a.subarray(0, Math.max(0, la)))),
        ).toBe(true);
      }),
      { seed: 12, numRuns: 100 },
    );
  });

  test('a small change encodes to a few bytes (ULEB128 runs)', () => {
    const old = new Uint8Array(PAGE);
    const page = Uint8Array.from(old);
    page[1000] = 7;
    const out = new Uint8Array(PAGE);
    // zrun 1000 = 0xe8 0x07, nzrun 1, the byte
    expect(xbzrleEncode(old, page, out, 0, PAGE - 1)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([0xe8, 0x07, 1, 7]);
  });

  test('a page that changed everywhere overflows', () => {
    const old = new Uint8Array(PAGE);
    const page = new Uint8Array(PAGE).fill(1);
    expect(xbzrleEncode(old, page, new Uint8Array(PAGE), 0, PAGE - 1)).toBe(XBZRLE_OVERFLOW);
  });

  test.each([
    ['empty payload', [], /empty payload/],
    ['zero-length changed run', [0, 0], /length 0/],
    ['run length cut off', [0x80], /cut off/],
    ['ULEB longer than 3 bytes', [0x80, 0x80, 0x80, 0x01], /longer than 3/],
    ['runs past the page', [0x80, 0x20, 1, 9], /reach byte/],
    ['changed bytes missing', [0, 5, 1, 2], /changed bytes cut off/],
  ])('malformed: %s', (_name, payload, message) => {
    const error = decodeError(payload as number[]);
    expect(error).toBeInstanceOf(WireError);
    expect(error.message).toMatch(message);
  });

  test('the cache is direct-mapped: a colliding page evicts an aged one, invalidate forgets', () => {
    const cache = new XbzrleCache(4 * PAGE);
    const a = new Uint8Array(PAGE).fill(1);
    cache.insert(1, a, 0);
    expect(cache.lookup(1, 0)?.[0]).toBe(1);
    a[0] = 9; // the cache keeps its own copy
    expect(cache.lookup(1, 0)?.[0]).toBe(1);
    expect(cache.insert(5, new Uint8Array(PAGE).fill(2), 1)).toBe(false); // 5 mod 4 = 1, still fresh
    expect(cache.insert(5, new Uint8Array(PAGE).fill(2), 2)).toBe(true); // two generations on
    expect(cache.lookup(1)).toBeUndefined();
    expect(cache.lookup(5)?.[0]).toBe(2);
    cache.invalidate(5);
    expect(cache.lookup(5)).toBeUndefined();
    expect(() => new XbzrleCache(3 * PAGE)).toThrow(/power of two/);
  });
});
